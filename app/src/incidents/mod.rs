//! Incident records: a bank user opens an incident at a partner (its organisation and
//! clients), records how it was detected, who was told and when, what contained it
//! (suspensions taken from the incident page are linked to it) and, to close it, the
//! post-incident review. The timeline is read from the audit trail. An organisation's
//! incidents of the last 12 months are a fact of the risk policy (`dossier.incidents`,
//! with those it reported in its questionnaire).

pub mod demo;
pub mod handlers;
mod partner;
pub use partner::{acknowledge, of_org as partner_incidents, PartnerIncident};
mod pages;

use serde_json::json;

use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;
use crate::platform::{ids, time};

pub const SEVERITIES: [(&str, &str); 4] = [
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
    ("critical", "Critical"),
];

#[derive(Clone, Debug)]
pub struct Incident {
    pub id: String,
    pub org_id: String,
    pub organisation: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub detected_at: i64,
    pub detection: String,
    pub opened_by: String,
    pub opened_at: i64,
    pub review: Option<String>,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    pub version: i64,
    /// The partner member who acknowledged it, and when (a service level).
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    /// (app id, client name, client id)
    pub clients: Vec<(String, String, String)>,
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: String,
    pub body: String,
    pub told: Option<String>,
    pub told_at: Option<i64>,
    pub suspension_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

const SELECT: &str = "SELECT i.id, i.org_id, o.legal_name, i.title, i.severity, i.status, i.detected_at, i.detection, \
     u.email, i.opened_at, i.review, c.email, i.closed_at, i.version, k.email, i.acknowledged_at \
     FROM incidents i JOIN organisations o ON o.id = i.org_id JOIN users u ON u.id = i.opened_by \
     LEFT JOIN users k ON k.id = i.acknowledged_by \
     LEFT JOIN users c ON c.id = i.closed_by";

/// An incident from a row of [`SELECT`], with its clients.
async fn from_row(state: &AppState, row: &sqlx::any::AnyRow) -> Result<Incident> {
    use sqlx::Row;
    let id: String = row.try_get(0)?;
    let clients = sqlx::query_as(
        "SELECT a.id, a.name, a.client_id FROM incident_clients x JOIN apps a ON a.id = x.app_id \
         WHERE x.incident_id = $1 ORDER BY a.name",
    )
    .bind(&id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(Incident {
        id,
        org_id: row.try_get(1)?,
        organisation: row.try_get(2)?,
        title: row.try_get(3)?,
        severity: row.try_get(4)?,
        status: row.try_get(5)?,
        detected_at: row.try_get(6)?,
        detection: row.try_get(7)?,
        opened_by: row.try_get(8)?,
        opened_at: row.try_get(9)?,
        review: row.try_get(10)?,
        closed_by: row.try_get(11)?,
        closed_at: row.try_get(12)?,
        version: row.try_get(13)?,
        acknowledged_by: row.try_get(14)?,
        acknowledged_at: row.try_get(15)?,
        clients,
    })
}

pub async fn list(state: &AppState) -> Result<Vec<Incident>> {
    let rows = sqlx::query(&format!("{SELECT} ORDER BY i.opened_at DESC, i.id DESC"))
        .fetch_all(&state.db.pool)
        .await?;
    let mut out = Vec::new();
    for row in &rows {
        out.push(from_row(state, row).await?);
    }
    Ok(out)
}

pub async fn get(state: &AppState, id: &str) -> Result<Incident> {
    let row = sqlx::query(&format!("{SELECT} WHERE i.id = $1"))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or(Error::NotFound)?;
    from_row(state, &row).await
}

type EntryRow = (
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    String,
    i64,
);

pub async fn entries(state: &AppState, id: &str) -> Result<Vec<Entry>> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT e.kind, e.body, e.told, e.told_at, e.suspension_id, u.email, e.created_at \
             FROM incident_entries e JOIN users u ON u.id = e.created_by WHERE e.incident_id = $1 \
             ORDER BY e.created_at, e.id",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(kind, body, told, told_at, suspension_id, created_by, created_at)| Entry {
                kind,
                body,
                told,
                told_at,
                suspension_id,
                created_by,
                created_at,
            },
        )
        .collect())
}

/// One event of the timeline: (when, who, action, details).
pub type TimelineEvent = (i64, Option<String>, String, String);

