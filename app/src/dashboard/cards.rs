//! The dashboard's cards: each role's places to go, with the figures that concern it.

use leptos::prelude::*;

use crate::platform::authz::Role;
use crate::platform::format::{count, thousands};

/// What the dashboard shows; each role reads the parts that concern it.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub name: String,
    pub org_name: Option<String>,
    pub mfa_enabled: bool,
    pub members: i64,
    pub pending_invitations: i64,
    pub staff_without_mfa: i64,
    pub users_total: i64,
    pub organisations: i64,
    pub audit_events: i64,
    /// Request-log entries this instance lost (readiness evidence may be incomplete).
    pub request_log_dropped: u64,
    /// The highest tier the organisation is approved for.
    pub approved_tier: Option<i64>,
    /// The organisation's latest application: id, tier, status label.
    pub application: Option<(String, i64, String)>,
    /// The bank's latest message on it.
    pub last_message: Option<String>,
    /// The organisation's latest production request: id, app name, status label.
    pub production_request: Option<(String, String, String)>,
    /// Active production clients of the organisation.
    pub production_clients: i64,
    /// Production requests waiting for the bank.
    pub production_waiting: i64,
    /// Applications waiting for review, and how many of them are past their SLA.
    pub queue_waiting: i64,
    pub queue_overdue: i64,
    /// The sweep's open notices for the organisation: (message, client page).
    pub credential_notices: Vec<(String, Option<String>)>,
    /// Access-review items waiting for the organisation: (item id, client, due at).
    pub reviews_due: Vec<(String, String, String)>,
    /// For the bank: suspensions in force and exceptions waiting for a decision.
    pub suspensions_open: i64,
    pub exceptions_pending: i64,
}

/// The welcome line, and the warning a partner admin without two-step verification needs.
pub fn greeting(role: Role, summary: &Summary) -> AnyView {
    let greeting = format!("Welcome, {}.", summary.name);
    let mfa_warning = (!summary.mfa_enabled && role == Role::PartnerAdmin).then(|| {
        view! {
            <div class="warning"><p>"Set up two-step verification: partner admins need it before they can request production access. "<a href="/account/totp">"Set it up now"</a></p></div>
        }
    });
    view! { <p class="lead">{greeting}</p> {mfa_warning} }.into_any()
}

/// The bank's governance figures and registers.
fn governance_card(summary: &Summary) -> AnyView {
    view! {
        <section class="card" id="governance-panel">
            <h2>"Governance"</h2>
            <p>{format!(
                "{} in force, {} waiting for a decision.",
                count(summary.suspensions_open, "suspension", None),
                count(summary.exceptions_pending, "exception", None)
            )}</p>
            <p><a href="/governance/bank/inventory">"Consumer inventory"</a>" · "<a href="/governance/bank/exceptions">"Exception register"</a>" · "<a href="/governance/bank/suspensions">"Suspensions"</a></p>
        </section>
    }
    .into_any()
}

