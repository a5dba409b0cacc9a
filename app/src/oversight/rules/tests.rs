//! Each rule on synthetic series: it fires at its threshold, not just below it, and
//! repeated evaluations of one condition give one group key.

#![allow(clippy::expect_used)]

use super::*;

const NOW: i64 = 1_800_000_000; // a whole minute

fn config(id: &str) -> RuleConfig {
    RuleConfig::default_for(def(id).expect("a rule"))
}

fn client() -> ClientFacts {
    ClientFacts {
        app_id: "app_1".into(),
        org_id: "org_1".into(),
        name: "Budget sync".into(),
        environment: "production".into(),
        scopes: vec!["accounts".into()],
        first_seen_at: Some(NOW - 30 * 86_400),
        ..ClientFacts::default()
    }
}

fn minute(ago: i64) -> MinuteFacts {
    MinuteFacts {
        at: NOW - ago * 60,
        calls: 10,
        ..MinuteFacts::default()
    }
}

fn fired(id: &str, c: &ClientFacts) -> Vec<Finding> {
    evaluate(id, &config(id), c, NOW)
}

#[test]
fn auth_failures_at_the_threshold_not_below() {
    let mut c = client();
    c.minutes = (1..=5)
        .map(|ago| MinuteFacts {
            auth_failures: 2,
            ..minute(ago)
        })
        .collect();
    let found = fired("auth_failures", &c);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].group_key, "auth_failures:app_1");
    assert_eq!(found[0].evidence["failures"], 10);
    c.minutes[0].auth_failures = 1; // 9 in the window
    assert!(fired("auth_failures", &c).is_empty());
    // Failures older than the window do not count.
    c.minutes[0].at = NOW - 6 * 60;
    c.minutes[0].auth_failures = 50;
    assert!(fired("auth_failures", &c).is_empty());
}

#[test]
fn auth_failures_from_one_source_across_clients() {
    let mut a = client();
    let mut b = client();
    b.app_id = "app_2".into();
    for (c, failures) in [(&mut a, 6), (&mut b, 4)] {
        c.sources = vec![SourceFacts {
            at: NOW - 60,
            source: "198.51.100.9".into(),
            calls: failures,
            failures,
        }];
    }
    let found = auth_failures_by_source(&config("auth_failures"), &[a.clone(), b.clone()], NOW);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].group_key, "auth_failures:source:198.51.100.9");
    b.sources[0].failures = 3;
    assert!(auth_failures_by_source(&config("auth_failures"), &[a.clone(), b], NOW).is_empty());
    // One client alone: a source guessing its secret is still the source's alert
    // (failed authentications never count against the client, review L13).
    a.sources[0].failures = 10;
    let found = auth_failures_by_source(&config("auth_failures"), &[a.clone()], NOW);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].app_id, None);
    assert_eq!(found[0].org_id, None);
    a.sources[0].failures = 9;
    assert!(auth_failures_by_source(&config("auth_failures"), &[a], NOW).is_empty());
}

#[test]
fn traffic_spike_against_the_baseline_and_the_declared_peak() {
    let mut c = client();
    c.baseline_hours = vec![600, 650, 700, 600, 0, 620, 640]; // median 620
                                                              // 5 minutes × 40 calls = 2,400 an hour: above 3 × 620 = 1,860 and the floor.
    c.minutes = (1..=5)
        .map(|ago| MinuteFacts {
            calls: 40,
            ..minute(ago)
        })
        .collect();
    let found = fired("traffic_spike", &c);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].evidence["baseline_median_per_hour"], 620);
    // 31 a minute = 1,860 an hour: exactly 3×, not more.
    for m in &mut c.minutes {
        m.calls = 31;
    }
    assert!(fired("traffic_spike", &c).is_empty());
    // Below the floor, whatever the baseline.
    c.baseline_hours = vec![0; 7];
    for m in &mut c.minutes {
        m.calls = 10; // 600 an hour = the floor, not above
    }
    assert!(fired("traffic_spike", &c).is_empty());
    // The declared peak: 5 a second declared, 6 seen.
    c.declared_peak_per_second = Some(5);
    c.minutes[2].peak_per_second = 5;
    assert!(fired("traffic_spike", &c).is_empty());
    c.minutes[2].peak_per_second = 6;
    let found = fired("traffic_spike", &c);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].summary.contains("declared peak of 5"),
        "{}",
        found[0].summary
    );
}

#[test]
fn enumeration_needs_misses_and_distinct_paths() {
    let mut c = client();
    c.minutes = (1..=2)
        .map(|ago| MinuteFacts {
            not_found_or_forbidden: 10,
            ..minute(ago)
        })
        .collect();
    c.distinct_missing_paths = vec![(NOW - 60, 6), (NOW - 120, 4)];
    assert_eq!(fired("enumeration", &c).len(), 1);
    c.distinct_missing_paths[0].1 = 5; // 9 distinct
    assert!(fired("enumeration", &c).is_empty());
    c.distinct_missing_paths[0].1 = 6;
    c.minutes[0].not_found_or_forbidden = 9; // 19 misses
    assert!(fired("enumeration", &c).is_empty());
}

#[test]
fn first_use_of_an_endpoint_after_some_history() {
    let mut c = client();
    c.new_endpoints = vec![("GET /x/{id}".into(), NOW - 120)];
    let found = fired("new_endpoint", &c);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].group_key, "new_endpoint:app_1:GET /x/{id}");
    // A client younger than its history requirement: every call is a first.
    c.first_seen_at = Some(NOW - 3_600);
    assert!(fired("new_endpoint", &c).is_empty());
}

