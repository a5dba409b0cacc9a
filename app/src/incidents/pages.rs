//! Incident pages: the register with the form to open one, and one incident.

use leptos::prelude::*;

use super::{Entry, Incident, TimelineEvent, SEVERITIES};
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_summary, field_error, select, Form, Input};

/// (org id, name, its clients: (app id, label))
pub type OrgClients = (String, String, Vec<(String, String)>);

pub fn register(list: &[Incident], orgs: &[OrgClients], form: &Form, csrf: &str) -> AnyView {
    let rows = list
        .iter()
        .map(|i| {
            view! {
                <tr>
                    <td><a href=format!("/incidents/{}", i.id)>{i.title.clone()}</a></td>
                    <td>{i.organisation.clone()}</td>
                    <td>{i.severity.clone()}</td>
                    <td>{i.status.clone()}</td>
                    <td>{when(i.detected_at)}</td>
                </tr>
            }
        })
        .collect_view();
    let current = form.value("org_id");
    let org_options = orgs
        .iter()
        .map(|(id, name, _)| {
            let selected = current == *id;
            view! { <option value=id.clone() selected=selected>{name.clone()}</option> }
        })
        .collect_view();
    let clients = orgs
        .iter()
        .flat_map(|(_, name, apps)| {
            apps.iter()
                .map(move |(id, label)| (id.clone(), format!("{name}: {label}")))
        })
        .map(|(id, label)| {
            let field = format!("client-{id}");
            view! {
                <div>
                    <input type="checkbox" id=field.clone() name="app_id" value=id.clone()/>
                    <label for=field>{label}</label>
                </div>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h2>"Open an incident"</h2>
            {error_summary(form)}
            <form method="post" action="/incidents">
                {csrf_field(csrf)}
                <div class="field">
                    <label for="org_id">"Organisation"</label>
                    {field_error(form, "org_id")}
                    <select id="org_id" name="org_id">{org_options}</select>
                </div>
                {Input::text("title", "Title").render(form)}
                {select(form, "severity", "Severity", &SEVERITIES)}
                {Input::text("detected_date", "Detected on").kind("date").render(form)}
                {Input::text("detected_time", "at (HH:MM, UTC; optional)").render(form)}
                {Input::text("detection", "How it was detected").render(form)}
                <fieldset>
                    <legend>"Clients concerned"</legend>
                    {field_error(form, "app_ids")}
                    {clients}
                </fieldset>
                <button type="submit">"Open the incident"</button>
            </form>
        </section>
        <h2>"Incidents"</h2>
        {list.is_empty().then(|| view! { <p>"No incident has been recorded."</p> })}
        <table id="incidents">
            <caption class="visually-hidden">"Incidents, newest first"</caption>
            <thead><tr><th scope="col">"Incident"</th><th scope="col">"Organisation"</th><th scope="col">"Severity"</th><th scope="col">"Status"</th><th scope="col">"Detected"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub fn detail(
    i: &Incident,
    entries: &[Entry],
    timeline: &[TimelineEvent],
    form: &Form,
    csrf: &str,
    can_suspend: bool,
) -> AnyView {
    let entry_rows = entries
        .iter()
        .map(|e| {
            let what = match (e.kind.as_str(), &e.told, &e.suspension_id) {
                ("escalation", Some(told), _) => format!("told {told} at {}: {}", e.told_at.map(when).unwrap_or_default(), e.body),
                ("containment", _, Some(s)) => format!("suspension {s}: {}", e.body),
                _ => e.body.clone(),
            };
            view! { <tr><td>{when(e.created_at)}</td><td>{e.kind.clone()}</td><td>{what}</td><td>{e.created_by.clone()}</td></tr> }
        })
        .collect_view();
    let events = timeline
        .iter()
        .map(|(at, who, action, details)| {
            view! { <li><strong>{when(*at)}</strong>{format!(" {action} by {}: {}", who.clone().unwrap_or_else(|| "the system".into()), crate::platform::fields::inline_text(details))}</li> }
        })
        .collect_view();
    let open = i.status != "closed";
    let version = i.version.to_string();
    let forms = open.then(|| {
        let client_options = i
            .clients
            .iter()
            .map(|(id, name, client_id)| view! { <option value=id.clone()>{format!("{name} ({client_id})")}</option> })
            .collect_view();
        let contain = (can_suspend && !i.clients.is_empty()).then(|| view! {
            <section class="card">
                <h2>"Contain: suspend a client"</h2>
                <p>"The kill switch: the client's tokens are refused at once on every instance. The suspension is linked to this incident."</p>
                <form method="post" action=format!("/incidents/{}/contain", i.id)>
                    {csrf_field(csrf)}
                    <input type="hidden" name="version" value=version.clone()/>
                    <div class="field"><label for="app_id">"Client"</label>{field_error(form, "app_id")}<select id="app_id" name="app_id">{client_options}</select></div>
                    {Input::text("reason", "Reason (the partner sees it)").render(form)}
                    <button type="submit" class="warning">"Suspend now"</button>
                </form>
            </section>
        });
        view! {
            {error_summary(form)}
            <section class="card">
                <h2>"Escalation: who was told"</h2>
                <form method="post" action=format!("/incidents/{}/entries", i.id)>
                    {csrf_field(csrf)}
                    <input type="hidden" name="version" value=version.clone()/>
                    <input type="hidden" name="kind" value="escalation"/>
                    {Input::text("told", "Who was told (people, roles, authorities)").render(form)}
                    {Input::text("told_date", "On").kind("date").render(form)}
                    {Input::text("told_time", "at (HH:MM, UTC; optional)").render(form)}
                    {Input::text("body", "What they were told").render(form)}
                    <button type="submit" class="secondary">"Record the escalation"</button>
                </form>
            </section>
            {contain}
            <section class="card">
                <h2>"Close with the post-incident review"</h2>
                <form method="post" action=format!("/incidents/{}/close", i.id)>
                    {csrf_field(csrf)}
                    <input type="hidden" name="version" value=version.clone()/>
                    {Input::text("review", "Post-incident review: cause, impact, what changes").render(form)}
                    <button type="submit">"Close the incident"</button>
                </form>
            </section>
        }
    });
    view! {
        <dl class="facts">
            <dt>"Organisation"</dt><dd>{i.organisation.clone()}</dd>
            <dt>"Severity"</dt><dd>{i.severity.clone()}</dd>
            <dt>"Status"</dt><dd id="incident-status">{i.status.clone()}</dd>
            <dt>"Detected"</dt><dd>{format!("{}: {}", when(i.detected_at), i.detection)}</dd>
            <dt>"Opened by"</dt><dd>{format!("{} at {}", i.opened_by, when(i.opened_at))}</dd>
            <dt>"Acknowledged by the partner"</dt><dd id="incident-acknowledged">{match (&i.acknowledged_by, i.acknowledged_at) {
                (Some(by), Some(at)) => format!("{by} at {at}", at = when(at)),
                _ => "Not yet (the partner acknowledges it on its Service levels page)".to_string(),
            }}</dd>
            <dt>"Clients"</dt><dd>{i.clients.iter().map(|(_, n, c)| format!("{n} ({c})")).collect::<Vec<_>>().join(", ")}</dd>
            {i.review.clone().map(|r| view! { <dt>"Post-incident review"</dt><dd>{format!("{r} (closed by {} at {})", i.closed_by.clone().unwrap_or_default(), i.closed_at.map(when).unwrap_or_default())}</dd> })}
        </dl>
        <h2>"Escalation and containment"</h2>
        <table id="incident-entries">
            <caption class="visually-hidden">"What was done, in order"</caption>
            <thead><tr><th scope="col">"Recorded"</th><th scope="col">"Kind"</th><th scope="col">"What"</th><th scope="col">"By"</th></tr></thead>
            <tbody>{entry_rows}</tbody>
        </table>
        <h2>"Timeline (from the audit trail)"</h2>
        <ol id="incident-timeline">{events}</ol>
        {forms}
    }
    .into_any()
}
