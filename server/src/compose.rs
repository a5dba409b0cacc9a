//! The composition root: the one place a reader sees every route and every periodic
//! job of Gatehouse. Each feature folder says what it contributes (`routes()`,
//! `jobs()`); the platform supplies only the mechanisms (the middleware stack, the
//! scheduler's leases and runs) and imports no feature.

use app::platform::csrf;
use app::platform::scheduler::{self, Job};
use app::AppState;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

/// Every periodic job, in the order one scheduler tick runs them. A job missing here
/// never runs in a server: `tests/tests/scheduler_jobs.rs` starts a server and waits
/// for each name the README lists to succeed.
pub fn jobs() -> Vec<Job> {
    [
        app::governance::jobs(),
        scheduler::jobs(),
        app::accounts::jobs(),
        app::audit::jobs(),
        app::mail::jobs(),
        app::oauth::jobs(),
        app::offboarding::jobs(),
        app::reviews::jobs(),
        app::oversight::jobs(),
        app::webhooks::jobs(),
        app::access_requests::jobs(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Runs the job named `name` now unless another instance holds it (the CLI, tests).
pub async fn run_job_now(
    state: &AppState,
    name: &str,
) -> app::platform::error::Result<Option<Value>> {
    scheduler::run_now(state, &jobs(), name).await
}

/// The whole HTTP application: every feature's routes inside the platform's
/// middleware.
pub fn router(state: AppState) -> Router {
    let upload_limit = csrf::upload_limit(&state.settings);
    // Pages: sessions and CSRF protection apply.
    let pages = Router::new()
        .route("/", get(app::home::handler))
        .route("/dashboard", get(app::dashboard::handler))
        .route("/dev/mailbox", get(app::mail::mailbox::page))
        .merge(app::accounts::handlers::routes())
        .merge(app::audit::handlers::routes())
        .merge(app::oauth::page_routes())
        .merge(app::sandbox::handlers::routes())
        .merge(app::sandbox::data::routes())
        .merge(app::access_requests::handlers::routes())
        .merge(app::offboarding::handlers::routes())
        .merge(app::reviews::handlers::routes())
        .merge(app::incidents::handlers::routes())
        .merge(app::oversight::usage_handlers::routes())
        .merge(app::oversight::alert_handlers::routes())
        .merge(app::webhooks::handlers::routes())
        .merge(app::evidence_packs::handlers::routes())
        .merge(app::governance::handlers::routes(upload_limit))
        .merge(app::onboarding::handlers::routes(upload_limit));
    // Machine endpoints: their own authentication, no session.
    let api = Router::new()
        .merge(app::ops::routes())
        .merge(app::evidence_packs::handlers::public_routes())
        .merge(app::oauth::api_routes())
        .merge(app::sandbox::api::routes(state.clone()));
    app::platform::router::router(state, pages, api)
}
