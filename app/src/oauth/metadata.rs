//! Authorization server metadata (RFC 8414) and the JWKS it names (RFC 7517).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::jwt::supported_algs;
use super::Issuer;
use crate::platform::state::AppState;

/// Either issuer's metadata. The production issuer's names client credentials only
/// and no customer-facing endpoints (production customers authenticate at the bank,
/// not in Gatehouse).
pub async fn metadata(State(state): State<AppState>, issuer: Issuer) -> Response {
    // The scopes are the bank's catalogue, as the admin keeps it.
    let scopes = match crate::clients::catalogue::scopes(&state).await {
        Ok(scopes) => scopes.into_iter().map(|s| s.name).collect::<Vec<_>>(),
        Err(err) => return axum::response::IntoResponse::into_response(err),
    };
    with_cache(axum::Json(document(&state, issuer, scopes)).into_response())
}

fn document(state: &AppState, issuer: Issuer, scopes: Vec<String>) -> serde_json::Value {
    let link = |path: &str| state.settings.link(&issuer.path(path));
    let algs = supported_algs();
    let mtls = state.settings.mtls_public_url.clone();
    let mut auth_methods = vec![
        "private_key_jwt",
        "client_secret_basic",
        "client_secret_post",
    ];
    if mtls.is_some() {
        // RFC 8705 §2.2: the registered certificate itself.
        auth_methods.push("self_signed_tls_client_auth");
        // RFC 8705 §2.1: a subject DN, only under partner CAs the bank configured.
        if state.settings.mtls_partner_ca {
            auth_methods.push("tls_client_auth");
        }
    }
    let mut body = json!({
        "issuer": issuer.identifier(&state.settings),
        "authorization_endpoint": link(super::authorize::PATH),
        "token_endpoint": link(super::token::PATH),
        "pushed_authorization_request_endpoint": link(super::par::PATH),
        "introspection_endpoint": link(super::introspect::PATH),
        "revocation_endpoint": link(super::revoke::PATH),
        // RFC 7591: registration with a software statement from the directory.
        "registration_endpoint": link(crate::clients::paths::REGISTER),
        "jwks_uri": link(JWKS_PATH),
        "service_documentation": state.settings.link(match issuer {
            Issuer::Sandbox => "/sandbox/docs",
            Issuer::Production => "/production/docs",
        }),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "dpop_signing_alg_values_supported": algs,
        "authorization_response_iss_parameter_supported": true,
        "require_pushed_authorization_requests": false,
    });
    // RFC 8705 §5: the same endpoints on the mTLS listener.
    if let (Some(base), Some(object)) = (mtls, body.as_object_mut()) {
        let alias = |path: &str| {
            format!(
                "{}{}",
                base.as_str().trim_end_matches('/'),
                issuer.path(path)
            )
        };
        object.insert(
            "mtls_endpoint_aliases".into(),
            json!({
                "token_endpoint": alias(super::token::PATH),
                "pushed_authorization_request_endpoint": alias(super::par::PATH),
                "introspection_endpoint": alias(super::introspect::PATH),
                "revocation_endpoint": alias(super::revoke::PATH),
            }),
        );
        object.insert(
            "tls_client_certificate_bound_access_tokens".into(),
            json!(true),
        );
    }
    if issuer == Issuer::Production {
        if let Some(object) = body.as_object_mut() {
            for key in [
                "authorization_endpoint",
                "pushed_authorization_request_endpoint",
                "response_modes_supported",
                "code_challenge_methods_supported",
                "authorization_response_iss_parameter_supported",
                "require_pushed_authorization_requests",
            ] {
                object.remove(key);
            }
            object.insert(
                "grant_types_supported".into(),
                json!(["client_credentials"]),
            );
            // REQUIRED by RFC 8414 §2 even without an authorization endpoint: none.
            object.insert("response_types_supported".into(), json!([]));
            if let Some(aliases) = object
                .get_mut("mtls_endpoint_aliases")
                .and_then(|a| a.as_object_mut())
            {
                aliases.remove("pushed_authorization_request_endpoint");
            }
        }
    }
    body
}

pub const JWKS_PATH: &str = "/oauth/jwks";

pub async fn jwks(State(state): State<AppState>, issuer: Issuer) -> Response {
    let ring = state.oauth().key_ring(issuer);
    let retention = issuer.access_token_seconds(&state.settings) + 600;
    with_cache(axum::Json(ring.jwks(state.clock.now(), retention)).into_response())
}

/// Relying parties may cache both for five minutes; a new signing key is published
/// longer than that before it signs (see `keys.rs`).
fn with_cache(mut response: Response) -> Response {
    let value = format!("public, max-age={}", super::keys::JWKS_CACHE_SECONDS);
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}
