//! Access reviews (re-certification): on a fixed cadence, every production client's
//! access is shown to be still needed, or it goes.
//!
//! A bank admin creates a campaign over the production clients it covers (all, one
//! tier, one organisation, or the holders of a scope), with a due date, reminders and
//! what happens to an item nobody answered. Each item is one client, frozen at the
//! start: its scopes, when each was last used (from the request log's `scope_use`),
//! its owner and open exceptions. Scopes with no use in the review period are
//! pre-marked for removal. The partner admin attests (narrowing takes effect at once;
//! widening is not possible here), then a bank reviewer confirms, narrows or revokes.
//! The `schedule` sends the reminders (each once), applies the outcome at the due
//! date, creates the recurring campaigns per tier, and closes a finished campaign with
//! its report and signed evidence pack.

pub mod campaigns;
pub mod demo;
pub mod handlers;
pub mod items;
mod pages;
mod pages_partner;
pub mod report;
pub mod schedule;

use serde::Serialize;
use serde_json::Value;

use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

/// A campaign, as the pages show it.
#[derive(Clone, Debug, Serialize)]
pub struct Campaign {
    pub id: String,
    pub title: String,
    pub scope_kind: String,
    pub scope_value: String,
    pub period_days: i64,
    pub starts_at: i64,
    pub due_at: i64,
    /// Seconds before the due date at which reminders go out.
    pub reminders: Vec<i64>,
    pub on_unanswered: String,
    pub grace_days: i64,
    pub recurring_tier: Option<i64>,
    pub period: Option<String>,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    pub pack_id: Option<String>,
}

/// One client under review.
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    pub id: String,
    pub campaign_id: String,
    pub org_id: String,
    pub organisation: String,
    pub app_id: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub unused_scopes: Vec<String>,
    /// Per scope: `{"call": ts|null, "token": ts|null}`.
    pub last_use: Value,
    pub owner_label: String,
    pub exceptions: Vec<String>,
    pub state: String,
    pub still_needed: Option<bool>,
    pub kept_scopes: Option<Vec<String>>,
    /// Per kept scope, the partner's justification.
    pub justifications: Value,
    pub attested_by: Option<String>,
    pub attested_at: Option<i64>,
    pub bank_decision: Option<String>,
    pub bank_note: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub resulting_scopes: Option<Vec<String>>,
    pub outcome: Option<String>,
    pub revoke_due_at: Option<i64>,
    pub version: i64,
    /// The campaign's due date, and whether it is still open.
    pub due_at: i64,
    pub campaign_open: bool,
}

pub const STATES: [(&str, &str); 6] = [
    ("awaiting_partner", "Awaiting the partner"),
    ("awaiting_bank", "Awaiting the bank"),
    ("confirmed", "Confirmed"),
    ("narrowed", "Narrowed"),
    ("revoked", "Revoked"),
    ("unanswered", "Unanswered"),
];

pub fn state_label(state: &str) -> &'static str {
    STATES
        .iter()
        .find(|(s, _)| *s == state)
        .map(|(_, l)| *l)
        .unwrap_or("Unknown")
}

fn words(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

const CAMPAIGN_COLUMNS: &str = "id, title, scope_kind, scope_value, period_days, starts_at, due_at, reminders, \
     on_unanswered, grace_days, recurring_tier, period, status, created_by, created_at, closed_at, pack_id";

fn campaign_from(row: &sqlx::any::AnyRow) -> Result<Campaign> {
    use sqlx::Row;
    let reminders: String = row.try_get("reminders")?;
    Ok(Campaign {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        scope_kind: row.try_get("scope_kind")?,
        scope_value: row.try_get("scope_value")?,
        period_days: row.try_get("period_days")?,
        starts_at: row.try_get("starts_at")?,
        due_at: row.try_get("due_at")?,
        reminders: serde_json::from_str(&reminders).map_err(Error::internal)?,
        on_unanswered: row.try_get("on_unanswered")?,
        grace_days: row.try_get("grace_days")?,
        recurring_tier: row.try_get("recurring_tier")?,
        period: row.try_get("period")?,
        status: row.try_get("status")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        closed_at: row.try_get("closed_at")?,
        pack_id: row.try_get("pack_id")?,
    })
}

/// Every campaign, newest first.
pub async fn campaigns(state: &AppState) -> Result<Vec<Campaign>> {
    let rows = sqlx::query(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns ORDER BY created_at DESC, id DESC"
    ))
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(campaign_from).collect()
}

