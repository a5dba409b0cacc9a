//! The composition root: the one place a reader sees every route and every periodic
//! job of Gatehouse. Each feature folder says what it contributes (`routes()`,
//! `jobs()`); the platform supplies only the mechanisms (the middleware stack, the
//! scheduler's leases and runs) and imports no feature.

use app::platform::csrf;
use app::platform::error::Result;
use app::platform::scheduler::{self, Job};
use app::platform::state::Inner;
use app::AppState;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

/// The application's state: the platform's (database, keys, sessions, settings)
/// with each feature's long-lived part put in before it is shared.
pub async fn state(settings: app::Settings) -> Result<AppState> {
    let mut base = Inner::open(settings).await?;
    let oauth = app::oauth::Runtime::start(&base).await?;
    base.parts.insert(oauth);
    base.parts
        .insert(app::sandbox::api::dataset::Datasets::start()?);
    base.parts.insert(app::residency::Geo::open(
        base.settings.geoip_db.as_deref(),
        base.settings.geoip_loopback_as,
    )?);
    if !base.settings.local_staff_passwords && base.settings.staff_idps.is_empty() {
        return Err(app::platform::error::Error::Internal(
            "--local-staff-passwords=false needs at least one --staff-idp: no bank staff could sign in"
                .into(),
        ));
    }
    base.parts
        .insert(app::directory::statement::Cache::default());
    base.parts.insert(
        app::sso::Registry::new(&base.settings.staff_idps)
            .map_err(app::platform::error::Error::Internal)?,
    );
    Ok(AppState::from(base))
}

/// Demo mode's data, each feature's made through its real services: the accounts
/// and the sandbox app first, then the governance exceptions, the offboarded
/// organisation (the spring review's history refers to its revoked client), the
/// access review in progress, the closed incident, traffic, the applications and
/// production requests waiting for the bank, and webhooks.
/// What every installation has before anything else: the default catalogue, risk
/// policy and lifecycle policy (each only where none is there yet).
pub async fn ensure_defaults(state: &AppState) -> Result<()> {
    app::onboarding::catalogue::ensure_default(state).await?;
    app::access_requests::service::ensure_default_policy(state).await?;
    app::governance::policy::ensure_default(state).await?;
    Ok(())
}

pub async fn seed_demo(state: &AppState) -> Result<bool> {
    let seeded = app::accounts::bootstrap::seed_demo(state).await?;
    let partner_admin = app::accounts::bootstrap::DEMO_ACCOUNTS[3].email;
    app::governance::demo::seed(state, partner_admin).await?;
    app::offboarding::demo::seed(state, "admin@bank.example.com").await?;
    app::reviews::demo::seed(
        state,
        "admin@bank.example.com",
        "reviewer@bank.example.com",
        "admin@fjord-analytics.example.com",
    )
    .await?;
    app::incidents::demo::seed(
        state,
        "reviewer@bank.example.com",
        "admin@northwind-pay.example.com",
    )
    .await?;
    app::oversight::demo::seed(state).await?;
    app::onboarding::demo::seed(state).await?;
    app::access_requests::demo::seed(state, partner_admin, "reviewer@bank.example.com").await?;
    app::webhooks::demo::seed(state, "admin@acme-budgeting.example.com").await?;
    app::directory::demo::seed(
        state,
        "dev@acme-budgeting.example.com",
        "Acme Budgeting demo app",
    )
    .await?;
    // Last: it publishes every tier's agreements and has each demo partner accept them.
    app::agreements::demo::seed(state, "admin@bank.example.com").await?;
    app::slas::demo::seed(state, "reviewer@bank.example.com").await?;
    Ok(seeded)
}

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
        app::instances::jobs(),
        app::evidence_packs::jobs(),
        app::slas::jobs(),
        app::sso::jobs(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Runs the job named `name` now unless another instance holds it (the CLI, tests).
pub async fn run_job_now(state: &AppState, name: &str) -> Result<Option<Value>> {
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
        .merge(app::agreements::handlers::routes())
        .merge(app::slas::handlers::routes())
        .merge(app::sso::handlers::routes())
        .merge(app::directory::handlers::routes())
        .merge(app::sso::partner_handlers::routes())
        .merge(app::governance::residency::routes())
        .merge(app::oversight::usage_handlers::routes())
        .merge(app::oversight::alert_handlers::routes())
        .merge(app::webhooks::handlers::routes())
        .merge(app::evidence_packs::handlers::routes())
        .merge(app::instances::handlers::routes())
        .merge(app::governance::handlers::routes(upload_limit))
        .merge(app::onboarding::handlers::routes(upload_limit));
    // Machine endpoints: their own authentication, no session.
    let api = Router::new()
        .merge(app::ops::routes())
        .merge(app::evidence_packs::handlers::public_routes())
        .merge(app::oauth::api_routes())
        .merge(app::sso::handlers::api_routes())
        .merge(app::directory::handlers::api_routes())
        .merge(app::directory::registration_handlers::routes())
        .merge(app::sandbox::api::routes(state.clone()));
    app::platform::router::router(state, pages, api)
}
