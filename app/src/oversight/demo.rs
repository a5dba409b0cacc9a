//! Demo data for oversight, through the real roll-up and rules: 30 days of plausible
//! traffic for the demo clients (the last 7 days as request-log rows the roll-up
//! turns into buckets; the older days as hour buckets), one resolved and one open
//! alert and open alerts at each severity (not at the newcomer's organisation, Acme,
//! whose journey starts empty).

use serde_json::json;

use crate::clients::reqlog::{self, Entry};
use crate::platform::error::Result;
use crate::platform::ids;
use crate::platform::state::AppState;

const DAY: i64 = 86_400;

/// How busy partners' software is at `at`, 1 to 4: quiet nights, a morning rise,
/// busy working hours (UTC), a quieter evening, and half as busy at weekends.
fn rhythm(at: i64) -> i64 {
    let hour = at.rem_euclid(DAY) / 3_600;
    let by_hour = match hour {
        0..=5 => 1,
        6..=8 => 2,
        9..=16 => 4,
        17..=20 => 3,
        _ => 2,
    };
    // 1970-01-01 was a Thursday: days 2 and 3 of each week are Saturday and Sunday.
    let weekend = matches!((at.div_euclid(DAY)).rem_euclid(7), 2 | 3);
    if weekend {
        (by_hour / 2).max(1)
    } else {
        by_hour
    }
}

