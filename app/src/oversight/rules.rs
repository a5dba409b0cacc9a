//! The anomaly rules: pure functions from a client's recent usage (`ClientFacts`,
//! read from the buckets by `alerts::facts`) and the rule's settings to findings.
//! Each rule has thresholds a bank admin can change (`alert_rules`) and defaults.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use super::MINUTE;

/// A number a rule is tuned by: its name, label, default and allowed range.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub label: &'static str,
    pub default: i64,
    pub min: i64,
    pub max: i64,
}

const fn param(name: &'static str, label: &'static str, default: i64, min: i64, max: i64) -> Param {
    Param {
        name,
        label,
        default,
        min,
        max,
    }
}

/// A rule as shipped.
#[derive(Clone, Copy, Debug)]
pub struct RuleDef {
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub severity: &'static str,
    pub params: &'static [Param],
}

const WINDOW: Param = param("window_minutes", "Window (minutes)", 5, 1, 60);

pub const RULES: &[RuleDef] = &[
    RuleDef {
        id: "auth_failures",
        title: "Authentication-failure burst",
        description: "Many invalid_grant answers or bad DPoP proofs to one client after it authenticated; or many failed client authentications (invalid_client) from one source address, raised on the address: anyone who knows a client id can fail it, so the client is not blamed.",
        severity: "high",
        params: &[param("threshold", "Failures", 10, 1, 100_000), WINDOW],
    },
    RuleDef {
        id: "traffic_spike",
        title: "Traffic spike",
        description: "Calls above a multiple of the same hour's median over the previous 7 days (and above a floor), or a second above the peak the partner declared.",
        severity: "medium",
        params: &[
            param("factor", "Times the baseline", 3, 2, 100),
            param("floor_per_hour", "Floor (calls an hour)", 600, 1, 10_000_000),
            WINDOW,
        ],
    },
    RuleDef {
        id: "enumeration",
        title: "Enumeration (403/404 burst)",
        description: "Many 403 or 404 answers for many distinct resource ids: someone is guessing accounts or consents.",
        severity: "high",
        params: &[
            param("threshold", "403/404 answers", 20, 1, 100_000),
            param("distinct_paths", "Distinct paths", 10, 1, 100_000),
            WINDOW,
        ],
    },
    RuleDef {
        id: "new_endpoint",
        title: "First use of an endpoint",
        description: "A client with some history calls an endpoint it never called before.",
        severity: "low",
        params: &[param("min_history_days", "Client history (days)", 1, 0, 365)],
    },
    RuleDef {
        id: "scope_not_held",
        title: "Calls outside the client's scopes",
        description: "Calls to APIs needing a scope the client does not hold.",
        severity: "medium",
        params: &[param("threshold", "Calls", 1, 1, 100_000), WINDOW],
    },
    RuleDef {
        id: "allowlist_miss",
        title: "Call from outside the allow-list",
        description: "A production client's token requests from an address outside its IP allow-list (refused; the attempt is the alert).",
        severity: "high",
        params: &[param("threshold", "Attempts", 1, 1, 100_000), WINDOW],
    },
    RuleDef {
        id: "new_network",
        title: "New source network",
        description: "A production client calls from a /24 (IPv4) or /48 (IPv6) it never used before.",
        severity: "medium",
        params: &[param("min_history_days", "Client history (days)", 1, 0, 365)],
    },
    RuleDef {
        id: "rate_limit_saturation",
        title: "Rate-limit saturation",
        description: "Sustained 429 answers: at least a number of them in each of several minutes.",
        severity: "low",
        params: &[
            param("per_minute", "429s a minute", 5, 1, 100_000),
            param("minutes", "Minutes", 3, 1, 60),
            WINDOW,
        ],
    },
    RuleDef {
        id: "unexpected_origin",
        title: "Call from outside the allowed countries",
        description: "Calls or token requests from a country outside those the client may call from (its production request, or the bank, set them), looked up in the country database (--geoip-db). Addresses the database does not know are not flagged: a country is never guessed.",
        severity: "high",
        params: &[param("threshold", "Calls", 1, 1, 100_000), WINDOW],
    },
    RuleDef {
        id: "sla_breach",
        title: "Partner's service level missed",
        description: "A partner took longer than its commitment for its tier (Service levels): to acknowledge an incident, to answer an access review, or to rotate a credential after a warning. One alert per case, raised by the sla_breaches job.",
        severity: "medium",
        params: &[],
    },
    RuleDef {
        id: "limiter_degraded",
        title: "Rate limits counted in memory",
        description: "An instance could not reach the database for the shared rate limits (no answer in 500 ms) and held each limit to its own share in memory until it could; raised when the database answers again, one alert per period and instance.",
        severity: "high",
        params: &[],
    },
];

