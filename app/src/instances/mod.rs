//! The running instances: each registers itself when it starts and beats every few
//! seconds, so the bank sees which instances serve (`/admin/instances`, `gatehouse
//! instances`), which jobs each holds, and the rate limiter knows how many share the
//! limits (issue 30). An instance that shut down cleanly marks itself stopped, and
//! the scheduler gives its leases to another at once; one that stopped beating is
//! shown as gone, and the next live instance to beat takes its leases back.
//! Each beat also reports the periods in which the rate limiter could not reach the
//! database as an alert (rule `limiter_degraded`).
//!
//! On PostgreSQL an instance that starts or stops cleanly also says so with `NOTIFY`
//! ([`CHANNEL`]), and the others count the live instances again at once instead of
//! at their next beat. That is only a hint: a notification sent while a listener was
//! disconnected is not replayed, so the heartbeat stays the source of the count.

pub mod handlers;
pub mod pages;

use serde::Serialize;
use sqlx::Row as _;

use crate::platform::db::Db;
use crate::platform::error::Result;
use crate::platform::state::AppState;

/// An instance whose last beat is older than this is gone.
pub const GONE_AFTER: i64 = 20;
/// The channel on which instances announce that they started or stopped.
pub const CHANNEL: &str = "gatehouse_instances";

/// One instance as the page and the CLI show it.
#[derive(Clone, Debug, Serialize)]
pub struct Instance {
    pub id: String,
    pub version: String,
    pub address: String,
    pub started_at: i64,
    pub last_beat_at: i64,
    pub stopped_at: Option<i64>,
    /// How many times its state cache was emptied (its own changes, other instances'
    /// announcements, a lost listening connection): an instance whose generation stops
    /// moving while the others' move no longer hears the announcements.
    pub cache_generation: i64,
    /// The scheduler jobs whose lease it holds now.
    pub jobs: Vec<String>,
}

impl Instance {
    pub fn state(&self, now: i64) -> &'static str {
        if self.stopped_at.is_some() {
            "stopped"
        } else if now - self.last_beat_at > GONE_AFTER {
            "gone"
        } else {
            "live"
        }
    }
}

/// Registers this instance (or beats again): its row, then how many instances are
/// live, which the rate limiter divides its batches by. The leases of instances that
/// stopped beating without a clean stop (killed, or cut off from the database) are
/// released, so their jobs run elsewhere at their next due time instead of after the
/// lease's ten minutes.
pub async fn beat(state: &AppState, address: &str) -> Result<u32> {
    let now = state.clock.now();
    let generation = i64::try_from(state.oauth().cache.generation()).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO instances (id, version, address, started_at, last_beat_at, cache_generation) \
         VALUES ($1, $2, $3, $4, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET last_beat_at = excluded.last_beat_at, \
           cache_generation = excluded.cache_generation, stopped_at = NULL",
    )
    .bind(&state.instance)
    .bind(env!("CARGO_PKG_VERSION"))
    .bind(address)
    .bind(now)
    .bind(generation)
    .execute(&state.db.pool)
    .await?;
    let released = sqlx::query(
        "UPDATE scheduler_jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IN \
         (SELECT id FROM instances WHERE stopped_at IS NULL AND last_beat_at < $1)",
    )
    .bind(now - GONE_AFTER)
    .execute(&state.db.pool)
    .await?
    .rows_affected();
    if released > 0 {
        tracing::warn!(
            released,
            "took back the job leases of instances that stopped beating"
        );
    }
    let live = count_live(state, now).await?;
    // The database answered: a limiter still counting in memory can stop now.
    state.limits.recovered(now);
    report_degraded(state, live).await?;
    Ok(live)
}

/// Counts the live instances and tells the rate limiter.
async fn count_live(state: &AppState, now: i64) -> Result<u32> {
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM instances WHERE stopped_at IS NULL AND last_beat_at >= $1",
    )
    .bind(now - GONE_AFTER)
    .fetch_one(&state.db.pool)
    .await?;
    let live = u32::try_from(live.max(1)).unwrap_or(u32::MAX);
    state.limits.set_live(live);
    Ok(live)
}

/// The first beat of a starting instance, announced to the others (PostgreSQL), so
/// their shares shrink before this one takes its first request.
pub async fn register(state: &AppState, address: &str) -> Result<u32> {
    let live = beat(state, address).await?;
    announce(state).await;
    Ok(live)
}

