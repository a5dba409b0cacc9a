//! Alert routes (bank staff): the register, an alert's page and its actions, and the
//! rules' settings (bank admins). Thin over `alerts` and `alert_life`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::{alert_life, alert_pages, alerts};
use crate::governance::handlers::{get_field, outcome};
use crate::onboarding::handlers::fields;
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::Result;
use crate::platform::state::AppState;
use crate::platform::ui::Form;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(register))
        .route("/alerts/rules", get(rules_page))
        .route("/alerts/rules/escalation", post(escalation_submit))
        .route("/alerts/rules/{rule}", post(rule_submit))
        .route("/alerts/{id}", get(detail_page))
        .route("/alerts/{id}/acknowledge", post(acknowledge_submit))
        .route("/alerts/{id}/resolve", post(resolve_submit))
        .route("/alerts/{id}/suspend", post(suspend_submit))
        .route("/alerts/{id}/incident", post(incident_submit))
}

#[derive(Deserialize)]
struct RegisterQuery {
    #[serde(default)]
    state: String,
    /// `high`, `medium` or `low`: only alerts of that severity (the dashboard's counts).
    #[serde(default)]
    severity: String,
}

async fn register(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<RegisterQuery>,
) -> Result<Response> {
    ctx.require(Action::ViewOversight)?;
    let resolved = q.state == "resolved";
    let list = alert_life::list_of(&state, resolved, None, &q.severity, 200);
    let title = match q.severity.as_str() {
        "" => "Alerts".to_string(),
        known if super::alerts::SEVERITIES.contains(&known) => format!(
            "{}-severity alerts",
            crate::platform::format::capitalise(known)
        ),
        _ => {
            return Err(crate::platform::error::Error::BadRequest(
                "Unknown severity: use high, medium or low.".into(),
            ))
        }
    };
    let list = list.await?;
    Ok(ctx
        .render(&title, alert_pages::register(&list, resolved))
        .into_response())
}

async fn render_detail(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewOversight)?;
    let alert = alert_life::get(state, id).await?;
    let requests = alert_life::requests_in_window(state, &alert).await?;
    let chart = super::alert_chart::window_chart(state, &alert).await?;
    let can_suspend = ctx.require(Action::Suspend).is_ok();
    let body = alert_pages::detail(&alert, &requests, chart, can_suspend, &form, &ctx.csrf);
    Ok((status, ctx.render(alerts::title_of(&alert.rule), body)).into_response())
}

async fn detail_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_detail(&state, &ctx, &id, Form::new(), StatusCode::OK).await
}

async fn acknowledge_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::HandleAlerts)?;
    let values = fields(&body);
    let result = alert_life::acknowledge(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "version"),
    )
    .await
    .map(|()| "Alert acknowledged.".to_string());
    outcome(
        &ctx,
        result,
        &format!("/alerts/{id}"),
        values,
        &[],
        |form, status| render_detail(&state, &ctx, &id, form, status),
    )
    .await
}

async fn resolve_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::HandleAlerts)?;
    let values = fields(&body);
    let result = alert_life::resolve(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "version"),
        &get_field(&values, "resolution"),
    )
    .await
    .map(|()| "Alert resolved.".to_string());
    outcome(
        &ctx,
        result,
        &format!("/alerts/{id}"),
        values,
        &[],
        |form, status| render_detail(&state, &ctx, &id, form, status),
    )
    .await
}

async fn suspend_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Suspend)?;
    let values = fields(&body);
    let result = alert_life::suspend_client(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "version"),
        &get_field(&values, "reason"),
    )
    .await
    .map(|_| "The client is suspended: its tokens are refused from now on.".to_string());
    outcome(
        &ctx,
        result,
        &format!("/alerts/{id}"),
        values,
        &[],
        |form, status| render_detail(&state, &ctx, &id, form, status),
    )
    .await
}

async fn incident_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ViewInventory)?;
    let values = fields(&body);
    let result = alert_life::open_incident(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "version"),
    )
    .await;
    let to = match &result {
        Ok(incident) => format!("/incidents/{incident}"),
        Err(_) => format!("/alerts/{id}"),
    };
    let result = result.map(|_| "Incident opened from the alert.".to_string());
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_detail(&state, &ctx, &id, form, status)
    })
    .await
}

async fn render_rules(
    state: &AppState,
    ctx: &Ctx,
    editing: Option<&str>,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewOversight)?;
    let configs = alerts::configs(&state.db).await?;
    let escalation = alerts::escalation(&state.db).await?;
    let can_edit = ctx.require(Action::ManageAlertRules).is_ok();
    let body = alert_pages::rules(
        &configs,
        &escalation,
        state.geo().description.as_deref(),
        can_edit,
        editing,
        &form,
        &ctx.csrf,
    );
    Ok((status, ctx.render("Alert rules and escalation", body)).into_response())
}

async fn rules_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render_rules(&state, &ctx, None, Form::new(), StatusCode::OK).await
}

async fn rule_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(rule): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageAlertRules)?;
    let values = fields(&body);
    let result = alerts::save_rule(&state, user, &ctx.client, &rule, &values)
        .await
        .map(|()| "Rule saved: the next evaluation uses it.".to_string());
    outcome(
        &ctx,
        result,
        "/alerts/rules",
        values,
        &[],
        |form, status| render_rules(&state, &ctx, Some(&rule), form, status),
    )
    .await
}

async fn escalation_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageAlertRules)?;
    let values = fields(&body);
    let roles: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "oncall_roles")
        .map(|(_, v)| v.into_owned())
        .collect();
    let result = alerts::save_escalation(
        &state,
        user,
        &ctx.client,
        &roles,
        &get_field(&values, "escalate_after_minutes"),
    )
    .await
    .map(|()| "Escalation saved.".to_string());
    outcome(
        &ctx,
        result,
        "/alerts/rules",
        values,
        &[],
        |form, status| render_rules(&state, &ctx, Some("escalation"), form, status),
    )
    .await
}
