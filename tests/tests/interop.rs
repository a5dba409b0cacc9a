//! The authorization server against standard clients (issue 16, items 11 to 13):
//! the client-assertion audiences and lifetimes common libraries send, every REQUIRED
//! metadata member of RFC 8414 §2 on both issuers, and a whole integration written
//! with node's `openid-client` (not the `oauth2` crate), run as a separate process.

use oauth2::PkceCodeChallenge;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{Backend, TestServer};
use crate::sandbox_api::BASE;
use crate::sandbox_helpers::*;

/// A sandbox app of the demo partner that authenticates with `private_key_jwt`.
async fn signed_app(server: &TestServer, key: &PartnerKey) -> String {
    let developer = server.demo_partner().await;
    let owner = user_id(server, "dev@acme-budgeting.example.com").await;
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let (_, client_id, _) = register_app(
        &developer,
        &app_fields("Library app", &owner, "private_key_jwt", &jwks),
    )
    .await;
    client_id
}

/// Item 11: the audiences RFC 9126 §2 and RFC 7519 allow, and the one-hour `exp`
/// common libraries send, at the sandbox; everything else refused, and a `jti` kept
/// until its assertion expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_assertion_audiences_and_lifetimes() {
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let key = PartnerKey::new("lib-key");
    let client_id = signed_app(&server, &key).await;
    let issuer = server.base.clone();
    let token_url = format!("{issuer}/oauth/token");
    let par_url = format!("{issuer}/oauth/par");
    let introspect_url = format!("{issuer}/oauth/introspect");
    let now = server.state.clock.now();
    let token = async |claims: Value| {
        let assertion = key.assertion(&server, &client_id, claims);
        let form = assertion_form(&assertion, &[("grant_type", "client_credentials")]);
        oauth_post(&server, "/oauth/token", None, &as_refs(&form), None).await
    };
    for aud in [
        json!(issuer),
        json!(token_url),
        json!([token_url]),
        json!(["https://another.example", issuer]),
    ] {
        let (status, _, body) = token(json!({ "aud": aud })).await;
        assert_eq!(status, StatusCode::OK, "aud {aud}: {body}");
    }
    for aud in [
        json!(par_url),
        json!("https://another.example"),
        json!([]),
        json!(["https://another.example"]),
        json!(42),
        json!(format!("{issuer}/")),
    ] {
        let (status, _, body) = token(json!({ "aud": aud })).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "aud {aud}"
        );
    }
    // An hour ahead is accepted (authlib's default); more is not.
    let (status, _, body) = token(json!({ "aud": token_url, "exp": now + 3600 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = token(json!({ "aud": token_url, "exp": now + 3700 })).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The replay store keeps a long-lived assertion's jti until it expires.
    let replayed = key.assertion(
        &server,
        &client_id,
        json!({ "aud": token_url, "exp": now + 3000, "jti": "lib-jti-1" }),
    );
    let form = assertion_form(&replayed, &[("grant_type", "client_credentials")]);
    let (status, _, _) = oauth_post(&server, "/oauth/token", None, &as_refs(&form), None).await;
    assert_eq!(status, StatusCode::OK);
    server.state.clock.advance(2400);
    let (status, _, body) = oauth_post(&server, "/oauth/token", None, &as_refs(&form), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "replayed 40 minutes later: {body}"
    );

    // At PAR: the issuer, the token endpoint URL and the PAR endpoint URL.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    for (aud, accepted) in [
        (json!(issuer), true),
        (json!(token_url), true),
        (json!(par_url), true),
        (json!([par_url]), true),
        (json!(introspect_url), false),
    ] {
        let assertion = key.assertion(&server, &client_id, json!({ "aud": aud }));
        let form = assertion_form(
            &assertion,
            &[
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", DEMO_REDIRECT),
                ("scope", "accounts"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        );
        let (status, _, body) =
            oauth_post(&server, "/oauth/par", None, &as_refs(&form), None).await;
        let expected = if accepted {
            StatusCode::CREATED
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "PAR with aud {aud}: {body}");
    }
}

/// Item 12: every member RFC 8414 §2 calls REQUIRED, on both issuers, and what the
/// production issuer's metadata must not offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_has_every_required_member() {
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    for (path, issuer, has_authorization_endpoint) in [
        (
            "/.well-known/oauth-authorization-server".to_string(),
            server.base.clone(),
            true,
        ),
        (
            "/.well-known/oauth-authorization-server/production".to_string(),
            format!("{}/production", server.base),
            false,
        ),
    ] {
        let metadata: Value = reqwest::get(format!("{}{path}", server.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // REQUIRED: issuer (the URL the document was fetched for, §3.3) and
        // response_types_supported.
        assert_eq!(metadata["issuer"], issuer.as_str(), "{path}");
        let response_types = metadata["response_types_supported"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: response_types_supported is REQUIRED"));
        // REQUIRED unless no grant type uses the endpoint.
        let grants = metadata["grant_types_supported"].as_array().unwrap();
        let uses_authorize = grants.iter().any(|g| g == "authorization_code");
        assert_eq!(uses_authorize, has_authorization_endpoint, "{path}");
        assert_eq!(
            metadata.get("authorization_endpoint").is_some(),
            uses_authorize,
            "{path}"
        );
        assert_eq!(response_types.is_empty(), !uses_authorize, "{path}");
        // REQUIRED unless only the implicit grant is supported.
        assert!(metadata["token_endpoint"].is_string(), "{path}");
        for member in [
            "jwks_uri",
            "token_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            let url = metadata[member].as_str().unwrap();
            assert!(url.starts_with(&issuer), "{path}: {member} {url}");
        }
        assert!(metadata["scopes_supported"].is_array());
        assert!(metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "private_key_jwt"));
        // RFC 8414 §2: "none" is not a signing algorithm a server may list.
        for member in [
            "token_endpoint_auth_signing_alg_values_supported",
            "introspection_endpoint_auth_signing_alg_values_supported",
            "revocation_endpoint_auth_signing_alg_values_supported",
        ] {
            assert!(!metadata[member]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "none"));
        }
    }
}

/// Item 13: discovery, private_key_jwt, DPoP, client credentials, authorization code
/// with PKCE and PAR, refresh, introspection and revocation, all by openid-client with
/// its defaults, against the sandbox issuer and API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_interoperates() {
    let Some(dir) = crate::examples::node_dir("interop") else {
        return;
    };
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let key = PartnerKey::new("openid-client-key");
    let client_id = signed_app(&server, &key).await;
    let mut private = key.jwk.clone();
    private["d"] = json!(key.d);
    let env = [
        ("GATEHOUSE_ISSUER", server.base.clone()),
        ("GATEHOUSE_API", format!("{}{BASE}", server.base)),
        ("GATEHOUSE_CLIENT_ID", client_id.clone()),
        ("GATEHOUSE_REDIRECT_URI", DEMO_REDIRECT.to_string()),
        ("GATEHOUSE_PRIVATE_JWK", private.to_string()),
    ];
    let result = crate::examples::run(&server, &dir, "client.mjs", &env).await;
    let result = &result;
    assert_eq!(result["issuer"], server.base.as_str());
    assert_eq!(result["client_credentials_token_type"], "dpop");
    assert_eq!(result["consent_status"], 201);
    assert_eq!(result["code_token_type"], "dpop");
    assert_eq!(result["has_refresh_token"], true);
    assert_eq!(result["accounts_status"], 200);
    assert!(result["accounts"].as_u64().unwrap() >= 1);
    assert_eq!(result["refreshed"], true);
    assert_eq!(result["introspection_active"], true);
    assert_eq!(result["introspection_client_id"], client_id.as_str());
    assert_eq!(result["revoked_refresh_active"], false);
    assert_eq!(result["refresh_after_revocation"], "invalid_grant");
}
