//! The roll-up of the request log into usage buckets, run by the scheduler every
//! minute. Each granularity has a watermark (`usage_rollups.done_until`); a run
//! reads the complete buckets after it, writes them and moves the watermark with a
//! conditional update in the same transaction, so a range is counted once even if
//! two instances raced past the scheduler's lease.
//!
//! Minute buckets are read from the request log (grouped in SQL: the rows never come
//! to this process one by one), hour buckets from the minute buckets. A minute is
//! rolled up once it is `LAG` seconds old, which leaves the request-log writer's
//! batching time to store it.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use sqlx::Row;

use super::series::{bin_sql, format_bins, parse_bins, Bins, BINS};
use super::{network_of, template, unauthenticated_sql, HOUR, MINUTE};
use crate::platform::db::{Db, Tx};
use crate::platform::error::Result;
pub use crate::platform::metrics::{PartnerCalls, PartnerLabels};

/// A minute is rolled up once it ended this long ago.
pub const LAG: i64 = 60;
/// At most this many minutes per run, so a long pause catches up in steps.
const MAX_MINUTES: i64 = 180;

/// The counters the roll-up adds to for the bank's monitoring (per organisation
/// and environment, never per token or client: the label set stays bounded).
pub type Counted = HashMap<(String, String, &'static str), u64>;

#[derive(Default)]
struct Minute {
    calls: i64,
    ok: i64,
    client_errors: i64,
    server_errors: i64,
    bins: Bins,
    sources: i64,
    peak_per_second: i64,
}

/// What a run did, and how far the minutes are rolled up now (the rules read up
/// to there).
pub struct Rolled {
    pub summary: Value,
    pub minutes_until: i64,
}

/// Rolls up what is due at `now`: complete minutes, then complete hours.
pub async fn run(db: &Db, now: i64, calls_metric: Option<&PartnerCalls>) -> Result<Rolled> {
    let (minutes, minutes_until, counted) = roll_minutes(db, now).await?;
    if let Some(metric) = calls_metric {
        add(metric, &counted);
    }
    let hours = roll_hours(db, minutes_until).await?;
    Ok(Rolled {
        summary: json!({ "minutes": minutes, "hours": hours }),
        minutes_until,
    })
}

/// The watermark of `granularity`, if the roll-up has started it.
async fn watermark(db: &Db, granularity: i64) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT done_until FROM usage_rollups WHERE granularity = $1")
            .bind(granularity)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Starts the watermark of `granularity` at `initial`, unless another instance
/// started it first; returns the watermark in effect.
async fn start_watermark(db: &Db, granularity: i64, initial: i64) -> Result<i64> {
    sqlx::query(
        "INSERT INTO usage_rollups (granularity, done_until) VALUES ($1, $2) ON CONFLICT (granularity) DO NOTHING",
    )
    .bind(granularity)
    .bind(initial)
    .execute(&db.pool)
    .await?;
    Ok(watermark(db, granularity).await?.unwrap_or(initial))
}

/// Moves the watermark from `from` to `to`; false when another run moved it first.
async fn advance(tx: &mut Tx, granularity: i64, from: i64, to: i64) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE usage_rollups SET done_until = $1 WHERE granularity = $2 AND done_until = $3",
    )
    .bind(to)
    .bind(granularity)
    .bind(from)
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected() == 1)
}

