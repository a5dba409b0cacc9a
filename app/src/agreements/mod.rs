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

pub mod demo;
pub mod handlers;
pub mod markdown;
mod pages;

pub use pages::in_force;

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

/// `YYYY-MM-DD` of a time.
pub fn day_of(ts: i64) -> String {
    time::rfc3339(ts).chars().take(10).collect()
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
    let versions: Vec<Version> = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM agreement_versions v JOIN agreement_documents d ON d.id = v.document_id \
         WHERE d.tier = $1 AND d.environment = $2 ORDER BY d.kind, v.version"
    ))
    .bind(tier)
    .bind(environment)
    .fetch_all(&state.db.pool)
    .await?;
    let accepted: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT v.document_id, v.version, a.accepted_at FROM agreement_acceptances a \
         JOIN agreement_versions v ON v.id = a.version_id WHERE a.org_id = $1",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let approved_at: Option<i64> =
        sqlx::query_scalar("SELECT MAX(approved_at) FROM tier_approvals WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&state.db.pool)
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

/// A new version as the bank admin's form gives it.
#[derive(Clone, Debug, Default)]
pub struct NewVersion {
    pub kind: String,
    pub environment: String,
    pub tier: String,
    pub title: String,
    pub body: String,
    pub effective_on: String,
    pub material: bool,
    pub window_days: String,
    pub change_note: String,
}

/// Another admin published the same document or version at the same moment (the
/// unique constraints decide on PostgreSQL): 409, to try again.
fn published_meanwhile(err: sqlx::Error) -> Error {
    if crate::platform::db::is_unique_violation(&err) {
        Error::Conflict(
            "Another version of this document was published at the same moment: open the page again and publish once more.".into(),
        )
    } else {
        Error::Database(err)
    }
}

/// Publishes a version (a bank admin): the document's next version number, the
/// SHA-256 of the exact text, audited. The version id.
pub async fn publish(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    new: &NewVersion,
) -> Result<String> {
    let now = state.clock.now();
    let mut invalid = Invalid::new();
    if !KINDS.iter().any(|(k, _)| *k == new.kind) {
        invalid.add("kind", "Choose the kind of document.");
    }
    if !ENVIRONMENTS.iter().any(|(e, _)| *e == new.environment) {
        invalid.add("environment", "Choose the environment it governs.");
    }
    let tiers: Vec<i64> = sqlx::query_scalar("SELECT level FROM tiers ORDER BY level")
        .fetch_all(&state.db.pool)
        .await?;
    let tier = new
        .tier
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|t| tiers.contains(t));
    if tier.is_none() {
        invalid.add("tier", "Choose one of the tiers.");
    }
    invalid.text("title", &new.title, "Enter a title", 120);
    if new.title.contains(['\n', '\r']) {
        invalid.add("title", "The title is one line.");
    }
    let chars = new.body.chars().count();
    if new.body.trim().is_empty() || chars > MAX_TEXT_CHARS {
        invalid.add(
            "body",
            format!("Enter the agreement's text (at most {MAX_TEXT_CHARS} characters; this has {chars})."),
        );
    }
    let today = now - now.rem_euclid(86_400);
    let effective_at = match time::parse_day(new.effective_on.trim()) {
        Some(day) => {
            let at = day.midnight().assume_utc().unix_timestamp();
            if at < today || at > today + 365 * 86_400 {
                invalid.add(
                    "effective_on",
                    "The date it takes effect is today or later, at most a year ahead.",
                );
            }
            at
        }
        None => {
            invalid.add(
                "effective_on",
                "Enter the date it takes effect, for example 2027-01-31.",
            );
            0
        }
    };
    let window_days = if new.material {
        match new.window_days.trim().parse::<i64>() {
            Ok(days) if (1..=MAX_WINDOW_DAYS).contains(&days) => days,
            _ => {
                invalid.add(
                    "window_days",
                    format!(
                        "Enter the days partners have to accept it again: 1 to {MAX_WINDOW_DAYS}."
                    ),
                );
                0
            }
        }
    } else {
        0
    };
    if new.change_note.chars().count() > 1_000 {
        invalid.add(
            "change_note",
            "Describe the change in at most 1,000 characters.",
        );
    }
    invalid.into_result()?;
    let tier = tier.unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id FROM agreement_documents WHERE kind = $1 AND environment = $2 AND tier = $3",
    )
    .bind(&new.kind)
    .bind(&new.environment)
    .bind(tier)
    .fetch_optional(&mut *tx)
    .await?;
    let document = match existing {
        Some(id) => {
            sqlx::query("UPDATE agreement_documents SET title = $1 WHERE id = $2")
                .bind(new.title.trim())
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            id
        }
        None => {
            let id = ids::new_id("agd");
            sqlx::query(
                "INSERT INTO agreement_documents (id, kind, environment, tier, title, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(&new.kind)
            .bind(&new.environment)
            .bind(tier)
            .bind(new.title.trim())
            .bind(&admin.id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(published_meanwhile)?;
            id
        }
    };
    let number: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM agreement_versions WHERE document_id = $1",
    )
    .bind(&document)
    .fetch_one(&mut *tx)
    .await?;
    // A later version may not take effect before an earlier one.
    let latest_effective: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(effective_at) FROM agreement_versions WHERE document_id = $1",
    )
    .bind(&document)
    .fetch_one(&mut *tx)
    .await?;
    if latest_effective.is_some_and(|latest| latest > effective_at) {
        return Err(Error::Invalid(Invalid::field(
            "effective_on",
            format!(
                "Version {} takes effect on {}: this one cannot take effect before it.",
                number - 1,
                day_of(latest_effective.unwrap_or_default())
            ),
        )));
    }
    let id = ids::new_id("agv");
    let sha = digest(&new.body);
    sqlx::query(
        "INSERT INTO agreement_versions (id, document_id, version, body, sha256, effective_at, material, window_days, change_note, published_by, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(&document)
    .bind(number)
    .bind(&new.body)
    .bind(&sha)
    .bind(effective_at)
    .bind(i64::from(new.material))
    .bind(window_days)
    .bind(new.change_note.trim())
    .bind(&admin.id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(published_meanwhile)?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "agreement.published")
            .client(client)
            .resource("agreement_version", &id)
            .details(json!({
                "document_id": document, "kind": new.kind, "environment": new.environment, "tier": tier,
                "title": new.title.trim(), "version": number, "sha256": sha, "effective_at": effective_at,
                "material": new.material, "window_days": window_days,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// An organisation's acceptance of a version, as the record shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Acceptance {
    pub version_id: String,
    pub org_id: String,
    pub organisation: String,
    pub email: String,
    pub accepted_at: i64,
    pub ip: String,
    pub sha256: String,
}

const ACCEPTANCE_COLUMNS: &str = "a.version_id, a.org_id, o.legal_name AS organisation, u.email, a.accepted_at, a.ip, a.sha256 \
     FROM agreement_acceptances a JOIN organisations o ON o.id = a.org_id JOIN users u ON u.id = a.user_id";

/// Who accepted `version_id` (bank staff).
pub async fn acceptances_of(state: &AppState, version_id: &str) -> Result<Vec<Acceptance>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ACCEPTANCE_COLUMNS} WHERE a.version_id = $1 ORDER BY a.accepted_at, o.legal_name"
    ))
    .bind(version_id)
    .fetch_all(&state.db.pool)
    .await?)
}

