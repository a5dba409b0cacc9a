//! An alert's life after it opened: the register, acknowledgement, resolution, and
//! the two one-step actions from the alert page: suspend the client (the governance
//! kill switch) and open an incident. Each change is a conditional update on the
//! alert's `version`, so a replayed form is a 409, and an audit event.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;

use crate::audit::{self, Event};
use crate::platform::context::AuthUser;
use crate::platform::context::ClientInfo;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::forms::version_of;
use crate::platform::state::AppState;

#[derive(Default, Clone, Debug, Serialize)]
pub struct Alert {
    pub id: String,
    pub rule: String,
    pub severity: String,
    pub app_id: Option<String>,
    pub app_name: Option<String>,
    pub environment: Option<String>,
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    pub source: Option<String>,
    pub summary: String,
    pub thresholds: Value,
    pub evidence: Value,
    pub occurrences: i64,
    pub state: String,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolution: Option<String>,
    pub escalated_at: Option<i64>,
    pub incident_id: Option<String>,
    pub suspension_id: Option<String>,
    pub version: i64,
}

const SELECT: &str = "SELECT al.id, al.rule, al.severity, al.app_id, a.name AS app_name, a.environment, al.org_id, \
     o.legal_name AS org_name, al.source, al.summary, al.thresholds, al.evidence, al.occurrences, al.state, \
     al.first_seen_at, al.last_seen_at, ua.email AS acknowledged_by, al.acknowledged_at, ur.email AS resolved_by, \
     al.resolved_at, al.resolution, al.escalated_at, al.incident_id, al.suspension_id, al.version \
     FROM alerts al LEFT JOIN apps a ON a.id = al.app_id LEFT JOIN organisations o ON o.id = al.org_id \
     LEFT JOIN users ua ON ua.id = al.acknowledged_by LEFT JOIN users ur ON ur.id = al.resolved_by";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Alert> {
    let json = |name: &str| -> Result<Value> {
        Ok(serde_json::from_str(&row.try_get::<String, _>(name)?).unwrap_or(Value::Null))
    };
    Ok(Alert {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        severity: row.try_get("severity")?,
        app_id: row.try_get("app_id")?,
        app_name: row.try_get("app_name")?,
        environment: row.try_get("environment")?,
        org_id: row.try_get("org_id")?,
        org_name: row.try_get("org_name")?,
        source: row.try_get("source")?,
        summary: row.try_get("summary")?,
        thresholds: json("thresholds")?,
        evidence: json("evidence")?,
        occurrences: row.try_get("occurrences")?,
        state: row.try_get("state")?,
        first_seen_at: row.try_get("first_seen_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
        resolved_by: row.try_get("resolved_by")?,
        resolved_at: row.try_get("resolved_at")?,
        resolution: row.try_get("resolution")?,
        escalated_at: row.try_get("escalated_at")?,
        incident_id: row.try_get("incident_id")?,
        suspension_id: row.try_get("suspension_id")?,
        version: row.try_get("version")?,
    })
}

/// The register: `open` (open and acknowledged) or `resolved`, newest first;
/// optionally one organisation's.
pub async fn list(
    state: &AppState,
    resolved: bool,
    org: Option<&str>,
    limit: i64,
) -> Result<Vec<Alert>> {
    list_of(state, resolved, org, "", limit).await
}

/// [`list`], of one severity (`high`, `medium`, `low`; empty: every severity),
/// filtered in the query so the limit counts only the alerts shown.
pub async fn list_of(
    state: &AppState,
    resolved: bool,
    org: Option<&str>,
    severity: &str,
    limit: i64,
) -> Result<Vec<Alert>> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE (al.state = 'resolved') = ($1 = 1) AND ($2 = '' OR al.org_id = $2) \
         AND ($4 = '' OR al.severity = $4) \
         ORDER BY al.first_seen_at DESC, al.id DESC LIMIT $3"
    ))
    .bind(i64::from(resolved))
    .bind(org.unwrap_or_default())
    .bind(limit)
    .bind(severity)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(state: &AppState, id: &str) -> Result<Alert> {
    let row = sqlx::query(&format!("{SELECT} WHERE al.id = $1"))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or(Error::NotFound)?;
    from_row(&row)
}

/// The client's requests in the alert's window, newest first (at most 50): what
/// its page shows, with the evidence's samples among them.
pub async fn requests_in_window(
    state: &AppState,
    alert: &Alert,
) -> Result<Vec<super::alert_pages::RequestRow>> {
    let Some(app) = &alert.app_id else {
        return Ok(Vec::new());
    };
    let from = alert.evidence["window"]["from"]
        .as_i64()
        .unwrap_or(alert.first_seen_at);
    Ok(sqlx::query_as(
        "SELECT id, at, method, endpoint, status, COALESCE(error, ''), COALESCE(source, '') FROM request_log \
         WHERE app_id = $1 AND at >= $2 AND at < $3 ORDER BY at DESC, id DESC LIMIT 50",
    )
    .bind(app)
    .bind(from)
    .bind(alert.last_seen_at + super::MINUTE)
    .fetch_all(&state.db.pool)
    .await?)
}

/// Alerts not yet resolved at an organisation (the `history.open_alerts` fact).
pub async fn open_count(state: &AppState, org_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE org_id = $1 AND state <> 'resolved'")
            .bind(org_id)
            .fetch_one(&state.db.pool)
            .await?,
    )
}

fn changed() -> Error {
    Error::Conflict("This alert changed since the page was loaded: reload it and try again.".into())
}

/// The alert as the form was loaded: a 400 for a version that is not a number, a
/// 409 when the alert changed since (every update also checks the version).
async fn as_loaded(state: &AppState, id: &str, version: &str) -> Result<Alert> {
    let alert = get(state, id).await?;
    if alert.version != version_of(version)? {
        return Err(changed());
    }
    Ok(alert)
}

