//! Issue 29, the directory: software records, software statements signed with the
//! directory's own key, the bank's withdrawal and the signed revoked-software list,
//! through a started server on both databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Client, TestServer};
use crate::sandbox_api::{client_token, Api};
use crate::sandbox_helpers::DEMO_ID;

const FJORD: &str = "admin@fjord-analytics.example.com";
const BANK_ADMIN: &str = "admin@bank.example.com";

async fn json_of(server: &TestServer, path: &str) -> Value {
    let response = reqwest::get(format!("{}{path}", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

/// Verifies `jwt` with the directory's published keys: its claims.
async fn verified(server: &TestServer, jwt: &str) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let kid = header.kid.expect("a kid");
    let set: JwkSet = serde_json::from_value(json_of(server, "/directory/jwks").await).unwrap();
    let jwk = set
        .find(&kid)
        .expect("the statement's key is in the directory's JWKS");
    let mut validation = Validation::new(header.alg);
    validation.validate_aud = false;
    validation.set_issuer(&[format!("{}/directory", server.base)]);
    jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

async fn software_of(server: &TestServer, app_name: &str) -> (String, String) {
    let app_id: String = sqlx::query_scalar("SELECT id FROM apps WHERE name = $1")
        .bind(app_name)
        .fetch_one(server.pool())
        .await
        .unwrap();
    (app::clients::model::software_id(&app_id), app_id)
}

/// Downloads a statement as `client` would from the software's page.
async fn download(client: &Client, software: &str) -> reqwest::Response {
    client
        .submit(
            &format!("/software/{software}"),
            &format!("/software/{software}/statement"),
            &[],
        )
        .await
}

/// A partner admin with a second factor downloads a statement for the
/// organisation's production client: signed by the directory's key (not a token
/// key), short-lived, saying what the approved client holds; each download a new
/// `jti`, recorded and audited. Other roles, other organisations and made-up ids
/// get nothing.
async fn a_statement_is_the_directorys_signed_word(server: TestServer) {
    let fjord = server.demo_staff(FJORD, 0).await;
    let (software, app_id) = software_of(&server, "Fjord insights").await;
    let (status, html) = fjord.text("/software").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&software), "{html}");
    let (status, html) = fjord.text(&format!("/software/{software}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Download a software statement"), "{html}");

    let response = download(&fjord, &software).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/jwt");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let jwt = response.text().await.unwrap();
    let claims = verified(&server, &jwt).await;
    assert_eq!(claims["software_id"], software);
    assert_eq!(claims["software_environment"], "production");
    assert_eq!(claims["client_name"], "Fjord insights");
    assert_eq!(claims["grant_types"], json!(["client_credentials"]));
    let (scopes, method, org_id): (String, String, String) =
        sqlx::query_as("SELECT scopes, auth_method, org_id FROM apps WHERE id = $1")
            .bind(&app_id)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(claims["scope"], scopes);
    assert_eq!(claims["token_endpoint_auth_method"], method);
    assert_eq!(claims["org_id"], org_id);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    // Never a token-signing key.
    let kid = jsonwebtoken::decode_header(&jwt).unwrap().kid.unwrap();
    for jwks in ["/oauth/jwks", "/production/oauth/jwks"] {
        let set: JwkSet = serde_json::from_value(json_of(&server, jwks).await).unwrap();
        assert!(set.find(&kid).is_none(), "{jwks} holds the directory's key");
    }
    // A statement is no access token: the sandbox API refuses it.
    let answer = Api::new(&server)
        .call("GET", "/aisp/accounts", &jwt, None, &[])
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // The bank's register is the bank's.
    let (status, _) = fjord.text("/admin/software").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let directory = json_of(&server, "/directory").await;
    assert_eq!(directory["issuer"], format!("{}/directory", server.base));

    // A second download is a new statement.
    let again = download(&fjord, &software).await.text().await.unwrap();
    let second = verified(&server, &again).await;
    assert_ne!(second["jti"], claims["jti"]);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM software_statements WHERE org_id IN (SELECT org_id FROM apps WHERE name = 'Fjord insights')")
            .await,
        2
    );
    assert!(server
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "directory.statement_issued"));

    // A partner admin without a second factor, a developer, another organisation's
    // admin and a made-up id: refused, nothing recorded.
    let acme_admin = server
        .demo_partner_user("admin@acme-budgeting.example.com")
        .await;
    let (acme_software, _) = software_of(&server, "Acme Budgeting demo app").await;
    // A sandbox statement takes what a sandbox app takes: any member.
    let developer = server.demo_partner().await;
    let response = download(&developer, &acme_software).await;
    assert_eq!(response.status(), StatusCode::OK);
    // A production statement takes a partner admin with a second factor.
    sqlx::query("UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL WHERE email = $1")
        .bind(FJORD)
        .execute(server.pool())
        .await
        .unwrap();
    let without_mfa = server.demo_partner_user(FJORD).await;
    let response = download(&without_mfa, &software).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _) = acme_admin.text(&format!("/software/{software}")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another organisation's software"
    );
    let token = fjord.csrf("/software").await;
    for id in [
        acme_software.as_str(),
        app_id.as_str(),
        "sw_..%2Fetc",
        "sw_",
    ] {
        let response = fjord
            .post(
                &format!("/software/{id}/statement"),
                &[("csrf_token", &token)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
    // Without the form's CSRF token: refused.
    let response = fjord
        .post(&format!("/software/{software}/statement"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server
            .count(&format!(
                "SELECT COUNT(*) FROM software_statements WHERE org_id = '{org_id}'"
            ))
            .await,
        2
    );
}
both!(a_statement_is_the_directorys_signed_word, demo);

/// The bank withdraws a sandbox app's software: a bad reason writes nothing; then
/// the client and its tokens stop at once, the partner's webhook is queued, the
/// signed revoked-software list names it, no statement is issued for it, and a
/// second withdrawal is a conflict. A reviewer may look but not withdraw.
async fn withdrawn_software_stops_at_once_and_is_listed(server: TestServer) {
    let (software, app_id) = software_of(&server, "Acme Budgeting demo app").await;
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts").await;
    let consent = json!({ "Data": { "Permissions": ["ReadAccountsBasic"] }, "Risk": {} });
    let answer = api
        .call(
            "POST",
            "/aisp/account-access-consents",
            &cc,
            Some(&consent),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);

    // The partner's admin (with a second factor now) has had a statement for it.
    let acme_admin = server
        .demo_partner_user("admin@acme-budgeting.example.com")
        .await;
    assert_eq!(
        download(&acme_admin, &software).await.status(),
        StatusCode::OK
    );
    let issued = server
        .count("SELECT COUNT(*) FROM software_statements")
        .await;

    let reviewer = server.demo_staff("reviewer@bank.example.com", 0).await;
    let (status, html) = reviewer.text("/admin/software").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&software), "{html}");
    let page = format!("/admin/software/{software}");
    let action = format!("{page}/withdraw");
    let (status, html) = reviewer.text(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Withdraw this software"));
    let token = reviewer.csrf("/admin/software").await;
    let response = reviewer
        .post(
            &action,
            &[("csrf_token", &token), ("reason", "not mine to do")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let admin = server.demo_staff(BANK_ADMIN, 0).await;
    let long = "x".repeat(501);
    for reason in ["", "   ", "two\nlines", long.as_str()] {
        let response = admin.submit(&page, &action, &[("reason", reason)]).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{reason:?}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("Say why the software is withdrawn"), "{html}");
    }
    assert_eq!(
        server
            .count(&format!(
                "SELECT COUNT(*) FROM apps WHERE id = '{app_id}' AND status = 'active'"
            ))
            .await,
        1,
        "a refused withdrawal changes nothing"
    );
    let response = admin
        .submit(
            &page,
            &action,
            &[("reason", "Key material leaked in a public repository")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // At once: the token it held is refused, and it cannot get another.
    let answer = api
        .call(
            "POST",
            "/aisp/account-access-consents",
            &cc,
            Some(&consent),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    let (status, _, body) = crate::sandbox_helpers::oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, crate::sandbox_helpers::DEMO_SECRET)),
        &[("grant_type", "client_credentials"), ("scope", "accounts")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");

    // The partner's webhook endpoint (subscribed to every event in the demo) gets it.
    let queued: Vec<String> = sqlx::query_scalar(
        "SELECT payload FROM webhook_messages WHERE event_type = 'software.withdrawn'",
    )
    .fetch_all(server.pool())
    .await
    .unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let payload: Value = serde_json::from_str(&queued[0]).unwrap();
    assert_eq!(payload["data"]["software_id"], software);
    assert_eq!(payload["data"]["reason"], "withdrawn");
    assert!(server
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "directory.software_withdrawn"));

    // The signed list names it.
    let response = reqwest::get(format!("{}/directory/revoked", server.base))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/jwt");
    let list = verified(&server, &response.text().await.unwrap()).await;
    let listed = list["revoked_software"]
        .as_array()
        .unwrap()
        .iter()
        .any(|entry| entry["software_id"] == software.as_str());
    assert!(listed, "{list}");

    // Withdrawn twice: a conflict. The partner's page says it is withdrawn.
    let response = admin.submit(&page, &action, &[("reason", "again")]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let developer = server.demo_partner().await;
    let (status, html) = developer.text(&format!("/software/{software}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("statement-refused"), "{html}");
    assert!(html.contains("Withdrawn (by the bank)"), "{html}");
    // No statement for withdrawn software, even posted straight to the endpoint.
    let token = acme_admin.csrf("/software").await;
    let response = acme_admin
        .post(
            &format!("/software/{software}/statement"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM software_statements")
            .await,
        issued
    );
}
both!(withdrawn_software_stops_at_once_and_is_listed, demo);

/// Software a partner revokes itself is withdrawn too: its webhook goes out and,
/// once the directory has issued a statement for it, the list names it. Software
/// never vouched for is not published.
async fn software_the_partner_revokes_is_listed(server: TestServer) {
    let (software, app_id) = software_of(&server, "Acme Budgeting demo app").await;
    let (fjord_software, _) = software_of(&server, "Fjord insights").await;
    let admin = server
        .demo_partner_user("admin@acme-budgeting.example.com")
        .await;
    admin.enrol_totp().await;
    assert_eq!(download(&admin, &software).await.status(), StatusCode::OK);
    let response = admin
        .submit(
            &format!("/sandbox/apps/{app_id}"),
            &format!("/sandbox/apps/{app_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let payload: String = sqlx::query_scalar(
        "SELECT payload FROM webhook_messages WHERE event_type = 'software.withdrawn'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["data"]["software_id"], software);
    assert_eq!(payload["data"]["reason"], "partner");
    // Fjord's production client, revoked without a statement ever issued for it.
    sqlx::query("UPDATE apps SET status = 'revoked', revoked_at = 1 WHERE name = 'Fjord insights'")
        .execute(server.pool())
        .await
        .unwrap();
    let response = reqwest::get(format!("{}/directory/revoked", server.base))
        .await
        .unwrap();
    let jwt = response.text().await.unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&jwt).unwrap().typ.as_deref(),
        Some("revoked-software+jwt")
    );
    let list = verified(&server, &jwt).await;
    let ids: Vec<&str> = list["revoked_software"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["software_id"].as_str())
        .collect();
    assert!(ids.contains(&software.as_str()), "{list}");
    assert!(!ids.contains(&fjord_software.as_str()), "{list}");
}
both!(software_the_partner_revokes_is_listed, demo);
