//! Offboarding: ending a partner relationship in one action, completely, with proof.
//!
//! A bank admin offboards an organisation with a reason and a step-up code (or
//! confirms a partner admin's request to close it). In the transaction that accepts
//! the action, an organisation-wide suspension is taken (the governance kill switch),
//! so from that moment no token of the organisation is valid anywhere, before
//! anything is revoked. The job (`job`) then ends, step by step and in small
//! transactions, every member's account and sessions, every client and credential,
//! every refresh token, authorization code and consent, every open onboarding or
//! production request, the organisation's queued e-mails and its sandbox dataset, and
//! finally writes the signed evidence pack. Each step's work is a conditional update
//! recorded in `offboarding_actions` with its audit event, so a job that dies half-way
//! (even `kill -9`) is resumed on the next start, or by the scheduler, and finishes
//! with the same end state; two instances running it never do anything twice.

pub mod demo;
pub mod handlers;
pub mod job;
mod pages;
pub mod retention;

use serde_json::json;

use crate::accounts::totp;
use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

/// An offboarding, as the pages show it.
#[derive(Clone, Debug)]
pub struct Offboarding {
    pub id: String,
    pub org_id: String,
    pub organisation: String,
    pub status: String,
    pub reason: String,
    pub requested_by: Option<String>,
    pub requested_at: i64,
    pub accepted_by: Option<String>,
    pub accepted_at: Option<i64>,
    pub declined_reason: Option<String>,
    pub step: String,
    pub finished_at: Option<i64>,
    pub pack_id: Option<String>,
    pub actions: i64,
}

type Raw = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    String,
    Option<i64>,
    Option<String>,
    i64,
);

const SELECT: &str =
    "SELECT o.id, o.org_id, g.legal_name, o.status, o.reason, r.email, o.requested_at, \
     a.email, o.accepted_at, o.declined_reason, o.step, o.finished_at, o.pack_id, \
     (SELECT COUNT(*) FROM offboarding_actions x WHERE x.offboarding_id = o.id) \
     FROM offboardings o JOIN organisations g ON g.id = o.org_id \
     LEFT JOIN users r ON r.id = o.requested_by LEFT JOIN users a ON a.id = o.accepted_by";

fn from_raw(r: Raw) -> Offboarding {
    Offboarding {
        id: r.0,
        org_id: r.1,
        organisation: r.2,
        status: r.3,
        reason: r.4,
        requested_by: r.5,
        requested_at: r.6,
        accepted_by: r.7,
        accepted_at: r.8,
        declined_reason: r.9,
        step: r.10,
        finished_at: r.11,
        pack_id: r.12,
        actions: r.13,
    }
}

/// Every offboarding, newest first (the bank's page).
pub async fn list(state: &AppState) -> Result<Vec<Offboarding>> {
    let rows: Vec<Raw> =
        sqlx::query_as(&format!("{SELECT} ORDER BY o.requested_at DESC, o.id DESC"))
            .fetch_all(&state.db.pool)
            .await?;
    Ok(rows.into_iter().map(from_raw).collect())
}

/// One offboarding, or `NotFound`.
pub async fn get(state: &AppState, id: &str) -> Result<Offboarding> {
    let row: Option<Raw> = sqlx::query_as(&format!("{SELECT} WHERE o.id = $1"))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    row.map(from_raw).ok_or(Error::NotFound)
}

/// The organisation's offboarding that is asked for, running or done, if any.
pub async fn of_org(state: &AppState, org_id: &str) -> Result<Option<Offboarding>> {
    let row: Option<Raw> = sqlx::query_as(&format!(
        "{SELECT} WHERE o.org_id = $1 AND o.status <> 'declined'"
    ))
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row.map(from_raw))
}

const REASON_MAX: usize = 1000;

fn check_reason(invalid: &mut Invalid, field: &str, reason: &str) {
    invalid.text(field, reason, "Give the reason", REASON_MAX);
    if reason
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        invalid.add(field, "The reason contains control characters.");
    }
}

fn already() -> Error {
    Error::Conflict(
        "This organisation is already being offboarded (or was): nothing was changed.".into(),
    )
}