/// Tells the other instances on this PostgreSQL database to count again. A failure
/// is only logged: their next beat counts anyway.
async fn announce(state: &AppState) {
    if state.db.backend != crate::platform::db::Backend::Postgres {
        return;
    }
    // The payload is this instance's id (letters, digits, `_` and `-`): nothing to quote.
    let notify = format!("NOTIFY {CHANNEL}, '{}'", state.instance);
    if let Err(err) = sqlx::query(&notify).execute(&state.db.pool).await {
        tracing::warn!(error = %err, "could not announce this instance to the others");
    }
}

/// Listens (PostgreSQL) for other instances starting or stopping, and counts the live
/// instances again at each announcement. Reconnects after a lost connection.
pub async fn listen(state: AppState) {
    if state.db.backend != crate::platform::db::Backend::Postgres {
        return;
    }
    loop {
        match sqlx::postgres::PgListener::connect(&state.db.url).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => loop {
                    match listener.try_recv().await {
                        Ok(Some(note)) if note.payload() == state.instance => {}
                        // Another instance came or went, or the connection was lost
                        // (announcements may have been missed): count again.
                        Ok(_) => {
                            if let Err(err) = count_live(&state, state.clock.now()).await {
                                tracing::warn!(error = %err, "counting the live instances failed");
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "lost the instance announcements");
                            break;
                        }
                    }
                },
                Err(err) => tracing::warn!(error = %err, "could not listen for instances"),
            },
            Err(err) => tracing::warn!(error = %err, "could not connect to listen for instances"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Each period in which this instance's rate limiter counted in memory becomes an
/// alert for the bank, once the database answers again.
async fn report_degraded(state: &AppState, live: u32) -> Result<()> {
    let (ended, _) = state.limits.take_degraded();
    for (from, to) in ended {
        let finding = crate::oversight::rules::Finding {
            rule: "limiter_degraded",
            group_key: format!("limiter_degraded:{}:{from}", state.instance),
            app_id: None,
            org_id: None,
            source: None,
            summary: format!(
                "Instance {} could not reach the database for its rate limits from {} to {} ({} s): \
                 it held each limit to its own share (1/{} of it) in memory meanwhile.",
                state.instance,
                crate::platform::time::rfc3339(from),
                crate::platform::time::rfc3339(to),
                to - from,
                live
            ),
            thresholds: serde_json::json!({ "database_timeout_ms": crate::platform::limiter::DB_TIMEOUT.as_millis() }),
            evidence: serde_json::json!({ "instance": state.instance, "from": from, "to": to, "live_instances": live }),
            latest_at: to,
            window: (from, to),
        };
        crate::oversight::alerts::raise(state, &finding).await?;
    }
    Ok(())
}

/// A clean shutdown: the instance is no longer counted, and its leases go at once.
pub async fn stop(state: &AppState) -> Result<()> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query("UPDATE instances SET stopped_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&state.instance)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE scheduler_jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
    )
    .bind(&state.instance)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    announce(state).await;
    Ok(())
}

/// Every instance seen in the last day (and the live ones, whenever they started),
/// newest first.
pub async fn list(db: &Db, now: i64) -> Result<Vec<Instance>> {
    let rows = sqlx::query(
        "SELECT id, version, address, started_at, last_beat_at, stopped_at, cache_generation FROM instances \
         WHERE last_beat_at >= $1 ORDER BY started_at DESC, id",
    )
    .bind(now - 86_400)
    .fetch_all(&db.pool)
    .await?;
    let leases = sqlx::query(
        "SELECT lease_owner, name FROM scheduler_jobs WHERE lease_owner IS NOT NULL AND lease_until >= $1 ORDER BY name",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0)?;
        let mut jobs = Vec::new();
        for lease in &leases {
            if lease.try_get::<String, _>(0)? == id {
                jobs.push(lease.try_get(1)?);
            }
        }
        out.push(Instance {
            id,
            version: row.try_get(1)?,
            address: row.try_get(2)?,
            started_at: row.try_get(3)?,
            last_beat_at: row.try_get(4)?,
            stopped_at: row.try_get(5)?,
            cache_generation: row.try_get(6)?,
            jobs,
        });
    }
    Ok(out)
}

/// The instances' periodic job: forgetting instances not seen for a week, and shared
/// rate-limit windows that ended a day ago.
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "instances_prune",
        3600,
        |state: AppState, now| async move {
            let instances = sqlx::query("DELETE FROM instances WHERE last_beat_at < $1")
                .bind(now - 7 * 86_400)
                .execute(&state.db.pool)
                .await?
                .rows_affected();
            let windows = crate::platform::limiter::prune(&state.db, now).await?;
            Ok(serde_json::json!({ "instances": instances, "rate_windows": windows }))
        }
    )]
}
