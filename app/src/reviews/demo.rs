//! Demo mode: an access review of Fjord Analytics in progress, made and answered
//! through the real services: one item confirmed by the bank, one answered and
//! waiting for the bank, one waiting for the partner. And, as history, the spring
//! Tier 2 re-certification, closed with its evidence pack: items confirmed, narrowed
//! by the bank, revoked by the bank (Harbour Lending's production client, before it
//! was offboarded), and unanswered.

use std::collections::BTreeMap;

use serde_json::json;

use super::campaigns::{self, Planned};
use crate::audit::{self, Actor, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::{get_setting, set_setting};
use crate::platform::error::Result;
use crate::platform::state::AppState;

const DAY: i64 = 86_400;

fn answer(version: i64, keep: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = [
        ("version".to_string(), version.to_string()),
        ("still_needed".to_string(), "yes".to_string()),
    ]
    .into_iter()
    .collect();
    for (scope, why) in keep {
        values.insert(format!("keep_{scope}"), "1".into());
        values.insert(format!("justification_{scope}"), (*why).into());
    }
    values
}

pub async fn seed(state: &AppState, bank_admin: &str, reviewer: &str, partner: &str) -> Result<()> {
    if get_setting(&state.db.pool, "demo_reviews_seeded")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let (Some(admin), Some(reviewer), Some(partner)) = (
        AuthUser::by_email(state, bank_admin).await?,
        AuthUser::by_email(state, reviewer).await?,
        AuthUser::by_email(state, partner).await?,
    ) else {
        return Ok(());
    };
    let Some(org_id) = partner.org_id.clone() else {
        return Ok(());
    };
    let now = state.clock.now();
    let apps: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, name FROM apps WHERE org_id = $1 AND environment = 'production' AND status = 'active' ORDER BY name",
    )
    .bind(&org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let app = |name: &str| {
        apps.iter()
            .find(|(_, n)| n == name)
            .map(|(id, _)| id.clone())
    };
    let (Some(insights), Some(reporting)) = (app("Fjord insights"), app("Fjord reporting")) else {
        return Ok(());
    };
    let mut tx = state.db.begin().await?;
    // Insights asked for a reference token yesterday: that scope is in use.
    sqlx::query(
        "INSERT INTO scope_use (app_id, scope, kind, last_at) VALUES ($1, 'reference', 'token', $2) ON CONFLICT DO NOTHING",
    )
    .bind(&insights)
    .bind(now - DAY)
    .execute(&mut *tx)
    .await?;
    let plan = Planned {
        title: "Fjord Analytics access review (demo)",
        scope_kind: "organisation",
        scope_value: &org_id,
        period_days: 90,
        due_at: now + 21 * DAY,
        reminders: vec![10 * DAY, 3 * DAY],
        on_unanswered: "suspend",
        grace_days: 14,
        recurring: None,
    };
    let created =
        campaigns::insert(state, &mut tx, &plan, admin.actor(), None, &admin.id, now).await?;
    set_setting(&mut tx, "demo_reviews_seeded", "true").await?;
    tx.commit().await?;
    let Some((campaign, _)) = created else {
        return Ok(());
    };
    let item_of = |app: String| {
        let campaign = campaign.clone();
        async move {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT id, version FROM review_items WHERE campaign_id = $1 AND app_id = $2",
            )
            .bind(campaign)
            .bind(app)
            .fetch_one(&state.db.pool)
            .await
        }
    };
    let client = ClientInfo::default();
    let (item, version) = item_of(reporting).await?;
    let values = answer(
        version,
        &[
            ("reference", "Branch data in the monthly reports."),
            (
                "accounts",
                "Account balances for the reports our customers ask for.",
            ),
            (
                "fundsconfirmations",
                "Checks before a report triggers a transfer suggestion.",
            ),
        ],
    );
    super::items::attest(state, &partner, &client, &item, &values).await?;
    let mut decision: BTreeMap<String, String> = BTreeMap::new();
    decision.insert("version".into(), (version + 1).to_string());
    decision.insert("decision".into(), "confirm".into());
    super::items::decide(state, &reviewer, &client, &item, &decision).await?;
    let (item, version) = item_of(insights.clone()).await?;
    let values = answer(
        version,
        &[
            ("reference", "The branch finder in our app."),
            (
                "accounts",
                "Spending insights need the customer's transactions.",
            ),
        ],
    );
    super::items::attest(state, &partner, &client, &item, &values).await?;
    history(state, &admin, &reviewer, &partner, &apps).await
}

/// One past item: (app, org, scopes at start, state, kept, resulting, attested by).
struct Past<'a> {
    app_id: &'a str,
    org_id: &'a str,
    scopes: &'a str,
    state: &'a str,
    kept: Option<&'a str>,
    resulting: Option<&'a str>,
    attested_by: Option<&'a str>,
    note: &'a str,
}