pub fn def(id: &str) -> Option<&'static RuleDef> {
    RULES.iter().find(|r| r.id == id)
}

/// A rule's settings in effect.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RuleConfig {
    pub enabled: bool,
    pub severity: String,
    pub params: BTreeMap<String, i64>,
}

impl RuleConfig {
    pub fn default_for(rule: &RuleDef) -> Self {
        Self {
            enabled: true,
            severity: rule.severity.to_string(),
            params: rule
                .params
                .iter()
                .map(|p| (p.name.to_string(), p.default))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> i64 {
        self.params.get(name).copied().unwrap_or_default()
    }
}

/// The most minutes any enabled rule looks back over the minute buckets (its window,
/// or the sustained minutes of rate-limit saturation): `alerts::facts` reads that
/// many minutes of buckets, not the whole hour. At least one, at most the hour.
pub fn span_minutes<'a>(configs: impl IntoIterator<Item = &'a RuleConfig>) -> i64 {
    configs
        .into_iter()
        .filter(|c| c.enabled)
        .map(|c| c.get("window_minutes").max(c.get("minutes")))
        .max()
        .unwrap_or(0)
        .clamp(1, 60)
}

/// One minute of a client's usage.
#[derive(Clone, Debug, Default)]
pub struct MinuteFacts {
    pub at: i64,
    pub calls: i64,
    pub auth_failures: i64,
    pub not_found_or_forbidden: i64,
    pub rate_limited: i64,
    pub allowlist_refusals: i64,
    pub peak_per_second: i64,
}

/// A source address's calls in one minute.
#[derive(Clone, Debug)]
pub struct SourceFacts {
    pub at: i64,
    pub source: String,
    pub calls: i64,
    /// Failed client authentications (`invalid_client`): the caller did not prove it
    /// holds the client's credential.
    pub failures: i64,
}

/// What the rules know of one client over the last hour.
#[derive(Clone, Debug, Default)]
pub struct ClientFacts {
    pub app_id: String,
    pub org_id: String,
    pub name: String,
    pub environment: String,
    pub scopes: Vec<String>,
    pub allowlist: Vec<ipnet::IpNet>,
    pub declared_peak_per_second: Option<i64>,
    /// The client's first bucket ever.
    pub first_seen_at: Option<i64>,
    /// The last hour's minutes, oldest first (minutes without calls absent).
    pub minutes: Vec<MinuteFacts>,
    pub sources: Vec<SourceFacts>,
    /// (method endpoint, first seen) for endpoint templates first called in the hour.
    pub new_endpoints: Vec<(String, i64)>,
    /// Calls in the hour to endpoints whose scope the client does not hold:
    /// (minute, method endpoint, scope, calls).
    pub outside_scopes: Vec<(i64, String, String, i64)>,
    /// (network, first seen) for networks first used in the hour.
    pub new_networks: Vec<(String, i64)>,
    /// Whether the client used any network before the hour.
    pub older_networks: bool,
    /// Distinct paths answered 403/404, per minute.
    pub distinct_missing_paths: Vec<(i64, i64)>,
    /// Calls in the same clock hour on each of the previous 7 days (0 when none).
    pub baseline_hours: Vec<i64>,
    /// The countries the client may call from (empty: anywhere).
    pub allowed_countries: Vec<String>,
    /// Each source's country, looked up in the country database (only for clients
    /// with allowed countries, only with a database; `None`: not known to it).
    pub source_countries: BTreeMap<String, Option<String>>,
}

/// What a rule found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub group_key: String,
    pub app_id: Option<String>,
    pub org_id: Option<String>,
    pub source: Option<String>,
    pub summary: String,
    pub thresholds: Value,
    pub evidence: Value,
    /// The start of the latest minute the finding rests on.
    pub latest_at: i64,
    /// The window the evidence covers: [from, to).
    pub window: (i64, i64),
}

