//! Reading requests, the reviewers' queue, reviews and the conversation, each
//! scoped to the caller's organisation where a partner asks.

use super::*;

/// The most requests a queue page lists, longest waiting first.
pub const QUEUE_LIMIT: usize = 500;

pub(super) const REQUEST_SELECT: &str = "SELECT r.*, o.legal_name AS org_name, a.name AS app_name \
     FROM access_requests r JOIN organisations o ON o.id = r.org_id JOIN apps a ON a.id = r.app_id";

pub(super) fn request_of(row: &AnyRow) -> Result<AccessRequest> {
    let json = |name: &str| -> Result<Value> {
        let text: String = row.try_get(name)?;
        serde_json::from_str(&text).map_err(Error::internal)
    };
    let route: String = row.try_get("route")?;
    let terms: Option<String> = row.try_get("conditions")?;
    Ok(AccessRequest {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        org_name: row.try_get("org_name")?,
        app_id: row.try_get("app_id")?,
        app_name: row.try_get("app_name")?,
        tier: row.try_get("tier")?,
        scopes: crate::clients::catalogue::split(&row.try_get::<String, _>("scopes")?),
        justifications: serde_json::from_value(json("justifications")?).map_err(Error::internal)?,
        calls_per_day: row.try_get("calls_per_day")?,
        peak_per_second: row.try_get("peak_per_second")?,
        auth_method: row.try_get("auth_method")?,
        key_material: row.try_get("key_material")?,
        ip_allowlist: row
            .try_get::<String, _>("ip_allowlist")?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        allowed_countries: crate::clients::catalogue::split(
            &row.try_get::<String, _>("allowed_countries")?,
        ),
        lifetime_days: row.try_get("lifetime_days")?,
        go_live: row.try_get("go_live")?,
        status: row.try_get("status")?,
        route: Route::parse(&route)
            .ok_or_else(|| Error::Internal(format!("unknown route {route}")))?,
        score: row.try_get("score")?,
        band: row.try_get("band")?,
        policy_id: row.try_get("policy_id")?,
        policy_sha256: row.try_get("policy_sha256")?,
        facts: json("facts")?,
        decision: serde_json::from_value(json("decision")?).map_err(Error::internal)?,
        evidence_version: json("evidence_version")?,
        terms: terms
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(Error::internal)?,
        round: row.try_get("round")?,
        assigned_to: row.try_get("assigned_to")?,
        production_app_id: row.try_get("production_app_id")?,
        secret_collected: row.try_get::<i64, _>("secret_collected")? != 0,
        escalated_at: row.try_get("escalated_at")?,
        version: row.try_get("version")?,
        submitted_by: row.try_get("submitted_by")?,
        submitted_at: row.try_get("submitted_at")?,
        waiting_since: row.try_get("waiting_since")?,
        updated_at: row.try_get("updated_at")?,
        decided_at: row.try_get("decided_at")?,
    })
}

