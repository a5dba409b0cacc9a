//! Access-review routes: the bank's under `/reviews/bank`, the partner's under
//! `/reviews`. Thin over the services.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::campaigns::{self, NewCampaign, DEFAULT_REMINDERS};
use super::{items, pages, pages_partner, report, schedule};
use crate::audit::{self, Event};
use crate::governance::handlers::{get_field, outcome};
use crate::onboarding::handlers::fields;
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::ui::Form;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reviews", get(partner_list))
        .route("/reviews/items/{id}", get(partner_item).post(attest_submit))
        .route("/reviews/bank", get(bank_list).post(create_submit))
        .route("/reviews/bank/recurring", post(recurring_submit))
        .route("/reviews/bank/{id}", get(campaign_page))
        .route("/reviews/bank/{id}/report.csv", get(report_csv))
        .route("/reviews/bank/{id}/report.json", get(report_json))
        .route("/reviews/bank/items/{id}", get(bank_item))
        .route("/reviews/bank/items/{id}/decision", post(decision_submit))
}

// ---------------------------------------------------------------- bank

async fn render_bank(
    state: &AppState,
    ctx: &Ctx,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let can_manage = ctx.require(Action::ManageReviews).is_ok();
    let mut list = Vec::new();
    for campaign in super::campaigns(state).await? {
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM review_items WHERE campaign_id = $1 GROUP BY state",
        )
        .bind(&campaign.id)
        .fetch_all(&state.db.pool)
        .await?;
        list.push((campaign, counts.into_iter().collect::<BTreeMap<_, _>>()));
    }
    let cadences = schedule::recurring_cadences(state).await?;
    let body = pages::campaigns(
        &list,
        &cadences,
        &form,
        &ctx.csrf,
        can_manage,
        state.clock.now(),
    );
    Ok((status, ctx.render("Access reviews", body)).into_response())
}

async fn bank_list(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let form = Form::new()
        .with("scope_kind", "all")
        .with("reminders", DEFAULT_REMINDERS)
        .with("on_unanswered", "suspend")
        .with("grace_days", "14")
        .with("period_days", "90");
    render_bank(&state, &ctx, form, StatusCode::OK).await
}

async fn create_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::ManageReviews)?;
    let values = fields(&body);
    let form = NewCampaign {
        title: get_field(&values, "title"),
        scope_kind: get_field(&values, "scope_kind"),
        scope_value: get_field(&values, "scope_value"),
        due_date: get_field(&values, "due_date"),
        reminders: get_field(&values, "reminders"),
        on_unanswered: get_field(&values, "on_unanswered"),
        grace_days: get_field(&values, "grace_days"),
        period_days: get_field(&values, "period_days"),
    };
    let result = campaigns::create(&state, user, &ctx.client, &form).await;
    let to = match &result {
        Ok(id) => format!("/reviews/bank/{id}"),
        Err(_) => "/reviews/bank".into(),
    };
    let result = result.map(|_| "Campaign started: the partners are told.".to_string());
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_bank(&state, &ctx, form, status)
    })
    .await
}

async fn recurring_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageReviews)?;
    let values = fields(&body);
    let mut cadences = Vec::new();
    for tier in 1..=3 {
        match get_field(&values, &format!("tier_{tier}")).as_str() {
            "" | "0" => {}
            months => {
                let months = months
                    .parse::<u8>()
                    .map_err(|_| Error::BadRequest("A cadence is 3, 6 or 12 months.".into()))?;
                cadences.push((tier, months));
            }
        }
    }
    let result = schedule::set_recurring(&state, user, &ctx.client, &cadences)
        .await
        .map(|()| "Saved: the scheduler starts each tier's campaign once per period.".to_string());
    outcome(
        &ctx,
        result,
        "/reviews/bank",
        values,
        &[],
        |form, status| render_bank(&state, &ctx, form, status),
    )
    .await
}

async fn campaign_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let campaign = super::campaign(&state, &id).await?;
    let items = super::items_of(&state, &id).await?;
    let body = pages::campaign(&campaign, &items, state.clock.now());
    Ok(ctx.render(&campaign.title, body).into_response())
}

async fn report(state: &AppState, ctx: &Ctx, id: &str, format: &str) -> Result<Response> {
    let user = ctx.require(Action::ViewInventory)?;
    let campaign = super::campaign(state, id).await?;
    let items = super::items_of(state, id).await?;
    let (body, content_type) = match format {
        "csv" => (report::to_csv(&items)?, "text/csv; charset=utf-8"),
        _ => (report::to_json(&campaign, &items)?, "application/json"),
    };
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "review.report_exported")
            .client(&ctx.client)
            .resource("review_campaign", id)
            .details(serde_json::json!({ "format": format, "items": items.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"review-{id}.{format}\""),
            ),
        ],
        body,
    )
        .into_response())
}

async fn report_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    report(&state, &ctx, &id, "csv").await
}

async fn report_json(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    report(&state, &ctx, &id, "json").await
}

async fn render_bank_item(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let can_decide = ctx.require(Action::Review).is_ok();
    let item = super::item(state, None, id).await?;
    let body = pages::item(&item, &form, &ctx.csrf, can_decide);
    let title = format!("Review of {}", item.client_name);
    Ok((status, ctx.render(&title, body)).into_response())
}

async fn bank_item(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_bank_item(&state, &ctx, &id, Form::new(), StatusCode::OK).await
}

async fn decision_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Review)?;
    let values = fields(&body);
    let result = items::decide(&state, user, &ctx.client, &id, &values)
        .await
        .map(|_| "Decided: the partner is told.".to_string());
    let to = format!("/reviews/bank/items/{id}");
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_bank_item(&state, &ctx, &id, form, status)
    })
    .await
}

// ---------------------------------------------------------------- partner

async fn partner_list(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ViewOwnInventory)?;
    let org = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let items = super::items_for_org(&state, org).await?;
    let body = pages_partner::list(&items);
    Ok(ctx.render("Access reviews", body).into_response())
}

async fn render_partner_item(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOwnInventory)?;
    let org = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let item = super::item(state, Some(org), id).await?;
    // An unanswered item can be answered late, even once its campaign has closed: the
    // bank's confirmation then lifts the suspension the due date brought.
    let can_attest = ctx.require(Action::ManageCredentials).is_ok()
        && (item.campaign_open || item.state == "unanswered");
    let body = pages_partner::item(&item, &form, &ctx.csrf, can_attest);
    let title = format!("Access review of {}", item.client_name);
    Ok((status, ctx.render(&title, body)).into_response())
}

async fn partner_item(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_partner_item(&state, &ctx, &id, Form::new(), StatusCode::OK).await
}

async fn attest_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCredentials)?;
    let values = fields(&body);
    let result = items::attest(&state, user, &ctx.client, &id, &values)
        .await
        .map(|()| "Answered: the bank reviews your answer next.".to_string());
    let to = format!("/reviews/items/{id}");
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_partner_item(&state, &ctx, &id, form, status)
    })
    .await
}
