//! The partner's pages: the onboarding home, the task list, each step's form, the
//! evidence step and its upload form.

use super::*;
use crate::platform::time::date_input_value;

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
                    <td>{when(a.created_at)}</td>
                    <td>{a.submitted_at.map(when).unwrap_or_default()}</td>
                    <td>{a.decided_at.map(when).unwrap_or_default()}</td>
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
                        {crate::platform::ui::TextArea::new("answer", 5).render(page.form.value("answer"))}
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
                <p>{format!("Submitting freezes your answers and evidence as this round of your dossier. You can still see them, but not change them, while the bank reviews. The bank decides, or asks you a question, within {} of submission.", crate::platform::format::duration(page.tier.review_sla_hours * 3_600))}</p>
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
    // After submitting: what happens next, and by when.
    let next = (app.status == "submitted").then(|| {
        let sla = page.tier.review_sla_hours * 3_600;
        let by = app.submitted_at.map(|at| crate::platform::time::when(at + sla)).unwrap_or_default();
        view! {
            <section class="card" id="what-next" aria-labelledby="what-next-heading">
                <h2 id="what-next-heading">"What happens next"</h2>
                <p>{format!(
                    "A reviewer at the bank reads your dossier. Within {} of submission, by {by}, you get a decision or a question, by e-mail and on this page. If the bank asks for more information, answer here and submit again; your answers are frozen until then.",
                    crate::platform::format::duration(sla)
                )}</p>
            </section>
        }
    });
    view! {
        {error_summary(page.form)}
        <p class="lead">{format!("{} — ", page.tier.name)}{status_tag(&app.status)}</p>
        {app.assigned_name.clone().map(|name| view! { <p>{format!("Reviewer: {name}")}</p> })}
        {decided.map(|reason| view! { <p>{format!("The reviewer wrote: {reason}")}</p> })}
        <p>{format!("You have completed {done} of {} sections.", page.tasks.len())}</p>
        {(!page.can_manage).then(|| view! { <p class="hint">"Only partner admins can change or submit the application; you can read it."</p> })}
        {next}
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
                <thead><tr><th>"Type"</th><th>"File"</th><th>"Issued"</th><th>"Expires"</th><th>"SHA‑256"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        })}
        {upload}
        <p><a href=format!("/onboarding/{}", app.id)>"Back to the task list"</a></p>
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
                <p class="hint" id="issued_on-hint">"The date on the document."</p>
                {error_line(&issued_error, "issued_on-error".into())}
                <input id="issued_on" name="issued_on" type="date" value=date_input_value(&form.value("issued_on")) aria-describedby="issued_on-hint" autocomplete="off"/>
            </div>
            <div class=field_class(&expires_error)>
                <label for="expires_on">"Expiry date (certificates and test reports)"</label>
                <p class="hint" id="expires_on-hint">{format!(
                    "Required for: {}. Leave it empty for the others, which are valid until replaced. You and the reviewer are warned 30 days before it passes.",
                    EvidenceKind::ALL.iter().filter(|k| k.expires()).map(|k| k.label()).collect::<Vec<_>>().join("; ")
                )}</p>
                {error_line(&expires_error, "expires_on-error".into())}
                <input id="expires_on" name="expires_on" type="date" value=date_input_value(&form.value("expires_on")) aria-describedby="expires_on-hint" autocomplete="off"/>
            </div>
            {(!form.value("kept_file").is_empty()).then(|| view! {
                <div class="notice" id="kept-file">
                    <p>{format!("{} is kept from your last attempt: leave the file below empty to upload it, or choose another.", form.value("kept_file"))}</p>
                    <input type="hidden" name="kept_file" value="1"/>
                </div>
            })}
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
