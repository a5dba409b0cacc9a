//! Issue 18 item 16: the bank's gateway introspects partners' tokens as a resource
//! server of their audience, and can do nothing else.

use reqwest::StatusCode;
use serde_json::Value;

use app::audit::Actor;
use app::oauth::{resource_servers, Issuer};

use crate::both;
use crate::common::TestServer;
use crate::sandbox_api::client_token;
use crate::sandbox_helpers::*;

async fn introspect_as(
    server: &TestServer,
    path: &str,
    (id, secret): (&str, &str),
    token: &str,
) -> (StatusCode, Value) {
    let (status, _, body) =
        oauth_post(server, path, Some((id, secret)), &[("token", token)], None).await;
    (status, body)
}

/// The README's gateway flow: register the gateway, then introspect what partners
/// present to it.
async fn item_16_the_gateway_introspects_its_audience(server: TestServer) {
    let (gateway, secret) = resource_servers::create(
        &server.state,
        Actor::system("test"),
        "sandbox gateway",
        Issuer::Sandbox,
    )
    .await
    .unwrap();
    assert!(gateway.client_id.starts_with("rs_"));
    let credentials = (gateway.client_id.as_str(), secret.as_str());
    // A partner's token, issued to the partner's client, not to the gateway.
    let token = client_token(&server, "accounts").await;
    let (status, body) = introspect_as(&server, "/oauth/introspect", credentials, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], DEMO_ID);
    assert_eq!(body["aud"], server.state.settings.sandbox_audience());
    assert_eq!(body["scope"], "accounts");
    // A revoked token is inactive to it at once.
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/revoke",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("token", token.as_str())],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = introspect_as(&server, "/oauth/introspect", credentials, &token).await;
    assert_eq!(body, serde_json::json!({ "active": false }));
    // Garbage is inactive, not an error.
    let (_, body) = introspect_as(&server, "/oauth/introspect", credentials, "not-a-token").await;
    assert_eq!(body["active"], false);

    // Nothing else: no tokens, not at the other issuer, not with a wrong secret.
    let (status, _, body) = oauth_post(
        &server,
        "/oauth/token",
        Some(credentials),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let fresh = client_token(&server, "accounts").await;
    let (status, body) =
        introspect_as(&server, "/production/oauth/introspect", credentials, &fresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, _) = introspect_as(
        &server,
        "/oauth/introspect",
        (gateway.client_id.as_str(), "wrong-secret"),
        &fresh,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) =
        introspect_as(&server, "/oauth/introspect", ("rs_unknown", "x"), &fresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A production gateway does not learn about sandbox tokens.
    let (production, production_secret) = resource_servers::create(
        &server.state,
        Actor::system("test"),
        "production gateway",
        Issuer::Production,
    )
    .await
    .unwrap();
    let (status, body) = introspect_as(
        &server,
        "/production/oauth/introspect",
        (production.client_id.as_str(), production_secret.as_str()),
        &fresh,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["active"], false);

    // Revoked: refused at once; both events audited.
    assert!(
        resource_servers::revoke(&server.state, Actor::system("test"), &gateway.client_id)
            .await
            .unwrap()
    );
    let (status, _) = introspect_as(&server, "/oauth/introspect", credentials, &fresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let actions = server.audit_actions().await;
    for action in ["resource_server.created", "resource_server.revoked"] {
        assert!(actions.iter().any(|a| a == action), "{action}");
    }
    // Bad names are refused, nothing written.
    for name in ["", "bad\u{7}name"] {
        assert!(resource_servers::create(
            &server.state,
            Actor::system("test"),
            name,
            Issuer::Sandbox
        )
        .await
        .is_err());
    }
    assert_eq!(
        server.count("SELECT COUNT(*) FROM resource_servers").await,
        2
    );
}
both!(item_16_the_gateway_introspects_its_audience, demo);
