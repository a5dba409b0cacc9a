//! Evidence expiry. The evidence an approved tier relied on (pen-test, ISO 27001 /
//! SOC 2, licence, insurance, …) is the organisation's accepted evidence of each
//! kind the tier requires: uploaded before the tier was approved, or accepted by a
//! reviewer since. As its expiry nears, the partner admins are warned at each lead
//! time and see a re-attestation task (upload the new document; a reviewer accepts
//! it). Once the grace period after expiry has passed, the organisation's
//! production clients under that tier are suspended until a reviewer accepts new
//! evidence.
//!
//! A kind the tier requires with no accepted evidence at all (a requirement the bank
//! added after the approval, or evidence gone from the record) is not compliant: the
//! sweep warns at once and suspends once the grace has passed since that warning.
//! Partners cannot remove evidence the bank relies on (`onboarding::evidence::remove`
//! refuses it), so removing the expired document is no way out of a suspension.

use std::collections::{BTreeMap, HashSet};

use serde_json::json;

use super::inventory::{Context, Row};
use super::sweep::{self, Action, Kind};
use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::time::{self, day};

/// The accepted evidence of an organisation, latest expiry first per kind:
/// (evidence id, kind, expires_on as a time).
async fn accepted(state: &AppState, org_id: &str) -> Result<Vec<(String, String, i64)>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT e.id, e.kind, e.expires_on FROM evidence e WHERE e.org_id = $1 AND e.removed_at IS NULL \
         AND (e.accepted_at IS NOT NULL OR e.uploaded_at <= (SELECT MAX(t.approved_at) FROM tier_approvals t WHERE t.org_id = e.org_id)) \
         ORDER BY e.expires_on DESC, e.id",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        // The document is valid through its expiry day.
        .filter_map(|(id, kind, expires_on)| {
            time::parse_date(&expires_on).map(|t| (id, kind, t + 86_400))
        })
        .collect())
}

/// For each kind a tier requires, the current accepted evidence (the latest expiry).
fn current<'a>(
    accepted: &'a [(String, String, i64)],
    kind: &str,
) -> Option<&'a (String, String, i64)> {
    accepted.iter().find(|(_, k, _)| k == kind)
}

/// When the sweep first found no accepted evidence of a required kind (its notice
/// `key`), if it did.
async fn missing_since(state: &AppState, key: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT created_at FROM governance_notices WHERE key = $1")
            .bind(key)
            .fetch_optional(&state.db.pool)
            .await?,
    )
}

