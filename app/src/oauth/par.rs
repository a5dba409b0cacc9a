//! Pushed authorization requests (RFC 9126): the client authenticates and sends the
//! authorization request over the back channel; it gets a single-use `request_uri`
//! that is valid for 60 seconds and names no secret (only its keyed hash is stored).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::client_auth::Authenticated;
use super::endpoint::{self, json_no_store};
use super::error::{OAuthError, OAuthResult};
use super::params::Params;
use super::request;
use super::Caller;
use crate::platform::crypto;
use crate::platform::state::AppState;

pub const PATH: &str = "/oauth/par";
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
pub const LIFETIME: i64 = 60;

pub async fn endpoint(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    endpoint::serve(
        &state,
        super::Issuer::Sandbox,
        &caller,
        &headers,
        &body,
        PATH,
        async |client, params| push(&state, client, params).await,
        |response| response,
    )
    .await
}

async fn push(state: &AppState, client: &Authenticated, params: &Params) -> OAuthResult<Response> {
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri may not be pushed (RFC 9126 §2.1).",
        ));
    }
    if params
        .get("client_id")
        .is_some_and(|id| id != client.app.client_id)
    {
        return Err(OAuthError::invalid_request(
            "client_id differs from the authenticated client.",
        ));
    }
    let offered = crate::clients::catalogue::scopes(state).await?;
    let validated =
        request::validate(&client.app, params, &offered).map_err(request::Invalid::into_oauth)?;
    let reference = crypto::random_token();
    let now = state.clock.now();
    let stored =
        serde_json::to_string(&validated).map_err(crate::platform::error::Error::internal)?;
    sqlx::query(
        "INSERT INTO pushed_requests (uri_hash, app_id, params, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state.keys.keyed_hash(&reference))
    .bind(&client.app.id)
    .bind(stored)
    .bind(now)
    .bind(now + LIFETIME)
    .execute(&state.db.pool)
    .await?;
    let mut response = json_no_store(json!({
        "request_uri": format!("{URN_PREFIX}{reference}"),
        "expires_in": LIFETIME,
    }));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response.into_response())
}
