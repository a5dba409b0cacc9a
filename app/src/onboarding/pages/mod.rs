//! Onboarding pages: the partner's tier choice, task list, step forms and evidence;
//! the reviewer's queue and dossier; the admin's catalogue. Plain HTML forms, no
//! JavaScript, the GOV.UK Design System's task-list and error patterns.

use leptos::prelude::*;
use serde_json::Value;

use super::catalogue::{self, QuestionnaireVersion, ScopeRow};
use super::evidence::Evidence;
use super::model::{self, EvidenceKind, Kind, Question, Step, Tier};
use super::review::{History, QueueFilter, QueueItem, QUEUE_STATUSES};
use super::service::{Application, Dossier, Message, Task};
use crate::audit::AuditRow;
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_line, error_summary, field_class, Form};

// The pages by who uses them; each reads the imports and the shared pieces here
// with `use super::*`.
mod admin;
mod partner;
mod review;

pub use admin::*;
pub use partner::*;
pub use review::*;

/// One question as a form field (radios in a fieldset, or a labelled input).
pub fn question_field(question: &Question, form: &Form, tier: i64) -> AnyView {
    let name = question.id.clone();
    let value = form.value(&name);
    let error = form.error(&name);
    let class = field_class(&error);
    let hint_id = format!("{name}-hint");
    let error_id = format!("{name}-error");
    let described = [
        (!question.help.is_empty()).then(|| hint_id.clone()),
        error.as_ref().map(|_| error_id.clone()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let described = (!described.is_empty()).then_some(described);
    let label = if question.is_required(tier) || question.label.ends_with("(optional)") {
        question.label.clone()
    } else {
        format!("{} (optional)", question.label)
    };
    let hint = (!question.help.is_empty())
        .then(|| view! { <p class="hint" id=hint_id.clone()>{question.help.clone()}</p> });
    let options: Option<Vec<(String, String)>> = match &question.kind {
        Kind::YesNo { .. } => Some(vec![
            ("yes".into(), "Yes".into()),
            ("no".into(), "No".into()),
        ]),
        Kind::Choice { options } => Some(options.iter().map(|o| (o.clone(), o.clone())).collect()),
        _ => None,
    };
    if let Some(options) = options {
        let radios = options
            .into_iter()
            .enumerate()
            .map(|(i, (option_value, text))| {
                let id = if i == 0 { name.clone() } else { format!("{name}-{i}") };
                let checked = value == option_value;
                view! {
                    <div class="radio">
                        <input type="radio" id=id.clone() name=name.clone() value=option_value checked=checked/>
                        <label for=id>{text}</label>
                    </div>
                }
            })
            .collect_view();
        return view! {
            <fieldset class=class aria-describedby=described>
                <legend>{label}</legend>
                {hint}
                {error_line(&error, error_id)}
                {radios}
            </fieldset>
        }
        .into_any();
    }
    let invalid = error.is_some().then_some("true");
    let input = match &question.kind {
        Kind::Text { long: true } => crate::platform::ui::TextArea::new(name.clone(), 5)
            .described_by(described)
            .invalid(invalid.is_some())
            .render(&value),
        kind => {
            let (input_type, mode, value) = match kind {
                Kind::Email => ("email", None, value),
                Kind::Number => ("text", Some("numeric"), value),
                Kind::Date => (
                    "date",
                    None,
                    crate::platform::time::date_input_value(&value),
                ),
                _ => ("text", None, value),
            };
            view! {
                <input id=name.clone() name=name.clone() type=input_type inputmode=mode value=value
                    autocomplete="off" aria-describedby=described aria-invalid=invalid/>
            }
            .into_any()
        }
    };
    view! {
        <div class=class>
            <label for=name.clone()>{label}</label>
            {hint}
            {error_line(&error, error_id)}
            {input}
        </div>
    }
    .into_any()
}

pub(super) fn tier_summary(tier: &Tier) -> AnyView {
    let evidence = if tier.evidence.is_empty() {
        "None".to_string()
    } else {
        tier.evidence
            .iter()
            .map(|r| format!("{} (issued within {} days)", r.kind.label(), r.max_age_days))
            .collect::<Vec<_>>()
            .join("; ")
    };
    view! {
        <dl class="summary">
            <dt>"Scopes"</dt><dd>{tier.scopes.join(", ")}</dd>
            <dt>"Evidence"</dt><dd>{evidence}</dd>
            <dt>"Client authentication"</dt><dd>{tier.client_auth.join(", ")}</dd>
            <dt>"Longest credential lifetime"</dt><dd>{format!("{} days", tier.max_credential_days)}</dd>
            <dt>"Default rate limit"</dt><dd>{format!("{} requests a minute", tier.rate_limit_per_minute)}</dd>
            <dt>"Review within"</dt><dd>{format!("{} hours", tier.review_sla_hours)}</dd>
        </dl>
    }
    .into_any()
}

pub(super) fn status_tag(status: &str) -> AnyView {
    let class = match status {
        "approved" => "tag tag-green",
        "rejected" => "tag tag-red",
        "more_info" => "tag tag-red",
        "submitted" => "tag tag-blue",
        _ => "tag tag-grey",
    };
    view! { <strong class=class>{model::status_label(status)}</strong> }.into_any()
}

pub(super) fn conversation(messages: &[Message]) -> Option<AnyView> {
    if messages.is_empty() {
        return None;
    }
    let items = messages
        .iter()
        .map(|m| {
            let heading = match m.kind.as_str() {
                "question" => "The bank asks",
                "answer" => "Your organisation answered",
                "approval" => "Approved",
                _ => "Not approved",
            };
            view! {
                <li class="message">
                    <p><strong>{heading}</strong>{format!(" — {} (round {}), {}", m.author, m.round, when(m.created_at))}</p>
                    <p class="message-body">{m.body.clone()}</p>
                </li>
            }
        })
        .collect_view();
    Some(view! { <h2>"Messages"</h2><ol class="messages">{items}</ol> }.into_any())
}

pub(super) fn expiry_note(expires_on: &str, today: time::Date) -> Option<AnyView> {
    let expires = model::parse_date(expires_on)?;
    let days = (expires - today).whole_days();
    if days <= 0 {
        Some(view! { <strong class="tag tag-red">"Expired"</strong> }.into_any())
    } else if days <= 30 {
        Some(
            view! { <strong class="tag tag-red">{format!("Expires in {days} days")}</strong> }
                .into_any(),
        )
    } else {
        None
    }
}

pub(super) fn checkbox_group(
    name: &'static str,
    legend: &'static str,
    options: Vec<(String, String)>,
    chosen: &[String],
    form: &Form,
) -> AnyView {
    let error = form.error(name);
    let boxes = options
        .into_iter()
        .enumerate()
        .map(|(i, (value, label))| {
            let id = if i == 0 { name.to_string() } else { format!("{name}-{i}") };
            let checked = chosen.contains(&value);
            view! { <div class="checkbox"><input type="checkbox" id=id.clone() name=name value=value checked=checked/><label for=id>{label}</label></div> }
        })
        .collect_view();
    view! {
        <fieldset class=field_class(&error)>
            <legend>{legend}</legend>
            {error_line(&error, format!("{name}-error"))}
            {boxes}
        </fieldset>
    }
    .into_any()
}

pub(super) fn option_select(
    name: &'static str,
    label: &'static str,
    options: &[(&'static str, &'static str)],
    current: &str,
) -> AnyView {
    let opts = options
        .iter()
        .map(|(v, l)| {
            let selected = current == *v;
            view! { <option value=*v selected=selected>{*l}</option> }
        })
        .collect_view();
    view! { <div class="field"><label for=name>{label}</label><select id=name name=name>{opts}</select></div> }.into_any()
}
