//! Agreement routes, thin over the service: the bank's register and publishing
//! form, a partner's obligations, a version's text (to read, accept or download).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::pages;
use super::NewVersion;
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::forms::{fields, get_field, outcome};
use crate::platform::state::AppState;
use crate::platform::ui::Form;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/agreements", get(register_page).post(publish_submit))
        .route("/admin/agreements/{id}", get(bank_version_page))
        .route("/agreements", get(partner_page))
        .route("/agreements/{id}", get(partner_version_page))
        .route("/agreements/{id}/accept", post(accept_submit))
        .route("/agreements/{id}/text", get(download))
}

async fn render_register(
    state: &AppState,
    ctx: &Ctx,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ManageAgreements)?;
    let versions = super::all_versions(state).await?;
    let accepted: std::collections::HashMap<String, i64> = sqlx::query_as(
        "SELECT version_id, COUNT(*) FROM agreement_acceptances GROUP BY version_id",
    )
    .fetch_all(&state.db.pool)
    .await?
    .into_iter()
    .collect();
    let counts: Vec<i64> = versions
        .iter()
        .map(|v| accepted.get(&v.id).copied().unwrap_or(0))
        .collect();
    let tiers: Vec<i64> = sqlx::query_scalar("SELECT level FROM tiers ORDER BY level")
        .fetch_all(&state.db.pool)
        .await?;
    let body = pages::register(
        &versions,
        &counts,
        &tiers,
        &form,
        &ctx.csrf,
        state.clock.now(),
    );
    Ok((status, ctx.render("Agreements", body)).into_response())
}

async fn register_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let form = Form::new()
        .with("window_days", super::DEFAULT_WINDOW_DAYS.to_string())
        .with(
            "effective_on",
            crate::platform::time::day(state.clock.now()),
        );
    render_register(&state, &ctx, form, StatusCode::OK).await
}

async fn publish_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let admin = ctx.require(Action::ManageAgreements)?;
    let values = fields(&body);
    let new = NewVersion {
        kind: get_field(&values, "kind"),
        environment: get_field(&values, "environment"),
        tier: get_field(&values, "tier"),
        title: get_field(&values, "title"),
        body: get_field(&values, "body"),
        effective_on: get_field(&values, "effective_on"),
        material: get_field(&values, "material") == "yes",
        window_days: get_field(&values, "window_days"),
        change_note: get_field(&values, "change_note"),
    };
    let result = super::publish(&state, admin, &ctx.client, &new).await;
    let to = match &result {
        Ok(id) => format!("/admin/agreements/{id}"),
        Err(_) => "/admin/agreements".into(),
    };
    let result = result.map(|_| "Published.".to_string());
    outcome(&ctx, result, &to, values, &[], |form, status| {
        render_register(&state, &ctx, form, status)
    })
    .await
}

async fn bank_version_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewAgreements)?;
    if !user.role.is_staff() {
        return Err(Error::NotFound);
    }
    let version = super::version(&state, &id).await?;
    let acceptances = super::acceptances_of(&state, &id).await?;
    let body = pages::bank_version(&version, &acceptances, state.clock.now());
    Ok(ctx.render(&version.name(), body).into_response())
}

/// The signed-in partner's organisation, or 404 for bank staff (their view is the
/// register).
fn partner_org(ctx: &Ctx) -> Result<(&crate::platform::context::AuthUser, &str)> {
    let user = ctx.require(Action::ViewAgreements)?;
    let org = user.org_id.as_deref().ok_or(Error::NotFound)?;
    Ok((user, org))
}

async fn partner_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let (user, org_id) = partner_org(&ctx)?;
    let now = state.clock.now();
    let owed = super::obligations_of_org(&state, org_id, now).await?;
    let accepted = super::accepted_by(&state, org_id).await?;
    let can_accept = user.role == crate::platform::authz::Role::PartnerAdmin;
    let body = pages::partner(&owed, &accepted, can_accept, now);
    Ok(ctx.render("Agreements", body).into_response())
}

async fn render_partner_version(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    let (user, org_id) = partner_org(ctx)?;
    let version = super::version(state, id).await?;
    let accepted: Option<(String, i64)> = sqlx::query_as(
        "SELECT u.email, a.accepted_at FROM agreement_acceptances a JOIN users u ON u.id = a.user_id \
         WHERE a.version_id = $1 AND a.org_id = $2",
    )
    .bind(id)
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let page = pages::VersionPage {
        version: &version,
        accepted,
        can_accept: user.role == crate::platform::authz::Role::PartnerAdmin,
        mfa: user.mfa_enabled,
        now: state.clock.now(),
    };
    let body = pages::partner_version(&page, &form, &ctx.csrf);
    Ok((status, ctx.render(&version.name(), body)).into_response())
}

async fn partner_version_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_partner_version(&state, &ctx, &id, Form::new(), StatusCode::OK).await
}

async fn accept_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let signatory = ctx.require(Action::AcceptAgreements)?;
    let values = fields(&body);
    let result = super::accept(
        &state,
        signatory,
        &ctx.client,
        &id,
        &get_field(&values, "code"),
    )
    .await
    .map(|version| {
        format!(
            "Accepted: {} is recorded as accepted by your organisation.",
            version.name()
        )
    });
    let to = format!("/agreements/{id}");
    outcome(&ctx, result, &to, values, &["code"], |form, status| {
        render_partner_version(&state, &ctx, &id, form, status)
    })
    .await
}

/// The exact text of a version, as accepted: Markdown, with its SHA-256 in the
/// `Repr-Digest` header (RFC 9530) and the file name.
async fn download(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    ctx.require(Action::ViewAgreements)?;
    let version = super::version(&state, &id).await?;
    let digest = {
        use base64::Engine;
        let bytes = hex::decode(&version.sha256).map_err(Error::internal)?;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let name = format!(
        "{}-{}-tier-{}-v{}.md",
        version.kind, version.environment, version.tier, version.version
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (
                header::HeaderName::from_static("repr-digest"),
                format!("sha-256=:{digest}:"),
            ),
        ],
        version.body,
    )
        .into_response())
}
