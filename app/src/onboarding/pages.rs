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
use crate::platform::time::display;
use crate::ui::{csrf_field, error_line, error_summary, field_class, Form};

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
        Kind::Text { long: true } => crate::ui::TextArea::new(name.clone(), 5)
            .described_by(described)
            .invalid(invalid.is_some())
            .render(&value),
        kind => {
            let (input_type, mode) = match kind {
                Kind::Email => ("email", None),
                Kind::Number => ("text", Some("numeric")),
                _ => ("text", None),
            };
            let placeholder = matches!(kind, Kind::Date).then_some("YYYY-MM-DD");
            view! {
                <input id=name.clone() name=name.clone() type=input_type inputmode=mode value=value
                    placeholder=placeholder autocomplete="off" aria-describedby=described aria-invalid=invalid/>
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

fn tier_summary(tier: &Tier) -> AnyView {
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

fn status_tag(status: &str) -> AnyView {
    let class = match status {
        "approved" => "tag tag-green",
        "rejected" => "tag tag-red",
        "more_info" => "tag tag-red",
        "submitted" => "tag tag-blue",
        _ => "tag tag-grey",
    };
    view! { <strong class=class>{model::status_label(status)}</strong> }.into_any()
}

/// `/onboarding`: the approved tier, the application history, and the tier choice.
pub fn home(
    approved: Option<i64>,
    tiers: &[Tier],
    applications: &[Application],
    can_manage: bool,
    csrf: &str,
    form: &Form,
) -> AnyView {
    let approved_line = match approved {
        Some(level) => format!("Your organisation is approved for tier {level}."),
        None => "Your organisation is not approved for any tier yet.".to_string(),
    };
    let open = applications.iter().find(|a| a.is_open());
    let history = applications
        .iter()
        .map(|a| {
            view! {
                <tr>
                    <td><a href=format!("/onboarding/{}", a.id)>{format!("Tier {}", a.tier)}</a></td>
                    <td>{status_tag(&a.status)}</td>
                    <td>{display(a.created_at)}</td>
                    <td>{a.submitted_at.map(display).unwrap_or_default()}</td>
                    <td>{a.decided_at.map(display).unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    let history = (!applications.is_empty()).then(|| {
        view! {
            <h2>"Your applications"</h2>
            <table id="applications">
                <thead><tr><th>"Tier"</th><th>"Status"</th><th>"Started"</th><th>"Submitted"</th><th>"Decided"</th></tr></thead>
                <tbody>{history}</tbody>
            </table>
        }
    });
    let choose = match (open, can_manage) {
        (Some(app), _) => view! {
            <div class="notice"><p>{format!("Your application for tier {} is in progress. ", app.tier)}<a href=format!("/onboarding/{}", app.id)>"Continue the application"</a></p></div>
        }
        .into_any(),
        (None, false) => view! { <p>"A partner admin of your organisation can start an application."</p> }.into_any(),
        (None, true) => {
            let error = form.error("tier");
            let class = field_class(&error);
            let options = tiers
                .iter()
                .filter(|t| approved.is_none_or(|a| t.level > a))
                .enumerate()
                .map(|(i, tier)| {
                    let id = if i == 0 { "tier".to_string() } else { format!("tier-{}", tier.level) };
                    let hint_id = format!("tier-{}-hint", tier.level);
                    view! {
                        <div class="radio">
                            <input type="radio" id=id.clone() name="tier" value=tier.level.to_string() aria-describedby=hint_id.clone()/>
                            <label for=id>{tier.name.clone()}</label>
                            <div class="hint" id=hint_id><p>{tier.description.clone()}</p>{tier_summary(tier)}</div>
                        </div>
                    }
                })
                .collect_view();
            view! {
                <h2>"Apply for a tier"</h2>
                <p>"Choose the tier your use case needs. The bank has decided in advance what each tier requires, so you know the whole path before you start."</p>
                {error_summary(form)}
                <form method="post" action="/onboarding/start" novalidate>
                    {csrf_field(csrf)}
                    <fieldset class=class>
                        <legend>"Which tier do you need?"</legend>
                        {error_line(&error, "tier-error".into())}
                        {options}
                    </fieldset>
                    <button type="submit">"Start the application"</button>
                </form>
            }
            .into_any()
        }
    };
    view! {
        <p class="lead">{approved_line}</p>
        {choose}
        {history}
    }
    .into_any()
}

fn conversation(messages: &[Message]) -> Option<AnyView> {
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
                    <p><strong>{heading}</strong>{format!(" — {} (round {}), {}", m.author, m.round, display(m.created_at))}</p>
                    <p class="message-body">{m.body.clone()}</p>
                </li>
            }
        })
        .collect_view();
    Some(view! { <h2>"Messages"</h2><ol class="messages">{items}</ol> }.into_any())
}

/// What the task-list page needs.
pub struct TaskListPage<'a> {
    pub app: &'a Application,
    pub tier: &'a Tier,
    pub tasks: &'a [Task],
    pub messages: &'a [Message],
    pub blockers: &'a [(String, String)],
    pub answered: bool,
    pub can_manage: bool,
    pub csrf: &'a str,
    pub form: &'a Form,
}

/// `/onboarding/{id}`: the task list (GOV.UK "task list" pattern).
pub fn task_list(page: TaskListPage<'_>) -> AnyView {
    let app = page.app;
    let editable = app.is_editable() && page.can_manage;
    let done = page
        .tasks
        .iter()
        .filter(|t| t.status == model::TaskStatus::Completed)
        .count();
    let items = page
        .tasks
        .iter()
        .map(|task| {
            let href = format!("/onboarding/{}/steps/{}", app.id, task.step.slug());
            let status_id = format!("task-{}-status", task.step.slug());
            let notes = task
                .notes
                .iter()
                .map(|n| view! { <li>{n.clone()}</li> })
                .collect_view();
            view! {
                <li class="task">
                    <div class="task-name">
                        <a href=href aria-describedby=status_id.clone()>{task.step.title()}</a>
                        <ul class="task-notes">{notes}</ul>
                    </div>
                    <strong class=task.status.class() id=status_id>{task.status.label()}</strong>
                </li>
            }
        })
        .collect_view();
    let answer_form = (app.status == "more_info" && page.can_manage).then(|| {
        let error = page.form.error("answer");
        let class = field_class(&error);
        let status = if page.answered { "Answered" } else { "Needs attention" };
        view! {
            <section class="card" id="answer-section">
                <h2>"Answer the bank's questions " <strong class=if page.answered { "tag tag-green" } else { "tag tag-red" }>{status}</strong></h2>
                <form method="post" action=format!("/onboarding/{}/answer", app.id) novalidate>
                    {csrf_field(page.csrf)}
                    <div class=class>
                        <label for="answer">"Your answer"</label>
                        {error_line(&error, "answer-error".into())}
                        {crate::ui::TextArea::new("answer", 5).render(page.form.value("answer"))}
                    </div>
                    <button type="submit" class="secondary">"Send the answer"</button>
                </form>
                <p>"Then change any step the answer affects and submit the application again."</p>
            </section>
        }
    });
    let blockers = page
        .blockers
        .iter()
        .map(|(_, message)| view! { <li>{message.clone()}</li> })
        .collect_view();
    let submit = editable.then(|| {
        if page.blockers.is_empty() {
            view! {
                <h2>"Submit the application"</h2>
                <p>"Submitting freezes your answers and evidence as this round of your dossier. You can still see them, but not change them, while the bank reviews."</p>
                <form method="post" action=format!("/onboarding/{}/submit", app.id)>
                    {csrf_field(page.csrf)}
                    <input type="hidden" name="version" value=app.version.to_string()/>
                    <button type="submit">"Submit the application"</button>
                </form>
            }
            .into_any()
        } else {
            view! {
                <h2>"Before you can submit"</h2>
                <ul id="blockers">{blockers}</ul>
            }
            .into_any()
        }
    });
    let decided = app.decision_reason.clone().filter(|r| !r.is_empty());
    view! {
        {error_summary(page.form)}
        <p class="lead">{format!("{} — ", page.tier.name)}{status_tag(&app.status)}</p>
        {app.assigned_name.clone().map(|name| view! { <p>{format!("Reviewer: {name}")}</p> })}
        {decided.map(|reason| view! { <p>{format!("The reviewer wrote: {reason}")}</p> })}
        <p>{format!("You have completed {done} of {} sections.", page.tasks.len())}</p>
        {(!page.can_manage).then(|| view! { <p class="hint">"Only partner admins can change or submit the application; you can read it."</p> })}
        {answer_form}
        <ol class="task-list" id="tasks">{items}</ol>
        {submit}
        {conversation(page.messages)}
        <p><a href="/onboarding">"All applications"</a></p>
    }
    .into_any()
}

/// A form step: its questions, the version it was opened at, and two buttons.
#[allow(clippy::too_many_arguments)]
pub fn step_form(
    app: &Application,
    step: Step,
    sections: &[(String, Vec<Question>)],
    form: &Form,
    version: i64,
    editable: bool,
    saved_by: Option<String>,
    csrf: &str,
) -> AnyView {
    let fields = sections
        .iter()
        .map(|(title, questions)| {
            let inner = questions
                .iter()
                .map(|q| question_field(q, form, app.tier))
                .collect_view();
            let heading = (!title.is_empty()).then(|| view! { <h2>{title.clone()}</h2> });
            view! { {heading} {inner} }
        })
        .collect_view();
    let saved = saved_by.map(|s| view! { <p class="hint">{s}</p> });
    let buttons = if editable {
        view! {
            <div class="buttons">
                <button type="submit" name="action" value="continue">"Save and continue"</button>
                <button type="submit" name="action" value="draft" class="secondary">"Save as draft"</button>
            </div>
        }
        .into_any()
    } else {
        view! { <p>"This application cannot be changed now."</p> }.into_any()
    };
    view! {
        {error_summary(form)}
        {saved}
        <form method="post" action=format!("/onboarding/{}/steps/{}", app.id, step.slug()) novalidate>
            {csrf_field(csrf)}
            <input type="hidden" name="version" value=version.to_string()/>
            <fieldset disabled=!editable class="plain">
                <legend class="visually-hidden">{step.title()}</legend>
                {fields}
            </fieldset>
            {buttons}
        </form>
        <p><a href=format!("/onboarding/{}", app.id)>"Back to the task list"</a></p>
    }
    .into_any()
}

fn expiry_note(expires_on: &str, today: time::Date) -> Option<AnyView> {
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

/// The evidence step: what the tier needs, what is uploaded, and the upload form.
#[allow(clippy::too_many_arguments)]
pub fn evidence_step(
    app: &Application,
    tier: &Tier,
    files: &[Evidence],
    notes: &[String],
    form: &Form,
    editable: bool,
    max_mb: usize,
    csrf: &str,
    today: time::Date,
) -> AnyView {
    let needed = tier
        .evidence
        .iter()
        .map(|r| view! { <li>{format!("{} — issued within the last {} days, not expired", r.kind.label(), r.max_age_days)}</li> })
        .collect_view();
    let needed = if tier.evidence.is_empty() {
        view! { <p>"This tier needs no evidence. You may still upload documents for the reviewer."</p> }.into_any()
    } else {
        view! { <p>"This tier needs:"</p><ul>{needed}</ul> }.into_any()
    };
    let notes = notes
        .iter()
        .map(|n| view! { <li>{n.clone()}</li> })
        .collect_view();
    let rows = files
        .iter()
        .map(|file| {
            let remove = editable.then(|| {
                view! {
                    <form method="post" action=format!("/onboarding/evidence/{}/remove", file.id) class="inline">
                        {csrf_field(csrf)}
                        <input type="hidden" name="application" value=app.id.clone()/>
                        <button type="submit" class="secondary">"Remove"<span class="visually-hidden">{format!(" {}", file.filename)}</span></button>
                    </form>
                }
            });
            view! {
                <tr>
                    <td>{file.kind.label()}</td>
                    <td><a href=format!("/onboarding/evidence/{}", file.id)>{file.filename.clone()}</a></td>
                    <td>{file.issued_on.clone()}</td>
                    <td>{file.expires_on.clone()}" "{expiry_note(&file.expires_on, today)}</td>
                    <td><code class="hash">{file.sha256.clone()}</code></td>
                    <td>{remove}</td>
                </tr>
            }
        })
        .collect_view();
    let upload = editable.then(|| {
        upload_form(
            format!("/onboarding/{}/evidence", app.id),
            form,
            csrf,
            max_mb,
        )
    });
    view! {
        {needed}
        {(!tier.evidence.is_empty()).then(|| view! { <ul class="task-notes" id="evidence-notes">{notes}</ul> })}
        <h2>"Your organisation's documents"</h2>
        {files.is_empty().then(|| view! { <p>"Nothing uploaded yet."</p> })}
        {(!files.is_empty()).then(|| view! {
            <table id="evidence">
                <thead><tr><th>"Type"</th><th>"File"</th><th>"Issued"</th><th>"Expires"</th><th>"SHA-256"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        })}
        {upload}
        <p><a href=format!("/onboarding/{}", app.id)>"Back to the task list"</a></p>
    }
    .into_any()
}

/// `/review`: the queue, oldest first, with waiting time against the tier's SLA.
pub fn queue(items: &[QueueItem], filter: &QueueFilter, tiers: &[Tier]) -> AnyView {
    let status_now = if filter.status.is_empty() {
        "submitted".to_string()
    } else {
        filter.status.clone()
    };
    let statuses = QUEUE_STATUSES
        .iter()
        .map(|(value, label)| {
            let selected = status_now == *value;
            view! { <option value=*value selected=selected>{*label}</option> }
        })
        .collect_view();
    let tier_options = tiers
        .iter()
        .map(|t| {
            let selected = filter.tier == t.level.to_string();
            view! { <option value=t.level.to_string() selected=selected>{t.name.clone()}</option> }
        })
        .collect_view();
    let rows = items
        .iter()
        .map(|item| {
            let hours = item.waiting_secs / 3600;
            let waiting = format!("{}d {}h of {}h", hours / 24, hours % 24, item.sla_hours);
            let sla = if item.overdue() {
                view! { <strong class="tag tag-red">"Overdue"</strong> }.into_any()
            } else {
                view! { <span>"Within SLA"</span> }.into_any()
            };
            view! {
                <tr>
                    <td><a href=format!("/review/applications/{}", item.app.id)>{item.app.org_name.clone()}</a></td>
                    <td>{item.tier_name.clone()}</td>
                    <td>{status_tag(&item.app.status)}</td>
                    <td>{format!("Round {}", item.app.round)}</td>
                    <td>{item.app.submitted_at.map(display).unwrap_or_default()}</td>
                    <td>{waiting}" "{sla}</td>
                    <td>{item.app.assigned_name.clone().unwrap_or_else(|| "Unassigned".into())}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="lead">"Onboarding applications. See also "<a href="/review/production">"production access requests"</a>" and the "<a href="/review/policy">"risk policy"</a>"."</p>
        <form method="get" action="/review" class="filters">
            <div class="field"><label for="status">"Status"</label><select id="status" name="status">{statuses}</select></div>
            <div class="field"><label for="tier">"Tier"</label><select id="tier" name="tier"><option value="">"All tiers"</option>{tier_options}</select></div>
            <div class="field"><label for="min_age_days">"Waiting at least (days)"</label><input id="min_age_days" name="min_age_days" type="text" inputmode="numeric" value=filter.min_age_days.clone()/></div>
            <button type="submit" class="secondary">"Filter"</button>
        </form>
        {items.is_empty().then(|| view! { <p>"Nothing in the queue with these filters."</p> })}
        <table id="queue">
            <caption class="visually-hidden">"Onboarding applications, oldest first"</caption>
            <thead><tr><th>"Organisation"</th><th>"Tier"</th><th>"Status"</th><th>"Round"</th><th>"Submitted"</th><th>"Waiting"</th><th>"Reviewer"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

fn answer_rows(questions: &[Question], answers: Option<&Value>) -> AnyView {
    questions
        .iter()
        .map(|q| {
            let answer = answers
                .and_then(|a| a.get(&q.id))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let points = q.risk_points(&answer);
            let flag = (points > 0).then(|| view! { <strong class="tag tag-red">{format!("+{points} risk")}</strong> });
            view! {
                <tr>
                    <td>{q.label.clone()}</td>
                    <td class="answer">{if answer.is_empty() { "—".to_string() } else { answer }}</td>
                    <td>{q.weight.to_string()}" "{flag}</td>
                </tr>
            }
        })
        .collect_view()
        .into_any()
}

/// What the dossier page needs.
pub struct DossierPage<'a> {
    pub app: &'a Application,
    pub tier: &'a Tier,
    pub dossiers: &'a [Dossier],
    pub questionnaire: &'a QuestionnaireVersion,
    pub messages: &'a [Message],
    pub history: &'a History,
    pub trail: &'a [AuditRow],
    pub reviewers: &'a [(String, String, String)],
    pub conflict: Option<String>,
    pub csrf: &'a str,
    pub form: &'a Form,
    /// Today by the application's clock, for the evidence's expiry warnings.
    pub today: time::Date,
}

/// `/review/applications/{id}`: the latest dossier round with weights, evidence with
/// expiry warnings, the conversation, the organisation's history and the audit trail.
pub fn dossier(page: DossierPage<'_>) -> AnyView {
    let app = page.app;
    let today = page.today;
    let latest = page.dossiers.last();
    let content = latest.map(|d| &d.content);
    let steps = content.and_then(|c| c.get("steps"));
    let step = |s: Step| steps.and_then(|all| all.get(s.slug()));
    let mut risk = 0;
    let mut sections = Vec::new();
    for s in [Step::Profile, Step::UseCase] {
        sections.push((
            s.title().to_string(),
            catalogue::step_questions(s).to_vec(),
            step(s),
        ));
    }
    for section in &page.questionnaire.content.sections {
        for q in &section.questions {
            let answer = step(Step::Questionnaire)
                .and_then(|a| a.get(&q.id))
                .and_then(Value::as_str)
                .unwrap_or("");
            risk += q.risk_points(answer);
        }
        sections.push((
            format!("{} — {}", page.questionnaire.content.title, section.title),
            section.questions.clone(),
            step(Step::Questionnaire),
        ));
    }
    for s in [Step::Contacts, Step::Declaration] {
        sections.push((
            s.title().to_string(),
            catalogue::step_questions(s).to_vec(),
            step(s),
        ));
    }
    let answers = sections
        .into_iter()
        .map(|(title, questions, answers)| {
            view! {
                <h3>{title}</h3>
                <table class="answers">
                    <thead><tr><th>"Question"</th><th>"Answer"</th><th>"Weight"</th></tr></thead>
                    <tbody>{answer_rows(&questions, answers)}</tbody>
                </table>
            }
        })
        .collect_view();
    let evidence = content
        .and_then(|c| c.get("evidence"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let evidence_rows = evidence
        .iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let kind = EvidenceKind::parse(&s("kind"))
                .map(|k| k.label())
                .unwrap_or("Document");
            view! {
                <tr>
                    <td>{kind}</td>
                    <td><a href=format!("/onboarding/evidence/{}", s("id"))>{s("filename")}</a></td>
                    <td>{s("issued_on")}</td>
                    <td>{s("expires_on")}" "{expiry_note(&s("expires_on"), today)}</td>
                    <td><code class="hash">{s("sha256")}</code></td>
                </tr>
            }
        })
        .collect_view();
    let rounds = page
        .dossiers
        .iter()
        .map(|d| view! { <li>{format!("Round {} submitted by {} on {}", d.round, d.submitted_by, display(d.submitted_at))}</li> })
        .collect_view();
    let approvals = page
        .history
        .approvals
        .iter()
        .map(|(tier, at)| view! { <li>{format!("Approved for tier {tier} on {}", display(*at))}</li> })
        .collect_view();
    let others = page
        .history
        .applications
        .iter()
        .filter(|a| a.id != app.id)
        .map(|a| view! { <li><a href=format!("/review/applications/{}", a.id)>{format!("Tier {}", a.tier)}</a>{format!(" — {} (started {})", model::status_label(&a.status), display(a.created_at))}</li> })
        .collect_view();
    let trail = page
        .trail
        .iter()
        .map(|row| {
            view! {
                <tr>
                    <td>{display(row.occurred_at)}</td>
                    <td>{row.action.clone()}</td>
                    <td>{row.actor_label.clone().unwrap_or_else(|| row.actor_kind.clone())}</td>
                    <td>{row.outcome.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let assignees = page
        .reviewers
        .iter()
        .map(|(id, name, email)| {
            let selected = app.assigned_to.as_deref() == Some(id.as_str());
            view! { <option value=id.clone() selected=selected>{format!("{name} ({email})")}</option> }
        })
        .collect_view();
    let actions = match (&page.conflict, app.status.as_str()) {
        (Some(reason), _) => view! { <div class="warning" id="conflict"><p>{reason.clone()}</p></div> }.into_any(),
        (None, "submitted") => {
            let decision_error = page.form.error("decision");
            let text_error = page.form.error("text");
            let chosen = page.form.value("decision");
            let radio = |value: &'static str, label: &'static str, id: &'static str| {
                let checked = chosen == value;
                view! { <div class="radio"><input type="radio" id=id name="decision" value=value checked=checked/><label for=id>{label}</label></div> }
            };
            view! {
                <h2>"Assign"</h2>
                <form method="post" action=format!("/review/applications/{}/assign", app.id) class="filters">
                    {csrf_field(page.csrf)}
                    <div class="field"><label for="assignee">"Reviewer"</label>
                        <select id="assignee" name="assignee"><option value="">"Unassigned"</option>{assignees}</select></div>
                    <button type="submit" class="secondary">"Assign"</button>
                </form>
                <h2>"Decision"</h2>
                {error_summary(page.form)}
                <form method="post" action=format!("/review/applications/{}/decision", app.id) novalidate>
                    {csrf_field(page.csrf)}
                    <input type="hidden" name="version" value=app.version.to_string()/>
                    <fieldset class=field_class(&decision_error)>
                        <legend>"Your decision on this round"</legend>
                        {error_line(&decision_error, "decision-error".into())}
                        {radio("approve", "Approve", "decision")}
                        {radio("more_info", "Ask the partner for more information", "decision-more")}
                        {radio("reject", "Reject", "decision-reject")}
                    </fieldset>
                    <div class=field_class(&text_error)>
                        <label for="text">"Reason or questions"</label>
                        <p class="hint" id="text-hint">"Required to reject (the reason) or to ask for more information (your questions). The partner reads it."</p>
                        {error_line(&text_error, "text-error".into())}
                        {crate::ui::TextArea::new("text", 5).described_by(Some("text-hint".into())).render(page.form.value("text"))}
                    </div>
                    <button type="submit">"Record the decision"</button>
                </form>
            }
            .into_any()
        }
        (None, status) => view! { <p>{format!("No decision is open: the application is {}.", model::status_label(status).to_lowercase())}</p> }.into_any(),
    };
    view! {
        <p class="lead">{format!("{} — {} — ", app.org_name, page.tier.name)}{status_tag(&app.status)}</p>
        <dl class="summary">
            <dt>"Round"</dt><dd>{app.round.to_string()}</dd>
            <dt>"Submitted"</dt><dd>{app.submitted_at.map(display).unwrap_or_default()}</dd>
            <dt>"Reviewer"</dt><dd>{app.assigned_name.clone().unwrap_or_else(|| "Unassigned".into())}</dd>
            <dt>"Questionnaire"</dt><dd>{format!("{} v{}", page.questionnaire.content.title, page.questionnaire.version)}</dd>
            <dt>"Risk points"</dt><dd id="risk-points">{risk.to_string()}</dd>
        </dl>
        {actions}
        <h2>"Dossier"</h2>
        <ol>{rounds}</ol>
        {answers}
        <h3>"Evidence"</h3>
        {evidence.is_empty().then(|| view! { <p>"No evidence in this round."</p> })}
        {(!evidence.is_empty()).then(|| view! {
            <table id="dossier-evidence">
                <thead><tr><th>"Type"</th><th>"File"</th><th>"Issued"</th><th>"Expires"</th><th>"SHA-256"</th></tr></thead>
                <tbody>{evidence_rows}</tbody>
            </table>
        })}
        {conversation(page.messages)}
        <h2>"The organisation"</h2>
        <dl class="summary">
            <dt>"Legal name"</dt><dd>{page.history.legal_name.clone()}</dd>
            <dt>"Registration"</dt><dd>{format!("{} ({})", page.history.registration_number, page.history.country)}</dd>
            <dt>"Website"</dt><dd>{page.history.website.clone()}</dd>
            <dt>"Signed up"</dt><dd>{display(page.history.created_at)}</dd>
        </dl>
        <ul>{approvals}</ul>
        <ul>{others}</ul>
        <h2>"Audit trail of this application"</h2>
        <table id="trail">
            <thead><tr><th>"When"</th><th>"What"</th><th>"Who"</th><th>"Outcome"</th></tr></thead>
            <tbody>{trail}</tbody>
        </table>
        <p><a href="/review">"Back to the queue"</a></p>
    }
    .into_any()
}

fn checkbox_group(
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

fn option_select(
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

/// `/admin/catalogue`: scopes, tiers, questionnaires.
pub fn catalogue(
    scopes: &[ScopeRow],
    tiers: &[Tier],
    questionnaires: &[QuestionnaireVersion],
    csrf: &str,
    form: &Form,
) -> AnyView {
    let scope_rows = scopes
        .iter()
        .map(|s| {
            let class = model::DATA_CLASSES.iter().find(|(v, _)| *v == s.data_class).map(|(_, l)| *l).unwrap_or("");
            view! { <tr><td><code>{s.scope.clone()}</code></td><td>{s.product.clone()}</td><td>{class}</td><td>{s.sensitivity.clone()}</td><td>{s.description.clone()}</td></tr> }
        })
        .collect_view();
    let tier_rows = tiers
        .iter()
        .map(|t| {
            view! {
                <section class="card">
                    <h3>{t.name.clone()}</h3>
                    <p>{t.description.clone()}</p>
                    {tier_summary(t)}
                    <p><a href=format!("/admin/catalogue/tiers/{}", t.level)>{format!("Edit tier {}", t.level)}</a></p>
                </section>
            }
        })
        .collect_view();
    let q_rows = questionnaires
        .iter()
        .map(|q| {
            let publish = (q.status == "draft").then(|| view! {
                <form method="post" action=format!("/admin/catalogue/questionnaires/{}/publish", q.id) class="inline">
                    {csrf_field(csrf)}
                    <button type="submit" class="secondary">"Publish"<span class="visually-hidden">{format!(" {} version {}", q.name, q.version)}</span></button>
                </form>
            });
            view! {
                <tr>
                    <td><a href=format!("/admin/catalogue/questionnaires/{}", q.id)>{format!("{} v{}", q.name, q.version)}</a></td>
                    <td>{q.content.title.clone()}</td>
                    <td>{q.status.clone()}</td>
                    <td>{q.published_at.map(display).unwrap_or_default()}</td>
                    <td>{publish}</td>
                </tr>
            }
        })
        .collect_view();
    let scope_error = form.error("scope");
    let product_error = form.error("product");
    let description_error = form.error("description");
    view! {
        <p class="lead">"The catalogue is decided before any request arrives: what each tier opens and demands. Changes apply to new applications; answers already given keep their questionnaire version."</p>
        <p>"What happens to credentials once issued (dormancy, expiry warnings, rotation overlap, grace periods) is the "<a href="/admin/lifecycle">"lifecycle policy"</a>", per tier and for the sandbox."</p>
        <h2>"Tiers"</h2>
        <div class="cards">{tier_rows}</div>
        <h2>"Questionnaires"</h2>
        <table id="questionnaires">
            <thead><tr><th>"Version"</th><th>"Title"</th><th>"Status"</th><th>"Published"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{q_rows}</tbody>
        </table>
        <p><a href="/admin/catalogue/questionnaires/new">"Write a new questionnaire version"</a></p>
        <h2>"Scopes"</h2>
        <table id="scopes">
            <thead><tr><th>"Scope"</th><th>"Product"</th><th>"Data class"</th><th>"Sensitivity"</th><th>"Description"</th></tr></thead>
            <tbody>{scope_rows}</tbody>
        </table>
        <h3>"Add or change a scope"</h3>
        {error_summary(form)}
        <form method="post" action="/admin/catalogue/scopes" novalidate>
            {csrf_field(csrf)}
            <div class=field_class(&scope_error)><label for="scope">"Scope name"</label>{error_line(&scope_error, "scope-error".into())}<input id="scope" name="scope" type="text" value=form.value("scope")/></div>
            <div class=field_class(&product_error)><label for="product">"API product"</label>{error_line(&product_error, "product-error".into())}<input id="product" name="product" type="text" value=form.value("product")/></div>
            <div class=field_class(&description_error)><label for="description">"Description"</label>{error_line(&description_error, "description-error".into())}{crate::ui::TextArea::new("description", 3).invalid(description_error.is_some()).render(form.value("description"))}</div>
            {option_select("data_class", "Data class", &model::DATA_CLASSES, &form.value("data_class"))}
            {option_select("sensitivity", "Sensitivity", &model::SENSITIVITIES, &form.value("sensitivity"))}
            <button type="submit">"Save the scope"</button>
        </form>
    }
    .into_any()
}

/// `/admin/catalogue/tiers/{level}`.
pub fn tier_form(
    level: i64,
    scopes: &[ScopeRow],
    questionnaires: &[QuestionnaireVersion],
    form: &Form,
    csrf: &str,
) -> AnyView {
    let chosen_scopes: Vec<String> = form
        .value("scopes")
        .split(' ')
        .map(str::to_string)
        .collect();
    let chosen_auth: Vec<String> = form
        .value("client_auth")
        .split(' ')
        .map(str::to_string)
        .collect();
    let q_options = questionnaires
        .iter()
        .filter(|q| q.status == "published")
        .map(|q| {
            let selected = form.value("questionnaire_id") == q.id;
            view! { <option value=q.id.clone() selected=selected>{format!("{} v{} — {}", q.name, q.version, q.content.title)}</option> }
        })
        .collect_view();
    let text = |name: &'static str, label: &'static str, hint: &'static str| {
        let error = form.error(name);
        view! {
            <div class=field_class(&error)>
                <label for=name>{label}</label>
                {(!hint.is_empty()).then(|| view! { <p class="hint">{hint}</p> })}
                {error_line(&error, format!("{name}-error"))}
                <input id=name name=name type="text" value=form.value(name)/>
            </div>
        }
    };
    let evidence_error = form.error("evidence");
    let q_error = form.error("questionnaire_id");
    view! {
        {error_summary(form)}
        <form method="post" action=format!("/admin/catalogue/tiers/{level}") novalidate>
            {csrf_field(csrf)}
            {text("name", "Name", "")}
            {text("description", "Description", "")}
            {checkbox_group("scopes", "Scopes this tier opens", scopes.iter().map(|s| (s.scope.clone(), format!("{} ({})", s.product, s.scope))).collect(), &chosen_scopes, form)}
            <div class=field_class(&q_error)>
                <label for="questionnaire_id">"Questionnaire version"</label>
                {error_line(&q_error, "questionnaire_id-error".into())}
                <select id="questionnaire_id" name="questionnaire_id">{q_options}</select>
            </div>
            <div class=field_class(&evidence_error)>
                <label for="evidence">"Evidence required"</label>
                <p class="hint" id="evidence-hint">{format!("One per line, as kind:maximum age in days. Kinds: {}.", EvidenceKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))}</p>
                {error_line(&evidence_error, "evidence-error".into())}
                {crate::ui::TextArea::new("evidence", 5).described_by(Some("evidence-hint".into())).render(form.value("evidence"))}
            </div>
            {checkbox_group("client_auth", "Client authentication methods allowed", model::CLIENT_AUTH_METHODS.iter().map(|(v, l)| (v.to_string(), l.to_string())).collect(), &chosen_auth, form)}
            {text("max_credential_days", "Longest credential lifetime (days)", "")}
            {text("rate_limit_per_minute", "Default rate limit (requests a minute)", "")}
            {text("review_sla_hours", "Review SLA (hours)", "")}
            <button type="submit">"Save the tier"</button>
        </form>
        <p><a href="/admin/catalogue">"Back to the catalogue"</a></p>
    }
    .into_any()
}

/// `/admin/catalogue/questionnaires/new`: a new version, written as JSON.
pub fn questionnaire_form(form: &Form, csrf: &str) -> AnyView {
    let name_error = form.error("name");
    let content_error = form.error("content");
    view! {
        <p>"A questionnaire is JSON: a title and sections of questions. Each question has an id, a label, optional help, a type (yes_no with an optional expected answer, choice with options, text (long for a text area), email, date or number), required (or required_from_tier) and a weight from 0 to 10. Saving makes a draft; publishing freezes it, and tiers can then use it."</p>
        {error_summary(form)}
        <form method="post" action="/admin/catalogue/questionnaires" novalidate>
            {csrf_field(csrf)}
            <div class=field_class(&name_error)>
                <label for="name">"Questionnaire name"</label>
                <p class="hint">"Versions share a name, e.g. security. Lower-case letters, digits and _."</p>
                {error_line(&name_error, "name-error".into())}
                <input id="name" name="name" type="text" value=form.value("name")/>
            </div>
            <div class=field_class(&content_error)>
                <label for="content">"Questions (JSON)"</label>
                {error_line(&content_error, "content-error".into())}
                {crate::ui::TextArea::new("content", 30).class("code").render(form.value("content"))}
            </div>
            <button type="submit">"Save as draft"</button>
        </form>
    }
    .into_any()
}

/// A questionnaire version, read-only, as partners will see its questions.
pub fn questionnaire_view(q: &QuestionnaireVersion, csrf: &str) -> AnyView {
    let form = Form::new();
    let sections = q
        .content
        .sections
        .iter()
        .map(|s| {
            let fields = s.questions.iter().map(|question| {
                let weight = format!("Weight {}", question.weight);
                view! { <div class="preview">{question_field(question, &form, 3)}<p class="hint">{weight}</p></div> }
            }).collect_view();
            view! { <h2>{s.title.clone()}</h2>{fields} }
        })
        .collect_view();
    let publish = (q.status == "draft").then(|| {
        view! {
            <form method="post" action=format!("/admin/catalogue/questionnaires/{}/publish", q.id)>
                {csrf_field(csrf)}
                <button type="submit">"Publish this version"</button>
            </form>
        }
    });
    let json = serde_json::to_string_pretty(&q.content).unwrap_or_default();
    view! {
        <p class="lead">{format!("{} v{} — {}", q.name, q.version, q.status)}</p>
        {publish}
        <fieldset disabled=true class="plain"><legend class="visually-hidden">"Preview"</legend>{sections}</fieldset>
        <h2>"As JSON"</h2>
        <pre><code>{json}</code></pre>
        <p><a href=format!("/admin/catalogue/questionnaires/new?from={}", q.id)>"Start a new version from this one"</a></p>
    }
    .into_any()
}

/// The evidence upload form (onboarding, and re-attestation after approval).
pub fn upload_form(action: String, form: &Form, csrf: &str, max_mb: usize) -> AnyView {
    let kinds = EvidenceKind::ALL
        .iter()
        .map(|k| {
            let selected = form.value("kind") == k.as_str();
            view! { <option value=k.as_str() selected=selected>{k.label()}</option> }
        })
        .collect_view();
    let kind_error = form.error("kind");
    let issued_error = form.error("issued_on");
    let expires_error = form.error("expires_on");
    let file_error = form.error("file");
    view! {
        <h2>"Upload a document"</h2>
        {error_summary(form)}
        <form method="post" action=action enctype="multipart/form-data" novalidate>
            {csrf_field(csrf)}
            <div class=field_class(&kind_error)>
                <label for="kind">"Type of document"</label>
                {error_line(&kind_error, "kind-error".into())}
                <select id="kind" name="kind"><option value="">"Choose a type"</option>{kinds}</select>
            </div>
            <div class=field_class(&issued_error)>
                <label for="issued_on">"Issue date"</label>
                <p class="hint" id="issued_on-hint">"As YYYY-MM-DD, for example 2026-03-31."</p>
                {error_line(&issued_error, "issued_on-error".into())}
                <input id="issued_on" name="issued_on" type="text" value=form.value("issued_on") aria-describedby="issued_on-hint" autocomplete="off"/>
            </div>
            <div class=field_class(&expires_error)>
                <label for="expires_on">"Expiry date"</label>
                <p class="hint" id="expires_on-hint">"As YYYY-MM-DD. The reviewer is warned 30 days before it expires."</p>
                {error_line(&expires_error, "expires_on-error".into())}
                <input id="expires_on" name="expires_on" type="text" value=form.value("expires_on") aria-describedby="expires_on-hint" autocomplete="off"/>
            </div>
            <div class=field_class(&file_error)>
                <label for="file">"File"</label>
                <p class="hint" id="file-hint">{format!("PDF, PNG or JPEG, up to {max_mb} MB.")}</p>
                {error_line(&file_error, "file-error".into())}
                <input id="file" name="file" type="file" accept="application/pdf,image/png,image/jpeg" aria-describedby="file-hint"/>
            </div>
            <button type="submit">"Upload"</button>
        </form>
    }
    .into_any()
}
