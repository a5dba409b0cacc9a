//! Issue 27: documented routes and CLI commands that the suite reached only through
//! direct function calls (or only in the browser tests, which skip without
//! ChromeDriver), now reached through a started server as a user or a partner's
//! software would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both;
use crate::common::TestServer;
use crate::sandbox_helpers::{oauth_post, DEMO_ID, DEMO_SECRET};

const FJORD: &str = "admin@fjord-analytics.example.com";
const BANK_ADMIN: &str = "admin@bank.example.com";

/// `POST /production/oauth/revoke` (RFC 7009) for a production access token, then
/// `POST /production/oauth/introspect` by the same client: inactive.
async fn the_production_issuer_revokes_a_token(server: TestServer) {
    let client_id: String =
        sqlx::query_scalar("SELECT client_id FROM apps WHERE name = 'Fjord insights'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let basic = Some((
        client_id.as_str(),
        app::governance::demo::DEMO_PRODUCTION_SECRET,
    ));
    let (status, _, body) = oauth_post(
        &server,
        "/production/oauth/token",
        basic,
        &[("grant_type", "client_credentials"), ("scope", "accounts")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let (status, _, body) = oauth_post(
        &server,
        "/production/oauth/introspect",
        basic,
        &[("token", &token)],
        None,
    )
    .await;
    assert_eq!(
        (status, &body["active"]),
        (StatusCode::OK, &Value::Bool(true))
    );
    let (status, _, _) = oauth_post(
        &server,
        "/production/oauth/revoke",
        basic,
        &[("token", &token), ("token_type_hint", "access_token")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server.forget_cached_state();
    let (_, _, body) = oauth_post(
        &server,
        "/production/oauth/introspect",
        basic,
        &[("token", &token)],
        None,
    )
    .await;
    assert_eq!(body["active"], false, "{body}");
    // Without client authentication: 401, per RFC 7009 §2.1.
    let (status, _, body) = oauth_post(
        &server,
        "/production/oauth/revoke",
        None,
        &[("token", &token)],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}
both!(the_production_issuer_revokes_a_token, demo);

/// `GET /.well-known/gatehouse-evidence-keys`: a pack downloaded by bank staff
/// verifies with the published key, as anyone checking it would do.
async fn a_pack_verifies_with_the_published_evidence_key(server: TestServer) {
    let keys: JwkSet = reqwest::get(format!(
        "{}/.well-known/gatehouse-evidence-keys",
        server.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(keys.keys.len(), 1);
    let pack: String =
        sqlx::query_scalar("SELECT id FROM evidence_packs ORDER BY created_at LIMIT 1")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let bank = server.demo_staff(BANK_ADMIN, 0).await;
    let (status, list) = bank.text("/evidence-packs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains(&pack), "the list shows the pack");
    let file: Value = bank
        .get(&format!("/evidence-packs/{pack}/download"))
        .await
        .json()
        .await
        .unwrap();
    let key = DecodingKey::from_jwk(&keys.keys[0]).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let signed = jsonwebtoken::decode::<Value>(file["jws"].as_str().unwrap(), &key, &validation);
    assert!(signed.is_ok(), "{signed:?}");
    assert_eq!(signed.unwrap().claims, file["manifest"]);
}
both!(a_pack_verifies_with_the_published_evidence_key, demo);

/// `POST /offboarding/bank/{id}/decline`: a bank admin declines a partner's request
/// to close its organisation; a missing reason is a 422 and changes nothing.
async fn a_bank_admin_declines_a_request_to_close(server: TestServer) {
    let fjord = server.demo_staff(FJORD, 0).await;
    let response = fjord
        .submit("/org/close", "/org/close", &[("reason", "We are merging.")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id: String = sqlx::query_scalar(
        "SELECT o.id FROM offboardings o JOIN users u ON u.org_id = o.org_id WHERE u.email = $1",
    )
    .bind(FJORD)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let bank = server.demo_staff(BANK_ADMIN, 0).await;
    let page = format!("/offboarding/bank/{id}");
    let decline = format!("{page}/decline");
    let missing = bank
        .submit(&page, &decline, &[("decline_reason", "")])
        .await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let status = async || -> String {
        sqlx::query_scalar("SELECT status FROM offboardings WHERE id = $1")
            .bind(&id)
            .fetch_one(server.pool())
            .await
            .unwrap()
    };
    assert_eq!(status().await, "requested");
    let declined = bank
        .submit(
            &page,
            &decline,
            &[("decline_reason", "The merger keeps the contract.")],
        )
        .await;
    assert_eq!(declined.status(), StatusCode::SEE_OTHER);
    assert_eq!(status().await, "declined");
    // Nothing of Fjord was suspended.
    let suspended: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM suspensions s JOIN offboardings o ON o.org_id = s.target \
         WHERE o.id = $1 AND s.target_kind = 'organisation' AND s.lifted_at IS NULL",
    )
    .bind(&id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(suspended, 0);
    let again = bank
        .submit(&page, &decline, &[("decline_reason", "Twice.")])
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "decided once");
}
both!(a_bank_admin_declines_a_request_to_close, demo);

/// `POST /api/v1/sandbox/apps/{id}/credentials/{cid}/revoke`: the JSON API revokes a
/// credential (with the session's CSRF header), and its secret stops working.
async fn the_api_revokes_a_sandbox_credential(server: TestServer) {
    let partner = server
        .demo_partner_user("admin@acme-budgeting.example.com")
        .await;
    let (app_id, credential): (String, String) = sqlx::query_as(
        "SELECT a.id, c.id FROM apps a JOIN credentials c ON c.app_id = a.id \
         WHERE a.client_id = $1 AND c.revoked_at IS NULL",
    )
    .bind(DEMO_ID)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let response = partner.get(&format!("/api/v1/sandbox/apps/{app_id}")).await;
    let csrf = response.headers()["x-csrf-token"]
        .to_str()
        .unwrap()
        .to_string();
    let path = format!(
        "{}/api/v1/sandbox/apps/{app_id}/credentials/{credential}/revoke",
        server.base
    );
    let refused = partner.http.post(&path).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "no CSRF header");
    let revoked = partner
        .http
        .post(&path)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let body: Value = revoked.json().await.unwrap();
    assert_eq!(body["revoked"], credential.as_str());
    server.forget_cached_state();
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
both!(the_api_revokes_a_sandbox_credential, demo);

/// The bank's pages the README documents, over HTTP as the roles that use them (the
/// browser tests visit them too, but skip without ChromeDriver).
async fn the_bank_pages_answer_their_roles(server: TestServer) {
    server.wait_for_first_tick().await;
    let admin = server.demo_staff(BANK_ADMIN, 0).await;
    let (insights, org): (String, String) =
        sqlx::query_as("SELECT id, org_id FROM apps WHERE name = 'Fjord insights'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let campaign: String =
        sqlx::query_scalar("SELECT id FROM review_campaigns ORDER BY created_at LIMIT 1")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let (status, runs) = admin.text("/governance/bank/runs").await;
    assert_eq!(status, StatusCode::OK);
    for job in ["governance_sweep", "access_reviews", "evidence_retention"] {
        assert!(runs.contains(job), "the runs page shows {job}");
    }
    for (path, expect) in [
        (
            format!("/governance/bank/clients/{insights}"),
            "Fjord insights",
        ),
        (format!("/reviews/bank/{campaign}"), "Fjord"),
        (format!("/oversight/clients/{insights}"), "Fjord insights"),
        (format!("/oversight/organisations/{org}"), "Fjord"),
        ("/alerts".to_string(), "lert"),
    ] {
        let (status, html) = admin.text(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains(expect), "{path} shows {expect}");
    }
    for path in [
        "/oversight/usage.csv".to_string(),
        format!("/oversight/clients/{insights}/usage.csv"),
        format!("/oversight/organisations/{org}/usage.csv"),
    ] {
        let response = admin.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"),
            "{path}"
        );
        let text = response.text().await.unwrap();
        assert!(text.lines().count() > 1, "{path} has rows");
    }
    // A partner gets none of them.
    let partner = server.demo_partner().await;
    for path in [
        "/governance/bank/runs".to_string(),
        format!("/oversight/organisations/{org}"),
        "/oversight/usage.csv".to_string(),
    ] {
        assert_eq!(
            partner.get(&path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let (status, docs) = server.client().text("/production/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(docs.contains("/production/oauth/token"));
}
both!(the_bank_pages_answer_their_roles, demo);

/// The CLI's `keys list` and `governance preview --as-of`, through the functions the
/// `gatehouse` binary calls (a bad date is refused with a message).
async fn the_key_list_and_the_preview_commands(server: TestServer) {
    let listed = gatehouse_server::keys_list(server.state.settings.clone(), "production")
        .await
        .unwrap();
    let signing = app::oauth::keys::load(&server.state.db, &server.state.keys, "production")
        .await
        .unwrap()
        .signing(server.state.clock.now())
        .map(|k| k.kid.clone())
        .unwrap();
    assert!(listed.contains(&signing), "{listed}");
    let refused = gatehouse_server::governance_preview(
        server.state.settings.clone(),
        Some("next tuesday"),
        false,
    )
    .await;
    assert!(refused.is_err());
    let ok = gatehouse_server::governance_preview(
        server.state.settings.clone(),
        Some("2027-01-01T00:00:00Z"),
        true,
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
}
both!(the_key_list_and_the_preview_commands, demo);
