//! Token introspection (RFC 7662). The caller authenticates as a client; a token that
//! is unknown, expired, revoked, or was issued to another client gets exactly
//! `{"active":false}` (§2.2), so introspection reveals nothing about others' tokens.
//! The bank's gateways introspect as resource servers (`resource_servers`): every
//! access token for the audience they serve.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};
use sqlx::Row;

use super::client_auth::Authenticated;
use super::endpoint::{self, json_no_store};
use super::error::OAuthResult;
use super::{jwt, Caller, Issuer};
use crate::platform::state::AppState;

pub const PATH: &str = "/oauth/introspect";

/// Serves both issuers: which one is read from the request's path.
pub async fn endpoint(
    State(state): State<AppState>,
    issuer: Issuer,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(server) = super::resource_servers::authenticate(&state, issuer, &headers).await {
        return for_resource_server(&state, server, &headers, &body).await;
    }
    endpoint::serve(
        &state,
        issuer,
        &caller,
        &headers,
        &body,
        PATH,
        async |client, params| introspect(&state, client, params.require("token")?).await,
        json_no_store,
    )
    .await
}

async fn for_resource_server(
    state: &AppState,
    server: OAuthResult<super::resource_servers::ResourceServer>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let answer = async {
        let server = server?;
        let params = super::params::Params::from_form(headers, body)?;
        super::resource_servers::introspect(state, &server, params.require("token")?).await
    }
    .await;
    match answer {
        Ok(value) => json_no_store(value),
        Err(err) => axum::response::IntoResponse::into_response(err),
    }
}

/// RFC 7662 §2.2 for an active access token.
pub fn active_body(claims: jwt::AccessClaims) -> Value {
    let mut body = json!({
        "active": true,
        "token_type": if claims.jkt().is_some() { "DPoP" } else { "Bearer" },
        "scope": claims.scope,
        "client_id": claims.client_id,
        "sub": claims.sub,
        "aud": claims.aud,
        "iss": claims.iss,
        "iat": claims.iat,
        "exp": claims.exp,
        "jti": claims.jti,
    });
    if let (Some(cnf), Some(object)) = (claims.cnf, body.as_object_mut()) {
        object.insert("cnf".into(), cnf);
    }
    body
}

async fn introspect(state: &AppState, client: &Authenticated, token: &str) -> OAuthResult<Value> {
    if let Some(active) = jwt::check(state, client.issuer, token).await? {
        if active.claims.client_id != client.app.client_id {
            return Ok(inactive());
        }
        return Ok(active_body(active.claims));
    }
    // A refresh token of this client?
    let now = state.clock.now();
    let row = sqlx::query(
        "SELECT r.customer, r.scopes, r.expires_at, r.created_at FROM refresh_tokens r \
         JOIN consents s ON s.id = r.consent_id JOIN apps a ON a.id = r.app_id \
         WHERE r.token_hash = $1 AND r.app_id = $2 AND r.used_at IS NULL AND r.revoked_at IS NULL \
         AND r.expires_at > $3 AND s.status = 'granted' AND a.status = 'active'",
    )
    .bind(state.keys.keyed_hash(token))
    .bind(&client.app.id)
    .bind(now)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(inactive());
    };
    Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": row.try_get::<String, _>("scopes")?,
        "client_id": client.app.client_id,
        "sub": row.try_get::<String, _>("customer")?,
        "iss": client.issuer.identifier(&state.settings),
        "iat": row.try_get::<i64, _>("created_at")?,
        "exp": row.try_get::<i64, _>("expires_at")?,
    }))
}

fn inactive() -> Value {
    json!({ "active": false })
}
