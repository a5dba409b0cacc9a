//! Governance routes, thin over the services. The partner's side is under
//! `/governance` (every member sees; admins act), the bank's under
//! `/governance/bank`, the lifecycle policy at `/admin/lifecycle`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::inventory::{self, Filter};
use super::{credentials, evidence, exceptions, pages, pages_bank, policy, suspension};
use crate::accounts::members;
use crate::audit::{self, Event};
use crate::onboarding::handlers::fields;
use crate::platform::authz::Action;
use crate::platform::context::{AuthUser, Ctx};
use crate::platform::error::{Error, Result};
use crate::platform::forms::redirect;
pub(crate) use crate::platform::forms::{get_field, outcome};
use crate::platform::state::AppState;
use crate::platform::ui::Form;
use crate::sandbox::service::KeyMaterial;

pub fn routes(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/governance/evidence",
            get(partner_evidence_page)
                .post(reattest_submit)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/governance/inventory", get(partner_inventory))
        .route("/governance/inventory/export", get(partner_export))
        .route("/governance/clients/{id}", get(client_page))
        .route("/governance/clients/{id}/owner", post(owner_submit))
        .route(
            "/governance/clients/{id}/credentials/{credential}/rotate",
            post(rotate_submit),
        )
        .route(
            "/governance/clients/{id}/credentials/{credential}/revoke",
            post(revoke_submit),
        )
        .route("/governance/clients/{id}/retire", post(retire_submit))
        .route(
            "/governance/clients/{id}/exceptions",
            post(exception_submit),
        )
        .route("/governance/bank/inventory", get(bank_inventory))
        .route("/governance/bank/inventory/export", get(bank_export))
        .route("/governance/bank/clients/{id}", get(bank_client_page))
        .route(
            "/governance/bank/suspensions",
            get(suspensions_page).post(suspend_submit),
        )
        .route("/governance/bank/suspensions/{id}/lift", post(lift_submit))
        .route("/governance/bank/exceptions", get(exceptions_page))
        .route("/governance/bank/exceptions/{id}", get(exception_page))
        .route(
            "/governance/bank/exceptions/{id}/decision",
            post(decision_submit),
        )
        .route("/governance/bank/evidence", get(evidence_page))
        .route("/governance/bank/evidence/{id}/accept", post(accept_submit))
        .route("/governance/bank/runs", get(runs_page))
        .route(
            "/admin/lifecycle",
            get(lifecycle_page).post(lifecycle_submit),
        )
}

fn org(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or(Error::NotFound)
}

// ---------------------------------------------------------------- inventory

async fn partner_inventory(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(filter): Query<Filter>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOwnInventory)?;
    let org_id = org(user)?;
    let listing = inventory::list(&state, Some(org_id), &filter, inventory::PAGE_SIZE).await?;
    let notices = super::notices(&state, Some(org_id), 20).await?;
    let body = pages::partner_inventory(&listing, &filter, &notices);
    Ok(ctx.render("Inventory", body).into_response())
}

async fn export(
    state: &AppState,
    org: Option<&str>,
    filter: &Filter,
    format: &str,
) -> Result<Response> {
    let listing = inventory::list(state, org, filter, usize::MAX).await?;
    let (body, content_type, extension) = match format {
        "csv" => (
            inventory::to_csv(&listing.rows)?,
            "text/csv; charset=utf-8",
            "csv",
        ),
        "json" | "" => (
            inventory::to_json(&listing.rows)?,
            "application/json",
            "json",
        ),
        other => {
            return Err(Error::BadRequest(format!(
                "Unknown export format {other:?}: use csv or json."
            )))
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"gatehouse-inventory.{extension}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    filter: Filter,
}

async fn partner_export(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<ExportQuery>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOwnInventory)?;
    export(&state, Some(org(user)?), &query.filter, &query.format).await
}

async fn organisations(state: &AppState) -> Result<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT id, legal_name FROM organisations ORDER BY legal_name, id")
            .fetch_all(&state.db.pool)
            .await?,
    )
}

async fn bank_inventory(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(filter): Query<Filter>,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let listing = inventory::list(&state, None, &filter, inventory::PAGE_SIZE).await?;
    let orgs = organisations(&state).await?;
    let body = pages_bank::inventory(&listing, &filter, &orgs);
    Ok(ctx.render("Consumer inventory", body).into_response())
}

async fn bank_export(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<ExportQuery>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewInventory)?;
    let response = export(&state, None, &query.filter, &query.format).await?;
    // Exporting the inventory of every partner is itself an auditable act.
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "governance.inventory_exported")
            .client(&ctx.client)
            .details(serde_json::json!({ "format": query.format, "filter": query.filter.query() })),
    )
    .await?;
    tx.commit().await?;
    Ok(response)
}

