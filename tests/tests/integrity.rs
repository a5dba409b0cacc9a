//! Issue 18, "integrity and correctness": one test per item, named `item_N_…`, each
//! a real attack or race against a real server on both databases.

use oauth2::{CsrfToken, PkceCodeChallenge, Scope, TokenResponse};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::TestServer;
use crate::oauth::{authorize_as_customer, query};
use crate::sandbox_helpers::*;

/// A fresh authorization code for the demo app: (code, PKCE verifier).
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

async fn redeem(server: &TestServer, code: &str, verifier: &str) -> (StatusCode, Value) {
    let (status, _, body) = oauth_post(
        server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await;
    (status, body)
}

async fn active(server: &TestServer, token: &str) -> bool {
    introspect(server, DEMO_ID, DEMO_SECRET, token).await["active"] == true
}

/// Item 2: concurrent redemptions of one code give exactly one token response (RFC
/// 6749 §4.1.2), and the losing attempt counts as reuse: what the winner got is
/// revoked.
async fn item_2_code_redeemed_once_under_concurrency(server: TestServer) {
    for _round in 0..3 {
        let (code, verifier) = fresh_code(&server).await;
        let attempts = (0..6).map(|_| {
            let (base, code, verifier) = (server.base.clone(), code.clone(), verifier.clone());
            async move {
                let response = reqwest::Client::new()
                    .post(format!("{base}/oauth/token"))
                    .basic_auth(DEMO_ID, Some(DEMO_SECRET))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", DEMO_REDIRECT),
                        ("code_verifier", &verifier),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                (status, response.json::<Value>().await.unwrap())
            }
        });
        let results = futures_join_all(attempts).await;
        let winners: Vec<&Value> = results
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .map(|(_, body)| body)
            .collect();
        assert_eq!(winners.len(), 1, "exactly one redemption wins: {results:?}");
        for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_eq!(
                (*status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_grant"))
            );
        }
        // The losers were reuse: the winner's tokens are revoked, refresh included.
        let access = winners[0]["access_token"].as_str().unwrap();
        assert!(!active(&server, access).await, "the code's access token");
        let (status, _, body) = oauth_post(
            &server,
            "/oauth/token",
            Some((DEMO_ID, DEMO_SECRET)),
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    winners[0]["refresh_token"].as_str().unwrap(),
                ),
            ],
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }
}
both!(item_2_code_redeemed_once_under_concurrency, demo);

