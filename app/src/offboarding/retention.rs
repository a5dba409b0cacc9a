//! How long an offboarded organisation's evidence files are kept.
//!
//! Offboarding deletes nothing the bank may have to show later: evidence files and
//! the audit trail stay. The bank sets how long the files are kept after the
//! offboarding finished (default 7 years); the scheduler then deletes each file's
//! bytes from the evidence store, keeps its row (hash, dates, who uploaded it: the
//! dossiers and the audit trail cite it) with the time it was purged, and records
//! the purge in the audit trail. The audit trail itself is never shortened: its hash
//! chain is what makes it evidence.

use object_store::path::Path as ObjectPath;
use serde_json::json;

use crate::audit::{self, Actor, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::{get_setting, set_setting};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;

const KEY: &str = "offboarding.evidence_retention_days";
pub const DEFAULT_DAYS: i64 = 7 * 365;
pub const MIN_DAYS: i64 = 365;
pub const MAX_DAYS: i64 = 10 * 365;
const DAY: i64 = 86_400;

/// The retention in force, in days.
pub async fn days(state: &AppState) -> Result<i64> {
    Ok(get_setting(&state.db.pool, KEY)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_DAYS))
}

/// A bank admin sets the retention.
pub async fn set_days(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    value: &str,
) -> Result<i64> {
    let days = value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| (MIN_DAYS..=MAX_DAYS).contains(d))
        .ok_or_else(|| {
            Error::Invalid(Invalid::field(
                "retention_days",
                format!(
                    "Keep evidence between {MIN_DAYS} and {MAX_DAYS} days after an offboarding."
                ),
            ))
        })?;
    let before = self::days(state).await?;
    let mut tx = state.db.begin().await?;
    set_setting(&mut tx, KEY, &days.to_string()).await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "offboarding.retention_set")
            .client(client)
            .details(json!({ "evidence_retention_days": days, "was": before })),
    )
    .await?;
    tx.commit().await?;
    Ok(days)
}

/// Deletes the evidence files of organisations offboarded longer ago than the
/// retention. Returns how many files it purged.
pub async fn purge(state: &AppState, now: i64) -> Result<usize> {
    let retention = days(state).await?;
    let cutoff = now - retention * DAY;
    let due: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT e.id, e.org_id, e.object_key, e.sha256 FROM evidence e JOIN organisations o ON o.id = e.org_id \
         WHERE o.status = 'offboarded' AND o.offboarded_at <= $1 AND e.purged_at IS NULL ORDER BY e.id LIMIT 200",
    )
    .bind(cutoff)
    .fetch_all(&state.db.pool)
    .await?;
    let mut purged = 0;
    for (id, org_id, key, sha256) in due {
        match state.evidence.delete(&ObjectPath::from(key.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(err) => return Err(Error::internal(err)),
        }
        let mut tx = state.db.begin().await?;
        let marked = sqlx::query(
            "UPDATE evidence SET purged_at = $1, removed_at = COALESCE(removed_at, $1) WHERE id = $2 AND purged_at IS NULL",
        )
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            continue;
        }
        audit::record(
            &mut tx,
            Event::new(Actor::system("evidence retention"), "evidence.purged")
                .org(Some(&org_id))
                .resource("evidence", &id)
                .details(json!({ "sha256": sha256, "retention_days": retention })),
        )
        .await?;
        tx.commit().await?;
        purged += 1;
    }
    Ok(purged)
}
