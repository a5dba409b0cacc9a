//! Ending a client: its rows (the app, its credentials, its refresh tokens), the
//! clients registered from it with a software statement (RFC 7591), and the
//! directory's `software.withdrawn` webhook; and a revoked or rotated key reaching
//! the copies those registered clients hold. Every way a client ends (the partner,
//! a review, offboarding, the bank's withdrawal) goes through `revoke_app_rows`.

use serde_json::json;

use crate::platform::db::Tx;
use crate::platform::error::Result;

/// Clients registered from an app with a software statement (RFC 7591) hold copies
/// of its key credentials: a revocation, or an expiry shortened by a rotation, of
/// one of the app's keys reaches the copies (a leaked key stops everywhere). A
/// client secret is never copied; the sweep's own revocations are not mirrored.
pub(crate) async fn mirror_to_registered(tx: &mut Tx, credential_id: &str) -> Result<()> {
    type Source = (
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
        i64,
    );
    let source: Option<Source> = sqlx::query_as(
        "SELECT app_id, kind, material, revoked_at, revoked_reason, expires_at FROM credentials WHERE id = $1",
    )
    .bind(credential_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((app_id, kind, Some(material), revoked_at, reason, expires_at)) = source else {
        return Ok(());
    };
    if kind == "client_secret" {
        return Ok(());
    }
    sqlx::query(
        "UPDATE credentials SET revoked_at = COALESCE(revoked_at, $1), revoked_reason = COALESCE(revoked_reason, $2), \
         expires_at = CASE WHEN expires_at > $3 THEN $3 ELSE expires_at END \
         WHERE kind = $4 AND material = $5 AND app_id IN (SELECT id FROM apps WHERE registered_from = $6)",
    )
    .bind(revoked_at)
    .bind(reason)
    .bind(expires_at)
    .bind(&kind)
    .bind(&material)
    .bind(&app_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes an active app, its credentials and its refresh tokens at `now`, with the
/// reason kept on each row (`partner`, `retired`, …), and with it the clients
/// registered from it with a software statement (RFC 7591). False when it was not
/// active.
pub(crate) async fn revoke_app_rows(
    tx: &mut Tx,
    app_id: &str,
    now: i64,
    reason: &str,
) -> Result<bool> {
    if !revoke_one(tx, app_id, now, reason).await? {
        return Ok(false);
    }
    let registered: Vec<String> =
        sqlx::query_scalar("SELECT id FROM apps WHERE registered_from = $1 AND status = 'active'")
            .bind(app_id)
            .fetch_all(&mut **tx)
            .await?;
    for client in registered {
        revoke_one(tx, &client, now, reason).await?;
    }
    software_withdrawn(tx, app_id, now, reason).await?;
    Ok(true)
}

/// One app's rows: the app, its credentials, its refresh tokens.
async fn revoke_one(tx: &mut Tx, app_id: &str, now: i64, reason: &str) -> Result<bool> {
    let revoked = sqlx::query(
        "UPDATE apps SET status = 'revoked', revoked_at = $1, revoked_reason = $2, updated_at = $1 \
         WHERE id = $3 AND status = 'active'",
    )
    .bind(now)
    .bind(reason)
    .bind(app_id)
    .execute(&mut **tx)
    .await?;
    if revoked.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("UPDATE credentials SET revoked_at = $1, revoked_reason = $2 WHERE app_id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(reason)
        .bind(app_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE app_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(app_id)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// The app is a software record in the directory (a registered client is not): its
/// partner is told it was withdrawn. Not when the partner is offboarded: its
/// endpoints are disabled with it.
async fn software_withdrawn(tx: &mut Tx, app_id: &str, now: i64, reason: &str) -> Result<()> {
    if reason == "offboarded" {
        return Ok(());
    }
    let (org_id, client_id, environment, registered_from): (
        String,
        String,
        String,
        Option<String>,
    ) = sqlx::query_as(
        "SELECT org_id, client_id, environment, registered_from FROM apps WHERE id = $1",
    )
    .bind(app_id)
    .fetch_one(&mut **tx)
    .await?;
    if registered_from.is_some() {
        return Ok(());
    }
    crate::webhooks::emit(
        tx,
        &org_id,
        "software.withdrawn",
        json!({
            "software_id": crate::clients::model::software_id(app_id),
            "app_id": app_id,
            "client_id": client_id,
            "environment": environment,
            "reason": reason,
        }),
        now,
    )
    .await?;
    Ok(())
}
