//! Agreements (issue 32): the terms a partner is bound by. Bank admins publish
//! versioned documents per kind, environment and tier (API terms, data-sharing
//! agreement, SLA schedule) as Markdown with the SHA-256 of the exact text; a
//! partner's authorised signatory (a partner admin, with a second-factor code)
//! accepts the version in force, and the acceptance records who, when, from where,
//! which version and its hash.
//!
//! What an organisation owes for a tier and environment is its [`Obligation`]s: for
//! each document, the version in force and whether it is accepted. A non-material
//! version leaves an earlier acceptance standing; a material one must be accepted
//! again within its window (`window_days` after it takes effect). An onboarding
//! application cannot be submitted, nor a production request approved, while an
//! obligation of its tier is not met ([`ensure_accepted`]); once a material
//! version's deadline passes, the governance sweep suspends the organisation's
//! production clients (origin `agreement`) until it is accepted, which lifts them
//! at once ([`accept`]).

mod acceptance;
pub mod demo;
pub mod handlers;
pub mod markdown;
mod pages;
mod publishing;

pub(crate) use acceptance::record_acceptance;
pub use acceptance::{
    accept, acceptances_of, accepted_by, lift_if_cured, overdue_for_app, overdue_on, pack_record,
    Acceptance,
};
pub use pages::in_force;
pub use publishing::{publish, NewVersion};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::accounts::totp;
use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;
use crate::platform::{ids, time};

/// The kinds of document: (value, name).
pub const KINDS: [(&str, &str); 3] = [
    ("api_terms", "API terms"),
    ("data_sharing", "Data-sharing agreement"),
    ("sla_schedule", "SLA schedule"),
];
pub const ENVIRONMENTS: [(&str, &str); 2] = [("sandbox", "Sandbox"), ("production", "Production")];
/// The longest text a version may have (a form carries at most 64 KiB).
pub const MAX_TEXT_CHARS: usize = 30_000;
/// A material version's re-acceptance window, unless the bank sets another.
pub const DEFAULT_WINDOW_DAYS: i64 = 30;
pub const MAX_WINDOW_DAYS: i64 = 365;

pub fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("Agreement", |(_, label)| label)
}

/// The SHA-256 of an agreement's exact text, as lowercase hex.
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// One published version with its document.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Version {
    pub id: String,
    pub document_id: String,
    pub kind: String,
    pub environment: String,
    pub tier: i64,
    pub title: String,
    pub version: i64,
    pub body: String,
    pub sha256: String,
    pub effective_at: i64,
    pub material: i64,
    pub window_days: i64,
    pub change_note: String,
    pub published_at: i64,
}

impl Version {
    pub fn is_material(&self) -> bool {
        self.material != 0
    }
    /// By when a partner that accepted an earlier version must accept this one.
    pub fn deadline(&self) -> i64 {
        self.effective_at + self.window_days * 86_400
    }
    pub fn name(&self) -> String {
        format!("{} v{}", self.title, self.version)
    }
}

const VERSION_COLUMNS: &str =
    "v.id, v.document_id, d.kind, d.environment, d.tier, d.title, v.version, v.body, v.sha256, \
     v.effective_at, v.material, v.window_days, v.change_note, v.published_at";

/// Every version, newest document and version first.
pub async fn all_versions(state: &AppState) -> Result<Vec<Version>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM agreement_versions v JOIN agreement_documents d ON d.id = v.document_id \
         ORDER BY d.tier, d.environment, d.kind, v.version DESC"
    ))
    .fetch_all(&state.db.pool)
    .await?)
}

pub async fn version(state: &AppState, id: &str) -> Result<Version> {
    sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM agreement_versions v JOIN agreement_documents d ON d.id = v.document_id WHERE v.id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or(Error::NotFound)
}

/// Where an organisation stands with one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The version in force is accepted, or an earlier one with no material change since.
    Accepted,
    /// A material version awaits acceptance; the earlier acceptance holds until `deadline`.
    Due { deadline: i64 },
    /// No acceptance holds: never accepted, or a material version's deadline passed.
    /// Production clients that predate it are suspended once `deadline` has passed.
    Required { deadline: i64 },
}

/// One document an organisation is bound by, for a tier and environment.
#[derive(Clone, Debug)]
pub struct Obligation {
    pub current: Version,
    /// The version it last accepted and when.
    pub accepted: Option<(i64, i64)>,
    pub standing: Standing,
    /// A version published to take effect later.
    pub upcoming: Option<Version>,
}

impl Obligation {
    /// An acceptance holds: the version in force, or an earlier one in its window.
    pub fn is_met(&self) -> bool {
        matches!(self.standing, Standing::Accepted | Standing::Due { .. })
    }
    /// No acceptance holds and the deadline has passed.
    pub fn is_overdue(&self, now: i64) -> bool {
        matches!(self.standing, Standing::Required { deadline } if deadline <= now)
    }
}

/// What `org_id` owes for `tier` in `environment` at `now`: one obligation per
/// document that has a version in force.
pub async fn obligations(
    state: &AppState,
    org_id: &str,
    tier: i64,
    environment: &str,
    now: i64,
) -> Result<Vec<Obligation>> {
    let mut conn = state.db.pool.acquire().await?;
    obligations_on(&mut conn, org_id, tier, environment, now).await
}

