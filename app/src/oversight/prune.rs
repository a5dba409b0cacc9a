//! Retention of the request log and of the usage buckets, run by the scheduler.
//!
//! The request log grows by about 200 bytes a request (BENCHMARKS.md), so a busy
//! installation would fill its disk. Rows older than the retention go in batches of
//! `BATCH`, each its own short transaction, with a pause between them: the
//! request-log writer and everything else write in between, on both databases.
//! A run deletes at most `MAX_BATCHES` batches; the next run goes on.

use std::time::Duration;

use serde_json::{json, Value};

use super::{HOUR, MINUTE};
use crate::platform::db::Db;
use crate::platform::error::Result;
use crate::platform::settings::Settings;

/// Rows per delete.
pub const BATCH: i64 = 5_000;
const MAX_BATCHES: u32 = 200;
const PAUSE: Duration = Duration::from_millis(20);
const DAY: i64 = 86_400;

/// The shortest request-log retention: a production request's sandbox readiness
/// reads this many days of it.
pub const MIN_REQUEST_LOG_DAYS: i64 = crate::sandbox::readiness::WINDOW_DAYS;
/// The shortest minute-bucket retention: the rules read the last hour of minutes.
pub const MIN_MINUTE_DAYS: i64 = 1;
/// The shortest hour-bucket retention: the traffic baseline reads 7 days of hours,
/// and the 90-day charts need 90.
pub const MIN_HOUR_DAYS: i64 = 8;

/// Deletes, in batches, what is older than the retentions at `now`.
pub async fn run(db: &Db, settings: &Settings, now: i64) -> Result<Value> {
    let log_days = settings.request_log_days.max(MIN_REQUEST_LOG_DAYS);
    let minute_days = settings.usage_minute_days.max(MIN_MINUTE_DAYS);
    let hour_days = settings.usage_hour_days.max(MIN_HOUR_DAYS);
    let request_log = batched(
        db,
        "DELETE FROM request_log WHERE id IN (SELECT id FROM request_log WHERE at < $1 ORDER BY at LIMIT $2)",
        now - log_days * DAY,
    )
    .await?;
    let minutes = by_slices(db, MINUTE, now - minute_days * DAY).await?;
    let hours = by_slices(db, HOUR, now - hour_days * DAY).await?;
    Ok(json!({
        "request_log_deleted": request_log,
        "minute_buckets_deleted": minutes,
        "hour_buckets_deleted": hours,
    }))
}

/// Runs `sql` (bound to the cut-off and `BATCH`) until it deletes fewer than a batch.
async fn batched(db: &Db, sql: &str, cutoff: i64) -> Result<u64> {
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let deleted = sqlx::query(sql)
            .bind(cutoff)
            .bind(BATCH)
            .execute(&db.pool)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < u64::try_from(BATCH).unwrap_or(u64::MAX) {
            break;
        }
        tokio::time::sleep(PAUSE).await;
    }
    Ok(total)
}

/// Deletes the buckets of `granularity` before `cutoff` an hour of buckets at a
/// time (the buckets' keys are composite, so a time slice is the batch).
async fn by_slices(db: &Db, granularity: i64, cutoff: i64) -> Result<u64> {
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let oldest: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(bucket_at) FROM usage_series WHERE granularity = $1 AND bucket_at < $2",
        )
        .bind(granularity)
        .bind(cutoff)
        .fetch_one(&db.pool)
        .await?;
        let Some(oldest) = oldest else { break };
        let until = (oldest + HOUR).min(cutoff);
        let mut tx = db.begin().await?;
        for table in ["usage_series", "usage_detail"] {
            total += sqlx::query(&format!(
                "DELETE FROM {table} WHERE granularity = $1 AND bucket_at < $2"
            ))
            .bind(granularity)
            .bind(until)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if granularity == MINUTE {
            sqlx::query("DELETE FROM usage_sources WHERE bucket_at < $1")
                .bind(until)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tokio::time::sleep(PAUSE).await;
    }
    Ok(total)
}