pub(super) async fn load(tx: &mut Tx, id: &str) -> Result<AccessRequest> {
    let row = sqlx::query(&format!("{REQUEST_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)?;
    request_of(&row)
}

/// One request: a partner sees only their organisation's (`org` set), staff any.
pub async fn request(state: &AppState, org: Option<&str>, id: &str) -> Result<AccessRequest> {
    let row = match org {
        Some(org_id) => {
            sqlx::query(&format!(
                "{REQUEST_SELECT} WHERE r.id = $1 AND r.org_id = $2"
            ))
            .bind(id)
            .bind(org_id)
            .fetch_optional(&state.db.pool)
            .await?
        }
        None => {
            sqlx::query(&format!("{REQUEST_SELECT} WHERE r.id = $1"))
                .bind(id)
                .fetch_optional(&state.db.pool)
                .await?
        }
    };
    request_of(&row.ok_or(Error::NotFound)?)
}

pub(super) const NEWEST_FIRST: &str = "ORDER BY r.submitted_at DESC, r.id DESC";

pub async fn requests_of_org(state: &AppState, org_id: &str) -> Result<Vec<AccessRequest>> {
    let rows = sqlx::query(&format!(
        "{REQUEST_SELECT} WHERE r.org_id = $1 {NEWEST_FIRST}"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(request_of).collect()
}

/// The organisation's newest request (the dashboard's panel).
pub async fn latest_request(state: &AppState, org_id: &str) -> Result<Option<AccessRequest>> {
    let row = sqlx::query(&format!(
        "{REQUEST_SELECT} WHERE r.org_id = $1 {NEWEST_FIRST} LIMIT 1"
    ))
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.as_ref().map(request_of).transpose()
}

/// A queue entry: the request with its SLA.
pub struct QueueItem {
    pub request: AccessRequest,
    pub sla_hours: i64,
    pub waiting_secs: i64,
}

impl QueueItem {
    pub fn overdue(&self) -> bool {
        self.request.awaits_review() && self.waiting_secs > self.sla_hours * 3600
    }
}

/// The production queue: `status` one of the statuses or `open` (default: waiting
/// for the bank), oldest first.
pub async fn queue(state: &AppState, status: &str) -> Result<Vec<QueueItem>> {
    let filter = match status {
        "" | "open" => "r.status IN ('pending_review', 'pending_second_review')".to_string(),
        "all" => "1 = 1".to_string(),
        s if model::STATUSES.iter().any(|(v, _)| *v == s) => format!("r.status = '{s}'"),
        _ => return Err(Error::BadRequest("Unknown status filter.".into())),
    };
    let rows = sqlx::query(&format!(
        "{REQUEST_SELECT} WHERE {filter} ORDER BY r.waiting_since, r.id LIMIT {QUEUE_LIMIT}"
    ))
    .fetch_all(&state.db.pool)
    .await?;
    let tiers = catalogue::tiers(state).await?;
    let now = state.clock.now();
    rows.iter()
        .map(|row| {
            let request = request_of(row)?;
            let sla_hours = tiers
                .iter()
                .find(|t| t.level == request.tier)
                .map(|t| t.review_sla_hours)
                .unwrap_or(72);
            Ok(QueueItem {
                waiting_secs: now - request.waiting_since,
                sla_hours,
                request,
            })
        })
        .collect()
}

/// A decision on the record.
#[derive(Clone, Debug)]
pub struct Review {
    pub round: i64,
    pub stage: i64,
    pub reviewer_id: Option<String>,
    pub reviewer_email: Option<String>,
    pub decision: String,
    pub terms: Option<Terms>,
    pub reason: String,
    pub step_up_at: Option<i64>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
pub(super) struct ReviewRow {
    round: i64,
    stage: i64,
    reviewer_id: Option<String>,
    reviewer_email: Option<String>,
    decision: String,
    conditions: Option<String>,
    reason: String,
    step_up_at: Option<i64>,
    created_at: i64,
}

pub async fn reviews(state: &AppState, request_id: &str) -> Result<Vec<Review>> {
    let rows: Vec<ReviewRow> = sqlx::query_as(
        "SELECT round, stage, reviewer_id, reviewer_email, decision, conditions, reason, step_up_at, created_at \
         FROM access_reviews WHERE request_id = $1 ORDER BY created_at, round, stage",
    )
    .bind(request_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Review {
            round: r.round,
            stage: r.stage,
            reviewer_id: r.reviewer_id,
            reviewer_email: r.reviewer_email,
            decision: r.decision,
            terms: r.conditions.and_then(|t| serde_json::from_str(&t).ok()),
            reason: r.reason,
            step_up_at: r.step_up_at,
            created_at: r.created_at,
        })
        .collect())
}

/// The conversation: (from the bank, author, text, at).
pub async fn messages(
    state: &AppState,
    request_id: &str,
) -> Result<Vec<(bool, String, String, i64)>> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT m.from_bank, COALESCE(u.display_name, m.author_id), m.body, m.created_at \
         FROM access_request_messages m LEFT JOIN users u ON u.id = m.author_id \
         WHERE m.request_id = $1 ORDER BY m.created_at, m.id",
    )
    .bind(request_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(bank, author, body, at)| (bank != 0, author, body, at))
        .collect())
}
