//! Sandbox apps through the portal and the JSON API: registration with bad input,
//! secrets shown once, other organisations' ids, rotation with overlap, revocation,
//! the request log, DPoP binding, and a property test of token activity.

use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{assert_location, element_text, Backend, TestServer};
use crate::sandbox_helpers::*;

async fn registration_bad_input_and_scoping(server: TestServer) {
    let admin = server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    let owner = user_id(&server, "ada@acme.example.com").await;
    let (status, html) = admin.text("/sandbox/apps").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("You have no sandbox apps yet"));

    // Bad input: every problem named, the input kept, nothing written.
    let private_jwk =
        json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "secret"}).to_string();
    let response = admin
        .submit(
            "/sandbox/apps/new",
            "/sandbox/apps",
            &[
                ("name", ""),
                ("purpose", ""),
                ("owner_id", "usr_someone_else"),
                ("redirect_uris", "http://evil.example.com/cb"),
                ("auth_method", "private_key_jwt"),
                ("jwks", &private_jwk),
                ("rate_limit_per_minute", "ten"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    for message in [
        "Enter a name",
        "Say what the app is for",
        "Choose the app&#x27;s owner",
        "Choose at least one scope",
        "must use https",
        "That is a private key",
        "Enter a whole number",
    ] {
        assert!(
            html.contains(message) || html.contains(&message.replace("&#x27;", "'")),
            "missing message: {message}"
        );
    }
    assert!(html.contains("http://evil.example.com/cb"), "input kept");
    let response = admin
        .submit(
            "/sandbox/apps/new",
            "/sandbox/apps",
            &[
                ("name", "A"),
                ("purpose", "B"),
                ("owner_id", &owner),
                ("scopes", "accounts"),
                ("scopes", "not-a-scope"),
                ("redirect_uris", ""),
                ("auth_method", "client_secret_jwt"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("not-a-scope is not a scope")
            && html.contains("need at least one redirect URI")
            && html.contains("Choose how the app authenticates")
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM apps").await, 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM credentials").await, 0);

    // A good one: the secret is shown once, stored only as a keyed hash.
    let (app_id, client_id, secret) = register_app(
        &admin,
        &app_fields("Budget buddy", &owner, "client_secret_basic", ""),
    )
    .await;
    let secret = secret.expect("secret shown");
    assert!(secret.len() >= 43, "at least 256 bits");
    let (_, again) = admin.text(&format!("/sandbox/apps/{app_id}")).await;
    assert!(
        element_text(&again, "client-secret").is_none(),
        "never shown twice"
    );
    let stored = server.count(&format!("SELECT COUNT(*) FROM credentials WHERE secret_hash = '{secret}' OR material = '{secret}'")).await;
    assert_eq!(stored, 0);
    // The same name again is a conflict.
    let response = admin
        .submit(
            "/sandbox/apps/new",
            "/sandbox/apps",
            &app_fields("Budget buddy", &owner, "client_secret_basic", ""),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let actions = server.audit_actions().await;
    assert!(
        actions.contains(&"sandbox.app_created".into())
            && actions.contains(&"sandbox.credential_issued".into())
    );
    assert!(
        server
            .count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE details LIKE '%{secret}%'"
            ))
            .await
            == 0
    );

    // Another organisation sees none of it: 404 on the page, the log, and every action.
    let other = server
        .partner_admin("grace@other.example.com", "87654321")
        .await;
    for path in [
        format!("/sandbox/apps/{app_id}"),
        format!("/sandbox/apps/{app_id}/log"),
        format!("/api/v1/sandbox/apps/{app_id}"),
    ] {
        assert_eq!(
            other.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let credential: String = sqlx::query_scalar("SELECT id FROM credentials WHERE app_id = $1")
        .bind(&app_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    for action in [
        format!("/sandbox/apps/{app_id}/revoke"),
        format!("/sandbox/apps/{app_id}/rotate"),
        format!("/sandbox/apps/{app_id}/credentials/{credential}/revoke"),
    ] {
        let response = other
            .submit("/sandbox/apps", &action, &[("overlap", "0")])
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
    }
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM credentials WHERE revoked_at IS NOT NULL")
            .await,
        0
    );
    let (_, list) = other.text("/sandbox/apps").await;
    assert!(!list.contains(&client_id));

    // A token works; revoking the credential makes it inactive at once.
    let (status, _, body) = oauth_post(
        &server,
        "/oauth/token",
        Some((&client_id, &secret)),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(body["scope"], "accounts reference");
    let page = format!("/sandbox/apps/{app_id}");
    let response = admin
        .submit(
            &page,
            &format!("{page}/credentials/{credential}/revoke"),
            &[],
        )
        .await;
    assert_location(&response, &page);
    let response = admin
        .submit(
            &page,
            &format!("{page}/credentials/{credential}/revoke"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "revoking twice");
    let (status, _, body) = oauth_post(
        &server,
        "/oauth/token",
        Some((&client_id, &secret)),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // Introspect with a new credential (rotation after revocation).
    let response = admin
        .submit(&page, &format!("{page}/rotate"), &[("overlap", "3600")])
        .await;
    assert_location(&response, &page);
    let (_, html) = admin.text(&page).await;
    let new_secret = element_text(&html, "client-secret").unwrap();
    assert_eq!(
        introspect(&server, &client_id, &new_secret, &token).await,
        json!({ "active": false })
    );
    // Bad rotation input.
    let response = admin
        .submit(&page, &format!("{page}/rotate"), &[("overlap", "12")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Choose how long the old credential stays valid"));

    // The request log shows the calls to the app's developers, filterable.
    wait_for_log(&server, &app_id, 3).await;
    let (status, log) = admin
        .text(&format!("/sandbox/apps/{app_id}/log?status=4xx"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(log.contains("invalid_client") && log.contains("/oauth/token"));
    assert!(!log.contains(&secret) && !log.contains(&token));
    let (_, ok_only) = admin
        .text(&format!("/sandbox/apps/{app_id}/log?status=2xx"))
        .await;
    assert!(!ok_only.contains("invalid_client"));

    // Revoking the app: immediate, audited, and final.
    let response = admin.submit(&page, &format!("{page}/revoke"), &[]).await;
    assert_location(&response, &page);
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/token",
        Some((&client_id, &new_secret)),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = admin
        .submit(&page, &format!("{page}/rotate"), &[("overlap", "0")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(server
        .audit_actions()
        .await
        .contains(&"sandbox.app_revoked".into()));

    // Bank staff and signed-out visitors have no sandbox apps.
    assert_eq!(
        server.client().get("/sandbox/apps").await.status(),
        StatusCode::SEE_OTHER
    );
    let (status, docs) = server.client().text("/sandbox/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        docs.contains("mia.salaried") && docs.contains("sandbox-mia-2026"),
        "test customers listed"
    );
}
both!(registration_bad_input_and_scoping);

async fn json_api(server: TestServer) {
    let admin = server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    let owner = user_id(&server, "ada@acme.example.com").await;
    let response = admin.get("/api/v1/sandbox/apps").await;
    assert_eq!(response.status(), StatusCode::OK);
    let csrf = response.headers()["x-csrf-token"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["apps"], json!([]));
    let post = |path: &str, body: Value, token: Option<&str>| {
        let mut request = admin
            .http
            .post(format!("{}{path}", server.base))
            .json(&body);
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    let good = json!({
        "name": "API app", "purpose": "Testing the API", "owner_id": owner, "scopes": ["reference"],
        "auth_method": "client_secret_post",
    });
    // Without the CSRF header: refused, nothing written.
    let response = post("/api/v1/sandbox/apps", good.clone(), None)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Wrong types and missing fields: 400 and 422 with the fields named.
    let response = post("/api/v1/sandbox/apps", json!({ "name": 5 }), Some(&csrf))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = post("/api/v1/sandbox/apps", json!({}), Some(&csrf))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let errors: Value = response.json().await.unwrap();
    for field in ["name", "purpose", "owner_id", "scopes", "auth_method"] {
        assert!(errors["fields"][field].is_string(), "{field}: {errors}");
    }
    // Too large a body.
    let huge = json!({ "name": "x".repeat(70 * 1024) });
    let response = post("/api/v1/sandbox/apps", huge, Some(&csrf))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.count("SELECT COUNT(*) FROM apps").await, 0);

    let response = post("/api/v1/sandbox/apps", good, Some(&csrf))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let (app_id, client_id, secret) = (
        created["app_id"].as_str().unwrap(),
        created["client_id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    // client_secret_post, as the app was registered.
    let token_with = async |secret: &str| {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ];
        oauth_post(&server, "/oauth/token", None, &form, None).await
    };
    let (status, _, _) = token_with(secret).await;
    assert_eq!(status, StatusCode::OK);
    let detail: Value = admin
        .get(&format!("/api/v1/sandbox/apps/{app_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["client_id"], client_id);
    assert_eq!(detail["credentials"][0]["status"], "active");
    assert!(
        !detail.to_string().contains(secret),
        "the secret is not in the API's answers"
    );
    let response = post(
        &format!("/api/v1/sandbox/apps/{app_id}/credentials/rotate"),
        json!({ "overlap_seconds": 3600 }),
        Some(&csrf),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let rotated: Value = response.json().await.unwrap();
    // Both secrets work during the overlap; the old one stops after it.
    for s in [secret, rotated["secret"].as_str().unwrap()] {
        let (status, _, _) = token_with(s).await;
        assert_eq!(status, StatusCode::OK);
    }
    server.state.clock.advance(3601);
    let (status, _, body) = token_with(secret).await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (
            StatusCode::UNAUTHORIZED,
            Some("Client authentication failed: the secret has expired.")
        )
    );
    let response = post(
        &format!("/api/v1/sandbox/apps/{app_id}/revoke"),
        json!({}),
        Some(&csrf),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = post(
        &format!("/api/v1/sandbox/apps/{app_id}/revoke"),
        json!({}),
        Some(&csrf),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // Signed out: 401 in JSON, not a redirect.
    let response = server.client().get("/api/v1/sandbox/apps").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
both!(json_api);

async fn private_key_jwt_rotation_and_dpop_binding(server: TestServer) {
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let first = PartnerKey::new("first");
    let jwks = first.jwk.to_string();
    let (app_id, client_id, secret) = register_app(
        &developer,
        &app_fields("Signed", &owner, "private_key_jwt", &jwks),
    )
    .await;
    assert!(secret.is_none(), "no secret for private_key_jwt");
    let call = |assertion: String, dpop: Option<String>| {
        let server = &server;
        async move {
            let form = assertion_form(&assertion, &[("grant_type", "client_credentials")]);
            oauth_post(
                server,
                "/oauth/token",
                None,
                &as_refs(&form),
                dpop.as_deref(),
            )
            .await
        }
    };
    // DPoP-bound token: token_type DPoP and cnf.jkt = the proof key's thumbprint.
    let dpop_key = PartnerKey::new("dpop");
    let proof = dpop_key.dpop(
        &server,
        "POST",
        &format!("{}/oauth/token", server.base),
        json!({}),
        None,
    );
    let (status, _, body) =
        call(first.assertion(&server, &client_id, json!({})), Some(proof)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let bound = body["access_token"].as_str().unwrap().to_string();

    // Rotate to a second key with a day of overlap: both keys work.
    let second = PartnerKey::new("second");
    let page = format!("/sandbox/apps/{app_id}");
    let response = developer
        .submit(
            &page,
            &format!("{page}/rotate"),
            &[
                ("overlap", "86400"),
                ("jwks", &second.jwk.to_string()),
                ("jwks_uri", ""),
            ],
        )
        .await;
    assert_location(&response, &page);
    for key in [&first, &second] {
        let (status, _, body) = call(key.assertion(&server, &client_id, json!({})), None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{} during the overlap: {body}",
            key.kid()
        );
    }
    let form = assertion_form(
        &second.assertion(&server, &client_id, json!({})),
        &[("token", &bound)],
    );
    let (_, _, introspection) =
        oauth_post(&server, "/oauth/introspect", None, &as_refs(&form), None).await;
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["token_type"], "DPoP");
    assert_eq!(introspection["cnf"]["jkt"], dpop_key.thumbprint());
    // After the overlap only the new key authenticates.
    server.state.clock.advance(86_401);
    let (status, _, body) = call(first.assertion(&server, &client_id, json!({})), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, _, _) = call(second.assertion(&server, &client_id, json!({})), None).await;
    assert_eq!(status, StatusCode::OK);

    // A client that requires DPoP gets no unbound token. (A day on, the developer's
    // session has ended: sessions last 12 hours of the clock.)
    let developer = server.demo_partner().await;
    let (_, dpop_client, dpop_secret) = register_app(
        &developer,
        &[
            app_fields("Bound", &owner, "client_secret_basic", ""),
            vec![("dpop_required", "true")],
        ]
        .concat(),
    )
    .await;
    let (status, _, body) = oauth_post(
        &server,
        "/oauth/token",
        Some((&dpop_client, dpop_secret.as_deref().unwrap())),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
    );
}
both!(private_key_jwt_rotation_and_dpop_binding, demo);

async fn per_client_rate_limit(server: TestServer) {
    let admin = server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    let owner = user_id(&server, "ada@acme.example.com").await;
    let mut fields = app_fields("Limited", &owner, "client_secret_basic", "");
    fields.retain(|(k, _)| *k != "rate_limit_per_minute");
    fields.push(("rate_limit_per_minute", "3"));
    let (_, client_id, secret) = register_app(&admin, &fields).await;
    let secret = secret.unwrap();
    for _ in 0..3 {
        let (status, _, _) = oauth_post(
            &server,
            "/oauth/token",
            Some((&client_id, &secret)),
            &[("grant_type", "client_credentials")],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, _) = oauth_post(
        &server,
        "/oauth/token",
        Some((&client_id, &secret)),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Another client is not affected.
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "(no demo data here: unknown client, not 429)"
    );
}
both!(per_client_rate_limit);

#[derive(Clone, Debug)]
enum Op {
    Issue,
    Revoke(usize),
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Issue),
        2 => (0usize..8).prop_map(Op::Revoke),
        2 => (1i64..400).prop_map(Op::Advance),
    ]
}

/// Property: every issued token introspects active until it expires or is revoked,
/// and inactive after, whatever the order of issuing, revoking and time passing.
#[test]
fn tokens_are_active_exactly_until_expiry_or_revocation() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(server) = runtime.block_on(TestServer::start(Backend::Sqlite, true)) else {
        return;
    };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..10), |ops| {
            runtime.block_on(async {
                // (token, expires at, revoked)
                let mut tokens: Vec<(String, i64, bool)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Issue => {
                            let (status, _, body) = oauth_post(
                                &server,
                                "/oauth/token",
                                Some((DEMO_ID, DEMO_SECRET)),
                                &[("grant_type", "client_credentials")],
                                None,
                            )
                            .await;
                            assert_eq!(status, StatusCode::OK);
                            let now = server.state.clock.now();
                            tokens.push((
                                body["access_token"].as_str().unwrap().to_string(),
                                now + body["expires_in"].as_i64().unwrap(),
                                false,
                            ));
                        }
                        Op::Revoke(i) if !tokens.is_empty() => {
                            let i = i % tokens.len();
                            let (status, _, _) = oauth_post(
                                &server,
                                "/oauth/revoke",
                                Some((DEMO_ID, DEMO_SECRET)),
                                &[("token", &tokens[i].0)],
                                None,
                            )
                            .await;
                            assert_eq!(status, StatusCode::OK);
                            tokens[i].2 = true;
                        }
                        Op::Revoke(_) => {}
                        Op::Advance(seconds) => server.state.clock.advance(seconds),
                    }
                    let now = server.state.clock.now();
                    for (token, exp, revoked) in &tokens {
                        let expected = !revoked && now < *exp;
                        let body = introspect(&server, DEMO_ID, DEMO_SECRET, token).await;
                        assert_eq!(
                            body["active"], expected,
                            "now {now}, exp {exp}, revoked {revoked}"
                        );
                    }
                }
            });
            Ok(())
        })
        .unwrap();
}
