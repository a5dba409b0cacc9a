//! The audit trail: append-only, hash-chained events for every security-relevant
//! action, with verification, browsing and export.

use serde::{Deserialize, Serialize};

pub mod pages;

#[cfg(feature = "ssr")]
pub mod chain;
#[cfg(feature = "ssr")]
pub mod checkpoint;
#[cfg(feature = "ssr")]
pub mod handlers;
#[cfg(feature = "ssr")]
pub mod keyring;
#[cfg(feature = "ssr")]
pub use chain::{record, Event};

/// Who did something.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `user`, `client` (a partner's software), `system` or `anonymous`.
    pub kind: String,
    pub id: Option<String>,
    /// A human-readable name (an e-mail address): ids alone make poor evidence.
    pub label: Option<String>,
}

impl Actor {
    pub fn user(id: &str, email: &str) -> Self {
        Self {
            kind: "user".into(),
            id: Some(id.into()),
            label: Some(email.into()),
        }
    }
    pub fn anonymous() -> Self {
        Self {
            kind: "anonymous".into(),
            id: None,
            label: None,
        }
    }
    pub fn system(label: &str) -> Self {
        Self {
            kind: "system".into(),
            id: None,
            label: Some(label.into()),
        }
    }
}

/// One event as the pages and exports show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    pub id: String,
    pub occurred_at: i64,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_label: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub org_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Filters of the audit page and export (all optional, combined with AND).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Action, or its prefix (`signin` matches `signin.success` and `signin.failure`).
    #[serde(default)]
    pub action: String,
    /// Actor id or e-mail.
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub outcome: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    pub to: String,
    /// Page: events older than this sequence number.
    #[serde(default)]
    pub before: Option<i64>,
}

/// The audit trail's periodic jobs: verifying the chain, and signing checkpoints.
#[cfg(feature = "ssr")]
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    use crate::platform::state::AppState;
    vec![
        crate::job!(
            "audit_chain_check",
            300,
            |state: AppState, now| async move {
                let verdict = chain::check_and_record(&state.db, now).await?;
                if !matches!(verdict, chain::Verdict::Intact { .. }) {
                    tracing::error!(verdict = %verdict, "the audit chain does not verify");
                    return Ok(serde_json::json!({ "verdict": verdict.to_string() }));
                }
                // The chain alone trusts `keyed_from` and the head from the database:
                // the signed checkpoints written so far catch a cut-off tail or a
                // changed `keyed_from` (review finding L3).
                let path = state.settings.audit_checkpoint_path();
                let Ok(text) = std::fs::read_to_string(&path) else {
                    return Ok(serde_json::json!({ "verdict": verdict.to_string() }));
                };
                let finding = checkpoint::check(&state.db, &text).await?;
                if matches!(finding, checkpoint::Finding::Fails { .. }) {
                    tracing::error!(finding = %finding, "the audit checkpoints do not hold");
                    chain::record_check(&state.db, now, false, &finding.to_string()).await?;
                }
                Ok(serde_json::json!({
                    "verdict": verdict.to_string(), "checkpoints": finding.to_string(),
                }))
            }
        ),
        crate::job!("audit_checkpoint", 60, |state: AppState, now| async move {
            let interval = state.settings.audit_checkpoint_seconds;
            let written = checkpoint::write_if_due(&state, now, interval).await?;
            Ok(serde_json::json!({ "written": written.is_some() }))
        }),
    ]
}