pub fn page(role: Role, summary: Summary) -> AnyView {
    let panels = match role {
        Role::PartnerAdmin | Role::PartnerDeveloper => view! {
            <section class="card">
                <h2>"Your organisation"</h2>
                <p>{summary.org_name.clone().unwrap_or_default()}</p>
                <p>{format!("{}, {} pending.", count(summary.members, "member", None), count(summary.pending_invitations, "invitation", None))}</p>
                <p><a href="/org/members">{if role == Role::PartnerAdmin { "Manage your team" } else { "See your team" }}</a></p>
            </section>
            <section class="card" id="onboarding-panel">
                <h2>"Onboarding"</h2>
                <p>{match summary.approved_tier { Some(tier) => format!("Approved for tier {tier}."), None => "Not approved for any tier yet.".to_string() }}</p>
                {summary.application.clone().map(|(id, tier, status)| view! {
                    <p>{format!("Application for tier {tier}: {status}. ")}<a href=format!("/onboarding/{id}")>"Open it"</a></p>
                })}
                {summary.last_message.clone().map(|m| view! { <p class="message-body">{format!("The bank wrote: {m}")}</p> })}
                <p><a href="/onboarding">"Onboarding and due diligence"</a></p>
            </section>
            <section class="card" id="production-panel">
                <h2>"Production"</h2>
                <p>{format!("{}.", count(summary.production_clients, "active production client", None))}</p>
                {summary.production_request.clone().map(|(id, app, status)| view! {
                    <p>{format!("Latest request, for {app}: {status}. ")}<a href=format!("/production/requests/{id}")>"Open it"</a></p>
                })}
                <p><a href="/production">"Production access"</a></p>
            </section>
            <section class="card" id="credentials-panel">
                <h2>"Credentials"</h2>
                {summary.credential_notices.is_empty().then(|| view! { <p>"Nothing needs your attention: no credential is expiring, dormant or without an owner."</p> })}
                <ul>{summary.credential_notices.iter().map(|(message, link)| view! {
                    <li>{message.clone()}{link.clone().map(|href| view! { " "<a href=href>"Open the client"</a> })}</li>
                }).collect_view()}</ul>
                <p><a href="/governance/inventory">"Your inventory of clients and credentials"</a></p>
            </section>
            <section class="card" id="reviews-panel">
                <h2>"Reviews due"</h2>
                {summary.reviews_due.is_empty().then(|| view! { <p>"No access review is waiting for you."</p> })}
                <ul>{summary.reviews_due.iter().map(|(id, client, due)| view! {
                    <li><a href=format!("/reviews/items/{id}")>{format!("Access review of {client}")}</a>{format!(": due {due}")}</li>
                }).collect_view()}</ul>
                <p><a href="/reviews">"All your access reviews"</a></p>
            </section>
            <section class="card">
                <h2>"Sandbox"</h2>
                <p>"Register sandbox apps and get credentials at once: no approval is needed for the sandbox."</p>
                <p><a href="/sandbox/apps">"Your sandbox apps"</a>" · "<a href="/sandbox/data">"Your sandbox data"</a>" · "<a href="/sandbox/docs">"Sandbox documentation"</a></p>
            </section>
        }
        .into_any(),
        Role::Reviewer | Role::Approver => view! {
            <section class="card">
                <h2>"Review queue"</h2>
                <p>{format!("{} waiting ({} past the review SLA); {} waiting for the bank.", count(summary.queue_waiting, "onboarding application", None), thousands(summary.queue_overdue), count(summary.production_waiting, "production request", None))}</p>
                <p><a href="/review">"Onboarding queue"</a>" · "<a href="/review/production">"Production queue"</a></p>
            </section>
            <section class="card">
                <h2>{if role == Role::Approver { "Second approvals" } else { "Your role" }}</h2>
                <p>{if role == Role::Approver { "High-risk requests need a second, different person: you." } else { "You review dossiers and requests; high-risk requests also need an approver." }}</p>
            </section>
            {governance_card(&summary)}
        }
        .into_any(),
        Role::Admin => view! {
            <section class="card">
                <h2>"Users"</h2>
                <p>{format!("{} in {}.", count(summary.users_total, "user", None), count(summary.organisations, "partner organisation", None))}</p>
                {(summary.staff_without_mfa > 0).then(|| view! { <p class="warning">{format!("{} not set up two-step verification yet.", count(summary.staff_without_mfa, "bank user has", Some("bank users have")))}</p> })}
                <p><a href="/admin/users">"Manage users"</a></p>
            </section>
            <section class="card">
                <h2>"Audit trail"</h2>
                <p>{format!("{} recorded.", count(summary.audit_events, "event", None))}</p>
                {(summary.request_log_dropped > 0).then(|| view! { <p class="warning" id="request-log-dropped">{format!("{} could not be written since this server started (see gatehouse_request_log_dropped_total). Sandbox readiness, which is judged on that log, may be understated.", count(summary.request_log_dropped as i64, "request-log entry", Some("request-log entries")))}</p> })}
                <p><a href="/admin/audit">"Browse and export"</a></p>
            </section>
            {governance_card(&summary)}
        }
        .into_any(),
    };
    view! { <div class="cards">{panels}</div> }.into_any()
}