/// A conditional update changed the one alert, or it changed in between: a 409.
fn one_changed(result: sqlx::any::AnyQueryResult) -> Result<()> {
    if result.rows_affected() == 1 {
        Ok(())
    } else {
        Err(changed())
    }
}

pub async fn acknowledge(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    id: &str,
    version: &str,
) -> Result<()> {
    let alert = as_loaded(state, id, version).await?;
    let mut tx = state.db.begin().await?;
    one_changed(
        sqlx::query(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_by = $1, acknowledged_at = $2, version = version + 1 \
             WHERE id = $3 AND version = $4 AND state = 'open'",
        )
        .bind(&user.id)
        .bind(state.clock.now())
        .bind(id)
        .bind(alert.version)
        .execute(&mut *tx)
        .await?,
    )?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "alerts.acknowledged")
            .client(client)
            .org(alert.org_id.as_deref())
            .resource("alert", id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn resolve(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    id: &str,
    version: &str,
    note: &str,
) -> Result<()> {
    let alert = as_loaded(state, id, version).await?;
    let mut invalid = Invalid::new();
    invalid.text("resolution", note, "Say how the alert was resolved", 2000);
    invalid.into_result()?;
    let mut tx = state.db.begin().await?;
    one_changed(
        sqlx::query(
            "UPDATE alerts SET state = 'resolved', resolved_by = $1, resolved_at = $2, resolution = $3, version = version + 1 \
             WHERE id = $4 AND version = $5 AND state IN ('open', 'acknowledged')",
        )
        .bind(&user.id)
        .bind(state.clock.now())
        .bind(note.trim())
        .bind(id)
        .bind(alert.version)
        .execute(&mut *tx)
        .await?,
    )?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "alerts.resolved")
            .client(client)
            .org(alert.org_id.as_deref())
            .resource("alert", id)
            .details(json!({ "resolution": note.trim() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A bank admin suspends the alert's client in one step; the alert is acknowledged
/// by it (if it was open) and links the suspension.
pub async fn suspend_client(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    id: &str,
    version: &str,
    reason: &str,
) -> Result<String> {
    let alert = get(state, id).await?;
    let version = version_of(version)?;
    let app_id = alert.app_id.clone().ok_or_else(|| {
        Error::Conflict("This alert is about a source address, not one client.".into())
    })?;
    if alert.suspension_id.is_some() {
        return Err(Error::Conflict(
            "The client was already suspended from this alert.".into(),
        ));
    }
    if alert.version != version {
        return Err(changed());
    }
    let mut invalid = Invalid::new();
    invalid.text("reason", reason, "Give a reason for the suspension", 1000);
    invalid.into_result()?;
    let reason = format!("Alert {}: {}", title_of_alert(&alert), reason.trim());
    let suspension =
        crate::governance::suspension::suspend(state, admin, client, "client", &app_id, &reason)
            .await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "UPDATE alerts SET suspension_id = $1, state = CASE WHEN state = 'open' THEN 'acknowledged' ELSE state END, \
         acknowledged_by = COALESCE(acknowledged_by, $2), acknowledged_at = COALESCE(acknowledged_at, $3), version = version + 1 \
         WHERE id = $4",
    )
    .bind(&suspension)
    .bind(&admin.id)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "alerts.client_suspended")
            .client(client)
            .org(alert.org_id.as_deref())
            .resource("alert", id)
            .details(json!({ "app_id": app_id, "suspension": suspension })),
    )
    .await?;
    tx.commit().await?;
    Ok(suspension)
}

fn title_of_alert(alert: &Alert) -> String {
    format!(
        "{} ({})",
        super::alerts::title_of(&alert.rule),
        alert
            .app_name
            .clone()
            .or(alert.source.clone())
            .unwrap_or_default()
    )
}

/// Opens an incident from the alert in one step: its organisation, client,
/// severity, detection time and evidence; the alert links it.
pub async fn open_incident(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    id: &str,
    version: &str,
) -> Result<String> {
    let alert = as_loaded(state, id, version).await?;
    if let Some(existing) = &alert.incident_id {
        return Err(Error::Conflict(format!(
            "Incident {existing} is already open for this alert."
        )));
    }
    let org_id = alert
        .org_id
        .clone()
        .ok_or_else(|| Error::Conflict("This alert is not about one organisation's client: open the incident from the incidents page.".into()))?;
    let detected =
        time::OffsetDateTime::from_unix_timestamp(alert.first_seen_at).map_err(Error::internal)?;
    let new = crate::incidents::NewIncident {
        org_id,
        title: format!("Alert: {}", title_of_alert(&alert)),
        severity: alert.severity.clone(),
        detected_date: format!(
            "{:04}-{:02}-{:02}",
            detected.year(),
            u8::from(detected.month()),
            detected.day()
        ),
        detected_time: format!("{:02}:{:02}", detected.hour(), detected.minute()),
        detection: format!(
            "Anomaly alert {} ({}): {}\nEvidence: {}",
            alert.id, alert.rule, alert.summary, alert.evidence
        ),
        app_ids: alert.app_id.clone().into_iter().collect(),
    };
    let incident = crate::incidents::open(state, user, client, &new).await?;
    let mut tx = state.db.begin().await?;
    sqlx::query("UPDATE alerts SET incident_id = $1, version = version + 1 WHERE id = $2")
        .bind(&incident)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "alerts.incident_opened")
            .client(client)
            .org(alert.org_id.as_deref())
            .resource("alert", id)
            .details(json!({ "incident": incident })),
    )
    .await?;
    tx.commit().await?;
    Ok(incident)
}
