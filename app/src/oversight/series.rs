//! Reading the usage buckets: a client's (or an organisation's, or everyone's)
//! series over a range, with latency percentiles from the buckets' histograms, calls
//! per endpoint, scope, status class and error code, and the CSV of the series.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{HOUR, MINUTE};
use crate::platform::db::Db;
use crate::platform::error::{Error, Result};

/// Upper bounds of the latency histogram's bins, in microseconds; the last bin is
/// everything slower. A percentile is reported as its bin's upper bound, so it is
/// never understated by more than a factor of two.
pub const LATENCY_BOUNDS_US: [i64; 15] = [
    250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000,
    1_024_000, 2_048_000, 4_096_000,
];
pub const BINS: usize = LATENCY_BOUNDS_US.len() + 1;

/// The SQL expression of a row's bin number (the roll-up groups by it).
pub fn bin_sql() -> String {
    let mut sql = String::from("CASE");
    for (n, bound) in LATENCY_BOUNDS_US.iter().enumerate() {
        sql.push_str(&format!(" WHEN latency_us < {bound} THEN {n}"));
    }
    sql.push_str(&format!(" ELSE {} END", BINS - 1));
    sql
}

pub type Bins = [i64; BINS];

pub fn parse_bins(text: &str) -> Bins {
    let mut bins = [0; BINS];
    for (slot, value) in bins.iter_mut().zip(text.split(',')) {
        *slot = value.trim().parse().unwrap_or(0);
    }
    bins
}

pub fn format_bins(bins: &Bins) -> String {
    bins.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The `q` quantile (0–1) of a histogram, as the upper bound of its bin in
/// milliseconds; `None` for an empty histogram.
pub fn percentile_ms(bins: &Bins, q: f64) -> Option<f64> {
    let total: i64 = bins.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as i64;
    let mut seen = 0;
    for (n, count) in bins.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let bound = LATENCY_BOUNDS_US
                .get(n)
                .copied()
                .unwrap_or(LATENCY_BOUNDS_US[LATENCY_BOUNDS_US.len() - 1] * 2);
            return Some(bound as f64 / 1_000.0);
        }
    }
    None
}

/// A time range of the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    Day,
    Week,
    Month,
    Quarter,
}

impl Range {
    pub const ALL: [Range; 4] = [Range::Day, Range::Week, Range::Month, Range::Quarter];

    pub fn parse(value: Option<&str>) -> Result<Self> {
        match value.unwrap_or("24h") {
            "24h" => Ok(Range::Day),
            "7d" => Ok(Range::Week),
            "30d" => Ok(Range::Month),
            "90d" => Ok(Range::Quarter),
            other => Err(Error::BadRequest(format!(
                "Unknown range {:?}: use 24h, 7d, 30d or 90d.",
                other.chars().take(20).collect::<String>()
            ))),
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::Quarter => "90d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Range::Day => "24 hours",
            Range::Week => "7 days",
            Range::Month => "30 days",
            Range::Quarter => "90 days",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Range::Day => 86_400,
            Range::Week => 7 * 86_400,
            Range::Month => 30 * 86_400,
            Range::Quarter => 90 * 86_400,
        }
    }

    /// The buckets the range is read from, and the width of a chart's point: a day
    /// in 15-minute points from minute buckets, longer ranges in hour or day points.
    pub fn granularity_and_step(self) -> (i64, i64) {
        match self {
            Range::Day => (MINUTE, 15 * MINUTE),
            Range::Week => (HOUR, HOUR),
            Range::Month => (HOUR, 6 * HOUR),
            Range::Quarter => (HOUR, 24 * HOUR),
        }
    }
}

/// Whose usage: one client, an organisation's clients, or every client.
#[derive(Clone, Debug)]
pub enum Subject {
    App(String),
    Org(String),
    All,
}

impl Subject {
    /// A `WHERE` fragment on `s.app_id` and its bound value (`$4`).
    fn filter(&self) -> (&'static str, String) {
        match self {
            Subject::App(id) => ("s.app_id = $4", id.clone()),
            Subject::Org(id) => (
                "s.app_id IN (SELECT id FROM apps WHERE org_id = $4)",
                id.clone(),
            ),
            Subject::All => ("$4 = $4", String::new()),
        }
    }
}

/// One point of a series.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Point {
    pub at: i64,
    pub calls: i64,
    pub ok: i64,
    pub client_errors: i64,
    pub server_errors: i64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub peak_per_second: i64,
    /// The largest distinct-source count of a bucket in the point.
    pub sources: i64,
}

