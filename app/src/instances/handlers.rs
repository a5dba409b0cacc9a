//! `/admin/instances`: the bank's view of the running instances.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::Result;
use crate::platform::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/instances", get(page))
}

async fn page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    ctx.require(Action::ViewAuditTrail)?;
    let now = state.clock.now();
    let instances = super::list(&state.db, now).await?;
    let limits = super::pages::Limits {
        shared: state.limits.is_shared(),
        live: state.limits.live(),
        degraded_since: state.limits.degraded_since(),
    };
    Ok(ctx
        .render(
            "Instances",
            super::pages::list(&instances, &state.instance, now, &limits),
        )
        .into_response())
}
