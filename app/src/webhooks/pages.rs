//! Webhook pages (partner admins): the endpoints with the form to add one, and one
//! endpoint with its actions and its delivery log.

use leptos::prelude::*;

use super::delivery::Delivery;
use super::endpoints::Endpoint;
use super::EVENTS;
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_summary, field_error, Form, Input};

fn state_label(state: &str) -> &'static str {
    match state {
        "active" => "Active",
        _ => "Disabled",
    }
}

fn event_checkboxes(form: &Form) -> AnyView {
    let chosen = form.value("events");
    let error = form.error("events");
    let class = if error.is_some() {
        "field field-error"
    } else {
        "field"
    };
    let boxes = EVENTS
        .iter()
        .map(|(event, meaning)| {
            let id = format!("event-{}", event.replace('.', "-"));
            let checked = chosen.split(' ').any(|e| e == *event);
            view! {
                <div class="checkbox">
                    <input type="checkbox" id=id.clone() name="events" value=*event checked=checked/>
                    <label for=id><code>{*event}</code></label>
                    <p class="hint">{*meaning}</p>
                </div>
            }
        })
        .collect_view();
    view! {
        <fieldset class=class id="events">
            <legend>"Events to deliver"</legend>
            {field_error(form, "events")}
            {boxes}
        </fieldset>
    }
    .into_any()
}

