//! Repeated security events from one source, aggregated before they reach the audit
//! trail, so that forged requests cannot grow it at will (review finding M6).
//!
//! Per (source address, event, class) a window of `WINDOW` seconds (the class tells
//! kinds of one event apart: a CSRF refusal's reason, a client authentication's
//! method): the first event of a
//! window is audited at once, the rest are counted. When the window has closed, the
//! next event from that source starts a new window, and the closed window's count is
//! audited as one summary event (`<action>_repeated`); the per-instance flush every
//! minute audits the windows nobody restarted. Beyond `MAX_SOURCES` sources tracked
//! at once, new sources share one overflow window (source `*`), and an IPv6 source
//! counts as its /64 (what one subscriber gets), so an attacker with many addresses
//! costs a bounded number of events a minute, not one per request.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::context::ClientInfo;
use super::error::Result;
use super::state::AppState;

/// The aggregation window, in seconds.
pub const WINDOW: i64 = 60;
/// Sources tracked at once; beyond it new sources share the overflow window.
const MAX_SOURCES: usize = 10_000;
/// The source of the shared overflow window.
pub const OVERFLOW: &str = "*";

/// A window's count of repeats, with the first event's details.
#[derive(Debug)]
pub struct Window {
    pub started: i64,
    pub repeated: u64,
    pub first: Value,
}

/// What to do with one event.
#[derive(Debug)]
pub enum Seen {
    /// The first of its window: audit it now.
    First,
    /// A repeat inside the window: counted only.
    Repeat,
    /// The first of a new window for a source whose previous window closed with
    /// repeats: audit it now, and the closed window's summary.
    Restarted(Window),
}

type Key = (String, &'static str, &'static str);

/// The windows of one instance (each instance aggregates what it sees).
#[derive(Default)]
pub struct Repeats(Mutex<HashMap<Key, Window>>);

impl Repeats {
    /// Counts one `action` of `class` from `source` at `now`; `first` describes it.
    pub fn see(
        &self,
        source: &str,
        action: &'static str,
        class: &'static str,
        first: Value,
        now: i64,
    ) -> Seen {
        let Ok(mut map) = self.0.lock() else {
            return Seen::First;
        };
        let full = map.len() >= MAX_SOURCES;
        let mut key = (source_key(source), action, class);
        if full && !map.contains_key(&key) {
            key = (OVERFLOW.to_string(), action, class);
        }
        let fresh = Window {
            started: now,
            repeated: 0,
            first,
        };
        match map.get_mut(&key) {
            Some(window) if now - window.started < WINDOW => {
                window.repeated += 1;
                Seen::Repeat
            }
            Some(window) => {
                let closed = std::mem::replace(window, fresh);
                if closed.repeated > 0 {
                    Seen::Restarted(closed)
                } else {
                    Seen::First
                }
            }
            None => {
                map.insert(key, fresh);
                Seen::First
            }
        }
    }

    /// Repeats of `action` counted in windows not yet audited (the operations view,
    /// tests).
    pub fn pending(&self, action: &str) -> u64 {
        self.0.lock().map_or(0, |map| {
            map.iter()
                .filter(|((_, a, _), _)| *a == action)
                .map(|(_, w)| w.repeated)
                .sum()
        })
    }

    /// Takes the windows closed at `now`.
    fn take_closed(&self, now: i64) -> Vec<(Key, Window)> {
        let Ok(mut map) = self.0.lock() else {
            return Vec::new();
        };
        let keys: Vec<Key> = map
            .iter()
            .filter(|(_, w)| now - w.started >= WINDOW)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| map.remove(&k).map(|w| (k, w)))
            .collect()
    }
}

/// The source a window is kept for: an IPv6 address by its /64, anything else as it
/// is (an IPv4 address, or a caller-chosen key such as "address client").
pub fn source_key(source: &str) -> String {
    let (address, rest) = source.split_once(' ').unwrap_or((source, ""));
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            let prefix = format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]);
            if rest.is_empty() {
                prefix
            } else {
                format!("{prefix} {rest}")
            }
        }
        _ => source.to_string(),
    }
}

