//! The usage pages: one client's or organisation's usage over a range (partners see
//! their own apps, the bank every client and organisation), and the bank's overview.

use leptos::prelude::*;

use super::alert_life::Alert;
use super::chart::{bar_chart, sparkline, time_chart, Series, TimeChart};
use super::series::{Range, Usage};
use crate::platform::format::thousands;
use crate::platform::time::display;

/// "per 15 minutes", "per hour", "per 6 hours", "per day": an axis title's unit.
pub fn per_step(step: i64) -> String {
    match step {
        86_400 => "per day".into(),
        3_600 => "per hour".into(),
        s if s % 3_600 == 0 => format!("per {} hours", s / 3_600),
        s => format!("per {} minutes", s / 60),
    }
}

fn percent(part: i64, total: i64) -> String {
    if total == 0 {
        "–".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / total as f64)
    }
}

fn ms(value: Option<f64>) -> String {
    value
        .map(|v| format!("≤ {v} ms"))
        .unwrap_or_else(|| "–".into())
}

/// The range links of a usage page at `base` (`?range=` is added).
fn ranges(base: &str, current: Range) -> AnyView {
    let links = Range::ALL
        .iter()
        .map(|r| {
            let href = format!("{base}?range={}", r.key());
            if *r == current {
                view! { <li><a href=href aria-current="page"><strong>{r.label()}</strong></a></li> }
                    .into_any()
            } else {
                view! { <li><a href=href>{r.label()}</a></li> }.into_any()
            }
        })
        .collect_view();
    view! { <nav aria-label="Time range" class="ranges"><ul>{links}</ul></nav> }.into_any()
}

