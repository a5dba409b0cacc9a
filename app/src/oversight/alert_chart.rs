//! The alert page's chart: the client's minutes around the window the rule fired on,
//! from its request log, with the rule's threshold drawn where the rule compares a
//! count against one. For a count over a window (failures, 403/404 answers, calls
//! outside the scopes, attempts outside the allow-list) the chart adds the running
//! count of 4xx/5xx answers over that window, the line the threshold is read
//! against; for rate-limit saturation, the 429 answers of each minute against the
//! rule's per-minute figure. The rule itself counts only the answers it watches
//! (the evidence above says which), so the running count is an upper bound.

use super::alert_life::Alert;
use super::chart::{time_chart, Series, TimeChart};
use crate::platform::error::Result;
use crate::platform::state::AppState;

const MINUTE: i64 = 60;
/// Minutes drawn before the window and after the last evaluation that matched.
const MARGIN: i64 = 10;
/// At most this many minutes are drawn (the end of a long-lived alert's window).
const MAX_MINUTES: i64 = 120;

/// Per-minute figures: (minute start, calls, 4xx/5xx answers, 429 answers).
type Minute = (i64, i64, i64, i64);

/// What the chart draws, from per-minute figures (separate from the query, so the
/// drawing is tested on known minutes).
pub fn draw(alert: &Alert, minutes: &[Minute], window_minutes: i64) -> String {
    let starts: Vec<i64> = minutes.iter().map(|m| m.0).collect();
    let param = |name: &str| alert.thresholds.get(name).and_then(|v| v.as_i64());
    let mut series = vec![
        Series {
            name: "Calls",
            values: minutes.iter().map(|m| Some(m.1 as f64)).collect(),
        },
        Series {
            name: "4xx/5xx answers",
            values: minutes.iter().map(|m| Some(m.2 as f64)).collect(),
        },
    ];
    let rolling_name = format!("4xx/5xx answers in the last {window_minutes} minutes");
    let (threshold, label) = match (alert.rule.as_str(), param("threshold"), param("per_minute")) {
        ("rate_limit_saturation", _, Some(per_minute)) => {
            series[1] = Series {
                name: "429 answers",
                values: minutes.iter().map(|m| Some(m.3 as f64)).collect(),
            };
            (Some(per_minute as f64), "Threshold: 429s a minute")
        }
        (_, Some(threshold), _) => {
            let window = window_minutes.max(1) as usize;
            let rolling: Vec<Option<f64>> = (0..minutes.len())
                .map(|n| {
                    let from = (n + 1).saturating_sub(window);
                    Some(minutes[from..=n].iter().map(|m| m.2 as f64).sum())
                })
                .collect();
            series.push(Series {
                name: &rolling_name,
                values: rolling,
            });
            (Some(threshold as f64), "Threshold")
        }
        _ => (None, ""),
    };
    let client = alert.app_name.clone().unwrap_or_default();
    time_chart(&TimeChart {
        id: "chart-alert-window",
        title: &format!("{client}: the minutes around the alert's window"),
        description: &format!(
            "Calls and error answers of {client} per minute, from {MARGIN} minutes before the window to {MARGIN} minutes after the last match{}; the table below lists the requests.",
            threshold
                .map(|t| format!(", with the rule's threshold of {t}"))
                .unwrap_or_default()
        ),
        y_title: "Answers per minute",
        unit: "",
        starts: &starts,
        step: MINUTE,
        series: &series,
        threshold: threshold.map(|t| (t, label)),
    })
}

/// The chart of `alert`'s window, or `None` for an alert raised on a source address
/// (no client's series to draw).
pub async fn window_chart(state: &AppState, alert: &Alert) -> Result<Option<String>> {
    let Some(app) = &alert.app_id else {
        return Ok(None);
    };
    let window_minutes = alert
        .thresholds
        .get("window_minutes")
        .and_then(|v| v.as_i64())
        .unwrap_or(5);
    // The window as the requests table below reads it (`requests_in_window`).
    let from = alert.evidence["window"]["from"]
        .as_i64()
        .unwrap_or(alert.first_seen_at);
    let start = from - from.rem_euclid(MINUTE) - MARGIN * MINUTE;
    let end = (alert.last_seen_at + (MARGIN + 1) * MINUTE).min(start + MAX_MINUTES * MINUTE);
    // Counted per minute by the database: a spike's rows never come to the page.
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT (at - $2) / 60, COUNT(*), \
         CAST(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS BIGINT) \
         FROM request_log WHERE app_id = $1 AND at >= $2 AND at < $3 GROUP BY 1",
    )
    .bind(app)
    .bind(start)
    .bind(end)
    .fetch_all(&state.db.pool)
    .await?;
    let count = ((end - start) / MINUTE).max(1);
    let mut minutes: Vec<Minute> = (0..count).map(|n| (start + n * MINUTE, 0, 0, 0)).collect();
    for (minute, calls, errors, limited) in rows {
        if let Some(m) = usize::try_from(minute)
            .ok()
            .and_then(|n| minutes.get_mut(n))
        {
            (m.1, m.2, m.3) = (calls, errors, limited);
        }
    }
    Ok(Some(draw(alert, &minutes, window_minutes)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn alert(rule: &str, thresholds: serde_json::Value) -> Alert {
        Alert {
            rule: rule.into(),
            app_name: Some("Watched".into()),
            thresholds,
            ..Alert::default()
        }
    }

    #[test]
    fn the_running_count_is_drawn_against_the_threshold() {
        let t0 = 1_700_000_040;
        // Minutes with 0, 4, 4, 4 and 0 failures: over a 3-minute window the running
        // count reaches 12, past the threshold of 10.
        let minutes: Vec<Minute> = [0, 4, 4, 4, 0]
            .iter()
            .enumerate()
            .map(|(n, e)| (t0 + n as i64 * 60, e + 1, *e, 0))
            .collect();
        let svg = draw(
            &alert(
                "auth_failures",
                serde_json::json!({ "threshold": 10, "window_minutes": 3 }),
            ),
            &minutes,
            3,
        );
        assert!(svg.contains("<title>Threshold: 10</title>"), "{svg}");
        assert!(svg.contains(">4xx/5xx answers in the last 3 minutes</text>"));
        let at = crate::platform::time::display(t0 + 3 * 60);
        assert!(
            svg.contains(&format!(
                "4xx/5xx answers in the last 3 minutes: 12 at {at}"
            )),
            "{svg}"
        );
        let saturation = draw(
            &alert(
                "rate_limit_saturation",
                serde_json::json!({ "per_minute": 5, "minutes": 3 }),
            ),
            &minutes,
            5,
        );
        assert!(saturation.contains("<title>Threshold: 429s a minute: 5</title>"));
        let none = draw(&alert("new_network", serde_json::json!({})), &minutes, 5);
        assert!(!none.contains("class=\"threshold\""));
    }
}