/// Audits the summary of a closed window that saw repeats, against the organisation
/// and resource its first event named (`org_id`, `app_id` in `first`), if any.
async fn record_summary(
    state: &AppState,
    source: &str,
    action: &str,
    window: &Window,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    // The address, without the key's other parts ("address client").
    let client = ClientInfo {
        ip: source.split(' ').next().unwrap_or(source).to_string(),
        user_agent: String::new(),
    };
    let action = format!("{action}_repeated");
    let mut event =
        crate::platform::audit::Event::new(crate::platform::audit::Actor::anonymous(), &action)
            .client(&client)
            .outcome("failure")
            .details(json!({
                "repeated": window.repeated, "first": window.first,
                "window_started_at": window.started, "window_seconds": WINDOW,
            }));
    let org = window.first.get("org_id").and_then(Value::as_str);
    let app = window.first.get("app_id").and_then(Value::as_str);
    if let Some(org) = org {
        event = event.org(Some(org));
    }
    if let Some(app) = app {
        event = event.resource("app", app);
    }
    crate::platform::audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Counts one event (as [`Repeats::see`]) and audits the summary of the window it
/// closed, if any. True when the caller audits this event now (the first of its
/// window); false for a repeat, which is only counted.
pub async fn admit(
    state: &AppState,
    source: &str,
    action: &'static str,
    class: &'static str,
    first: Value,
) -> Result<bool> {
    match state
        .repeats
        .see(source, action, class, first, state.clock.now())
    {
        Seen::Repeat => Ok(false),
        Seen::First => Ok(true),
        Seen::Restarted(closed) => {
            record_summary(state, source, action, &closed).await?;
            Ok(true)
        }
    }
}

/// Audits one summary event per closed window that saw repeats (each instance,
/// every minute). The number written.
pub async fn flush(state: &AppState) -> Result<usize> {
    flush_until(state, state.clock.now()).await
}

/// At a clean stop: audits every window's repeats so far, closed or not, since
/// nothing in this instance's memory outlives it.
pub async fn flush_all(state: &AppState) -> Result<usize> {
    flush_until(state, i64::MAX).await
}

async fn flush_until(state: &AppState, at: i64) -> Result<usize> {
    let mut written = 0;
    for ((source, action, _), window) in state.repeats.take_closed(at) {
        if window.repeated > 0 {
            record_summary(state, &source, action, &window).await?;
            written += 1;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_window_is_restarted_with_its_summary() {
        let repeats = Repeats::default();
        let a = "203.0.113.7";
        assert!(matches!(repeats.see(a, "x", "c", json!(1), 0), Seen::First));
        assert!(matches!(
            repeats.see(a, "x", "c", json!(2), 10),
            Seen::Repeat
        ));
        assert!(matches!(
            repeats.see(a, "x", "c", json!(3), 59),
            Seen::Repeat
        ));
        match repeats.see(a, "x", "c", json!(4), 61) {
            Seen::Restarted(closed) => {
                assert_eq!(closed.repeated, 2);
                assert_eq!(closed.first, json!(1));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            repeats.see(a, "x", "c", json!(5), 70),
            Seen::Repeat
        ));
        // A window without repeats restarts quietly.
        assert!(matches!(
            repeats.see("b", "x", "c", json!(1), 0),
            Seen::First
        ));
        assert!(matches!(
            repeats.see("b", "x", "c", json!(1), 100),
            Seen::First
        ));
    }

    #[test]
    fn an_ipv6_source_counts_as_its_64() {
        assert_eq!(source_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            source_key("2001:db8:1:2:bbbb::9 cli_x"),
            "2001:db8:1:2::/64 cli_x"
        );
        assert_eq!(source_key("203.0.113.7"), "203.0.113.7");
        let repeats = Repeats::default();
        assert!(matches!(
            repeats.see("2001:db8:1:2::1", "x", "c", json!(1), 0),
            Seen::First
        ));
        assert!(matches!(
            repeats.see("2001:db8:1:2::ffff", "x", "c", json!(2), 1),
            Seen::Repeat
        ));
    }

    #[test]
    fn beyond_the_tracked_sources_new_ones_share_one_window() {
        let repeats = Repeats::default();
        for n in 0..MAX_SOURCES {
            assert!(matches!(
                repeats.see(&format!("s{n}"), "x", "c", json!(n), 0),
                Seen::First
            ));
        }
        assert!(matches!(
            repeats.see("new-1", "x", "c", json!(0), 1),
            Seen::First
        ));
        assert!(matches!(
            repeats.see("new-2", "x", "c", json!(0), 2),
            Seen::Repeat
        ));
        assert!(matches!(
            repeats.see("new-3", "x", "c", json!(0), 3),
            Seen::Repeat
        ));
        let closed = repeats.take_closed(100);
        let overflow = closed.iter().find(|((s, _, _), _)| s == OVERFLOW);
        assert_eq!(overflow.map(|(_, w)| w.repeated), Some(2));
    }
}