/// The figures, charts and tables of `usage`; `base` is the page's path and `csv`
/// the path of its CSV download.
pub fn usage_section(name: &str, usage: &Usage, range: Range, base: &str, csv: &str) -> AnyView {
    let t = &usage.totals;
    let errors = t.client_errors + t.server_errors;
    let starts: Vec<i64> = usage.points.iter().map(|p| p.at).collect();
    let per = per_step(usage.step);
    let calls_series = [
        Series {
            name: "Calls",
            values: usage.points.iter().map(|p| Some(p.calls as f64)).collect(),
        },
        Series {
            name: "Client errors (4xx)",
            values: usage
                .points
                .iter()
                .map(|p| Some(p.client_errors as f64))
                .collect(),
        },
        Series {
            name: "Server errors (5xx)",
            values: usage
                .points
                .iter()
                .map(|p| Some(p.server_errors as f64))
                .collect(),
        },
    ];
    let calls_chart = time_chart(&TimeChart {
        id: "chart-calls",
        title: &format!("Calls and errors of {name}, last {}", range.label()),
        description: &format!(
            "{} calls, {} client errors and {} server errors in the last {}; the table below has every point.",
            t.calls, t.client_errors, t.server_errors, range.label()
        ),
        y_title: &format!("Calls {per}"),
        unit: "",
        starts: &starts,
        step: usage.step,
        series: &calls_series,
        threshold: None,
    });
    let latency_series = [
        Series {
            name: "p50",
            values: usage.points.iter().map(|p| p.p50_ms).collect(),
        },
        Series {
            name: "p95",
            values: usage.points.iter().map(|p| p.p95_ms).collect(),
        },
        Series {
            name: "p99",
            values: usage.points.iter().map(|p| p.p99_ms).collect(),
        },
    ];
    let latency_chart = time_chart(&TimeChart {
        id: "chart-latency",
        title: &format!("Latency of {name}, last {}", range.label()),
        description: &format!(
            "Median {}, 95th percentile {}, 99th percentile {} over the range; the table below has every point.",
            ms(t.p50_ms), ms(t.p95_ms), ms(t.p99_ms)
        ),
        y_title: "Latency (milliseconds)",
        unit: " ms",
        starts: &starts,
        step: usage.step,
        series: &latency_series,
        threshold: None,
    });
    let top: Vec<(String, i64)> = usage
        .endpoints
        .iter()
        .take(10)
        .map(|(e, c, _)| (e.clone(), *c))
        .collect();
    let endpoints_chart = bar_chart(
        "chart-endpoints",
        &format!("Top endpoints of {name}, last {}", range.label()),
        &format!("The {} most called endpoints; the table beside has the same numbers with their errors.", top.len()),
        &top,
    );
    let series_rows = usage
        .points
        .iter()
        .filter(|p| p.calls > 0)
        .map(|p| {
            view! {
                <tr>
                    <td>{display(p.at)}</td><td class="num">{thousands(p.calls)}</td><td class="num">{thousands(p.client_errors)}</td><td class="num">{thousands(p.server_errors)}</td>
                    <td>{ms(p.p50_ms)}</td><td>{ms(p.p95_ms)}</td><td>{ms(p.p99_ms)}</td><td>{p.peak_per_second}</td><td>{p.sources}</td>
                </tr>
            }
        })
        .collect_view();
    let endpoint_rows = usage
        .endpoints
        .iter()
        .map(|(e, calls, errors)| view! { <tr><td>{e.clone()}</td><td class="num">{thousands(*calls)}</td><td class="num">{thousands(*errors)}</td><td class="num">{percent(*errors, *calls)}</td></tr> })
        .collect_view();
    let scope_rows = usage
        .scopes
        .iter()
        .map(|(s, calls)| view! { <tr><td>{s.clone()}</td><td class="num">{thousands(*calls)}</td></tr> })
        .collect_view();
    let error_rows = usage
        .errors
        .iter()
        .map(|(status, code, calls)| view! { <tr><td>{*status}</td><td>{if code.is_empty() { "–".to_string() } else { code.clone() }}</td><td class="num">{thousands(*calls)}</td></tr> })
        .collect_view();
    let empty = (t.calls == 0).then(|| {
        view! { <p id="usage-empty">{format!("No calls in the last {}. Usage appears here a minute or two after the calls are made.", range.label())}</p> }
    });
    view! {
        {ranges(base, range)}
        {empty}
        <dl class="figures" id="usage-figures">
            <dt>"Calls"</dt><dd id="usage-calls">{thousands(t.calls)}</dd>
            <dt>"Error rate"</dt><dd>{percent(errors, t.calls)}</dd>
            <dt>"Latency p50 / p95 / p99"</dt><dd>{format!("{} / {} / {}", ms(t.p50_ms), ms(t.p95_ms), ms(t.p99_ms))}</dd>
            <dt>"Peak calls in one second"</dt><dd>{t.peak_per_second}</dd>
            <dt>"Distinct source addresses"</dt><dd>{thousands(usage.distinct_sources)}</dd>
        </dl>
        <p><a href=format!("{csv}?range={}", range.key()) download="">{format!("Download the series (CSV, last {})", range.label())}</a></p>
        <h2>"Calls and errors"</h2>
        <figure inner_html=calls_chart></figure>
        <h2>"Latency"</h2>
        <figure inner_html=latency_chart></figure>
        <h2>"Endpoints"</h2>
        <figure inner_html=endpoints_chart></figure>
        <table id="usage-endpoints">
            <caption>"Calls per endpoint"</caption>
            <thead><tr><th scope="col">"Endpoint"</th><th scope="col">"Calls"</th><th scope="col">"Errors"</th><th scope="col">"Error rate"</th></tr></thead>
            <tbody>{endpoint_rows}</tbody>
        </table>
        <table id="usage-scopes">
            <caption>"Calls per scope"</caption>
            <thead><tr><th scope="col">"Scope"</th><th scope="col">"Calls"</th></tr></thead>
            <tbody>{scope_rows}</tbody>
        </table>
        <table id="usage-errors">
            <caption>"Errors by status and code"</caption>
            <thead><tr><th scope="col">"Status"</th><th scope="col">"Error code"</th><th scope="col">"Calls"</th></tr></thead>
            <tbody>{error_rows}</tbody>
        </table>
        <details>
            <summary>"The series as a table"</summary>
            <table id="usage-series">
                <caption>{format!("Every point with calls, last {}", range.label())}</caption>
                <thead><tr><th scope="col">"From (UTC)"</th><th scope="col">"Calls"</th><th scope="col">"4xx"</th><th scope="col">"5xx"</th><th scope="col">"p50"</th><th scope="col">"p95"</th><th scope="col">"p99"</th><th scope="col">"Peak/s"</th><th scope="col">"Sources"</th></tr></thead>
                <tbody>{series_rows}</tbody>
            </table>
        </details>
    }
    .into_any()
}