/// The closed spring campaign: its rows and decision events as they happened, then
/// closed by the schedule, which writes its evidence pack.
async fn history(
    state: &AppState,
    admin: &AuthUser,
    reviewer: &AuthUser,
    partner: &AuthUser,
    apps: &[(String, String)],
) -> Result<()> {
    let now = state.clock.now();
    let app = |name: &str| {
        apps.iter()
            .find(|(_, n)| n == name)
            .map(|(id, _)| id.clone())
    };
    let harbour: Option<(String, String, String)> = sqlx::query_as(
        "SELECT a.id, a.org_id, a.owner_id FROM apps a WHERE a.name = 'Harbour loans'",
    )
    .fetch_optional(&state.db.pool)
    .await?;
    let (Some(insights), Some(reporting), Some(legacy), Some((loans, harbour_org, harbour_admin))) = (
        app("Fjord insights"),
        app("Fjord reporting"),
        app("Fjord legacy export"),
        harbour,
    ) else {
        return Ok(());
    };
    let fjord = partner.org_id.clone().unwrap_or_default();
    let id = crate::platform::ids::new_id("rvc");
    let (starts, due) = (now - 150 * DAY, now - 120 * DAY);
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO review_campaigns (id, title, scope_kind, scope_value, period_days, starts_at, due_at, reminders, \
         on_unanswered, grace_days, status, created_by, created_at) \
         VALUES ($1, 'Production re-certification, spring 2026 (demo)', 'all', '', 180, $2, $3, $4, 'none', 14, 'open', $5, $2)",
    )
    .bind(&id)
    .bind(starts)
    .bind(due)
    .bind(json!([15 * DAY, 3 * DAY]).to_string())
    .bind(&admin.id)
    .execute(&mut *tx)
    .await?;
    let past = [
        Past {
            app_id: &insights,
            org_id: &fjord,
            scopes: "reference accounts",
            state: "confirmed",
            kept: Some("reference accounts"),
            resulting: Some("reference accounts"),
            attested_by: Some(&partner.id),
            note: "",
        },
        Past {
            app_id: &reporting,
            org_id: &fjord,
            scopes: "reference accounts fundsconfirmations payments",
            state: "narrowed",
            kept: Some("reference accounts fundsconfirmations payments"),
            resulting: Some("reference accounts fundsconfirmations"),
            attested_by: Some(&partner.id),
            note: "Reporting does not initiate payments: payments removed.",
        },
        Past {
            app_id: &loans,
            org_id: &harbour_org,
            scopes: "reference accounts",
            state: "revoked",
            kept: Some("reference accounts"),
            resulting: Some(""),
            attested_by: Some(&harbour_admin),
            note: "The loans product closed in January: no further need for account data.",
        },
        Past {
            app_id: &legacy,
            org_id: &fjord,
            scopes: "reference accounts",
            state: "unanswered",
            kept: None,
            resulting: None,
            attested_by: None,
            note: "",
        },
    ];
    for p in past {
        let item = crate::platform::ids::new_id("rvi");
        let decided = p.kept.map(|_| due - 2 * DAY);
        let decision = match p.state {
            "confirmed" => Some("confirm"),
            "narrowed" => Some("narrow"),
            "revoked" => Some("revoke"),
            _ => None,
        };
        sqlx::query(
            "INSERT INTO review_items (id, campaign_id, org_id, app_id, scopes, unused_scopes, last_use, owner_label, exceptions, state, \
             still_needed, kept_scopes, justifications, attested_by, attested_at, bank_decision, bank_note, decided_by, decided_at, \
             resulting_scopes, outcome) \
             VALUES ($1, $2, $3, $4, $5, '', '{}', 'recorded before this demo', '[]', $6, $7, $8, '{}', $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&item)
        .bind(&id)
        .bind(p.org_id)
        .bind(p.app_id)
        .bind(p.scopes)
        .bind(p.state)
        .bind(p.kept.map(|_| 1_i64))
        .bind(p.kept)
        .bind(p.attested_by)
        .bind(p.kept.map(|_| due - 10 * DAY))
        .bind(decision)
        .bind((!p.note.is_empty()).then_some(p.note))
        .bind(decision.map(|_| reviewer.id.clone()))
        .bind(decided)
        .bind(p.resulting)
        .bind((p.state == "unanswered").then_some("no change"))
        .execute(&mut *tx)
        .await?;
        let (actor, action) = match decision {
            Some(_) => (reviewer.actor(), "review.decided"),
            None => (Actor::system("access reviews"), "review.unanswered"),
        };
        audit::record(
            &mut tx,
            Event::new(actor, action)
                .org(Some(p.org_id))
                .resource("review_item", &item)
                .details(json!({
                    "campaign": id, "app_id": p.app_id, "decision": decision, "state": p.state,
                    "resulting_scopes": p.resulting, "note": p.note, "demo_history": true,
                })),
        )
        .await?;
    }
    tx.commit().await?;
    let campaign = super::campaign(state, &id).await?;
    super::schedule::close(state, &campaign, now).await?;
    Ok(())
}
