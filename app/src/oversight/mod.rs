//! Oversight: what each partner's software actually does (usage series rolled up from
//! the request log, charts), anomaly alerts over those series with escalation, and the
//! request log's retention.
//!
//! - `rollup`: the scheduler's roll-up of the request log into minute and hour
//!   buckets, once per range whatever the number of instances;
//! - `prune`: the retention of the request log and of the buckets, in small batches;
//! - `series`: reading the buckets for a range (calls, errors, latency percentiles,
//!   endpoints, scopes, sources) and their CSV;
//! - `chart`: server-rendered, accessible SVG charts;
//! - `rules`: the anomaly rules, pure functions over bucket series;
//! - `alerts`: evaluating the rules, grouping repeats, escalation, acknowledgement;
//! - handlers and pages for partners (their apps) and the bank (clients,
//!   organisations, the overview, alerts and rule settings).

pub mod alert_chart;
pub mod alert_handlers;
pub mod alert_life;
pub mod alert_pages;
pub mod alerts;
pub mod chart;
pub mod demo;
pub mod prune;
pub mod rollup;
pub mod rules;
pub mod series;
pub mod usage_handlers;
pub mod usage_pages;

use crate::sandbox::api::BASE;

/// The minute and hour granularities of the buckets, in seconds.
pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3_600;

/// Path segments of the sandbox API that are words, not ids. Every other segment
/// becomes `{id}`, so the number of endpoint templates stays bounded whatever a
/// client sends (an enumeration of ids is one template with many misses).
const WORDS: &[&str] = &[
    "aisp",
    "pisp",
    "cbpii",
    "reference",
    "accounts",
    "account-access-consents",
    "balances",
    "beneficiaries",
    "direct-debits",
    "offers",
    "parties",
    "party",
    "product",
    "products",
    "scheduled-payments",
    "standing-orders",
    "statements",
    "transactions",
    "file",
    "domestic-payment-consents",
    "domestic-payments",
    "funds-confirmation",
    "funds-confirmation-consents",
    "funds-confirmations",
    "payment-details",
    "branches",
    "fx-rates",
];

/// The endpoint template of a logged path: ids replaced by `{id}`. OAuth endpoints
/// (`/oauth/token`, `/production/oauth/token`) are kept as they are.
pub fn template(endpoint: &str) -> String {
    let Some(rest) = endpoint.strip_prefix(BASE) else {
        if endpoint.contains("/oauth/") {
            return endpoint.to_string();
        }
        return "(other)".to_string();
    };
    let mut out = String::from(BASE);
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if WORDS.contains(&segment) {
            out.push_str(segment);
        } else {
            out.push_str("{id}");
        }
    }
    out
}

/// The source network of an address: its /24 (IPv4) or /48 (IPv6).
pub fn network_of(source: &str) -> Option<String> {
    let ip: std::net::IpAddr = source.parse().ok()?;
    let prefix = if ip.is_ipv4() { 24 } else { 48 };
    ipnet::IpNet::new(ip, prefix)
        .ok()
        .map(|net| net.trunc().to_string())
}

/// Error codes of a client's own failed attempts, made after it authenticated (a
/// grant it does not hold, a bad DPoP proof): they count against the client.
pub const AUTH_FAILURES: &[&str] = &["invalid_grant", "invalid_dpop_proof"];

/// The error code of a failed client authentication. Anyone who knows a client id can
/// cause one, so it counts against the source address, never against the client: an
/// outsider must not open alerts that mail a partner's admins and invite the bank to
/// suspend its client (review finding L13).
pub const UNAUTHENTICATED: &[&str] = &["invalid_client"];

/// `AUTH_FAILURES` as an SQL list (`'invalid_grant', …`) for `error IN (…)`.
pub fn auth_failures_sql() -> String {
    sql_list(AUTH_FAILURES)
}

/// `UNAUTHENTICATED` as an SQL list for `error IN (…)`.
pub fn unauthenticated_sql() -> String {
    sql_list(UNAUTHENTICATED)
}

fn sql_list(codes: &[&str]) -> String {
    codes
        .iter()
        .map(|code| format!("'{code}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Oversight's periodic jobs: the usage roll-up with the alert rules, and pruning.
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    use crate::platform::state::AppState;
    vec![
        crate::job!("usage_rollup", 60, |state: AppState, now| async move {
            let rolled = rollup::run(&state.db, now, Some(&state.metrics.partner_calls)).await?;
            // The rules read complete minutes: up to the roll-up's watermark.
            let alerts = alerts::evaluate(&state, rolled.minutes_until).await?;
            Ok(serde_json::json!({ "rollup": rolled.summary, "alerts": alerts }))
        }),
        crate::job!("usage_prune", 300, |state: AppState, now| async move {
            prune::run(&state.db, &state.settings, now).await
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_bound_the_endpoints() {
        assert_eq!(
            template(&format!("{BASE}/aisp/accounts/acc_123/balances")),
            format!("{BASE}/aisp/accounts/{{id}}/balances")
        );
        assert_eq!(
            template(&format!("{BASE}/aisp/accounts/guess-1")),
            template(&format!("{BASE}/aisp/accounts/guess-2"))
        );
        assert_eq!(template("/oauth/token"), "/oauth/token");
        assert_eq!(template("/anything"), "(other)");
    }

    #[test]
    fn networks() {
        assert_eq!(network_of("203.0.113.7").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(
            network_of("2001:db8:1:2::9").as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(network_of("not an address"), None);
    }
}