/// [`obligations`] on a connection the caller holds (inside a transaction: on
/// SQLite, a second pooled connection could wait on this one's write lock).
pub async fn obligations_on(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
    tier: i64,
    environment: &str,
    now: i64,
) -> Result<Vec<Obligation>> {
    let versions: Vec<Version> = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM agreement_versions v JOIN agreement_documents d ON d.id = v.document_id \
         WHERE d.tier = $1 AND d.environment = $2 ORDER BY d.kind, v.version"
    ))
    .bind(tier)
    .bind(environment)
    .fetch_all(&mut *conn)
    .await?;
    let accepted: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT v.document_id, v.version, a.accepted_at FROM agreement_acceptances a \
         JOIN agreement_versions v ON v.id = a.version_id WHERE a.org_id = $1",
    )
    .bind(org_id)
    .fetch_all(&mut *conn)
    .await?;
    let approved_at: Option<i64> =
        sqlx::query_scalar("SELECT MAX(approved_at) FROM tier_approvals WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&mut *conn)
            .await?;
    let mut out = Vec::new();
    let mut documents: Vec<&str> = versions.iter().map(|v| v.document_id.as_str()).collect();
    documents.dedup();
    for document in documents {
        let of_doc: Vec<&Version> = versions
            .iter()
            .filter(|v| v.document_id == document)
            .collect();
        let Some(current) = of_doc.iter().rev().find(|v| v.effective_at <= now) else {
            continue;
        };
        let upcoming = of_doc
            .iter()
            .find(|v| v.effective_at > now)
            .map(|v| (*v).clone());
        let last = accepted
            .iter()
            .filter(|(d, version, _)| d == document && *version <= current.version)
            .max_by_key(|(_, version, _)| *version)
            .map(|(_, version, at)| (*version, *at));
        let standing = match last {
            Some((version, _)) if version == current.version => Standing::Accepted,
            Some((version, _)) => {
                // The first material version after the accepted one sets the deadline.
                match of_doc.iter().find(|v| {
                    v.version > version && v.version <= current.version && v.is_material()
                }) {
                    None => Standing::Accepted,
                    Some(material) if now < material.deadline() => Standing::Due {
                        deadline: material.deadline(),
                    },
                    Some(material) => Standing::Required {
                        deadline: material.deadline(),
                    },
                }
            }
            // Never accepted: an organisation approved before the document existed has
            // the first version's window (or the default one) from the later of the two
            // to accept it; one not approved yet has no deadline, only the gates.
            None => {
                let first = of_doc[0];
                let days = if first.window_days > 0 {
                    first.window_days
                } else {
                    DEFAULT_WINDOW_DAYS
                };
                Standing::Required {
                    deadline: match approved_at {
                        Some(approved) => first.effective_at.max(approved) + days * 86_400,
                        None => i64::MAX,
                    },
                }
            }
        };
        out.push(Obligation {
            current: (*current).clone(),
            accepted: last,
            standing,
            upcoming,
        });
    }
    Ok(out)
}

/// The names of the versions `org_id` owes for `tier` in `environment` now, with no
/// acceptance that holds.
pub async fn unmet(
    state: &AppState,
    org_id: &str,
    tier: i64,
    environment: &str,
) -> Result<Vec<String>> {
    let owed = obligations(state, org_id, tier, environment, state.clock.now()).await?;
    Ok(owed
        .iter()
        .filter(|o| !o.is_met())
        .map(|o| o.current.name())
        .collect())
}

/// Refuses (409, with what to accept) while an obligation of `tier` in
/// `environment` is not met (a material version inside its window still counts as
/// met: the earlier acceptance holds until the deadline); `who` says whose acceptance it needs ("You" or the
/// partner's name).
pub async fn ensure_accepted(
    state: &AppState,
    org_id: &str,
    tier: i64,
    environment: &str,
    who: &str,
) -> Result<()> {
    let missing = unmet(state, org_id, tier, environment).await?;
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(Invalid::conflict(
        "agreements",
        format!(
            "{who} must first accept the Tier {tier} {} agreements in force: {}. A partner admin accepts them on the Agreements page.",
            environment,
            missing.join(", ")
        ),
    )))
}

/// Everything `org_id` owes at `now`: the obligations of each of its tiers
/// ([`tiers_of`]), sandbox then production.
pub async fn obligations_of_org(
    state: &AppState,
    org_id: &str,
    now: i64,
) -> Result<Vec<Obligation>> {
    let mut owed = Vec::new();
    for tier in tiers_of(state, org_id).await? {
        for environment in ["sandbox", "production"] {
            owed.extend(obligations(state, org_id, tier, environment, now).await?);
        }
    }
    Ok(owed)
}

/// The tiers whose agreements concern an organisation: the highest tier it is
/// approved for, the tier of an application in progress, and the tiers of its
/// production requests.
pub async fn tiers_of(state: &AppState, org_id: &str) -> Result<Vec<i64>> {
    let approved: Option<i64> =
        sqlx::query_scalar("SELECT MAX(tier) FROM tier_approvals WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&state.db.pool)
            .await?;
    let open: Option<i64> = sqlx::query_scalar(
        "SELECT tier FROM applications WHERE org_id = $1 AND status IN ('draft', 'submitted', 'more_info')",
    )
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    // A production request is governed by the lowest tier covering its scopes, which
    // may be below the approved one: its tier binds too.
    let requested: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT tier FROM access_requests WHERE org_id = $1 AND status <> 'rejected'",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut tiers: Vec<i64> = approved.into_iter().chain(open).chain(requested).collect();
    tiers.sort_unstable();
    tiers.dedup();
    Ok(tiers)
}
