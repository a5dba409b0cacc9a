//! The kill switch: a bank admin suspends, at once and reversibly, one client,
//! every client of an organisation, every client holding a scope, or a whole
//! issuer. While suspended, the token endpoint refuses the client
//! (`invalid_client`), its tokens introspect `{"active":false}` and the sandbox API
//! refuses them (`platform::kill_switch` is the read side). Lifting a manual
//! suspension takes a second bank user: never the one who suspended.
//!
//! The sweep takes suspensions of its own (no owner, lapsed exception, expired
//! evidence); those are lifted when the cause is cured, not by hand.

use serde_json::json;

use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

pub const TARGET_KINDS: [(&str, &str); 4] = [
    ("client", "One client"),
    ("organisation", "Every client of an organisation"),
    ("scope", "Every client holding a scope"),
    ("issuer", "A whole issuer (sandbox or production)"),
];

/// A suspension as the pages show it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Listed {
    pub id: String,
    pub target_kind: String,
    pub target: String,
    /// The client's or organisation's name, when the target is one.
    pub target_label: String,
    pub origin: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
    pub lifted_at: Option<i64>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

type ListedRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Suspensions, open first then the most recently lifted (`limit` of them).
pub async fn list(state: &AppState, org: Option<&str>, limit: i64) -> Result<Vec<Listed>> {
    let rows: Vec<ListedRow> = sqlx::query_as(
        "SELECT s.id, s.target_kind, s.target, s.origin, s.reason, \
                COALESCE(u.email, s.created_by), s.created_at, s.lifted_at, COALESCE(l.email, s.lifted_by), s.lift_reason, \
                COALESCE(a.name, o.legal_name) \
         FROM suspensions s \
         LEFT JOIN users u ON u.id = s.created_by LEFT JOIN users l ON l.id = s.lifted_by \
         LEFT JOIN apps a ON s.target_kind = 'client' AND a.id = s.target \
         LEFT JOIN organisations o ON s.target_kind = 'organisation' AND o.id = s.target \
         WHERE ($1 = '' OR (s.target_kind = 'client' AND a.org_id = $1) OR (s.target_kind = 'organisation' AND s.target = $1) \
                OR s.target_kind IN ('scope', 'issuer')) \
         ORDER BY CASE WHEN s.lifted_at IS NULL THEN 0 ELSE 1 END, s.created_at DESC, s.id DESC LIMIT $2",
    )
    .bind(org.unwrap_or_default())
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                target_kind,
                target,
                origin,
                reason,
                created_by,
                created_at,
                lifted_at,
                lifted_by,
                lift_reason,
                label,
            )| Listed {
                target_label: label.unwrap_or_else(|| target.clone()),
                id,
                target_kind,
                target,
                origin,
                reason,
                created_by,
                created_at,
                lifted_at,
                lifted_by,
                lift_reason,
            },
        )
        .collect())
}

fn check_reason(invalid: &mut Invalid, field: &str, reason: &str) {
    if reason.trim().is_empty() || reason.chars().count() > 500 {
        invalid.add(field, "Give the reason (at most 500 characters).");
    }
}

/// The organisations a suspension reaches (their admins are told).
async fn reached_orgs(tx: &mut Tx, kind: &str, target: &str) -> Result<Vec<String>> {
    let sql = match kind {
        "client" => "SELECT DISTINCT org_id FROM apps WHERE id = $1",
        "organisation" => "SELECT id FROM organisations WHERE id = $1",
        "issuer" => "SELECT DISTINCT org_id FROM apps WHERE environment = $1 AND status = 'active'",
        _ => "SELECT DISTINCT org_id FROM apps WHERE status = 'active' AND (' ' || scopes || ' ') LIKE ('% ' || $1 || ' %')",
    };
    Ok(sqlx::query_scalar(sql)
        .bind(target)
        .fetch_all(&mut **tx)
        .await?)
}

/// A bank admin suspends what `kind` and `target` name, with a reason. Effective at
/// once, on every instance.
pub async fn suspend(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    kind: &str,
    target: &str,
    reason: &str,
) -> Result<String> {
    let mut tx = state.db.begin().await?;
    let id = suspend_in(state, &mut tx, admin, client, kind, target, reason).await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(id)
}

