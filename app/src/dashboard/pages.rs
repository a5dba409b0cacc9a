//! The dashboard's "what needs me now" sections: counts that link to the lists they
//! count, then each waiting item, oldest first, with how long it has waited against
//! its SLA; traffic as small charts with their figures beside them.

use leptos::prelude::*;

use super::work::{AppTraffic, Campaign, Count, Failure, Waiting};
use crate::oversight::chart::sparkline;
use crate::platform::format::{count, thousands, waited};
use crate::platform::time::display;

/// Everything the role's dashboard leads with; empty parts are not shown.
#[derive(Clone, Debug, Default)]
pub struct Work {
    pub now: i64,
    /// The heading of the lead list ("Waiting for your review", "Your tasks").
    pub heading: &'static str,
    pub counts: Vec<Count>,
    pub waiting: Vec<Waiting>,
    pub alert_counts: Vec<Count>,
    pub alerts: Vec<Waiting>,
    pub suspensions: Option<Count>,
    pub campaigns: Vec<Campaign>,
    pub expiring: Option<(i64, Vec<Waiting>)>,
    pub evidence: Vec<crate::governance::evidence::Expiring>,
    pub failed_runs: Vec<(String, i64, String)>,
    /// Calls, errors and points of every client (the bank) over 24 hours.
    pub traffic: Option<(i64, i64, Vec<f64>)>,
    pub apps: Vec<AppTraffic>,
    pub failures: Vec<Failure>,
    /// The bank's missed service levels of the last 30 days (reviewers, approvers).
    pub bank_breaches: Option<Vec<crate::slas::Case>>,
}

fn error_rate(errors: i64, calls: i64) -> String {
    if calls == 0 {
        "–".into()
    } else {
        format!("{:.1}%", 100.0 * errors as f64 / calls as f64)
    }
}

/// A row of figures, each a link to the list it counts.
fn counts(id: &'static str, counts: Vec<Count>) -> impl IntoView {
    let items = counts
        .into_iter()
        .map(|c| {
            view! {
                <div>
                    <dt>{c.label.clone()}</dt>
                    <dd><a href=c.href><span>{thousands(c.n)}</span><span class="visually-hidden">{format!(" {}", c.label)}</span></a></dd>
                </div>
            }
        })
        .collect_view();
    view! { <dl class="figures-row" id=id>{items}</dl> }
}

/// The most waiting items a dashboard list shows; the counts above it link to all.
const SHOWN: usize = 10;

