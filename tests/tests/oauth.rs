//! The sandbox authorization server, driven by the `oauth2` crate as a partner's
//! software would, plus one negative test per mutation of a valid request.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope, StandardRevocableToken,
    TokenIntrospectionResponse, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{assert_location, TestServer};
use crate::sandbox_helpers::*;

async fn jwks(server: &TestServer) -> JwkSet {
    reqwest::get(format!("{}/oauth/jwks", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies an access token the way a resource server would: with the published JWKS.
async fn verify_with_jwks(server: &TestServer, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 §2.1 typ");
    let set = jwks(server).await;
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is in the JWKS");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[format!("{}/sandbox/open-banking/v3.1", server.base)]);
    validation.set_issuer(std::slice::from_ref(&server.base));
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

async fn client_credentials_metadata_introspection_revocation(server: TestServer) {
    // Metadata (RFC 8414) names the endpoints the client uses.
    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(metadata["issuer"], server.base);
    assert_eq!(
        metadata["token_endpoint"],
        format!("{}/oauth/token", server.base)
    );
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let keys = jwks(&server).await;
    assert!(!keys.keys.is_empty());
    let raw: Value = reqwest::get(format!("{}/oauth/jwks", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        raw["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none()),
        "public keys only"
    );

    let oauth = oauth_client(&server, DEMO_ID, DEMO_SECRET, DEMO_REDIRECT);
    let http = oauth_http();
    let token = oauth
        .exchange_client_credentials()
        .add_scope(Scope::new("reference".into()))
        .request_async(&http)
        .await
        .expect("client_credentials token");
    assert_eq!(token.expires_in().unwrap().as_secs(), 300);
    assert_eq!(token.scopes().unwrap()[0].as_str(), "reference");
    let claims = verify_with_jwks(&server, token.access_token().secret()).await;
    assert_eq!(claims["client_id"], DEMO_ID);
    assert_eq!(claims["sub"], DEMO_ID);
    assert_eq!(claims["scope"], "reference");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));

    // Cache-Control: no-store on token responses (RFC 6749 §5.1).
    let (status, headers, _) = oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");

    // Introspection with the oauth2 crate: active, then inactive once revoked.
    let response = oauth
        .introspect(token.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(response.active());
    assert_eq!(response.client_id().unwrap().as_str(), DEMO_ID);
    // The oauth2 crate refuses to send revocation requests over plain http (RFC 7009
    // §2 requires TLS) and the test server has no TLS: post the same request by hand.
    assert!(oauth
        .revoke_token(StandardRevocableToken::AccessToken(
            token.access_token().clone()
        ))
        .is_err());
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/revoke",
        Some((DEMO_ID, DEMO_SECRET)),
        &[
            ("token", token.access_token().secret()),
            ("token_type_hint", "access_token"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = oauth
        .introspect(token.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(!response.active());
    let body = introspect(&server, DEMO_ID, DEMO_SECRET, token.access_token().secret()).await;
    assert_eq!(
        body,
        json!({ "active": false }),
        "exactly {{\"active\":false}}"
    );
    // Garbage and unknown tokens are inactive the same way; revoking them is a 200.
    assert_eq!(
        introspect(&server, DEMO_ID, DEMO_SECRET, "not-a-token").await,
        json!({ "active": false })
    );
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/revoke",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("token", "unknown")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Tokens expire: after the lifetime they introspect inactive.
    let fresh = oauth
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap();
    assert!(
        introspect(&server, DEMO_ID, DEMO_SECRET, fresh.access_token().secret()).await["active"]
            == true
    );
    server.state.clock.advance(301);
    assert_eq!(
        introspect(&server, DEMO_ID, DEMO_SECRET, fresh.access_token().secret()).await,
        json!({ "active": false })
    );

    // The request log has the calls, with no secret or token in it.
    let app_id: String = sqlx::query_scalar("SELECT id FROM apps WHERE client_id = $1")
        .bind(DEMO_ID)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert!(wait_for_log(&server, &app_id, 8).await >= 8);
    let leaked = server
        .count(&format!("SELECT COUNT(*) FROM request_log WHERE endpoint LIKE '%{DEMO_SECRET}%' OR error LIKE '%{DEMO_SECRET}%'"))
        .await;
    assert_eq!(leaked, 0);
    let used: Option<i64> =
        sqlx::query_scalar("SELECT last_token_at FROM credentials WHERE app_id = $1")
            .bind(&app_id)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert!(used.is_some(), "last used is recorded");
}
both!(client_credentials_metadata_introspection_revocation, demo);

/// Tokens of one grant share its cached state, but each one's revocation is its own:
/// revoking one of three tokens (all introspected and used first, so everything
/// about them is cached) makes that one inactive and refused by the sandbox API at
/// once, and leaves the other two active.
async fn revoking_one_token_leaves_its_siblings_active(server: TestServer) {
    let api = crate::sandbox_api::Api::new(&server);
    // Active at introspection and accepted by the sandbox API, or neither.
    let usable = async |token: &str| {
        let active = introspect(&server, DEMO_ID, DEMO_SECRET, token).await;
        let status = api.get("/reference/branches", token).await.status;
        match (active == json!({ "active": false }), status) {
            (false, StatusCode::OK) => true,
            (true, StatusCode::UNAUTHORIZED) => false,
            other => panic!("introspection and the API disagree: {other:?}"),
        }
    };
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(crate::sandbox_api::client_token(&server, "reference").await);
    }
    for token in &tokens {
        assert!(usable(token).await);
    }
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/revoke",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("token", &tokens[1]), ("token_type_hint", "access_token")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!usable(&tokens[1]).await, "the revoked token");
    assert!(usable(&tokens[0]).await, "its sibling before it");
    assert!(usable(&tokens[2]).await, "its sibling after it");
}
both!(revoking_one_token_leaves_its_siblings_active, demo);

/// Past the revoked `jti`s kept in memory (a partner revoking its own tokens as fast as
/// it may), each token's `jti` is looked up on its own: revoked tokens stay inactive,
/// the others active, and a new revocation takes effect at once.
async fn past_the_in_memory_bound_each_jti_is_looked_up(server: TestServer) {
    let tokens = [
        crate::sandbox_api::client_token(&server, "reference").await,
        crate::sandbox_api::client_token(&server, "reference").await,
    ];
    let now = server.state.clock.now();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO revoked_tokens (jti, app_id, revoked_at, expires_at) \
         SELECT 'filler-' || i, 'app_filler', $2, $3 FROM n",
    )
    .bind(app::oauth::cache::REVOKED_IN_MEMORY as i64 + 5)
    .bind(now)
    .bind(now + 3600)
    .execute(server.pool())
    .await
    .unwrap();
    // Written behind Gatehouse's back: say so, as an edit by hand would wait for the TTL.
    server.state.oauth().cache.changed();
    for token in &tokens {
        assert_eq!(
            introspect(&server, DEMO_ID, DEMO_SECRET, token).await["active"],
            true
        );
    }
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/revoke",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("token", &tokens[0])],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        introspect(&server, DEMO_ID, DEMO_SECRET, &tokens[0]).await,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&server, DEMO_ID, DEMO_SECRET, &tokens[1]).await["active"],
        true
    );
    let api = crate::sandbox_api::Api::new(&server);
    assert_eq!(
        api.get("/reference/branches", &tokens[0]).await.status,
        StatusCode::UNAUTHORIZED
    );
}
both!(past_the_in_memory_bound_each_jti_is_looked_up, demo);

/// Follows the authorization request as the customer's browser: sign in, consent.
pub async fn authorize_as_customer(server: &TestServer, url: &str, decision: &str) -> url::Url {
    let browser = server.client();
    let path = url.strip_prefix(&server.base).unwrap();
    let response = browser.get(path).await;
    assert_location(&response, "/oauth/authorize/signin");
    let (_, page) = browser.text("/oauth/authorize/signin").await;
    assert!(
        page.contains("Acme Budgeting demo app"),
        "the sign-in page names the app"
    );
    // A wrong password keeps the customer on the page.
    let response = browser
        .submit(
            "/oauth/authorize/signin",
            "/oauth/authorize/signin",
            &[("username", "mia.salaried"), ("password", "wrong")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
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
    assert_location(&response, "/oauth/authorize/consent");
    let (_, consent) = browser.text("/oauth/authorize/consent").await;
    assert!(
        consent.contains("Mia Thornbury") && consent.contains("accounts"),
        "the consent names the customer and scopes"
    );
    let pending =
        crate::common::input_value(&consent, "pending_id").expect("the form names its request");
    let response = browser
        .submit(
            "/oauth/authorize/consent",
            "/oauth/authorize/consent",
            &[("decision", decision), ("pending_id", &pending)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

pub fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn authorization_code_pkce_refresh_and_reuse(server: TestServer) {
    let oauth = oauth_client(&server, DEMO_ID, DEMO_SECRET, DEMO_REDIRECT);
    let http = oauth_http();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("accounts".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = authorize_as_customer(&server, url.as_str(), "allow").await;
    assert!(back.as_str().starts_with(DEMO_REDIRECT));
    assert_eq!(
        query(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(
        query(&back, "iss").as_deref(),
        Some(server.base.as_str()),
        "RFC 9207 iss"
    );
    let code = query(&back, "code").unwrap();

    let token = oauth
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let claims = verify_with_jwks(&server, token.access_token().secret()).await;
    assert_eq!(claims["sub"], "mia.salaried");
    assert_eq!(claims["scope"], "accounts");
    let refresh = token.refresh_token().unwrap().clone();

    // Refresh with rotation: a new refresh token each time.
    let refreshed = oauth
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .expect("refresh");
    let second = refreshed.refresh_token().unwrap().clone();
    assert_ne!(second.secret(), refresh.secret());
    assert!(
        introspect(
            &server,
            DEMO_ID,
            DEMO_SECRET,
            refreshed.access_token().secret()
        )
        .await["active"]
            == true
    );

    // Reusing the first refresh token revokes the whole family, the new one included.
    for reused in [&refresh, &second] {
        let (status, _, body) = oauth_post(
            &server,
            "/oauth/token",
            Some((DEMO_ID, DEMO_SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", reused.secret()),
            ],
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }

    // Reusing the code fails and revokes the access token its first use issued.
    let (status, _, body) = oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", &"a".repeat(43)),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        introspect(&server, DEMO_ID, DEMO_SECRET, token.access_token().secret()).await,
        json!({ "active": false })
    );
    assert!(server
        .audit_actions()
        .await
        .contains(&"oauth.code_reused".to_string()));

    // A denied consent goes back with access_denied and the state.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("accounts".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = authorize_as_customer(&server, url.as_str(), "deny").await;
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        query(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );

    // Consents are listed for the developer and revocable; revoking stops the tokens.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("accounts".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = authorize_as_customer(&server, url.as_str(), "allow").await;
    let token = oauth
        .exchange_code(AuthorizationCode::new(query(&back, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let developer = server.demo_partner().await;
    let app_id: String = sqlx::query_scalar("SELECT id FROM apps WHERE client_id = $1")
        .bind(DEMO_ID)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let consent_id: String = sqlx::query_scalar("SELECT id FROM consents WHERE app_id = $1 AND status = 'granted' ORDER BY created_at DESC, id DESC LIMIT 1")
        .bind(&app_id).fetch_one(server.pool()).await.unwrap();
    let page = format!("/sandbox/apps/{app_id}");
    let (_, html) = developer.text(&page).await;
    assert!(html.contains(&consent_id) && html.contains("mia.salaried"));
    let response = developer
        .submit(&page, &format!("{page}/consents/{consent_id}/revoke"), &[])
        .await;
    assert_location(&response, &page);
    assert_eq!(
        introspect(&server, DEMO_ID, DEMO_SECRET, token.access_token().secret()).await,
        json!({ "active": false })
    );
    let refresh = token.refresh_token().unwrap();
    assert!(oauth
        .exchange_refresh_token(refresh)
        .request_async(&http)
        .await
        .is_err());
}
both!(authorization_code_pkce_refresh_and_reuse, demo);

async fn pushed_authorization_requests(server: TestServer) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let form = [
        ("response_type", "code"),
        ("client_id", DEMO_ID),
        ("redirect_uri", DEMO_REDIRECT),
        ("scope", "accounts payments"),
        ("state", "xyz"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (status, headers, body) = oauth_post(
        &server,
        "/oauth/par",
        Some((DEMO_ID, DEMO_SECRET)),
        &form,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let url = format!(
        "{}/oauth/authorize?client_id={DEMO_ID}&request_uri={}",
        server.base,
        url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>()
    );
    let back = authorize_as_customer(&server, &url, "allow").await;
    assert_eq!(query(&back, "state").as_deref(), Some("xyz"));
    let (status, _, body) = oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &query(&back, "code").unwrap()),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", verifier.secret()),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "accounts payments");
    // The request_uri works once.
    let response = server
        .client()
        .get(url.strip_prefix(&server.base).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Bad pushes: unregistered redirect URI, request_uri inside, a scope not the app's.
    let mut evil_redirect = form.to_vec();
    evil_redirect[2] = ("redirect_uri", "https://evil.example.com/cb");
    let mut request_uri_inside = form.to_vec();
    request_uri_inside.push(("request_uri", "urn:x"));
    let mut foreign_scope = form.to_vec();
    foreign_scope[3] = ("scope", "accounts admin");
    for (bad, error) in [
        (evil_redirect, "invalid_request"),
        (request_uri_inside, "invalid_request"),
        (foreign_scope, "invalid_scope"),
    ] {
        let (status, _, body) = oauth_post(
            &server,
            "/oauth/par",
            Some((DEMO_ID, DEMO_SECRET)),
            &bad,
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{bad:?}"
        );
    }
    assert_eq!(
        server.count("SELECT COUNT(*) FROM pushed_requests").await,
        1,
        "nothing stored for bad pushes"
    );
}
both!(pushed_authorization_requests, demo);

/// The request log's writer stores what it is sent, in batches of multi-row inserts:
/// 250 entries (two full statements of 100 rows and one of 50) all arrive, with their
/// own status, latency and error, and the credential's last use is recorded.
async fn request_log_batches_arrive_whole(server: TestServer) {
    let app_id = crate::production::demo_app_id(&server).await;
    let credential: String =
        sqlx::query_scalar("SELECT id FROM credentials WHERE app_id = $1 ORDER BY created_at")
            .bind(&app_id)
            .fetch_one(server.pool())
            .await
            .unwrap();
    for n in 0..250_i64 {
        server
            .state
            .oauth()
            .request_log
            .record(app::clients::reqlog::Entry {
                app_id: app_id.clone(),
                credential_id: Some(credential.clone()),
                at: 1_800_000_000 + n,
                method: "GET",
                endpoint: format!("/batch-check/{n}"),
                status: if n % 5 == 0 { 403 } else { 200 },
                latency_us: n,
                error: (n % 5 == 0).then(|| "forbidden".to_string()),
                scope: None,
                source: None,
            });
    }
    let filter = app::clients::reqlog::Filter {
        status_class: String::new(),
        endpoint: "/batch-check/".into(),
    };
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = app::clients::reqlog::list(&server.state.db, &app_id, &filter, 1000)
            .await
            .unwrap();
        if rows.len() >= 250 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rows.len(), 250, "every entry is stored once");
    for row in &rows {
        let n: i64 = row
            .endpoint
            .trim_start_matches("/batch-check/")
            .parse()
            .unwrap();
        assert_eq!(row.at, 1_800_000_000 + n);
        assert_eq!(row.latency_us, n);
        assert_eq!(row.status, if n % 5 == 0 { 403 } else { 200 });
        assert_eq!(row.error.as_deref(), (n % 5 == 0).then_some("forbidden"));
    }
    let last_used: Option<i64> =
        sqlx::query_scalar("SELECT last_used_at FROM credentials WHERE id = $1")
            .bind(&credential)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(
        last_used,
        Some(1_800_000_000 + 249),
        "the last successful use"
    );
}
both!(request_log_batches_arrive_whole, demo);

/// Two instances of Gatehouse on one PostgreSQL database, each keeping state in
/// memory for a whole minute: a token revoked through one is refused by the other
/// straight away, because the change is announced with NOTIFY; and a credential
/// revoked through the other stops tokens the first had already cached as active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_the_other_instances() {
    let Some(first) = TestServer::start_with(crate::common::Backend::Postgres, |s| {
        s.demo = true;
        s.state_cache_ms = 60_000;
    })
    .await
    else {
        return;
    };
    let public_url = first.state.settings.public_url.clone();
    let second = first
        .second_instance(|s| {
            s.public_url = public_url;
            s.state_cache_ms = 60_000;
        })
        .await;
    let active = async |server: &TestServer, token: &str| {
        introspect(server, DEMO_ID, DEMO_SECRET, token).await["active"] == json!(true)
    };
    let eventually_inactive = async |server: &TestServer, token: &str| {
        for _ in 0..100 {
            if !active(server, token).await {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    };

    // A token revoked (RFC 7009) at the second instance.
    let token = crate::sandbox_api::client_token(&first, "reference").await;
    assert!(
        active(&first, &token).await,
        "the first instance caches it as active"
    );
    let (status, _, _) = oauth_post(
        &second,
        "/oauth/revoke",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("token", &token)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        eventually_inactive(&first, &token).await,
        "the revocation reaches the first instance well before its cache expires"
    );

    // A whole credential revoked in the first instance's portal: the second instance's
    // sandbox API, which had the token's state cached, refuses it.
    let token = crate::sandbox_api::client_token(&first, "reference").await;
    let api = crate::sandbox_api::Api::new(&second);
    let fx_rates = async || api.get("/reference/fx-rates", &token).await.status;
    assert_eq!(fx_rates().await, StatusCode::OK);
    let app_id = crate::production::demo_app_id(&first).await;
    let partner = first.demo_partner().await;
    let credential: String =
        sqlx::query_scalar("SELECT id FROM credentials WHERE app_id = $1 AND revoked_at IS NULL")
            .bind(&app_id)
            .fetch_one(first.pool())
            .await
            .unwrap();
    let page = format!("/sandbox/apps/{app_id}");
    let response = partner
        .submit(
            &page,
            &format!("{page}/credentials/{credential}/revoke"),
            &[],
        )
        .await;
    assert_location(&response, &page);
    let mut refused = false;
    for _ in 0..100 {
        if fx_rates().await == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "the credential's revocation reaches the second instance"
    );
}
