//! What time does to campaigns, run by the scheduler (`access_reviews`): reminders
//! (each once per item and lead time, keyed in `governance_notices`), the outcome for
//! items unanswered at the due date, revocation after the grace period, closing a
//! finished campaign with its evidence pack, and the recurring campaign of each tier
//! once per period. Every step is a conditional update or a keyed insert, so two
//! instances running it at once never do anything twice.

use serde_json::{json, Value};
use time::OffsetDateTime;

use super::campaigns::{self, Planned};
use crate::audit::{self, Actor, Event};
use crate::evidence_packs::{self, NewEntry, Subject};
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::{ids, time as clock};

const DAY: i64 = 86_400;

/// The suggested cadence of each tier (months), and how long partners have to answer.
pub const SUGGESTED_MONTHS: [(i64, u8); 3] = [(3, 3), (2, 6), (1, 12)];
pub const RECURRING_DUE_DAYS: i64 = 30;

fn actor() -> Actor {
    Actor::system("access reviews")
}

/// What a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub reminders: usize,
    pub unanswered: usize,
    pub revoked: usize,
    pub closed: usize,
    pub created: usize,
}

impl Report {
    pub fn summary(&self) -> Value {
        json!({
            "reminders": self.reminders, "unanswered": self.unanswered, "revoked": self.revoked,
            "closed": self.closed, "created": self.created,
        })
    }
}

/// The period label of `now` for a cadence of `months` ('2027-Q1', '2027-H2', '2027').
pub fn period_of(now: i64, months: u8) -> String {
    let date = OffsetDateTime::from_unix_timestamp(now)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date();
    let month = u8::from(date.month());
    match months {
        3 => format!("{}-Q{}", date.year(), (month - 1) / 3 + 1),
        6 => format!("{}-H{}", date.year(), (month - 1) / 6 + 1),
        _ => format!("{}", date.year()),
    }
}

pub async fn run(state: &AppState, now: i64) -> Result<Report> {
    let mut report = Report::default();
    let open: Vec<super::Campaign> = super::campaigns(state)
        .await?
        .into_iter()
        .filter(|c| c.status == "open")
        .collect();
    for campaign in &open {
        report.reminders += remind(state, campaign, now).await?;
        if now >= campaign.due_at {
            report.unanswered += unanswered(state, campaign, now).await?;
        }
        report.revoked += revoke_after_grace(state, campaign, now).await?;
        if now >= campaign.due_at && close(state, campaign, now).await? {
            report.closed += 1;
        }
    }
    report.created += recurring(state, now).await?;
    Ok(report)
}

