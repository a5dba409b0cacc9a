//! Webhook routes (partner admins of the organisation). Thin over `endpoints` and
//! `delivery`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::{delivery, endpoints, pages};
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::forms::{fields, get_field, outcome};
use crate::platform::state::AppState;
use crate::platform::ui::Form;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list_page).post(create_submit))
        .route("/webhooks/{id}", get(detail_page))
        .route("/webhooks/{id}/test", post(test_submit))
        .route("/webhooks/{id}/rotate", post(rotate_submit))
        .route("/webhooks/{id}/disable", post(disable_submit))
        .route("/webhooks/{id}/enable", post(enable_submit))
        .route(
            "/webhooks/{id}/messages/{message}/resend",
            post(resend_submit),
        )
}

fn org(ctx: &Ctx) -> Result<(&crate::platform::context::AuthUser, &str)> {
    let user = ctx.require(Action::ManageWebhooks)?;
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    Ok((user, org_id))
}

async fn render_list(
    state: &AppState,
    ctx: &Ctx,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    let (_, org_id) = org(ctx)?;
    let list = endpoints::list(state, org_id).await?;
    Ok((
        status,
        ctx.render("Webhooks", pages::list(&list, &form, &ctx.csrf)),
    )
        .into_response())
}

async fn list_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render_list(&state, &ctx, Form::new(), StatusCode::OK).await
}

async fn create_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let (user, _) = org(&ctx)?;
    let values = fields(&body);
    let input = endpoints::NewEndpoint {
        url: get_field(&values, "url"),
        description: get_field(&values, "description"),
        events: get_field(&values, "events"),
    };
    match endpoints::create(&state, user, &ctx.client, &input).await {
        Ok((id, secret)) => {
            crate::platform::forms::redirect(
                &ctx,
                &format!("/webhooks/{id}"),
                &format!("Endpoint added. Its signing secret, shown once — keep it in your receiver's secret store: {secret}"),
            )
            .await
        }
        Err(err) => {
            outcome(&ctx, Err(err), "/webhooks", values, &[], |form, status| {
                render_list(&state, &ctx, form, status)
            })
            .await
        }
    }
}

async fn detail_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let (_, org_id) = org(&ctx)?;
    let endpoint = endpoints::get(&state, org_id, &id).await?;
    let log = delivery::log(&state, &endpoint.id, 100).await?;
    Ok(ctx
        .render(
            "Webhook endpoint",
            pages::detail(&endpoint, &log, &ctx.csrf),
        )
        .into_response())
}

/// Redirects back to the endpoint's page with `message`.
async fn back(ctx: &Ctx, id: &str, message: &str) -> Result<Response> {
    crate::platform::forms::redirect(ctx, &format!("/webhooks/{id}"), message).await
}

async fn test_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let (user, _) = org(&ctx)?;
    let message = delivery::send_test(&state, user, &ctx.client, &id).await?;
    back(
        &ctx,
        &id,
        &format!("A test event ({message}) is on its way."),
    )
    .await
}

async fn rotate_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let (user, _) = org(&ctx)?;
    let values = fields(&body);
    let secret = endpoints::rotate(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "version"),
    )
    .await?;
    back(
        &ctx,
        &id,
        &format!("Secret rotated. The new signing secret, shown once: {secret} — the previous one keeps signing for 24 hours."),
    )
    .await
}

async fn toggle(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    body: &Bytes,
    enabled: bool,
) -> Result<Response> {
    let (user, _) = org(ctx)?;
    let values = fields(body);
    endpoints::set_enabled(
        state,
        user,
        &ctx.client,
        id,
        &get_field(&values, "version"),
        enabled,
    )
    .await?;
    let message = if enabled {
        "Endpoint enabled: new events are delivered to it again."
    } else {
        "Endpoint disabled: queued deliveries were cancelled."
    };
    back(ctx, id, message).await
}

async fn disable_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    toggle(&state, &ctx, &id, &body, false).await
}

async fn enable_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    toggle(&state, &ctx, &id, &body, true).await
}

async fn resend_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, message)): Path<(String, String)>,
) -> Result<Response> {
    let (user, _) = org(&ctx)?;
    delivery::resend(&state, user, &ctx.client, &id, &message).await?;
    back(&ctx, &id, &format!("{message} is queued to be sent again.")).await
}