// ---------------------------------------------------------------- client pages

pub(super) async fn render_client(
    state: &AppState,
    ctx: &Ctx,
    app: crate::clients::model::App,
    bank: bool,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let now = state.clock.now();
    let credentials = crate::sandbox::service::credentials(state, &app).await?;
    let tier = credentials::tier_of(state, &app.id).await?;
    let ictx = inventory::Context::load(state, now).await?;
    let rows = inventory::of_client(state, &ictx, &app.id).await?;
    let owner = rows.first().and_then(|r| r.owner.clone());
    let row_status = rows
        .iter()
        .map(|r| {
            (
                r.credential_id.clone().unwrap_or_else(|| "client".into()),
                r.status.clone(),
            )
        })
        .collect();
    let members: Vec<(String, String)> = members::list_members(state, &app.org_id)
        .await?
        .into_iter()
        .filter(|m| m.status == "active")
        .map(|m| (m.id, format!("{} ({})", m.display_name, m.email)))
        .collect();
    let exceptions = exceptions::list(state, Some(&app.org_id), Some(&app.id)).await?;
    let suspensions: Vec<_> = suspension::list(state, Some(&app.org_id), 200)
        .await?
        .into_iter()
        .filter(|s| {
            crate::platform::kill_switch::covers(
                &s.target_kind,
                &s.target,
                &app.id,
                &app.org_id,
                &app.environment,
                app.scopes.iter().map(String::as_str),
            )
        })
        .collect();
    let notices: Vec<_> = super::notices(state, Some(&app.org_id), 50)
        .await?
        .into_iter()
        .filter(|n| n.app_id.as_deref() == Some(app.id.as_str()))
        .collect();
    let max_overlap_hours = credentials::max_overlap_hours(state, &app).await?;
    let can_manage = !bank && ctx.require(Action::ManageCredentials).is_ok();
    let title = format!("{} ({})", app.name, app.environment);
    let body = pages::client(pages::ClientPage {
        app: &app,
        tier,
        row_status,
        credentials: &credentials,
        owner,
        members: &members,
        exceptions: &exceptions,
        suspensions: &suspensions,
        notices: &notices,
        max_overlap_hours,
        can_manage,
        bank,
        csrf: &ctx.csrf,
        form,
        now,
    });
    let suspend = bank && ctx.require(Action::Suspend).is_ok() && app.is_active();
    let can_set_residency = bank && ctx.require(Action::ManageResidency).is_ok();
    let residency = super::residency::section(state, &app, can_set_residency, form, &ctx.csrf);
    let body = leptos::prelude::IntoAny::into_any(leptos::prelude::view! { {body} {residency} });
    let body =
        pages_bank::with_suspend_form(body, suspend.then_some(app.id.as_str()), form, &ctx.csrf);
    Ok((status, ctx.render(&title, body)).into_response())
}

async fn client_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOwnInventory)?;
    let app = credentials::client(&state, Some(org(user)?), &id).await?;
    render_client(&state, &ctx, app, false, &Form::new(), StatusCode::OK).await
}

async fn bank_client_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let app = credentials::client(&state, None, &id).await?;
    render_client(&state, &ctx, app, true, &Form::new(), StatusCode::OK).await
}

/// Runs a partner admin's action on a client (see [`outcome`]).
async fn client_action<F>(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    values: BTreeMap<String, String>,
    success: &str,
    action: F,
) -> Result<Response>
where
    F: std::future::Future<Output = Result<Option<String>>>,
{
    let result = action.await.map(|shown_once| match shown_once {
        Some(secret) => format!("{success} The new client secret, shown once: {secret}"),
        None => success.to_string(),
    });
    outcome(
        ctx,
        result,
        &format!("/governance/clients/{id}"),
        values,
        &[],
        |form, status| async move {
            let user = ctx.require(Action::ViewOwnInventory)?;
            let app = credentials::client(state, Some(org(user)?), id).await?;
            render_client(state, ctx, app, false, &form, status).await
        },
    )
    .await
}

async fn owner_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCredentials)?;
    let values = fields(&body);
    let owner = get_field(&values, "owner_id");
    let action = async {
        credentials::set_owner(&state, user, &ctx.client, &id, &owner)
            .await
            .map(|()| None)
    };
    client_action(
        &state,
        &ctx,
        &id,
        values.clone(),
        "The owner is named.",
        action,
    )
    .await
}