async fn roll_minutes(db: &Db, now: i64) -> Result<(i64, i64, Counted)> {
    let end_limit = (now - LAG).div_euclid(MINUTE) * MINUTE;
    let done = match watermark(db, MINUTE).await? {
        Some(done) => done,
        None => {
            // A first run starts at the oldest minute still in the request log
            // (within the minute buckets' reach), so an upgraded installation gets
            // its recent history.
            let oldest: Option<i64> =
                sqlx::query_scalar("SELECT MIN(at) FROM request_log WHERE at >= $1")
                    .bind(end_limit - 7 * 86_400)
                    .fetch_one(&db.pool)
                    .await?;
            let initial = oldest
                .map(|at| at.div_euclid(MINUTE) * MINUTE)
                .unwrap_or(end_limit)
                .min(end_limit);
            start_watermark(db, MINUTE, initial).await?
        }
    };
    let end = end_limit.min(done + MAX_MINUTES * MINUTE);
    if end <= done {
        return Ok((0, done, Counted::new()));
    }
    let mut tx = db.begin().await?;
    if !advance(&mut tx, MINUTE, done, end).await? {
        // Another instance rolled this range up.
        return Ok((
            0,
            watermark(db, MINUTE).await?.unwrap_or(done),
            Counted::new(),
        ));
    }
    let counted = write_minutes(&mut tx, done, end).await?;
    tx.commit().await?;
    Ok(((end - done) / MINUTE, end, counted))
}

