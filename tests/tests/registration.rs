//! Issue 29, registration: a partner's software registers its own client with a
//! software statement from the directory (RFC 7591) and manages it with its
//! registration access token (RFC 7592), through a started server. A client nobody
//! here wrote (node's openid-client) registers and gets a token; every refusal the
//! RFC names is tried as the software that wants past it would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::Header;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, Client, TestServer};
use crate::sandbox_helpers::oauth_post;

const FJORD: &str = "admin@fjord-analytics.example.com";
const ACME_ADMIN: &str = "admin@acme-budgeting.example.com";
const DEMO_APP: &str = "Acme Budgeting demo app";

async fn app_of(server: &TestServer, name: &str) -> (String, String) {
    let app_id: String = sqlx::query_scalar("SELECT id FROM apps WHERE name = $1")
        .bind(name)
        .fetch_one(server.pool())
        .await
        .unwrap();
    (app::clients::model::software_id(&app_id), app_id)
}

/// Acme's admin, with a second factor enrolled, so statements can be downloaded.
async fn acme_admin(server: &TestServer) -> Client {
    let admin = server.demo_partner_user(ACME_ADMIN).await;
    admin.enrol_totp().await;
    admin
}

/// A fresh statement for `software`, downloaded from its page.
async fn statement(client: &Client, software: &str) -> String {
    let response = client
        .submit(
            &format!("/software/{software}"),
            &format!("/software/{software}/statement"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// POSTs a registration request (JSON) to `path`: status and body.
async fn register(server: &TestServer, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A request to the client configuration endpoint with `token`.
async fn configure(
    uri: &str,
    method: reqwest::Method,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, uri)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn token_status(server: &TestServer, client_id: &str, secret: &str) -> (StatusCode, Value) {
    let (status, _, body) = oauth_post(
        server,
        "/oauth/token",
        Some((client_id, secret)),
        &[("grant_type", "client_credentials"), ("scope", "accounts")],
        None,
    )
    .await;
    (status, body)
}

/// openid-client registers a sandbox client with a statement from the directory and
/// gets a token with it. The client is an ordinary client of the organisation; its
/// configuration is read (the token is not rotated) and updated within the
/// statement; the kill switch on its software stops it; withdrawing the software
/// revokes it; and its configuration endpoint then refuses the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_registers_with_a_statement_and_it_is_governed() {
    let Some(dir) = crate::examples::node_dir("interop") else {
        return;
    };
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let (software, software_app) = app_of(&server, DEMO_APP).await;
    let admin = acme_admin(&server).await;
    let ssa = statement(&admin, &software).await;
    let env = [
        ("GATEHOUSE_ISSUER", server.base.clone()),
        ("GATEHOUSE_SSA", ssa.clone()),
    ];
    let result = crate::examples::run(&server, &dir, "dcr.mjs", &env).await;
    assert_eq!(
        result["token_type"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some("bearer")
    );
    assert_eq!(result["software_id"], software);
    assert_eq!(result["scope"], "accounts");
    assert_eq!(result["token_endpoint_auth_method"], "client_secret_basic");
    let client_id = result["client_id"].as_str().unwrap().to_string();
    let secret = result["client_secret"].as_str().unwrap().to_string();
    let uri = result["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let token = result["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(uri, format!("{}/oauth/register/{client_id}", server.base));

    // An ordinary client of Acme, owned by the software's owner, naming its software.
    let (registered_from, owner, same_owner, org): (String, String, String, String) = sqlx::query_as(
        "SELECT a.registered_from, a.owner_id, s.owner_id, a.org_id FROM apps a JOIN apps s ON s.id = a.registered_from WHERE a.client_id = $1",
    )
    .bind(&client_id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(registered_from, software_app);
    assert_eq!(owner, same_owner);
    let acme: String = sqlx::query_scalar("SELECT org_id FROM users WHERE email = $1")
        .bind(ACME_ADMIN)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(org, acme);
    let (status, html) = admin.text("/governance/inventory").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&client_id), "the inventory lists it");
    assert!(server
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "directory.client_registered"));
    // The statement was used once: registering again with it is refused.
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": ssa }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_software_statement", "{body}");

    // RFC 7592: read twice with the same token; update within the statement.
    for _ in 0..2 {
        let (status, body) = configure(&uri, reqwest::Method::GET, &token, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["client_id"], client_id.as_str());
        assert!(body.get("client_secret").is_none());
    }
    let (status, body) = configure(&uri, reqwest::Method::GET, "not-the-token", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    let (status, body) = configure(
        &uri,
        reqwest::Method::PUT,
        &token,
        Some(&json!({ "client_id": client_id, "redirect_uris": ["https://evil.example/cb"] })),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri"))
    );
    let (status, body) = configure(
        &uri,
        reqwest::Method::PUT,
        &token,
        Some(&json!({ "client_id": client_id, "scope": "accounts payments" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "accounts payments");
    let (status, body) = configure(
        &uri,
        reqwest::Method::PUT,
        &token,
        Some(&json!({ "client_id": client_id, "scope": "accounts admin" })),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );

    // The kill switch on the software reaches the registered client.
    let (status, body) = token_status(&server, &client_id, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bank_admin =
        app::platform::context::AuthUser::by_email(&server.state, "admin@bank.example.com")
            .await
            .unwrap()
            .unwrap();
    let suspension = app::governance::suspension::suspend(
        &server.state,
        &bank_admin,
        &Default::default(),
        "client",
        &software_app,
        "Investigating a leaked key",
    )
    .await
    .unwrap();
    let (status, body) = token_status(&server, &client_id, &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    sqlx::query("UPDATE suspensions SET lifted_at = 1 WHERE id = $1")
        .bind(&suspension)
        .execute(server.pool())
        .await
        .unwrap();
    server.forget_cached_state();
    let (status, _) = token_status(&server, &client_id, &secret).await;
    assert_eq!(status, StatusCode::OK);

    // Withdrawing the software (here: the partner revokes its sandbox app) revokes
    // the registered client at once; its configuration endpoint refuses the token.
    let response = admin
        .submit(
            &format!("/sandbox/apps/{software_app}"),
            &format!("/sandbox/apps/{software_app}/revoke"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, body) = token_status(&server, &client_id, &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = configure(&uri, reqwest::Method::GET, &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Registers and deletes (RFC 7592 §2.3) a client: deleting retires it.
async fn a_registered_client_is_deleted_with_its_token(server: TestServer) {
    let (software, _) = app_of(&server, DEMO_APP).await;
    let admin = acme_admin(&server).await;
    let ssa = statement(&admin, &software).await;
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": ssa, "client_name": "ignored: the statement's name wins" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["client_name"].as_str().unwrap().starts_with(DEMO_APP),
        "{body}"
    );
    assert!(body["client_secret_expires_at"].as_i64().unwrap() > 0);
    let client_id = body["client_id"].as_str().unwrap();
    let secret = body["client_secret"].as_str().unwrap();
    let uri = body["registration_client_uri"].as_str().unwrap();
    let token = body["registration_access_token"].as_str().unwrap();
    let stored: Option<String> =
        sqlx::query_scalar("SELECT registration_token_hash FROM apps WHERE client_id = $1")
            .bind(client_id)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(
        stored,
        Some(server.state.keys.keyed_hash(token)),
        "only a hash is stored"
    );
    let response = reqwest::Client::new()
        .delete(uri)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = token_status(&server, client_id, secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = reqwest::Client::new()
        .delete(uri)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "deleted once");
    // The software itself is untouched.
    let (status, _) = admin.text(&format!("/software/{software}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server
            .count(&format!(
                "SELECT COUNT(*) FROM apps WHERE name = '{DEMO_APP}' AND status = 'active'"
            ))
            .await,
        1
    );
}
both!(a_registered_client_is_deleted_with_its_token, demo);

/// Every refusal RFC 7591 §3.2.2 names, each with the right code, audited, and
/// writing nothing else: no statement, not JSON, forged, wrong issuer, expired,
/// replayed, redirect URI or scope outside the statement, the wrong issuer's
/// endpoint, a secret or inline keys for production, withdrawn software.
async fn registration_refusals(server: TestServer) {
    let (software, software_app) = app_of(&server, DEMO_APP).await;
    let admin = acme_admin(&server).await;
    let apps = "SELECT COUNT(*) FROM apps";
    let before = server.count(apps).await;
    let used = "SELECT COUNT(*) FROM software_statements WHERE used_at IS NOT NULL";
    let used_before = server.count(used).await;
    let refused =
        "SELECT COUNT(*) FROM audit_events WHERE action = 'directory.registration_refused'";
    let mut expected_refusals = 0;
    let mut check = |status: StatusCode, body: &Value, code: &str| {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], code, "{body}");
        assert!(body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
        expected_refusals += 1;
    };

    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "client_name": "no statement" }),
    )
    .await;
    check(status, &body, "invalid_software_statement");
    let response = reqwest::Client::new()
        .post(format!("{}/oauth/register", server.base))
        .body("software_statement=x")
        .send()
        .await
        .unwrap();
    let status = response.status();
    check(
        status,
        &response.json().await.unwrap(),
        "invalid_client_metadata",
    );

    // A genuine statement's claims, signed by someone else, or by the directory's
    // key with another issuer or already expired.
    let ssa = statement(&admin, &software).await;
    let claims: Value = {
        use base64::Engine;
        let payload = ssa.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    let forged_key = crate::sandbox_helpers::PartnerKey::new("forger").encoding;
    let kid = jsonwebtoken::decode_header(&ssa).unwrap().kid.unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.clone());
    header.typ = Some("JWT".into());
    let forged = jsonwebtoken::encode(&header, &claims, &forged_key).unwrap();
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": forged }),
    )
    .await;
    check(status, &body, "invalid_software_statement");
    let ring = app::directory::statement::ring(&server.state)
        .await
        .unwrap();
    let key = ring.signing(server.state.clock.now()).unwrap();
    let mut wrong_issuer = claims.clone();
    wrong_issuer["iss"] = json!("https://directory.example.com");
    let jwt = jsonwebtoken::encode(&header, &wrong_issuer, &key.encoding).unwrap();
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": jwt }),
    )
    .await;
    check(status, &body, "invalid_software_statement");

    // Outside the statement: a redirect URI, a scope, a grant type.
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": ssa, "redirect_uris": ["https://evil.example/cb"] }),
    )
    .await;
    check(status, &body, "invalid_redirect_uri");
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": ssa, "scope": "accounts admin" }),
    )
    .await;
    check(status, &body, "invalid_client_metadata");
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": ssa, "redirect_uris": "https://not-an-array" }),
    )
    .await;
    check(status, &body, "invalid_client_metadata");
    // The sandbox's statement at the production issuer.
    let (status, body) = register(
        &server,
        "/production/oauth/register",
        &json!({ "software_statement": ssa }),
    )
    .await;
    check(status, &body, "unapproved_software_statement");
    // Expired: the statement's five minutes have passed.
    server.state.clock.advance(301);
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": ssa }),
    )
    .await;
    check(status, &body, "invalid_software_statement");

    // Production: a client secret, or inline keys, are refused.
    let fjord = server.demo_staff(FJORD, 0).await;
    let (fjord_software, fjord_app) = app_of(&server, "Fjord insights").await;
    let production = statement(&fjord, &fjord_software).await;
    let (status, body) = register(
        &server,
        "/production/oauth/register",
        &json!({ "software_statement": production }),
    )
    .await;
    check(status, &body, "invalid_client_metadata");
    sqlx::query("UPDATE apps SET auth_method = 'private_key_jwt' WHERE id = $1")
        .bind(&fjord_app)
        .execute(server.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO credentials (id, app_id, kind, material, created_by, created_at, expires_at) \
         VALUES ('crd_test_jwks_uri', $1, 'jwks_uri', 'https://fjord.example.com/jwks.json', 'test', $2, $3)",
    )
    .bind(&fjord_app)
    .bind(server.state.clock.now())
    .bind(server.state.clock.now() + 86_400)
    .execute(server.pool())
    .await
    .unwrap();
    server.forget_cached_state();
    let production = statement(&fjord, &fjord_software).await;
    let (status, body) = register(
        &server,
        "/production/oauth/register",
        &json!({ "software_statement": production, "jwks": { "keys": [] } }),
    )
    .await;
    check(status, &body, "invalid_client_metadata");
    // Withdrawn software.
    let ssa = statement(&admin, &software).await;
    sqlx::query("UPDATE apps SET status = 'revoked', revoked_at = 1 WHERE id = $1")
        .bind(&software_app)
        .execute(server.pool())
        .await
        .unwrap();
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": ssa }),
    )
    .await;
    check(status, &body, "unapproved_software_statement");

    assert_eq!(
        server.count(apps).await,
        before,
        "a refusal writes no client"
    );
    assert_eq!(server.count(refused).await, expected_refusals);
    assert_eq!(
        server.count(used).await,
        used_before,
        "a refusal uses no statement"
    );

    // The production statement with a JWKS URL registers: no secret, the key's URL.
    let production = statement(&fjord, &fjord_software).await;
    let (status, body) = register(
        &server,
        "/production/oauth/register",
        &json!({ "software_statement": production }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("client_secret").is_none(), "{body}");
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(body["grant_types"], json!(["client_credentials"]));
    let uri = body["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(uri.starts_with(&format!("{}/production/oauth/register/", server.base)));
    let token = body["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The production configuration endpoint: read, a narrowing update, and delete.
    let client_id = body["client_id"].as_str().unwrap().to_string();
    let (status, read) = configure(&uri, reqwest::Method::GET, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["jwks_uri"], "https://fjord.example.com/jwks.json");
    // The sandbox's configuration path does not serve a production client.
    let sandbox_uri = format!("{}/oauth/register/{client_id}", server.base);
    let (status, _) = configure(&sandbox_uri, reqwest::Method::GET, &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, updated) = configure(
        &uri,
        reqwest::Method::PUT,
        &token,
        Some(&json!({ "client_id": client_id, "redirect_uris": [] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let response = reqwest::Client::new()
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let material: String = sqlx::query_scalar(
        "SELECT c.material FROM credentials c JOIN apps a ON a.id = c.app_id WHERE a.client_id = $1",
    )
    .bind(body["client_id"].as_str().unwrap())
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(material, "https://fjord.example.com/jwks.json");
}
both!(registration_refusals, demo);

/// Both issuers' metadata name their registration endpoint.
async fn metadata_names_the_registration_endpoint(server: TestServer) {
    for (path, endpoint) in [
        ("/.well-known/oauth-authorization-server", "/oauth/register"),
        (
            "/.well-known/oauth-authorization-server/production",
            "/production/oauth/register",
        ),
    ] {
        let metadata: Value = reqwest::get(format!("{}{path}", server.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["registration_endpoint"],
            format!("{}{endpoint}", server.base),
            "{path}"
        );
    }
}
both!(metadata_names_the_registration_endpoint);

/// A key-authenticated client registered from a sandbox app (on both databases):
/// the statement is used once; its configuration is read without rotating the
/// token and updated within the software (what a PUT leaves out stays); and
/// revoking the software's key, narrowing the software in a review's stead, or the
/// bank withdrawing the software reaches the registered client at once.
async fn registered_clients_follow_their_software(server: TestServer) {
    use crate::sandbox_helpers::{
        app_fields, as_refs, assertion_form, register_app, user_id, PartnerKey,
    };
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let key = PartnerKey::new("software-key");
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let mut fields = app_fields("Keyed software", &owner, "private_key_jwt", &jwks);
    fields.push(("scopes", "payments"));
    let (software_app, _, _) = register_app(&developer, &fields).await;
    let software = app::clients::model::software_id(&software_app);
    let ssa = statement(&developer, &software).await;
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": ssa, "scope": "accounts payments", "grant_types": ["client_credentials"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(body["jwks"]["keys"][0]["kid"], "software-key", "{body}");
    assert!(body.get("client_secret").is_none());
    let client_id = body["client_id"].as_str().unwrap().to_string();
    let uri = body["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let token = body["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let stored: Option<String> =
        sqlx::query_scalar("SELECT registration_token_hash FROM apps WHERE client_id = $1")
            .bind(&client_id)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(
        stored,
        Some(server.state.keys.keyed_hash(&token)),
        "only its hash is kept"
    );
    // Used once.
    let (status, body) = register(
        &server,
        "/oauth/register",
        &json!({ "software_statement": ssa }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_software_statement"))
    );

    // The registered client authenticates with the software's key.
    let token_status = |scope: &'static str| {
        let assertion = key.assertion(
            &server,
            &client_id,
            json!({ "aud": format!("{}/oauth/token", server.base) }),
        );
        let form = assertion_form(
            &assertion,
            &[
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("client_id", &client_id),
            ],
        );
        let server = &server;
        async move {
            let (status, _, body) =
                oauth_post(server, "/oauth/token", None, &as_refs(&form), None).await;
            (status, body)
        }
    };
    let (status, body) = token_status("accounts").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // RFC 7592: read twice with the same token, without a token, with a wrong one.
    for _ in 0..2 {
        let (status, body) = configure(&uri, reqwest::Method::GET, &token, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "accounts payments");
    }
    let response = reqwest::get(&uri).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let (status, body) = configure(&uri, reqwest::Method::GET, "wrong", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    // Another client's address with this token: the same 401.
    let other = format!(
        "{}/oauth/register/{}",
        server.base,
        app::accounts::bootstrap::DEMO_CLIENT_ID
    );
    let (status, _) = configure(&other, reqwest::Method::GET, &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // PUT: without client_id refused; a narrower scope kept; redirect URIs untouched
    // when left out; nothing outside the software.
    let (status, body) = configure(
        &uri,
        reqwest::Method::PUT,
        &token,
        Some(&json!({ "scope": "accounts" })),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );
    let before: String = sqlx::query_scalar("SELECT redirect_uris FROM apps WHERE client_id = $1")
        .bind(&client_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let (status, body) = configure(
        &uri,
        reqwest::Method::PUT,
        &token,
        Some(&json!({ "client_id": client_id, "scope": "accounts" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "accounts");
    let after: String = sqlx::query_scalar("SELECT redirect_uris FROM apps WHERE client_id = $1")
        .bind(&client_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(before, after);
    let (status, _) = token_status("payments").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "payments was given up");

    // The countries the bank allows the software apply to its registered client.
    let bank = server.demo_staff("admin@bank.example.com", 0).await;
    let residency = format!("/governance/bank/clients/{software_app}/residency");
    let response = bank
        .submit(
            &format!("/governance/bank/clients/{software_app}"),
            &residency,
            &[("allowed_countries", "GB IE")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let countries: String =
        sqlx::query_scalar("SELECT allowed_countries FROM apps WHERE client_id = $1")
            .bind(&client_id)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(countries, "GB IE");

    // Revoking the software's key stops the registered client too.
    let credential: String = sqlx::query_scalar("SELECT id FROM credentials WHERE app_id = $1")
        .bind(&software_app)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let response = developer
        .submit(
            &format!("/sandbox/apps/{software_app}"),
            &format!("/sandbox/apps/{software_app}/credentials/{credential}/revoke"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, body) = token_status("accounts").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // The bank withdraws the software: the registered client is revoked with it.
    let page = format!("/admin/software/{software}");
    let response = bank
        .submit(
            &page,
            &format!("{page}/withdraw"),
            &[("reason", "Key leaked")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let status: String = sqlx::query_scalar("SELECT status FROM apps WHERE client_id = $1")
        .bind(&client_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "revoked");
    let details: String = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'directory.software_withdrawn' AND resource_id = $1",
    )
    .bind(&software)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(
        details["registered_clients_revoked"],
        json!([client_id]),
        "{details}"
    );
    let (status, _) = configure(&uri, reqwest::Method::GET, &token, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
both!(registered_clients_follow_their_software, demo);
