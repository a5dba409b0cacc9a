//! Each client's rate limit (`apps.rate_limit_per_minute`, set by the partner within
//! the bank's ceiling, or the quota of a production request): counted by the
//! platform's limiter, so on PostgreSQL it is one limit for all instances together
//! (issue 30), and every answer says where the client stands (`RateLimit` headers).

use crate::platform::limiter::{Limit, Verdict};
use crate::platform::state::AppState;

/// Counts one request of `client_id` at the token endpoint or the API. A changed quota
/// applies from the next request; refused requests are not counted.
pub async fn admit(state: &AppState, client_id: &str, per_minute: i64) -> Verdict {
    state
        .limits
        .admit(
            &state.db,
            &format!("client:{client_id}"),
            Limit::per_minute("client", per_minute),
            state.clock.now(),
        )
        .await
}
