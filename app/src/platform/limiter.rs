//! Rate limits that mean the same at any number of instances (issue 30).
//!
//! One interface, [`Limiter::admit`], and two ways to count:
//! - **in process** (SQLite: one instance): a `governor` GCRA bucket per key, as
//!   before: the limit refills steadily over the window;
//! - **shared** (PostgreSQL): each key's window and count live in one `rate_windows`
//!   row. An instance takes part of what is left with one statement that checks and
//!   counts at once (`INSERT … ON CONFLICT DO UPDATE … WHERE hits < max`, under the
//!   row's lock), then admits from that reservation in memory. Low limits reserve one
//!   request at a time (exact: two instances can never both admit the last request);
//!   high limits reserve a batch of a fortieth of the limit divided among the live
//!   instances, so the database sees one short statement per batch.
//!
//! Nothing is admitted that was not reserved, so the instances together never admit
//! more than the limit in a window, whatever the load balancer does (Kong's database
//! policy reads first and counts later, and overshoots). What an instance reserved
//! and did not use before its window ended (at most a batch less one) is the most the
//! total can fall below the limit, about 2.5 %, where a limiter that splits the limit
//! by the number of gateways loses the whole share of every idle one (Tyk).
//!
//! A shared window starts with the first request after the previous one ended and
//! lasts `window` seconds on the application's clock; a client can spend one window's
//! limit at its end and the next one's at the start of the next, so the densest burst
//! is twice the limit across one window boundary, never more within a window. Only
//! admitted requests count: a refused request changes no counter.
//!
//! When the database does not answer within [`DB_TIMEOUT`], the instance counts in
//! memory with its share of the limit (the limit divided among the live instances):
//! neither open nor closed. One request every [`DEGRADED_RETRY`] seconds tries the
//! database again (the others do not wait for it), and it keeps the degraded period for the instances page and the alert
//! ([`Limiter::take_degraded`]).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use sqlx::Row as _;

use super::db::{Backend, Db};

/// How long a reservation may take before the limiter counts in memory instead.
pub const DB_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the limiter stays in memory after the database failed to answer.
pub const DEGRADED_RETRY: i64 = 5;
/// Batches are about this fraction of an instance's share of the limit.
const BATCH_DIVISOR: u32 = 40;
/// Keys kept in memory before the idle ones are forgotten.
const MAX_KEYS: usize = 100_000;

type Bucket = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// A limit: at most `max` requests per `window` seconds, named for the
/// `RateLimit-Policy` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub policy: &'static str,
    pub max: u32,
    pub window: i64,
}

impl Limit {
    pub fn per_minute(policy: &'static str, max: i64) -> Self {
        Self {
            policy,
            max: u32::try_from(max.max(1)).unwrap_or(u32::MAX),
            window: 60,
        }
    }
}

/// The limiter's answer, with what the `RateLimit` headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub admitted: bool,
    pub limit: Limit,
    /// Requests left in the window, as far as this instance knows.
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset: u64,
}

impl Verdict {
    /// Seconds to wait, for a refused request's `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        (!self.admitted).then_some(self.reset.max(1))
    }

    /// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10 §§ 3,
    /// 4: a quota `q` per window `w` seconds; `r` remaining, reset in `t` seconds), and
    /// `Retry-After` on a refusal (RFC 9110 § 10.2.3).
    pub fn apply(&self, headers: &mut HeaderMap) {
        let name = self.limit.policy;
        let fields = [
            (
                HeaderName::from_static("ratelimit-policy"),
                format!("\"{name}\";q={};w={}", self.limit.max, self.limit.window),
            ),
            (
                HeaderName::from_static("ratelimit"),
                format!("\"{name}\";r={};t={}", self.remaining, self.reset),
            ),
        ];
        for (field, value) in fields {
            // The string's buffer becomes the header's, without a copy.
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(field, value);
            }
        }
        if let Some(seconds) = self.retry_after() {
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
}

/// This instance's view of one key's shared window.
struct Slot {
    max: u32,
    window_start: i64,
    window_end: i64,
    /// Reserved from the shared count and not yet admitted.
    reserved: u32,
    /// The shared count after this instance's last reservation.
    hits: u32,
    /// The window is spent: refuse without asking the database until it ends.
    spent: bool,
}