/// A range's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Usage {
    pub from: i64,
    pub to: i64,
    pub step: i64,
    pub points: Vec<Point>,
    pub totals: Point,
    /// (method endpoint, calls, errors), most called first.
    pub endpoints: Vec<(String, i64, i64)>,
    /// (scope, calls).
    pub scopes: Vec<(String, i64)>,
    /// (status, error code, calls), errors only, most frequent first.
    pub errors: Vec<(i64, String, i64)>,
    /// Distinct source addresses seen in the range (while minute buckets are kept).
    pub distinct_sources: i64,
}

/// The usage of `subject` over `range`, ending at `now`.
pub async fn read(db: &Db, subject: &Subject, range: Range, now: i64) -> Result<Usage> {
    let (granularity, step) = range.granularity_and_step();
    let to = now - now.rem_euclid(step) + step;
    let from = to - range.seconds();
    let (filter, value) = subject.filter();
    let rows = sqlx::query(&format!(
        "SELECT s.bucket_at, s.calls, s.ok, s.client_errors, s.server_errors, s.latency_bins, \
         s.sources, s.peak_per_second FROM usage_series s \
         WHERE s.granularity = $1 AND s.bucket_at >= $2 AND s.bucket_at < $3 AND {filter}"
    ))
    .bind(granularity)
    .bind(from)
    .bind(to)
    .bind(&value)
    .fetch_all(&db.pool)
    .await?;
    let count = ((to - from) / step) as usize;
    let mut points: Vec<(Point, Bins)> = (0..count)
        .map(|n| {
            (
                Point {
                    at: from + n as i64 * step,
                    ..Point::default()
                },
                [0; BINS],
            )
        })
        .collect();
    let mut all_bins = [0; BINS];
    for row in &rows {
        let at: i64 = row.try_get(0)?;
        let Some((point, bins)) = points.get_mut(((at - from) / step) as usize) else {
            continue;
        };
        point.calls += row.try_get::<i64, _>(1)?;
        point.ok += row.try_get::<i64, _>(2)?;
        point.client_errors += row.try_get::<i64, _>(3)?;
        point.server_errors += row.try_get::<i64, _>(4)?;
        let row_bins = parse_bins(&row.try_get::<String, _>(5)?);
        for n in 0..BINS {
            bins[n] += row_bins[n];
            all_bins[n] += row_bins[n];
        }
        point.sources = point.sources.max(row.try_get(6)?);
        point.peak_per_second = point.peak_per_second.max(row.try_get(7)?);
    }
    let mut totals = Point {
        at: from,
        ..Point::default()
    };
    let points: Vec<Point> = points
        .into_iter()
        .map(|(mut point, bins)| {
            point.p50_ms = percentile_ms(&bins, 0.50);
            point.p95_ms = percentile_ms(&bins, 0.95);
            point.p99_ms = percentile_ms(&bins, 0.99);
            totals.calls += point.calls;
            totals.ok += point.ok;
            totals.client_errors += point.client_errors;
            totals.server_errors += point.server_errors;
            totals.peak_per_second = totals.peak_per_second.max(point.peak_per_second);
            point
        })
        .collect();
    totals.p50_ms = percentile_ms(&all_bins, 0.50);
    totals.p95_ms = percentile_ms(&all_bins, 0.95);
    totals.p99_ms = percentile_ms(&all_bins, 0.99);

    let detail = sqlx::query(&format!(
        "SELECT s.method, s.endpoint, s.status, s.error, CAST(SUM(s.calls) AS BIGINT) FROM usage_detail s \
         WHERE s.granularity = $1 AND s.bucket_at >= $2 AND s.bucket_at < $3 AND {filter} \
         GROUP BY s.method, s.endpoint, s.status, s.error"
    ))
    .bind(granularity)
    .bind(from)
    .bind(to)
    .bind(&value)
    .fetch_all(&db.pool)
    .await?;
    let mut endpoints: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut scopes: BTreeMap<String, i64> = BTreeMap::new();
    let mut errors: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for row in &detail {
        let method: String = row.try_get(0)?;
        let endpoint: String = row.try_get(1)?;
        let status: i64 = row.try_get(2)?;
        let error: String = row.try_get(3)?;
        let calls: i64 = row.try_get(4)?;
        let entry = endpoints.entry(format!("{method} {endpoint}")).or_default();
        entry.0 += calls;
        if status >= 400 {
            entry.1 += calls;
            *errors.entry((status, error)).or_default() += calls;
        }
        let scope = crate::clients::reqlog::scope_of(&endpoint)
            .map(str::to_string)
            .unwrap_or_else(|| {
                if endpoint.ends_with("/oauth/token") {
                    "(token requests)".into()
                } else {
                    "(other)".into()
                }
            });
        *scopes.entry(scope).or_default() += calls;
    }
    let mut endpoints: Vec<(String, i64, i64)> = endpoints
        .into_iter()
        .map(|(name, (calls, errors))| (name, calls, errors))
        .collect();
    endpoints.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut scopes: Vec<(String, i64)> = scopes.into_iter().collect();
    scopes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut errors: Vec<(i64, String, i64)> = errors
        .into_iter()
        .map(|((status, error), calls)| (status, error, calls))
        .collect();
    errors.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));

    let distinct_sources: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(DISTINCT s.source) FROM usage_sources s \
         WHERE $1 = $1 AND s.bucket_at >= $2 AND s.bucket_at < $3 AND {filter}"
    ))
    .bind(granularity)
    .bind(from)
    .bind(to)
    .bind(&value)
    .fetch_one(&db.pool)
    .await?;
    Ok(Usage {
        from,
        to,
        step,
        points,
        totals,
        endpoints,
        scopes,
        errors,
        distinct_sources,
    })
}

