//! Per-client rate limiting with `governor`: each client gets its own GCRA limiter
//! with the quota in its configuration (`apps.rate_limit_per_minute`); a changed
//! quota replaces the limiter. Limits are per instance.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

#[derive(Default)]
pub struct ClientLimiters {
    limiters: Mutex<HashMap<String, (i64, Arc<DefaultDirectRateLimiter>)>>,
}

impl ClientLimiters {
    /// Counts one request of `client_id`; `Err(seconds)` to wait when over the limit.
    pub fn check(&self, client_id: &str, per_minute: i64) -> Result<(), u64> {
        let limiter = {
            let mut map = match self.limiters.lock() {
                Ok(map) => map,
                Err(poisoned) => poisoned.into_inner(),
            };
            match map.get(client_id) {
                Some((quota, limiter)) if *quota == per_minute => limiter.clone(),
                _ => {
                    let n = u32::try_from(per_minute.max(1)).unwrap_or(u32::MAX);
                    let quota = Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
                    let limiter = Arc::new(RateLimiter::direct(quota));
                    map.insert(client_id.to_string(), (per_minute, limiter.clone()));
                    limiter
                }
            }
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_limited_to_its_own_quota() {
        let limiters = ClientLimiters::default();
        for _ in 0..3 {
            assert!(limiters.check("cli_a", 3).is_ok());
        }
        let wait = limiters.check("cli_a", 3);
        assert!(matches!(wait, Err(seconds) if seconds >= 1), "{wait:?}");
        // Another client is not affected; a raised quota takes effect at once.
        assert!(limiters.check("cli_b", 3).is_ok());
        assert!(limiters.check("cli_a", 100).is_ok());
    }
}