/// A key's in-memory bucket (SQLite, or the degraded share).
struct Local {
    max: u32,
    window: i64,
    bucket: Arc<Bucket>,
    used_at: Instant,
}

pub struct Limiter {
    shared: bool,
    slots: Mutex<HashMap<String, Slot>>,
    local: Mutex<HashMap<String, Local>>,
    /// Instances beating in the `instances` table (at least this one).
    live: AtomicU32,
    /// Since when the database has not answered (0: it answers).
    degraded_since: AtomicI64,
    /// While degraded: when a request may try the database again.
    retry_at: AtomicI64,
    /// Degraded periods that ended, not yet reported: (from, to).
    ended: Mutex<Vec<(i64, i64)>>,
}

impl Limiter {
    /// Shared through the database on PostgreSQL, in process on SQLite; `local`
    /// (`--rate-limits local`) keeps each instance's count in process on PostgreSQL
    /// too, so N instances allow N times every limit: only for a deployment whose
    /// gateway enforces the limits, and to measure what sharing costs.
    pub fn new(db: &Db, local: bool) -> Self {
        Self::with_sharing(db.backend == Backend::Postgres && !local)
    }

    fn with_sharing(shared: bool) -> Self {
        Self {
            shared,
            slots: Mutex::new(HashMap::new()),
            local: Mutex::new(HashMap::new()),
            live: AtomicU32::new(1),
            degraded_since: AtomicI64::new(0),
            retry_at: AtomicI64::new(0),
            ended: Mutex::new(Vec::new()),
        }
    }

    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// The number of live instances, from the heartbeat (`instances` feature).
    pub fn set_live(&self, instances: u32) {
        self.live.store(instances.max(1), Ordering::Relaxed);
    }

    pub fn live(&self) -> u32 {
        self.live.load(Ordering::Relaxed).max(1)
    }

    /// Since when the limiter has counted in memory because the database did not
    /// answer, if it still does not.
    pub fn degraded_since(&self) -> Option<i64> {
        Some(self.degraded_since.load(Ordering::Relaxed)).filter(|at| *at > 0)
    }

    /// The degraded periods that ended since the last call, and the one going on.
    pub fn take_degraded(&self) -> (Vec<(i64, i64)>, Option<i64>) {
        let ended = std::mem::take(&mut *lock(&self.ended));
        (ended, self.degraded_since())
    }

    /// How many requests a reservation takes at once: one while a fortieth of this
    /// instance's share is below one (exact), else that fortieth.
    pub fn batch(&self, limit: &Limit) -> u32 {
        (limit.max / self.live() / BATCH_DIVISOR).max(1)
    }

    fn share(&self, limit: &Limit) -> u32 {
        (limit.max / self.live()).max(1)
    }

    /// Admits one request under `key` (e.g. `client:cli_…`) at `now`, or refuses it.
    pub async fn admit(&self, db: &Db, key: &str, limit: Limit, now: i64) -> Verdict {
        if !self.shared {
            return self.admit_local(key, limit, limit.max);
        }
        if self.degraded_at(now) {
            return self.admit_local(key, limit, self.share(&limit));
        }
        let window = limit.window.max(1);
        let verdict = |admitted, remaining, end: i64| Verdict {
            admitted,
            limit,
            remaining,
            reset: u64::try_from(end - now).unwrap_or(1).max(1),
        };
        {
            let mut slots = lock(&self.slots);
            if slots.len() > MAX_KEYS {
                slots.retain(|_, slot| slot.window_end > now);
            }
            if let Some(slot) = slots.get_mut(key) {
                if slot.max == limit.max && now < slot.window_end {
                    if slot.reserved > 0 {
                        slot.reserved -= 1;
                        let left = limit.max.saturating_sub(slot.hits) + slot.reserved;
                        return verdict(true, left, slot.window_end);
                    }
                    if slot.spent {
                        return verdict(false, 0, slot.window_end);
                    }
                }
            }
        }
        let batch = self.batch(&limit);
        let reserved =
            tokio::time::timeout(DB_TIMEOUT, reserve(db, key, now, window, batch, limit.max)).await;
        match reserved {
            Ok(Ok(reservation)) => {
                self.recovered(now);
                let end = reservation.window_start + window;
                let admitted = reservation.granted > 0;
                let mut slots = lock(&self.slots);
                // Another task of this instance may have reserved in the same window
                // meanwhile: what it has not used stays reserved.
                let unused = slots
                    .get(key)
                    .filter(|old| old.window_start == reservation.window_start)
                    .map_or(0, |old| old.reserved);
                let slot = Slot {
                    max: limit.max,
                    window_start: reservation.window_start,
                    window_end: end,
                    reserved: reservation.granted.saturating_sub(1) + unused,
                    hits: reservation.hits,
                    spent: reservation.hits >= limit.max,
                };
                let left = limit.max.saturating_sub(slot.hits) + slot.reserved;
                slots.insert(key.to_string(), slot);
                verdict(admitted, if admitted { left } else { 0 }, end)
            }
            Ok(Err(err)) => {
                tracing::error!(error = %err, "the shared rate limit could not be counted; counting this instance's share in memory");
                self.degrade(now);
                self.admit_local(key, limit, self.share(&limit))
            }
            Err(_) => {
                tracing::error!("the shared rate limit did not answer in time; counting this instance's share in memory");
                self.degrade(now);
                self.admit_local(key, limit, self.share(&limit))
            }
        }
    }