fn in_window(at: i64, now: i64, minutes: i64) -> bool {
    at >= now - minutes * MINUTE && at < now
}

fn finding(
    rule: &'static str,
    client: &ClientFacts,
    summary: String,
    config: &RuleConfig,
    evidence: Value,
    latest_at: i64,
    window: (i64, i64),
) -> Finding {
    Finding {
        rule,
        group_key: format!("{rule}:{}", client.app_id),
        app_id: Some(client.app_id.clone()),
        org_id: Some(client.org_id.clone()),
        source: None,
        summary,
        thresholds: json!(config.params),
        evidence,
        latest_at,
        window,
    }
}

/// Calls from countries outside the client's allowed ones in the window: one
/// finding per country (a known country only).
fn unexpected_origin(
    client: &ClientFacts,
    config: &RuleConfig,
    from: i64,
    now: i64,
) -> Vec<Finding> {
    if client.allowed_countries.is_empty() {
        return Vec::new();
    }
    let mut by_country: BTreeMap<&str, (i64, Vec<&str>, i64)> = BTreeMap::new();
    for s in client.sources.iter().filter(|s| s.at >= from && s.at < now) {
        let Some(Some(country)) = client.source_countries.get(&s.source) else {
            continue;
        };
        if client.allowed_countries.contains(country) {
            continue;
        }
        // Failed client authentications prove nothing of the client: anyone who
        // knows its id can fail it from anywhere.
        let calls = s.calls - s.failures;
        if calls <= 0 {
            continue;
        }
        let entry = by_country.entry(country).or_insert((0, Vec::new(), s.at));
        entry.0 += calls;
        if !entry.1.contains(&s.source.as_str()) && entry.1.len() < 20 {
            entry.1.push(&s.source);
        }
        entry.2 = entry.2.max(s.at);
    }
    by_country
        .into_iter()
        .filter(|(_, (calls, _, _))| *calls >= config.get("threshold"))
        .map(|(country, (calls, sources, latest))| {
            let mut f = finding(
                "unexpected_origin",
                client,
                format!(
                    "{calls} calls and token requests from {country} ({}), outside the countries {} may call from ({}).",
                    sources.join(", "),
                    client.name,
                    client.allowed_countries.join(", ")
                ),
                config,
                json!({ "country": country, "calls": calls, "sources": sources, "allowed": client.allowed_countries }),
                latest,
                (from, now),
            );
            f.group_key = format!("unexpected_origin:{}:{country}", client.app_id);
            f
        })
        .collect()
}

fn sources_in(client: &ClientFacts, from: i64, to: i64) -> Vec<String> {
    let mut sources: Vec<String> = client
        .sources
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .map(|s| s.source.clone())
        .collect();
    sources.sort();
    sources.dedup();
    sources.truncate(20);
    sources
}

