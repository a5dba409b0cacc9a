//! The bank's side: the review queue, the dossier, assignment and decisions. A
//! decision is a conditional update on the application's status and version inside
//! a transaction, so a double submit or two reviewers at once make exactly one
//! decision and the other gets a clear conflict. Nobody reviews an organisation
//! they belong to.

use serde_json::json;

use super::catalogue;
use super::service::{
    self, add_message, app_of, message_text, notify_partner_admins, Application, APP_SELECT,
};
use crate::audit::{self, AuditFilter, AuditRow, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;

/// Queue filters (all optional).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct QueueFilter {
    #[serde(default)]
    pub tier: String,
    /// `submitted` (default), `more_info`, `approved`, `rejected` or `all`.
    #[serde(default)]
    pub status: String,
    /// Only applications waiting at least this many days.
    #[serde(default)]
    pub min_age_days: String,
}

#[derive(Clone, Debug)]
pub struct QueueItem {
    pub app: Application,
    pub tier_name: String,
    pub sla_hours: i64,
    pub waiting_secs: i64,
}

impl QueueItem {
    pub fn overdue(&self) -> bool {
        self.app.status == "submitted" && self.waiting_secs > self.sla_hours * 3600
    }
}

pub const QUEUE_STATUSES: [(&str, &str); 5] = [
    ("submitted", "Waiting for review"),
    ("more_info", "Waiting for the partner"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("all", "All"),
];

/// The queue, oldest submission first.
pub async fn queue(state: &AppState, filter: &QueueFilter) -> Result<Vec<QueueItem>> {
    let status = match filter.status.as_str() {
        "" => "submitted",
        s if QUEUE_STATUSES.iter().any(|(v, _)| *v == s) => s,
        _ => return Err(Error::BadRequest("Unknown status filter.".into())),
    };
    let tier = match filter.tier.as_str() {
        "" => None,
        t => Some(
            t.parse::<i64>()
                .map_err(|_| Error::BadRequest("Unknown tier filter.".into()))?,
        ),
    };
    let min_age = match filter.min_age_days.as_str() {
        "" => 0,
        d => d
            .parse::<i64>()
            .ok()
            .filter(|d| (0..=3650).contains(d))
            .ok_or_else(|| Error::BadRequest("The age filter is a number of days.".into()))?,
    };
    let now = state.clock.now();
    let rows = sqlx::query_as(&format!(
        "{APP_SELECT} WHERE a.status <> 'draft' AND ($1 = 'all' OR a.status = $1) AND ($2 = 0 OR a.tier = $2) \
         AND a.submitted_at <= $3 ORDER BY a.submitted_at, a.id LIMIT 500"
    ))
    .bind(status)
    .bind(tier.unwrap_or(0))
    .bind(now - min_age * 86_400)
    .fetch_all(&state.db.pool)
    .await?;
    let tiers = catalogue::tiers(state).await?;
    Ok(rows
        .into_iter()
        .map(app_of)
        .map(|app| {
            let tier = tiers.iter().find(|t| t.level == app.tier);
            QueueItem {
                tier_name: tier
                    .map(|t| t.name.clone())
                    .unwrap_or_else(|| format!("Tier {}", app.tier)),
                sla_hours: tier.map(|t| t.review_sla_hours).unwrap_or(72),
                waiting_secs: now - app.submitted_at.unwrap_or(now),
                app,
            }
        })
        .collect())
}

/// Why the bank user with `reviewer_email` may not review `org_id`, if they may not:
/// they belong to it. Bank staff have no organisation in Gatehouse (the schema forbids
/// it), so belonging is read from e-mail domains: the reviewer's domain is one of the
/// organisation's active members' or its website's. Invited, disabled and removed
/// members do not count: a partner cannot make every reviewer "conflicted" by
/// inviting an address at the bank.
pub async fn conflict(
    state: &AppState,
    reviewer_email: &str,
    org_id: &str,
) -> Result<Option<String>> {
    conflict_with(state, reviewer_email, org_id, true).await
}

/// `conflict` by membership only, not by the website the partner sets: for bank
/// decisions the partner would rather not get (an access review's narrowing), a
/// website naming the bank's domain must not block every reviewer.
pub async fn conflict_by_membership(
    state: &AppState,
    reviewer_email: &str,
    org_id: &str,
) -> Result<Option<String>> {
    conflict_with(state, reviewer_email, org_id, false).await
}

async fn conflict_with(
    state: &AppState,
    reviewer_email: &str,
    org_id: &str,
    by_website: bool,
) -> Result<Option<String>> {
    let Some(domain) = reviewer_email
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
    else {
        return Ok(None);
    };
    let emails: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE org_id = $1 AND status = 'active' AND removed_at IS NULL",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let website: String = sqlx::query_scalar("SELECT website FROM organisations WHERE id = $1")
        .bind(org_id)
        .fetch_one(&state.db.pool)
        .await?;
    let website_host = url::Url::parse(&website).ok().and_then(|u| {
        u.host_str()
            .map(|h| h.trim_start_matches("www.").to_ascii_lowercase())
    });
    let member_domain = emails.iter().any(|e| {
        e.rsplit_once('@')
            .is_some_and(|(_, d)| d.eq_ignore_ascii_case(&domain))
    });
    if member_domain || (by_website && website_host.as_deref() == Some(domain.as_str())) {
        return Ok(Some(format!(
            "Your e-mail domain ({domain}) is this organisation's: you cannot review an organisation you belong to."
        )));
    }
    Ok(None)
}

/// The reviewers an application can be assigned to.
pub async fn reviewers(state: &AppState) -> Result<Vec<(String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, display_name, email FROM users WHERE role IN ('reviewer', 'approver') AND status = 'active' \
         ORDER BY display_name, id",
    )
    .fetch_all(&state.db.pool)
    .await?)
}