pub fn partner_app(
    id: &str,
    name: &str,
    environment: &str,
    back: &str,
    usage: &Usage,
    range: Range,
) -> AnyView {
    view! {
        <p class="lead">{format!("What {name} ({environment}) did: its token requests and API calls, from its request log.")}</p>
        {usage_section(name, usage, range, &format!("/usage/apps/{id}"), &format!("/usage/apps/{id}/usage.csv"))}
        <p><a href=back.to_string()>"Back to the client"</a></p>
    }
    .into_any()
}

pub fn bank_client(
    id: &str,
    name: &str,
    environment: &str,
    org_id: &str,
    usage: &Usage,
    range: Range,
) -> AnyView {
    view! {
        <p class="lead">{format!("What {name} ({environment}) did, from its request log.")}</p>
        <p><a href=format!("/oversight/organisations/{org_id}")>"The organisation's usage"</a>" · "<a href=format!("/governance/bank/clients/{id}")>"The client in the inventory"</a></p>
        {usage_section(name, usage, range, &format!("/oversight/clients/{id}"), &format!("/oversight/clients/{id}/usage.csv"))}
    }
    .into_any()
}

pub fn bank_org(
    id: &str,
    name: &str,
    clients: &[Consumer],
    usage: &Usage,
    range: Range,
) -> AnyView {
    let client_rows = clients
        .iter()
        .map(|(app, name, _, env, calls, ..)| {
            view! { <li><a href=format!("/oversight/clients/{app}")>{format!("{name} ({env}): {calls} calls")}</a></li> }
        })
        .collect_view();
    view! {
        <p class="lead">{format!("What the software of {name} did, every client together.")}</p>
        <h2>"Clients"</h2>
        <ul id="org-clients">{client_rows}</ul>
        {usage_section(name, usage, range, &format!("/oversight/organisations/{id}"), &format!("/oversight/organisations/{id}/usage.csv"))}
    }
    .into_any()
}

/// A consumer on the overview: (app id, name, organisation, environment, calls,
/// errors, busiest minute, rate limit per minute).
pub type Consumer = (String, String, String, String, i64, i64, i64, i64);

