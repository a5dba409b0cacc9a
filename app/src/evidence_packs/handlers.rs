//! Evidence pack routes: the list and downloads for bank staff, and the public key.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::audit::{self, Event};
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::Result;
use crate::platform::state::AppState;

pub const JWKS_PATH: &str = "/.well-known/gatehouse-evidence-keys";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/evidence-packs", get(list_page))
        .route("/evidence-packs/{id}/download", get(download))
}

/// Routes without a session: the public key.
pub fn public_routes() -> Router<AppState> {
    Router::new().route(JWKS_PATH, get(jwks))
}

async fn list_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    ctx.require(Action::ViewEvidencePacks)?;
    let packs = super::list(&state.db).await?;
    let body = super::pages::list(&packs, &state.settings.link(JWKS_PATH));
    Ok(ctx.render("Evidence packs", body).into_response())
}

async fn download(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::ViewEvidencePacks)?;
    let file = super::file(&state.db, &id).await?;
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "evidence_pack.downloaded")
            .client(&ctx.client)
            .resource("evidence_pack", &id),
    )
    .await?;
    tx.commit().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.json\""),
            ),
        ],
        file,
    )
        .into_response())
}

/// The evidence key as a JWK set (RFC 7517 §5), for anyone checking a pack.
async fn jwks(State(state): State<AppState>) -> Result<Response> {
    let jwk = super::public_jwk(&state.keys)?;
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        Json(json!({ "keys": [jwk] })),
    )
        .into_response())
}