/// Calls and errors of `subject` per whole clock hour, for the `hours` hours before
/// the one under way (oldest first, empty hours as zero), read from the hour
/// buckets alone: what a sparkline needs, at a fraction of [`read`]'s cost.
pub async fn hourly(db: &Db, subject: &Subject, hours: i64, now: i64) -> Result<Vec<(i64, i64)>> {
    let to = now - now.rem_euclid(HOUR);
    let from = to - hours * HOUR;
    let (filter, value) = subject.filter();
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT s.bucket_at, CAST(SUM(s.calls) AS BIGINT), \
         CAST(SUM(s.client_errors + s.server_errors) AS BIGINT) FROM usage_series s \
         WHERE s.granularity = $1 AND s.bucket_at >= $2 AND s.bucket_at < $3 AND {filter} \
         GROUP BY s.bucket_at"
    ))
    .bind(HOUR)
    .bind(from)
    .bind(to)
    .bind(&value)
    .fetch_all(&db.pool)
    .await?;
    let mut out = vec![(0, 0); hours.max(0) as usize];
    for (at, calls, errors) in rows {
        if let Some(slot) = out.get_mut(((at - from) / HOUR) as usize) {
            *slot = (calls, errors);
        }
    }
    Ok(out)
}

/// Calls of `subject` over `range` in about 24 to 42 points of whole hours (the
/// hour buckets summed in equal runs, the hour under way left out): the line of a
/// small multiple.
pub async fn trend(db: &Db, subject: &Subject, range: Range, now: i64) -> Result<Vec<f64>> {
    let hours = range.seconds() / HOUR;
    let run = (hours / 42).max(1) as usize;
    let hourly = hourly(db, subject, hours, now).await?;
    // Equal runs counted back from the newest hour; a shorter run left at the oldest
    // end is dropped (it would draw a dip that is no drop in traffic).
    let mut points: Vec<f64> = hourly
        .rchunks_exact(run)
        .map(|chunk| chunk.iter().map(|(calls, _)| *calls as f64).sum())
        .collect();
    points.reverse();
    Ok(points)
}

fn ms(value: Option<f64>) -> String {
    value.map(|v| format!("{v}")).unwrap_or_default()
}

/// The series as CSV (RFC 4180), one line per point.
pub fn csv(usage: &Usage) -> String {
    let mut out = String::from(
        "start_utc,calls,ok,client_errors,server_errors,p50_ms,p95_ms,p99_ms,peak_per_second,sources\r\n",
    );
    for p in &usage.points {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\r\n",
            crate::sandbox::api::obie::format_time(p.at),
            p.calls,
            p.ok,
            p.client_errors,
            p.server_errors,
            ms(p.p50_ms),
            ms(p.p95_ms),
            ms(p.p99_ms),
            p.peak_per_second,
            p.sources
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_bins() {
        let mut bins = [0; BINS];
        bins[2] = 90; // < 1 ms
        bins[6] = 9; // < 16 ms
        bins[10] = 1; // < 256 ms
        assert_eq!(percentile_ms(&bins, 0.5), Some(1.0));
        assert_eq!(percentile_ms(&bins, 0.95), Some(16.0));
        assert_eq!(percentile_ms(&bins, 0.99), Some(16.0));
        assert_eq!(percentile_ms(&bins, 1.0), Some(256.0));
        assert_eq!(percentile_ms(&[0; BINS], 0.5), None);
        assert_eq!(parse_bins(&format_bins(&bins)), bins);
    }

    #[test]
    fn the_bin_expression_matches_the_bounds() {
        let sql = bin_sql();
        assert!(sql.starts_with("CASE WHEN latency_us < 250 THEN 0"));
        assert!(sql.ends_with("ELSE 15 END"));
    }
}