/// Assigns a submitted application to a reviewer (or to nobody, with an empty id).
pub async fn assign(
    state: &AppState,
    by: &AuthUser,
    client: &ClientInfo,
    app: &Application,
    assignee: &str,
) -> Result<()> {
    if app.status != "submitted" {
        return Err(Error::Conflict(
            "Only an application waiting for review can be assigned.".into(),
        ));
    }
    let assignee = assignee.trim();
    let target = if assignee.is_empty() {
        None
    } else {
        let found = reviewers(state)
            .await?
            .into_iter()
            .find(|(id, _, _)| id == assignee);
        let Some((id, name, email)) = found else {
            return Err(Error::Invalid(Invalid::field(
                "assignee",
                "Choose a reviewer.",
            )));
        };
        if let Some(reason) = conflict(state, &email, &app.org_id).await? {
            return Err(Error::Invalid(Invalid::field(
                "assignee",
                format!("{name}: {reason}"),
            )));
        }
        Some(id)
    };
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE applications SET assigned_to = $1, updated_at = $2 WHERE id = $3 AND status = 'submitted'",
    )
    .bind(&target)
    .bind(state.clock.now())
    .bind(&app.id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict(
            "The application was decided meanwhile.".into(),
        ));
    }
    audit::record(
        &mut tx,
        Event::new(by.actor(), "review.assigned")
            .client(client)
            .org(Some(&app.org_id))
            .resource("application", &app.id)
            .details(json!({ "assignee": target })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    MoreInfo,
}

impl Decision {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "approve" => Some(Self::Approve),
            "reject" => Some(Self::Reject),
            "more_info" => Some(Self::MoreInfo),
            _ => None,
        }
    }
    fn status(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Reject => "rejected",
            Self::MoreInfo => "more_info",
        }
    }
    fn action(self) -> &'static str {
        match self {
            Self::Approve => "review.approved",
            Self::Reject => "review.rejected",
            Self::MoreInfo => "review.more_info_requested",
        }
    }
}

