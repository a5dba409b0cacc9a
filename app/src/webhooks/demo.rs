//! Demo mode: Acme Budgeting has a webhook endpoint with a delivery history
//! (deliveries that succeeded first time, one that needed retries), so a newcomer
//! sees the delivery log at once.

use crate::platform::error::Result;
use crate::platform::state::AppState;

/// The demo endpoint's URL (it does not resolve: a test event sent to it fails,
/// and is retried, as a real outage would be).
pub const DEMO_URL: &str = "https://hooks.acme-budgeting.example.com/gatehouse";

/// A past delivery: its event, how many days ago, and each attempt's status and
/// latency in milliseconds.
type Past = (&'static str, i64, &'static [(i64, i64)]);

/// Seeds the endpoint of the organisation of `admin_email` (its partner admin).
pub async fn seed(state: &AppState, admin_email: &str) -> Result<()> {
    let Some((admin_id, org_id)): Option<(String, String)> =
        sqlx::query_as("SELECT id, org_id FROM users WHERE email = $1 AND org_id IS NOT NULL")
            .bind(admin_email)
            .fetch_optional(&state.db.pool)
            .await?
    else {
        return Ok(());
    };
    let (admin_id, org_id) = (admin_id.as_str(), org_id.as_str());
    let exists: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&state.db.pool)
            .await?;
    if exists > 0 {
        return Ok(());
    }
    let now = state.clock.now();
    let created = now - 20 * 86_400;
    let events: Vec<&str> = super::EVENTS.iter().map(|(e, _)| *e).collect();
    let mut tx = state.db.begin().await?;
    let registered = super::endpoints::Registered {
        org_id,
        url: DEMO_URL,
        description: "Operations alerts in our on-call channel",
        events: &events.join(" "),
        created_by: admin_id,
        created_at: created,
    };
    // The secret is never shown: rotating it on the endpoint's page shows a new one.
    let (id, _) = super::endpoints::insert(state, &mut tx, &registered).await?;
    let history: [Past; 6] = [
        (super::TEST_EVENT, 20, &[(200, 84)]),
        ("credential.expiring", 14, &[(200, 112)]),
        (
            "access_request.decided",
            9,
            &[(503, 10_000), (500, 230), (200, 95)],
        ),
        ("review.due", 6, &[(200, 77)]),
        ("credential.expiring", 3, &[(200, 101)]),
        ("credential.revoked", 1, &[(200, 88)]),
    ];
    for (event, days, attempts) in history {
        let at = now - days * 86_400;
        let body = super::payload(
            event,
            serde_json::json!({ "organisation_id": org_id, "description": "demo history" }),
            at,
        );
        let message = super::queue(&mut tx, &id, org_id, event, &body, at).await?;
        let mut when = at;
        for (n, (status, latency)) in attempts.iter().enumerate() {
            let attempt = i64::try_from(n).unwrap_or(0) + 1;
            sqlx::query(
                "INSERT INTO webhook_attempts (message_id, attempt, at, status, error, latency_ms) VALUES ($1, $2, $3, $4, NULL, $5)",
            )
            .bind(&message)
            .bind(attempt)
            .bind(when)
            .bind(*status)
            .bind(*latency)
            .execute(&mut *tx)
            .await?;
            when += super::delivery::SCHEDULE[n];
        }
        sqlx::query(
            "UPDATE webhook_messages SET state = 'delivered', attempts = $1, next_attempt_at = NULL, finished_at = $2 WHERE id = $3",
        )
        .bind(i64::try_from(attempts.len()).unwrap_or(1))
        .bind(when)
        .bind(&message)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
