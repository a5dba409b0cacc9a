//! Onboarding routes, thin over the services: the partner's wizard under
//! `/onboarding`, the reviewer's queue under `/review`, the admin's catalogue under
//! `/admin/catalogue`. Forms post and redirect (post/redirect/get); a form with
//! errors comes back with the user's input, the errors and the right status.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::catalogue::{self, TierInput};
use super::evidence::{self, Upload};
use super::model::Step;
use super::review::{self, QueueFilter};
use super::service::{self, Application};
use super::{model, pages};
use crate::accounts::authz::Action;
use crate::platform::context::{AuthUser, Ctx};
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::time::display;
use crate::ui::Form;

pub fn routes(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/onboarding", get(home_page))
        .route("/onboarding/start", post(start_submit))
        .route("/onboarding/{id}", get(task_list_page))
        .route(
            "/onboarding/{id}/steps/{step}",
            get(step_page).post(step_submit),
        )
        .route(
            "/onboarding/{id}/evidence",
            post(upload_submit).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/onboarding/{id}/answer", post(answer_submit))
        .route("/onboarding/{id}/submit", post(submit))
        .route("/onboarding/evidence/{eid}", get(download))
        .route("/onboarding/evidence/{eid}/remove", post(remove_evidence))
        .route("/review", get(queue_page))
        .route("/review/applications/{id}", get(dossier_page))
        .route("/review/applications/{id}/assign", post(assign_submit))
        .route("/review/applications/{id}/decision", post(decision_submit))
        .route("/admin/catalogue", get(catalogue_page))
        .route("/admin/catalogue/scopes", post(scope_submit))
        .route(
            "/admin/catalogue/tiers/{level}",
            get(tier_page).post(tier_submit),
        )
        .route(
            "/admin/catalogue/questionnaires",
            post(questionnaire_submit),
        )
        .route(
            "/admin/catalogue/questionnaires/new",
            get(new_questionnaire_page),
        )
        .route(
            "/admin/catalogue/questionnaires/{id}",
            get(questionnaire_page),
        )
        .route(
            "/admin/catalogue/questionnaires/{id}/publish",
            post(publish_submit),
        )
}

use crate::platform::forms::redirect;
pub(crate) use crate::platform::forms::{fields, form_of, with_errors};

fn org(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or(Error::NotFound)
}

// ---- the partner's side ----

async fn render_home(
    state: &AppState,
    ctx: &Ctx,
    user: &AuthUser,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let org_id = org(user)?;
    let approved = service::approved_tier(state, org_id).await?;
    let tiers = catalogue::tiers(state).await?;
    let applications = service::applications(state, org_id).await?;
    let can_manage = ctx.require(Action::ManageOnboarding).is_ok();
    let body = pages::home(approved, &tiers, &applications, can_manage, &ctx.csrf, form);
    Ok((status, ctx.render("Onboarding", body)).into_response())
}

async fn home_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ViewOnboarding)?;
    render_home(&state, &ctx, user, &Form::new(), StatusCode::OK).await
}

async fn start_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::ManageOnboarding)?;
    let values = fields(&body);
    let tier = values.get("tier").cloned().unwrap_or_default();
    match service::start(&state, user, &ctx.client, &tier).await {
        Ok(id) => {
            redirect(
                &ctx,
                &format!("/onboarding/{id}"),
                "Application started. Complete each section, in any order.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_home(&state, &ctx, user, &form, status).await
        }
        Err(err) => Err(err),
    }
}

async fn render_task_list(
    state: &AppState,
    ctx: &Ctx,
    app: &Application,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let tier = catalogue::tier(state, app.tier).await?;
    let tasks = service::tasks(state, app, &tier).await?;
    let messages = service::messages(state, &app.id).await?;
    let blockers = if app.is_editable() {
        service::blockers(app, &tasks, &messages)
    } else {
        Vec::new()
    };
    let body = pages::task_list(pages::TaskListPage {
        app,
        tier: &tier,
        tasks: &tasks,
        messages: &messages,
        blockers: &blockers,
        answered: service::answered(app, &messages),
        can_manage: ctx.require(Action::ManageOnboarding).is_ok(),
        csrf: &ctx.csrf,
        form,
    });
    let title = format!("Application for tier {}", app.tier);
    Ok((status, ctx.render(&title, body)).into_response())
}

