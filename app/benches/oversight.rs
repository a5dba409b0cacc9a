//! Oversight figures for BENCHMARKS.md, on SQLite (a fresh demo database in a
//! temporary directory). `cargo bench -p app --features ssr --bench oversight`.
//!
//! 1. The anomaly rules over 10,000 active clients: `alerts::facts` (the queries and
//!    the grouping) and a whole `alerts::evaluate` (every rule over every client),
//!    with an hour of minute buckets per client and the 7-day baseline.
//! 2. The request log's bytes per million rows (the file's growth, table and indexes).
//! 3. The retention prune deleting those million rows: rows a second, and the time
//!    one batch of 5,000 holds the write lock.
//! 4. The usage roll-up of a million recent calls.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::Instant;

use app::oversight::series::{format_bins, BINS};
use app::platform::state::AppState;

const CLIENTS: i64 = 10_000;
const LOG_ROWS: i64 = 1_000_000;

async fn size(state: &AppState) -> i64 {
    let pages: i64 = sqlx::query_scalar("SELECT page_count FROM pragma_page_count()")
        .fetch_one(&state.db.pool)
        .await
        .unwrap();
    let page: i64 = sqlx::query_scalar("SELECT page_size FROM pragma_page_size()")
        .fetch_one(&state.db.pool)
        .await
        .unwrap();
    pages * page
}

async fn exec(state: &AppState, sql: &str, binds: &[i64]) {
    let mut query = sqlx::query(sql);
    for b in binds {
        query = query.bind(*b);
    }
    query.execute(&state.db.pool).await.unwrap();
}

