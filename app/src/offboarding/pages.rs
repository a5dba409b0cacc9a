//! Offboarding pages: the bank's list and one offboarding, the partner's closure request.

use leptos::prelude::*;

use super::Offboarding;
use crate::platform::time::when;
use crate::platform::ui::{
    csrf_field, error_summary, field_class, field_error, Form, Input, TextArea,
};

fn reason_field(form: &Form, name: &'static str, label: &'static str) -> AnyView {
    view! {
        <div class=field_class(&form.error(name))>
            <label for=name>{label}</label>
            {field_error(form, name)}
            {TextArea::new(name, 3)
                .described_by(form.error(name).map(|_| format!("{name}-error")))
                .invalid(form.error(name).is_some())
                .render(form.value(name))}
        </div>
    }
    .into_any()
}

fn code_field(form: &Form) -> AnyView {
    Input::text("code", "Code from your authenticator app (step-up)")
        .autocomplete("one-time-code")
        .render(form)
}

fn state_of(o: &Offboarding) -> String {
    match o.status.as_str() {
        "requested" => "asked for by the partner: awaiting a bank admin".into(),
        "declined" => format!(
            "declined: {}",
            o.declined_reason.clone().unwrap_or_default()
        ),
        "running" => format!("running (step: {})", o.step),
        _ => format!("done {}", o.finished_at.map(when).unwrap_or_default()),
    }
}