    /// Counts in this process: `max` requests per window, refilled steadily.
    fn admit_local(&self, key: &str, limit: Limit, max: u32) -> Verdict {
        let bucket = {
            let mut local = lock(&self.local);
            if local.len() > MAX_KEYS {
                let idle = Duration::from_secs(limit.window.unsigned_abs() * 2);
                local.retain(|_, l| l.used_at.elapsed() < idle);
            }
            match local.get_mut(key) {
                Some(l) if l.max == max && l.window == limit.window => {
                    l.used_at = Instant::now();
                    l.bucket.clone()
                }
                _ => {
                    let bucket = Arc::new(bucket(max, limit.window));
                    local.insert(
                        key.to_string(),
                        Local {
                            max,
                            window: limit.window,
                            bucket: bucket.clone(),
                            used_at: Instant::now(),
                        },
                    );
                    bucket
                }
            }
        };
        match bucket.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                // Until the bucket is full again: each used request comes back after
                // window / max seconds.
                let used = u64::from(max.saturating_sub(remaining));
                let reset = (used * limit.window.unsigned_abs()).div_ceil(u64::from(max.max(1)));
                Verdict {
                    admitted: true,
                    limit,
                    remaining,
                    reset: reset.max(1),
                }
            }
            Err(not_until) => Verdict {
                admitted: false,
                limit,
                remaining: 0,
                reset: not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    + 1,
            },
        }
    }

    /// Whether to count in memory now: while degraded, one request every
    /// `DEGRADED_RETRY` seconds tries the database again, the others do not wait.
    fn degraded_at(&self, now: i64) -> bool {
        if self.degraded_since().is_none() {
            return false;
        }
        let retry = self.retry_at.load(Ordering::Relaxed);
        if now < retry {
            return true;
        }
        self.retry_at
            .compare_exchange(
                retry,
                now + DEGRADED_RETRY,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_err()
    }

    fn degrade(&self, now: i64) {
        let _ = self.degraded_since.compare_exchange(
            0,
            now.max(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.retry_at.store(now + DEGRADED_RETRY, Ordering::Relaxed);
    }

    /// The database answered (a reservation, or the instances' heartbeat): a degraded
    /// period ends here.
    pub fn recovered(&self, now: i64) {
        let since = self.degraded_since.swap(0, Ordering::Relaxed);
        if since > 0 {
            tracing::warn!(
                since,
                "the shared rate limit is counted in the database again"
            );
            lock(&self.ended).push((since, now));
        }
    }
}

/// A GCRA bucket of `max` requests per `window` seconds, all available at once.
fn bucket(max: u32, window: i64) -> Bucket {
    let burst = NonZeroU32::new(max).unwrap_or(NonZeroU32::MIN);
    let nanos = window.unsigned_abs().max(1) * 1_000_000_000 / u64::from(burst.get());
    let quota = Quota::with_period(Duration::from_nanos(nanos.max(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>()
}

/// What one reservation got.
struct Reservation {
    granted: u32,
    hits: u32,
    window_start: i64,
}

/// Reserves up to `batch` requests in one statement. A key's window starts with the
/// first request after the previous window ended. The row's lock orders concurrent
/// reservations, and each sees the count the one before it left; a spent window
/// changes nothing (`granted` 0, read back for when it ends).
async fn reserve(
    db: &Db,
    key: &str,
    now: i64,
    window: i64,
    batch: u32,
    max: u32,
) -> Result<Reservation, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO rate_windows (key, window_start, hits, granted) VALUES ($1, $2, LEAST($3, $4), LEAST($3, $4)) \
         ON CONFLICT (key) DO UPDATE SET \
           window_start = CASE WHEN rate_windows.window_start + $5 <= $2 THEN $2 ELSE rate_windows.window_start END, \
           granted = CASE WHEN rate_windows.window_start + $5 <= $2 THEN LEAST($3, $4) \
                          ELSE LEAST($3, $4 - rate_windows.hits) END, \
           hits = CASE WHEN rate_windows.window_start + $5 <= $2 THEN LEAST($3, $4) \
                       ELSE rate_windows.hits + LEAST($3, $4 - rate_windows.hits) END \
         WHERE rate_windows.window_start + $5 <= $2 OR rate_windows.hits < $4 \
         RETURNING granted, hits, window_start",
    )
    .bind(key)
    .bind(now)
    .bind(i64::from(batch))
    .bind(i64::from(max))
    .bind(window)
    .fetch_optional(&db.pool)
    .await?;
    let count = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    match row {
        Some(row) => Ok(Reservation {
            granted: count(row.try_get(0)?),
            hits: count(row.try_get(1)?),
            window_start: row.try_get(2)?,
        }),
        None => {
            let (hits, window_start): (i64, i64) =
                sqlx::query_as("SELECT hits, window_start FROM rate_windows WHERE key = $1")
                    .bind(key)
                    .fetch_one(&db.pool)
                    .await?;
            Ok(Reservation {
                granted: 0,
                hits: count(hits),
                window_start,
            })
        }
    }
}

/// Forgets shared windows that ended more than a day ago (`instances_prune`).
pub async fn prune(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
        .bind(now - 86_400)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn batches_shrink_with_instances_and_are_one_for_low_limits() {
        let limiter = Limiter::with_sharing(true);
        let high = Limit::per_minute("client", 6000);
        let low = Limit::per_minute("client", 30);
        assert_eq!(limiter.batch(&high), 150);
        assert_eq!(limiter.batch(&low), 1);
        limiter.set_live(3);
        assert_eq!(limiter.batch(&high), 50);
        limiter.set_live(0);
        assert_eq!(limiter.live(), 1, "this instance always counts");
    }

    #[test]
    fn headers_follow_the_draft() {
        let verdict = Verdict {
            admitted: false,
            limit: Limit::per_minute("client", 100),
            remaining: 0,
            reset: 17,
        };
        let mut headers = HeaderMap::new();
        verdict.apply(&mut headers);
        assert_eq!(headers["ratelimit-policy"], "\"client\";q=100;w=60");
        assert_eq!(headers["ratelimit"], "\"client\";r=0;t=17");
        assert_eq!(headers["retry-after"], "17");
    }

    #[tokio::test]
    async fn in_process_the_limit_then_refusals_and_a_raised_quota_applies() {
        let limiter = Limiter::with_sharing(false);
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let limit = Limit::per_minute("signin", 3);
        for left in [2, 1, 0] {
            let v = limiter.admit(&db, "k", limit, 0).await;
            assert!(v.admitted);
            assert_eq!(v.remaining, left);
        }
        let refused = limiter.admit(&db, "k", limit, 0).await;
        assert!(!refused.admitted);
        assert!(matches!(refused.retry_after(), Some(1..=21)), "{refused:?}");
        assert!(limiter.admit(&db, "other", limit, 0).await.admitted);
        let raised = Limit::per_minute("signin", 100);
        assert!(limiter.admit(&db, "k", raised, 0).await.admitted);
    }
}
