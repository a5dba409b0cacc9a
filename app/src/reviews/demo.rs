//! Demo mode: an access review of Fjord Analytics in progress, made and answered
//! through the real services: one item confirmed by the bank, one answered and
//! waiting for the bank, one waiting for the partner.

use std::collections::BTreeMap;

use super::campaigns::{self, Planned};
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
    let (item, version) = item_of(insights).await?;
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
    Ok(())
}
