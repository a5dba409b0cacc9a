//! The partner's review pages: the organisation's items and the attestation form.

use leptos::prelude::*;

use super::Item;
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_summary, field_error, Form};

fn last_use_text(item: &Item, scope: &str) -> String {
    let use_of = &item.last_use[scope];
    let part = |kind: &str, label: &str| {
        use_of[kind]
            .as_i64()
            .map(|at| format!("{label} {}", when(at)))
    };
    let parts: Vec<String> = [part("call", "last call"), part("token", "last token")]
        .into_iter()
        .flatten()
        .collect();
    if parts.is_empty() {
        "never used".into()
    } else {
        parts.join("; ")
    }
}

/// The scopes table of an item: last use, the unused mark, and (when `editable`)
/// keep checkboxes and justifications.
pub(super) fn scopes_table(item: &Item, form: &Form, editable: bool) -> AnyView {
    let rows = item
        .scopes
        .iter()
        .map(|scope| {
            let unused = item.unused_scopes.contains(scope);
            let keep_name = format!("keep_{scope}");
            let reason_name = format!("justification_{scope}");
            // Unused scopes are pre-marked for removal; the others are kept unless unticked.
            let keep = if form.value("still_needed").is_empty() {
                !unused
            } else {
                form.value(&keep_name) == "1"
            };
            let reason_error_id = format!("{reason_name}-error");
            let controls = editable.then(|| {
                view! {
                    <td>
                        <input type="checkbox" id=keep_name.clone() name=keep_name.clone() value="1" checked=keep/>
                        <label for=keep_name.clone()>{format!("Keep {scope}")}</label>
                    </td>
                    <td>
                        <label for=reason_name.clone() class="visually-hidden">{format!("Why {scope} is still needed")}</label>
                        {field_error(form, &reason_name)}
                        <input type="text" id=reason_name.clone() name=reason_name.clone() value=form.value(&reason_name)
                            aria-describedby=form.error(&reason_name).map(|_| reason_error_id.clone())/>
                    </td>
                }
            });
            let justification = (!editable).then(|| {
                view! { <td>{item.justifications[scope.as_str()].as_str().unwrap_or("").to_string()}</td> }
            });
            view! {
                <tr>
                    <td><code>{scope.clone()}</code></td>
                    <td>{last_use_text(item, scope)}</td>
                    <td>{if unused { "unused in the review period: marked for removal" } else { "" }}</td>
                    {controls}
                    {justification}
                </tr>
            }
        })
        .collect_view();
    let extra = if editable {
        view! { <th scope="col">"Keep"</th><th scope="col">"Why it is still needed"</th> }
            .into_any()
    } else {
        view! { <th scope="col">"Justification"</th> }.into_any()
    };
    view! {
        <table id="review-scopes">
            <caption>"Scopes, their last use, and what the partner keeps"</caption>
            <thead><tr><th scope="col">"Scope"</th><th scope="col">"Last use"</th><th scope="col">"Review"</th>{extra}</tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

fn outcome_text(outcome: &str) -> String {
    match outcome.strip_prefix("suspended:") {
        Some(suspension) => format!(
            "Not answered: the client was suspended ({suspension}) until the partner answers and the bank confirms."
        ),
        None => format!("Not answered: {outcome}."),
    }
}

pub(super) fn facts(item: &Item) -> AnyView {
    view! {
        <dl class="facts">
            <dt>"Client"</dt><dd>{format!("{} ({})", item.client_name, item.client_id)}</dd>
            <dt>"Organisation"</dt><dd>{item.organisation.clone()}</dd>
            <dt>"Owner"</dt><dd>{item.owner_label.clone()}</dd>
            <dt>"Exceptions in force"</dt><dd>{if item.exceptions.is_empty() { "none".to_string() } else { item.exceptions.join(", ") }}</dd>
            <dt>"State"</dt><dd id="review-state">{super::state_label(&item.state)}</dd>
            {item.attested_by.clone().map(|by| view! { <dt>"Partner's answer"</dt><dd>{format!("{} by {by} on {}: keeps {}", if item.still_needed == Some(false) { "no longer needed" } else { "still needed" }, item.attested_at.map(when).unwrap_or_default(), item.kept_scopes.clone().unwrap_or_default().join(" "))}</dd> })}
            {item.decided_at.map(|at| view! { <dt>"Bank's decision"</dt><dd>{format!("{} by {} on {}; scopes now: {}. {}", item.bank_decision.clone().unwrap_or_default(), item.decided_by.clone().unwrap_or_else(|| "the schedule".into()), when(at), item.resulting_scopes.clone().unwrap_or_default().join(" "), item.bank_note.clone().unwrap_or_default())}</dd> })}
            {item.outcome.as_deref().map(outcome_text).map(|o| view! { <dt>"At the due date"</dt><dd>{o}</dd> })}
        </dl>
    }
    .into_any()
}

pub fn list(items: &[Item]) -> AnyView {
    let rows = items
        .iter()
        .map(|i| {
            view! {
                <tr>
                    <td><a href=format!("/reviews/items/{}", i.id)>{i.client_name.clone()}</a></td>
                    <td>{super::state_label(&i.state)}</td>
                    <td>{when(i.due_at)}</td>
                    <td>{i.scopes.join(" ")}</td>
                    <td>{i.resulting_scopes.clone().map(|s| s.join(" ")).unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p>"The bank asks, on a fixed cadence, that you confirm each production client still needs its access. Answer each item: whether the client is still needed and which scopes it keeps, with a reason for each. Removing a scope takes effect at once."</p>
        {items.is_empty().then(|| view! { <p>"No access review has covered your clients yet."</p> })}
        <table id="review-items">
            <caption class="visually-hidden">"Your organisation's review items"</caption>
            <thead><tr><th scope="col">"Client"</th><th scope="col">"State"</th><th scope="col">"Due"</th><th scope="col">"Scopes under review"</th><th scope="col">"Scopes after review"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub fn item(item: &Item, form: &Form, csrf: &str, can_attest: bool) -> AnyView {
    let open = matches!(item.state.as_str(), "awaiting_partner" | "unanswered");
    let answer = if can_attest && open {
        let needed = form.value("still_needed");
        view! {
            <section class="card">
                <h2>"Your answer"</h2>
                {error_summary(form)}
                <form method="post" action=format!("/reviews/items/{}", item.id)>
                    {csrf_field(csrf)}
                    <input type="hidden" name="version" value=item.version.to_string()/>
                    <fieldset>
                        <legend>"Is this client still needed?"</legend>
                        {field_error(form, "still_needed")}
                        <input type="radio" id="still_needed_yes" name="still_needed" value="yes" checked=needed != "no"/>
                        <label for="still_needed_yes">"Yes: it keeps the scopes ticked below"</label>
                        <input type="radio" id="still_needed_no" name="still_needed" value="no" checked=needed == "no"/>
                        <label for="still_needed_no">"No: revoke it now"</label>
                    </fieldset>
                    {field_error(form, "scopes")}
                    {scopes_table(item, form, true)}
                    <button type="submit">"Send the answer"</button>
                </form>
            </section>
        }
        .into_any()
    } else {
        scopes_table(item, form, false)
    };
    view! {
        <p>{format!("Due {}.", when(item.due_at))}</p>
        {facts(item)}
        {answer}
    }
    .into_any()
}