/// Waiting items, oldest first, each with its age against its allowance: the
/// [`SHOWN`] oldest when `counted` (figures above link to every list), then how
/// many more wait; a partner's own tasks are all shown.
fn waiting_list(
    id: &'static str,
    items: Vec<Waiting>,
    now: i64,
    empty: &'static str,
    counted: bool,
) -> AnyView {
    if items.is_empty() {
        return view! { <p id=id>{empty}</p> }.into_any();
    }
    let shown = if counted { SHOWN } else { items.len() };
    let more = items.len().saturating_sub(shown) as i64;
    let rows = items
        .into_iter()
        .take(shown)
        .map(|w| {
            let (age, late) = waited(w.since, now, w.sla_seconds);
            view! {
                <li>
                    <span><a href=w.href>{w.label}</a><br/><small>{w.detail}</small></span>
                    <span class=if late { "overdue" } else { "age" }>{age}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <ol class="waiting" id=id>{rows}</ol>
        {(more > 0).then(|| view! {
            <p class="hint">{format!("{} more {} waiting: the figures above link to every list, oldest first.", thousands(more), if more == 1 { "is" } else { "are" })}</p>
        })}
    }
    .into_any()
}

fn section(id: &'static str, heading: &'static str, body: AnyView) -> AnyView {
    let h = format!("{id}-heading");
    let labelled_by = h.clone();
    view! { <section class="panel" id=id aria-labelledby=labelled_by><h2 id=h>{heading}</h2>{body}</section> }
        .into_any()
}

fn bank_panels(work: &Work) -> Vec<AnyView> {
    let now = work.now;
    let mut panels = Vec::new();
    if !work.alert_counts.is_empty() {
        panels.push(section(
            "dash-alerts",
            "Open alerts",
            view! {
                {counts("alert-counts", work.alert_counts.clone())}
                {waiting_list("alert-list", work.alerts.clone(), now, "No alert is open.", true)}
                {work.suspensions.clone().map(|s| view! {
                    <p><a href=s.href>{count(s.n, "suspension", None)}" in force"</a></p>
                })}
            }
            .into_any(),
        ));
    }
    if let Some((total, items)) = work.expiring.clone() {
        panels.push(section(
            "dash-expiring",
            "Credentials expiring in the next 14 days",
            view! {
                <p><a href="/governance/bank/inventory?expiring_within=14">{format!("{} expiring", count(total, "credential", None))}</a></p>
                {waiting_list("expiring-list", items, now, "No credential expires in the next 14 days.", true)}
            }
            .into_any(),
        ));
    }
    let campaigns = work
        .campaigns
        .iter()
        .map(|c| {
            let percent = if c.items == 0 { 100 } else { 100 * c.answered / c.items };
            view! {
                <li>
                    <span><a href=format!("/reviews/bank/{}", c.id)>{c.title.clone()}</a><br/>
                    <small>{format!("{} of {} answered ({percent}%)", thousands(c.answered), count(c.items, "item", None))}</small></span>
                    <span class="age">{format!("due {}", display(c.due_at))}</span>
                </li>
            }
        })
        .collect_view();
    panels.push(section(
        "dash-reviews",
        "Access reviews in progress",
        if work.campaigns.is_empty() {
            view! { <p>"No access review is open."</p> }.into_any()
        } else {
            view! { <ol class="waiting">{campaigns}</ol> }.into_any()
        },
    ));
    let evidence = work
        .evidence
        .iter()
        .map(|e| view! { <li><a href=format!("/governance/bank/evidence#evidence-{}", e.id)>{format!("{}: {}", e.organisation, e.kind.replace('_', " "))}</a><span class="age">{format!("valid until {}", e.expires_on)}</span></li> })
        .collect_view();
    panels.push(section(
        "dash-evidence",
        "Evidence expiring within 30 days",
        if work.evidence.is_empty() {
            view! { <p>"No partner's evidence expires in the next 30 days."</p> }.into_any()
        } else {
            view! { <ul class="waiting">{evidence}</ul><p><a href="/governance/bank/evidence">"All expiring evidence, and renewed evidence waiting for acceptance"</a></p> }.into_any()
        },
    ));
    let runs = work
        .failed_runs
        .iter()
        .map(|(job, at, summary)| view! { <li><span>{job.clone()}<br/><small>{summary.clone()}</small></span><span class="overdue">{display(*at)}</span></li> })
        .collect_view();
    panels.push(section(
        "dash-runs",
        "Scheduler runs that failed",
        if work.failed_runs.is_empty() {
            view! { <p>"No scheduler run has failed."</p><p><a href="/governance/bank/runs">"Every run"</a></p> }.into_any()
        } else {
            view! { <ul class="waiting">{runs}</ul><p><a href="/governance/bank/runs?outcome=failed">"Every failed run"</a></p> }.into_any()
        },
    ));
    panels
}

fn traffic_panel(calls: i64, errors: i64, points: &[f64]) -> AnyView {
    let title = format!(
        "Calls per hour across all partners, last 24 hours: {} calls, error rate {}",
        thousands(calls),
        error_rate(errors, calls)
    );
    let chart = sparkline("spark-traffic", &title, points);
    section(
        "dash-traffic",
        "Traffic, last 24 hours",
        view! {
            <p><span inner_html=chart></span>" "{format!("{}, error rate {}. ", count(calls, "call", None), error_rate(errors, calls))}<a href="/oversight">"Oversight"</a></p>
        }
        .into_any(),
    )
}

fn partner_panels(work: &Work) -> Vec<AnyView> {
    let rows = work
        .apps
        .iter()
        .enumerate()
        .map(|(n, a)| {
            let title = format!(
                "{} ({}), calls per hour over the last 24 hours: {} calls",
                a.name,
                a.environment,
                thousands(a.calls)
            );
            let chart = sparkline(&format!("spark-app-{n}"), &title, &a.points);
            view! {
                <tr>
                    <td><a href=format!("/usage/apps/{}", a.id)>{a.name.clone()}</a></td>
                    <td>{a.environment.clone()}</td>
                    <td class="num">{thousands(a.calls)}</td>
                    <td class="num">{error_rate(a.errors, a.calls)}</td>
                    <td inner_html=chart></td>
                </tr>
            }
        })
        .collect_view();
    let apps = if work.apps.is_empty() {
        view! { <p id="dash-apps-empty">"No app yet. "<a href="/sandbox/apps">"Register a sandbox app"</a>" to get credentials at once."</p> }.into_any()
    } else {
        view! {
            <table id="dash-apps-table">
                <caption>"Your apps, last 24 hours"</caption>
                <thead><tr><th scope="col">"App"</th><th scope="col">"Environment"</th><th scope="col" class="num">"Calls"</th><th scope="col" class="num">"Error rate"</th><th scope="col">"Calls per hour"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    let failures = work
        .failures
        .iter()
        .map(|f| {
            view! {
                <tr>
                    <td class="when">{display(f.at)}</td>
                    <td><a href=format!("/usage/apps/{}", f.app_id)>{f.app_name.clone()}</a></td>
                    <td><code>{format!("{} {}", f.method, f.endpoint)}</code></td>
                    <td class="num">{f.status}</td>
                    <td>{f.error.clone().unwrap_or_else(|| "–".into())}</td>
                </tr>
            }
        })
        .collect_view();
    let failed = if work.failures.is_empty() {
        view! { <p id="dash-failures-empty">"No failed request in the last 7 days."</p> }.into_any()
    } else {
        view! {
            <table id="dash-failures">
                <caption>"Last failed requests (7 days)"</caption>
                <thead><tr><th scope="col">"When (UTC)"</th><th scope="col">"App"</th><th scope="col">"Request"</th><th scope="col" class="num">"Status"</th><th scope="col">"Error"</th></tr></thead>
                <tbody>{failures}</tbody>
            </table>
        }
        .into_any()
    };
    vec![
        section("dash-apps", "Your apps", apps),
        section("dash-failures-panel", "Failed requests", failed),
    ]
}

/// The lead of a staff or partner dashboard.
pub fn work(work: Work, partner_admin: bool, partner: bool) -> AnyView {
    let now = work.now;
    let lead = (!work.heading.is_empty()).then(|| {
        section(
            "dash-waiting",
            work.heading,
            view! {
                {(!work.counts.is_empty()).then(|| counts("waiting-counts", work.counts.clone()))}
                {waiting_list("waiting-list", work.waiting.clone(), now, if partner_admin { "Nothing needs doing: no draft, question, review or expiring credential is waiting for you." } else { "Nothing is waiting for you." }, !work.counts.is_empty())}
            }
            .into_any(),
        )
    });
    let traffic = work
        .traffic
        .as_ref()
        .map(|(calls, errors, points)| traffic_panel(*calls, *errors, points));
    let rest = if partner {
        partner_panels(&work)
    } else if !work.alert_counts.is_empty() || work.expiring.is_some() {
        bank_panels(&work)
    } else {
        Vec::new()
    };
    let breaches = work.bank_breaches.as_ref().map(|list| {
        let refs: Vec<&crate::slas::Case> = list.iter().collect();
        section(
            "dash-sla",
            "The bank's service levels missed, last 30 days",
            view! {
                {crate::slas::pages::breach_list("sla-breaches", &refs, now, true)}
                <p><a href="/relationships">"Service levels per partner"</a></p>
            }
            .into_any(),
        )
    });
    view! {
        {lead}
        {breaches}
        <div class="dashboard">
            {traffic}
            {rest.into_iter().collect_view()}
        </div>
    }
    .into_any()
}
