//! The partner's side of onboarding: an application for a tier, its steps saved as
//! drafts (with a version check so two admins never overwrite each other), the task
//! list, the answers to a reviewer's questions, and submission, which checks that
//! everything the tier needs is present and fresh and freezes it as a dossier round.
//! Every query takes the caller's organisation id.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::catalogue::{self, step_questions};
use super::evidence::{self, Evidence};
use super::model::{self, Answers, Freshness, Question, Step, TaskStatus, Tier};
use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::{is_unique_violation, Tx};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

#[derive(Clone, Debug)]
pub struct Application {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    pub tier: i64,
    pub questionnaire_id: String,
    pub status: String,
    pub round: i64,
    pub version: i64,
    pub assigned_to: Option<String>,
    pub assigned_name: Option<String>,
    pub created_at: i64,
    pub submitted_at: Option<i64>,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
}

impl Application {
    pub fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "draft" | "submitted" | "more_info")
    }
    pub fn is_editable(&self) -> bool {
        matches!(self.status.as_str(), "draft" | "more_info")
    }
}

type AppRow = (
    String,
    String,
    String,
    i64,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

pub(super) const APP_SELECT: &str = "SELECT a.id, a.org_id, o.legal_name, a.tier, a.questionnaire_id, a.status, a.round, a.version, \
            a.assigned_to, r.display_name, a.created_at, a.submitted_at, a.decided_at, d.display_name, a.decision_reason \
     FROM applications a JOIN organisations o ON o.id = a.org_id \
     LEFT JOIN users r ON r.id = a.assigned_to LEFT JOIN users d ON d.id = a.decided_by";

pub(super) fn app_of(row: AppRow) -> Application {
    let (
        id,
        org_id,
        org_name,
        tier,
        questionnaire_id,
        status,
        round,
        version,
        assigned_to,
        assigned_name,
        created_at,
        submitted_at,
        decided_at,
        decided_by,
        decision_reason,
    ) = row;
    Application {
        id,
        org_id,
        org_name,
        tier,
        questionnaire_id,
        status,
        round,
        version,
        assigned_to,
        assigned_name,
        created_at,
        submitted_at,
        decided_at,
        decided_by,
        decision_reason,
    }
}

/// One application: of the caller's organisation (`Some(org)`), or any (bank staff, `None`).
pub async fn application(state: &AppState, org_id: Option<&str>, id: &str) -> Result<Application> {
    let row: Option<AppRow> = sqlx::query_as(&format!(
        "{APP_SELECT} WHERE a.id = $1 AND ($2 IS NULL OR a.org_id = $2)"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.map(app_of).ok_or(Error::NotFound)
}

/// The organisation's applications, newest first.
pub async fn applications(state: &AppState, org_id: &str) -> Result<Vec<Application>> {
    let rows: Vec<AppRow> = sqlx::query_as(&format!(
        "{APP_SELECT} WHERE a.org_id = $1 ORDER BY a.created_at DESC, a.id DESC"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(app_of).collect())
}

/// The highest tier the organisation is approved for.
pub async fn approved_tier(state: &AppState, org_id: &str) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT MAX(tier) FROM tier_approvals WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&state.db.pool)
            .await?,
    )
}

fn org_of(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or(Error::NotFound)
}

/// Starts an application for `tier`, against the questionnaire version the tier names now.
pub async fn start(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    tier: &str,
) -> Result<String> {
    let org_id = org_of(user)?;
    let level = tier.trim().parse::<i64>().ok();
    let tier = match level {
        Some(level) => catalogue::tier(state, level).await.ok(),
        None => None,
    };
    let Some(tier) = tier else {
        return Err(Error::Invalid(Invalid::field(
            "tier",
            "Choose one of the tiers.",
        )));
    };
    if let Some(approved) = approved_tier(state, org_id).await? {
        if tier.level <= approved {
            return Err(Error::Invalid(Invalid::field(
                "tier",
                format!("Your organisation is already approved for tier {approved}: choose a higher tier."),
            )));
        }
    }
    let id = ids::new_id(ids::APPLICATION);
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO applications (id, org_id, tier, questionnaire_id, status, round, version, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'draft', 0, 0, $5, $6, $6)",
    )
    .bind(&id)
    .bind(org_id)
    .bind(tier.level)
    .bind(&tier.questionnaire_id)
    .bind(&user.id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|err| {
        if is_unique_violation(&err) {
            Error::Conflict("Your organisation already has an application in progress: finish or wait for it first.".into())
        } else {
            Error::Database(err)
        }
    })?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "onboarding.application_started")
            .client(client)
            .org(Some(org_id))
            .resource("application", &id)
            .details(json!({ "tier": tier.level, "questionnaire_id": tier.questionnaire_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The questions of a form step of `app` (the questionnaire step reads the version
/// the application started with).
pub async fn questions(state: &AppState, app: &Application, step: Step) -> Result<Vec<Question>> {
    match step {
        Step::Questionnaire => {
            let q = catalogue::questionnaire(state, &app.questionnaire_id).await?;
            Ok(q.content
                .sections
                .into_iter()
                .flat_map(|s| s.questions)
                .collect())
        }
        Step::Evidence => Ok(Vec::new()),
        _ => Ok(step_questions(step).to_vec()),
    }
}

/// A saved step: its answers and version.
#[derive(Clone, Debug, Default)]
pub struct Saved {
    pub answers: Answers,
    pub version: i64,
    pub updated_at: i64,
}

pub async fn saved_steps(state: &AppState, app_id: &str) -> Result<BTreeMap<String, Saved>> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT step, answers, version, updated_at FROM application_steps WHERE application_id = $1",
    )
    .bind(app_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.into_iter()
        .map(|(step, answers, version, updated_at)| {
            Ok((
                step,
                Saved {
                    answers: serde_json::from_str(&answers).map_err(Error::internal)?,
                    version,
                    updated_at,
                },
            ))
        })
        .collect()
}

/// Saves a step's answers. `version` is the one the form was opened at (0: never
/// saved); if someone saved since, nothing is written and the caller is told.
/// `finish` also requires every required answer ("Save and continue").
#[allow(clippy::too_many_arguments)]
pub async fn save_step(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    app: &Application,
    step: Step,
    form: &BTreeMap<String, String>,
    version: i64,
    finish: bool,
) -> Result<()> {
    if !app.is_editable() {
        return Err(Error::Conflict(format!(
            "This application is {}: it cannot be changed now.",
            model::status_label(&app.status).to_lowercase()
        )));
    }
    let questions = questions(state, app, step).await?;
    let refs: Vec<&Question> = questions.iter().collect();
    let answers = model::read_answers(&refs, form).map_err(|errors| {
        let mut invalid = Invalid::new();
        for (field, message) in errors {
            invalid.add(&field, message);
        }
        Error::Invalid(invalid)
    })?;
    if finish {
        let missing = model::missing(&refs, &answers, app.tier);
        if !missing.is_empty() {
            let mut invalid = Invalid::new();
            for (field, message) in missing {
                invalid.add(&field, message);
            }
            return Err(Error::Invalid(invalid));
        }
    }
    let body = serde_json::to_string(&answers).map_err(Error::internal)?;
    let now = state.clock.now();
    let stale = || {
        Error::Conflict(
            "Someone else in your organisation saved this step after you opened it, so your changes were not saved. \
             Open the step again to see their answers, then make your changes."
                .into(),
        )
    };
    let mut tx = state.db.begin().await?;
    if version == 0 {
        sqlx::query(
            "INSERT INTO application_steps (application_id, step, answers, version, updated_by, updated_at) \
             VALUES ($1, $2, $3, 1, $4, $5)",
        )
        .bind(&app.id)
        .bind(step.slug())
        .bind(&body)
        .bind(&user.id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|err| if is_unique_violation(&err) { stale() } else { Error::Database(err) })?;
    } else {
        let done = sqlx::query(
            "UPDATE application_steps SET answers = $1, version = version + 1, updated_by = $2, updated_at = $3 \
             WHERE application_id = $4 AND step = $5 AND version = $6",
        )
        .bind(&body)
        .bind(&user.id)
        .bind(now)
        .bind(&app.id)
        .bind(step.slug())
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(stale());
        }
    }
    // The application must still be editable when the step lands (a submission may
    // have happened in between).
    let open = sqlx::query(
        "UPDATE applications SET updated_at = $1 WHERE id = $2 AND status IN ('draft', 'more_info')",
    )
    .bind(now)
    .bind(&app.id)
    .execute(&mut *tx)
    .await?;
    if open.rows_affected() == 0 {
        return Err(Error::Conflict(
            "This application was submitted meanwhile: it cannot be changed now.".into(),
        ));
    }
    audit::record(
        &mut tx,
        Event::new(user.actor(), "onboarding.step_saved")
            .client(client)
            .org(Some(&app.org_id))
            .resource("application", &app.id)
            .details(json!({ "step": step.slug(), "version": version + 1, "finished": finish })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One line of the task list.
#[derive(Clone, Debug)]
pub struct Task {
    pub step: Step,
    pub status: TaskStatus,
    /// What is still required, in words.
    pub notes: Vec<String>,
}

/// Evidence against the tier's rules on `today`: one line per rule.
pub fn evidence_status(
    tier: &Tier,
    files: &[Evidence],
    today: time::Date,
) -> (TaskStatus, Vec<String>) {
    if tier.evidence.is_empty() {
        return (
            TaskStatus::Completed,
            vec!["No evidence is required for this tier.".into()],
        );
    }
    let facts: Vec<_> = files.iter().map(Evidence::facts).collect();
    let mut notes = Vec::new();
    let (mut fresh, mut stale) = (0, 0);
    for rule in &tier.evidence {
        match model::freshness(rule, &facts, today) {
            Freshness::Fresh(_) => fresh += 1,
            Freshness::Missing => notes.push(format!("{}: not uploaded yet.", rule.kind.label())),
            Freshness::Stale(why) => {
                stale += 1;
                notes.push(format!(
                    "{}: {why}; upload a current one.",
                    rule.kind.label()
                ));
            }
        }
    }
    let status = if stale > 0 {
        TaskStatus::NeedsAttention
    } else if fresh == tier.evidence.len() {
        TaskStatus::Completed
    } else if files.is_empty() {
        TaskStatus::NotStarted
    } else {
        TaskStatus::InProgress
    };
    (status, notes)
}

/// The task list of `app`.
pub async fn tasks(state: &AppState, app: &Application, tier: &Tier) -> Result<Vec<Task>> {
    let saved = saved_steps(state, &app.id).await?;
    let mut tasks = Vec::new();
    for step in Step::ALL {
        if step == Step::Evidence {
            let files = evidence::list(state, &app.org_id).await?;
            let (status, notes) = evidence_status(tier, &files, evidence::today(&state.clock));
            tasks.push(Task {
                step,
                status,
                notes,
            });
            continue;
        }
        let questions = questions(state, app, step).await?;
        let refs: Vec<&Question> = questions.iter().collect();
        let answers = saved.get(step.slug()).map(|s| &s.answers);
        let status = model::step_status(answers, &refs, app.tier);
        let missing = model::missing(&refs, answers.unwrap_or(&Answers::new()), app.tier);
        let notes = match (status, missing.len()) {
            (TaskStatus::InProgress, n) => vec![format!("{n} required answers still missing.")],
            _ => Vec::new(),
        };
        tasks.push(Task {
            step,
            status,
            notes,
        });
    }
    Ok(tasks)
}

/// One message of an application's conversation.
#[derive(Clone, Debug)]
pub struct Message {
    pub round: i64,
    pub author: String,
    pub side: String,
    pub kind: String,
    pub body: String,
    pub created_at: i64,
}

pub async fn messages(state: &AppState, app_id: &str) -> Result<Vec<Message>> {
    let rows: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT m.round, COALESCE(u.display_name, m.author_id), m.author_side, m.kind, m.body, m.created_at \
         FROM application_messages m LEFT JOIN users u ON u.id = m.author_id \
         WHERE m.application_id = $1 ORDER BY m.created_at, m.id",
    )
    .bind(app_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(round, author, side, kind, body, created_at)| Message {
            round,
            author,
            side,
            kind,
            body,
            created_at,
        })
        .collect())
}

/// Whether the partner has answered the questions of the current round.
pub fn answered(app: &Application, messages: &[Message]) -> bool {
    let current: Vec<_> = messages.iter().filter(|m| m.round == app.round).collect();
    let last_question = current.iter().rposition(|m| m.kind == "question");
    match last_question {
        None => true,
        Some(at) => current[at..].iter().any(|m| m.kind == "answer"),
    }
}

pub const MAX_MESSAGE: usize = 4000;

pub(super) fn message_text(field: &str, text: &str, what: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Invalid(Invalid::field(
            field,
            format!("Enter {what}."),
        )));
    }
    if text.chars().count() > MAX_MESSAGE {
        return Err(Error::Invalid(Invalid::field(
            field,
            format!("Use at most {MAX_MESSAGE} characters."),
        )));
    }
    Ok(text.to_string())
}

pub(super) async fn add_message(
    tx: &mut Tx,
    app: &Application,
    author: &AuthUser,
    side: &str,
    kind: &str,
    body: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO application_messages (id, application_id, round, author_id, author_side, kind, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(ids::new_id(ids::MESSAGE))
    .bind(&app.id)
    .bind(app.round)
    .bind(&author.id)
    .bind(side)
    .bind(kind)
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The partner answers the reviewer's questions (then changes what is needed and resubmits).
pub async fn answer(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    app: &Application,
    text: &str,
) -> Result<()> {
    if app.status != "more_info" {
        return Err(Error::Conflict(
            "The bank has not asked a question on this application.".into(),
        ));
    }
    let text = message_text("answer", text, "your answer")?;
    let mut tx = state.db.begin().await?;
    add_message(
        &mut tx,
        app,
        user,
        "partner",
        "answer",
        &text,
        state.clock.now(),
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "onboarding.info_answered")
            .client(client)
            .org(Some(&app.org_id))
            .resource("application", &app.id)
            .details(json!({ "round": app.round })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What stops `app` from being submitted, in words (empty: ready), from its task
/// list and its messages.
pub fn blockers(app: &Application, tasks: &[Task], messages: &[Message]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for task in tasks.iter().filter(|t| t.status != TaskStatus::Completed) {
        let detail = if task.notes.is_empty() {
            "not completed".to_string()
        } else {
            task.notes.join(" ")
        };
        problems.push((
            task.step.slug().to_string(),
            format!("{}: {detail}", task.step.title()),
        ));
    }
    if app.status == "more_info" && !answered(app, messages) {
        problems.push((
            "answer".into(),
            "Answer the reviewer's questions before you submit again.".into(),
        ));
    }
    problems
}

/// Submits `app` (the version the partner saw): checks it is complete and fresh, then
/// freezes the answers and evidence as the next dossier round.
pub async fn submit(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    app: &Application,
    version: i64,
) -> Result<i64> {
    if !app.is_editable() {
        return Err(Error::Conflict(format!(
            "This application is {}: it cannot be submitted again.",
            model::status_label(&app.status).to_lowercase()
        )));
    }
    let tier = catalogue::tier(state, app.tier).await?;
    let tasks = tasks(state, app, &tier).await?;
    let problems = blockers(app, &tasks, &messages(state, &app.id).await?);
    if !problems.is_empty() {
        let mut invalid = Invalid::new();
        for (field, message) in problems {
            invalid.add(&field, message);
        }
        return Err(Error::Invalid(invalid));
    }
    // The tier's sandbox terms, accepted by a partner admin (issue 32).
    crate::agreements::ensure_accepted(
        state,
        &app.org_id,
        app.tier,
        "sandbox",
        "Your organisation",
    )
    .await?;
    let questionnaire = catalogue::questionnaire(state, &app.questionnaire_id).await?;
    let steps: BTreeMap<String, Answers> = saved_steps(state, &app.id)
        .await?
        .into_iter()
        .map(|(step, saved)| (step, saved.answers))
        .collect();
    let files = evidence::list(state, &app.org_id).await?;
    let facts: Vec<_> = files.iter().map(Evidence::facts).collect();
    let today = evidence::today(&state.clock);
    let cited: Vec<&Evidence> = tier
        .evidence
        .iter()
        .filter_map(|rule| match model::freshness(rule, &facts, today) {
            Freshness::Fresh(id) => files.iter().find(|f| f.id == id),
            _ => None,
        })
        .collect();
    let org: (String, String, String, String, Option<String>) = sqlx::query_as(
        "SELECT legal_name, registration_number, country, website, lei FROM organisations WHERE id = $1",
    )
    .bind(&app.org_id)
    .fetch_one(&state.db.pool)
    .await?;
    let round = app.round + 1;
    let content = json!({
        "application_id": app.id,
        "round": round,
        "tier": { "level": tier.level, "name": tier.name, "scopes": tier.scopes },
        "organisation": { "legal_name": org.0, "registration_number": org.1, "country": org.2, "website": org.3, "lei": org.4 },
        "questionnaire": { "id": questionnaire.id, "name": questionnaire.name, "version": questionnaire.version },
        "steps": steps,
        "evidence": cited.iter().map(|e| json!({
            "id": e.id, "kind": e.kind.as_str(), "filename": e.filename, "content_type": e.content_type,
            "size_bytes": e.size_bytes, "sha256": e.sha256, "issued_on": e.issued_on, "expires_on": e.expires_on,
        })).collect::<Vec<Value>>(),
    });
    let dossier_id = ids::new_id(ids::DOSSIER);
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE applications SET status = 'submitted', round = $1, version = version + 1, submitted_at = $2, updated_at = $2 \
         WHERE id = $3 AND org_id = $4 AND version = $5 AND status IN ('draft', 'more_info')",
    )
    .bind(round)
    .bind(now)
    .bind(&app.id)
    .bind(&app.org_id)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict(
            "This application changed since you opened it (it may already be submitted). Nothing was submitted twice: open it again to see where it stands."
                .into(),
        ));
    }
    sqlx::query(
        "INSERT INTO dossiers (id, application_id, round, content, submitted_by, submitted_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&dossier_id)
    .bind(&app.id)
    .bind(round)
    .bind(content.to_string())
    .bind(&user.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "onboarding.submitted")
            .client(client)
            .org(Some(&app.org_id))
            .resource("application", &app.id)
            .details(json!({
                "round": round, "tier": tier.level, "dossier_id": dossier_id,
                "questionnaire_id": questionnaire.id,
                "evidence": cited.iter().map(|e| json!({ "id": e.id, "sha256": e.sha256 })).collect::<Vec<Value>>(),
            })),
    )
    .await?;
    let subject = format!("Onboarding application received: {}", tier.name);
    let body = format!(
        "{} submitted your organisation's application for {} (round {round}).\n\nThe bank aims to review it within {} hours. \
         Follow it here:\n{}\n",
        user.display_name,
        tier.name,
        tier.review_sla_hours,
        state.settings.link(&format!("/onboarding/{}", app.id)),
    );
    notify_partner_admins(&mut tx, &app.org_id, &subject, &body).await?;
    let reviewers: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE role IN ('reviewer', 'approver') AND status = 'active' ORDER BY email",
    )
    .fetch_all(&mut *tx)
    .await?;
    let review_body = format!(
        "{} submitted an application for {} (round {round}).\n\nReview it here:\n{}\n",
        app.org_name,
        tier.name,
        state
            .settings
            .link(&format!("/review/applications/{}", app.id)),
    );
    for email in reviewers {
        crate::mail::enqueue(
            &mut tx,
            &email,
            &format!("To review: {} — {}", app.org_name, tier.name),
            &review_body,
        )
        .await?;
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(round)
}

/// E-mails every active partner admin of the organisation.
pub(crate) async fn notify_partner_admins(
    tx: &mut Tx,
    org_id: &str,
    subject: &str,
    body: &str,
) -> Result<()> {
    let admins: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE org_id = $1 AND role = 'partner_admin' AND status = 'active' ORDER BY email",
    )
    .bind(org_id)
    .fetch_all(&mut **tx)
    .await?;
    for email in admins {
        crate::mail::enqueue(tx, &email, subject, body).await?;
    }
    Ok(())
}

/// A frozen dossier round.
#[derive(Clone, Debug)]
pub struct Dossier {
    pub round: i64,
    pub content: Value,
    pub submitted_by: String,
    pub submitted_at: i64,
}

pub async fn dossiers(state: &AppState, app_id: &str) -> Result<Vec<Dossier>> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT d.round, d.content, COALESCE(u.display_name, d.submitted_by), d.submitted_at \
         FROM dossiers d LEFT JOIN users u ON u.id = d.submitted_by WHERE d.application_id = $1 ORDER BY d.round",
    )
    .bind(app_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.into_iter()
        .map(|(round, content, submitted_by, submitted_at)| {
            Ok(Dossier {
                round,
                content: serde_json::from_str(&content).map_err(Error::internal)?,
                submitted_by,
                submitted_at,
            })
        })
        .collect()
}