/// Applies rule `id` to `client`; `now` is the end of the last complete minute.
pub fn evaluate(id: &str, config: &RuleConfig, client: &ClientFacts, now: i64) -> Vec<Finding> {
    if !config.enabled {
        return Vec::new();
    }
    let window_minutes = config.get("window_minutes").max(1);
    let from = now - window_minutes * MINUTE;
    let recent: Vec<&MinuteFacts> = client
        .minutes
        .iter()
        .filter(|m| in_window(m.at, now, window_minutes))
        .collect();
    let latest = |f: &dyn Fn(&MinuteFacts) -> bool| {
        recent
            .iter()
            .filter(|m| f(m))
            .map(|m| m.at)
            .max()
            .unwrap_or(from)
    };
    match id {
        "auth_failures" => {
            let failures: i64 = recent.iter().map(|m| m.auth_failures).sum();
            let threshold = config.get("threshold");
            if failures < threshold {
                return Vec::new();
            }
            vec![finding(
                "auth_failures",
                client,
                format!("{failures} failed authentications of {} in {window_minutes} minutes (threshold {threshold}).", client.name),
                config,
                json!({ "failures": failures, "sources": sources_in(client, from, now) }),
                latest(&|m| m.auth_failures > 0),
                (from, now),
            )]
        }
        "traffic_spike" => traffic_spike(config, client, now, &recent, from),
        "enumeration" => {
            let misses: i64 = recent.iter().map(|m| m.not_found_or_forbidden).sum();
            let distinct: i64 = client
                .distinct_missing_paths
                .iter()
                .filter(|(at, _)| in_window(*at, now, window_minutes))
                .map(|(_, n)| n)
                .sum();
            if misses < config.get("threshold") || distinct < config.get("distinct_paths") {
                return Vec::new();
            }
            vec![finding(
                "enumeration",
                client,
                format!("{misses} answers 403/404 for {distinct} distinct paths in {window_minutes} minutes."),
                config,
                json!({ "answers_403_404": misses, "distinct_paths": distinct, "sources": sources_in(client, from, now) }),
                latest(&|m| m.not_found_or_forbidden > 0),
                (from, now),
            )]
        }
        "new_endpoint" => {
            let history = config.get("min_history_days") * 86_400;
            let Some(first) = client.first_seen_at else {
                return Vec::new();
            };
            client
                .new_endpoints
                .iter()
                .filter(|(_, seen)| *seen - first >= history && in_window(*seen, now, 60))
                .map(|(endpoint, seen)| {
                    let mut f = finding(
                        "new_endpoint",
                        client,
                        format!("{} called {endpoint} for the first time.", client.name),
                        config,
                        json!({ "endpoint": endpoint, "first_seen_at": seen }),
                        *seen,
                        (*seen, *seen + MINUTE),
                    );
                    f.group_key = format!("new_endpoint:{}:{endpoint}", client.app_id);
                    f
                })
                .collect()
        }
        "scope_not_held" => {
            let calls: Vec<&(i64, String, String, i64)> = client
                .outside_scopes
                .iter()
                .filter(|(at, ..)| in_window(*at, now, window_minutes))
                .collect();
            let total: i64 = calls.iter().map(|c| c.3).sum();
            if total < config.get("threshold") {
                return Vec::new();
            }
            let mut scopes: Vec<&str> = calls.iter().map(|c| c.2.as_str()).collect();
            scopes.sort();
            scopes.dedup();
            let endpoints: Vec<&str> = calls.iter().map(|c| c.1.as_str()).collect();
            vec![finding(
                "scope_not_held",
                client,
                format!(
                    "{total} calls needing scopes the client does not hold ({}).",
                    scopes.join(", ")
                ),
                config,
                json!({ "calls": total, "scopes": scopes, "endpoints": endpoints }),
                calls.iter().map(|c| c.0).max().unwrap_or(from),
                (from, now),
            )]
        }
        "allowlist_miss" => {
            if client.environment != "production" || client.allowlist.is_empty() {
                return Vec::new();
            }
            let attempts: i64 = recent.iter().map(|m| m.allowlist_refusals).sum();
            let outside: Vec<String> = sources_in(client, from, now)
                .into_iter()
                .filter(|s| {
                    s.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| !client.allowlist.iter().any(|net| net.contains(&ip)))
                })
                .collect();
            if attempts < config.get("threshold") || outside.is_empty() {
                return Vec::new();
            }
            vec![finding(
                "allowlist_miss",
                client,
                format!(
                    "{attempts} token requests from outside the allow-list ({}).",
                    outside.join(", ")
                ),
                config,
                json!({ "attempts": attempts, "sources": outside }),
                latest(&|m| m.allowlist_refusals > 0),
                (from, now),
            )]
        }
        "unexpected_origin" => unexpected_origin(client, config, from, now),
        "new_network" => {
            let history = config.get("min_history_days") * 86_400;
            let (Some(first), true) = (client.first_seen_at, client.older_networks) else {
                return Vec::new();
            };
            if client.environment != "production" {
                return Vec::new();
            }
            client
                .new_networks
                .iter()
                .filter(|(_, seen)| *seen - first >= history && in_window(*seen, now, 60))
                .map(|(network, seen)| {
                    let mut f = finding(
                        "new_network",
                        client,
                        format!("{} called from {network} for the first time.", client.name),
                        config,
                        json!({ "network": network, "first_seen_at": seen, "sources": sources_in(client, *seen, *seen + MINUTE) }),
                        *seen,
                        (*seen, *seen + MINUTE),
                    );
                    f.group_key = format!("new_network:{}:{network}", client.app_id);
                    f
                })
                .collect()
        }
        "rate_limit_saturation" => {
            let per_minute = config.get("per_minute");
            let saturated: Vec<&&MinuteFacts> = recent
                .iter()
                .filter(|m| m.rate_limited >= per_minute)
                .collect();
            let needed = config.get("minutes");
            if (saturated.len() as i64) < needed {
                return Vec::new();
            }
            let total: i64 = saturated.iter().map(|m| m.rate_limited).sum();
            vec![finding(
                "rate_limit_saturation",
                client,
                format!(
                    "{total} answers 429 over {} minutes (at least {per_minute} a minute).",
                    saturated.len()
                ),
                config,
                json!({ "answers_429": total, "saturated_minutes": saturated.len() }),
                saturated.iter().map(|m| m.at).max().unwrap_or(from),
                (from, now),
            )]
        }
        _ => Vec::new(),
    }
}

