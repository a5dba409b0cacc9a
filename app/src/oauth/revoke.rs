//! Token revocation (RFC 7009). The client authenticates; revoking one of its access
//! tokens makes it inactive at once; revoking a refresh token revokes its whole
//! family. Unknown tokens, and other clients' tokens, get the same 200 (§2.2) and
//! are left alone.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sqlx::Row;

use super::client_auth::Authenticated;
use super::endpoint;
use super::error::OAuthResult;
use super::{jwt, refresh, Caller, Issuer};
use crate::platform::state::AppState;

pub const PATH: &str = "/oauth/revoke";

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
        async |client, params| revoke(&state, client, params.require("token")?).await,
        |()| ok(),
    )
    .await
}

fn ok() -> Response {
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The audit event of an RFC 7009 revocation, in the revocation's transaction.
async fn audited(
    tx: &mut crate::platform::db::Tx,
    client: &Authenticated,
    kind: &str,
    id: &str,
) -> OAuthResult<()> {
    crate::audit::record(
        tx,
        crate::audit::Event::new(Caller::client_actor(&client.app), "oauth.token_revoked")
            .resource("app", &client.app.id)
            .org(Some(&client.app.org_id))
            .details(serde_json::json!({ "token_type": kind, "id": id, "rfc": "7009" })),
    )
    .await?;
    Ok(())
}

async fn revoke(state: &AppState, client: &Authenticated, token: &str) -> OAuthResult<()> {
    if let Some(claims) = jwt::verify_signature(state, client.issuer, token) {
        if claims.client_id == client.app.client_id {
            let mut tx = state.db.begin().await?;
            let newly = jwt::revoke_in(&mut tx, state, &client.app.id, &claims).await?;
            audited(&mut tx, client, "access_token", &claims.jti).await?;
            tx.commit().await?;
            if newly {
                state.oauth().cache.changed();
            }
        }
        return Ok(());
    }
    let family =
        sqlx::query("SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND app_id = $2")
            .bind(state.keys.keyed_hash(token))
            .bind(&client.app.id)
            .fetch_optional(&state.db.pool)
            .await?;
    if let Some(row) = family {
        let family_id: String = row.try_get("family_id")?;
        let mut tx = state.db.begin().await?;
        refresh::revoke_family(&mut tx, &family_id, state.clock.now()).await?;
        audited(&mut tx, client, "refresh_token", &family_id).await?;
        tx.commit().await?;
        state.oauth().cache.changed();
    }
    Ok(())
}
