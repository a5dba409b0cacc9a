//! Alert pages: the register, one alert (evidence, requests in the window, the
//! actions), and the rules' settings.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::alert_life::Alert;
use super::alerts::{Escalation, ONCALL_ROLES};
use super::rules::{RuleConfig, RULES};
use crate::platform::time::when;
use crate::platform::ui::{
    csrf_field, error_line, error_summary, field_class, field_error, Form, TextArea,
};

fn state_label(state: &str) -> &'static str {
    match state {
        "open" => "Open",
        "acknowledged" => "Acknowledged",
        _ => "Resolved",
    }
}

pub fn register(list: &[Alert], resolved: bool) -> AnyView {
    let rows = list
        .iter()
        .map(|a| {
            view! {
                <tr>
                    <td><a href=format!("/alerts/{}", a.id)>{super::alerts::title_of(&a.rule)}</a></td>
                    <td>{a.severity.clone()}</td>
                    <td>{a.org_name.clone().unwrap_or_else(|| "–".into())}</td>
                    <td>{a.app_name.clone().or(a.source.clone()).unwrap_or_default()}</td>
                    <td>{a.summary.clone()}</td>
                    <td>{state_label(&a.state)}</td>
                    <td>{when(a.first_seen_at)}</td>
                    <td>{a.occurrences}</td>
                </tr>
            }
        })
        .collect_view();
    let (here, other, other_label) = if resolved {
        (
            "Resolved alerts, newest first.",
            "/alerts",
            "Open and acknowledged alerts",
        )
    } else {
        ("Alerts not yet resolved, newest first. New alerts are e-mailed to the on-call roles; unacknowledged ones escalate to the admins.", "/alerts?state=resolved", "Resolved alerts")
    };
    view! {
        <p class="lead">{here}</p>
        <p><a href=other>{other_label}</a>" · "<a href="/alerts/rules">"Rules and escalation"</a>" · "<a href="/oversight">"Oversight"</a></p>
        {list.is_empty().then(|| view! { <p id="no-alerts">"No alerts here."</p> })}
        <table id="alerts">
            <caption class="visually-hidden">"Alerts"</caption>
            <thead><tr><th scope="col">"Alert"</th><th scope="col">"Severity"</th><th scope="col">"Organisation"</th><th scope="col">"Client or source"</th><th scope="col">"What happened"</th><th scope="col">"State"</th><th scope="col">"Opened"</th><th scope="col">"Seen"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// A request of the alert's window: id, time, method, endpoint, status, error, source.
pub type RequestRow = (String, i64, String, String, i64, String, String);

pub fn detail(
    a: &Alert,
    requests: &[RequestRow],
    chart: Option<String>,
    can_suspend: bool,
    form: &Form,
    csrf: &str,
) -> AnyView {
    let samples: Vec<String> = a.evidence["sample_requests"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let sample_links = samples
        .iter()
        .map(|id| view! { <li><a href=format!("#{id}")>{id.clone()}</a></li> })
        .collect_view();
    let request_rows = requests
        .iter()
        .map(|(id, at, method, endpoint, status, error, source)| {
            let marked = samples.contains(id).then_some("sample");
            view! {
                <tr id=id.clone() class=marked>
                    <td>{id.clone()}</td><td>{when(*at)}</td><td>{method.clone()}</td><td>{endpoint.clone()}</td>
                    <td>{*status}</td><td>{error.clone()}</td><td>{source.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let version = a.version.to_string();
    let resolved = a.state == "resolved";
    let acknowledge = (a.state == "open").then(|| {
        view! {
            <form method="post" action=format!("/alerts/{}/acknowledge", a.id) class="inline">
                {csrf_field(csrf)}
                <input type="hidden" name="version" value=version.clone()/>
                <button type="submit">"Acknowledge"</button>
            </form>
        }
    });
    let resolve = (!resolved).then(|| {
        let error = form.error("resolution");
        view! {
            <form method="post" action=format!("/alerts/{}/resolve", a.id)>
                {csrf_field(csrf)}
                <input type="hidden" name="version" value=version.clone()/>
                <div class=field_class(&error)>
                    <label for="resolution">"How was it resolved?"</label>
                    {error_line(&error, "resolution-error".into())}
                    {TextArea::new("resolution", 3).described_by(error.as_ref().map(|_| "resolution-error".to_string())).invalid(error.is_some()).render(form.value("resolution"))}
                </div>
                <button type="submit">"Resolve"</button>
            </form>
        }
    });
    let suspend = (can_suspend && a.app_id.is_some() && a.suspension_id.is_none()).then(|| {
        let error = form.error("reason");
        view! {
            <section class="card" aria-labelledby="suspend-heading">
                <h2 id="suspend-heading">"Suspend the client"</h2>
                <p>"The governance kill switch: every token of the client is refused at once, on every instance, until a second admin lifts it."</p>
                <form method="post" action=format!("/alerts/{}/suspend", a.id)>
                    {csrf_field(csrf)}
                    <input type="hidden" name="version" value=version.clone()/>
                    <div class=field_class(&error)>
                        <label for="reason">"Reason"</label>
                        {error_line(&error, "reason-error".into())}
                        <input id="reason" name="reason" type="text" value=form.value("reason") aria-describedby=error.as_ref().map(|_| "reason-error") aria-invalid=error.is_some().then_some("true")/>
                    </div>
                    <button type="submit" class="danger">"Suspend the client"</button>
                </form>
            </section>
        }
    });
    let incident = match (&a.incident_id, &a.org_id) {
        (Some(id), _) => Some(
            view! { <p>"Incident: "<a href=format!("/incidents/{id}")>{id.clone()}</a></p> }
                .into_any(),
        ),
        (None, Some(_)) => Some(
            view! {
                <form method="post" action=format!("/alerts/{}/incident", a.id) class="inline">
                    {csrf_field(csrf)}
                    <input type="hidden" name="version" value=version.clone()/>
                    <button type="submit">"Open an incident from this alert"</button>
                </form>
            }
            .into_any(),
        ),
        _ => None,
    };
    let thresholds = a
        .thresholds
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let subject = match (&a.app_id, &a.app_name, &a.source) {
        (Some(id), Some(name), _) => view! { <a href=format!("/oversight/clients/{id}")>{format!("{name} ({})", a.environment.clone().unwrap_or_default())}</a> }.into_any(),
        (_, _, Some(source)) => view! { <span>{format!("source address {source}")}</span> }.into_any(),
        _ => view! { <span>"–"</span> }.into_any(),
    };
    view! {
        {error_summary(form)}
        <p class="lead" id="alert-summary">{a.summary.clone()}</p>
        <dl>
            <dt>"State"</dt><dd id="alert-state">{state_label(&a.state)}</dd>
            <dt>"Severity"</dt><dd>{a.severity.clone()}</dd>
            <dt>"Rule"</dt><dd>{format!("{} ({})", super::alerts::title_of(&a.rule), a.rule)}</dd>
            <dt>"Thresholds"</dt><dd>{thresholds}</dd>
            <dt>"Organisation"</dt><dd>{a.org_name.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>"Client"</dt><dd>{subject}</dd>
            <dt>"Opened"</dt><dd>{when(a.first_seen_at)}</dd>
            <dt>"Last seen"</dt><dd>{format!("{} (in {})", when(a.last_seen_at), crate::platform::format::count(a.occurrences, "evaluation", None))}</dd>
            <dt>"Escalated"</dt><dd>{a.escalated_at.map(when).unwrap_or_else(|| "no".into())}</dd>
            <dt>"Acknowledged"</dt><dd>{match (&a.acknowledged_by, a.acknowledged_at) { (Some(by), Some(at)) => format!("by {by}, {}", when(at)), _ => "no".into() }}</dd>
            <dt>"Resolved"</dt><dd>{match (&a.resolved_by, a.resolved_at) { (Some(by), Some(at)) => format!("by {by}, {}: {}", when(at), a.resolution.clone().unwrap_or_default()), _ => "no".into() }}</dd>
            <dt>"Suspension"</dt><dd id="alert-suspension">{a.suspension_id.clone().unwrap_or_else(|| "none".into())}</dd>
        </dl>
        <h2>"The window the rule fired on"</h2>
        {match chart {
            Some(svg) => view! { <figure inner_html=svg></figure> }.into_any(),
            None => view! { <p>"This alert is on a source address, not a client: there is no client's series to draw. The evidence below lists what the address did."</p> }.into_any(),
        }}
        <h2>"Evidence"</h2>
        {crate::platform::fields::list(&a.evidence)}
        <h3>"Sample requests"</h3>
        {if samples.is_empty() {
            view! { <p>"No sample requests were kept for this alert."</p> }.into_any()
        } else {
            view! { <ul>{sample_links}</ul> }.into_any()
        }}
        <div class="actions">{acknowledge}{incident}</div>
        {resolve}
        {suspend}
        <h2>"Requests in the alert's window"</h2>
        {requests.is_empty().then(|| view! { <p id="alert-requests-empty">"No requests in the window: the request log holds none for this client then (or it has been pruned)."</p> })}
        <table id="alert-requests">
            <caption class="visually-hidden">"The client's requests in the window, newest first (at most 50)"</caption>
            <thead><tr><th scope="col">"Request"</th><th scope="col">"Time"</th><th scope="col">"Method"</th><th scope="col">"Endpoint"</th><th scope="col">"Status"</th><th scope="col">"Error"</th><th scope="col">"Source"</th></tr></thead>
            <tbody>{request_rows}</tbody>
        </table>
        <p><a href="/alerts">"All alerts"</a></p>
    }
    .into_any()
}

/// The rules' settings; `geo` describes the country database (`None`: none is
/// configured, and the rule that needs one says it is off).
#[allow(clippy::too_many_arguments)]
pub fn rules(
    configs: &BTreeMap<&'static str, RuleConfig>,
    escalation: &Escalation,
    geo: Option<&str>,
    can_edit: bool,
    editing: Option<&str>,
    form: &Form,
    csrf: &str,
) -> AnyView {
    let sections = RULES
        .iter()
        .map(|rule| {
            let config = configs.get(rule.id).cloned().unwrap_or_else(|| RuleConfig::default_for(rule));
            let this = editing == Some(rule.id);
            let value = |name: &str, stored: String| if this { form.value(name) } else { stored };
            let params = rule
                .params
                .iter()
                .map(|p| {
                    let id = format!("{}-{}", rule.id, p.name);
                    let error = if this { form.error(p.name) } else { None };
                    let error_id = format!("{id}-error");
                    view! {
                        <div class=field_class(&error)>
                            <label for=id.clone()>{p.label}</label>
                            {error_line(&error, error_id.clone())}
                            <input id=id.clone() name=p.name type="number" min=p.min.to_string() max=p.max.to_string()
                                value=value(p.name, config.get(p.name).to_string()) disabled=!can_edit
                                aria-describedby=error.as_ref().map(|_| error_id.clone()) aria-invalid=error.is_some().then_some("true")/>
                        </div>
                    }
                })
                .collect_view();
            let severity_id = format!("{}-severity", rule.id);
            let enabled_id = format!("{}-enabled", rule.id);
            let severity = value("severity", config.severity.clone());
            let options = super::alerts::SEVERITIES
                .iter()
                .rev()
                .map(|s| view! { <option value=*s selected=severity == *s>{*s}</option> })
                .collect_view();
            view! {
                <section class="card" aria-labelledby=format!("{}-heading", rule.id)>
                    <h2 id=format!("{}-heading", rule.id)>{rule.title}</h2>
                    <p>{rule.description}</p>
                    {(rule.id == "unexpected_origin").then(|| match geo {
                        Some(db) => view! { <p id="geoip-status">{format!("Country database: {db}.")}</p> }.into_any(),
                        None => view! { <p id="geoip-status" class="overdue">"Off: no country database is configured (--geoip-db). Allowed countries are recorded, not checked; no country is guessed."</p> }.into_any(),
                    })}
                    <form method="post" action=format!("/alerts/rules/{}", rule.id)>
                        {csrf_field(csrf)}
                        <div class="field">
                            <input type="checkbox" id=enabled_id.clone() name="enabled" value="1" checked=config.enabled disabled=!can_edit/>
                            <label for=enabled_id>"Enabled"</label>
                        </div>
                        <div class="field">
                            <label for=severity_id.clone()>"Severity"</label>
                            <select id=severity_id name="severity" disabled=!can_edit>{options}</select>
                        </div>
                        {params}
                        {can_edit.then(|| view! { <button type="submit">{format!("Save: {}", rule.title)}</button> })}
                    </form>
                </section>
            }
        })
        .collect_view();
    let esc_this = editing == Some("escalation");
    let roles = ONCALL_ROLES
        .iter()
        .map(|(role, label)| {
            let id = format!("oncall-{role}");
            view! {
                <div>
                    <input type="checkbox" id=id.clone() name="oncall_roles" value=*role checked=escalation.oncall_roles.iter().any(|r| r == role) disabled=!can_edit/>
                    <label for=id>{*label}</label>
                </div>
            }
        })
        .collect_view();
    let minutes_error = if esc_this {
        form.error("escalate_after_minutes")
    } else {
        None
    };
    view! {
        {error_summary(form)}
        <p class="lead">"The rules run every minute over the usage buckets. Repeats of one condition add to its open alert instead of opening new ones."</p>
        {(!can_edit).then(|| view! { <p>"Only bank admins change the rules."</p> })}
        <section class="card" aria-labelledby="escalation-heading">
            <h2 id="escalation-heading">"Escalation"</h2>
            <form method="post" action="/alerts/rules/escalation">
                {csrf_field(csrf)}
                <fieldset>
                    <legend>"Told of every new alert"</legend>
                    {esc_this.then(|| field_error(form, "oncall_roles"))}
                    {roles}
                </fieldset>
                <div class=field_class(&minutes_error)>
                    <label for="escalate_after_minutes">"Escalate to the admins when nobody acknowledged it after (minutes)"</label>
                    {error_line(&minutes_error, "escalate_after_minutes-error".into())}
                    <input id="escalate_after_minutes" name="escalate_after_minutes" type="number" min="5" max="1440"
                        value=if esc_this { form.value("escalate_after_minutes") } else { escalation.escalate_after_minutes.to_string() } disabled=!can_edit
                        aria-describedby=minutes_error.as_ref().map(|_| "escalate_after_minutes-error") aria-invalid=minutes_error.is_some().then_some("true")/>
                </div>
                <p>"High-severity alerts are also e-mailed to the partner's admins."</p>
                {can_edit.then(|| view! { <button type="submit">"Save the escalation"</button> })}
            </form>
        </section>
        {sections}
    }
    .into_any()
}
