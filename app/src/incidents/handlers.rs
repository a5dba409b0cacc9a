//! Incident routes (bank staff), thin over the service.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::pages::{self, OrgClients};
use super::NewIncident;
use crate::governance::handlers::{get_field, outcome};
use crate::onboarding::handlers::fields;
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::Result;
use crate::platform::state::AppState;
use crate::platform::ui::Form;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(register_page).post(open_submit))
        .route("/incidents/{id}", get(detail_page))
        .route("/incidents/{id}/entries", post(entry_submit))
        .route("/incidents/{id}/contain", post(contain_submit))
        .route("/incidents/{id}/close", post(close_submit))
}

async fn render_register(
    state: &AppState,
    ctx: &Ctx,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let list = super::list(state).await?;
    let orgs: Vec<(String, String)> =
        sqlx::query_as("SELECT id, legal_name FROM organisations ORDER BY legal_name, id")
            .fetch_all(&state.db.pool)
            .await?;
    let mut with_clients: Vec<OrgClients> = Vec::new();
    for (id, name) in orgs {
        let apps: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT id, name, client_id, environment FROM apps WHERE org_id = $1 AND status = 'active' ORDER BY environment, name",
        )
        .bind(&id)
        .fetch_all(&state.db.pool)
        .await?;
        let apps = apps
            .into_iter()
            .map(|(app, name, client, env)| (app, format!("{name} ({env}, {client})")))
            .collect();
        with_clients.push((id, name, apps));
    }
    let body = pages::register(&list, &with_clients, &form, &ctx.csrf);
    Ok((status, ctx.render("Incidents", body)).into_response())
}

async fn register_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let form = Form::new().with("severity", "medium");
    render_register(&state, &ctx, form, StatusCode::OK).await
}

async fn open_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::ViewInventory)?;
    let values = fields(&body);
    let app_ids: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "app_id")
        .map(|(_, v)| v.into_owned())
        .collect();
    let new = NewIncident {
        org_id: get_field(&values, "org_id"),
        title: get_field(&values, "title"),
        severity: get_field(&values, "severity"),
        detected_date: get_field(&values, "detected_date"),
        detected_time: get_field(&values, "detected_time"),
        detection: get_field(&values, "detection"),
        app_ids,
    };
    let result = super::open(&state, user, &ctx.client, &new).await;
    let to = match &result {
        Ok(id) => format!("/incidents/{id}"),
        Err(_) => "/incidents".into(),
    };
    let result = result.map(|_| "Incident opened.".to_string());
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_register(&state, &ctx, form, status)
    })
    .await
}

async fn render_detail(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let incident = super::get(state, id).await?;
    let entries = super::entries(state, id).await?;
    let timeline = super::timeline(state, id).await?;
    let can_suspend = ctx.require(Action::Suspend).is_ok();
    let body = pages::detail(
        &incident,
        &entries,
        &timeline,
        &form,
        &ctx.csrf,
        can_suspend,
    );
    let title = format!("Incident: {}", incident.title);
    Ok((status, ctx.render(&title, body)).into_response())
}

async fn detail_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_detail(&state, &ctx, &id, Form::new(), StatusCode::OK).await
}

async fn entry_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ViewInventory)?;
    let values = fields(&body);
    let result = super::record_entry(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "version"),
        &get_field(&values, "kind"),
        &get_field(&values, "body"),
        &get_field(&values, "told"),
        &get_field(&values, "told_date"),
        &get_field(&values, "told_time"),
    )
    .await
    .map(|()| "Recorded.".to_string());
    let to = format!("/incidents/{id}");
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_detail(&state, &ctx, &id, form, status)
    })
    .await
}

async fn contain_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Suspend)?;
    let values = fields(&body);
    let result = super::contain(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "version"),
        &get_field(&values, "app_id"),
        &get_field(&values, "reason"),
    )
    .await
    .map(|_| "Suspended: the client's tokens are refused from now on.".to_string());
    let to = format!("/incidents/{id}");
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_detail(&state, &ctx, &id, form, status)
    })
    .await
}

async fn close_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ViewInventory)?;
    let values = fields(&body);
    let result = super::close(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "version"),
        &get_field(&values, "review"),
    )
    .await
    .map(|()| "Closed.".to_string());
    let to = format!("/incidents/{id}");
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_detail(&state, &ctx, &id, form, status)
    })
    .await
}