async fn task_list_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOnboarding)?;
    let app = service::application(&state, Some(org(user)?), &id).await?;
    render_task_list(&state, &ctx, &app, &Form::new(), StatusCode::OK).await
}

fn step_of(slug: &str) -> Result<Step> {
    Step::parse(slug).ok_or(Error::NotFound)
}

#[allow(clippy::too_many_arguments)]
async fn render_step(
    state: &AppState,
    ctx: &Ctx,
    app: &Application,
    step: Step,
    form: &Form,
    version: i64,
    saved_at: Option<i64>,
    status: StatusCode,
) -> Result<Response> {
    let editable = app.is_editable() && ctx.require(Action::ManageOnboarding).is_ok();
    let title = step.title();
    if step == Step::Evidence {
        let tier = catalogue::tier(state, app.tier).await?;
        let files = evidence::list(state, &app.org_id).await?;
        let (_, notes) = service::evidence_status(&tier, &files, evidence::today(&state.clock));
        let max_mb = state.settings.evidence_max_bytes / (1024 * 1024);
        let body = pages::evidence_step(
            app,
            &tier,
            &files,
            &notes,
            form,
            editable,
            max_mb,
            &ctx.csrf,
            evidence::today(&state.clock),
        );
        return Ok((status, ctx.render(title, body)).into_response());
    }
    let sections: Vec<(String, Vec<model::Question>)> = if step == Step::Questionnaire {
        let q = catalogue::questionnaire(state, &app.questionnaire_id).await?;
        q.content
            .sections
            .into_iter()
            .map(|s| (s.title, s.questions))
            .collect()
    } else {
        vec![(String::new(), service::questions(state, app, step).await?)]
    };
    let saved_by = saved_at.map(|at| format!("Last saved {}.", display(at)));
    let body = pages::step_form(
        app, step, &sections, form, version, editable, saved_by, &ctx.csrf,
    );
    Ok((status, ctx.render(title, body)).into_response())
}

async fn step_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, slug)): Path<(String, String)>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOnboarding)?;
    let app = service::application(&state, Some(org(user)?), &id).await?;
    let step = step_of(&slug)?;
    let saved = service::saved_steps(&state, &app.id)
        .await?
        .remove(step.slug());
    let (form, version, at) = match saved {
        Some(saved) => (
            form_of(&saved.answers),
            saved.version,
            Some(saved.updated_at),
        ),
        None => (Form::new(), 0, None),
    };
    render_step(&state, &ctx, &app, step, &form, version, at, StatusCode::OK).await
}

