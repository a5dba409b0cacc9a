//! The audit trail's mechanism: append-only, hash-chained events that every feature
//! (and the platform's own CSRF and repeated-event guards) records into, the keys
//! that sign it and its checkpoints. The pages, export and periodic checks are the
//! `audit` feature folder's.

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod chain;
#[cfg(feature = "ssr")]
pub mod checkpoint;
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
