//! Exceptions to a tier rule for one production client: explicit, temporary,
//! reviewable. A partner admin asks, with a reason and an end date at most 90 days
//! away; a bank approver (never a member of the organisation; with a step-up code)
//! grants or refuses. Granted exceptions show on the client, in the inventory and
//! on the register; the sweep warns before they end and lapses them at their end
//! date (the client is then suspended if it still breaks the rule). Renewing is a
//! new request and a new approval.

use serde_json::json;

use crate::accounts::totp;
use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;
use crate::platform::time;

use super::policy::MAX_EXCEPTION_DAYS;

pub const RULES: [(&str, &str); 3] = [
    (
        "client_secret",
        "A client secret where the tier requires a key or certificate",
    ),
    (
        "credential_lifetime",
        "A credential lifetime above the tier's maximum",
    ),
    (
        "ip_allowlist",
        "No IP allow-list where the tier requires one",
    ),
];

#[derive(Clone, Debug, serde::Serialize)]
pub struct Exception {
    pub id: String,
    pub org_id: String,
    pub organisation: String,
    pub app_id: String,
    pub client_name: String,
    pub rule: String,
    pub reason: String,
    pub ends_at: i64,
    pub status: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_reason: Option<String>,
    pub version: i64,
}

type ExceptionRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
);

const SELECT: &str = "SELECT e.id, e.org_id, o.legal_name, e.app_id, a.name, e.rule, e.reason, e.ends_at, e.status, \
     COALESCE(r.email, e.requested_by), e.requested_at, d.email, e.decided_at, e.decision_reason, e.version \
     FROM policy_exceptions e JOIN organisations o ON o.id = e.org_id JOIN apps a ON a.id = e.app_id \
     LEFT JOIN users r ON r.id = e.requested_by LEFT JOIN users d ON d.id = e.decided_by";

fn of(row: ExceptionRow) -> Exception {
    let (
        id,
        org_id,
        organisation,
        app_id,
        client_name,
        rule,
        reason,
        ends_at,
        status,
        requested_by,
        requested_at,
        decided_by,
        decided_at,
        decision_reason,
        version,
    ) = row;
    Exception {
        id,
        org_id,
        organisation,
        app_id,
        client_name,
        rule,
        reason,
        ends_at,
        status,
        requested_by,
        requested_at,
        decided_by,
        decided_at,
        decision_reason,
        version,
    }
}

/// The register: every exception (of one organisation, or one client), newest first.
pub async fn list(
    state: &AppState,
    org: Option<&str>,
    app: Option<&str>,
) -> Result<Vec<Exception>> {
    let rows: Vec<ExceptionRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE ($1 = '' OR e.org_id = $1) AND ($2 = '' OR e.app_id = $2) ORDER BY e.requested_at DESC, e.id DESC"
    ))
    .bind(org.unwrap_or_default())
    .bind(app.unwrap_or_default())
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(of).collect())
}

pub async fn get(state: &AppState, id: &str) -> Result<Exception> {
    let row: Option<ExceptionRow> = sqlx::query_as(&format!("{SELECT} WHERE e.id = $1"))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    row.map(of).ok_or(Error::NotFound)
}