async fn step_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, slug)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageOnboarding)?;
    let app = service::application(&state, Some(org(user)?), &id).await?;
    let step = step_of(&slug)?;
    if step == Step::Evidence {
        return Err(Error::NotFound);
    }
    let values = fields(&body);
    let version = values
        .get("version")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .ok_or_else(|| {
            Error::BadRequest(
                "The form is missing its version: reload the page and try again.".into(),
            )
        })?;
    let finish = values.get("action").map(String::as_str) != Some("draft");
    match service::save_step(
        &state,
        user,
        &ctx.client,
        &app,
        step,
        &values,
        version,
        finish,
    )
    .await
    {
        Ok(()) if finish => {
            redirect(
                &ctx,
                &format!("/onboarding/{}", app.id),
                &format!("{} saved.", step.title()),
            )
            .await
        }
        Ok(()) => {
            redirect(
                &ctx,
                &format!("/onboarding/{}/steps/{}", app.id, step.slug()),
                "Saved as a draft.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_step(&state, &ctx, &app, step, &form, version, None, status).await
        }
        Err(Error::Conflict(message)) => {
            // Keep the user's input, and the version now saved: saving again is then
            // a deliberate replacement of the other admin's answers, never a silent one.
            let current = service::saved_steps(&state, &app.id)
                .await?
                .remove(step.slug());
            let mut form = form_of(&values);
            form.add_error("version", message);
            let version = current.as_ref().map(|c| c.version).unwrap_or(version);
            let at = current.map(|c| c.updated_at);
            render_step(
                &state,
                &ctx,
                &app,
                step,
                &form,
                version,
                at,
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(err) => Err(err),
    }
}

async fn upload_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<Response> {
    let user = ctx.require(Action::ManageOnboarding)?;
    let app = service::application(&state, Some(org(user)?), &id).await?;
    let upload = read_upload(&mut multipart).await?;
    let form = Form::new()
        .with("kind", upload.kind.clone())
        .with("issued_on", upload.issued_on.clone())
        .with("expires_on", upload.expires_on.clone());
    if !app.is_editable() {
        return Err(Error::Conflict(
            "This application cannot be changed now.".into(),
        ));
    }
    match evidence::upload(&state, user, &ctx.client, upload).await {
        Ok(_) => {
            redirect(
                &ctx,
                &format!("/onboarding/{}/steps/evidence", app.id),
                "Document uploaded.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form, invalid);
            render_step(&state, &ctx, &app, Step::Evidence, &form, 0, None, status).await
        }
        Err(err @ (Error::PayloadTooLarge(_) | Error::UnsupportedMediaType(_))) => {
            let status = err.status();
            let mut form = form;
            form.add_error("file", err.to_string());
            render_step(&state, &ctx, &app, Step::Evidence, &form, 0, None, status).await
        }
        Err(err) => Err(err),
    }
}

async fn remove_evidence(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(eid): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageOnboarding)?;
    let values = fields(&body);
    evidence::remove(&state, user, &ctx.client, &eid).await?;
    let back = values
        .get("application")
        .filter(|a| {
            a.starts_with("onb_") && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|a| format!("/onboarding/{a}/steps/evidence"))
        .unwrap_or_else(|| "/onboarding".into());
    redirect(&ctx, &back, "Document removed from your current evidence.").await
}

/// A file, for its organisation's members or bank reviewers; always as a download.
async fn download(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(eid): Path<String>,
) -> Result<Response> {
    let user = ctx.user()?;
    let scope = if user.role.is_staff() {
        ctx.require(Action::Review)?;
        None
    } else {
        ctx.require(Action::ViewOnboarding)?;
        Some(org(user)?)
    };
    let file = evidence::get(&state, scope, &eid).await?;
    let bytes = evidence::read(&state, &file).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&file.content_type).map_err(Error::internal)?,
    );
    let name: String = file
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            .map_err(Error::internal)?,
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

async fn answer_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageOnboarding)?;
    let app = service::application(&state, Some(org(user)?), &id).await?;
    let values = fields(&body);
    let text = values.get("answer").cloned().unwrap_or_default();
    match service::answer(&state, user, &ctx.client, &app, &text).await {
        Ok(()) => {
            redirect(
                &ctx,
                &format!("/onboarding/{}", app.id),
                "Answer sent. Change what it affects, then submit again.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_task_list(&state, &ctx, &app, &form, status).await
        }
        Err(err) => Err(err),
    }
}

async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageOnboarding)?;
    let app = service::application(&state, Some(org(user)?), &id).await?;
    // Only the version is read: status and tier are never the partner's to set.
    let version = fields(&body)
        .get("version")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| {
            Error::BadRequest(
                "The form is missing its version: reload the page and try again.".into(),
            )
        })?;
    match service::submit(&state, user, &ctx.client, &app, version).await {
        Ok(round) => {
            redirect(
                &ctx,
                &format!("/onboarding/{}", app.id),
                &format!("Application submitted (round {round}). The bank has been told."),
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(Form::new(), invalid);
            render_task_list(&state, &ctx, &app, &form, status).await
        }
        Err(err) => Err(err),
    }
}

// ---- the reviewer's side ----

async fn queue_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(filter): Query<QueueFilter>,
) -> Result<Response> {
    ctx.require(Action::Review)?;
    let items = review::queue(&state, &filter).await?;
    let tiers = catalogue::tiers(&state).await?;
    Ok(ctx
        .render("Review queue", pages::queue(&items, &filter, &tiers))
        .into_response())
}

async fn render_dossier(
    state: &AppState,
    ctx: &Ctx,
    user: &AuthUser,
    app: &Application,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let tier = catalogue::tier(state, app.tier).await?;
    let dossiers = service::dossiers(state, &app.id).await?;
    let questionnaire = catalogue::questionnaire(state, &app.questionnaire_id).await?;
    let messages = service::messages(state, &app.id).await?;
    let history = review::history(state, &app.org_id).await?;
    let trail = review::trail(state, app).await?;
    let reviewers = review::reviewers(state).await?;
    let conflict = review::conflict(state, &user.email, &app.org_id).await?;
    let body = pages::dossier(pages::DossierPage {
        app,
        tier: &tier,
        dossiers: &dossiers,
        questionnaire: &questionnaire,
        messages: &messages,
        history: &history,
        trail: &trail,
        reviewers: &reviewers,
        conflict,
        csrf: &ctx.csrf,
        form,
        today: evidence::today(&state.clock),
    });
    Ok((
        status,
        ctx.render(&format!("Dossier: {}", app.org_name), body),
    )
        .into_response())
}