/// What `org_id` has accepted, newest first.
pub async fn accepted_by(state: &AppState, org_id: &str) -> Result<Vec<(Acceptance, String)>> {
    let rows: Vec<Acceptance> = sqlx::query_as(&format!(
        "SELECT {ACCEPTANCE_COLUMNS} WHERE a.org_id = $1 ORDER BY a.accepted_at DESC"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let name = version(state, &row.version_id).await?.name();
        out.push((row, name));
    }
    Ok(out)
}

/// Accepts `version_id` for the signatory's organisation, with a second-factor code:
/// only the version in force or one published to take effect, once. Lifts the
/// organisation's agreement suspensions when nothing is overdue any more.
pub async fn accept(
    state: &AppState,
    signatory: &AuthUser,
    client: &ClientInfo,
    version_id: &str,
    code: &str,
) -> Result<Version> {
    let org_id = signatory.org_id.as_deref().ok_or(Error::NotFound)?;
    let accepted = version(state, version_id).await?;
    let now = state.clock.now();
    let newest: Option<(i64, i64)> = sqlx::query_as(
        "SELECT version, effective_at FROM agreement_versions WHERE document_id = $1 AND (effective_at <= $2 OR id = $3) \
         ORDER BY version DESC LIMIT 1",
    )
    .bind(&accepted.document_id)
    .bind(now)
    .bind(version_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let in_force = newest.is_some_and(|(number, _)| number == accepted.version);
    let ahead = accepted.effective_at > now;
    if !in_force && !ahead {
        return Err(Error::Conflict(format!(
            "{} has been replaced by a newer version: accept the version in force instead.",
            accepted.name()
        )));
    }
    if code.trim().is_empty() {
        return Err(Error::Invalid(Invalid::field(
            "code",
            "Enter the current code from your authenticator app.",
        )));
    }
    let done: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM agreement_acceptances WHERE version_id = $1 AND org_id = $2",
    )
    .bind(version_id)
    .bind(org_id)
    .fetch_one(&state.db.pool)
    .await?;
    if done > 0 {
        return Err(Error::Conflict(format!(
            "Your organisation has already accepted {}.",
            accepted.name()
        )));
    }
    let tx = state.db.begin().await?;
    let mut tx = totp::step_up(state, tx, &signatory.id, code, &client.ip).await?;
    if !record_acceptance(&mut tx, signatory, org_id, &accepted, &client.ip, now).await? {
        return Err(Error::Conflict(format!(
            "Your organisation has already accepted {}.",
            accepted.name()
        )));
    }
    audit::record(
        &mut tx,
        Event::new(signatory.actor(), "agreement.accepted")
            .client(client)
            .org(Some(org_id))
            .resource("agreement_version", version_id)
            .details(json!({
                "title": accepted.title, "version": accepted.version, "sha256": accepted.sha256,
                "tier": accepted.tier, "environment": accepted.environment, "step_up": true,
            })),
    )
    .await?;
    // The warnings about this version are settled.
    sqlx::query(
        "UPDATE governance_notices SET resolved_at = $1 WHERE org_id = $2 AND kind = 'agreement_warning' \
         AND resolved_at IS NULL AND key LIKE $3",
    )
    .bind(now)
    .bind(org_id)
    .bind(format!("agreement_warning:{version_id}:%"))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // The acceptance stands whatever happens next; a suspension this could not lift
    // now is lifted by the next sweep.
    if let Err(error) = lift_if_cured(state, org_id).await {
        tracing::warn!(%error, org_id, "lifting agreement suspensions after an acceptance");
    }
    Ok(accepted)
}

/// The agreements an evidence pack names (offboarding, access-review campaigns),
/// read in the pack's own transaction: every version in force at `now` with its
/// hash, and what each of `org_ids` accepted (who, when, which hash).
pub async fn pack_record(
    tx: &mut crate::platform::db::Tx,
    org_ids: &[&str],
    now: i64,
) -> Result<serde_json::Value> {
    let versions: Vec<Version> = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM agreement_versions v JOIN agreement_documents d ON d.id = v.document_id \
         WHERE v.effective_at <= $1 AND v.version = (SELECT MAX(w.version) FROM agreement_versions w \
         WHERE w.document_id = v.document_id AND w.effective_at <= $1) ORDER BY d.tier, d.environment, d.kind"
    ))
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    let in_force: Vec<serde_json::Value> = versions
        .iter()
        .map(|v| {
            json!({
                "title": v.title, "kind": v.kind, "environment": v.environment, "tier": v.tier,
                "version": v.version, "sha256": v.sha256, "effective_at": time::rfc3339(v.effective_at),
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for org_id in org_ids {
        let rows: Vec<(String, i64, String, i64, String)> = sqlx::query_as(
            "SELECT d.title, v.version, a.sha256, a.accepted_at, u.email FROM agreement_acceptances a \
             JOIN agreement_versions v ON v.id = a.version_id JOIN agreement_documents d ON d.id = v.document_id \
             JOIN users u ON u.id = a.user_id WHERE a.org_id = $1 ORDER BY a.accepted_at, d.title",
        )
        .bind(org_id)
        .fetch_all(&mut **tx)
        .await?;
        accepted.extend(rows.into_iter().map(|(title, version, sha, at, email)| {
            json!({
                "org_id": org_id, "title": title, "version": version, "sha256": sha,
                "accepted_at": time::rfc3339(at), "signatory": email,
            })
        }));
    }
    Ok(json!({ "in_force": in_force, "accepted": accepted }))
}

/// Records `signatory`'s acceptance of `version` for `org_id` in `tx`, with the hash
/// of the exact text; false when the organisation had already accepted it.
pub(crate) async fn record_acceptance(
    tx: &mut crate::platform::db::Tx,
    signatory: &AuthUser,
    org_id: &str,
    version: &Version,
    ip: &str,
    now: i64,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO agreement_acceptances (id, version_id, org_id, user_id, accepted_at, ip, sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (version_id, org_id) DO NOTHING",
    )
    .bind(ids::new_id("aga"))
    .bind(&version.id)
    .bind(org_id)
    .bind(&signatory.id)
    .bind(now)
    .bind(ip)
    .bind(digest(&version.body))
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Whether production client `app_id` is under a tier with a production agreement
/// overdue (no acceptance holds and the deadline has passed).
pub async fn overdue_for_app(state: &AppState, app_id: &str) -> Result<bool> {
    let row: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT a.org_id, COALESCE(r.tier, (SELECT MAX(t.tier) FROM tier_approvals t WHERE t.org_id = a.org_id)) \
         FROM apps a LEFT JOIN access_requests r ON r.id = a.access_request_id WHERE a.id = $1",
    )
    .bind(app_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((org_id, tier)) = row else {
        return Ok(false);
    };
    let now = state.clock.now();
    let owed = obligations(state, &org_id, tier.unwrap_or(0), "production", now).await?;
    Ok(owed.iter().any(|o| o.is_overdue(now)))
}

/// The organisation's production clients suspended for an agreement, lifted when no
/// production obligation of their tier is overdue any more (each in one transaction
/// with its notices settled, audited); how many were lifted.
pub async fn lift_if_cured(state: &AppState, org_id: &str) -> Result<u64> {
    let suspended: Vec<String> = sqlx::query_scalar(
        "SELECT a.id FROM suspensions s JOIN apps a ON a.id = s.target \
         WHERE s.target_kind = 'client' AND s.origin = 'agreement' AND s.lifted_at IS NULL AND a.org_id = $1",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let now = state.clock.now();
    let mut lifted = 0;
    for app_id in suspended {
        if overdue_for_app(state, &app_id).await? {
            continue;
        }
        let mut tx = state.db.begin().await?;
        let done = sqlx::query(
            "UPDATE suspensions SET lifted_at = $1, lifted_by = 'agreements', lift_reason = 'the agreement was accepted' \
             WHERE target_kind = 'client' AND target = $2 AND origin = 'agreement' AND lifted_at IS NULL",
        )
        .bind(now)
        .bind(&app_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done > 0 {
            sqlx::query(
                "UPDATE governance_notices SET resolved_at = $1 WHERE app_id = $2 AND kind = 'suspend_for_agreement' AND resolved_at IS NULL",
            )
            .bind(now)
            .bind(&app_id)
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                Event::new(
                    crate::platform::audit::Actor::system("agreements"),
                    "governance.agreement_restored",
                )
                .org(Some(org_id))
                .resource("app", &app_id)
                .details(json!({ "origin": "agreement" })),
            )
            .await?;
        }
        tx.commit().await?;
        lifted += done;
    }
    if lifted > 0 {
        state.oauth().cache.changed();
    }
    Ok(lifted)
}
