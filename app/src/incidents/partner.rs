//! The partner's side of an incident: the organisation's members see the incidents
//! the bank opened at it (title, severity, status, when) and acknowledge them. The
//! time to acknowledge is one of the partner's service levels (`slas`).

use serde_json::json;

use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

/// An incident as its partner sees it.
#[derive(Clone, Debug)]
pub struct PartnerIncident {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub opened_at: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
}

/// The organisation's incidents, newest first.
pub async fn of_org(state: &AppState, org_id: &str) -> Result<Vec<PartnerIncident>> {
    type Row = (
        String,
        String,
        String,
        String,
        i64,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT i.id, i.title, i.severity, i.status, i.opened_at, u.email, i.acknowledged_at FROM incidents i \
         LEFT JOIN users u ON u.id = i.acknowledged_by WHERE i.org_id = $1 ORDER BY i.opened_at DESC, i.id",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, title, severity, status, opened_at, acknowledged_by, acknowledged_at)| {
                PartnerIncident {
                    id,
                    title,
                    severity,
                    status,
                    opened_at,
                    acknowledged_by,
                    acknowledged_at,
                }
            },
        )
        .collect())
}

/// A member of the incident's organisation acknowledges it: once (a second
/// acknowledgement is refused with 409); another organisation's incident is 404.
pub async fn acknowledge(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    id: &str,
) -> Result<()> {
    let org = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let found: Option<(Option<i64>, String)> = sqlx::query_as(
        "SELECT acknowledged_at, status FROM incidents WHERE id = $1 AND org_id = $2",
    )
    .bind(id)
    .bind(org)
    .fetch_optional(&state.db.pool)
    .await?;
    match found {
        None => return Err(Error::NotFound),
        Some((None, status)) if status == "closed" => {
            return Err(Error::Conflict(
                "The bank closed this incident: there is nothing to acknowledge.".into(),
            ))
        }
        Some((Some(_), _)) => {
            return Err(Error::Conflict(
                "This incident was already acknowledged.".into(),
            ))
        }
        Some((None, _)) => {}
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE incidents SET acknowledged_by = $1, acknowledged_at = $2 \
         WHERE id = $3 AND org_id = $4 AND acknowledged_at IS NULL AND status <> 'closed'",
    )
    .bind(&user.id)
    .bind(now)
    .bind(id)
    .bind(org)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This incident was already acknowledged.".into(),
        ));
    }
    audit::record(
        &mut tx,
        Event::new(user.actor(), "incident.acknowledged")
            .client(client)
            .org(Some(org))
            .resource("incident", id)
            .details(json!({ "acknowledged_at": crate::platform::time::rfc3339(now) })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