/// A partner admin asks for an exception for one of their production clients.
pub async fn request(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    app_id: &str,
    rule: &str,
    reason: &str,
    ends_on: &str,
) -> Result<String> {
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let app = super::credentials::production_app(state, org_id, app_id).await?;
    if !app.is_active() {
        return Err(Error::Conflict(
            "This client is retired: it needs no exception.".into(),
        ));
    }
    let now = state.clock.now();
    let mut invalid = Invalid::new();
    if !RULES.iter().any(|(r, _)| *r == rule) {
        invalid.add("rule", "Choose the rule the exception is for.");
    }
    if reason.trim().is_empty() || reason.chars().count() > 1000 {
        invalid.add(
            "reason",
            "Explain why the exception is needed (at most 1000 characters).",
        );
    }
    let ends_at = match time::parse_date(ends_on.trim()) {
        // The end of the chosen day.
        Some(day) if day + 86_400 > now && day <= now + MAX_EXCEPTION_DAYS * 86_400 => {
            Some(day + 86_399)
        }
        Some(_) => {
            invalid.add("ends_on", format!("Choose an end date from tomorrow to at most {MAX_EXCEPTION_DAYS} days from today."));
            None
        }
        None => {
            invalid.add("ends_on", "Enter the end date as YYYY-MM-DD.");
            None
        }
    };
    invalid.into_result()?;
    let ends_at = ends_at.ok_or_else(|| Error::Internal("validated date missing".into()))?;
    let mut tx = state.db.begin().await?;
    // Requests for one client take turns (its row first), so two at once cannot both
    // count none pending (review finding L7).
    sqlx::query("UPDATE apps SET status = status WHERE id = $1")
        .bind(&app.id)
        .execute(&mut *tx)
        .await?;
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM policy_exceptions WHERE app_id = $1 AND rule = $2 AND status = 'pending'",
    )
    .bind(&app.id)
    .bind(rule)
    .fetch_one(&mut *tx)
    .await?;
    if pending > 0 {
        return Err(Error::Conflict(
            "An exception for this rule is already waiting for the bank's decision.".into(),
        ));
    }
    let id = ids::new_id("exc");
    sqlx::query(
        "INSERT INTO policy_exceptions (id, org_id, app_id, rule, reason, ends_at, status, requested_by, requested_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)",
    )
    .bind(&id)
    .bind(org_id)
    .bind(&app.id)
    .bind(rule)
    .bind(reason.trim())
    .bind(ends_at)
    .bind(&user.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "governance.exception_requested")
            .client(client)
            .org(Some(org_id))
            .resource("exception", &id)
            .details(json!({ "app_id": app.id, "rule": rule, "ends_at": ends_at, "reason": reason.trim() })),
    )
    .await?;
    let approvers: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE role = 'approver' AND status = 'active' ORDER BY email",
    )
    .fetch_all(&mut *tx)
    .await?;
    for email in approvers {
        crate::mail::enqueue(
            &mut tx,
            &email,
            "An exception waits for your decision",
            &format!(
                "{} asks for an exception ({rule}) for {} until {}.\n\nReason: {}\n\nDecide: {}\n",
                user.org_name.clone().unwrap_or_default(),
                app.name,
                time::display(ends_at),
                reason.trim(),
                state.settings.link(&format!("/governance/exceptions/{id}"))
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// A bank approver grants or refuses, with a reason and a step-up code.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    state: &AppState,
    approver: &AuthUser,
    client: &ClientInfo,
    id: &str,
    decision: &str,
    reason: &str,
    code: &str,
    version: &str,
) -> Result<()> {
    let exception = get(state, id).await?;
    if approver.org_id.is_some() {
        return Err(Error::Forbidden("Only the bank decides exceptions.".into()));
    }
    // Never a member of the organisation (review finding L5).
    if let Some(reason) =
        crate::onboarding::review::conflict(state, &approver.email, &exception.org_id).await?
    {
        return Err(Error::Forbidden(reason));
    }
    let mut invalid = Invalid::new();
    if decision != "grant" && decision != "refuse" {
        invalid.add("decision", "Choose grant or refuse.");
    }
    if reason.trim().is_empty() || reason.chars().count() > 1000 {
        invalid.add(
            "decision_reason",
            "Give the reason for your decision (at most 1000 characters).",
        );
    }
    if code.trim().is_empty() {
        invalid.add(
            "code",
            "Enter the current code from your authenticator app.",
        );
    }
    invalid.into_result()?;
    if exception.status != "pending" || version.trim() != exception.version.to_string() {
        return Err(Error::Conflict(
            "This exception was already decided, or changed since you opened it.".into(),
        ));
    }
    let now = state.clock.now();
    if decision == "grant" && exception.ends_at <= now {
        return Err(Error::Conflict(
            "The end date asked for has passed: the partner must ask again.".into(),
        ));
    }
    let tx = state.db.begin().await?;
    let mut tx = totp::step_up(state, tx, &approver.id, code, &client.ip).await?;
    let status = if decision == "grant" {
        "granted"
    } else {
        "refused"
    };
    let updated = sqlx::query(
        "UPDATE policy_exceptions SET status = $1, decided_by = $2, decided_at = $3, decision_reason = $4, version = version + 1 \
         WHERE id = $5 AND status = 'pending' AND version = $6",
    )
    .bind(status)
    .bind(&approver.id)
    .bind(now)
    .bind(reason.trim())
    .bind(id)
    .bind(exception.version)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This exception was already decided.".into(),
        ));
    }
    if status == "granted" {
        // A renewal replaces the exception it renews.
        sqlx::query(
            "UPDATE policy_exceptions SET status = 'lapsed', version = version + 1 WHERE app_id = $1 AND rule = $2 AND status = 'granted' AND id <> $3",
        )
        .bind(&exception.app_id)
        .bind(&exception.rule)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Compliance by exception: a suspension for a lapsed exception goes at once,
        // but only when no lapsed exception left uncovered still has the client
        // breaking its rule. A grant for one rule never lifts a suspension another
        // rule caused (review finding N3); otherwise the next sweep decides.
        if !breaks_an_uncovered_rule(state, &mut tx, &exception.app_id, now).await? {
            super::suspension::lift_for_rule(&mut tx, &exception.app_id, "exception_lapsed", now)
                .await?;
        }
    }
    audit::record(
        &mut tx,
        Event::new(approver.actor(), "governance.exception_decided")
            .client(client)
            .org(Some(&exception.org_id))
            .resource("exception", id)
            .details(json!({ "decision": status, "reason": reason.trim(), "rule": exception.rule, "app_id": exception.app_id, "ends_at": exception.ends_at, "step_up": true })),
    )
    .await?;
    crate::onboarding::service::notify_partner_admins(
        &mut tx,
        &exception.org_id,
        &format!("Your exception request was {status}"),
        &format!(
            "The bank {status} the exception ({}) for {} until {}.\n\nReason: {}\n\n{}\n",
            exception.rule,
            exception.client_name,
            time::display(exception.ends_at),
            reason.trim(),
            state
                .settings
                .link(&format!("/governance/clients/{}", exception.app_id))
        ),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}