async fn rules(state: &AppState, now: i64) {
    let minute = now - now % 60;
    let mut bins = [0i64; BINS];
    bins[3] = 10;
    let bins = format_bins(&bins);
    let started = Instant::now();
    exec(
        state,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO apps (id, org_id, environment, client_id, name, purpose, owner_id, scopes, redirect_uris, \
         auth_method, dpop_required, rate_limit_per_minute, status, is_demo, created_by, created_at, updated_at) \
         SELECT 'app_bench_' || i, a.org_id, 'sandbox', 'cli_bench_' || i, 'Bench ' || i, a.purpose, a.owner_id, \
         a.scopes, a.redirect_uris, a.auth_method, 0, 600, 'active', 0, a.created_by, a.created_at, a.updated_at \
         FROM n, apps a WHERE a.client_id = 'cli_demo_acme_sandbox'",
        &[CLIENTS],
    )
    .await;
    // An hour of minutes: 10 calls a minute each, all fine.
    sqlx::query(
        "WITH RECURSIVE m(t) AS (SELECT $1 UNION ALL SELECT t + 60 FROM m WHERE t < $2) \
         INSERT INTO usage_series (app_id, granularity, bucket_at, calls, ok, client_errors, server_errors, latency_bins, sources, peak_per_second) \
         SELECT a.id, 60, m.t, 10, 10, 0, 0, $3, 1, 1 FROM apps a, m WHERE a.id LIKE 'app_bench_%'",
    )
    .bind(minute - 3600)
    .bind(minute - 60)
    .bind(&bins)
    .execute(&state.db.pool)
    .await
    .unwrap();
    exec(
        state,
        "WITH RECURSIVE m(t) AS (SELECT $1 UNION ALL SELECT t + 60 FROM m WHERE t < $2) \
         INSERT INTO usage_detail (app_id, granularity, bucket_at, method, endpoint, status, error, calls) \
         SELECT a.id, 60, m.t, 'GET', '/sandbox/open-banking/v3.1/aisp/accounts/{id}', 200, '', 10 \
         FROM apps a, m WHERE a.id LIKE 'app_bench_%'",
        &[minute - 3600, minute - 60],
    )
    .await;
    // The baseline: the same hour on each of the previous 7 days.
    let hour = now - now % 3600;
    sqlx::query(
        "WITH RECURSIVE d(t) AS (SELECT $1 UNION ALL SELECT t + 86400 FROM d WHERE t < $2) \
         INSERT INTO usage_series (app_id, granularity, bucket_at, calls, ok, client_errors, server_errors, latency_bins, sources, peak_per_second) \
         SELECT a.id, 3600, d.t, 600, 600, 0, 0, $3, 1, 1 FROM apps a, d WHERE a.id LIKE 'app_bench_%'",
    )
    .bind(hour - 7 * 86_400)
    .bind(hour - 86_400)
    .bind(&bins)
    .execute(&state.db.pool)
    .await
    .unwrap();
    println!(
        "seeded {CLIENTS} clients, an hour of minute buckets and 7 baseline hours each in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The default rules look back 5 minutes; an admin may widen a window to the hour.
    let configs = app::oversight::alerts::configs(&state.db).await.unwrap();
    let span = app::oversight::rules::span_minutes(configs.values());
    let started = Instant::now();
    let facts = app::oversight::alerts::facts(&state.db, minute, 60)
        .await
        .unwrap();
    println!(
        "rules: facts for {} clients over the whole hour (a window widened to 60 minutes) {:.2} s",
        facts.len(),
        started.elapsed().as_secs_f64()
    );
    for run in 1..=3 {
        let started = Instant::now();
        let facts = app::oversight::alerts::facts(&state.db, minute, span)
            .await
            .unwrap();
        let facts_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let summary = app::oversight::alerts::evaluate(state, minute)
            .await
            .unwrap();
        let evaluate_s = started.elapsed().as_secs_f64();
        println!(
            "rules, run {run}: facts for {} clients over the default rules' {span} minutes {:.2} s; whole evaluation {:.2} s ({summary})",
            facts.len(),
            facts_s,
            evaluate_s
        );
    }
}

async fn request_log(state: &AppState, now: i64) {
    let apps: Vec<String> =
        sqlx::query_scalar("SELECT id FROM apps WHERE id LIKE 'app_bench_%' ORDER BY id LIMIT 10")
            .fetch_all(&state.db.pool)
            .await
            .unwrap();
    assert_eq!(apps.len(), 10);
    let before = size(state).await;
    let old = now - 40 * 86_400;
    let started = Instant::now();
    // Rows shaped like the writer's: a ULID-length id, a token request or an API
    // call with an id in its path, the latency, the caller's address.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO request_log (id, app_id, at, method, endpoint, status, latency_us, error, source) \
         SELECT 'rlg_' || printf('%026d', i), 'app_bench_' || (1 + i % 10), $2 + i / 100, \
         CASE WHEN i % 2 = 0 THEN 'POST' ELSE 'GET' END, \
         CASE WHEN i % 2 = 0 THEN '/oauth/token' ELSE '/sandbox/open-banking/v3.1/aisp/accounts/acc-' || (i % 97) || '/transactions' END, \
         CASE WHEN i % 50 = 0 THEN 401 ELSE 200 END, 800 + i % 5000, \
         CASE WHEN i % 50 = 0 THEN 'invalid_client' ELSE NULL END, '127.0.0.' || (1 + i % 200) FROM n",
    )
    .bind(LOG_ROWS)
    .bind(old)
    .execute(&state.db.pool)
    .await
    .unwrap();
    let after = size(state).await;
    println!(
        "request log: {LOG_ROWS} rows written in {:.1} s; the file grew by {:.1} MB: {:.0} bytes a row, {:.0} MB per million requests",
        started.elapsed().as_secs_f64(),
        (after - before) as f64 / 1e6,
        (after - before) as f64 / LOG_ROWS as f64,
        (after - before) as f64 / 1e6 * 1_000_000.0 / LOG_ROWS as f64,
    );

    // One batch on its own: how long it holds the write lock.
    let started = Instant::now();
    let deleted = sqlx::query(
        "DELETE FROM request_log WHERE id IN (SELECT id FROM request_log WHERE at < $1 ORDER BY at LIMIT $2)",
    )
    .bind(now - 30 * 86_400)
    .bind(app::oversight::prune::BATCH)
    .execute(&state.db.pool)
    .await
    .unwrap()
    .rows_affected();
    println!(
        "prune: one batch of {deleted} rows took {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let started = Instant::now();
    let mut total = deleted;
    loop {
        let summary = app::oversight::prune::run(&state.db, &state.settings, now)
            .await
            .unwrap();
        let n = summary["request_log_deleted"].as_u64().unwrap_or(0);
        total += n;
        if n == 0 {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "prune: {total} rows in {elapsed:.1} s with the 20 ms pauses: {:.0} rows a second",
        (total - deleted) as f64 / elapsed
    );
}

/// The roll-up of a million recent calls (100 a second over the last 10,000 s, ten
/// clients): rows a second, until the watermark stops moving.
async fn rollup(state: &AppState, now: i64) {
    // The rules' part seeded buckets for these minutes: the roll-up writes its own.
    exec(state, "DELETE FROM usage_series", &[]).await;
    exec(state, "DELETE FROM usage_detail", &[]).await;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO request_log (id, app_id, at, method, endpoint, status, latency_us, error, source) \
         SELECT 'rlr_' || printf('%026d', i), 'app_bench_' || (1 + i % 10), $2 + i / 100, 'GET', \
         '/sandbox/open-banking/v3.1/aisp/accounts/acc-' || (i % 97) || '/transactions', 200, 800 + i % 5000, NULL, \
         '127.0.0.' || (1 + i % 200) FROM n",
    )
    .bind(LOG_ROWS)
    .bind(now - 10_000)
    .execute(&state.db.pool)
    .await
    .unwrap();
    let started = Instant::now();
    let mut runs = 0;
    let mut until = i64::MIN;
    loop {
        let rolled = app::oversight::rollup::run(&state.db, now, None)
            .await
            .unwrap();
        runs += 1;
        if rolled.minutes_until == until || runs > 10_000 {
            break;
        }
        until = rolled.minutes_until;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "roll-up: {LOG_ROWS} calls of the last 10,000 s rolled up in {elapsed:.1} s ({runs} runs): {:.0} calls a second",
        LOG_ROWS as f64 / elapsed
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = app::Settings::new(
            url::Url::parse("http://127.0.0.1:3999").unwrap(),
            dir.path().to_path_buf(),
        );
        settings.demo = true;
        // The state as the server composes it (server/src/compose.rs::state).
        let mut base = app::platform::state::Inner::open(settings).await.unwrap();
        let oauth = app::oauth::Runtime::start(&base).await.unwrap();
        base.parts.insert(oauth);
        base.parts
            .insert(app::sandbox::api::dataset::Datasets::start().unwrap());
        base.parts
            .insert(app::residency::Geo::open(None, None).unwrap());
        let state = AppState::from(base);
        app::accounts::bootstrap::seed_demo(&state).await.unwrap();
        app::governance::demo::seed(&state, "admin@fjord-analytics.example.com")
            .await
            .unwrap();
        let now = state.clock.now();
        rules(&state, now).await;
        request_log(&state, now).await;
        rollup(&state, now).await;
    });
}
