//! Readiness, read from the sandbox request log: for each scope asked for, whether the
//! app made enough successful calls that need it, recently, with an acceptable error
//! rate; and whether it completed the flows its scopes imply (an account-access
//! consent; a domestic payment, which always carries an idempotency key).

use serde::Serialize;
use serde_json::{json, Value};

use super::api::BASE;
use crate::platform::error::Result;
use crate::platform::state::AppState;

/// How far back sandbox calls count. The request log's shortest retention
/// (`oversight::prune::MIN_REQUEST_LOG_DAYS`) is this, so the calls a partner made
/// are never pruned before they stop counting.
pub const WINDOW_DAYS: i64 = 30;
/// Successful calls needed per scope.
pub const MIN_SUCCESSES: i64 = 3;
/// The highest acceptable share of failed calls (4xx and 5xx).
pub const MAX_ERROR_RATE: f64 = 0.2;

#[derive(Clone, Debug, Serialize)]
pub struct ScopeReadiness {
    pub scope: String,
    /// False when the sandbox has no API for the scope (nothing to prove).
    pub testable: bool,
    pub successful_calls: i64,
    pub failed_calls: i64,
    pub last_success: Option<i64>,
    pub ready: bool,
}

impl ScopeReadiness {
    pub fn error_rate(&self) -> f64 {
        let total = self.successful_calls + self.failed_calls;
        if total == 0 {
            0.0
        } else {
            self.failed_calls as f64 / total as f64
        }
    }

    /// What is missing, in the partner's words.
    pub fn missing(&self) -> Option<String> {
        if self.ready {
            return None;
        }
        Some(if self.successful_calls < MIN_SUCCESSES {
            format!(
                "{}: {} successful sandbox calls in the last {WINDOW_DAYS} days; at least {MIN_SUCCESSES} are needed.",
                self.scope, self.successful_calls
            )
        } else {
            format!(
                "{}: {:.0}% of sandbox calls failed; at most {:.0}% may.",
                self.scope,
                self.error_rate() * 100.0,
                MAX_ERROR_RATE * 100.0
            )
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Readiness {
    pub scopes: Vec<ScopeReadiness>,
    pub account_consent: bool,
    pub payment_with_idempotency_key: bool,
}

impl Readiness {
    /// Everything missing for `scopes`, in the partner's words.
    pub fn missing(&self) -> Vec<String> {
        self.missing_with_next_call()
            .into_iter()
            .map(|(what, _)| what)
            .collect()
    }

    /// Each missing item with the next call that makes it, in the partner's words.
    pub fn missing_with_next_call(&self) -> Vec<(String, String)> {
        let next = |scope: &str| {
            match scope {
            "reference" => format!("GET {BASE}/reference/branches with a client-credentials token for scope reference."),
            "accounts" => format!("create an account-access consent, have a test customer authorise it, then GET {BASE}/aisp/accounts with the customer's token."),
            "payments" => format!("create a domestic-payment consent, have a test customer authorise it, then POST {BASE}/pisp/domestic-payments with an x-idempotency-key."),
            other => format!("a successful call that needs scope {other}."),
        }
        };
        let mut out: Vec<(String, String)> = self
            .scopes
            .iter()
            .filter_map(|s| s.missing().map(|m| (m, next(&s.scope))))
            .collect();
        let asks = |scope: &str| self.scopes.iter().any(|s| s.scope == scope);
        if asks("accounts") && !self.account_consent {
            out.push((
                "accounts: no account-access consent was created and authorised in the sandbox."
                    .into(),
                next("accounts"),
            ));
        }
        if asks("payments") && !self.payment_with_idempotency_key {
            out.push(("payments: no domestic payment with an idempotency key was completed in the sandbox.".into(), next("payments")));
        }
        out
    }

    pub fn ready(&self) -> bool {
        self.missing().is_empty()
    }

    /// As policy input.
    pub fn facts(&self) -> Value {
        let scopes: serde_json::Map<String, Value> = self
            .scopes
            .iter()
            .map(|s| {
                (
                    s.scope.clone(),
                    json!({
                        "testable": s.testable,
                        "successful_calls": s.successful_calls,
                        "failed_calls": s.failed_calls,
                        "error_rate": s.error_rate(),
                        "ready": s.ready,
                    }),
                )
            })
            .collect();
        json!({
            "ready": self.ready(),
            "scopes": scopes,
            "flows": {
                "account_consent": self.account_consent,
                "payment_with_idempotency_key": self.payment_with_idempotency_key,
            },
        })
    }
}

/// The sandbox API prefix whose calls need `scope`, if the sandbox has one.
fn prefix(scope: &str) -> Option<String> {
    match scope {
        "reference" => Some(format!("{BASE}/reference/")),
        "accounts" => Some(format!("{BASE}/aisp/")),
        "payments" => Some(format!("{BASE}/pisp/")),
        _ => None,
    }
}

/// Readiness of sandbox app `app_id` for `scopes`, as of `now`.
pub async fn assess(
    state: &AppState,
    app_id: &str,
    scopes: &[String],
    now: i64,
) -> Result<Readiness> {
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT method, endpoint, status, COUNT(*), MAX(at) FROM request_log \
         WHERE app_id = $1 AND at >= $2 GROUP BY method, endpoint, status",
    )
    .bind(app_id)
    .bind(now - WINDOW_DAYS * 86_400)
    .fetch_all(&state.db.pool)
    .await?;
    let scopes = scopes
        .iter()
        .map(|scope| {
            let Some(prefix) = prefix(scope) else {
                return ScopeReadiness {
                    scope: scope.clone(),
                    testable: false,
                    successful_calls: 0,
                    failed_calls: 0,
                    last_success: None,
                    ready: true,
                };
            };
            let mut ok = 0;
            let mut failed = 0;
            let mut last = None;
            for (_, endpoint, status, count, at) in &rows {
                if !endpoint.starts_with(&prefix) {
                    continue;
                }
                if *status < 400 {
                    ok += count;
                    last = last.max(Some(*at));
                } else if *status != 404 {
                    // A 404 is a path that is no endpoint (a typo the developer sees
                    // in the request log), not a failed call of the scope's API.
                    failed += count;
                }
            }
            let mut readiness = ScopeReadiness {
                scope: scope.clone(),
                testable: true,
                successful_calls: ok,
                failed_calls: failed,
                last_success: last,
                ready: false,
            };
            readiness.ready = ok >= MIN_SUCCESSES && readiness.error_rate() <= MAX_ERROR_RATE;
            readiness
        })
        .collect();
    // The flows count only when they completed (issue 18 item 19): an account-access
    // consent a test customer authorised (a created one, or one the customer refused,
    // proves nothing), and a domestic payment the sandbox accepted (a rejected one
    // never left the account; an idempotent replay creates no second payment, and
    // every payment needs an `x-idempotency-key`).
    let since = now - WINDOW_DAYS * 86_400;
    let authorised: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ob_consents WHERE app_id = $1 AND kind = 'account-access' \
         AND customer IS NOT NULL AND status IN ('Authorised', 'Revoked') AND status_updated_at >= $2",
    )
    .bind(app_id)
    .bind(since)
    .fetch_one(&state.db.pool)
    .await?;
    let paid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sandbox_payments WHERE app_id = $1 AND outcome = 'accepted' AND created_at >= $2",
    )
    .bind(app_id)
    .bind(since)
    .fetch_one(&state.db.pool)
    .await?;
    Ok(Readiness {
        scopes,
        account_consent: authorised > 0,
        payment_with_idempotency_key: paid > 0,
    })
}