/// One campaign, or `NotFound`.
pub async fn campaign(state: &AppState, id: &str) -> Result<Campaign> {
    let row = sqlx::query(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or(Error::NotFound)?;
    campaign_from(&row)
}

const ITEM_SELECT: &str = "SELECT i.id, i.campaign_id, i.org_id, o.legal_name, i.app_id, a.client_id, a.name, i.scopes, \
     i.unused_scopes, i.last_use, i.owner_label, i.exceptions, i.state, i.still_needed, i.kept_scopes, i.justifications, \
     au.email AS attested_by, i.attested_at, i.bank_decision, i.bank_note, du.email AS decided_by, i.decided_at, \
     i.resulting_scopes, i.outcome, i.revoke_due_at, i.version, c.due_at, c.status AS campaign_status \
     FROM review_items i JOIN review_campaigns c ON c.id = i.campaign_id \
     JOIN organisations o ON o.id = i.org_id JOIN apps a ON a.id = i.app_id \
     LEFT JOIN users au ON au.id = i.attested_by LEFT JOIN users du ON du.id = i.decided_by";

fn item_from(row: &sqlx::any::AnyRow) -> Result<Item> {
    use sqlx::Row;
    let json = |name: &str| -> Result<Value> {
        let text: Option<String> = row.try_get(name)?;
        Ok(match text {
            Some(t) => serde_json::from_str(&t).map_err(Error::internal)?,
            None => Value::Null,
        })
    };
    let list = |name: &str| -> Result<Option<Vec<String>>> {
        let text: Option<String> = row.try_get(name)?;
        Ok(text.map(|t| words(&t)))
    };
    let still_needed: Option<i64> = row.try_get("still_needed")?;
    Ok(Item {
        id: row.try_get("id")?,
        campaign_id: row.try_get("campaign_id")?,
        org_id: row.try_get("org_id")?,
        organisation: row.try_get("legal_name")?,
        app_id: row.try_get("app_id")?,
        client_id: row.try_get("client_id")?,
        client_name: row.try_get("name")?,
        scopes: list("scopes")?.unwrap_or_default(),
        unused_scopes: list("unused_scopes")?.unwrap_or_default(),
        last_use: json("last_use")?,
        owner_label: row.try_get("owner_label")?,
        exceptions: serde_json::from_value(json("exceptions")?).unwrap_or_default(),
        state: row.try_get("state")?,
        still_needed: still_needed.map(|n| n == 1),
        kept_scopes: list("kept_scopes")?,
        justifications: json("justifications")?,
        attested_by: row.try_get("attested_by")?,
        attested_at: row.try_get("attested_at")?,
        bank_decision: row.try_get("bank_decision")?,
        bank_note: row.try_get("bank_note")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        resulting_scopes: list("resulting_scopes")?,
        outcome: row.try_get("outcome")?,
        revoke_due_at: row.try_get("revoke_due_at")?,
        version: row.try_get("version")?,
        due_at: row.try_get("due_at")?,
        campaign_open: row.try_get::<String, _>("campaign_status")? == "open",
    })
}

/// A campaign's items, by organisation and client.
pub async fn items_of(state: &AppState, campaign_id: &str) -> Result<Vec<Item>> {
    let rows = sqlx::query(&format!(
        "{ITEM_SELECT} WHERE i.campaign_id = $1 ORDER BY o.legal_name, a.name, i.id"
    ))
    .bind(campaign_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(item_from).collect()
}

/// One item; `org` scopes a partner's lookup to their organisation (another
/// organisation's item is `NotFound`).
pub async fn item(state: &AppState, org: Option<&str>, id: &str) -> Result<Item> {
    let row = sqlx::query(&format!(
        "{ITEM_SELECT} WHERE i.id = $1 AND ($2 = '' OR i.org_id = $2)"
    ))
    .bind(id)
    .bind(org.unwrap_or_default())
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or(Error::NotFound)?;
    item_from(&row)
}

/// The organisation's items still waiting for it (the dashboard's "reviews due"),
/// soonest due first.
pub async fn due_for_org(state: &AppState, org_id: &str) -> Result<Vec<Item>> {
    let rows = sqlx::query(&format!(
        "{ITEM_SELECT} WHERE i.org_id = $1 AND i.state IN ('awaiting_partner', 'unanswered') AND c.status = 'open' \
         ORDER BY c.due_at, i.id"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(item_from).collect()
}

/// Every item of the organisation, newest campaign first (the partner's list).
pub async fn items_for_org(state: &AppState, org_id: &str) -> Result<Vec<Item>> {
    let rows = sqlx::query(&format!(
        "{ITEM_SELECT} WHERE i.org_id = $1 ORDER BY c.created_at DESC, a.name, i.id"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(item_from).collect()
}

/// The organisation's latest review outcome, for the risk policy: the least
/// favourable final state among its items of the newest campaign that decided any,
/// or `none`.
pub async fn latest_outcome(state: &AppState, org_id: &str) -> Result<Value> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT i.campaign_id, i.state, c.created_at FROM review_items i JOIN review_campaigns c ON c.id = i.campaign_id \
         WHERE i.org_id = $1 AND i.state IN ('confirmed', 'narrowed', 'revoked', 'unanswered') \
         ORDER BY c.created_at DESC, c.id DESC",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let Some((latest, _, at)) = rows.first().cloned() else {
        return Ok(serde_json::json!({ "outcome": "none", "items": 0 }));
    };
    let rank = |s: &str| match s {
        "revoked" => 3,
        "unanswered" => 2,
        "narrowed" => 1,
        _ => 0,
    };
    let states: Vec<&str> = rows
        .iter()
        .filter(|(c, _, _)| *c == latest)
        .map(|(_, s, _)| s.as_str())
        .collect();
    let worst = states
        .iter()
        .max_by_key(|s| rank(s))
        .copied()
        .unwrap_or("confirmed");
    Ok(serde_json::json!({
        "outcome": worst, "items": states.len(), "campaign": latest, "at": at,
    }))
}

/// Access reviews' periodic job: reminders, outcomes at the due date, revocation
/// after the grace period, closing campaigns with their evidence pack, and starting
/// recurring campaigns (`schedule::run`).
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "access_reviews",
        300,
        |state: crate::platform::state::AppState, now| async move {
            Ok(schedule::run(&state, now).await?.summary())
        }
    )]
}
