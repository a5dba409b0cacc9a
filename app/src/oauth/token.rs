//! The token endpoint (RFC 6749 §3.2): authenticates the client, applies its rate
//! limit, checks a DPoP proof when one is sent, and hands over to the grant.
//! Every answer, success or error, carries `Cache-Control: no-store` (§5.1).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::client_auth::Authenticated;
use super::endpoint::{self, json_no_store};
use super::error::{Code, OAuthError, OAuthResult};
use super::jwt::{Binding, Issued};
use super::params::Params;
use super::{
    dpop, grant_authorization_code, grant_client_credentials, grant_refresh_token, Caller, Issuer,
};
use crate::platform::state::AppState;

pub const PATH: &str = crate::clients::paths::TOKEN;

/// Serves both issuers: which one is read from the request's path.
pub async fn endpoint(
    State(state): State<AppState>,
    issuer: Issuer,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    endpoint::serve(
        &state,
        issuer,
        &caller,
        &headers,
        &body,
        PATH,
        async |client, params| grant(&state, &caller, client, &headers, params).await,
        json_no_store,
    )
    .await
}

async fn grant(
    state: &AppState,
    caller: &Caller,
    client: &Authenticated,
    headers: &HeaderMap,
    params: &Params,
) -> OAuthResult<Value> {
    let htu = caller.link(state, &client.issuer.path(PATH));
    let jkt = dpop::verify(state, headers, "POST", &htu, None).await?;
    if client.app.dpop_required && jkt.is_none() {
        return Err(OAuthError::invalid_dpop(
            "This client's tokens must be DPoP-bound: send a DPoP proof.",
        ));
    }
    // A client that connects with a certificate gets certificate-bound tokens.
    let binding = Binding {
        jkt,
        x5t: caller.certificate().map(|c| c.thumbprint.clone()),
    };
    let binding = &binding;
    let grant_type = params.require("grant_type")?;
    // Data residency: a client set to refuse calls from outside its countries.
    if let Some(reason) = crate::residency::refusal(
        state.geo(),
        &client.app.allowed_countries,
        client.app.refuse_other_countries,
        &caller.info.ip,
    ) {
        return Err(OAuthError::new(Code::UnauthorizedClient, reason));
    }
    if client.issuer == Issuer::Production {
        allowed_address(client, caller)?;
        if grant_type != "client_credentials" {
            return Err(OAuthError::new(
                Code::UnsupportedGrantType,
                format!("The production issuer issues client_credentials tokens only, not {grant_type}."),
            ));
        }
    }
    match grant_type {
        "client_credentials" => {
            grant_client_credentials::grant(state, client, params, binding).await
        }
        "authorization_code" => {
            grant_authorization_code::grant(state, client, params, binding).await
        }
        "refresh_token" => grant_refresh_token::grant(state, client, params, binding).await,
        other => Err(OAuthError::new(
            Code::UnsupportedGrantType,
            format!("The grant type {other} is not supported."),
        )),
    }
}

/// A production client with an IP allow-list asks for tokens only from those ranges.
fn allowed_address(client: &Authenticated, caller: &Caller) -> OAuthResult<()> {
    if client.app.ip_allowlist.is_empty() {
        return Ok(());
    }
    let address: Option<std::net::IpAddr> = caller.info.ip.parse().ok();
    let allowed = address.is_some_and(|ip| {
        client
            .app
            .ip_allowlist
            .iter()
            .filter_map(|range| range.parse::<ipnet::IpNet>().ok())
            .any(|net| net.contains(&ip))
    });
    if allowed {
        Ok(())
    } else {
        Err(OAuthError::new(
            Code::UnauthorizedClient,
            format!(
                "Token requests from {} are not in this client's IP allow-list.",
                caller.info.ip
            ),
        ))
    }
}

/// The successful token response (RFC 6749 §5.1, RFC 9449 §5).
pub fn token_body(issued: &Issued, refresh_token: Option<&str>) -> Value {
    let mut body = json!({
        "access_token": issued.token,
        "token_type": if issued.claims.jkt().is_some() { "DPoP" } else { "Bearer" },
        "expires_in": issued.claims.exp - issued.claims.iat,
        "scope": issued.claims.scope,
    });
    if let (Some(refresh), Some(object)) = (refresh_token, body.as_object_mut()) {
        object.insert("refresh_token".into(), json!(refresh));
    }
    body
}

/// Scopes asked for, each one the client's; all of the client's when none are asked for.
pub fn granted_scopes(requested: Option<&str>, allowed: &[String]) -> OAuthResult<String> {
    let Some(requested) = requested else {
        return Ok(allowed.join(" "));
    };
    let requested = crate::clients::catalogue::split(requested);
    if let Some(unknown) = requested.iter().find(|s| !allowed.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "The client may not ask for the scope {unknown}."
        )));
    }
    Ok(requested.join(" "))
}
