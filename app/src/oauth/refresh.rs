//! Refresh tokens: random, stored as keyed hashes, rotated on every use within a
//! family that shares one absolute expiry (RFC 9700 §4.14.2).

use crate::platform::crypto;
use crate::platform::db::Tx;
use crate::platform::error::Result;
use crate::platform::ids;
use crate::platform::state::AppState;

/// A refresh-token family lives this long from the authorization, however often it is rotated.
pub const FAMILY_LIFETIME: i64 = 30 * 24 * 3600;

pub struct Family<'a> {
    pub id: &'a str,
    pub app_id: &'a str,
    pub consent_id: &'a str,
    pub customer: &'a str,
    pub scopes: &'a str,
    pub expires_at: i64,
}

/// Stores a new refresh token of `family`; returns the token itself.
pub async fn issue(state: &AppState, tx: &mut Tx, family: &Family<'_>, now: i64) -> Result<String> {
    let token = crypto::random_token();
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, app_id, consent_id, customer, scopes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(state.keys.keyed_hash(&token))
    .bind(family.id)
    .bind(family.app_id)
    .bind(family.consent_id)
    .bind(family.customer)
    .bind(family.scopes)
    .bind(now)
    .bind(family.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

/// The first refresh token of a new family; returns (token, family id).
pub async fn issue_new_family(
    state: &AppState,
    tx: &mut Tx,
    app_id: &str,
    consent_id: &str,
    customer: &str,
    scopes: &str,
    now: i64,
) -> Result<(String, String)> {
    let id = ids::new_id(ids::REFRESH_FAMILY);
    let family = Family {
        id: &id,
        app_id,
        consent_id,
        customer,
        scopes,
        expires_at: now + FAMILY_LIFETIME,
    };
    let token = issue(state, tx, &family, now).await?;
    Ok((token, id))
}

/// Records that the access token `jti` descends from `family`, so that revoking the
/// family revokes it too.
pub async fn record_descendant(
    tx: &mut Tx,
    family_id: &str,
    app_id: &str,
    jti: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO family_access_tokens (jti, family_id, app_id, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(jti)
    .bind(family_id)
    .bind(app_id)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes every refresh token of the family and every access token minted from it
/// (RFC 9700 §4.14.2: a replayed refresh token means the grant is compromised; RFC
/// 7009 §2.1: revoking a refresh token should revoke the access tokens of the same
/// grant). The caller commits, then calls `state.oauth().cache.changed()`.
pub async fn revoke_family(tx: &mut Tx, family_id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO revoked_tokens (jti, app_id, revoked_at, expires_at) \
         SELECT jti, app_id, $1, expires_at FROM family_access_tokens \
         WHERE family_id = $2 AND expires_at >= $1 \
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(now)
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets descendants whose access tokens have expired.
pub async fn prune_descendants(db: &crate::platform::db::Db, now: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM family_access_tokens WHERE expires_at < $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