/// Writes the minute buckets of `[from, to)` from the request log.
async fn write_minutes(tx: &mut Tx, from: i64, to: i64) -> Result<Counted> {
    let grouped = sqlx::query(&format!(
        "SELECT app_id, at - (at % 60) AS bucket, method, endpoint, status, COALESCE(error, '') AS error, \
         CAST({} AS BIGINT) AS bin, COUNT(*) AS n FROM request_log WHERE at >= $1 AND at < $2 \
         GROUP BY app_id, at - (at % 60), method, endpoint, status, COALESCE(error, ''), {}",
        bin_sql(),
        bin_sql()
    ))
    .bind(from)
    .bind(to)
    .fetch_all(&mut **tx)
    .await?;
    let mut minutes: BTreeMap<(String, i64), Minute> = BTreeMap::new();
    let mut detail: BTreeMap<(String, i64, String, String, i64, String), i64> = BTreeMap::new();
    for row in &grouped {
        let app_id: String = row.try_get(0)?;
        let bucket: i64 = row.try_get(1)?;
        let method: String = row.try_get(2)?;
        let endpoint: String = row.try_get(3)?;
        let status: i64 = row.try_get(4)?;
        let error: String = row.try_get(5)?;
        let bin: i64 = row.try_get(6)?;
        let n: i64 = row.try_get(7)?;
        let minute = minutes.entry((app_id.clone(), bucket)).or_default();
        minute.calls += n;
        match status {
            0..=399 => minute.ok += n,
            400..=499 => minute.client_errors += n,
            _ => minute.server_errors += n,
        }
        if let Some(slot) = minute
            .bins
            .get_mut(usize::try_from(bin).unwrap_or(BINS - 1))
        {
            *slot += n;
        }
        *detail
            .entry((app_id, bucket, method, template(&endpoint), status, error))
            .or_default() += n;
    }
    let sources = sqlx::query(&format!(
        "SELECT app_id, at - (at % 60), COALESCE(source, ''), COUNT(*), \
         CAST(SUM(CASE WHEN error IN ({}) THEN 1 ELSE 0 END) AS BIGINT) FROM request_log \
         WHERE at >= $1 AND at < $2 GROUP BY app_id, at - (at % 60), COALESCE(source, '')",
        unauthenticated_sql()
    ))
    .bind(from)
    .bind(to)
    .fetch_all(&mut **tx)
    .await?;
    let peaks = sqlx::query(
        "SELECT app_id, bucket, MAX(n) FROM (SELECT app_id, at - (at % 60) AS bucket, COUNT(*) AS n \
         FROM request_log WHERE at >= $1 AND at < $2 GROUP BY app_id, at) AS per_second \
         GROUP BY app_id, bucket",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut **tx)
    .await?;
    for row in &peaks {
        let key: (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if let Some(minute) = minutes.get_mut(&key) {
            minute.peak_per_second = row.try_get(2)?;
        }
    }
    for row in &sources {
        let app_id: String = row.try_get(0)?;
        let bucket: i64 = row.try_get(1)?;
        let source: String = row.try_get(2)?;
        let calls: i64 = row.try_get(3)?;
        let failures: i64 = row.try_get(4)?;
        if source.is_empty() {
            continue;
        }
        if let Some(minute) = minutes.get_mut(&(app_id.clone(), bucket)) {
            minute.sources += 1;
        }
        sqlx::query(
            "INSERT INTO usage_sources (app_id, bucket_at, source, calls, failures) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&app_id)
        .bind(bucket)
        .bind(&source)
        .bind(calls)
        .bind(failures)
        .execute(&mut **tx)
        .await?;
        if let Some(network) = network_of(&source) {
            sqlx::query(
                "INSERT INTO source_networks (app_id, network, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (app_id, network) DO UPDATE SET last_seen_at = excluded.last_seen_at \
                 WHERE source_networks.last_seen_at < excluded.last_seen_at",
            )
            .bind(&app_id)
            .bind(&network)
            .bind(bucket)
            .execute(&mut **tx)
            .await?;
        }
    }
    for ((app_id, bucket), m) in &minutes {
        insert_series(tx, app_id, MINUTE, *bucket, m).await?;
    }
    for ((app_id, bucket, method, endpoint, status, error), calls) in &detail {
        sqlx::query(
            "INSERT INTO usage_detail (app_id, granularity, bucket_at, method, endpoint, status, error, calls) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(app_id)
        .bind(MINUTE)
        .bind(bucket)
        .bind(method)
        .bind(endpoint)
        .bind(status)
        .bind(error)
        .bind(calls)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO usage_endpoints (app_id, method, endpoint, first_seen_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (app_id, method, endpoint) DO NOTHING",
        )
        .bind(app_id)
        .bind(method)
        .bind(endpoint)
        .bind(bucket)
        .execute(&mut **tx)
        .await?;
    }
    counted(tx, &minutes).await
}

async fn insert_series(
    tx: &mut Tx,
    app_id: &str,
    granularity: i64,
    bucket: i64,
    m: &Minute,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO usage_series (app_id, granularity, bucket_at, calls, ok, client_errors, server_errors, \
         latency_bins, sources, peak_per_second) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(app_id)
    .bind(granularity)
    .bind(bucket)
    .bind(m.calls)
    .bind(m.ok)
    .bind(m.client_errors)
    .bind(m.server_errors)
    .bind(format_bins(&m.bins))
    .bind(m.sources)
    .bind(m.peak_per_second)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The calls of the rolled-up minutes by organisation, environment and outcome.
async fn counted(tx: &mut Tx, minutes: &BTreeMap<(String, i64), Minute>) -> Result<Counted> {
    let mut per_app: HashMap<&str, (i64, i64, i64)> = HashMap::new();
    for ((app_id, _), m) in minutes {
        let entry = per_app.entry(app_id).or_default();
        entry.0 += m.ok;
        entry.1 += m.client_errors;
        entry.2 += m.server_errors;
    }
    // Each client's organisation and environment, in one query for the range.
    let (Some(from), Some(to)) = (
        minutes.keys().map(|k| k.1).min(),
        minutes.keys().map(|k| k.1).max(),
    ) else {
        return Ok(Counted::new());
    };
    let owners: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, org_id, environment FROM apps WHERE id IN \
         (SELECT DISTINCT app_id FROM usage_series WHERE granularity = 60 AND bucket_at >= $1 AND bucket_at <= $2)",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut **tx)
    .await?;
    let mut out = Counted::new();
    for (app_id, org, environment) in owners {
        let Some((ok, client, server)) = per_app.get(app_id.as_str()) else {
            continue;
        };
        for (class, n) in [
            ("ok", ok),
            ("client_error", client),
            ("server_error", server),
        ] {
            if *n > 0 {
                *out.entry((org.clone(), environment.clone(), class))
                    .or_default() += u64::try_from(*n).unwrap_or(0);
            }
        }
    }
    Ok(out)
}

/// Hour buckets from the minute buckets of every complete hour the minutes reached
/// (`minutes_done`).
async fn roll_hours(db: &Db, minutes_done: i64) -> Result<i64> {
    let end_limit = minutes_done.div_euclid(HOUR) * HOUR;
    let done = match watermark(db, HOUR).await? {
        Some(done) => done,
        None => {
            let first_minute: Option<i64> = sqlx::query_scalar(
                "SELECT MIN(bucket_at) FROM usage_series WHERE granularity = 60",
            )
            .fetch_one(&db.pool)
            .await?;
            let initial = first_minute
                .map(|at| at.div_euclid(HOUR) * HOUR)
                .unwrap_or(end_limit)
                .min(end_limit);
            start_watermark(db, HOUR, initial).await?
        }
    };
    let end = end_limit.min(done + 24 * HOUR);
    if end <= done {
        return Ok(0);
    }
    let mut tx = db.begin().await?;
    if !advance(&mut tx, HOUR, done, end).await? {
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT app_id, bucket_at, calls, ok, client_errors, server_errors, latency_bins, peak_per_second \
         FROM usage_series WHERE granularity = 60 AND bucket_at >= $1 AND bucket_at < $2",
    )
    .bind(done)
    .bind(end)
    .fetch_all(&mut *tx)
    .await?;
    let mut hours: BTreeMap<(String, i64), Minute> = BTreeMap::new();
    for row in &rows {
        let app_id: String = row.try_get(0)?;
        let at: i64 = row.try_get(1)?;
        let hour = hours
            .entry((app_id, at.div_euclid(HOUR) * HOUR))
            .or_default();
        hour.calls += row.try_get::<i64, _>(2)?;
        hour.ok += row.try_get::<i64, _>(3)?;
        hour.client_errors += row.try_get::<i64, _>(4)?;
        hour.server_errors += row.try_get::<i64, _>(5)?;
        let bins = parse_bins(&row.try_get::<String, _>(6)?);
        for (slot, n) in hour.bins.iter_mut().zip(bins) {
            *slot += n;
        }
        hour.peak_per_second = hour.peak_per_second.max(row.try_get(7)?);
    }
    let sources = sqlx::query(
        "SELECT app_id, bucket_at - (bucket_at % 3600), COUNT(DISTINCT source) FROM usage_sources \
         WHERE bucket_at >= $1 AND bucket_at < $2 GROUP BY app_id, bucket_at - (bucket_at % 3600)",
    )
    .bind(done)
    .bind(end)
    .fetch_all(&mut *tx)
    .await?;
    for row in &sources {
        let key: (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if let Some(hour) = hours.get_mut(&key) {
            hour.sources = row.try_get(2)?;
        }
    }
    for ((app_id, bucket), h) in &hours {
        insert_series(&mut tx, app_id, HOUR, *bucket, h).await?;
    }
    sqlx::query(
        "INSERT INTO usage_detail (app_id, granularity, bucket_at, method, endpoint, status, error, calls) \
         SELECT app_id, 3600, bucket_at - (bucket_at % 3600), method, endpoint, status, error, SUM(calls) \
         FROM usage_detail WHERE granularity = 60 AND bucket_at >= $1 AND bucket_at < $2 \
         GROUP BY app_id, bucket_at - (bucket_at % 3600), method, endpoint, status, error",
    )
    .bind(done)
    .bind(end)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((end - done) / HOUR)
}

/// Adds a roll-up's counts to `gatehouse_partner_calls_total`.
fn add(metric: &PartnerCalls, counted: &Counted) {
    for ((organisation, environment, outcome), n) in counted {
        metric
            .family
            .get_or_create(&PartnerLabels {
                organisation: organisation.clone(),
                environment: environment.clone(),
                outcome: (*outcome).to_string(),
            })
            .inc_by(*n);
    }
}