fn median(values: &[i64]) -> i64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => 0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn traffic_spike(
    config: &RuleConfig,
    client: &ClientFacts,
    now: i64,
    recent: &[&MinuteFacts],
    from: i64,
) -> Vec<Finding> {
    let window_minutes = config.get("window_minutes").max(1);
    let calls: i64 = recent.iter().map(|m| m.calls).sum();
    // The window's calls as an hourly rate.
    let per_hour = calls * 60 / window_minutes;
    let baseline = median(&client.baseline_hours);
    let factor = config.get("factor");
    let floor = config.get("floor_per_hour");
    let peak = recent.iter().map(|m| m.peak_per_second).max().unwrap_or(0);
    let latest = recent.iter().map(|m| m.at).max().unwrap_or(from);
    let mut reasons = Vec::new();
    if per_hour > floor && per_hour > factor * baseline {
        reasons.push(format!(
            "{per_hour} calls an hour against a median of {baseline} for this hour over the previous 7 days (more than {factor}x, above the floor of {floor})"
        ));
    }
    if let Some(declared) = client.declared_peak_per_second.filter(|d| *d > 0) {
        if peak > declared {
            reasons.push(format!(
                "{peak} calls in one second against a declared peak of {declared} a second"
            ));
        }
    }
    if reasons.is_empty() {
        return Vec::new();
    }
    vec![finding(
        "traffic_spike",
        client,
        format!("Traffic spike: {}.", reasons.join("; ")),
        config,
        json!({
            "calls_in_window": calls,
            "per_hour": per_hour,
            "baseline_median_per_hour": baseline,
            "baseline_hours": client.baseline_hours,
            "peak_per_second": peak,
            "declared_peak_per_second": client.declared_peak_per_second,
        }),
        latest,
        (from, now),
    )]
}

/// The source-address side of the authentication rule: one address failing client
/// authentication against one client or many (guessing a secret, credential
/// stuffing across clients). The alert is the address's: a failed authentication is
/// not the client's doing, so neither its organisation nor the client is named, the
/// partner is not mailed and nothing offers to suspend the client (review L13).
pub fn auth_failures_by_source(
    config: &RuleConfig,
    clients: &[ClientFacts],
    now: i64,
) -> Vec<Finding> {
    if !config.enabled {
        return Vec::new();
    }
    let window_minutes = config.get("window_minutes").max(1);
    let from = now - window_minutes * MINUTE;
    let mut by_source: BTreeMap<&str, (i64, Vec<&str>, i64)> = BTreeMap::new();
    for client in clients {
        for s in client
            .sources
            .iter()
            .filter(|s| s.failures > 0 && in_window(s.at, now, window_minutes))
        {
            let entry = by_source.entry(&s.source).or_insert((0, Vec::new(), from));
            entry.0 += s.failures;
            if !entry.1.contains(&client.app_id.as_str()) {
                entry.1.push(&client.app_id);
            }
            entry.2 = entry.2.max(s.at);
        }
    }
    let threshold = config.get("threshold");
    by_source
        .into_iter()
        .filter(|(_, (failures, _, _))| *failures >= threshold)
        .map(|(source, (failures, apps, latest))| Finding {
            rule: "auth_failures",
            group_key: format!("auth_failures:source:{source}"),
            app_id: None,
            org_id: None,
            source: Some(source.to_string()),
            summary: format!("{failures} failed client authentications from {source} against {} client(s) in {window_minutes} minutes.", apps.len()),
            thresholds: json!(config.params),
            evidence: json!({ "failures": failures, "clients": apps }),
            latest_at: latest,
            window: (from, now),
        })
        .collect()
}

#[cfg(test)]
mod tests;