async fn dossier_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::Review)?;
    let app = service::application(&state, None, &id).await?;
    if app.status == "draft" {
        return Err(Error::NotFound);
    }
    render_dossier(&state, &ctx, user, &app, &Form::new(), StatusCode::OK).await
}

async fn assign_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Review)?;
    let app = service::application(&state, None, &id).await?;
    let values = fields(&body);
    let assignee = values.get("assignee").cloned().unwrap_or_default();
    match review::assign(&state, user, &ctx.client, &app, &assignee).await {
        Ok(()) => {
            redirect(
                &ctx,
                &format!("/review/applications/{}", app.id),
                "Assignment saved.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_dossier(&state, &ctx, user, &app, &form, status).await
        }
        Err(err) => Err(err),
    }
}

async fn decision_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Review)?;
    let app = service::application(&state, None, &id).await?;
    let values = fields(&body);
    let version = values
        .get("version")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| {
            Error::BadRequest(
                "The form is missing its version: reload the page and try again.".into(),
            )
        })?;
    let decision = values.get("decision").cloned().unwrap_or_default();
    let text = values.get("text").cloned().unwrap_or_default();
    match review::decide(&state, user, &ctx.client, &app, &decision, &text, version).await {
        Ok(()) => {
            let message = match decision.as_str() {
                "approve" => "Approved. The partner has been told.",
                "reject" => "Rejected. The partner has been told, with your reason.",
                _ => "Your questions were sent to the partner.",
            };
            redirect(&ctx, &format!("/review/applications/{}", app.id), message).await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_dossier(&state, &ctx, user, &app, &form, status).await
        }
        Err(err) => Err(err),
    }
}

// ---- the admin's catalogue ----

async fn render_catalogue(
    state: &AppState,
    ctx: &Ctx,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let scopes = catalogue::scopes(state).await?;
    let tiers = catalogue::tiers(state).await?;
    let questionnaires = catalogue::questionnaires(state).await?;
    let body = pages::catalogue(&scopes, &tiers, &questionnaires, &ctx.csrf, form);
    Ok((status, ctx.render("Catalogue", body)).into_response())
}

async fn catalogue_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    ctx.require(Action::ManageCatalogue)?;
    let form = Form::new()
        .with("data_class", "account_information")
        .with("sensitivity", "high");
    render_catalogue(&state, &ctx, &form, StatusCode::OK).await
}

async fn scope_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::ManageCatalogue)?;
    let values = fields(&body);
    let get = |k: &str| values.get(k).cloned().unwrap_or_default();
    let input = catalogue::ScopeRow {
        scope: get("scope").trim().to_string(),
        product: get("product"),
        description: get("description"),
        data_class: get("data_class"),
        sensitivity: get("sensitivity"),
    };
    match catalogue::save_scope(&state, user, &ctx.client, input).await {
        Ok(()) => redirect(&ctx, "/admin/catalogue", "Scope saved.").await,
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_catalogue(&state, &ctx, &form, status).await
        }
        Err(err) => Err(err),
    }
}

async fn render_tier(
    state: &AppState,
    ctx: &Ctx,
    level: i64,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let scopes = catalogue::scopes(state).await?;
    let questionnaires = catalogue::questionnaires(state).await?;
    let body = pages::tier_form(level, &scopes, &questionnaires, form, &ctx.csrf);
    Ok((status, ctx.render(&format!("Edit tier {level}"), body)).into_response())
}

async fn tier_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(level): Path<i64>,
) -> Result<Response> {
    ctx.require(Action::ManageCatalogue)?;
    let tier = catalogue::tier(&state, level).await?;
    let form = Form::new()
        .with("name", tier.name)
        .with("description", tier.description)
        .with("scopes", tier.scopes.join(" "))
        .with("questionnaire_id", tier.questionnaire_id)
        .with("evidence", catalogue::evidence_rules_text(&tier.evidence))
        .with("client_auth", tier.client_auth.join(" "))
        .with("max_credential_days", tier.max_credential_days.to_string())
        .with(
            "rate_limit_per_minute",
            tier.rate_limit_per_minute.to_string(),
        )
        .with("review_sla_hours", tier.review_sla_hours.to_string());
    render_tier(&state, &ctx, level, &form, StatusCode::OK).await
}