/// `rows` copies of `shape` joined by commas, its `${}` numbered on from `$1`
/// (`columns` of them in each copy): the VALUES of a many-row insert.
fn placeholders(rows: usize, columns: usize, shape: &str) -> String {
    let mut next = 0;
    let values = (0..rows)
        .map(|_| {
            shape
                .split("${}")
                .enumerate()
                .map(|(i, part)| {
                    if i == 0 {
                        part.to_string()
                    } else {
                        next += 1;
                        format!("${next}{part}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>();
    debug_assert_eq!(next, rows * columns, "{shape} has {columns} placeholders");
    values.join(", ")
}

/// Seeds once (the roll-up's watermark tells whether it ran).
pub async fn seed(state: &AppState) -> Result<()> {
    let seeded: Option<i64> =
        sqlx::query_scalar("SELECT done_until FROM usage_rollups WHERE granularity = 60")
            .fetch_optional(&state.db.pool)
            .await?;
    if seeded.is_some() {
        return Ok(());
    }
    let now = state.clock.now();
    let apps: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, environment FROM apps WHERE status = 'active' AND is_demo = 1 ORDER BY created_at, id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    // The newcomer's organisation (Acme) starts with no recent calls: its sandbox
    // readiness, and the journey the README walks through, begin empty. Its clients
    // get the older history (hour buckets) only.
    let newcomer: Option<String> =
        sqlx::query_scalar("SELECT org_id FROM apps WHERE client_id = $1")
            .bind(crate::accounts::bootstrap::DEMO_CLIENT_ID)
            .fetch_optional(&state.db.pool)
            .await?;
    let newcomer_apps: Vec<String> = sqlx::query_scalar("SELECT id FROM apps WHERE org_id = $1")
        .bind(newcomer.unwrap_or_default())
        .fetch_all(&state.db.pool)
        .await?;
    let apps: Vec<(String, String)> = if apps.is_empty() {
        sqlx::query_as("SELECT id, environment FROM apps WHERE status = 'active' ORDER BY created_at, id LIMIT 6")
            .fetch_all(&state.db.pool)
            .await?
    } else {
        apps
    };
    let endpoints = [
        ("POST", "/oauth/token"),
        ("GET", "/sandbox/open-banking/v3.1/aisp/accounts"),
        (
            "GET",
            "/sandbox/open-banking/v3.1/aisp/accounts/acc_demo_1/balances",
        ),
        (
            "GET",
            "/sandbox/open-banking/v3.1/aisp/accounts/acc_demo_1/transactions",
        ),
        ("GET", "/sandbox/open-banking/v3.1/reference/products"),
    ];
    let start = now - now.rem_euclid(60) - 7 * DAY;
    let mut tx = state.db.begin().await?;
    for (n, (app_id, environment)) in apps.iter().enumerate() {
        let weight = 3 + (n as i64 % 4);
        let source = if environment == "production" {
            format!("203.0.113.{}", 10 + n)
        } else {
            format!("198.51.100.{}", 20 + n)
        };
        // The last 7 days: calls every 15 or 30 minutes in a working rhythm (quiet nights,
        // a morning rise, busy working hours, quieter weekends), and for the first
        // client an incident: an hour of failed authentication three days ago.
        let mut at = if newcomer_apps.contains(app_id) {
            now
        } else {
            start
        };
        let spike = (now - 3 * DAY) - (now - 3 * DAY).rem_euclid(3_600) + 14 * 60;
        let mut k = 0_i64;
        let mut rows: Vec<Entry> = Vec::new();
        while at < now - 120 {
            // 15-minute slots in the last day (the 24-hour chart's points), 30-minute
            // slots before (the 7-day chart's hours have two each): fewer minute
            // buckets for the roll-up to make at every demo start.
            let slot = if at >= now - DAY { 900 } else { 1_800 };
            let in_spike = n == 0 && (spike..spike + 3_600).contains(&at);
            let calls = if in_spike {
                weight * 12
            } else {
                (weight * rhythm(at) * (slot / 900) / 3).max(1)
            };
            for j in 0..calls {
                let (method, endpoint) = endpoints[((k + j) % endpoints.len() as i64) as usize];
                let production = environment == "production";
                let status = if in_spike && j % 5 != 0 {
                    401
                } else if (k + j) % 41 == 0 {
                    404
                } else if (k + j) % 97 == 0 {
                    500
                } else {
                    200
                };
                rows.push(Entry {
                    app_id: app_id.clone(),
                    credential_id: None,
                    // One minute per 15: a slot's calls share their minute bucket.
                    at: at + j.min(59),
                    method: if production { "POST" } else { method },
                    endpoint: if production {
                        "/production/oauth/token"
                    } else {
                        endpoint
                    }
                    .to_string(),
                    status,
                    latency_us: 800 + ((k * 37 + j * 11) % 40) * 150,
                    error: match status {
                        404 => Some("UK.OBIE.Resource.NotFound".into()),
                        401 => Some("invalid_client".into()),
                        _ => None,
                    },
                    scope: None,
                    source: Some(source.clone()),
                });
            }
            at += slot;
            k += 1;
        }
        reqlog::insert_rows(&mut tx, state.db.backend, &rows).await?;
        // Days 8 to 30: hour buckets (the roll-up reaches 7 days back).
        let first_hour = start - start.rem_euclid(3_600);
        let hours: Vec<i64> = (1..=(23 * 24)).map(|h| first_hour - h * 3_600).collect();
        for chunk in hours.chunks(100) {
            let sql = format!(
                "INSERT INTO usage_series (app_id, granularity, bucket_at, calls, ok, client_errors, server_errors, latency_bins, sources, peak_per_second) VALUES {}",
                placeholders(chunk.len(), 6, "(${}, 3600, ${}, ${}, ${}, ${}, 0, ${}, 1, 1)")
            );
            let mut query = sqlx::query(&sql);
            for bucket in chunk {
                let calls = (weight * 4 * rhythm(*bucket) / 3).max(1);
                let mut bins = [0_i64; super::series::BINS];
                bins[2] = calls * 3 / 10;
                bins[3] = calls * 5 / 10;
                bins[4] = calls - bins[2] - bins[3];
                query = query
                    .bind(app_id)
                    .bind(*bucket)
                    .bind(calls)
                    .bind(calls - calls / 40)
                    .bind(calls / 40)
                    .bind(super::series::format_bins(&bins));
            }
            query.persistent(false).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    // The roll-up makes the last 7 days' buckets (in steps, as after a pause).
    for _ in 0..(7 * 24 * 60 / 180 + 2) {
        super::rollup::run(&state.db, now, None).await?;
    }
    let others: Vec<(String, String)> = apps
        .into_iter()
        .filter(|(id, _)| !newcomer_apps.contains(id))
        .collect();
    seed_alerts(state, &others).await
}

async fn seed_alerts(state: &AppState, apps: &[(String, String)]) -> Result<()> {
    let now = state.clock.now();
    let Some((app_id, _)) = apps.first() else {
        return Ok(());
    };
    let admin: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin' ORDER BY created_at LIMIT 1")
            .fetch_optional(&state.db.pool)
            .await?;
    let configs = super::alerts::configs(&state.db).await?;
    let app_at = |n: usize| apps[n % apps.len()].0.clone();
    let mut tx = state.db.begin().await?;
    for (app_id, (rule, severity, summary, state_name, opened, evidence)) in [
        (
            "rate_limit_saturation",
            "low",
            "31 answers 429 over 4 minutes (at least 5 a minute).",
            "resolved",
            now - 5 * DAY,
            json!({ "answers_429": 31, "saturated_minutes": 4 }),
        ),
        (
            "enumeration",
            "high",
            "42 answers 403/404 for 37 distinct paths in 5 minutes.",
            "open",
            now - 2 * 3_600,
            json!({ "answers_403_404": 42, "distinct_paths": 37, "sources": ["198.51.100.20"] }),
        ),
        (
            "new_network",
            "medium",
            "Calls from a network not seen in 30 days: 192.0.2.0/24 (41 calls).",
            "open",
            now - 9 * 3_600,
            json!({ "network": "192.0.2.0/24", "calls": 41, "sources": ["192.0.2.14"] }),
        ),
        (
            "traffic_spike",
            "low",
            "Calls at 4.2 times the usual rate for this hour (630 in 5 minutes).",
            "open",
            now - 26 * 3_600,
            json!({ "calls": 630, "baseline": 150, "ratio": 4.2 }),
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, alert)| (if n < 2 { app_id.clone() } else { app_at(n - 1) }, alert))
    {
        let org: String = sqlx::query_scalar("SELECT org_id FROM apps WHERE id = $1")
            .bind(&app_id)
            .fetch_one(&mut *tx)
            .await?;
        let id = ids::new_id("alr");
        let resolved = state_name == "resolved";
        sqlx::query(
            "INSERT INTO alerts (id, rule, severity, group_key, app_id, org_id, summary, thresholds, evidence, occurrences, state, \
             first_seen_at, last_seen_at, acknowledged_by, acknowledged_at, resolved_by, resolved_at, resolution, escalated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 3, $10, $11, $12, $13, $14, $13, $14, $15, $16)",
        )
        .bind(&id)
        .bind(rule)
        .bind(severity)
        .bind(format!("{rule}:{app_id}"))
        .bind(&app_id)
        .bind(&org)
        .bind(summary)
        .bind(json!(configs.get(rule).map(|c| c.params.clone())).to_string())
        .bind(json!(evidence).to_string())
        .bind(state_name)
        .bind(opened)
        .bind(opened + 240)
        .bind(if resolved { admin.clone() } else { None })
        .bind(resolved.then_some(opened + 3_600))
        .bind(resolved.then_some("The partner's nightly batch job retried without back-off; they fixed it the same day."))
        // The open one has waited past the escalation time: it was escalated
        // then, not by the first scheduler tick of a demo server.
        .bind((!resolved).then_some(opened + 1_800))
        .execute(&mut *tx)
        .await?;
        crate::audit::record(
            &mut tx,
            crate::audit::Event::new(crate::audit::Actor::system("alert rules"), "alerts.opened")
                .org(Some(&org))
                .resource("alert", &id)
                .details(
                    json!({ "rule": rule, "severity": severity, "summary": summary, "demo": true }),
                ),
        )
        .await?;
        if !resolved {
            crate::audit::record(
                &mut tx,
                crate::audit::Event::new(
                    crate::audit::Actor::system("alert escalation"),
                    "alerts.escalated",
                )
                .resource("alert", &id)
                .details(json!({ "after_minutes": 30, "demo": true })),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_on_across_rows() {
        assert_eq!(
            super::placeholders(2, 2, "(${}, 7, ${})"),
            "($1, 7, $2), ($3, 7, $4)"
        );
    }
}
