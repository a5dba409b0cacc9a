//! Demo mode: one closed incident at Northwind Payments, recorded through the real
//! services as the demo reviewer (detection, escalation, review).

use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::{get_setting, set_setting};
use crate::platform::error::Result;
use crate::platform::state::AppState;

pub async fn seed(state: &AppState, reviewer: &str, org_admin: &str) -> Result<()> {
    if get_setting(&state.db.pool, "demo_incidents_seeded")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let Some(reviewer) = AuthUser::by_email(state, reviewer).await? else {
        return Ok(());
    };
    let org: Option<Option<String>> =
        sqlx::query_scalar("SELECT org_id FROM users WHERE email = $1")
            .bind(org_admin)
            .fetch_optional(&state.db.pool)
            .await?;
    let Some(Some(org_id)) = org else {
        return Ok(());
    };
    let day = |offset: i64| {
        let at = state.clock.now() - offset * 86_400;
        let date = ::time::OffsetDateTime::from_unix_timestamp(at)
            .map(|t| t.date())
            .unwrap_or(::time::Date::MIN);
        format!(
            "{:04}-{:02}-{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
    };
    let client = ClientInfo::default();
    let id = super::open(
        state,
        &reviewer,
        &client,
        &super::NewIncident {
            org_id,
            title: "Unusual token requests from a new network".into(),
            severity: "medium".into(),
            detected_date: day(20),
            detected_time: "08:40".into(),
            detection: "The partner's security team reported token requests from an address outside their usual range.".into(),
            app_ids: Vec::new(),
        },
    )
    .await?;
    super::record_entry(
        state,
        &reviewer,
        &client,
        &id,
        "0",
        "escalation",
        "Asked Northwind to rotate the secret and confirm the source.",
        "Northwind's security lead; the bank's CISO",
        &day(20),
        "09:15",
    )
    .await?;
    super::close(
        state,
        &reviewer,
        &client,
        &id,
        "1",
        "A developer's laptop on a hotel network; no data accessed. The secret was rotated; Northwind now uses private_key_jwt.",
    )
    .await?;
    let mut tx = state.db.begin().await?;
    set_setting(&mut tx, "demo_incidents_seeded", "true").await?;
    tx.commit().await?;
    Ok(())
}
