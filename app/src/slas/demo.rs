//! Demo mode: incidents in the last month, opened by the demo reviewer and
//! acknowledged by the partner's admin through the real services. Northwind Payments
//! (a demo sign-in) acknowledged one within three hours and one after 30 hours (a
//! breach of its 24-hour commitment, which the `sla_breaches` job turns into an
//! alert). Kestrel Lending acknowledged one after 30 hours too, so its relationship
//! page shows a breach on each side: its application waits past the bank's decision
//! commitment (seeded by the onboarding demo). Not at Fjord: incidents are a fact of
//! Fjord's risk scoring.

use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::{get_setting, set_setting};
use crate::platform::error::Result;
use crate::platform::state::AppState;

const SEEDED: &str = "demo_slas_seeded";

/// (the partner admin who acknowledges, title, severity, opened days ago, hours to
/// acknowledge)
const INCIDENTS: [(&str, &str, &str, i64, i64); 3] = [
    (
        "admin@northwind-pay.example.com",
        "Burst of invalid_grant answers to the payments app",
        "low",
        9,
        3,
    ),
    (
        "admin@northwind-pay.example.com",
        "Account data requested outside the consented period",
        "medium",
        21,
        30,
    ),
    (
        "admin@kestrel-lending.example.com",
        "Sandbox credentials pasted in a public repository",
        "medium",
        12,
        30,
    ),
];

pub async fn seed(state: &AppState, reviewer: &str) -> Result<()> {
    if get_setting(&state.db.pool, SEEDED).await?.is_some() {
        return Ok(());
    }
    let Some(reviewer) = AuthUser::by_email(state, reviewer).await? else {
        return Ok(());
    };
    let client = ClientInfo::default();
    let now = state.clock.now();
    for (org_admin, title, severity, days_ago, hours) in INCIDENTS {
        let Some(partner) = AuthUser::by_email(state, org_admin).await? else {
            continue;
        };
        let Some(org_id) = partner.org_id.clone() else {
            continue;
        };
        // An interrupted start may have opened it already.
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM incidents WHERE org_id = $1 AND title = $2")
                .bind(&org_id)
                .bind(title)
                .fetch_optional(&state.db.pool)
                .await?;
        let opened_at = now - days_ago * 86_400;
        let id =
            match existing {
                Some(id) => id,
                None => crate::incidents::open(
                    state,
                    &reviewer,
                    &client,
                    &crate::incidents::NewIncident {
                        org_id: org_id.clone(),
                        title: title.into(),
                        severity: severity.into(),
                        detected_date: crate::platform::time::day(opened_at),
                        detected_time: "09:00".into(),
                        detection:
                            "Raised by the bank's oversight rules and confirmed by the reviewer."
                                .into(),
                        app_ids: Vec::new(),
                    },
                )
                .await?,
            };
        let acknowledged: Option<i64> =
            sqlx::query_scalar("SELECT acknowledged_at FROM incidents WHERE id = $1")
                .bind(&id)
                .fetch_one(&state.db.pool)
                .await?;
        if acknowledged.is_none() {
            crate::incidents::acknowledge(state, &partner, &client, &id).await?;
        }
        // Dated back to when it happened: opened `days_ago`, acknowledged `hours` later.
        sqlx::query(
            "UPDATE incidents SET opened_at = $1, detected_at = $1, acknowledged_at = $2 WHERE id = $3",
        )
        .bind(opened_at)
        .bind(opened_at + hours * 3_600)
        .bind(&id)
        .execute(&state.db.pool)
        .await?;
    }
    let mut tx = state.db.begin().await?;
    set_setting(&mut tx, SEEDED, "true").await?;
    tx.commit().await?;
    Ok(())
}
