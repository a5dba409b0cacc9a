//! Brute-force defence on sign-in that cannot be turned into a lock-out
//! (OWASP authentication cheat sheet, NIST SP 800-63B §5.2.2):
//! - per client address, a limit per minute (`platform::limiter`, shared by the
//!   instances on PostgreSQL) answers 429 when exceeded;
//! - per account, repeated failures slow every further attempt down (exponential,
//!   capped) instead of locking the account, so an attacker can make sign-in slower
//!   for a victim but never impossible. Unknown accounts are slowed exactly alike;
//! - per account, in time: past those free failures the password is checked at most
//!   once per slot of that delay ([`claim_slot`], claimed atomically in the database),
//!   so parallel attempts from many addresses cannot multiply the guessing rate. An
//!   attempt in a taken slot gets 429 with `Retry-After`: slower, never locked out.

use std::time::Duration;

use crate::platform::db::Db;
use crate::platform::error::{Error, Result};
use crate::platform::ids;
use crate::platform::limiter::Limit;
use crate::platform::repeats;
use crate::platform::state::AppState;

/// Failures older than this no longer count.
const WINDOW_SECS: i64 = 15 * 60;
/// Failures allowed before attempts start to slow down.
const FREE_FAILURES: i64 = 5;
/// The longest slow-down of one attempt.
const MAX_DELAY_SECS: u64 = 8;

/// What an anonymous request from an address is trying: each has its own allowance,
/// so a burst of sign-ups from an office does not stop its people signing in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A password or second-factor attempt (`--signin-attempts-per-minute`).
    SignIn,
    /// A new organisation (`--signups-per-hour`).
    SignUp,
    /// A password-reset request (`--reset-requests-per-hour`).
    Reset,
}

impl Attempt {
    fn limit(self, settings: &crate::platform::settings::Settings) -> Limit {
        let (policy, max, window) = match self {
            Self::SignIn => ("signin", settings.signin_attempts_per_minute, 60),
            Self::SignUp => ("signup", settings.signups_per_hour, 3600),
            Self::Reset => ("reset", settings.reset_requests_per_hour, 3600),
        };
        Limit {
            policy,
            max: max.max(1),
            window,
        }
    }
}

/// Counts one attempt of this kind from `ip` (an IPv6 address by its /64) against its
/// own allowance: 429 with when to retry past it. On PostgreSQL the count is shared
/// by every instance, checked and counted in one statement, so N instances allow no
/// more than one would (issue 30).
pub async fn check_address(state: &AppState, ip: &str, attempt: Attempt) -> Result<()> {
    let limit = attempt.limit(&state.settings);
    let key = format!("{}:{}", limit.policy, repeats::source_key(ip));
    admit(state, &key, limit).await
}

async fn admit(state: &AppState, key: &str, limit: Limit) -> Result<()> {
    let verdict = state
        .limits
        .admit(&state.db, key, limit, state.clock.now())
        .await;
    match verdict.retry_after() {
        None => Ok(()),
        Some(retry_after) => Err(Error::TooManyRequests { retry_after }),
    }
}

/// How long to hold this attempt back, from the recent failures on the account.
pub async fn account_delay(db: &Db, email_key: &str, now: i64) -> Result<Duration> {
    let failures: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM signin_attempts WHERE email_key = $1 AND succeeded = 0 AND at > $2 \
         AND at > COALESCE((SELECT MAX(at) FROM signin_attempts WHERE email_key = $1 AND succeeded = 1), 0)",
    )
    .bind(email_key)
    .bind(now - WINDOW_SECS)
    .fetch_one(&db.pool)
    .await?;
    Ok(delay_for(failures))
}

/// Claims this account's next attempt slot once it has failures enough to be paced:
/// `Ok` to go on and check the password, or 429 with when to retry.
pub async fn claim_slot(db: &Db, email_key: &str, now: i64) -> Result<()> {
    let spacing = account_delay(db, email_key, now).await?.as_secs() as i64;
    if spacing == 0 {
        return Ok(());
    }
    sqlx::query("INSERT INTO signin_slots (email_key, next_at) VALUES ($1, 0) ON CONFLICT (email_key) DO NOTHING")
        .bind(email_key)
        .execute(&db.pool)
        .await?;
    let claimed =
        sqlx::query("UPDATE signin_slots SET next_at = $2 WHERE email_key = $1 AND next_at <= $3")
            .bind(email_key)
            .bind(now + spacing)
            .bind(now)
            .execute(&db.pool)
            .await?;
    if claimed.rows_affected() == 1 {
        return Ok(());
    }
    let next_at: i64 = sqlx::query_scalar("SELECT next_at FROM signin_slots WHERE email_key = $1")
        .bind(email_key)
        .fetch_one(&db.pool)
        .await?;
    Err(Error::TooManyRequests {
        retry_after: u64::try_from((next_at - now).max(1)).unwrap_or(1),
    })
}

pub fn delay_for(failures: i64) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exponent = (failures - FREE_FAILURES).min(10) as u32;
    Duration::from_secs(2u64.saturating_pow(exponent).min(MAX_DELAY_SECS))
}

pub async fn record_attempt(
    db: &Db,
    email_key: &str,
    ip: &str,
    succeeded: bool,
    now: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO signin_attempts (id, email_key, ip, succeeded, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(ids::new_id(ids::ATTEMPT))
        .bind(email_key)
        .bind(ip)
        .bind(i64::from(succeeded))
        .bind(now)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Drops attempts older than a day (run by the maintenance job).
pub async fn prune(db: &Db, now: i64) -> Result<()> {
    sqlx::query("DELETE FROM signin_attempts WHERE at < $1")
        .bind(now - 86_400)
        .execute(&db.pool)
        .await?;
    sqlx::query("DELETE FROM signin_slots WHERE next_at < $1")
        .bind(now - 86_400)
        .execute(&db.pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_down_grows_and_is_capped() {
        assert_eq!(delay_for(0), Duration::ZERO);
        assert_eq!(delay_for(4), Duration::ZERO);
        assert_eq!(delay_for(5), Duration::from_secs(1));
        assert_eq!(delay_for(6), Duration::from_secs(2));
        assert_eq!(delay_for(50), Duration::from_secs(MAX_DELAY_SECS));
    }
}
