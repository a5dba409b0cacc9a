//! Single-use JWT ids for client assertions and DPoP proofs, in the database so that
//! a replay is caught across restarts and across instances sharing PostgreSQL.

use crate::platform::db::{is_unique_violation, Db};
use crate::platform::error::Result;

#[derive(Clone, Copy)]
pub enum Kind {
    ClientAssertion,
    Dpop,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::ClientAssertion => "client_assertion",
            Self::Dpop => "dpop",
        }
    }
}

/// Records `jti` within `scope` (the client id, or the DPoP key thumbprint) until
/// `expires_at`. Returns false when it was seen before: a replay.
pub async fn first_use(
    db: &Db,
    kind: Kind,
    scope: &str,
    jti: &str,
    expires_at: i64,
) -> Result<bool> {
    let inserted =
        sqlx::query("INSERT INTO used_jtis (kind, scope, jti, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(kind.as_str())
            .bind(scope)
            .bind(jti)
            .bind(expires_at)
            .execute(&db.pool)
            .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(err) if is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Forgets ids whose JWTs have expired (a replay of those fails its time checks).
pub async fn prune(db: &Db, now: i64) -> Result<u64> {
    let jtis = sqlx::query("DELETE FROM used_jtis WHERE expires_at < $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    let revoked = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    let descendants = super::refresh::prune_descendants(db, now).await?;
    Ok(jtis.rows_affected() + revoked.rows_affected() + descendants)
}