/// The incident's timeline: its own audit events and those of the suspensions taken
/// for it, in the trail's order.
pub async fn timeline(state: &AppState, id: &str) -> Result<Vec<TimelineEvent>> {
    Ok(sqlx::query_as(
        "SELECT occurred_at, actor_label, action, details FROM audit_events \
         WHERE (resource_type = 'incident' AND resource_id = $1) \
         OR (resource_type = 'suspension' AND resource_id IN \
             (SELECT suspension_id FROM incident_entries WHERE incident_id = $1 AND suspension_id IS NOT NULL)) \
         ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&state.db.pool)
    .await?)
}

/// `YYYY-MM-DD` and an optional `HH:MM` (UTC) as a time.
fn moment(date: &str, at: &str) -> Option<i64> {
    let day = time::parse_date(date.trim())?;
    let at = at.trim();
    if at.is_empty() {
        return Some(day);
    }
    let (h, m) = at.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(day + h * 3600 + m * 60)
}

/// What a bank user records when opening an incident.
#[derive(Clone, Debug, Default)]
pub struct NewIncident {
    pub org_id: String,
    pub title: String,
    pub severity: String,
    pub detected_date: String,
    pub detected_time: String,
    pub detection: String,
    pub app_ids: Vec<String>,
}

pub async fn open(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    new: &NewIncident,
) -> Result<String> {
    let now = state.clock.now();
    let mut invalid = Invalid::new();
    invalid.text("title", &new.title, "Give the incident a title", 200);
    invalid.text("detection", &new.detection, "Say how it was detected", 2000);
    if !SEVERITIES.iter().any(|(s, _)| *s == new.severity) {
        invalid.add("severity", "Choose a severity.");
    }
    let detected_at = moment(&new.detected_date, &new.detected_time);
    match detected_at {
        None => invalid.add(
            "detected_date",
            "Enter when it was detected: a date (YYYY-MM-DD) and optionally a time (HH:MM, UTC).",
        ),
        Some(at) if at > now => {
            invalid.add("detected_date", "The detection cannot be in the future.")
        }
        _ => {}
    }
    let org: Option<String> =
        sqlx::query_scalar("SELECT legal_name FROM organisations WHERE id = $1")
            .bind(new.org_id.trim())
            .fetch_optional(&state.db.pool)
            .await?;
    if org.is_none() {
        invalid.add("org_id", "Choose the organisation.");
    }
    for app in &new.app_ids {
        let of_org: Option<String> =
            sqlx::query_scalar("SELECT id FROM apps WHERE id = $1 AND org_id = $2")
                .bind(app)
                .bind(new.org_id.trim())
                .fetch_optional(&state.db.pool)
                .await?;
        if of_org.is_none() {
            invalid.add("app_ids", "Each client must be one of the organisation's.");
            break;
        }
    }
    invalid.into_result()?;
    let id = ids::new_id("inc");
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO incidents (id, org_id, title, severity, status, detected_at, detection, opened_by, opened_at) \
         VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(new.org_id.trim())
    .bind(new.title.trim())
    .bind(&new.severity)
    .bind(detected_at.unwrap_or(now))
    .bind(new.detection.trim())
    .bind(&user.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for app in &new.app_ids {
        sqlx::query("INSERT INTO incident_clients (incident_id, app_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&id)
            .bind(app)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        Event::new(user.actor(), "incident.opened")
            .client(client)
            .org(Some(new.org_id.trim()))
            .resource("incident", &id)
            .details(json!({
                "title": new.title.trim(), "severity": new.severity, "clients": new.app_ids,
                "detected_at": time::rfc3339(detected_at.unwrap_or(now)), "detection": new.detection.trim(),
            })),
    )
    .await?;
    // The partner is told at once: acknowledging is one of its service levels.
    let admins: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE org_id = $1 AND role = 'partner_admin' AND status = 'active' ORDER BY email",
    )
    .bind(new.org_id.trim())
    .fetch_all(&mut *tx)
    .await?;
    let link = state.settings.link(&format!("/relationship#incident-{id}"));
    let body = format!(
        "Hello,\n\nThe bank opened an incident at your organisation: \"{}\" (severity {}).\n\n\
         Please acknowledge it on your Service levels page, so the bank knows you are on it:\n{link}\n\n\
         How long acknowledging takes is one of your organisation's service levels.\n\n\
         You receive this as a partner admin of your organisation in Gatehouse.\n",
        new.title.trim(),
        new.severity
    );
    for email in admins {
        crate::mail::enqueue(
            &mut tx,
            &email,
            "Gatehouse: an incident was opened at your organisation",
            &body,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

async fn editable(state: &AppState, id: &str, version: &str) -> Result<Incident> {
    let incident = get(state, id).await?;
    if incident.status == "closed" {
        return Err(Error::Conflict("This incident is closed.".into()));
    }
    if version.trim() != incident.version.to_string() {
        return Err(Error::Conflict(
            "This incident changed since you opened it: reload the page.".into(),
        ));
    }
    Ok(incident)
}

async fn bump(
    tx: &mut crate::platform::db::Tx,
    id: &str,
    version: i64,
    status: Option<&str>,
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE incidents SET version = version + 1, status = COALESCE($1, status) WHERE id = $2 AND version = $3 AND status <> 'closed'",
    )
    .bind(status)
    .bind(id)
    .bind(version)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This incident changed since you opened it: reload the page.".into(),
        ));
    }
    Ok(())
}

/// Records who was told, and when (an escalation), or a note.
#[allow(clippy::too_many_arguments)]
pub async fn record_entry(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    id: &str,
    version: &str,
    kind: &str,
    body: &str,
    told: &str,
    told_date: &str,
    told_time: &str,
) -> Result<()> {
    let incident = editable(state, id, version).await?;
    let mut invalid = Invalid::new();
    invalid.text("body", body, "Say what happened", 2000);
    let told_at = if kind == "escalation" {
        invalid.text("told", told, "Say who was told", 300);
        let at = moment(told_date, told_time);
        if at.is_none_or(|at| at > state.clock.now()) {
            invalid.add(
                "told_date",
                "Enter when they were told: a date and optionally a time (UTC), not in the future.",
            );
        }
        at
    } else if kind == "note" {
        None
    } else {
        return Err(Error::BadRequest("Unknown kind of entry.".into()));
    };
    invalid.into_result()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    bump(&mut tx, id, incident.version, None).await?;
    sqlx::query(
        "INSERT INTO incident_entries (id, incident_id, kind, body, told, told_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ids::new_id("ine"))
    .bind(id)
    .bind(kind)
    .bind(body.trim())
    .bind((kind == "escalation").then(|| told.trim().to_string()))
    .bind(told_at)
    .bind(&user.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let action = if kind == "escalation" {
        "incident.escalated"
    } else {
        "incident.noted"
    };
    audit::record(
        &mut tx,
        Event::new(user.actor(), action)
            .client(client)
            .org(Some(&incident.org_id))
            .resource("incident", id)
            .details(json!({ "body": body.trim(), "told": told.trim(), "told_at": told_at.map(time::rfc3339) })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Contains the incident by suspending one of its clients (the governance kill
/// switch), linked to the incident.
pub async fn contain(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    id: &str,
    version: &str,
    app_id: &str,
    reason: &str,
) -> Result<String> {
    let incident = editable(state, id, version).await?;
    if !incident.clients.iter().any(|(app, _, _)| app == app_id) {
        return Err(Error::Invalid(Invalid::field(
            "app_id",
            "Choose one of the incident's clients.",
        )));
    }
    let reason = format!("Incident {}: {}", incident.title, reason.trim());
    // One transaction: the version check first, then the suspension and its entry,
    // so a conflict or a double click leaves no suspension outside the incident
    // (review finding L8).
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    bump(&mut tx, id, incident.version, Some("contained")).await?;
    let suspension = crate::governance::suspension::suspend_in(
        state, &mut tx, admin, client, "client", app_id, &reason,
    )
    .await?;
    sqlx::query(
        "INSERT INTO incident_entries (id, incident_id, kind, body, suspension_id, created_by, created_at) \
         VALUES ($1, $2, 'containment', $3, $4, $5, $6)",
    )
    .bind(ids::new_id("ine"))
    .bind(id)
    .bind(&reason)
    .bind(&suspension)
    .bind(&admin.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "incident.contained")
            .client(client)
            .org(Some(&incident.org_id))
            .resource("incident", id)
            .details(json!({ "app_id": app_id, "suspension": suspension, "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(suspension)
}

/// Closes the incident with its post-incident review.
pub async fn close(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    id: &str,
    version: &str,
    review: &str,
) -> Result<()> {
    let incident = editable(state, id, version).await?;
    let mut invalid = Invalid::new();
    invalid.text("review", review, "Write the post-incident review", 5000);
    invalid.into_result()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let closed = sqlx::query(
        "UPDATE incidents SET status = 'closed', review = $1, closed_by = $2, closed_at = $3, version = version + 1 \
         WHERE id = $4 AND version = $5 AND status <> 'closed'",
    )
    .bind(review.trim())
    .bind(&user.id)
    .bind(now)
    .bind(id)
    .bind(incident.version)
    .execute(&mut *tx)
    .await?;
    if closed.rows_affected() != 1 {
        return Err(Error::Conflict("This incident was already closed.".into()));
    }
    audit::record(
        &mut tx,
        Event::new(user.actor(), "incident.closed")
            .client(client)
            .org(Some(&incident.org_id))
            .resource("incident", id)
            .details(json!({ "review": review.trim() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The organisation's incidents opened in the 12 months before `now` (a risk fact).
pub async fn recent_count(state: &AppState, org_id: &str, now: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE org_id = $1 AND detected_at > $2")
            .bind(org_id)
            .bind(now - 365 * 86_400)
            .fetch_one(&state.db.pool)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_take_a_date_and_an_optional_time() {
        let day = time::parse_date("2026-11-30").unwrap_or_default();
        assert_eq!(moment("2026-11-30", ""), Some(day));
        assert_eq!(moment("2026-11-30", "14:05"), Some(day + 14 * 3600 + 300));
        assert_eq!(moment("2026-11-30", "25:00"), None);
        assert_eq!(moment("30/11/2026", ""), Some(day), "as written in the UK");
        assert_eq!(moment("31/11/2026", ""), None);
    }
}
