//! The reviewer's side: the queue, the dossier, assignment and decisions.

use super::*;

pub(super) async fn queue_page(
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

pub(super) async fn render_dossier(
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

pub(super) async fn dossier_page(
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

pub(super) async fn assign_submit(
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

pub(super) async fn decision_submit(
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