/// `suspend` inside the caller's transaction (an incident's containment records the
/// suspension and its entry together). The caller commits, then calls
/// `state.oauth().cache.changed()`.
pub async fn suspend_in(
    state: &AppState,
    tx: &mut Tx,
    admin: &AuthUser,
    client: &ClientInfo,
    kind: &str,
    target: &str,
    reason: &str,
) -> Result<String> {
    let target = target.trim();
    let mut invalid = Invalid::new();
    if !TARGET_KINDS.iter().any(|(k, _)| *k == kind) {
        invalid.add("target_kind", "Choose what to suspend.");
    }
    check_reason(&mut invalid, "reason", reason);
    let exists = match kind {
        "client" => sqlx::query_scalar::<_, String>(
            "SELECT id FROM apps WHERE id = $1 AND status = 'active'",
        )
        .bind(target)
        .fetch_optional(&state.db.pool)
        .await?
        .is_some(),
        "organisation" => {
            sqlx::query_scalar::<_, String>("SELECT id FROM organisations WHERE id = $1")
                .bind(target)
                .fetch_optional(&state.db.pool)
                .await?
                .is_some()
        }
        "scope" => crate::onboarding::catalogue::scopes(state)
            .await?
            .iter()
            .any(|s| s.scope == target),
        "issuer" => target == "sandbox" || target == "production",
        _ => true,
    };
    if !exists {
        invalid.add(
            "target",
            "No active client, organisation, scope or issuer has that id.",
        );
    }
    invalid.into_result()?;
    let now = state.clock.now();
    let id = ids::new_id("sus");
    sqlx::query(
        "INSERT INTO suspensions (id, target_kind, target, origin, reason, created_by, created_at) \
         VALUES ($1, $2, $3, 'manual', $4, $5, $6)",
    )
    .bind(&id)
    .bind(kind)
    .bind(target)
    .bind(reason.trim())
    .bind(&admin.id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let orgs = reached_orgs(tx, kind, target).await?;
    for org in &orgs {
        audit::record(
            tx,
            Event::new(admin.actor(), "governance.suspended")
                .client(client)
                .org(Some(org))
                .resource("suspension", &id)
                .details(json!({ "target_kind": kind, "target": target, "reason": reason.trim() })),
        )
        .await?;
        crate::onboarding::service::notify_partner_admins(
            tx,
            org,
            "Your API access is suspended",
            &format!(
                "The bank suspended {} of your organisation's API access.\n\nReason: {}\n\nTokens are refused until the suspension is lifted. See why on your inventory: {}\n",
                describe(kind, target),
                reason.trim(),
                state.settings.link("/governance/inventory")
            ),
        )
        .await?;
        crate::webhooks::emit(
            tx,
            org,
            "client.suspended",
            json!({ "suspension_id": id, "target_kind": kind, "target": target, "reason": reason.trim() }),
            now,
        )
        .await?;
    }
    if orgs.is_empty() {
        audit::record(
            tx,
            Event::new(admin.actor(), "governance.suspended")
                .client(client)
                .resource("suspension", &id)
                .details(json!({ "target_kind": kind, "target": target, "reason": reason.trim() })),
        )
        .await?;
    }
    Ok(id)
}

fn describe(kind: &str, target: &str) -> String {
    match kind {
        "client" => format!("client {target}"),
        "organisation" => "every client".to_string(),
        "scope" => format!("every client holding the {target} scope"),
        _ => format!("every {target} client"),
    }
}

/// A second bank admin lifts a manual suspension, with a reason.
pub async fn lift(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    id: &str,
    reason: &str,
) -> Result<()> {
    let row: Option<(String, String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT target_kind, target, origin, created_by, lifted_at FROM suspensions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((kind, target, origin, created_by, lifted_at)) = row else {
        return Err(Error::NotFound);
    };
    if lifted_at.is_some() {
        return Err(Error::Conflict(
            "This suspension was already lifted.".into(),
        ));
    }
    if origin != "manual" {
        return Err(Error::Conflict(
            "The sweep took this suspension; it is lifted when its cause is cured (a new owner, accepted evidence, compliance).".into(),
        ));
    }
    let offboarding: Option<String> =
        sqlx::query_scalar("SELECT id FROM offboardings WHERE suspension_id = $1")
            .bind(id)
            .fetch_optional(&state.db.pool)
            .await?;
    if offboarding.is_some() {
        return Err(Error::Conflict(
            "This suspension belongs to an offboarding: it is never lifted.".into(),
        ));
    }
    if created_by == admin.id {
        return Err(Error::Forbidden(
            "A second bank user must lift a suspension: you took this one.".into(),
        ));
    }
    let mut invalid = Invalid::new();
    check_reason(&mut invalid, "lift_reason", reason);
    invalid.into_result()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let lifted = sqlx::query(
        "UPDATE suspensions SET lifted_at = $1, lifted_by = $2, lift_reason = $3 WHERE id = $4 AND lifted_at IS NULL",
    )
    .bind(now)
    .bind(&admin.id)
    .bind(reason.trim())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if lifted.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This suspension was already lifted.".into(),
        ));
    }
    let orgs = reached_orgs(&mut tx, &kind, &target).await?;
    for org in orgs.iter().map(Some).chain(orgs.is_empty().then_some(None)) {
        audit::record(
            &mut tx,
            Event::new(admin.actor(), "governance.suspension_lifted")
                .client(client)
                .org(org.map(String::as_str))
                .resource("suspension", id)
                .details(json!({ "target_kind": kind, "target": target, "reason": reason.trim(), "suspended_by": created_by })),
        )
        .await?;
        if let Some(org) = org {
            crate::onboarding::service::notify_partner_admins(
                &mut tx,
                org,
                "Your API access is restored",
                &format!(
                    "The bank lifted the suspension of {}.\n\nReason: {}\n",
                    describe(&kind, &target),
                    reason.trim()
                ),
            )
            .await?;
        }
    }
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}

/// The sweep suspends one client for a rule (once: a second open suspension for the
/// same client and rule is refused by the database).
pub async fn suspend_for_rule(
    tx: &mut Tx,
    app_id: &str,
    origin: &str,
    reason: &str,
    now: i64,
) -> Result<bool> {
    let taken = sqlx::query(
        "INSERT INTO suspensions (id, target_kind, target, origin, reason, created_by, created_at) \
         VALUES ($1, 'client', $2, $3, $4, 'governance sweep', $5) ON CONFLICT DO NOTHING",
    )
    .bind(ids::new_id("sus"))
    .bind(app_id)
    .bind(origin)
    .bind(reason)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    // False when the client already had a suspension of this origin.
    Ok(taken.rows_affected() == 1)
}

/// Lifts the client's open suspension for a rule whose cause is cured.
pub async fn lift_for_rule(tx: &mut Tx, app_id: &str, origin: &str, now: i64) -> Result<u64> {
    let lifted = sqlx::query(
        "UPDATE suspensions SET lifted_at = $1, lifted_by = 'governance sweep', lift_reason = 'the cause was cured' \
         WHERE target_kind = 'client' AND target = $2 AND origin = $3 AND lifted_at IS NULL",
    )
    .bind(now)
    .bind(app_id)
    .bind(origin)
    .execute(&mut **tx)
    .await?;
    Ok(lifted.rows_affected())
}
