//! The directory's routes: the partner's `/software` pages and statement download,
//! the bank's `/admin/software` register and withdrawal, and the public
//! `/directory` metadata, keys and revoked-software list (no session, no CSRF:
//! relying parties read them).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::statement::{self, JWT_MEDIA_TYPE};
use super::{pages, software};
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::forms::{fields, get_field, outcome};
use crate::platform::state::AppState;
use crate::platform::ui::Form;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/software", get(partner_list))
        .route("/software/{id}", get(partner_detail))
        .route("/software/{id}/statement", post(download))
        .route("/admin/software", get(bank_list))
        .route("/admin/software/{id}", get(bank_detail))
        .route("/admin/software/{id}/withdraw", post(withdraw))
}

/// What relying parties read: outside the session and CSRF layers.
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/directory", get(metadata))
        .route("/directory/jwks", get(jwks))
        .route("/directory/revoked", get(revoked))
}

async fn partner_list(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ViewOwnInventory)?;
    let org = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let list = software::list(&state, Some(org)).await?;
    let body = pages::partner_list(&state, &list);
    Ok(ctx.render("Software statements", body).into_response())
}

async fn partner_detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOwnInventory)?;
    let org = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let found = software::get(&state, Some(org), &id).await?;
    let can_download = crate::platform::authz::check(
        user.role,
        user.mfa_enabled,
        statement::download_action(&found),
    )
    .is_ok();
    let body = pages::partner_detail(&state, &found, can_download, &ctx.csrf);
    Ok(ctx.render(&found.app.name, body).into_response())
}

/// The statement itself, as a file (`application/jwt`), never cached.
async fn download(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    // Partner members; what each software's statement takes is checked in `issue`.
    let user = ctx.require(Action::UseSandbox)?;
    let jwt = statement::issue(&state, user, &ctx.client, &id).await?;
    let disposition = format!("attachment; filename=\"{id}.jwt\"");
    let mut response = (StatusCode::OK, jwt).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JWT_MEDIA_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

async fn bank_list(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    ctx.require(Action::ViewInventory)?;
    let list = software::list(&state, None).await?;
    let body = pages::bank_list(&state, &list);
    Ok(ctx.render("Software directory", body).into_response())
}

async fn render_bank_detail(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: Form,
    status: StatusCode,
) -> Result<Response> {
    let user = ctx.require(Action::ViewInventory)?;
    let found = software::get(state, None, id).await?;
    let can_withdraw =
        crate::platform::authz::check(user.role, user.mfa_enabled, Action::WithdrawSoftware)
            .is_ok();
    let body = pages::bank_detail(state, &found, can_withdraw, &form, &ctx.csrf);
    Ok((status, ctx.render(&found.app.name, body)).into_response())
}

async fn bank_detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_bank_detail(&state, &ctx, &id, Form::new(), StatusCode::OK).await
}

async fn withdraw(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let admin = ctx.require(Action::WithdrawSoftware)?;
    let values = fields(&body);
    let reason = get_field(&values, "reason");
    let result = software::withdraw(&state, admin, &ctx.client, &id, &reason)
        .await
        .map(|s| {
            format!(
                "{} is withdrawn: its client and the clients registered from it are revoked, and the revoked-software list names it if a statement was ever issued for it.",
                s.app.name
            )
        });
    outcome(
        &ctx,
        result,
        &format!("/admin/software/{id}"),
        values,
        &[],
        |form, status| render_bank_detail(&state, &ctx, &id, form, status),
    )
    .await
}

/// The directory's own metadata: who signs statements and where to check them.
async fn metadata(State(state): State<AppState>) -> Response {
    Json(json!({
        "issuer": statement::issuer(&state),
        "jwks_uri": state.settings.link("/directory/jwks"),
        "revoked_software_uri": state.settings.link("/directory/revoked"),
        "software_statement_lifetime_seconds": statement::STATEMENT_SECONDS,
    }))
    .into_response()
}

fn cached(mut response: Response, seconds: i64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={seconds}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

async fn jwks(State(state): State<AppState>) -> Result<Response> {
    let set = statement::jwks(&state).await?;
    Ok(cached(
        Json(set).into_response(),
        crate::oauth::keys::JWKS_CACHE_SECONDS,
    ))
}

async fn revoked(State(state): State<AppState>) -> Result<Response> {
    let jwt = statement::revoked_list(&state).await?;
    let mut response = (StatusCode::OK, jwt).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JWT_MEDIA_TYPE),
    );
    Ok(cached(response, 60))
}