/// Records a reviewer's decision on the round they saw (`version`).
pub async fn decide(
    state: &AppState,
    reviewer: &AuthUser,
    client: &ClientInfo,
    app: &Application,
    decision: &str,
    text: &str,
    version: i64,
) -> Result<()> {
    if let Some(reason) = conflict(state, &reviewer.email, &app.org_id).await? {
        record_refusal(state, reviewer, client, app, &reason).await?;
        return Err(Error::Forbidden(reason));
    }
    let Some(decision) = Decision::parse(decision) else {
        return Err(Error::Invalid(Invalid::field(
            "decision",
            "Choose approve, reject or ask for more information.",
        )));
    };
    let text = match decision {
        Decision::Approve => text
            .trim()
            .chars()
            .take(service::MAX_MESSAGE)
            .collect::<String>(),
        Decision::Reject => message_text("text", text, "the reason for the rejection")?,
        Decision::MoreInfo => message_text("text", text, "your questions to the partner")?,
    };
    let tier = catalogue::tier(state, app.tier).await?;
    let now = state.clock.now();
    let final_decision = decision != Decision::MoreInfo;
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE applications SET status = $1, version = version + 1, updated_at = $2, \
             decided_at = CASE WHEN $3 = 1 THEN $2 ELSE decided_at END, \
             decided_by = CASE WHEN $3 = 1 THEN $4 ELSE decided_by END, \
             decision_reason = CASE WHEN $3 = 1 THEN $5 ELSE decision_reason END \
         WHERE id = $6 AND status = 'submitted' AND version = $7",
    )
    .bind(decision.status())
    .bind(now)
    .bind(i64::from(final_decision))
    .bind(&reviewer.id)
    .bind(&text)
    .bind(&app.id)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        drop(tx);
        let current = service::application(state, None, &app.id).await?;
        let who = current
            .decided_by
            .map(|w| format!(" by {w}"))
            .unwrap_or_default();
        let message = match current.status.as_str() {
            "submitted" => "The application was resubmitted since you opened it: review the new round.".to_string(),
            "more_info" => "Someone already asked the partner for more information on this round: your decision was not recorded.".to_string(),
            status => format!(
                "This application was already decided ({}{who}): your decision was not recorded.",
                super::model::status_label(status).to_lowercase()
            ),
        };
        return Err(Error::Conflict(message));
    }
    if decision == Decision::Approve {
        sqlx::query(
            "INSERT INTO tier_approvals (org_id, tier, application_id, approved_by, approved_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&app.org_id)
        .bind(app.tier)
        .bind(&app.id)
        .bind(&reviewer.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let kind = match decision {
        Decision::Approve => "approval",
        Decision::Reject => "rejection",
        Decision::MoreInfo => "question",
    };
    if !text.is_empty() {
        add_message(&mut tx, app, reviewer, "bank", kind, &text, now).await?;
    }
    audit::record(
        &mut tx,
        Event::new(reviewer.actor(), decision.action())
            .client(client)
            .org(Some(&app.org_id))
            .resource("application", &app.id)
            .details(json!({ "round": app.round, "tier": app.tier, "text": text })),
    )
    .await?;
    let link = state.settings.link(&format!("/onboarding/{}", app.id));
    let (subject, body) = match decision {
        Decision::Approve => (
            format!("Approved: {}", tier.name),
            format!("Your organisation is approved for {}.\n\n{text}\n\nSee the details:\n{link}\n", tier.name),
        ),
        Decision::Reject => (
            format!("Not approved: {}", tier.name),
            format!("Your application for {} was not approved.\n\nThe reviewer's reason:\n{text}\n\nSee the details:\n{link}\n", tier.name),
        ),
        Decision::MoreInfo => (
            format!("More information needed: {}", tier.name),
            format!("The bank needs more information on your application for {}.\n\nThe reviewer asks:\n{text}\n\nAnswer and resubmit here:\n{link}\n", tier.name),
        ),
    };
    notify_partner_admins(&mut tx, &app.org_id, &subject, &body).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

async fn record_refusal(
    state: &AppState,
    reviewer: &AuthUser,
    client: &ClientInfo,
    app: &Application,
    reason: &str,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(reviewer.actor(), "review.refused_conflict")
            .client(client)
            .org(Some(&app.org_id))
            .resource("application", &app.id)
            .outcome("failure")
            .details(json!({ "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The organisation's history, for the dossier view.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub legal_name: String,
    pub registration_number: String,
    pub country: String,
    pub website: String,
    pub created_at: i64,
    pub approvals: Vec<(i64, i64)>,
    pub applications: Vec<Application>,
}

pub async fn history(state: &AppState, org_id: &str) -> Result<History> {
    let (legal_name, registration_number, country, website, created_at): (String, String, String, String, i64) =
        sqlx::query_as("SELECT legal_name, registration_number, country, website, created_at FROM organisations WHERE id = $1")
            .bind(org_id)
            .fetch_one(&state.db.pool)
            .await?;
    let approvals = sqlx::query_as(
        "SELECT tier, approved_at FROM tier_approvals WHERE org_id = $1 ORDER BY tier",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(History {
        legal_name,
        registration_number,
        country,
        website,
        created_at,
        approvals,
        applications: service::applications(state, org_id).await?,
    })
}

/// The audit trail of one application, oldest first.
pub async fn trail(state: &AppState, app: &Application) -> Result<Vec<AuditRow>> {
    let filter = AuditFilter {
        org: app.org_id.clone(),
        ..AuditFilter::default()
    };
    let mut rows: Vec<AuditRow> = audit::chain::list(&state.db.pool, &filter, 1000)
        .await?
        .into_iter()
        .filter(|row| {
            row.resource_id.as_deref() == Some(app.id.as_str())
                || row.action == "onboarding.evidence_uploaded"
        })
        .collect();
    rows.reverse();
    Ok(rows)
}
