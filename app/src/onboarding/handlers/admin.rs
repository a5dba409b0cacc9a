//! The admin's catalogue: scopes, tiers and questionnaire versions.

use super::*;

pub(super) async fn render_catalogue(
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

pub(super) async fn catalogue_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    ctx.require(Action::ManageCatalogue)?;
    let form = Form::new()
        .with("data_class", "account_information")
        .with("sensitivity", "high");
    render_catalogue(&state, &ctx, &form, StatusCode::OK).await
}

pub(super) async fn scope_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
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

pub(super) async fn render_tier(
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

pub(super) async fn tier_page(
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

pub(super) async fn tier_submit(
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
pub(super) struct From {
    #[serde(default)]
    from: String,
}

pub(super) async fn new_questionnaire_page(
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

pub(super) async fn questionnaire_submit(
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

pub(super) async fn questionnaire_page(
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

pub(super) async fn publish_submit(
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
