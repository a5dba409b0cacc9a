//! One negative test per mutation of a valid request: each asserts the exact RFC
//! error code and HTTP status, and that a failed client authentication is audited.

use jsonwebtoken::{Algorithm, Header};
use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::TestServer;
use crate::oauth::{authorize_as_customer, query};
use crate::sandbox_helpers::*;

struct Case {
    name: &'static str,
    path: &'static str,
    basic: Option<(String, String)>,
    form: Vec<(String, String)>,
    dpop: Option<String>,
    status: StatusCode,
    error: &'static str,
}

fn case(
    name: &'static str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
    status: StatusCode,
    error: &'static str,
) -> Case {
    Case {
        name,
        path: "/oauth/token",
        basic: basic.map(|(a, b)| (a.to_string(), b.to_string())),
        form: form
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        dpop: None,
        status,
        error,
    }
}

/// A client-credentials request authenticated with `assertion`.
fn jwt_form(assertion: &str) -> Vec<(String, String)> {
    assertion_form(assertion, &[("grant_type", "client_credentials")])
}

async fn fresh_code(server: &TestServer) -> (String, String) {
    let oauth = oauth_client(server, DEMO_ID, DEMO_SECRET, DEMO_REDIRECT);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("accounts".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = authorize_as_customer(server, url.as_str(), "allow").await;
    (query(&back, "code").unwrap(), verifier.secret().clone())
}

async fn every_mutation_of_a_valid_request_is_refused(server: TestServer) {
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let key = PartnerKey::new("key-1");
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let (_, jwt_client, _) = register_app(
        &developer,
        &app_fields("Signed app", &owner, "private_key_jwt", &jwks),
    )
    .await;
    let (secret_app, secret_client, secret) = register_app(
        &developer,
        &app_fields("Secret app", &owner, "client_secret_basic", ""),
    )
    .await;
    let secret = secret.expect("the secret is shown once");
    let (revoked_app, revoked_client, revoked_secret) = register_app(
        &developer,
        &app_fields("Revoked app", &owner, "client_secret_post", ""),
    )
    .await;
    let page = format!("/sandbox/apps/{revoked_app}");
    developer
        .submit(&page, &format!("{page}/revoke"), &[])
        .await;
    // Rotating with no overlap: the old secret stops at once.
    let page = format!("/sandbox/apps/{secret_app}");
    let response = developer
        .submit(&page, &format!("{page}/rotate"), &[("overlap", "0")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = developer.text(&page).await;
    let new_secret = crate::common::element_text(&html, "client-secret").unwrap();

    // The valid requests work.
    let valid = key.assertion(&server, &jwt_client, json!({}));
    let (status, _, body) = oauth_post(
        &server,
        "/oauth/token",
        None,
        &as_refs(&jwt_form(&valid)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "private_key_jwt: {body}");
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/token",
        Some((&secret_client, &new_secret)),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let now = server.state.clock.now();
    let token_url = format!("{}/oauth/token", server.base);
    let cc = [("grant_type", "client_credentials")];
    let unauthorized = StatusCode::UNAUTHORIZED;
    let bad = StatusCode::BAD_REQUEST;
    let signed = |overrides: Value| jwt_form(&key.assertion(&server, &jwt_client, overrides));
    let claims = json!({ "iss": jwt_client, "sub": jwt_client, "aud": server.base, "exp": now + 60, "jti": "x1" });

    let mut cases = vec![
        case(
            "wrong secret",
            Some((DEMO_ID, "wrong-secret")),
            &cc,
            unauthorized,
            "invalid_client",
        ),
        case(
            "unknown client",
            Some(("cli_unknown", DEMO_SECRET)),
            &cc,
            unauthorized,
            "invalid_client",
        ),
        case(
            "no client authentication",
            None,
            &[("grant_type", "client_credentials"), ("client_id", DEMO_ID)],
            unauthorized,
            "invalid_client",
        ),
        case(
            "revoked client",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &revoked_client),
                ("client_secret", revoked_secret.as_deref().unwrap()),
            ],
            unauthorized,
            "invalid_client",
        ),
        case(
            "expired credential",
            Some((&secret_client, &secret)),
            &cc,
            unauthorized,
            "invalid_client",
        ),
        case(
            "secret of a client registered for private_key_jwt",
            Some((&jwt_client, DEMO_SECRET)),
            &cc,
            unauthorized,
            "invalid_client",
        ),
        case(
            "two authentication methods",
            Some((DEMO_ID, DEMO_SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", DEMO_SECRET),
                ("client_id", DEMO_ID),
            ],
            bad,
            "invalid_request",
        ),
        case(
            "unsupported grant type",
            Some((DEMO_ID, DEMO_SECRET)),
            &[("grant_type", "password")],
            bad,
            "unsupported_grant_type",
        ),
        case(
            "missing grant type",
            Some((DEMO_ID, DEMO_SECRET)),
            &[],
            bad,
            "invalid_request",
        ),
        case(
            "repeated parameter",
            Some((DEMO_ID, DEMO_SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            bad,
            "invalid_request",
        ),
        case(
            "a scope the client does not have",
            Some((DEMO_ID, DEMO_SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reference admin"),
            ],
            bad,
            "invalid_scope",
        ),
    ];
    for (name, overrides, error) in [
        (
            "assertion without sub",
            json!({ "sub": null }),
            "invalid_client",
        ),
        (
            "assertion iss differs from sub",
            json!({ "iss": "cli_other" }),
            "invalid_client",
        ),
        (
            "assertion with the wrong aud",
            json!({ "aud": format!("{}/oauth/introspect", server.base) }),
            "invalid_client",
        ),
        (
            "expired assertion",
            json!({ "exp": now - 10 }),
            "invalid_client",
        ),
        (
            "assertion without exp",
            json!({ "exp": null }),
            "invalid_client",
        ),
        (
            "assertion exp more than an hour away",
            json!({ "exp": now + 3700 }),
            "invalid_client",
        ),
        (
            "assertion iat far in the future",
            json!({ "iat": now + 3600 }),
            "invalid_client",
        ),
        (
            "assertion without jti",
            json!({ "jti": null }),
            "invalid_client",
        ),
    ] {
        cases.push(Case {
            form: signed(overrides),
            ..case(name, None, &[], unauthorized, error)
        });
    }
    let rs256 = unsigned_jwt(json!({ "alg": "RS256", "kid": key.kid() }), &claims);
    let none = unsigned_jwt(json!({ "alg": "none" }), &claims);
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(key.kid().into());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(DEMO_SECRET.as_bytes()),
    )
    .unwrap();
    let other_key = PartnerKey::new("key-1");
    let forged = other_key.assertion(&server, &jwt_client, json!({}));
    for (name, assertion) in [
        ("assertion alg RS256", rs256),
        ("assertion alg none", none),
        ("assertion alg HS256", hs256),
        ("assertion signed by an unregistered key", forged),
        ("replayed assertion jti", valid.clone()),
    ] {
        cases.push(Case {
            form: jwt_form(&assertion),
            ..case(name, None, &[], unauthorized, "invalid_client")
        });
    }

    // Authorization codes: a wrong or missing verifier, reuse, another redirect URI.
    let (code, verifier) = fresh_code(&server).await;
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (code_a, _) = fresh_code(&server).await;
    let (code_b, verifier_b) = fresh_code(&server).await;
    let (code_c, verifier_c) = fresh_code(&server).await;
    let wrong_verifier = "w".repeat(43);
    let demo = Some((DEMO_ID, DEMO_SECRET));
    let code_cases = [
        case(
            "PKCE verifier wrong",
            demo,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code_a),
                ("redirect_uri", DEMO_REDIRECT),
                ("code_verifier", &wrong_verifier),
            ],
            bad,
            "invalid_grant",
        ),
        case(
            "PKCE verifier missing",
            demo,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code_b),
                ("redirect_uri", DEMO_REDIRECT),
            ],
            bad,
            "invalid_request",
        ),
        case(
            "code reused",
            demo,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", DEMO_REDIRECT),
                ("code_verifier", &verifier),
            ],
            bad,
            "invalid_grant",
        ),
        case(
            "redirect URI not the one authorised",
            demo,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code_c),
                ("redirect_uri", "https://app.example.com/callback"),
                ("code_verifier", &verifier_c),
            ],
            bad,
            "invalid_grant",
        ),
        case(
            "code of another client",
            Some((&secret_client, &new_secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code_b),
                ("redirect_uri", DEMO_REDIRECT),
                ("code_verifier", &verifier_b),
            ],
            bad,
            "invalid_grant",
        ),
        case(
            "unknown refresh token",
            demo,
            &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
            bad,
            "invalid_grant",
        ),
    ];
    cases.extend(code_cases);

    // DPoP proofs.
    let dpop_key = PartnerKey::new("dpop");
    let replayed = dpop_key.dpop(&server, "POST", &token_url, json!({}), None);
    let (status, _, body) = oauth_post(&server, "/oauth/token", demo, &cc, Some(&replayed)).await;
    assert_eq!(status, StatusCode::OK, "a valid DPoP proof: {body}");
    assert_eq!(body["token_type"], "DPoP");
    let mut private = dpop_key.public_jwk_without_kid();
    private["d"] = json!(dpop_key.d);
    for (name, proof) in [
        (
            "DPoP proof with the wrong htu",
            dpop_key.dpop(
                &server,
                "POST",
                &format!("{}/oauth/other", server.base),
                json!({}),
                None,
            ),
        ),
        (
            "DPoP proof with the wrong htm",
            dpop_key.dpop(&server, "GET", &token_url, json!({}), None),
        ),
        (
            "DPoP proof with a stale iat",
            dpop_key.dpop(
                &server,
                "POST",
                &token_url,
                json!({ "iat": now - 120 }),
                None,
            ),
        ),
        ("DPoP proof replayed", replayed),
        (
            "DPoP proof with a private key in its jwk",
            dpop_key.dpop(&server, "POST", &token_url, json!({}), Some(private)),
        ),
        (
            "DPoP proof without jti",
            dpop_key.dpop(&server, "POST", &token_url, json!({ "jti": null }), None),
        ),
        ("DPoP proof that is not a JWT", "not-a-jwt".to_string()),
    ] {
        cases.push(Case {
            dpop: Some(proof),
            ..case(name, demo, &cc, bad, "invalid_dpop_proof")
        });
    }
    // Introspection and revocation need client authentication too.
    cases.push(Case {
        path: "/oauth/introspect",
        ..case(
            "introspection with a wrong secret",
            Some((DEMO_ID, "wrong")),
            &[("token", "x")],
            unauthorized,
            "invalid_client",
        )
    });
    cases.push(Case {
        path: "/oauth/revoke",
        ..case(
            "revocation without client authentication",
            None,
            &[("token", "x")],
            unauthorized,
            "invalid_client",
        )
    });

    let failures_before = audited_auth_failures(&server).await;
    let tokens_before = server.count("SELECT COUNT(*) FROM refresh_tokens").await;
    let mut auth_failures = 0;
    for case in &cases {
        let form = as_refs(&case.form);
        let basic = case.basic.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
        let (status, headers, body) =
            oauth_post(&server, case.path, basic, &form, case.dpop.as_deref()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (case.status, Some(case.error)),
            "{}: {body}",
            case.name
        );
        assert_eq!(headers["cache-control"], "no-store", "{}", case.name);
        if status == StatusCode::UNAUTHORIZED {
            assert!(
                headers.contains_key("www-authenticate"),
                "{}: WWW-Authenticate on 401",
                case.name
            );
            auth_failures += 1;
        }
    }
    let failures_after = audited_auth_failures(&server).await;
    assert_eq!(
        failures_after - failures_before,
        auth_failures,
        "every failed client authentication is accounted for in the audit trail"
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM refresh_tokens").await,
        tokens_before,
        "no token was issued"
    );

    // The authorization endpoint: an unregistered redirect URI is shown, never redirected to.
    let browser = server.client();
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let path = format!("/oauth/authorize?response_type=code&client_id={DEMO_ID}&redirect_uri=https%3A%2F%2Fevil.example.com%2Fcb&scope=accounts&code_challenge={}&code_challenge_method=S256", challenge.as_str());
    let response = browser.get(&path).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("not registered"));
    // Without PKCE the error goes back to the (registered) redirect URI.
    let path = format!("/oauth/authorize?response_type=code&client_id={DEMO_ID}&redirect_uri={}&scope=accounts&state=s1", url::form_urlencoded::byte_serialize(DEMO_REDIRECT.as_bytes()).collect::<String>());
    let response = browser.get(&path).await;
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        query(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query(&location, "state").as_deref(), Some("s1"));
    let response = browser
        .get(&format!(
            "/oauth/authorize?client_id=cli_unknown&redirect_uri={DEMO_REDIRECT}"
        ))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
both!(every_mutation_of_a_valid_request_is_refused, demo);

/// Failed client authentications the audit trail accounts for: events of their own,
/// the repeats counted in summaries, and the repeats counted in windows still open
/// (audited when they close).
pub(crate) async fn audited_auth_failures(server: &TestServer) -> i64 {
    let pending = server.state.repeats.pending("oauth.client_auth_failed");
    let events = server
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'oauth.client_auth_failed'")
        .await;
    let summaries: Vec<String> = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'oauth.client_auth_failed_repeated'",
    )
    .fetch_all(server.pool())
    .await
    .unwrap();
    let repeated: i64 = summaries
        .iter()
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["repeated"]
                .as_i64()
                .unwrap()
        })
        .sum();
    events + repeated + i64::try_from(pending).unwrap()
}