#[test]
fn calls_outside_the_scopes() {
    let mut c = client();
    assert!(fired("scope_not_held", &c).is_empty());
    c.outside_scopes = vec![(
        NOW - 60,
        "POST /pisp/domestic-payments".into(),
        "payments".into(),
        1,
    )];
    let found = fired("scope_not_held", &c);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].evidence["scopes"][0], "payments");
}

#[test]
fn allowlist_misses_of_production_clients() {
    let mut c = client();
    c.allowlist = vec!["203.0.113.0/24".parse().expect("a network")];
    c.minutes = vec![MinuteFacts {
        allowlist_refusals: 1,
        ..minute(1)
    }];
    c.sources = vec![SourceFacts {
        at: NOW - 60,
        source: "198.51.100.7".into(),
        calls: 1,
        failures: 0,
    }];
    let found = fired("allowlist_miss", &c);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].evidence["sources"][0], "198.51.100.7");
    c.minutes[0].allowlist_refusals = 0;
    assert!(fired("allowlist_miss", &c).is_empty());
    c.minutes[0].allowlist_refusals = 1;
    c.environment = "sandbox".into();
    assert!(fired("allowlist_miss", &c).is_empty());
}

#[test]
fn a_new_network_after_others() {
    let mut c = client();
    c.new_networks = vec![("198.51.100.0/24".into(), NOW - 60)];
    assert!(
        fired("new_network", &c).is_empty(),
        "the first network of all is no surprise"
    );
    c.older_networks = true;
    assert_eq!(fired("new_network", &c).len(), 1);
}

#[test]
fn sustained_rate_limiting() {
    let mut c = client();
    c.minutes = (1..=5)
        .map(|ago| MinuteFacts {
            rate_limited: if ago <= 3 { 5 } else { 0 },
            ..minute(ago)
        })
        .collect();
    assert_eq!(fired("rate_limit_saturation", &c).len(), 1);
    c.minutes[0].rate_limited = 4;
    assert!(fired("rate_limit_saturation", &c).is_empty());
}

#[test]
fn repeats_group_under_one_key_and_disabled_rules_are_silent() {
    let mut c = client();
    c.minutes = (1..=5)
        .map(|ago| MinuteFacts {
            auth_failures: 3,
            ..minute(ago)
        })
        .collect();
    let first = fired("auth_failures", &c);
    let later = evaluate("auth_failures", &config("auth_failures"), &c, NOW + 60);
    assert_eq!(first[0].group_key, later[0].group_key);
    let mut off = config("auth_failures");
    off.enabled = false;
    assert!(evaluate("auth_failures", &off, &c, NOW).is_empty());
}

#[test]
fn the_facts_span_the_longest_enabled_window() {
    let mut configs: Vec<RuleConfig> = RULES.iter().map(RuleConfig::default_for).collect();
    assert_eq!(
        span_minutes(&configs),
        5,
        "the defaults look back 5 minutes"
    );
    let saturation = configs
        .iter()
        .position(|c| c.get("minutes") > 0)
        .expect("rate-limit saturation");
    configs[saturation].params.insert("minutes".into(), 12);
    assert_eq!(span_minutes(&configs), 12, "12 sustained minutes");
    let widest = configs
        .iter()
        .position(|c| c.get("minutes") == 0 && c.get("window_minutes") > 0)
        .expect("another windowed rule");
    configs[widest].params.insert("window_minutes".into(), 45);
    assert_eq!(span_minutes(&configs), 45);
    configs[widest].enabled = false;
    assert_eq!(span_minutes(&configs), 12, "a disabled rule reads nothing");
    for c in &mut configs {
        c.enabled = false;
    }
    assert_eq!(span_minutes(&configs), 1);
}

#[test]
fn calls_from_outside_the_allowed_countries_per_country() {
    let mut c = client();
    let source = |at: i64, source: &str, calls: i64, failures: i64| SourceFacts {
        at,
        source: source.into(),
        calls,
        failures,
    };
    // No constraint: nothing, whatever the sources.
    c.sources = vec![source(NOW - 60, "8.8.8.8", 3, 0)];
    c.source_countries
        .insert("8.8.8.8".into(), Some("US".into()));
    assert!(fired("unexpected_origin", &c).is_empty());
    // GB only: the US calls fire, once per country; failed authentications and
    // addresses of no known country do not count.
    c.allowed_countries = vec!["GB".into()];
    c.sources.push(source(NOW - 120, "8.8.4.4", 2, 0));
    c.sources.push(source(NOW - 60, "81.2.69.142", 5, 0));
    c.sources.push(source(NOW - 60, "1.1.1.1", 4, 4));
    c.sources.push(source(NOW - 60, "10.0.0.1", 4, 0));
    c.source_countries
        .insert("8.8.4.4".into(), Some("US".into()));
    c.source_countries
        .insert("81.2.69.142".into(), Some("GB".into()));
    c.source_countries
        .insert("1.1.1.1".into(), Some("AU".into()));
    c.source_countries.insert("10.0.0.1".into(), None);
    let found = fired("unexpected_origin", &c);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].group_key, "unexpected_origin:app_1:US");
    assert_eq!(found[0].evidence["calls"], 5);
    assert_eq!(found[0].latest_at, NOW - 60);
    // Outside the window: nothing.
    c.sources = vec![source(NOW - 3_600, "8.8.8.8", 3, 0)];
    assert!(fired("unexpected_origin", &c).is_empty());
}
