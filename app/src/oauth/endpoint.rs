//! The shape every client-authenticated endpoint shares (token, PAR, introspection,
//! revocation): read the form, authenticate the client, count the request against the
//! client's rate limit, run the endpoint, and write the outcome to the app's request
//! log. Every answer carries `Cache-Control: no-store`.

use std::time::Instant;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::client_auth::{self, Authenticated};
use super::error::{OAuthError, OAuthResult};
use super::limits;
use super::params::Params;
use super::{Caller, Issuer};
use crate::clients::reqlog::Entry;
use crate::platform::state::AppState;

/// Runs `endpoint` for an authenticated client and answers with `into_response` of
/// its result, or with the OAuth error.
#[allow(clippy::too_many_arguments)]
pub async fn serve<T>(
    state: &AppState,
    issuer: Issuer,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
    path: &str,
    endpoint: impl AsyncFnOnce(&Authenticated, &Params) -> OAuthResult<T>,
    into_response: impl FnOnce(T) -> Response,
) -> Response {
    let started = Instant::now();
    let mut rate = None;
    let result = async {
        let params = Params::from_form(headers, body)?;
        let client =
            client_auth::authenticate(state, issuer, headers, &params, caller, path).await?;
        let verdict = limits::admit(
            state,
            &client.app.client_id,
            client.app.rate_limit_per_minute,
        )
        .await;
        rate = Some(verdict);
        let answer = match verdict.retry_after() {
            None => endpoint(&client, &params).await,
            Some(seconds) => Err(OAuthError::rate_limited(seconds)),
        };
        match answer {
            Ok(value) => {
                // A client-credentials grant names its scopes (or gets all the
                // client's): each one's last use is kept from the request log.
                let granted =
                    (params.get("grant_type") == Some("client_credentials")).then(|| match params
                        .get("scope")
                    {
                        Some(scope) => scope.to_string(),
                        None => client.app.scopes.join(" "),
                    });
                Ok((client, granted, into_response(value)))
            }
            Err(err) => Err(err.for_app(&client.app.id)),
        }
    }
    .await;
    let mut response = respond(state, &issuer.path(path), caller, started, result);
    if let Some(verdict) = rate {
        verdict.apply(response.headers_mut());
    }
    response
}

pub fn json_no_store(body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Answers the request and writes it to the app's request log, when the app is known.
fn respond(
    state: &AppState,
    endpoint: &str,
    caller: &Caller,
    started: Instant,
    result: OAuthResult<(Authenticated, Option<String>, Response)>,
) -> Response {
    let latency_us = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
    let (app_id, credential_id, error, scope, response) = match result {
        Ok((client, scope, response)) => (
            Some(client.app.id),
            Some(client.credential_id),
            None,
            scope,
            response,
        ),
        Err(err) => (
            err.app_id.clone(),
            None,
            Some(err.code.as_str().to_string()),
            None,
            err.into_response(),
        ),
    };
    if let Some(app_id) = app_id {
        state.oauth().request_log.record(Entry {
            app_id,
            credential_id,
            at: state.clock.now(),
            method: "POST",
            endpoint: endpoint.to_string(),
            status: response.status().as_u16(),
            latency_us,
            error,
            scope,
            source: Some(caller.info.ip.clone()),
        });
    }
    response
}