/// Whether the client still breaks the rule of one of its lapsed exceptions that no
/// granted exception covers now.
async fn breaks_an_uncovered_rule(
    state: &AppState,
    tx: &mut Tx,
    app_id: &str,
    now: i64,
) -> Result<bool> {
    let lapsed: Vec<String> = sqlx::query_scalar(
        "SELECT e.id FROM policy_exceptions e WHERE e.app_id = $1 AND e.status = 'lapsed' \
         AND NOT EXISTS (SELECT 1 FROM policy_exceptions g WHERE g.app_id = e.app_id AND g.rule = e.rule \
             AND g.status = 'granted' AND g.ends_at > $2) \
         ORDER BY e.id",
    )
    .bind(app_id)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    for id in lapsed {
        if breaks_rule(state, tx, &id).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the client of exception `id` breaks the exception's rule right now.
pub async fn breaks_rule(state: &AppState, tx: &mut Tx, id: &str) -> Result<bool> {
    let row: Option<(String, String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT e.rule, a.id, a.auth_method, a.ip_allowlist, \
         COALESCE(r.tier, (SELECT MAX(t.tier) FROM tier_approvals t WHERE t.org_id = a.org_id)) FROM policy_exceptions e \
         JOIN apps a ON a.id = e.app_id LEFT JOIN access_requests r ON r.id = a.access_request_id WHERE e.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((rule, app_id, auth_method, ip_allowlist, tier)) = row else {
        return Ok(false);
    };
    let policy = super::policy::in_force(state).await?.policy;
    let requires_allowlist = policy.for_client("production", tier).require_ip_allowlist;
    let tier = match tier {
        Some(level) => Some(crate::onboarding::catalogue::tier(state, level).await?),
        None => None,
    };
    Ok(match rule.as_str() {
        "client_secret" => tier.is_some_and(|t| !t.client_auth.contains(&auth_method)),
        "credential_lifetime" => {
            let max = tier
                .map(|t| t.max_credential_days)
                .unwrap_or(i64::MAX / 86_400 / 2);
            let over: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM credentials WHERE app_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
                 AND expires_at - created_at > $3",
            )
            .bind(&app_id)
            .bind(state.clock.now())
            .bind(max * 86_400 + 3_600)
            .fetch_one(&mut **tx)
            .await?;
            over > 0
        }
        _ => requires_allowlist && ip_allowlist.trim().is_empty(),
    })
}
