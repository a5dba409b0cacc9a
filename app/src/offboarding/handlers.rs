//! Offboarding routes: the bank's under `/offboarding/bank`, the partner admin's
//! closure request at `/org/close`. Thin over the service and the job.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::{job, pages};
use crate::governance::handlers::{get_field, outcome};
use crate::onboarding::handlers::fields;
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::Result;
use crate::platform::state::AppState;
use crate::platform::ui::Form;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/offboarding/bank", get(bank_page).post(start_submit))
        .route("/offboarding/bank/retention", post(retention_submit))
        .route("/offboarding/bank/{id}", get(detail_page))
        .route("/offboarding/bank/{id}/confirm", post(confirm_submit))
        .route("/offboarding/bank/{id}/decline", post(decline_submit))
        .route("/org/close", get(partner_page).post(ask_submit))
}

async fn render_bank(
    state: &AppState,
    ctx: &Ctx,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewEvidencePacks)?;
    let can_act = ctx.require(Action::Offboard).is_ok();
    let list = super::list(state).await?;
    let organisations: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, legal_name FROM organisations WHERE status = 'active' \
         AND id NOT IN (SELECT org_id FROM offboardings WHERE status IN ('running', 'done')) ORDER BY legal_name, id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let retention = super::retention::days(state).await?;
    let form = if form.value("retention_days").is_empty() {
        form.with("retention_days", retention.to_string())
    } else {
        form
    };
    let body = pages::bank_list(&list, &organisations, retention, &form, &ctx.csrf, can_act);
    Ok((status, ctx.render("Offboarding", body)).into_response())
}

async fn bank_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render_bank(&state, &ctx, Form::new(), StatusCode::OK).await
}

async fn start_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::Offboard)?;
    let values = fields(&body);
    let org_id = get_field(&values, "org_id");
    let result = super::start(
        &state,
        user,
        &ctx.client,
        &org_id,
        &get_field(&values, "reason"),
        &get_field(&values, "code"),
    )
    .await;
    let to = match &result {
        Ok(id) => {
            job::spawn(&state, id);
            format!("/offboarding/bank/{id}")
        }
        Err(_) => "/offboarding/bank".into(),
    };
    let result = result.map(|_| {
        "Offboarding started: every client of the organisation is suspended now; the rest follows in the background.".to_string()
    });
    outcome(&ctx, result, &to, values, &["code"], |form, status| {
        render_bank(&state, &ctx, form, status)
    })
    .await
}

async fn retention_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Offboard)?;
    let values = fields(&body);
    let result = super::retention::set_days(
        &state,
        user,
        &ctx.client,
        &get_field(&values, "retention_days"),
    )
    .await
    .map(|days| format!("Saved: evidence files are kept {days} days after an offboarding."));
    outcome(
        &ctx,
        result,
        "/offboarding/bank",
        values,
        &[],
        |form, status| render_bank(&state, &ctx, form, status),
    )
    .await
}

async fn render_detail(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewEvidencePacks)?;
    let can_act = ctx.require(Action::Offboard).is_ok();
    let offboarding = super::get(state, id).await?;
    let actions = super::actions(&state.db.pool, id).await?;
    let body = pages::bank_detail(&offboarding, &actions, &form, &ctx.csrf, can_act);
    let title = format!("Offboarding of {}", offboarding.organisation);
    Ok((status, ctx.render(&title, body)).into_response())
}

async fn detail_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_detail(&state, &ctx, &id, Form::new(), StatusCode::OK).await
}

async fn confirm_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Offboard)?;
    let values = fields(&body);
    let offboarding = super::get(&state, &id).await?;
    let result = super::start(
        &state,
        user,
        &ctx.client,
        &offboarding.org_id,
        &get_field(&values, "reason"),
        &get_field(&values, "code"),
    )
    .await;
    if let Ok(started) = &result {
        job::spawn(&state, started);
    }
    let result = result.map(|_| "Confirmed: the organisation is being offboarded.".to_string());
    let to = format!("/offboarding/bank/{id}");
    outcome(&ctx, result, &to, values, &["code"], |form, status| {
        render_detail(&state, &ctx, &id, form, status)
    })
    .await
}

async fn decline_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Offboard)?;
    let values = fields(&body);
    let result = super::decline(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "decline_reason"),
    )
    .await
    .map(|()| "Declined: the partner is told.".to_string());
    let to = format!("/offboarding/bank/{id}");
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_detail(&state, &ctx, &id, form, status)
    })
    .await
}

async fn render_partner(
    state: &AppState,
    ctx: &Ctx,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    let user = ctx.require(Action::CloseOrganisation)?;
    let org_id = user.org_id.as_deref().unwrap_or_default();
    let current = super::of_org(state, org_id).await?;
    let body = pages::partner(current.as_ref(), &form, &ctx.csrf);
    Ok((status, ctx.render("Close the organisation", body)).into_response())
}

async fn partner_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render_partner(&state, &ctx, Form::new(), StatusCode::OK).await
}

async fn ask_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::CloseOrganisation)?;
    let values = fields(&body);
    let result = super::ask(&state, user, &ctx.client, &get_field(&values, "reason"))
        .await
        .map(|_| {
            "Asked: a bank admin confirms or declines the closure; you are told by e-mail."
                .to_string()
        });
    outcome(&ctx, result, "/org/close", values, &[], |form, status| {
        render_partner(&state, &ctx, form, status)
    })
    .await
}