/// A partner admin asks the bank to close their organisation.
pub async fn ask(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    reason: &str,
) -> Result<String> {
    let org_id = admin.org_id.as_deref().ok_or(Error::NotFound)?;
    let mut invalid = Invalid::new();
    check_reason(&mut invalid, "reason", reason);
    invalid.into_result()?;
    if of_org(state, org_id).await?.is_some() {
        return Err(already());
    }
    let now = state.clock.now();
    let id = ids::new_id("off");
    let mut tx = state.db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO offboardings (id, org_id, status, reason, requested_by, requested_at) \
         VALUES ($1, $2, 'requested', $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(org_id)
    .bind(reason.trim())
    .bind(&admin.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Err(already());
    }
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "offboarding.requested")
            .client(client)
            .org(Some(org_id))
            .resource("offboarding", &id)
            .details(json!({ "reason": reason.trim() })),
    )
    .await?;
    notify_bank_admins(
        &mut tx,
        "A partner asked to close its organisation",
        &format!(
            "{} asked to close {}.\n\nReason: {}\n\nConfirm or decline: {}\n",
            admin.email,
            admin.org_name.clone().unwrap_or_default(),
            reason.trim(),
            state.settings.link(&format!("/offboarding/bank/{id}"))
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn notify_bank_admins(
    tx: &mut crate::platform::db::Tx,
    subject: &str,
    body: &str,
) -> Result<()> {
    let admins: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE role = 'admin' AND status = 'active' ORDER BY email",
    )
    .fetch_all(&mut **tx)
    .await?;
    for email in admins {
        crate::mail::enqueue(tx, &email, subject, body).await?;
    }
    Ok(())
}

/// A bank admin offboards `org_id` (confirming the partner's request, if there is
/// one), with a reason and a step-up code. Returns the offboarding's id; the job is
/// started by the caller ([`job::spawn`]).
pub async fn start(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    org_id: &str,
    reason: &str,
    code: &str,
) -> Result<String> {
    let mut invalid = Invalid::new();
    check_reason(&mut invalid, "reason", reason);
    if code.trim().is_empty() {
        invalid.add(
            "code",
            "Enter the current code from your authenticator app.",
        );
    }
    invalid.into_result()?;
    let org: Option<(String, String)> =
        sqlx::query_as("SELECT legal_name, status FROM organisations WHERE id = $1")
            .bind(org_id)
            .fetch_optional(&state.db.pool)
            .await?;
    let Some((_, org_status)) = org else {
        return Err(Error::NotFound);
    };
    let existing = of_org(state, org_id).await?;
    if org_status != "active" || existing.as_ref().is_some_and(|o| o.status != "requested") {
        return Err(already());
    }
    let tx = state.db.begin().await?;
    let tx = totp::step_up(state, tx, &admin.id, code, &client.ip).await?;
    accept(
        state,
        tx,
        (&admin.id, admin.actor(), Some(client)),
        org_id,
        reason,
        existing.as_ref().map(|o| o.id.as_str()),
    )
    .await
}

/// Accepts an offboarding in `tx` (after the caller's checks): the organisation's
/// suspension and the offboarding, running, with its first audit event.
pub(crate) async fn accept(
    state: &AppState,
    mut tx: crate::platform::db::Tx,
    (admin_id, actor, client): (&str, crate::audit::Actor, Option<&ClientInfo>),
    org_id: &str,
    reason: &str,
    requested: Option<&str>,
) -> Result<String> {
    let now = state.clock.now();
    let legal_name: String =
        sqlx::query_scalar("SELECT legal_name FROM organisations WHERE id = $1")
            .bind(org_id)
            .fetch_one(&mut *tx)
            .await?;
    let suspension = ids::new_id("sus");
    sqlx::query(
        "INSERT INTO suspensions (id, target_kind, target, origin, reason, created_by, created_at) \
         VALUES ($1, 'organisation', $2, 'manual', $3, $4, $5)",
    )
    .bind(&suspension)
    .bind(org_id)
    .bind(format!("Offboarding: {}", reason.trim()))
    .bind(admin_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let id = match requested {
        Some(requested) => {
            let confirmed = sqlx::query(
                "UPDATE offboardings SET status = 'running', accepted_by = $1, accepted_at = $2, suspension_id = $3, \
                 reason = reason || ' (confirmed by the bank: ' || $4 || ')' WHERE id = $5 AND status = 'requested'",
            )
            .bind(admin_id)
            .bind(now)
            .bind(&suspension)
            .bind(reason.trim())
            .bind(requested)
            .execute(&mut *tx)
            .await?;
            if confirmed.rows_affected() != 1 {
                return Err(already());
            }
            requested.to_string()
        }
        None => {
            let id = ids::new_id("off");
            let inserted = sqlx::query(
                "INSERT INTO offboardings (id, org_id, status, reason, requested_by, requested_at, accepted_by, accepted_at, suspension_id) \
                 VALUES ($1, $2, 'running', $3, $4, $5, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(org_id)
            .bind(reason.trim())
            .bind(admin_id)
            .bind(now)
            .bind(&suspension)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() != 1 {
                return Err(already());
            }
            id
        }
    };
    let mut event = Event::new(actor, "offboarding.started")
        .org(Some(org_id))
        .resource("offboarding", &id);
    if let Some(client) = client {
        event = event.client(client);
    }
    let event = audit::record(
        &mut tx,
        event.details(json!({
            "organisation": legal_name, "reason": reason.trim(), "suspension": suspension,
            "step_up": client.is_some(), "confirms_request": requested.is_some(),
        })),
    )
    .await?;
    sqlx::query(
        "INSERT INTO offboarding_actions (offboarding_id, kind, target_id, label, done_at, audit_event_id) \
         VALUES ($1, 'suspension', $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(&suspension)
    .bind(format!("every client of {legal_name} suspended"))
    .bind(now)
    .bind(&event)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(id)
}

/// A bank admin declines a partner's request to close its organisation.
pub async fn decline(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    id: &str,
    reason: &str,
) -> Result<()> {
    let offboarding = get(state, id).await?;
    let mut invalid = Invalid::new();
    check_reason(&mut invalid, "decline_reason", reason);
    invalid.into_result()?;
    let mut tx = state.db.begin().await?;
    let declined = sqlx::query(
        "UPDATE offboardings SET status = 'declined', declined_reason = $1, accepted_by = $2, accepted_at = $3 \
         WHERE id = $4 AND status = 'requested'",
    )
    .bind(reason.trim())
    .bind(&admin.id)
    .bind(state.clock.now())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if declined.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This request was already confirmed or declined.".into(),
        ));
    }
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "offboarding.declined")
            .client(client)
            .org(Some(&offboarding.org_id))
            .resource("offboarding", id)
            .details(json!({ "reason": reason.trim() })),
    )
    .await?;
    crate::onboarding::service::notify_partner_admins(
        &mut tx,
        &offboarding.org_id,
        "Your request to close your organisation was declined",
        &format!(
            "The bank declined the request to close {}.\n\nReason: {}\n",
            offboarding.organisation,
            reason.trim()
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One thing an offboarding ended: (kind, target, label, when, audit event).
pub type Action = (String, String, String, i64, String);

/// Every action of an offboarding, in the order done (its page and its pack).
pub async fn actions<'e, E>(db: E, id: &str) -> Result<Vec<Action>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    Ok(sqlx::query_as(
        "SELECT kind, target_id, label, done_at, audit_event_id FROM offboarding_actions \
         WHERE offboarding_id = $1 ORDER BY done_at, kind, target_id",
    )
    .bind(id)
    .fetch_all(db)
    .await?)
}

/// Offboarding's periodic jobs: resuming offboardings a stopped process left
/// half-done, and deleting offboarded organisations' evidence files after the
/// retention the bank set.
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    use crate::platform::state::AppState;
    vec![
        crate::job!(
            "offboarding_resume",
            60,
            |state: AppState, _now| async move {
                let finished = job::resume(&state).await?;
                Ok(serde_json::json!({ "finished": finished }))
            }
        ),
        crate::job!(
            "evidence_retention",
            3600,
            |state: AppState, now| async move {
                let purged = retention::purge(&state, now).await?;
                Ok(serde_json::json!({ "purged": purged }))
            }
        ),
    ]
}