/// The evidence actions due: warnings, suspensions, and lifts once cured.
pub async fn plan(
    state: &AppState,
    ctx: &Context,
    clients: &BTreeMap<&str, Vec<&Row>>,
    done: &HashSet<String>,
    plan: &mut Vec<Action>,
) -> Result<()> {
    let now = ctx.now;
    let tiers = crate::onboarding::catalogue::tiers(state).await?;
    // Active production clients by organisation.
    let mut by_org: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for rows in clients.values() {
        if let Some(first) = rows.first() {
            if first.environment == "production" && first.app_active {
                by_org.entry(first.org_id.as_str()).or_default().push(first);
            }
        }
    }
    for (org_id, apps) in by_org {
        let accepted = accepted(state, org_id).await?;
        for app in apps {
            let Some(tier) = app.tier.and_then(|t| tiers.iter().find(|x| x.level == t)) else {
                continue;
            };
            let rules = ctx.policy.for_client("production", Some(tier.level));
            let suspended = ctx
                .suspensions
                .iter()
                .any(|s| !s.derived && s.origin == "evidence" && s.target == app.app_id);
            let mut lapsed = Vec::new();
            for rule in &tier.evidence {
                let kind = rule.kind.as_str();
                let grace = rules.evidence_grace_days * 86_400;
                let Some((evidence_id, _, expires_at)) = current(&accepted, kind) else {
                    let key = format!("evidence_missing:{org_id}:{kind}");
                    match missing_since(state, &key).await? {
                        Some(since) if now >= since + grace => {
                            lapsed.push((kind, format!("missing-{kind}"), since));
                        }
                        Some(_) => {}
                        None if plan.iter().any(|a| a.key == key) => {}
                        None => plan.push(Action::for_org(
                            Kind::EvidenceWarning,
                            key,
                            app,
                            format!(
                                "warn: Tier {} relies on {kind} evidence and none is accepted: upload it before {}",
                                tier.level,
                                day(now + grace)
                            ),
                        )),
                    }
                    continue;
                };
                let expires_at = *expires_at;
                if now >= expires_at + grace {
                    lapsed.push((kind, evidence_id.clone(), expires_at));
                    continue;
                }
                let reached = rules.leads_reached(expires_at, now);
                let Some(urgent) = reached.first() else {
                    continue;
                };
                let key = format!("evidence_warning:{evidence_id}:{urgent}");
                // One warning per organisation and document, not per client.
                if done.contains(&key) || plan.iter().any(|a| a.key == key) {
                    continue;
                }
                let mut action = Action::for_org(
                    Kind::EvidenceWarning,
                    key,
                    app,
                    if expires_at > now {
                        format!("warn: the {kind} evidence Tier {} relies on expires on {}: upload the new document", tier.level, day(expires_at))
                    } else {
                        format!(
                            "warn: the {kind} evidence Tier {} relies on expired on {}: upload the new document before {}",
                            tier.level, day(expires_at), day(expires_at + rules.evidence_grace_days * 86_400)
                        )
                    },
                );
                action.subject_id = Some(evidence_id.clone());
                action.also_settles = reached[1..]
                    .iter()
                    .map(|d| format!("evidence_warning:{evidence_id}:{d}"))
                    .filter(|k| !done.contains(k))
                    .collect();
                plan.push(action);
            }
            if let Some((kind, evidence_id, expires_at)) = lapsed.first() {
                if !suspended {
                    let missing = evidence_id.starts_with("missing-");
                    let mut action = Action::for_org(
                        Kind::SuspendForEvidence,
                        format!("suspend_for_evidence:{}:{evidence_id}", app.app_id),
                        app,
                        if missing {
                            format!(
                                "suspend {}: Tier {} relies on {kind} evidence, none has been accepted since {} and the {}-day grace has passed",
                                app.client_name, tier.level, day(*expires_at), rules.evidence_grace_days
                            )
                        } else {
                            format!(
                                "suspend {}: the {kind} evidence Tier {} relies on expired on {} and the {}-day grace has passed",
                                app.client_name, tier.level, day(*expires_at), rules.evidence_grace_days
                            )
                        },
                    );
                    action.subject_id = (!missing).then(|| evidence_id.clone());
                    plan.push(action);
                }
            } else if suspended {
                plan.push(Action::for_org(
                    Kind::EvidenceRestored,
                    format!("evidence_restored:{}:{now}", app.app_id),
                    app,
                    format!(
                        "{}: accepted evidence is current again; its suspension is lifted",
                        app.client_name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Applies an evidence action (inside the sweep's transaction). False when it
/// changed nothing (the client was suspended already).
pub async fn apply(state: &AppState, tx: &mut Tx, action: &Action, now: i64) -> Result<bool> {
    let mut changed = true;
    let app_id = action.app_id.clone().unwrap_or_default();
    let details = json!({ "key": action.key, "evidence_id": action.subject_id, "description": action.description });
    let link = state.settings.link("/governance/evidence");
    match action.kind {
        Kind::EvidenceWarning => {
            sweep::record_action(tx, action, "governance.evidence_warned", details).await?;
            sweep::tell_org(
                tx,
                action,
                "Evidence the bank relies on expires",
                &format!(
                    "{}.\n\nUpload the renewed document; a reviewer accepts it: {link}\n",
                    sweep::for_people(&action.description)
                ),
            )
            .await?;
        }
        Kind::SuspendForEvidence => {
            changed = super::suspension::suspend_for_rule(
                tx,
                &app_id,
                "evidence",
                "expired evidence: a reviewer must accept the renewed document",
                now,
            )
            .await?;
            sweep::record_action(tx, action, "governance.suspended", json!({ "origin": "evidence", "key": action.key, "evidence_id": action.subject_id })).await?;
            sweep::tell_org(tx, action, "A production client was suspended: evidence expired", &format!(
                "{}.\n\nUpload the renewed document; the suspension is lifted once a reviewer accepts it: {link}\n", sweep::for_people(&action.description)
            )).await?;
        }
        Kind::EvidenceRestored => {
            super::suspension::lift_for_rule(tx, &app_id, "evidence", now).await?;
            sweep::resolve_notices(
                tx,
                &app_id,
                &["evidence_warning", "suspend_for_evidence"],
                now,
            )
            .await?;
            sweep::record_action(tx, action, "governance.evidence_restored", details).await?;
        }
        _ => {}
    }
    Ok(changed)
}

/// Evidence uploaded since the tier was approved and not yet accepted: the
/// reviewers' re-attestation queue. (evidence id, org id, organisation, kind,
/// filename, expires_on, uploaded_at)
pub async fn awaiting(
    state: &AppState,
) -> Result<Vec<(String, String, String, String, String, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT e.id, e.org_id, o.legal_name, e.kind, e.filename, e.expires_on, e.uploaded_at FROM evidence e \
         JOIN organisations o ON o.id = e.org_id \
         WHERE e.removed_at IS NULL AND e.accepted_at IS NULL \
         AND e.uploaded_at > (SELECT MAX(t.approved_at) FROM tier_approvals t WHERE t.org_id = e.org_id) \
         ORDER BY e.uploaded_at, e.id",
    )
    .fetch_all(&state.db.pool)
    .await?)
}

/// A document whose current accepted version expires soon or has just expired.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Expiring {
    pub id: String,
    pub organisation: String,
    pub kind: String,
    /// `YYYY-MM-DD`: the document is valid through this day.
    pub expires_on: String,
}

/// Evidence documents whose current accepted version (as [`plan`] reads it:
/// accepted by the bank, or part of an approved dossier) expires within 30 days or
/// expired in the last 30, soonest first; at most `limit`.
pub async fn expiring(state: &AppState, limit: i64) -> Result<Vec<Expiring>> {
    const DAY: i64 = 86_400;
    let now = state.clock.now();
    let accepted = |e: &str| {
        format!(
            "({e}.accepted_at IS NOT NULL OR {e}.uploaded_at <= \
             (SELECT MAX(t.approved_at) FROM tier_approvals t WHERE t.org_id = {e}.org_id))"
        )
    };
    Ok(sqlx::query_as(&format!(
        "SELECT e.id, o.legal_name AS organisation, e.kind, e.expires_on FROM evidence e \
         JOIN organisations o ON o.id = e.org_id \
         WHERE e.removed_at IS NULL AND e.expires_on <> '' AND e.expires_on <= $1 AND e.expires_on >= $2 \
         AND o.status = 'active' AND {} \
         AND NOT EXISTS (SELECT 1 FROM evidence n WHERE n.org_id = e.org_id AND n.kind = e.kind \
                         AND n.removed_at IS NULL AND n.expires_on > e.expires_on AND {}) \
         ORDER BY e.expires_on, o.legal_name, e.kind LIMIT $3",
        accepted("e"),
        accepted("n")
    ))
    .bind(day(now + 30 * DAY))
    .bind(day(now - 30 * DAY))
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?)
}

/// A reviewer accepts renewed evidence; clients suspended for the expired one are
/// restored by the sweep run that follows at once.
pub async fn accept(
    state: &AppState,
    reviewer: &AuthUser,
    client: &ClientInfo,
    evidence_id: &str,
) -> Result<()> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT org_id, kind, expires_on FROM evidence WHERE id = $1 AND removed_at IS NULL",
    )
    .bind(evidence_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((org_id, kind, expires_on)) = row else {
        return Err(Error::NotFound);
    };
    if let Some(reason) =
        crate::onboarding::review::conflict(state, &reviewer.email, &org_id).await?
    {
        return Err(Error::Forbidden(reason));
    }
    if time::parse_date(&expires_on).is_some_and(|t| t + 86_400 <= state.clock.now()) {
        return Err(Error::Conflict(
            "This document has expired itself: it cannot be accepted.".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let accepted = sqlx::query("UPDATE evidence SET accepted_at = $1, accepted_by = $2 WHERE id = $3 AND accepted_at IS NULL")
        .bind(now)
        .bind(&reviewer.id)
        .bind(evidence_id)
        .execute(&mut *tx)
        .await?;
    if accepted.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This evidence was already accepted.".into(),
        ));
    }
    audit::record(
        &mut tx,
        Event::new(reviewer.actor(), "governance.evidence_accepted")
            .client(client)
            .org(Some(&org_id))
            .resource("evidence", evidence_id)
            .details(json!({ "kind": kind, "expires_on": expires_on })),
    )
    .await?;
    crate::onboarding::service::notify_partner_admins(
        &mut tx,
        &org_id,
        "Your renewed evidence was accepted",
        &format!("A reviewer accepted your renewed {kind} evidence (valid until {expires_on}).\n"),
    )
    .await?;
    tx.commit().await?;
    sweep::run(state, now).await?;
    Ok(())
}

/// The organisation's evidence as re-attestation sees it: each document with its
/// kind, expiry and whether the bank relies on it (accepted) or has yet to accept it.
/// (kind, filename, expires_on, accepted)
pub async fn relied_on(
    state: &AppState,
    org_id: &str,
) -> Result<Vec<(String, String, String, bool)>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT e.kind, e.filename, e.expires_on, \
         CASE WHEN e.accepted_at IS NOT NULL OR e.uploaded_at <= (SELECT MAX(t.approved_at) FROM tier_approvals t WHERE t.org_id = e.org_id) THEN 1 ELSE 0 END \
         FROM evidence e WHERE e.org_id = $1 AND e.removed_at IS NULL ORDER BY e.kind, e.expires_on DESC, e.id",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(k, f, e, a)| (k, f, e, a == 1))
        .collect())
}
