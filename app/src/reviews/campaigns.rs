//! Creating a campaign: what it covers, its items frozen at the start, its first notice.

use serde_json::{json, Map, Value};

use crate::audit::{self, Actor, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;
use crate::platform::{ids, time};

pub const COVERAGE: [(&str, &str); 4] = [
    ("all", "Every production client"),
    ("tier", "The production clients of one tier"),
    ("organisation", "One organisation's production clients"),
    ("scope", "The production clients holding a scope"),
];

pub const OUTCOMES: [(&str, &str); 3] = [
    ("suspend", "Suspend the client"),
    (
        "suspend_then_revoke",
        "Suspend, then revoke after the grace period",
    ),
    ("none", "No change (recorded as unanswered)"),
];

const DAY: i64 = 86_400;

/// What a bank admin asks for.
#[derive(Clone, Debug, Default)]
pub struct NewCampaign {
    pub title: String,
    pub scope_kind: String,
    pub scope_value: String,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    /// Comma-separated: days before the due date, or `half` for half-time.
    pub reminders: String,
    pub on_unanswered: String,
    pub grace_days: String,
    pub period_days: String,
}

/// The default reminders: at half-time and 3 days before the due date.
pub const DEFAULT_REMINDERS: &str = "half, 3";

fn reminder_offsets(text: &str, starts_at: i64, due_at: i64) -> Option<Vec<i64>> {
    let mut offsets = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let offset = if part == "half" {
            (due_at - starts_at) / 2
        } else {
            let days: i64 = part.parse().ok().filter(|d| (1..=365).contains(d))?;
            days * DAY
        };
        if offset > 0 && offset < due_at - starts_at && !offsets.contains(&offset) {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable_by(|a, b| b.cmp(a));
    Some(offsets)
}

/// The active production clients a campaign of `kind` / `value` covers.
async fn covered(tx: &mut Tx, kind: &str, value: &str) -> Result<Vec<(String, String)>> {
    let base = "SELECT a.id, a.org_id FROM apps a JOIN organisations o ON o.id = a.org_id \
                WHERE a.environment = 'production' AND a.status = 'active' AND o.status = 'active'";
    let tier = "COALESCE((SELECT r.tier FROM access_requests r WHERE r.id = a.access_request_id), \
                (SELECT MAX(t.tier) FROM tier_approvals t WHERE t.org_id = a.org_id))";
    let sql = match kind {
        "tier" => format!("{base} AND {tier} = CAST($1 AS BIGINT) ORDER BY a.id"),
        "organisation" => format!("{base} AND a.org_id = $1 ORDER BY a.id"),
        "scope" => {
            format!("{base} AND (' ' || a.scopes || ' ') LIKE ('% ' || $1 || ' %') ORDER BY a.id")
        }
        _ => format!("{base} AND $1 = '' ORDER BY a.id"),
    };
    Ok(sqlx::query_as(&sql)
        .bind(value)
        .fetch_all(&mut **tx)
        .await?)
}

/// Freezes one client's item: scopes, last use per scope, owner, exceptions.
async fn add_item(
    tx: &mut Tx,
    campaign_id: &str,
    app_id: &str,
    org_id: &str,
    since: i64,
) -> Result<String> {
    let (scopes, owner_email, owner_status): (String, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT a.scopes, u.email, u.status FROM apps a LEFT JOIN users u ON u.id = a.owner_id WHERE a.id = $1",
        )
        .bind(app_id)
        .fetch_one(&mut **tx)
        .await?;
    let uses: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT scope, kind, last_at FROM scope_use WHERE app_id = $1")
            .bind(app_id)
            .fetch_all(&mut **tx)
            .await?;
    let mut last_use = Map::new();
    let mut unused = Vec::new();
    for scope in scopes.split(' ').filter(|s| !s.is_empty()) {
        let at = |kind: &str| {
            uses.iter()
                .find(|(s, k, _)| s == scope && k == kind)
                .map(|(_, _, at)| *at)
        };
        let (call, token) = (at("call"), at("token"));
        if call.max(token).is_none_or(|at| at < since) {
            unused.push(scope.to_string());
        }
        last_use.insert(scope.to_string(), json!({ "call": call, "token": token }));
    }
    let exceptions: Vec<String> = sqlx::query_scalar(
        "SELECT rule FROM policy_exceptions WHERE app_id = $1 AND status = 'granted' ORDER BY rule",
    )
    .bind(app_id)
    .fetch_all(&mut **tx)
    .await?;
    let owner = match (owner_email, owner_status.as_deref()) {
        (Some(email), Some("active")) => email,
        (Some(email), _) => format!("no owner ({email} has left)"),
        _ => "no owner".into(),
    };
    let id = ids::new_id("rvi");
    sqlx::query(
        "INSERT INTO review_items (id, campaign_id, org_id, app_id, scopes, unused_scopes, last_use, owner_label, exceptions, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'awaiting_partner')",
    )
    .bind(&id)
    .bind(campaign_id)
    .bind(org_id)
    .bind(app_id)
    .bind(&scopes)
    .bind(unused.join(" "))
    .bind(Value::Object(last_use).to_string())
    .bind(owner)
    .bind(json!(exceptions).to_string())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// A campaign ready to insert.
pub(super) struct Planned<'a> {
    pub title: &'a str,
    pub scope_kind: &'a str,
    pub scope_value: &'a str,
    pub period_days: i64,
    pub due_at: i64,
    pub reminders: Vec<i64>,
    pub on_unanswered: &'a str,
    pub grace_days: i64,
    pub recurring: Option<(i64, &'a str)>,
}

/// Inserts the campaign and its items in `tx`; `None` when a recurring campaign of
/// that period exists already (another instance made it).
pub(super) async fn insert(
    state: &AppState,
    tx: &mut Tx,
    plan: &Planned<'_>,
    actor: Actor,
    client: Option<&ClientInfo>,
    created_by: &str,
    now: i64,
) -> Result<Option<(String, usize)>> {
    let apps = covered(tx, plan.scope_kind, plan.scope_value).await?;
    if apps.is_empty() {
        return Err(Error::Invalid(Invalid::field(
            "scope_value",
            "This campaign would cover no active production client.",
        )));
    }
    let id = ids::new_id("rvc");
    let inserted = sqlx::query(
        "INSERT INTO review_campaigns (id, title, scope_kind, scope_value, period_days, starts_at, due_at, reminders, \
         on_unanswered, grace_days, recurring_tier, period, status, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', $13, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(plan.title)
    .bind(plan.scope_kind)
    .bind(plan.scope_value)
    .bind(plan.period_days)
    .bind(now)
    .bind(plan.due_at)
    .bind(json!(plan.reminders).to_string())
    .bind(plan.on_unanswered)
    .bind(plan.grace_days)
    .bind(plan.recurring.map(|r| r.0))
    .bind(plan.recurring.map(|r| r.1))
    .bind(created_by)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Ok(None);
    }
    let since = now - plan.period_days * DAY;
    let mut orgs: Vec<String> = Vec::new();
    for (app_id, org_id) in &apps {
        add_item(tx, &id, app_id, org_id, since).await?;
        if !orgs.contains(org_id) {
            orgs.push(org_id.clone());
        }
    }
    let mut event = Event::new(actor, "review.campaign_created").resource("review_campaign", &id);
    if let Some(client) = client {
        event = event.client(client);
    }
    audit::record(
        tx,
        event.details(json!({
            "title": plan.title, "covers": { "kind": plan.scope_kind, "value": plan.scope_value },
            "due_at": time::rfc3339(plan.due_at), "items": apps.len(), "organisations": orgs.len(),
            "on_unanswered": plan.on_unanswered, "recurring_tier": plan.recurring.map(|r| r.0),
        })),
    )
    .await?;
    for org in &orgs {
        crate::onboarding::service::notify_partner_admins(
            tx,
            org,
            "An access review is due",
            &format!(
                "The bank asks you to confirm that your production clients still need their access: {}.\n\n\
                 Answer by {}. For each client, say whether it is still needed and which scopes it keeps, with a reason for each. \
                 Scopes unused in the last {} days are marked for removal.\n\n{}\n",
                plan.title,
                time::display(plan.due_at),
                plan.period_days,
                state.settings.link("/reviews")
            ),
        )
        .await?;
    }
    Ok(Some((id, apps.len())))
}

/// A bank admin creates a campaign. Returns its id.
pub async fn create(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    form: &NewCampaign,
) -> Result<String> {
    let now = state.clock.now();
    let mut invalid = Invalid::new();
    let title = form.title.trim();
    invalid.text("title", title, "Give the campaign a title", 200);
    if !COVERAGE.iter().any(|(k, _)| *k == form.scope_kind) {
        invalid.add("scope_kind", "Choose what the campaign covers.");
    }
    let value = form.scope_value.trim();
    match form.scope_kind.as_str() {
        "tier" if !matches!(value, "1" | "2" | "3") => {
            invalid.add("scope_value", "Name the tier: 1, 2 or 3.")
        }
        "organisation" | "scope" if value.is_empty() => invalid.add(
            "scope_value",
            "Name the organisation (its id, org_…) or the scope.",
        ),
        _ => {}
    }
    let due_at = time::parse_date(form.due_date.trim()).map(|d| d + DAY - 1);
    match due_at {
        None => invalid.add("due_date", "Enter the due date as YYYY-MM-DD."),
        Some(due) if due <= now + DAY => {
            invalid.add("due_date", "The due date must be at least a day from now.")
        }
        Some(due) if due > now + 366 * DAY => {
            invalid.add("due_date", "The due date must be within a year.")
        }
        _ => {}
    }
    let reminders = match due_at {
        Some(due) => reminder_offsets(&form.reminders, now, due),
        None => Some(Vec::new()),
    };
    if reminders.is_none() {
        invalid.add(
            "reminders",
            "Reminders are days before the due date (1 to 365) or 'half', separated by commas.",
        );
    }
    if !OUTCOMES.iter().any(|(k, _)| *k == form.on_unanswered) {
        invalid.add(
            "on_unanswered",
            "Choose what happens to an unanswered item.",
        );
    }
    let grace_days = if form.grace_days.trim().is_empty() {
        Some(14)
    } else {
        form.grace_days
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=90).contains(d))
    };
    if grace_days.is_none() {
        invalid.add("grace_days", "The grace period is 1 to 90 days.");
    }
    let period_days = if form.period_days.trim().is_empty() {
        Some(90)
    } else {
        form.period_days
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|d| (7..=730).contains(d))
    };
    if period_days.is_none() {
        invalid.add("period_days", "The review period is 7 to 730 days.");
    }
    invalid.into_result()?;
    let (Some(due_at), Some(reminders), Some(grace_days), Some(period_days)) =
        (due_at, reminders, grace_days, period_days)
    else {
        return Err(Error::Internal("campaign fields checked above".into()));
    };
    if form.scope_kind == "scope"
        && !crate::onboarding::catalogue::scopes(state)
            .await?
            .iter()
            .any(|s| s.scope == value)
    {
        return Err(Error::Invalid(Invalid::field(
            "scope_value",
            "No scope of the catalogue has that name.",
        )));
    }
    let mut tx = state.db.begin().await?;
    let plan = Planned {
        title,
        scope_kind: &form.scope_kind,
        scope_value: if form.scope_kind == "all" { "" } else { value },
        period_days,
        due_at,
        reminders,
        on_unanswered: &form.on_unanswered,
        grace_days,
        recurring: None,
    };
    let created = insert(
        state,
        &mut tx,
        &plan,
        admin.actor(),
        Some(client),
        &admin.id,
        now,
    )
    .await?;
    let Some((id, _)) = created else {
        return Err(Error::Conflict("This campaign exists already.".into()));
    };
    tx.commit().await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_are_offsets_before_the_due_date() {
        let (start, due) = (0, 30 * DAY);
        assert_eq!(
            reminder_offsets("half, 3", start, due),
            Some(vec![15 * DAY, 3 * DAY])
        );
        assert_eq!(reminder_offsets("", start, due), Some(vec![]));
        assert_eq!(reminder_offsets("3, 3", start, due), Some(vec![3 * DAY]));
        // A reminder before the start is dropped; nonsense is refused.
        assert_eq!(reminder_offsets("40", start, due), Some(vec![]));
        assert_eq!(reminder_offsets("soon", start, due), None);
        assert_eq!(reminder_offsets("0", start, due), None);
    }
}