/// Item 3: revoking a refresh-token family revokes the access tokens minted from it,
/// on refresh-token reuse (RFC 9700 §4.14.2) and on RFC 7009 revocation of a refresh
/// token (§2.1), not only the refresh tokens.
async fn item_3_family_revocation_reaches_access_tokens(server: TestServer) {
    let oauth = oauth_client(&server, DEMO_ID, DEMO_SECRET, DEMO_REDIRECT);
    let http = oauth_http();

    // Reuse: code → A; refresh → B; replay the first refresh token → A and B dead.
    let (code, verifier) = fresh_code(&server).await;
    let (status, first) = redeem(&server, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let refresh = oauth2::RefreshToken::new(first["refresh_token"].as_str().unwrap().into());
    let refreshed = oauth
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .unwrap();
    let minted_by_refresh = refreshed.access_token().secret().clone();
    assert!(active(&server, &minted_by_refresh).await);
    assert!(oauth
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .is_err());
    assert!(
        !active(&server, &minted_by_refresh).await,
        "minted by a refresh of the family"
    );
    assert!(
        !active(&server, first["access_token"].as_str().unwrap()).await,
        "minted by the code"
    );

    // RFC 7009: revoking the refresh token revokes the grant's access tokens.
    let (code, verifier) = fresh_code(&server).await;
    let (_, grant) = redeem(&server, &code, &verifier).await;
    let access = grant["access_token"].as_str().unwrap();
    assert!(active(&server, access).await);
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/revoke",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("token", grant["refresh_token"].as_str().unwrap())],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!active(&server, access).await);
    assert_eq!(
        introspect(&server, DEMO_ID, DEMO_SECRET, access).await,
        json!({ "active": false })
    );
    // The sandbox API refuses it too.
    let response = reqwest::Client::new()
        .get(format!(
            "{}/sandbox/open-banking/v3.1/aisp/accounts",
            server.base
        ))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
both!(item_3_family_revocation_reaches_access_tokens, demo);

/// Runs futures concurrently on the runtime's threads and collects their outputs.
pub async fn futures_join_all<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// Item 5: client keys too weak for the algorithms Gatehouse verifies are refused at
/// registration (FAPI 2.0 §5.4.1), with the field named, and nothing is written.
async fn item_5_weak_client_keys_are_refused(server: TestServer) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    // A 1024-bit RSA modulus (odd, top bit set) and a real P-384 public key.
    let mut modulus = vec![0xC3u8; 128];
    modulus[127] |= 1;
    let rsa_1024 = json!({ "kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&modulus), "e": "AQAB" });
    let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let point = p384.public_key_raw();
    let ec_p384 = json!({
        "kty": "EC", "crv": "P-384",
        "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
        "y": URL_SAFE_NO_PAD.encode(&point[49..97]),
    });
    let apps_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps")
        .fetch_one(server.pool())
        .await
        .unwrap();
    for (jwk, message) in [(rsa_1024, "at least 2048 bits"), (ec_p384, "P-256")] {
        let jwk = jwk.to_string();
        let fields = app_fields("Weak key app", &owner, "private_key_jwt", &jwk);
        let response = developer
            .submit("/sandbox/apps/new", "/sandbox/apps", &fields)
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{jwk}");
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{message}: {page}");
    }
    let apps_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps")
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(apps_before, apps_after, "nothing written");
}
both!(item_5_weak_client_keys_are_refused, demo);

async fn client_credentials(server: &TestServer) -> String {
    let (status, _, body) = oauth_post(
        server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("grant_type", "client_credentials"), ("scope", "reference")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Item 4: a retired signing key leaves the JWKS and its tokens are refused at once;
/// the signing key it was is replaced; rotation cannot activate a key before
/// instances and JWKS caches can know it.
async fn item_4_retired_keys_are_refused(server: TestServer) {
    let token = client_credentials(&server).await;
    assert!(active(&server, &token).await);
    let kid = kid_of(&token);
    let retired = app::oauth::keys::retire(
        &server.state.db,
        &server.state.keys,
        "sandbox",
        &kid,
        "compromised in a test",
        server.state.clock.now(),
    )
    .await
    .unwrap();
    let replacement = retired.replacement.expect("the signing key is replaced");
    app::oauth::reload_keys(&server.state).await.unwrap();
    assert!(!active(&server, &token).await, "its tokens are refused");
    let response = reqwest::Client::new()
        .get(format!(
            "{}/sandbox/open-banking/v3.1/reference/fx-rates",
            server.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let jwks: Value = reqwest::get(format!("{}/oauth/jwks", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(!kids.contains(&kid.as_str()) && kids.contains(&replacement.as_str()));
    let fresh = client_credentials(&server).await;
    assert_eq!(kid_of(&fresh), replacement);
    assert!(active(&server, &fresh).await);
    // Retiring twice is refused; so is an activation delay shorter than the minimum.
    assert!(app::oauth::keys::retire(
        &server.state.db,
        &server.state.keys,
        "sandbox",
        &kid,
        "again",
        server.state.clock.now()
    )
    .await
    .is_err());
    let settings = server.state.settings.clone();
    let refused = gatehouse_server::keys_rotate(settings, "sandbox", "ES256", 300).await;
    assert!(refused.unwrap_err().contains("at least"));
    let actions = server.audit_actions().await;
    for action in ["oauth.signing_key_retired", "oauth.signing_key_created"] {
        assert!(actions.iter().any(|a| a == action), "{action} audited");
    }
}
both!(item_4_retired_keys_are_refused, demo);

/// Item 12: RFC 7009 revocations and a customer's refusal of a consent are audited,
/// in the same transaction as the change.
async fn item_12_revocations_and_refusals_are_audited(server: TestServer) {
    let token = client_credentials(&server).await;
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/revoke",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("token", &token)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!active(&server, &token).await);
    let oauth = oauth_client(&server, DEMO_ID, DEMO_SECRET, DEMO_REDIRECT);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("accounts".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = authorize_as_customer(&server, url.as_str(), "deny").await;
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    let actions = server.audit_actions().await;
    for action in [
        "oauth.token_revoked",
        "sandbox.consent_refused",
        "policy.installed",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} audited: {actions:?}"
        );
    }
}
both!(item_12_revocations_and_refusals_are_audited, demo);

/// Item 9: removing a member who owns an app, signed in elsewhere, always works: the
/// account is disabled, its sessions end, and its apps pass to a named colleague or
/// show that they have no owner.
async fn item_9_removing_an_owner_always_works(server: TestServer) {
    let admin = server
        .demo_partner_user("admin@acme-budgeting.example.com")
        .await;
    let developer = server.demo_partner().await;
    let dev_id = user_id(&server, "dev@acme-budgeting.example.com").await;
    let admin_id = user_id(&server, "admin@acme-budgeting.example.com").await;
    let app_id: String = sqlx::query_scalar("SELECT id FROM apps WHERE client_id = $1")
        .bind(DEMO_ID)
        .fetch_one(server.pool())
        .await
        .unwrap();
    // The developer owns the demo app; they are removed without a new owner.
    sqlx::query("UPDATE apps SET owner_id = $1 WHERE id = $2")
        .bind(&dev_id)
        .bind(&app_id)
        .execute(server.pool())
        .await
        .unwrap();
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{dev_id}/remove"),
            &[("new_owner_id", "usr_not_a_member")],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "a stranger cannot take over"
    );
    // (Since issue 15 the admin must say so: a new owner, or nobody.)
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{dev_id}/remove"),
            &[("new_owner_id", app::accounts::LEAVE_OWNERLESS)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Their session has ended and they cannot sign in again.
    let response = developer.get("/dashboard").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let again = server.client();
    let response = again
        .sign_in(
            "dev@acme-budgeting.example.com",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await;
    assert_ne!(
        response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok()),
        Some("/dashboard")
    );
    let (_, members) = admin.text("/org/members").await;
    assert!(!members.contains("dev@acme-budgeting.example.com"));
    let (_, page) = admin.text(&format!("/sandbox/apps/{app_id}")).await;
    assert!(page.contains("No owner"), "the ownerless flow");
    let status: String = sqlx::query_scalar("SELECT status FROM users WHERE id = $1")
        .bind(&dev_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "disabled");

    // A named new owner takes the apps over: an app owned by a second member.
    let response = admin
        .submit(
            "/org/members",
            "/org/members/invite",
            &[
                ("email", "ops@acme-budgeting.example.com"),
                ("display_name", "Ops Person"),
                ("role", "partner_developer"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let ops_id = user_id(&server, "ops@acme-budgeting.example.com").await;
    sqlx::query("UPDATE apps SET owner_id = $1 WHERE id = $2")
        .bind(&ops_id)
        .bind(&app_id)
        .execute(server.pool())
        .await
        .unwrap();
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{ops_id}/remove"),
            &[("new_owner_id", &admin_id)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let owner: String = sqlx::query_scalar("SELECT owner_id FROM apps WHERE id = $1")
        .bind(&app_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(owner, admin_id);
}
both!(item_9_removing_an_owner_always_works, demo);

/// Item 13: sign-out is final whatever is in flight. Requests with the session's
/// cookie run concurrently with the sign-out (as an attacker's, with a stolen cookie,
/// would); afterwards the cookie opens nothing.
async fn item_13_sign_out_is_final_under_concurrency(server: TestServer) {
    for _round in 0..3 {
        let user = server.demo_partner().await;
        let in_flight: Vec<_> = (0..12)
            .map(|_| {
                let (http, base) = (user.http.clone(), user.base.clone());
                tokio::spawn(async move {
                    for _ in 0..4 {
                        let _ = http.get(format!("{base}/sandbox/apps")).send().await;
                    }
                })
            })
            .collect();
        let csrf = user.csrf("/dashboard").await;
        let response = user.post("/signout", &[("csrf_token", &csrf)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        for task in in_flight {
            task.await.unwrap();
        }
        let response = user.get("/dashboard").await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "the signed-out session was written back by a request in flight"
        );
        assert!(response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/signin"));
    }
}
both!(item_13_sign_out_is_final_under_concurrency, demo);

/// Item 14: a session opened with the password before the account had a second
/// factor gains no second-factor rights when the user enrols elsewhere: it ends.
async fn item_14_second_factor_belongs_to_the_session(server: TestServer) {
    let email = "admin@acme-budgeting.example.com";
    let earlier = server.demo_partner_user(email).await;
    let enrolling = server.demo_partner_user(email).await;
    let secret = enrolling.enrol_totp().await;
    // The enrolling session proved the factor and keeps working.
    let (status, _) = enrolling.text("/production").await;
    assert_eq!(status, StatusCode::OK);
    // The password-only session does not inherit it.
    let response = earlier.get("/production").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/signin"));
    // Signing in again needs the code.
    let again = server.client();
    let response = again
        .sign_in(email, app::accounts::bootstrap::DEMO_PASSWORD)
        .await;
    assert_ne!(
        response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok()),
        Some("/dashboard")
    );
    let _ = secret;
}
both!(item_14_second_factor_belongs_to_the_session, demo);

/// Item 18: the consent form is bound to the authorization it shows. A second
/// /oauth/authorize in another tab replaces the pending request; the first tab's
/// form is then refused with 409 and nothing is granted.
async fn item_18_consent_form_is_bound_to_its_request(server: TestServer) {
    let oauth = oauth_client(&server, DEMO_ID, DEMO_SECRET, DEMO_REDIRECT);
    let start = |scope: &str| {
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = oauth
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new(scope.into()))
            .set_pkce_challenge(challenge)
            .url();
        url.as_str().strip_prefix(&server.base).unwrap().to_string()
    };
    let browser = server.client();
    browser.get(&start("accounts")).await;
    let response = browser
        .submit(
            "/oauth/authorize/signin",
            "/oauth/authorize/signin",
            &[
                ("username", "mia.salaried"),
                ("password", "sandbox-mia-2026"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, first_tab) = browser.text("/oauth/authorize/consent").await;
    let first = crate::common::input_value(&first_tab, "pending_id").unwrap();
    // Another tab starts a new authorization in the same browser.
    browser.get(&start("accounts")).await;
    let (_, second_tab) = browser.text("/oauth/authorize/consent").await;
    let second = crate::common::input_value(&second_tab, "pending_id").unwrap();
    assert_ne!(first, second);
    let codes = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM authorization_codes")
            .fetch_one(server.pool())
            .await
            .unwrap()
    };
    let before = codes().await;
    let response = browser
        .submit(
            "/oauth/authorize/consent",
            "/oauth/authorize/consent",
            &[("decision", "allow"), ("pending_id", &first)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("out of date"));
    assert_eq!(codes().await, before, "nothing granted");
    // The tab showing the current request works.
    let response = browser
        .submit(
            "/oauth/authorize/consent",
            "/oauth/authorize/consent",
            &[("decision", "allow"), ("pending_id", &second)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(codes().await, before + 1);
}
both!(item_18_consent_form_is_bound_to_its_request, demo);

/// Item 17: behind a load balancer, the forwarded client address is believed only
/// from a trusted proxy (off by default), and the sign-in throttle and the audit
/// trail then see the client, not the balancer.
async fn item_17_trusted_proxy(backend: crate::common::Backend, trusted: bool) {
    let Some(server) = TestServer::start_with(backend, |s| {
        s.demo = true;
        if trusted {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }
    })
    .await
    else {
        return;
    };
    let client = server.client();
    let csrf = client.csrf("/signin").await;
    let response = client
        .http
        .post(format!("{}/signin", server.base))
        .header("origin", &server.base)
        .header("x-forwarded-for", "203.0.113.77")
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "dev@acme-budgeting.example.com"),
            ("password", "not the password at all"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let ip: Option<String> = sqlx::query_scalar(
        "SELECT ip FROM audit_events WHERE action = 'signin.failure' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let expected = if trusted { "203.0.113.77" } else { "127.0.0.1" };
    assert_eq!(ip.as_deref(), Some(expected), "trusted proxy: {trusted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_17_forwarded_for_ignored_by_default_sqlite() {
    item_17_trusted_proxy(crate::common::Backend::Sqlite, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_17_forwarded_for_from_trusted_proxy_sqlite() {
    item_17_trusted_proxy(crate::common::Backend::Sqlite, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_17_forwarded_for_from_trusted_proxy_postgres() {
    item_17_trusted_proxy(crate::common::Backend::Postgres, true).await;
}
