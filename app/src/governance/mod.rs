//! Governance: every API consumer is a non-human identity that stays owned, scoped,
//! short-lived and revocable for as long as it exists.
//!
//! - `inventory`: one reviewable list of every client and credential, for the bank
//!   and (scoped) for each partner, with exports and `gatehouse inventory`;
//! - `policy`: the lifecycle policy per tier and for the sandbox, versioned;
//! - `credentials`: production rotation, revocation, retirement, owners;
//! - `sweep` and `evidence`: the rules that keep the inventory true, run by the one
//!   database-coordinated `scheduler`, previewable with `gatehouse governance preview`;
//! - `exceptions`: explicit, temporary, reviewed exceptions to a tier rule;
//! - `suspension`: the kill switch.

mod agreements;
pub mod credentials;
pub mod demo;
pub mod evidence;
pub mod exceptions;
pub mod handlers;
pub mod inventory;
mod pages;
mod pages_bank;
pub mod policy;
pub mod residency;
pub mod suspension;
pub mod sweep;
mod sweep_text;

use crate::platform::error::Result;
use crate::platform::state::AppState;

/// A notice of the sweep still open for an organisation (dashboard, inventory).
#[derive(Clone, Debug)]
pub struct Notice {
    pub kind: String,
    pub app_id: Option<String>,
    pub message: String,
    pub created_at: i64,
}

/// Open notices of the last 30 days, of an organisation (or every organisation),
/// newest first. A warning about a credential that has since been revoked (or
/// rotated out) is no longer shown.
pub async fn notices(state: &AppState, org: Option<&str>, limit: i64) -> Result<Vec<Notice>> {
    let rows: Vec<(String, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT n.kind, n.app_id, n.message, n.created_at FROM governance_notices n \
         LEFT JOIN apps a ON a.id = n.app_id LEFT JOIN credentials c ON c.id = n.credential_id \
         WHERE n.resolved_at IS NULL AND ($1 = '' OR n.org_id = $1) AND n.created_at > $3 \
         AND NOT (n.kind IN ('expiry_warning', 'dormancy_warning') AND c.revoked_at IS NOT NULL) \
         AND n.kind NOT IN ('owner_restored', 'policy_restored', 'evidence_restored', 'agreement_restored', 'settled') \
         AND (a.id IS NULL OR a.status = 'active') \
         ORDER BY n.created_at DESC, n.key LIMIT $2",
    )
    .bind(org.unwrap_or_default())
    .bind(limit)
    .bind(state.clock.now() - 30 * 86_400)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, app_id, message, created_at)| Notice {
            kind,
            app_id,
            message: sweep::capitalise(&message),
            created_at,
        })
        .collect())
}

/// Governance's periodic job: the sweep that keeps the inventory true.
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "governance_sweep",
        300,
        |state: AppState, now| async move {
            let report = sweep::run(&state, now).await?;
            Ok(report.summary())
        }
    )]
}
