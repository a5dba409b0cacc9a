//! The partner's side: the onboarding home, starting an application, the task list,
//! each step's form, evidence uploads and downloads, answers and submission.

use super::*;

pub(super) async fn render_home(
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

pub(super) async fn home_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ViewOnboarding)?;
    render_home(&state, &ctx, user, &Form::new(), StatusCode::OK).await
}

pub(super) async fn start_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
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

pub(super) async fn render_task_list(
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

pub(super) async fn task_list_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOnboarding)?;
    let app = service::application(&state, Some(org(user)?), &id).await?;
    render_task_list(&state, &ctx, &app, &Form::new(), StatusCode::OK).await
}

pub(super) fn step_of(slug: &str) -> Result<Step> {
    Step::parse(slug).ok_or(Error::NotFound)
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn render_step(
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
        let today = evidence::today(&state.clock);
        let (_, notes) = service::evidence_status(&tier, &files, today);
        let max_mb = state.settings.evidence_max_bytes / (1024 * 1024);
        let body = pages::evidence_step(
            app, &tier, &files, &notes, form, editable, max_mb, &ctx.csrf, today,
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

pub(super) async fn step_page(
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
        // A declaration not yet saved names the person about to sign it.
        None if step == Step::Declaration => (
            Form::new().with("signatory_name", user.display_name.clone()),
            0,
            None,
        ),
        None => (Form::new(), 0, None),
    };
    render_step(&state, &ctx, &app, step, &form, version, at, StatusCode::OK).await
}

pub(super) async fn step_submit(
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
            // On to the next section still to do, or back to the task list (where
            // the application is submitted) when none is.
            let tier = catalogue::tier(&state, app.tier).await?;
            let tasks = service::tasks(&state, &app, &tier).await?;
            let next = Step::ALL
                .iter()
                .skip_while(|s| **s != step)
                .skip(1)
                .find(|s| {
                    tasks
                        .iter()
                        .any(|t| t.step == **s && t.status != model::TaskStatus::Completed)
                });
            let (to, said) = match next {
                Some(next) => (
                    format!("/onboarding/{}/steps/{}", app.id, next.slug()),
                    format!("{} saved. Next: {}.", step.title(), next.title()),
                ),
                None => (
                    format!("/onboarding/{}", app.id),
                    format!("{} saved.", step.title()),
                ),
            };
            redirect(&ctx, &to, &said).await
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

/// Session key of the name of the file kept from a refused upload (its bytes are in
/// the object store, under the person's own key).
const KEPT_UPLOAD: &str = "kept_upload";

pub(super) async fn upload_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> Result<Response> {
    let user = ctx.require(Action::ManageOnboarding)?;
    let app = service::application(&state, Some(org(user)?), &id).await?;
    let mut upload = read_upload(&mut multipart).await?;
    if !app.is_editable() {
        return Err(Error::Conflict(
            "This application cannot be changed now.".into(),
        ));
    }
    // The file kept from a refused attempt, unless another one was chosen.
    let kept_name: Option<String> = ctx
        .session
        .get(KEPT_UPLOAD)
        .await
        .map_err(Error::internal)?;
    if upload.bytes.is_empty() && upload.use_kept {
        if let (Some(name), Some(bytes)) = (&kept_name, evidence::kept(&state, user).await?) {
            upload.filename = name.clone();
            upload.bytes = bytes;
        }
    }
    let (filename, bytes) = (upload.filename.clone(), upload.bytes.clone());
    let form = Form::new()
        .with("kind", upload.kind.clone())
        .with("issued_on", upload.issued_on.clone())
        .with("expires_on", upload.expires_on.clone());
    match evidence::upload(&state, user, &ctx.client, upload).await {
        Ok(_) => {
            evidence::drop_kept(&state, user).await?;
            ctx.session
                .remove::<String>(KEPT_UPLOAD)
                .await
                .map_err(Error::internal)?;
            redirect(
                &ctx,
                &format!("/onboarding/{}/steps/evidence", app.id),
                "Document uploaded.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            // Keep an acceptable file, so it need not be chosen again.
            let form = if evidence::keep(&state, user, &bytes).await? {
                ctx.session
                    .insert(KEPT_UPLOAD, filename.clone())
                    .await
                    .map_err(Error::internal)?;
                form.with("kept_file", filename)
            } else {
                form
            };
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

pub(super) async fn remove_evidence(
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
pub(super) async fn download(
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

pub(super) async fn answer_submit(
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

pub(super) async fn submit(
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