pub fn list(endpoints: &[Endpoint], form: &Form, csrf: &str) -> AnyView {
    let rows = endpoints
        .iter()
        .map(|e| {
            view! {
                <tr>
                    <td><a href=format!("/webhooks/{}", e.id)>{e.url.clone()}</a></td>
                    <td>{e.description.clone()}</td>
                    <td>{e.events.join(", ")}</td>
                    <td>{state_label(&e.state)}</td>
                    <td>{when(e.created_at)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="lead">"Gatehouse tells your systems what concerns them, without you polling this portal: credentials about to expire or revoked, suspensions, decisions on your production requests, reviews waiting for you, alerts about your clients."</p>
        <p>"Deliveries follow the Standard Webhooks specification: a JSON body "<code>"{\"type\", \"timestamp\", \"data\"}"</code>" posted with the headers "<code>"webhook-id"</code>", "<code>"webhook-timestamp"</code>" and "<code>"webhook-signature"</code>" (HMAC-SHA256 over "<code>"id.timestamp.body"</code>" with your "<code>"whsec_"</code>" secret). Verify them with any Standard Webhooks library, drop repeats of a "<code>"webhook-id"</code>" you already processed, and answer 2xx within 10 seconds. Failed deliveries are retried for about three days; answer 410 to stop them."</p>
        {endpoints.is_empty().then(|| view! { <p id="no-endpoints">"No endpoints yet."</p> })}
        <table id="endpoints">
            <caption class="visually-hidden">"Webhook endpoints"</caption>
            <thead><tr><th scope="col">"URL"</th><th scope="col">"Description"</th><th scope="col">"Events"</th><th scope="col">"State"</th><th scope="col">"Added"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <section class="card" aria-labelledby="add-heading">
            <h2 id="add-heading">"Add an endpoint"</h2>
            {error_summary(form)}
            <form method="post" action="/webhooks" novalidate>
                {csrf_field(csrf)}
                {Input::text("url", "Endpoint URL").kind("url").hint("https only, at a public address.").render(form)}
                {Input::text("description", "What it is for").render(form)}
                {event_checkboxes(form)}
                <button type="submit">"Add the endpoint"</button>
            </form>
        </section>
    }
    .into_any()
}

fn attempts_text(d: &Delivery) -> String {
    d.attempts
        .iter()
        .map(|a| {
            let answer = match (a.status, &a.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => error.clone(),
                (None, None) => "no answer".to_string(),
            };
            format!("#{} {} ({} ms)", a.attempt, answer, a.latency_ms)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn delivery_state(d: &Delivery) -> &'static str {
    match d.state.as_str() {
        "delivered" => "Delivered",
        "pending" if d.attempts.is_empty() => "Queued",
        "pending" => "Retrying",
        "failed" => "Failed",
        _ => "Cancelled",
    }
}

fn delivery_rows(endpoint: &Endpoint, log: &[Delivery], csrf: &str) -> AnyView {
    let active = endpoint.state == "active";
    log.iter()
        .map(|d| {
            let again = (active && d.state != "pending").then(|| {
                view! {
                    <form method="post" action=format!("/webhooks/{}/messages/{}/resend", endpoint.id, d.id) class="inline">
                        {csrf_field(csrf)}
                        <button type="submit" class="secondary" aria-label=format!("Send {} again", d.id)>"Send again"</button>
                    </form>
                }
            });
            view! {
                <tr id=d.id.clone()>
                    <td><code>{d.event_type.clone()}</code></td>
                    <td><code>{d.id.clone()}</code></td>
                    <td>{when(d.created_at)}</td>
                    <td>{delivery_state(d)}</td>
                    <td>{attempts_text(d)}</td>
                    <td>{d.next_attempt_at.filter(|_| d.state == "pending").map(when).unwrap_or_else(|| "–".into())}</td>
                    <td>{again}</td>
                </tr>
            }
        })
        .collect_view()
        .into_any()
}

pub fn detail(endpoint: &Endpoint, log: &[Delivery], csrf: &str) -> AnyView {
    let version = endpoint.version.to_string();
    let active = endpoint.state == "active";
    let toggle_action = format!(
        "/webhooks/{}/{}",
        endpoint.id,
        if active { "disable" } else { "enable" }
    );
    let toggle_label = if active {
        "Disable the endpoint"
    } else {
        "Enable the endpoint"
    };
    let overlap = endpoint.previous_until.map(|until| {
        view! { <p id="rotation-overlap">"Deliveries are also signed with the previous secret until "{when(until)}"."</p> }
    });
    let disabled = endpoint.disabled_reason.clone().map(|reason| {
        view! { <p class="notice" id="disabled-reason">"Disabled "{endpoint.disabled_at.map(when).unwrap_or_default()}": "{reason}"."</p> }
    });
    let failing = endpoint.failing_since.filter(|_| active).map(|since| {
        view! { <p class="notice" id="failing-since">"Deliveries have been failing since "{when(since)}". The endpoint is disabled if none succeeds for the configured number of days."</p> }
    });
    view! {
        <p><a href="/webhooks">"All endpoints"</a></p>
        {disabled}
        {failing}
        <dl class="facts">
            <dt>"URL"</dt><dd id="endpoint-url">{endpoint.url.clone()}</dd>
            <dt>"What it is for"</dt><dd>{endpoint.description.clone()}</dd>
            <dt>"Events"</dt><dd id="endpoint-events">{endpoint.events.join(", ")}</dd>
            <dt>"State"</dt><dd id="endpoint-state">{state_label(&endpoint.state)}</dd>
            <dt>"Added"</dt><dd>{when(endpoint.created_at)}" by "{endpoint.created_by.clone()}</dd>
        </dl>
        {overlap}
        <div class="actions">
            {active.then(|| view! {
                <form method="post" action=format!("/webhooks/{}/test", endpoint.id) class="inline">
                    {csrf_field(csrf)}
                    <button type="submit">"Send a test event"</button>
                </form>
            })}
            <form method="post" action=format!("/webhooks/{}/rotate", endpoint.id) class="inline">
                {csrf_field(csrf)}
                <input type="hidden" name="version" value=version.clone()/>
                <button type="submit" class="secondary">"Rotate the signing secret"</button>
            </form>
            <form method="post" action=toggle_action class="inline">
                {csrf_field(csrf)}
                <input type="hidden" name="version" value=version/>
                <button type="submit" class=if active { "danger" } else { "secondary" }>{toggle_label}</button>
            </form>
        </div>
        <h2>"Delivery log"</h2>
        <p>"The latest 100 deliveries, newest first. Every attempt shows the status your endpoint answered (or why there was no answer) and how long it took."</p>
        {log.is_empty().then(|| view! { <p id="no-deliveries">"Nothing delivered yet."</p> })}
        <table id="deliveries">
            <caption class="visually-hidden">"Deliveries"</caption>
            <thead><tr><th scope="col">"Event"</th><th scope="col"><code class="nowrap">"webhook-id"</code></th><th scope="col">"Created"</th><th scope="col">"State"</th><th scope="col">"Attempts"</th><th scope="col">"Next retry"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{delivery_rows(endpoint, log, csrf)}</tbody>
        </table>
    }
    .into_any()
}
