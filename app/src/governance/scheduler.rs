//! The one scheduler for every periodic job, coordinated through the database.
//!
//! Each job has a row in `scheduler_jobs`. An instance runs a job only once it has
//! taken the job's lease with one conditional update: the job is due and no other
//! instance holds an unexpired lease. Several instances on one PostgreSQL therefore
//! never run the same job at the same time, and each run is recorded in `job_runs`
//! with what it did. (Notices are also made unique by their own key, see
//! `sweep`, so even a run that outlived its lease cannot send one twice.)
//!
//! Jobs that work on one instance's memory (the CSRF refusal counters, reloading
//! signing keys) are not here: every instance must run those for itself.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{json, Value};

use crate::platform::error::{Error, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

type Run = fn(AppState, i64) -> Pin<Box<dyn Future<Output = Result<Value>> + Send>>;

/// A periodic job: its name, how often it runs, and what it does at a given time.
pub struct Job {
    pub name: &'static str,
    pub every_seconds: i64,
    run: Run,
}

/// A lease lasts this long: a run that takes longer (or an instance that died while
/// running) lets another instance take the job after it.
const LEASE_SECONDS: i64 = 600;
/// How often each instance looks for due jobs.
pub const TICK: Duration = Duration::from_secs(10);

macro_rules! job {
    ($name:literal, $every:expr, $body:expr) => {
        Job {
            name: $name,
            every_seconds: $every,
            run: |state, now| Box::pin(async move { $body(state, now).await }),
        }
    };
}

/// Every job the scheduler runs.
pub fn jobs() -> Vec<Job> {
    vec![
        job!("governance_sweep", 300, |state: AppState, now| async move {
            let report = super::sweep::run(&state, now).await?;
            Ok(report.summary())
        }),
        job!("sessions_prune", 300, |state: AppState, _now| async move {
            state
                .sessions
                .delete_expired_sessions()
                .await
                .map_err(Error::internal)?;
            Ok(json!({}))
        }),
        job!(
            "signin_attempts_prune",
            300,
            |state: AppState, now| async move {
                crate::accounts::throttle::prune(&state.db, now).await?;
                Ok(json!({}))
            }
        ),
        job!(
            "audit_chain_check",
            300,
            |state: AppState, now| async move {
                let verdict = crate::audit::chain::check_and_record(&state.db, now).await?;
                if !matches!(verdict, crate::audit::chain::Verdict::Intact { .. }) {
                    tracing::error!(verdict = %verdict, "the audit chain does not verify");
                }
                Ok(json!({ "verdict": verdict.to_string() }))
            }
        ),
        job!("mail_purge", 300, |state: AppState, now| async move {
            let purged = crate::mail::purge_bodies(&state.db, now).await?;
            Ok(json!({ "purged": purged }))
        }),
        job!("jwt_ids_prune", 60, |state: AppState, now| async move {
            let pruned = crate::oauth::replay::prune(&state.db, now).await?;
            Ok(json!({ "pruned": pruned }))
        }),
        job!("audit_checkpoint", 60, |state: AppState, now| async move {
            let interval = state.settings.audit_checkpoint_seconds;
            let written = crate::audit::checkpoint::write_if_due(&state, now, interval).await?;
            Ok(json!({ "written": written.is_some() }))
        }),
        job!(
            "offboarding_resume",
            60,
            |state: AppState, _now| async move {
                let finished = crate::offboarding::job::resume(&state).await?;
                Ok(json!({ "finished": finished }))
            }
        ),
        job!("usage_rollup", 60, |state: AppState, now| async move {
            let rolled =
                crate::oversight::rollup::run(&state.db, now, Some(&state.metrics.partner_calls))
                    .await?;
            // The rules read complete minutes: up to the roll-up's watermark.
            let alerts = crate::oversight::alerts::evaluate(&state, rolled.minutes_until).await?;
            Ok(json!({ "rollup": rolled.summary, "alerts": alerts }))
        }),
        job!("usage_prune", 300, |state: AppState, now| async move {
            crate::oversight::prune::run(&state.db, &state.settings, now).await
        }),
        job!(
            "access_requests_escalate",
            60,
            |state: AppState, _now| async move {
                let escalated = crate::access_requests::service::escalate_overdue(&state).await?;
                Ok(json!({ "escalated": escalated }))
            }
        ),
    ]
}

/// Takes `job`'s lease for `instance` if it is due at `now` (or at once when
/// `force`, still only if no lease is held). True when this instance won it.
async fn claim(state: &AppState, job: &Job, instance: &str, now: i64, force: bool) -> Result<bool> {
    sqlx::query(
        "INSERT INTO scheduler_jobs (name, next_due_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(job.name)
    .bind(now)
    .execute(&state.db.pool)
    .await?;
    let taken = sqlx::query(
        "UPDATE scheduler_jobs SET lease_owner = $1, lease_until = $2 \
         WHERE name = $3 AND (next_due_at <= $4 OR $5 = 1) AND (lease_until IS NULL OR lease_until < $4)",
    )
    .bind(instance)
    .bind(now + LEASE_SECONDS)
    .bind(job.name)
    .bind(now)
    .bind(i64::from(force))
    .execute(&state.db.pool)
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// Runs `job` once if this instance wins its lease; records the run and releases
/// the lease. Returns the run's summary, or `None` when another instance has it.
pub async fn run_job(
    state: &AppState,
    job: &Job,
    instance: &str,
    force: bool,
) -> Result<Option<Value>> {
    let started = state.clock.now();
    if !claim(state, job, instance, started, force).await? {
        return Ok(None);
    }
    let result = (job.run)(state.clone(), started).await;
    let finished = state.clock.now();
    let (outcome, summary) = match &result {
        Ok(summary) => ("ok", summary.clone()),
        Err(err) => {
            tracing::warn!(job = job.name, error = %err, "a scheduled job failed");
            ("failed", json!({ "error": err.to_string() }))
        }
    };
    sqlx::query(
        "INSERT INTO job_runs (id, job, instance, started_at, finished_at, outcome, summary) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ids::new_id("run"))
    .bind(job.name)
    .bind(instance)
    .bind(started)
    .bind(finished)
    .bind(outcome)
    .bind(summary.to_string())
    .execute(&state.db.pool)
    .await?;
    sqlx::query(
        "UPDATE scheduler_jobs SET next_due_at = $1, lease_owner = NULL, lease_until = NULL \
         WHERE name = $2 AND lease_owner = $3",
    )
    .bind(started + job.every_seconds)
    .bind(job.name)
    .bind(instance)
    .execute(&state.db.pool)
    .await?;
    result.map(Some)
}

/// Runs every due job this instance can take, one after another.
pub async fn run_due(state: &AppState, instance: &str) -> Vec<(&'static str, Value)> {
    let mut ran = Vec::new();
    for job in jobs() {
        match run_job(state, &job, instance, false).await {
            Ok(Some(summary)) => ran.push((job.name, summary)),
            Ok(None) => {}
            Err(err) => tracing::warn!(job = job.name, error = %err, "a scheduled job failed"),
        }
    }
    ran
}

/// Runs the job named `name` now if no instance holds it (the CLI, tests).
pub async fn run_now(state: &AppState, name: &str) -> Result<Option<Value>> {
    let job = jobs()
        .into_iter()
        .find(|j| j.name == name)
        .ok_or_else(|| Error::BadRequest(format!("no job named {name}")))?;
    run_job(state, &job, &state.governance.instance, true).await
}

/// The scheduler loop of one instance.
pub async fn run_forever(state: AppState) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        run_due(&state, &state.governance.instance).await;
    }
}

/// The latest runs, newest first (the bank's operations page).
pub async fn recent_runs(
    state: &AppState,
    limit: i64,
) -> Result<Vec<(String, String, i64, i64, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT job, instance, started_at, finished_at, outcome, summary FROM job_runs \
         ORDER BY started_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?)
}
