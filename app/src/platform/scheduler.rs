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

pub type Run = fn(AppState, i64) -> Pin<Box<dyn Future<Output = Result<Value>> + Send>>;

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

impl Job {
    /// A job named `name` that runs `run` every `every_seconds` (use the `job!` macro).
    pub const fn new(name: &'static str, every_seconds: i64, run: Run) -> Self {
        Self {
            name,
            every_seconds,
            run,
        }
    }
}

/// `job!("name", every_seconds, |state, now| async move { … })`: a [`Job`] whose body
/// returns the run's JSON summary. Each feature lists its own in a `jobs()` function;
/// the server composes them (`gatehouse_server::compose::jobs`).
#[macro_export]
macro_rules! job {
    ($name:literal, $every:expr, $body:expr) => {
        $crate::platform::scheduler::Job::new($name, $every, |state, now| {
            Box::pin(async move { $body(state, now).await })
        })
    };
}

/// Job runs are kept this long (the operations page shows the latest).
pub const RUNS_KEPT_DAYS: i64 = 30;

/// The jobs of the platform's own mechanisms (not of any feature).
pub fn jobs() -> Vec<Job> {
    vec![
        crate::job!("sessions_prune", 300, |state: AppState, _now| async move {
            state
                .sessions
                .delete_expired_sessions()
                .await
                .map_err(Error::internal)?;
            Ok(json!({}))
        }),
        crate::job!("job_runs_prune", 3600, |state: AppState, now| async move {
            let pruned = sqlx::query("DELETE FROM job_runs WHERE started_at < $1")
                .bind(now - RUNS_KEPT_DAYS * 86_400)
                .execute(&state.db.pool)
                .await?
                .rows_affected();
            Ok(json!({ "pruned": pruned }))
        }),
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

/// Runs every due job of `jobs` this instance can take, one after another.
pub async fn run_due(state: &AppState, jobs: &[Job], instance: &str) -> Vec<(&'static str, Value)> {
    let mut ran = Vec::new();
    for job in jobs {
        match run_job(state, job, instance, false).await {
            Ok(Some(summary)) => ran.push((job.name, summary)),
            Ok(None) => {}
            Err(err) => tracing::warn!(job = job.name, error = %err, "a scheduled job failed"),
        }
    }
    ran
}

/// Runs the job of `jobs` named `name` now if no instance holds it (the CLI, tests).
pub async fn run_now(state: &AppState, jobs: &[Job], name: &str) -> Result<Option<Value>> {
    let job = jobs
        .iter()
        .find(|j| j.name == name)
        .ok_or_else(|| Error::BadRequest(format!("no job named {name}")))?;
    run_job(state, job, &state.instance, true).await
}

/// The scheduler loop of one instance over the composed `jobs`.
pub async fn run_forever(state: AppState, jobs: Vec<Job>) {
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        run_due(&state, &jobs, &state.instance).await;
    }
}

/// The latest runs, newest first (the bank's operations page).
pub async fn recent_runs(
    state: &AppState,
    limit: i64,
) -> Result<Vec<(String, String, i64, i64, String, String)>> {
    recent_runs_of(state, "", limit).await
}

/// [`recent_runs`] with one outcome (`ok`, `failed`; empty: both), filtered in the
/// query so the limit counts only the runs shown.
pub async fn recent_runs_of(
    state: &AppState,
    outcome: &str,
    limit: i64,
) -> Result<Vec<(String, String, i64, i64, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT job, instance, started_at, finished_at, outcome, summary FROM job_runs \
         WHERE ($2 = '' OR outcome = $2) ORDER BY started_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .bind(outcome)
    .fetch_all(&state.db.pool)
    .await?)
}
