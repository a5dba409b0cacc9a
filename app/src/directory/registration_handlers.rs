//! The registration endpoints of both issuers: `POST /oauth/register` and
//! `/production/oauth/register` (RFC 7591), and each client's configuration
//! endpoint `…/oauth/register/<client_id>` (RFC 7592: GET, PUT, DELETE with its
//! registration access token). Outside the session and CSRF layers: the software
//! statement and the token are the proof.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::configuration;
use super::registration::{self, Failure, Registered};
use crate::clients::paths::REGISTER;
use crate::oauth::{Caller, Issuer};
use crate::platform::state::AppState;

pub fn routes() -> Router<AppState> {
    let configuration = format!("{REGISTER}/{{client_id}}");
    Router::new()
        .route(REGISTER, post(register))
        .route(&Issuer::Production.path(REGISTER), post(register))
        .route(&configuration, get(read).put(update).delete(delete))
        .route(
            &Issuer::Production.path(&configuration),
            get(read).put(update).delete(delete),
        )
}

fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// RFC 7591 §3.2.2: 400 with `error` and `error_description`; a bad registration
/// access token is RFC 6750's 401 with its `WWW-Authenticate` challenge.
fn failure(failure: Failure) -> Response {
    match failure {
        Failure::Internal(error) => error.into_response(),
        Failure::Refused(refusal) => {
            let unauthorised = refusal.code == "invalid_token";
            let status = match refusal.code {
                "invalid_token" => StatusCode::UNAUTHORIZED,
                "slow_down" => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::BAD_REQUEST,
            };
            let body = json!({ "error": refusal.code, "error_description": refusal.description });
            let mut response = no_store((status, Json(body)).into_response());
            let headers = response.headers_mut();
            if unauthorised {
                // RFC 6750 §3.1: no error code when no token was presented.
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(if refusal.no_token {
                        "Bearer"
                    } else {
                        r#"Bearer error="invalid_token""#
                    }),
                );
            }
            if let Some(seconds) = refusal.retry_after {
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            response
        }
    }
}

fn answer(
    state: &AppState,
    issuer: Issuer,
    status: StatusCode,
    result: Result<Registered, Failure>,
) -> Response {
    match result {
        Ok(registered) => no_store(
            (
                status,
                Json(registration::response(state, issuer, &registered)),
            )
                .into_response(),
        ),
        Err(err) => failure(err),
    }
}

/// The bearer token of the request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn register(
    State(state): State<AppState>,
    issuer: Issuer,
    caller: Caller,
    body: Bytes,
) -> Response {
    let result = registration::register(&state, issuer, &body, &caller.info).await;
    answer(&state, issuer, StatusCode::CREATED, result)
}

async fn read(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = configuration::read(&state, issuer, &client_id, bearer(&headers)).await;
    answer(&state, issuer, StatusCode::OK, result)
}

async fn update(
    State(state): State<AppState>,
    issuer: Issuer,
    caller: Caller,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = configuration::update(
        &state,
        issuer,
        &client_id,
        bearer(&headers),
        &body,
        &caller.info,
    )
    .await;
    answer(&state, issuer, StatusCode::OK, result)
}

async fn delete(
    State(state): State<AppState>,
    issuer: Issuer,
    caller: Caller,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match configuration::delete(&state, issuer, &client_id, bearer(&headers), &caller.info).await {
        Ok(()) => no_store(StatusCode::NO_CONTENT.into_response()),
        Err(err) => failure(err),
    }
}