pub fn overview(
    usage: &Usage,
    range: Range,
    alerts: &[Alert],
    (consumers, trends): (&[Consumer], &[Vec<f64>]),
    nearest: &[Consumer],
) -> AnyView {
    let t = &usage.totals;
    let by = |severity: &str| alerts.iter().filter(|a| a.severity == severity).count();
    let alert_rows = alerts
        .iter()
        .take(10)
        .map(|a| {
            view! {
                <tr>
                    <td><a href=format!("/alerts/{}", a.id)>{super::alerts::title_of(&a.rule)}</a></td>
                    <td>{a.severity.clone()}</td>
                    <td>{a.org_name.clone().unwrap_or_else(|| "–".into())}</td>
                    <td>{a.app_name.clone().or(a.source.clone()).unwrap_or_default()}</td>
                    <td>{a.state.clone()}</td>
                    <td>{crate::platform::time::when(a.first_seen_at)}</td>
                </tr>
            }
        })
        .collect_view();
    // Small multiples: each top consumer's calls over the range on one scale of its
    // own, beside its figures.
    let trend = |n: usize, name: &str| {
        trends.get(n).map(|values| {
            let total: f64 = values.iter().sum();
            let title = format!(
                "Calls of {name} over the last {} in {} equal parts of whole hours: {} in all",
                range.label(),
                values.len(),
                thousands(total as i64)
            );
            view! { <td class="spark" inner_html=sparkline(&format!("trend-{n}"), &title, values)></td> }
        })
    };
    let consumer_rows = |list: &[Consumer], limit: bool| {
        list.iter()
            .enumerate()
            .map(|(n, (id, name, org, env, calls, errors, busiest, rate))| {
                let used = if *rate > 0 { format!("{:.0}%", 100.0 * *busiest as f64 / *rate as f64) } else { "–".into() };
                view! {
                    <tr>
                        <td><a href=format!("/oversight/clients/{id}")>{name.clone()}</a></td>
                        <td>{org.clone()}</td><td>{env.clone()}</td>
                        <td class="num">{thousands(*calls)}</td><td class="num">{percent(*errors, *calls)}</td>
                        <td>{if limit { format!("{} of {} a minute ({used})", thousands(*busiest), thousands(*rate)) } else { thousands(*busiest) }}</td>
                        {(!limit).then(|| trend(n, name))}
                    </tr>
                }
            })
            .collect_view()
    };
    let starts: Vec<i64> = usage.points.iter().map(|p| p.at).collect();
    let series = [
        Series {
            name: "Calls",
            values: usage.points.iter().map(|p| Some(p.calls as f64)).collect(),
        },
        Series {
            name: "Errors",
            values: usage
                .points
                .iter()
                .map(|p| Some((p.client_errors + p.server_errors) as f64))
                .collect(),
        },
    ];
    let chart = time_chart(&TimeChart {
        id: "chart-traffic",
        title: &format!("Traffic across all partners, last {}", range.label()),
        description: &format!(
            "{} calls, {} errors in the last {}.",
            thousands(t.calls),
            thousands(t.client_errors + t.server_errors),
            range.label()
        ),
        y_title: &format!("Calls {}", per_step(usage.step)),
        unit: "",
        starts: &starts,
        step: usage.step,
        series: &series,
        threshold: None,
    });
    view! {
        <p class="lead">"What partners' software does across the bank: traffic, errors, open alerts, the top consumers and the clients nearest to their rate limit."</p>
        {ranges("/oversight", range)}
        <dl class="figures" id="overview-figures">
            <dt>"Calls"</dt><dd id="overview-calls">{thousands(t.calls)}</dd>
            <dt>"Error rate"</dt><dd>{percent(t.client_errors + t.server_errors, t.calls)}</dd>
            <dt>"Open alerts"</dt><dd id="overview-open-alerts">{format!("{} ({} high, {} medium, {} low)", alerts.len(), by("high"), by("medium"), by("low"))}</dd>
        </dl>
        <p><a href=format!("/oversight/usage.csv?range={}", range.key()) download="">"Download the series (CSV)"</a>" · "<a href="/alerts">"Alert register"</a>" · "<a href="/alerts/rules">"Rules and escalation"</a></p>
        <figure inner_html=chart></figure>
        <h2>"Open alerts"</h2>
        <table id="overview-alerts">
            <thead><tr><th scope="col">"Alert"</th><th scope="col">"Severity"</th><th scope="col">"Organisation"</th><th scope="col">"Client or source"</th><th scope="col">"State"</th><th scope="col">"Opened"</th></tr></thead>
            <tbody>{alert_rows}</tbody>
        </table>
        <h2>"Top consumers"</h2>
        <table id="top-consumers">
            <thead><tr><th scope="col">"Client"</th><th scope="col">"Organisation"</th><th scope="col">"Environment"</th><th scope="col">"Calls"</th><th scope="col">"Error rate"</th><th scope="col">"Busiest minute"</th><th scope="col">"Calls over time"</th></tr></thead>
            <tbody>{consumer_rows(consumers, false)}</tbody>
        </table>
        <h2>"Nearest to their rate limit (last 24 hours)"</h2>
        <table id="nearest-limit">
            <thead><tr><th scope="col">"Client"</th><th scope="col">"Organisation"</th><th scope="col">"Environment"</th><th scope="col">"Calls"</th><th scope="col">"Error rate"</th><th scope="col">"Busiest minute against the limit"</th></tr></thead>
            <tbody>{consumer_rows(nearest, true)}</tbody>
        </table>
    }
    .into_any()
}