#[cfg(feature = "ssr")]
pub async fn summary(
    state: &crate::AppState,
    user: &crate::platform::context::AuthUser,
) -> crate::platform::error::Result<Summary> {
    let state = state.clone();
    let count = |sql: &'static str, bind: Option<String>| {
        let pool = state.db.pool.clone();
        async move {
            let mut query = sqlx::query_scalar::<_, i64>(sql);
            if let Some(value) = bind {
                query = query.bind(value);
            }
            query.fetch_one(&pool).await
        }
    };
    let mut summary = Summary {
        name: user.display_name.clone(),
        org_name: user.org_name.clone(),
        mfa_enabled: user.mfa_enabled,
        ..Summary::default()
    };
    if let Some(org) = &user.org_id {
        summary.members = count(
            "SELECT COUNT(*) FROM users WHERE org_id = $1 AND status = 'active'",
            Some(org.clone()),
        )
        .await?;
        summary.pending_invitations = count(
            "SELECT COUNT(*) FROM users WHERE org_id = $1 AND status = 'invited'",
            Some(org.clone()),
        )
        .await?;
    }
    if let Some(org) = &user.org_id {
        summary.production_clients = count(
            "SELECT COUNT(*) FROM apps WHERE org_id = $1 AND environment = 'production' AND status = 'active'",
            Some(org.clone()),
        )
        .await?;
        summary.production_request = crate::access_requests::service::latest_request(&state, org)
            .await?
            .map(|r| {
                (
                    r.id,
                    r.app_name,
                    crate::access_requests::model::status_label(&r.status).to_string(),
                )
            });
        summary.approved_tier = crate::onboarding::service::approved_tier(&state, org).await?;
        let latest = crate::onboarding::service::applications(&state, org)
            .await?
            .into_iter()
            .next();
        if let Some(app) = latest {
            summary.last_message = crate::onboarding::service::messages(&state, &app.id)
                .await?
                .into_iter()
                .rev()
                .find(|m| m.side == "bank")
                .map(|m| m.body);
            summary.application = Some((
                app.id,
                app.tier,
                crate::onboarding::model::status_label(&app.status).to_string(),
            ));
        }
    }
    if let Some(org) = &user.org_id {
        summary.reviews_due = crate::reviews::due_for_org(&state, org)
            .await?
            .into_iter()
            .map(|item| {
                (
                    item.id,
                    item.client_name,
                    crate::platform::time::display(item.due_at),
                )
            })
            .collect();
        summary.credential_notices = crate::governance::notices(&state, Some(org), 10)
            .await?
            .into_iter()
            .map(|n| {
                (
                    n.message,
                    n.app_id.map(|id| format!("/governance/clients/{id}")),
                )
            })
            .collect();
    }
    if user.role.is_staff() {
        summary.suspensions_open = count(
            "SELECT COUNT(*) FROM suspensions WHERE lifted_at IS NULL",
            None,
        )
        .await?;
        summary.exceptions_pending = count(
            "SELECT COUNT(*) FROM policy_exceptions WHERE status = 'pending'",
            None,
        )
        .await?;
    }
    if user.role.is_staff() && user.role != Role::Admin {
        let queue = crate::onboarding::review::queue(&state, &Default::default()).await?;
        summary.queue_waiting = queue.len() as i64;
        summary.queue_overdue = queue.iter().filter(|item| item.overdue()).count() as i64;
        summary.production_waiting = count(
            "SELECT COUNT(*) FROM access_requests WHERE status IN ('pending_review', 'pending_second_review')",
            None,
        )
        .await?;
    }
    if user.role == Role::Admin {
        summary.users_total = count("SELECT COUNT(*) FROM users", None).await?;
        summary.organisations = count("SELECT COUNT(*) FROM organisations", None).await?;
        summary.staff_without_mfa = count(
            "SELECT COUNT(*) FROM users WHERE org_id IS NULL AND status = 'active' AND totp_enabled_at IS NULL",
            None,
        )
        .await?;
        summary.audit_events = count("SELECT COUNT(*) FROM audit_events", None).await?;
        summary.request_log_dropped = state.oauth().request_log.dropped();
    }
    Ok(summary)
}