async fn rotate_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, credential)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCredentials)?;
    let values = fields(&body);
    let keys = KeyMaterial {
        jwks: get_field(&values, "jwks"),
        jwks_uri: get_field(&values, "jwks_uri"),
        tls_subject: get_field(&values, "tls_subject"),
        tls_certificate: get_field(&values, "tls_certificate"),
    };
    let overlap = get_field(&values, "overlap_hours");
    let action = async {
        credentials::rotate(&state, user, &ctx.client, &id, &credential, &overlap, keys)
            .await
            .map(|issued| issued.secret)
    };
    client_action(
        &state,
        &ctx,
        &id,
        values.clone(),
        "Rotated: the new credential works now.",
        action,
    )
    .await
}

async fn revoke_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, credential)): Path<(String, String)>,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCredentials)?;
    credentials::revoke(&state, user, &ctx.client, &id, &credential).await?;
    redirect(
        &ctx,
        &format!("/governance/clients/{id}"),
        "The credential is revoked: its tokens are inactive now.",
    )
    .await
}

async fn retire_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCredentials)?;
    let values = fields(&body);
    let reason = get_field(&values, "retire_reason");
    let action = async {
        credentials::retire(&state, user, &ctx.client, &id, &reason)
            .await
            .map_err(|err| match err {
                Error::Invalid(mut invalid) => {
                    for field in &mut invalid.fields {
                        field.0 = "retire_reason".into();
                    }
                    Error::Invalid(invalid)
                }
                other => other,
            })
            .map(|()| None)
    };
    client_action(
        &state,
        &ctx,
        &id,
        values.clone(),
        "The client is retired.",
        action,
    )
    .await
}

async fn exception_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCredentials)?;
    let values = fields(&body);
    let (rule, reason, ends_on) = (
        get_field(&values, "rule"),
        get_field(&values, "reason"),
        get_field(&values, "ends_on"),
    );
    let action = async {
        exceptions::request(&state, user, &ctx.client, &id, &rule, &reason, &ends_on)
            .await
            .map(|_| None)
    };
    client_action(
        &state,
        &ctx,
        &id,
        values.clone(),
        "Asked: a bank approver decides.",
        action,
    )
    .await
}

// ---------------------------------------------------------------- the kill switch

async fn render_suspensions(
    state: &AppState,
    ctx: &Ctx,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    let user = ctx.require(Action::ViewInventory)?;
    let list = suspension::list(state, None, 500).await?;
    let can_act = ctx.require(Action::Suspend).is_ok();
    let body = pages_bank::suspensions(&list, &form, &ctx.csrf, &user.id, can_act);
    Ok((status, ctx.render("Suspensions", body)).into_response())
}

async fn suspensions_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render_suspensions(
        &state,
        &ctx,
        Form::new().with("target_kind", "client"),
        StatusCode::OK,
    )
    .await
}

async fn suspend_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::Suspend)?;
    let values = fields(&body);
    let (kind, target, reason) = (
        get_field(&values, "target_kind"),
        get_field(&values, "target"),
        get_field(&values, "reason"),
    );
    let result = suspension::suspend(&state, user, &ctx.client, &kind, &target, &reason)
        .await
        .map(|_| "Suspended: tokens are refused from now on.".to_string());
    outcome(
        &ctx,
        result,
        "/governance/bank/suspensions",
        values,
        &[],
        |form, status| render_suspensions(&state, &ctx, form, status),
    )
    .await
}

async fn lift_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Suspend)?;
    let values = fields(&body);
    let result = suspension::lift(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "lift_reason"),
    )
    .await
    .map(|()| "Lifted: the partner is told.".to_string());
    outcome(
        &ctx,
        result,
        "/governance/bank/suspensions",
        values,
        &[],
        |form, status| render_suspensions(&state, &ctx, form, status),
    )
    .await
}

// ---------------------------------------------------------------- exceptions

async fn exceptions_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let list = exceptions::list(&state, None, None).await?;
    Ok(ctx
        .render("Exception register", pages_bank::exceptions(&list))
        .into_response())
}

async fn render_exception(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let exception = exceptions::get(state, id).await?;
    let can_decide = ctx.require(Action::DecideException).is_ok();
    let body = pages_bank::exception(&exception, &form, &ctx.csrf, can_decide);
    Ok((status, ctx.render("Exception", body)).into_response())
}

async fn exception_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_exception(&state, &ctx, &id, Form::new(), StatusCode::OK).await
}