/// The bank's offboarding page: the form and every offboarding.
pub fn bank_list(
    list: &[Offboarding],
    organisations: &[(String, String)],
    retention_days: i64,
    form: &Form,
    csrf: &str,
    can_act: bool,
) -> AnyView {
    let rows = list
        .iter()
        .map(|o| {
            view! {
                <tr>
                    <td><a href=format!("/offboarding/bank/{}", o.id)>{o.organisation.clone()}</a></td>
                    <td>{state_of(o)}</td>
                    <td>{o.reason.clone()}</td>
                    <td>{when(o.requested_at)}</td>
                    <td>{o.actions}</td>
                    <td>{o.pack_id.clone().map(|p| view! { <a href=format!("/evidence-packs/{p}/download")>"Download the pack"</a> })}</td>
                </tr>
            }
        })
        .collect_view();
    let current = form.value("org_id");
    let options = organisations
        .iter()
        .map(|(id, name)| {
            let selected = current == *id;
            view! { <option value=id.clone() selected=selected>{format!("{name} ({id})")}</option> }
        })
        .collect_view();
    let start = can_act.then(|| {
        view! {
            <section class="card">
                <h2>"Offboard an organisation"</h2>
                <p>"One action ends the relationship. At once: every client of the organisation is suspended, so no token of it is valid anywhere. Then, in the background: every member's account and sessions end; every sandbox and production client, credential, refresh token, authorization code and consent is revoked; open onboarding and production requests are withdrawn; queued e-mails are not sent; the sandbox dataset is cleared. Evidence files and the audit trail are kept. A signed evidence pack records everything."</p>
                {error_summary(form)}
                <form method="post" action="/offboarding/bank">
                    {csrf_field(csrf)}
                    <div class=field_class(&form.error("org_id"))>
                        <label for="org_id">"Organisation"</label>
                        {field_error(form, "org_id")}
                        <select id="org_id" name="org_id">{options}</select>
                    </div>
                    {reason_field(form, "reason", "Reason (kept in the audit trail and the evidence pack)")}
                    {code_field(form)}
                    <button type="submit" class="danger">"Offboard now"</button>
                </form>
            </section>
        }
    });
    let retention = view! {
        <section class="card">
            <h2>"Retention"</h2>
            <p>{format!("An offboarded organisation's evidence files are kept for {retention_days} days after its offboarding, then deleted by the scheduler (their hashes and dates stay, and each deletion is audited). The audit trail is kept whole.")}</p>
            {can_act.then(|| view! {
                <form method="post" action="/offboarding/bank/retention">
                    {csrf_field(csrf)}
                    {Input::text("retention_days", "Keep evidence files for (days, 365 to 3650)").render(form)}
                    <button type="submit" class="secondary">"Save the retention"</button>
                </form>
            })}
        </section>
    };
    view! {
        {start}
        {retention}
        <h2>"Offboardings"</h2>
        {list.is_empty().then(|| view! { <p>"No organisation has been offboarded."</p> })}
        <table id="offboardings">
            <caption class="visually-hidden">"Offboardings, newest first"</caption>
            <thead><tr><th scope="col">"Organisation"</th><th scope="col">"State"</th><th scope="col">"Reason"</th><th scope="col">"Asked or started"</th><th scope="col">"Things ended"</th><th scope="col">"Evidence"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// One offboarding: its state, its actions, and the decision on a partner's request.
pub fn bank_detail(
    o: &Offboarding,
    actions: &[super::Action],
    form: &Form,
    csrf: &str,
    can_act: bool,
) -> AnyView {
    let rows = actions
        .iter()
        .map(|(kind, target, label, at, event)| {
            view! {
                <tr>
                    <td>{when(*at)}</td>
                    <td>{kind.clone()}</td>
                    <td><code>{target.clone()}</code></td>
                    <td>{label.clone()}</td>
                    <td><code>{event.clone()}</code></td>
                </tr>
            }
        })
        .collect_view();
    let decide = (can_act && o.status == "requested").then(|| {
        view! {
            <section class="card">
                <h2>"Confirm or decline"</h2>
                {error_summary(form)}
                <form method="post" action=format!("/offboarding/bank/{}/confirm", o.id)>
                    {csrf_field(csrf)}
                    {reason_field(form, "reason", "Your reason for confirming")}
                    {code_field(form)}
                    <button type="submit" class="danger">"Confirm: offboard now"</button>
                </form>
                <form method="post" action=format!("/offboarding/bank/{}/decline", o.id)>
                    {csrf_field(csrf)}
                    {reason_field(form, "decline_reason", "Your reason for declining (the partner sees it)")}
                    <button type="submit" class="secondary">"Decline"</button>
                </form>
            </section>
        }
    });
    view! {
        <dl class="facts">
            <dt>"Organisation"</dt><dd>{format!("{} ({})", o.organisation, o.org_id)}</dd>
            <dt>"State"</dt><dd id="offboarding-state">{state_of(o)}</dd>
            <dt>"Reason"</dt><dd>{o.reason.clone()}</dd>
            <dt>"Asked by"</dt><dd>{format!("{} at {}", o.requested_by.clone().unwrap_or_default(), when(o.requested_at))}</dd>
            <dt>"Accepted by"</dt><dd>{o.accepted_by.clone().map(|a| format!("{a} at {}", o.accepted_at.map(when).unwrap_or_default())).unwrap_or_else(|| "not yet".into())}</dd>
            <dt>"Evidence pack"</dt><dd>{match &o.pack_id {
                Some(p) => view! { <a href=format!("/evidence-packs/{p}/download")>{format!("Download {p}")}</a> }.into_any(),
                None => view! { "written when the job finishes" }.into_any(),
            }}</dd>
        </dl>
        {decide}
        <h2>"What it ended"</h2>
        <table id="offboarding-actions">
            <caption class="visually-hidden">"Every identity and record the offboarding ended, in order"</caption>
            <thead><tr><th scope="col">"When"</th><th scope="col">"Kind"</th><th scope="col">"Id"</th><th scope="col">"What"</th><th scope="col">"Audit event"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// The partner admin's page: ask the bank to close the organisation, or see the request.
pub fn partner(current: Option<&Offboarding>, form: &Form, csrf: &str) -> AnyView {
    match current {
        Some(o) => view! {
            <p id="closure-state">{format!("You asked on {} to close the organisation. State: {}.", when(o.requested_at), state_of(o))}</p>
        }
        .into_any(),
        None => view! {
            <p>"Closing the organisation ends everything it has at the bank: every member's account, every sandbox and production client, credential and consent, and every open request. A bank admin confirms it. Evidence files and the audit trail are kept for the bank's retention period."</p>
            {error_summary(form)}
            <form method="post" action="/org/close">
                {csrf_field(csrf)}
                {reason_field(form, "reason", "Why are you closing the organisation?")}
                <button type="submit" class="danger">"Ask the bank to close the organisation"</button>
            </form>
        }
        .into_any(),
    }
}
