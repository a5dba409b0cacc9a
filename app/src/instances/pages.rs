//! The instances page.

use leptos::prelude::*;

use super::Instance;
use crate::platform::time::when;

/// What the page says of the rate limits.
pub struct Limits {
    pub shared: bool,
    pub live: u32,
    pub degraded_since: Option<i64>,
}

pub fn list(instances: &[Instance], this: &str, now: i64, limits: &Limits) -> AnyView {
    let rows = instances
        .iter()
        .map(|i| {
            let name = if i.id == this {
                format!("{} (this one)", i.id)
            } else {
                i.id.clone()
            };
            let jobs = if i.jobs.is_empty() {
                "none".to_string()
            } else {
                i.jobs.join(", ")
            };
            view! {
                <tr>
                    <td><code>{name}</code></td>
                    <td>{i.state(now)}</td>
                    <td>{i.version.clone()}</td>
                    <td>{i.address.clone()}</td>
                    <td>{when(i.started_at)}</td>
                    <td>{when(i.last_beat_at)}</td>
                    <td>{i.cache_generation}</td>
                    <td>{jobs}</td>
                </tr>
            }
        })
        .collect_view();
    let sharing = if limits.shared {
        format!(
            "Rate limits are shared through the database by the {} live instance(s): together they never admit more than a limit.",
            limits.live
        )
    } else {
        "Rate limits are counted in this process (SQLite: one instance).".to_string()
    };
    let degraded = limits.degraded_since.map(|since| {
        view! {
            <p class="notice" role="alert">{format!(
                "The database has not answered the rate limiter since {}: this instance admits at most its share of each limit until it does.",
                when(since)
            )}</p>
        }
    });
    view! {
        <p>{sharing}</p>
        {degraded}
        <table id="instances">
            <caption class="visually-hidden">"Instances seen in the last day, newest first"</caption>
            <thead><tr>
                <th scope="col">"Instance"</th><th scope="col">"State"</th><th scope="col">"Version"</th>
                <th scope="col">"Address"</th><th scope="col">"Started"</th><th scope="col">"Last beat"</th>
                <th scope="col">"Cache generation"</th><th scope="col">"Jobs held"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
