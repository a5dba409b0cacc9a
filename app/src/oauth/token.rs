//! The token endpoint (RFC 6749 §3.2): authenticates the client, applies its rate
//! limit, checks a DPoP proof when one is sent, and hands over to the grant.
//! Every answer, success or error, carries `Cache-Control: no-store` (§5.1).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::client_auth::{self, Authenticated};
use super::error::{Code, OAuthError, OAuthResult};
use super::jwt::{Binding, Issued};
use super::params::Params;
use super::{
    dpop, grant_authorization_code, grant_client_credentials, grant_refresh_token, Caller,
};
use crate::platform::state::AppState;
use crate::sandbox::reqlog::Entry;

pub const PATH: &str = "/oauth/token";

pub async fn endpoint(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = handle(&state, &caller, &headers, &body).await;
    respond(
        &state,
        "POST",
        PATH,
        started,
        result.map(|(client, body)| (client, json_no_store(body))),
    )
}

async fn handle(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
) -> OAuthResult<(Authenticated, Value)> {
    let params = Params::from_form(headers, body)?;
    let client = client_auth::authenticate(state, headers, &params, caller).await?;
    match grant(state, caller, &client, headers, &params).await {
        Ok(body) => Ok((client, body)),
        Err(err) => Err(err.for_app(&client.app.id)),
    }
}

async fn grant(
    state: &AppState,
    caller: &Caller,
    client: &Authenticated,
    headers: &HeaderMap,
    params: &Params,
) -> OAuthResult<Value> {
    limit(state, client)?;
    let jkt = dpop::verify(state, headers, "POST", &caller.link(state, PATH), None).await?;
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
    match params.require("grant_type")? {
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

/// Counts the request against the client's own rate limit.
pub fn limit(state: &AppState, client: &Authenticated) -> OAuthResult<()> {
    state
        .oauth
        .limiters
        .check(&client.app.client_id, client.app.rate_limit_per_minute)
        .map_err(OAuthError::rate_limited)
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

pub fn json_no_store(body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Answers a client-authenticated request and writes it to the app's request log.
pub fn respond(
    state: &AppState,
    method: &'static str,
    endpoint: &str,
    started: Instant,
    result: OAuthResult<(Authenticated, Response)>,
) -> Response {
    let latency_us = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
    let (app_id, credential_id, error, response) = match result {
        Ok((client, response)) => (
            Some(client.app.id),
            Some(client.credential_id),
            None,
            response,
        ),
        Err(err) => (
            err.app_id.clone(),
            None,
            Some(err.code.as_str().to_string()),
            err.into_response(),
        ),
    };
    if let Some(app_id) = app_id {
        state.oauth.request_log.record(Entry {
            app_id,
            credential_id,
            at: state.clock.now(),
            method,
            endpoint: endpoint.to_string(),
            status: response.status().as_u16(),
            latency_us,
            error,
        });
    }
    response
}

/// Scopes asked for, each one the client's; all of the client's when none are asked for.
pub fn granted_scopes(requested: Option<&str>, allowed: &[String]) -> OAuthResult<String> {
    let Some(requested) = requested else {
        return Ok(allowed.join(" "));
    };
    let requested = crate::sandbox::catalogue::split(requested);
    if let Some(unknown) = requested.iter().find(|s| !allowed.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "The client may not ask for the scope {unknown}."
        )));
    }
    Ok(requested.join(" "))
}