async fn decision_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::DecideException)?;
    let values = fields(&body);
    let result = exceptions::decide(
        &state,
        user,
        &ctx.client,
        &id,
        &get_field(&values, "decision"),
        &get_field(&values, "decision_reason"),
        &get_field(&values, "code"),
        &get_field(&values, "version"),
    )
    .await;
    let result = result.map(|()| "Decided: the partner is told.".to_string());
    let to = format!("/governance/bank/exceptions/{id}");
    outcome(&ctx, result, &to, values, &["code"], |form, status| {
        render_exception(&state, &ctx, &id, form, status)
    })
    .await
}

// ---------------------------------------------------------------- evidence, runs

async fn render_partner_evidence(
    state: &AppState,
    ctx: &Ctx,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOwnInventory)?;
    let org_id = org(user)?;
    let relied = evidence::relied_on(state, org_id).await?;
    let can_upload = ctx.require(Action::ManageOnboarding).is_ok();
    let max_mb = state.settings.evidence_max_bytes / (1024 * 1024);
    let body = pages::partner_evidence(&relied, &form, &ctx.csrf, can_upload, max_mb);
    Ok((status, ctx.render("Evidence the bank relies on", body)).into_response())
}

async fn partner_evidence_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render_partner_evidence(&state, &ctx, Form::new(), StatusCode::OK).await
}

/// A partner admin uploads a renewed document after approval; a reviewer accepts it.
async fn reattest_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    mut multipart: axum::extract::Multipart,
) -> Result<Response> {
    let user = ctx.require(Action::ManageOnboarding)?;
    let upload = crate::onboarding::handlers::read_upload(&mut multipart).await?;
    let values: BTreeMap<String, String> = [
        ("kind".to_string(), upload.kind.clone()),
        ("issued_on".to_string(), upload.issued_on.clone()),
        ("expires_on".to_string(), upload.expires_on.clone()),
    ]
    .into_iter()
    .collect();
    let result = crate::onboarding::evidence::upload(&state, user, &ctx.client, upload)
        .await
        .map(|_| "Uploaded: a reviewer at the bank accepts it.".to_string());
    outcome(
        &ctx,
        result,
        "/governance/evidence",
        values,
        &[],
        |form, status| render_partner_evidence(&state, &ctx, form, status),
    )
    .await
}

async fn evidence_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ViewInventory)?;
    let can_accept = crate::platform::authz::role_allows(user.role, Action::Review);
    let expiring = evidence::expiring(&state, 500).await?;
    let list = evidence::awaiting(&state).await?;
    Ok(ctx
        .render(
            "Partners' evidence",
            pages_bank::evidence(&expiring, &list, &ctx.csrf, can_accept),
        )
        .into_response())
}

async fn accept_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::Review)?;
    evidence::accept(&state, user, &ctx.client, &id).await?;
    redirect(
        &ctx,
        "/governance/bank/evidence",
        "Accepted: clients suspended for the expired document are restored.",
    )
    .await
}

#[derive(serde::Deserialize)]
struct RunsQuery {
    /// `failed`: only the runs that failed (the dashboard's link).
    #[serde(default)]
    outcome: String,
}

async fn runs_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<RunsQuery>,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let title = match q.outcome.as_str() {
        "" => "Scheduler runs",
        "failed" => "Scheduler runs that failed",
        _ => return Err(Error::BadRequest("Unknown outcome: use failed.".into())),
    };
    let runs = crate::platform::scheduler::recent_runs_of(&state, &q.outcome, 100).await?;
    Ok(ctx.render(title, pages_bank::runs(&runs)).into_response())
}

// ---------------------------------------------------------------- lifecycle policy

async fn render_lifecycle(
    state: &AppState,
    ctx: &Ctx,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let current = policy::in_force(state).await?;
    let history = policy::versions(state).await?;
    let tiers: Vec<(i64, i64)> = crate::onboarding::catalogue::tiers(state)
        .await?
        .into_iter()
        .map(|t| (t.level, t.max_credential_days))
        .collect();
    let can_edit = ctx.require(Action::ManageCatalogue).is_ok();
    let body = pages_bank::lifecycle(
        &current,
        &history,
        &tiers,
        state.settings.sandbox_credential_days,
        &form,
        &ctx.csrf,
        can_edit,
    );
    Ok((status, ctx.render("Lifecycle policy", body)).into_response())
}

async fn lifecycle_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render_lifecycle(&state, &ctx, Form::new(), StatusCode::OK).await
}

async fn lifecycle_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageCatalogue)?;
    let values = fields(&body);
    let result = policy::save(&state, user, &ctx.client, &values)
        .await
        .map(|version| format!("Version {version} is in force."));
    outcome(
        &ctx,
        result,
        "/admin/lifecycle",
        values,
        &[],
        |form, status| render_lifecycle(&state, &ctx, form, status),
    )
    .await
}