async fn remind(state: &AppState, campaign: &super::Campaign, now: i64) -> Result<usize> {
    if now >= campaign.due_at {
        return Ok(0);
    }
    let due: Vec<i64> = campaign
        .reminders
        .iter()
        .copied()
        .filter(|o| now >= campaign.due_at - *o)
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let items: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT i.id, i.org_id, a.name FROM review_items i JOIN apps a ON a.id = i.app_id \
         WHERE i.campaign_id = $1 AND i.state = 'awaiting_partner' ORDER BY i.id",
    )
    .bind(&campaign.id)
    .fetch_all(&state.db.pool)
    .await?;
    let days = (campaign.due_at - now + DAY - 1) / DAY;
    let mut sent = 0;
    for offset in due {
        for (item, org, name) in &items {
            let message = format!(
                "access review of {name}: answer within {days} days (by {})",
                clock::display(campaign.due_at)
            );
            let mut tx = state.db.begin().await?;
            let taken = sqlx::query(
                "INSERT INTO governance_notices (key, kind, org_id, app_id, message, created_at) \
                 VALUES ($1, 'review_reminder', $2, (SELECT app_id FROM review_items WHERE id = $3), $4, $5) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(format!("review:{item}:{offset}"))
            .bind(org)
            .bind(item)
            .bind(&message)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() != 1 {
                continue;
            }
            crate::onboarding::service::notify_partner_admins(
                &mut tx,
                org,
                "Reminder: an access review is due",
                &format!(
                    "The {} is still waiting for your answer: {}.\n\n{}\n",
                    campaign.title,
                    message,
                    state.settings.link(&format!("/reviews/items/{item}"))
                ),
            )
            .await?;
            crate::webhooks::emit(
                &mut tx,
                org,
                "review.due",
                serde_json::json!({ "review_item_id": item, "campaign_id": campaign.id, "app_name": name, "due_at": clock::rfc3339(campaign.due_at) }),
                now,
            )
            .await?;
            tx.commit().await?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// Items nobody answered by the due date get the campaign's outcome.
async fn unanswered(state: &AppState, campaign: &super::Campaign, now: i64) -> Result<usize> {
    let items: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT i.id, i.org_id, i.app_id, a.name FROM review_items i JOIN apps a ON a.id = i.app_id \
         WHERE i.campaign_id = $1 AND i.state = 'awaiting_partner' ORDER BY i.id",
    )
    .bind(&campaign.id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut done = 0;
    for (item, org, app_id, name) in items {
        let mut tx = state.db.begin().await?;
        let suspension = ids::new_id("sus");
        let (outcome, revoke_due) = match campaign.on_unanswered.as_str() {
            "none" => ("no change".to_string(), None),
            "suspend_then_revoke" => (
                format!("suspended:{suspension}"),
                Some(campaign.due_at + campaign.grace_days * DAY),
            ),
            _ => (format!("suspended:{suspension}"), None),
        };
        let marked = sqlx::query(
            "UPDATE review_items SET state = 'unanswered', outcome = $1, revoke_due_at = $2, version = version + 1 \
             WHERE id = $3 AND state = 'awaiting_partner'",
        )
        .bind(&outcome)
        .bind(revoke_due)
        .bind(&item)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            continue;
        }
        if campaign.on_unanswered != "none" {
            sqlx::query(
                "INSERT INTO suspensions (id, target_kind, target, origin, reason, created_by, created_at) \
                 VALUES ($1, 'client', $2, 'manual', $3, 'access review', $4)",
            )
            .bind(&suspension)
            .bind(&app_id)
            .bind(format!("Not answered in the {} by the due date", campaign.title))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        audit::record(
            &mut tx,
            Event::new(actor(), "review.unanswered")
                .org(Some(&org))
                .resource("review_item", &item)
                .details(json!({ "campaign": campaign.id, "app_id": app_id, "outcome": outcome, "revoke_due_at": revoke_due })),
        )
        .await?;
        let what = match campaign.on_unanswered.as_str() {
            "none" => "Nothing was changed, and the item is recorded as unanswered.".to_string(),
            "suspend_then_revoke" => format!(
                "It is suspended now, and revoked on {} unless you answer and the bank confirms.",
                clock::display(campaign.due_at + campaign.grace_days * DAY)
            ),
            _ => "It is suspended until you answer and the bank confirms.".to_string(),
        };
        crate::onboarding::service::notify_partner_admins(
            &mut tx,
            &org,
            "An access review was not answered",
            &format!(
                "Nobody answered the {} for {name} by the due date. {what}\n\n{}\n",
                campaign.title,
                state.settings.link(&format!("/reviews/items/{item}"))
            ),
        )
        .await?;
        tx.commit().await?;
        done += 1;
    }
    if done > 0 {
        state.oauth().cache.changed();
    }
    Ok(done)
}

async fn revoke_after_grace(
    state: &AppState,
    campaign: &super::Campaign,
    now: i64,
) -> Result<usize> {
    let items: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, org_id, app_id FROM review_items WHERE campaign_id = $1 AND state = 'unanswered' \
         AND revoke_due_at IS NOT NULL AND revoke_due_at <= $2 ORDER BY id",
    )
    .bind(&campaign.id)
    .bind(now)
    .fetch_all(&state.db.pool)
    .await?;
    let mut done = 0;
    for (item, org, app_id) in items {
        let mut tx = state.db.begin().await?;
        let marked = sqlx::query(
            "UPDATE review_items SET state = 'revoked', bank_decision = 'revoked after the grace period', \
             decided_at = $1, resulting_scopes = '', version = version + 1 WHERE id = $2 AND state = 'unanswered'",
        )
        .bind(now)
        .bind(&item)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            continue;
        }
        crate::sandbox::service::revoke_app_rows(&mut tx, &app_id, now, "review").await?;
        audit::record(
            &mut tx,
            Event::new(actor(), "review.revoked_unanswered")
                .org(Some(&org))
                .resource("review_item", &item)
                .details(json!({ "campaign": campaign.id, "app_id": app_id })),
        )
        .await?;
        tx.commit().await?;
        done += 1;
    }
    if done > 0 {
        state.oauth().cache.changed();
    }
    Ok(done)
}

/// Closes the campaign once nothing in it can change, with its evidence pack.
pub(super) async fn close(state: &AppState, campaign: &super::Campaign, now: i64) -> Result<bool> {
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM review_items WHERE campaign_id = $1 AND (state IN ('awaiting_partner', 'awaiting_bank') \
         OR (state = 'unanswered' AND revoke_due_at IS NOT NULL))",
    )
    .bind(&campaign.id)
    .fetch_one(&state.db.pool)
    .await?;
    if pending > 0 {
        return Ok(false);
    }
    let mut tx = state.db.begin().await?;
    let closed = sqlx::query(
        "UPDATE review_campaigns SET status = 'closed', closed_at = $1 WHERE id = $2 AND status = 'open'",
    )
    .bind(now)
    .bind(&campaign.id)
    .execute(&mut *tx)
    .await?;
    if closed.rows_affected() != 1 {
        return Ok(false);
    }
    let items = super::items_of(state, &campaign.id).await?;
    let mut counts = serde_json::Map::new();
    for item in &items {
        let n = counts.get(&item.state).and_then(Value::as_i64).unwrap_or(0);
        counts.insert(item.state.clone(), json!(n + 1));
    }
    let completed = audit::record(
        &mut tx,
        Event::new(actor(), "review.campaign_closed")
            .resource("review_campaign", &campaign.id)
            .details(json!({ "title": campaign.title, "items": items.len(), "states": counts })),
    )
    .await?;
    // Each item's decisive audit event: the bank's decision, or the outcome applied.
    let mut entries = Vec::new();
    for item in &items {
        let event: Option<(String, i64)> = sqlx::query_as(
            "SELECT id, occurred_at FROM audit_events WHERE resource_type = 'review_item' AND resource_id = $1 \
             AND action IN ('review.decided', 'review.unanswered', 'review.revoked_unanswered') ORDER BY seq DESC LIMIT 1",
        )
        .bind(&item.id)
        .fetch_optional(&mut *tx)
        .await?;
        let (event, at) = event.ok_or_else(|| {
            Error::Internal(format!("review item {} has no decision event", item.id))
        })?;
        entries.push(NewEntry {
            kind: format!("review_{}", item.state),
            target_id: item.app_id.clone(),
            label: format!(
                "{} / {} ({}): {}; scopes {} → {}",
                item.organisation,
                item.client_name,
                item.client_id,
                super::state_label(&item.state),
                item.scopes.join(" "),
                item.resulting_scopes.clone().unwrap_or_default().join(" ")
            ),
            done_at: at,
            audit_event_id: event,
        });
    }
    entries.push(NewEntry {
        kind: "campaign".into(),
        target_id: campaign.id.clone(),
        label: format!("{} closed", campaign.title),
        done_at: now,
        audit_event_id: completed,
    });
    let mut orgs: Vec<&str> = items.iter().map(|i| i.org_id.as_str()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    let agreements = crate::agreements::pack_record(&mut tx, &orgs, now).await?;
    let pack = evidence_packs::create(
        &mut tx,
        &state.keys,
        Subject {
            kind: "campaign",
            subject_id: &campaign.id,
            org_id: None,
            title: &format!("Access review: {}", campaign.title),
            summary: json!({
                "title": campaign.title, "covers": { "kind": campaign.scope_kind, "value": campaign.scope_value },
                "due_at": clock::rfc3339(campaign.due_at), "states": counts,
                "agreements": agreements,
            }),
        },
        entries,
        now,
    )
    .await?;
    sqlx::query("UPDATE review_campaigns SET pack_id = $1 WHERE id = $2")
        .bind(&pack)
        .bind(&campaign.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Where the bank's choice of recurring campaigns is kept (`settings`).
const RECURRING: &str = "reviews.recurring";

/// The tiers with recurring campaigns and their cadence in months (off by default:
/// a bank admin turns them on, with the suggested cadences or their own).
pub async fn recurring_cadences(state: &AppState) -> Result<Vec<(i64, u8)>> {
    let Some(text) = crate::platform::db::get_setting(&state.db.pool, RECURRING).await? else {
        return Ok(Vec::new());
    };
    let map: std::collections::BTreeMap<String, u8> =
        serde_json::from_str(&text).map_err(Error::internal)?;
    Ok(map
        .into_iter()
        .filter_map(|(tier, months)| tier.parse().ok().map(|t| (t, months)))
        .filter(|(_, months)| matches!(months, 3 | 6 | 12))
        .collect())
}

/// A bank admin sets the recurring campaigns: per tier, 3, 6 or 12 months, or none.
pub async fn set_recurring(
    state: &AppState,
    admin: &crate::platform::context::AuthUser,
    client: &crate::platform::context::ClientInfo,
    cadences: &[(i64, u8)],
) -> Result<()> {
    if cadences
        .iter()
        .any(|(tier, months)| !(1..=3).contains(tier) || !matches!(months, 3 | 6 | 12))
    {
        return Err(Error::Invalid(crate::platform::error::Invalid::field(
            "recurring",
            "Each tier recurs every 3, 6 or 12 months, or not at all.",
        )));
    }
    let map: std::collections::BTreeMap<String, u8> =
        cadences.iter().map(|(t, m)| (t.to_string(), *m)).collect();
    let mut tx = state.db.begin().await?;
    crate::platform::db::set_setting(&mut tx, RECURRING, &json!(map).to_string()).await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "review.recurring_set")
            .client(client)
            .details(json!({ "cadence_months": map })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates each recurring tier's campaign for the current period, once.
async fn recurring(state: &AppState, now: i64) -> Result<usize> {
    let mut created = 0;
    for (tier, months) in recurring_cadences(state).await? {
        let period = period_of(now, months);
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT id FROM review_campaigns WHERE recurring_tier = $1 AND period = $2",
        )
        .bind(tier)
        .bind(&period)
        .fetch_optional(&state.db.pool)
        .await?;
        if exists.is_some() {
            continue;
        }
        let title = format!("Tier {tier} re-certification {period}");
        let due_at = now + RECURRING_DUE_DAYS * DAY;
        let plan = Planned {
            title: &title,
            scope_kind: "tier",
            scope_value: &tier.to_string(),
            period_days: i64::from(months) * 30,
            due_at,
            reminders: vec![RECURRING_DUE_DAYS * DAY / 2, 3 * DAY],
            on_unanswered: "suspend",
            grace_days: 14,
            recurring: Some((tier, &period)),
        };
        let mut tx = state.db.begin().await?;
        match campaigns::insert(state, &mut tx, &plan, actor(), None, "access reviews", now).await {
            Ok(Some(_)) => {
                tx.commit().await?;
                created += 1;
            }
            // Another instance made it, or the tier has no production client yet.
            Ok(None) | Err(Error::Invalid(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_the_cadence() {
        // 2027-05-10
        let may = 1_809_993_600;
        assert_eq!(period_of(may, 3), "2027-Q2");
        assert_eq!(period_of(may, 6), "2027-H1");
        assert_eq!(period_of(may, 12), "2027");
    }
}
