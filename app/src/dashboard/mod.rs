//! The signed-in home page, one per role. It leads with what waits for the person
//! (the reviewer's queues, the approver's second approvals, the bank admin's alerts,
//! expiring credentials and failed jobs, the partner admin's tasks, the developer's
//! apps and failed requests), oldest first with its age against its SLA; the cards
//! of places to go follow.

pub mod cards;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod work;

pub use cards::{greeting, page, Summary};

#[cfg(feature = "ssr")]
pub async fn handler(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    ctx: crate::platform::context::Ctx,
) -> crate::platform::error::Result<axum::response::Html<String>> {
    use crate::oversight::series::Subject;
    use crate::platform::authz::{Action, Role};
    use leptos::prelude::*;

    let user = ctx.require(Action::ViewDashboard)?;
    let summary = cards::summary(&state, user).await?;
    let mut lead = pages::Work {
        now: state.clock.now(),
        ..Default::default()
    };
    let verified = user.email_verified;
    match (user.role, &user.org_id) {
        (Role::Reviewer | Role::Approver, _) => {
            let (waiting, counts) = work::reviewer(&state, user.role == Role::Approver).await?;
            lead.heading = if user.role == Role::Approver {
                "Waiting for your approval or review"
            } else {
                "Waiting for your review"
            };
            lead.waiting = waiting;
            lead.counts = counts;
            lead.bank_breaches = Some(crate::slas::cases::recent_bank_breaches(&state).await?);
        }
        (Role::Admin, _) => {
            let (alert_counts, alerts) = work::alerts(&state).await?;
            lead.alert_counts = alert_counts;
            lead.alerts = alerts;
            lead.suspensions = Some(work::Count {
                label: "Suspensions in force".into(),
                n: summary.suspensions_open,
                href: "/governance/bank/suspensions".into(),
            });
            lead.campaigns = work::campaigns(&state).await?;
            lead.expiring = Some(work::expiring_credentials(&state, None, 14).await?);
            lead.evidence = crate::governance::evidence::expiring(&state, 8).await?;
            lead.failed_runs = work::failed_runs(&state).await?;
            lead.traffic = Some(work::traffic(&state, &Subject::All).await?);
        }
        (Role::PartnerAdmin | Role::PartnerDeveloper, Some(org)) if verified => {
            if user.role == Role::PartnerAdmin {
                lead.heading = "Your tasks";
                lead.waiting = work::partner_tasks(&state, org).await?;
            }
            lead.apps = work::apps(&state, org).await?;
            lead.failures = work::failures(&state, org).await?;
        }
        _ => {}
    }
    let partner = !user.role.is_staff() && verified;
    let body = view! {
        {greeting(user.role, &summary)}
        {pages::work(lead, user.role == Role::PartnerAdmin, partner)}
        <h2 class="shortcuts">"Places to go"</h2>
        {page(user.role, summary)}
    }
    .into_any();
    Ok(ctx.render("Dashboard", body))
}
