//! Usage routes: a partner's own clients (sandbox and production), and the bank's
//! clients, organisations and overview. Thin over `series` and the pages.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::series::{self, Range, Subject};
use super::usage_pages::{self, Consumer};
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/usage/apps/{id}", get(partner_app))
        .route("/usage/apps/{id}/usage.csv", get(partner_app_csv))
        .route("/oversight", get(overview))
        .route("/oversight/usage.csv", get(overview_csv))
        .route("/oversight/clients/{id}", get(bank_client))
        .route("/oversight/clients/{id}/usage.csv", get(bank_client_csv))
        .route("/oversight/organisations/{id}", get(bank_org))
        .route("/oversight/organisations/{id}/usage.csv", get(bank_org_csv))
}

#[derive(Deserialize)]
struct RangeQuery {
    range: Option<String>,
}

impl RangeQuery {
    fn range(&self) -> Result<Range> {
        Range::parse(self.range.as_deref())
    }
}

/// (name, environment) of app `id`, at `org` when given (another organisation's
/// app is a 404, as if it did not exist).
async fn app_named(
    state: &AppState,
    org: Option<&str>,
    id: &str,
) -> Result<(String, String, String)> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT name, environment, org_id FROM apps WHERE id = $1 AND ($2 = '' OR org_id = $2)",
    )
    .bind(id)
    .bind(org.unwrap_or_default())
    .fetch_optional(&state.db.pool)
    .await?;
    row.ok_or(Error::NotFound)
}

fn partner_org(ctx: &Ctx) -> Result<String> {
    let user = ctx.require(Action::ViewOwnInventory)?;
    user.org_id.clone().ok_or(Error::NotFound)
}

/// The CSV download of `subject`'s series over `range`, named after `name`.
async fn csv_of(state: &AppState, subject: Subject, range: Range, name: &str) -> Result<Response> {
    let usage = series::read(&state.db, &subject, range, state.clock.now()).await?;
    let filename: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"usage-{filename}.csv\""),
            ),
        ],
        series::csv(&usage),
    )
        .into_response())
}

async fn partner_app(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response> {
    let org = partner_org(&ctx)?;
    let (name, environment, _) = app_named(&state, Some(&org), &id).await?;
    let range = q.range()?;
    let usage = series::read(
        &state.db,
        &Subject::App(id.clone()),
        range,
        state.clock.now(),
    )
    .await?;
    let back = if environment == "sandbox" {
        format!("/sandbox/apps/{id}")
    } else {
        format!("/governance/clients/{id}")
    };
    let body = usage_pages::partner_app(&id, &name, &environment, &back, &usage, range);
    Ok(ctx.render(&format!("Usage: {name}"), body).into_response())
}

async fn partner_app_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response> {
    let org = partner_org(&ctx)?;
    let (name, _, _) = app_named(&state, Some(&org), &id).await?;
    csv_of(&state, Subject::App(id), q.range()?, &name).await
}

async fn bank_client(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response> {
    ctx.require(Action::ViewOversight)?;
    let (name, environment, org_id) = app_named(&state, None, &id).await?;
    let range = q.range()?;
    let usage = series::read(
        &state.db,
        &Subject::App(id.clone()),
        range,
        state.clock.now(),
    )
    .await?;
    let body = usage_pages::bank_client(&id, &name, &environment, &org_id, &usage, range);
    Ok(ctx.render(&format!("Usage: {name}"), body).into_response())
}

async fn bank_client_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response> {
    ctx.require(Action::ViewOversight)?;
    let (name, _, _) = app_named(&state, None, &id).await?;
    csv_of(&state, Subject::App(id), q.range()?, &name).await
}

async fn org_name(state: &AppState, id: &str) -> Result<String> {
    let name: Option<String> =
        sqlx::query_scalar("SELECT legal_name FROM organisations WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.db.pool)
            .await?;
    name.ok_or(Error::NotFound)
}

async fn bank_org(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response> {
    ctx.require(Action::ViewOversight)?;
    let name = org_name(&state, &id).await?;
    let range = q.range()?;
    let now = state.clock.now();
    let usage = series::read(&state.db, &Subject::Org(id.clone()), range, now).await?;
    let clients = consumers(&state, Some(&id), range, now, false).await?;
    let body = usage_pages::bank_org(&id, &name, &clients, &usage, range);
    Ok(ctx.render(&format!("Usage: {name}"), body).into_response())
}

async fn bank_org_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Result<Response> {
    ctx.require(Action::ViewOversight)?;
    let name = org_name(&state, &id).await?;
    csv_of(&state, Subject::Org(id), q.range()?, &name).await
}

/// Clients by calls over the range (or, with `by_limit`, by their busiest minute of
/// the last 24 hours against their rate limit), at most 10.
async fn consumers(
    state: &AppState,
    org: Option<&str>,
    range: Range,
    now: i64,
    by_limit: bool,
) -> Result<Vec<Consumer>> {
    let (granularity, _) = range.granularity_and_step();
    let (granularity, since) = if by_limit {
        (60, now - 86_400)
    } else {
        (granularity, now - range.seconds())
    };
    let order = if by_limit {
        "MAX(s.calls) * 1000 / MAX(a.rate_limit_per_minute) DESC"
    } else {
        "SUM(s.calls) DESC"
    };
    let rows: Vec<Consumer> = sqlx::query_as(&format!(
        "SELECT a.id, a.name, o.legal_name, a.environment, CAST(SUM(s.calls) AS BIGINT), \
         CAST(SUM(s.client_errors + s.server_errors) AS BIGINT), MAX(s.calls), MAX(a.rate_limit_per_minute) \
         FROM usage_series s JOIN apps a ON a.id = s.app_id JOIN organisations o ON o.id = a.org_id \
         WHERE s.granularity = $1 AND s.bucket_at >= $2 AND ($3 = '' OR a.org_id = $3) \
         GROUP BY a.id, a.name, o.legal_name, a.environment ORDER BY {order}, a.id LIMIT 10"
    ))
    .bind(granularity)
    .bind(since)
    .bind(org.unwrap_or_default())
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows)
}

async fn overview(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<RangeQuery>,
) -> Result<Response> {
    ctx.require(Action::ViewOversight)?;
    let range = q.range()?;
    let now = state.clock.now();
    let usage = series::read(&state.db, &Subject::All, range, now).await?;
    let alerts = super::alert_life::list(&state, false, None, 500).await?;
    let top = consumers(&state, None, range, now, false).await?;
    let mut trends = Vec::with_capacity(top.len());
    for consumer in &top {
        trends.push(series::trend(&state.db, &Subject::App(consumer.0.clone()), range, now).await?);
    }
    let nearest = consumers(&state, None, range, now, true).await?;
    Ok(ctx
        .render(
            "Oversight",
            usage_pages::overview(&usage, range, &alerts, (&top, &trends), &nearest),
        )
        .into_response())
}

async fn overview_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<RangeQuery>,
) -> Result<Response> {
    ctx.require(Action::ViewOversight)?;
    csv_of(&state, Subject::All, q.range()?, "all-partners").await
}