async fn tier_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(level): Path<i64>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCatalogue)?;
    let values = fields(&body);
    let get = |k: &str| values.get(k).cloned().unwrap_or_default();
    let list = |k: &str| {
        get(k)
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let input = TierInput {
        name: get("name"),
        description: get("description"),
        scopes: list("scopes"),
        questionnaire_id: get("questionnaire_id"),
        evidence: get("evidence"),
        client_auth: list("client_auth"),
        max_credential_days: get("max_credential_days"),
        rate_limit_per_minute: get("rate_limit_per_minute"),
        review_sla_hours: get("review_sla_hours"),
    };
    match catalogue::save_tier(&state, user, &ctx.client, level, input).await {
        Ok(()) => redirect(&ctx, "/admin/catalogue", &format!("Tier {level} saved.")).await,
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_tier(&state, &ctx, level, &form, status).await
        }
        Err(err) => Err(err),
    }
}

#[derive(Deserialize)]
struct From {
    #[serde(default)]
    from: String,
}

async fn new_questionnaire_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(from): Query<From>,
) -> Result<Response> {
    ctx.require(Action::ManageCatalogue)?;
    let form = match catalogue::questionnaire(&state, &from.from).await {
        Ok(q) => Form::new().with("name", q.name).with(
            "content",
            serde_json::to_string_pretty(&q.content).map_err(Error::internal)?,
        ),
        Err(_) => Form::new(),
    };
    Ok(ctx
        .render(
            "New questionnaire version",
            pages::questionnaire_form(&form, &ctx.csrf),
        )
        .into_response())
}

async fn questionnaire_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCatalogue)?;
    let values = fields(&body);
    let name = values.get("name").cloned().unwrap_or_default();
    let content = values.get("content").cloned().unwrap_or_default();
    match catalogue::save_questionnaire_draft(&state, user, &ctx.client, &name, &content).await {
        Ok(id) => {
            redirect(
                &ctx,
                &format!("/admin/catalogue/questionnaires/{id}"),
                "Draft saved. Check the preview, then publish it.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            Ok((
                status,
                ctx.render(
                    "New questionnaire version",
                    pages::questionnaire_form(&form, &ctx.csrf),
                ),
            )
                .into_response())
        }
        Err(err) => Err(err),
    }
}

async fn questionnaire_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    ctx.require(Action::ManageCatalogue)?;
    let q = catalogue::questionnaire(&state, &id).await?;
    let title = format!("Questionnaire {} v{}", q.name, q.version);
    Ok(ctx
        .render(&title, pages::questionnaire_view(&q, &ctx.csrf))
        .into_response())
}

async fn publish_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCatalogue)?;
    catalogue::publish_questionnaire(&state, user, &ctx.client, &id).await?;
    redirect(
        &ctx,
        &format!("/admin/catalogue/questionnaires/{id}"),
        "Published. Choose it on a tier to use it for new applications.",
    )
    .await
}

/// Reads an evidence upload (kind, dates, file) from a multipart form; an
/// oversized body is a 413, an unreadable one a 400.
pub(crate) async fn read_upload(multipart: &mut Multipart) -> Result<Upload> {
    let mut upload = Upload::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Error::PayloadTooLarge(
                    "The file is larger than Gatehouse accepts.".into(),
                ))
            }
            Err(err) => {
                return Err(Error::BadRequest(format!(
                    "The upload could not be read: {}",
                    err.body_text()
                )))
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            upload.filename = field.file_name().unwrap_or_default().to_string();
        }
        let data = match field.bytes().await {
            Ok(data) => data,
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Error::PayloadTooLarge(
                    "The file is larger than Gatehouse accepts.".into(),
                ))
            }
            Err(err) => {
                return Err(Error::BadRequest(format!(
                    "The upload could not be read: {}",
                    err.body_text()
                )))
            }
        };
        let text = || {
            String::from_utf8_lossy(&data)
                .chars()
                .take(100)
                .collect::<String>()
        };
        match name.as_str() {
            "kind" => upload.kind = text(),
            "issued_on" => upload.issued_on = text(),
            "expires_on" => upload.expires_on = text(),
            "file" => upload.bytes = data,
            _ => {}
        }
    }
    Ok(upload)
}
