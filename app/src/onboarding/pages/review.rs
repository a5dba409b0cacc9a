//! The reviewer's pages: the queue with its filters and the dossier of one
//! application (answers, evidence, conversation, history and trail).

use super::*;

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
                    <td>{item.app.submitted_at.map(when).unwrap_or_default()}</td>
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

pub(super) fn answer_rows(questions: &[Question], answers: Option<&Value>) -> AnyView {
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
        .map(|d| view! { <li>{format!("Round {} submitted by {} on {}", d.round, d.submitted_by, when(d.submitted_at))}</li> })
        .collect_view();
    let approvals = page
        .history
        .approvals
        .iter()
        .map(|(tier, at)| view! { <li>{format!("Approved for tier {tier} on {}", when(*at))}</li> })
        .collect_view();
    let others = page
        .history
        .applications
        .iter()
        .filter(|a| a.id != app.id)
        .map(|a| view! { <li><a href=format!("/review/applications/{}", a.id)>{format!("Tier {}", a.tier)}</a>{format!(" — {} (started {})", model::status_label(&a.status), when(a.created_at))}</li> })
        .collect_view();
    let trail = page
        .trail
        .iter()
        .map(|row| {
            view! {
                <tr>
                    <td>{when(row.occurred_at)}</td>
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
                        {crate::platform::ui::TextArea::new("text", 5).described_by(Some("text-hint".into())).render(page.form.value("text"))}
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
            <dt>"Submitted"</dt><dd>{app.submitted_at.map(when).unwrap_or_default()}</dd>
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
                <thead><tr><th>"Type"</th><th>"File"</th><th>"Issued"</th><th>"Expires"</th><th>"SHA‑256"</th></tr></thead>
                <tbody>{evidence_rows}</tbody>
            </table>
        })}
        {conversation(page.messages)}
        <h2>"The organisation"</h2>
        <dl class="summary">
            <dt>"Legal name"</dt><dd>{page.history.legal_name.clone()}</dd>
            <dt>"Registration"</dt><dd>{format!("{} ({})", page.history.registration_number, page.history.country)}</dd>
            <dt>"Website"</dt><dd>{page.history.website.clone()}</dd>
            <dt>"Signed up"</dt><dd>{when(page.history.created_at)}</dd>
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
