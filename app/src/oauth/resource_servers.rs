//! Resource-server clients: the bank's own API gateways in front of the sandbox API or
//! the production APIs. A bank admin registers one per gateway (`gatehouse
//! resource-server create`); it authenticates to the introspection endpoint of its
//! issuer with HTTP Basic (client id `rs_…` and a 256-bit secret shown once), and
//! learns about any token whose audience is the one it serves, active or not (RFC
//! 7662 §2). It can do nothing else: it has no grant, no scope, and a token for
//! another audience, or a refresh token, is `{"active":false}` to it.

use axum::http::HeaderMap;
use serde_json::{json, Value};
use sqlx::Row;

use super::error::{OAuthError, OAuthResult};
use super::{jwt, Issuer};
use crate::audit::{self, Actor, Event};
use crate::platform::crypto;
use crate::platform::error::{Error, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

/// Client ids of resource servers start with this; partners' never do.
pub const PREFIX: &str = "rs_";

#[derive(Clone, Debug)]
pub struct ResourceServer {
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub issuer: Issuer,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Registers a gateway for `issuer`'s audience; returns it and its secret (shown once).
pub async fn create(
    state: &AppState,
    actor: Actor,
    name: &str,
    issuer: Issuer,
) -> Result<(ResourceServer, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::BadRequest(
            "the name must be 1 to 100 printable characters".into(),
        ));
    }
    let id = ids::new_id("rsv");
    let client_id = format!("{PREFIX}{}", ulid::Ulid::new().to_string().to_lowercase());
    let secret = crypto::random_token();
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO resource_servers (id, client_id, name, issuer, secret_hash, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&client_id)
    .bind(name)
    .bind(issuer.name())
    .bind(state.keys.keyed_hash(&secret))
    .bind(actor.id.clone().unwrap_or_else(|| actor.kind.clone()))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(actor, "resource_server.created")
            .resource("resource_server", &id)
            .details(json!({ "client_id": client_id, "name": name, "issuer": issuer.name(), "audience": issuer.audience(&state.settings) })),
    )
    .await?;
    tx.commit().await?;
    let server = ResourceServer {
        id,
        client_id,
        name: name.to_string(),
        issuer,
        created_at: now,
        revoked_at: None,
    };
    Ok((server, secret))
}

pub async fn list(state: &AppState) -> Result<Vec<ResourceServer>> {
    let rows = sqlx::query(
        "SELECT id, client_id, name, issuer, created_at, revoked_at FROM resource_servers ORDER BY created_at, id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ResourceServer {
                id: row.try_get("id")?,
                client_id: row.try_get("client_id")?,
                name: row.try_get("name")?,
                issuer: Issuer::parse(&row.try_get::<String, _>("issuer")?)
                    .unwrap_or(Issuer::Sandbox),
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        })
        .collect()
}

/// Revokes a gateway's access at once. Returns false when there was none to revoke.
pub async fn revoke(state: &AppState, actor: Actor, client_id: &str) -> Result<bool> {
    let mut tx = state.db.begin().await?;
    let changed = sqlx::query(
        "UPDATE resource_servers SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
    )
    .bind(client_id)
    .bind(state.clock.now())
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() == 0 {
        return Ok(false);
    }
    audit::record(
        &mut tx,
        Event::new(actor, "resource_server.revoked").resource("resource_server", client_id),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A resource server's own request: `None` when the caller is not one (a partner's
/// client, to be authenticated as usual), otherwise the gateway or why not.
pub async fn authenticate(
    state: &AppState,
    issuer: Issuer,
    headers: &HeaderMap,
) -> Option<OAuthResult<ResourceServer>> {
    let (client_id, secret) = match super::client_auth::basic_credentials(headers) {
        Ok(Some(pair)) if pair.0.starts_with(PREFIX) => pair,
        _ => return None,
    };
    let refused = || {
        OAuthError::invalid_client(
            "Client authentication failed: unknown, revoked or wrong secret.",
        )
    };
    let row = sqlx::query(
        "SELECT id, client_id, name, issuer, secret_hash, created_at, revoked_at FROM resource_servers \
         WHERE client_id = $1 AND revoked_at IS NULL",
    )
    .bind(&client_id)
    .fetch_optional(&state.db.pool)
    .await;
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return Some(Err(refused())),
        Err(err) => return Some(Err(err.into())),
    };
    let stored: String = row.try_get("secret_hash").unwrap_or_default();
    let registered: String = row.try_get("issuer").unwrap_or_default();
    if !crypto::ct_eq(&stored, &state.keys.keyed_hash(&secret)) || registered != issuer.name() {
        return Some(Err(refused()));
    }
    Some(Ok(ResourceServer {
        id: row.try_get("id").unwrap_or_default(),
        client_id,
        name: row.try_get("name").unwrap_or_default(),
        issuer,
        created_at: row.try_get("created_at").unwrap_or_default(),
        revoked_at: None,
    }))
}

/// Introspection for a gateway: any access token of its issuer for its audience.
pub async fn introspect(
    state: &AppState,
    server: &ResourceServer,
    token: &str,
) -> OAuthResult<Value> {
    let audience = server.issuer.audience(&state.settings);
    match jwt::check(state, server.issuer, token).await? {
        Some(active) if active.claims.aud == audience => {
            Ok(super::introspect::active_body(active.claims))
        }
        _ => Ok(json!({ "active": false })),
    }
}
