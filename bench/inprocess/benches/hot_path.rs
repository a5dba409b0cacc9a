//! The hot paths' in-process work, without the network and so without most of the
//! machine's noise: what a change costs shows here before `bench/compare.sh` can
//! see it. `cargo bench -p gatehouse-inprocess-bench` (add `-- token` to run one).
//!
//! A demo installation on SQLite in a temporary directory, served by the real
//! router (`compose::router`) called as a tower service on one thread, so each
//! figure includes the request-log writer's share of the work (it runs on the same
//! thread, between requests):
//! - `token`: `POST /oauth/token`, client credentials, client_secret_basic (a cached
//!   client: authenticate, count against the rate limit, mint, answer, log);
//! - `introspect`: `POST /oauth/introspect` of distinct tokens;
//! - `api`: `GET …/reference/branches` of the sandbox API with a bearer token;
//! - `request log`: one batch of the writer (2,000 rows of token requests and API
//!   calls with their "last used" and scope updates), in rows a second.
//!
//! After criterion's figures, allocations per request (and per logged row) are
//! counted with `allocation-counter` and printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::net::SocketAddr;

use app::clients::reqlog::{self, Entry};
use app::platform::state::AppState;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const CLIENT: &str = "cli_demo_acme_sandbox";
const SECRET: &str = "demo-sandbox-secret-acme-2026";
const BRANCHES: &str = "/sandbox/open-banking/v3.1/reference/branches";
const BATCH: usize = 2_000;

struct Bench {
    runtime: Runtime,
    router: Router,
    state: AppState,
    basic: String,
    _dir: tempfile::TempDir,
}

fn setup() -> Bench {
    // One thread: the request-log writer and the timers run between requests, on
    // the thread that is measured (and whose allocations are counted).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = runtime.block_on(async {
        let mut settings = app::Settings::new(
            url::Url::parse("http://127.0.0.1:3999").unwrap(),
            dir.path().to_path_buf(),
        );
        settings.demo = true;
        // The demo client's limit is the sandbox ceiling: high enough never to answer 429.
        settings.sandbox_max_rate_limit = 1_000_000_000;
        settings.access_token_seconds = 3600;
        let state = gatehouse_server::compose::state(settings).await.unwrap();
        // As the server's start does: the defaults first (the demo's applications and
        // requests need the catalogue and the risk policy).
        gatehouse_server::compose::ensure_defaults(&state)
            .await
            .unwrap();
        gatehouse_server::compose::seed_demo(&state).await.unwrap();
        state
    });
    let router = gatehouse_server::compose::router(state.clone());
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{SECRET}"))
    );
    Bench {
        runtime,
        router,
        state,
        basic,
        _dir: dir,
    }
}

fn with_peer(mut request: Request<Body>) -> Request<Body> {
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    request
}

fn form_post(path: &str, basic: &str, body: String) -> Request<Body> {
    with_peer(
        Request::post(path)
            .header(header::HOST, "127.0.0.1:3999")
            .header(header::AUTHORIZATION, basic)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
}

fn token_request(basic: &str) -> Request<Body> {
    form_post(
        "/oauth/token",
        basic,
        "grant_type=client_credentials&scope=reference".to_string(),
    )
}

fn api_request(token: &str) -> Request<Body> {
    with_peer(
        Request::get(BRANCHES)
            .header(header::HOST, "127.0.0.1:3999")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
}

/// Sends one request through the router and reads the whole answer.
async fn call(router: &Router, request: Request<Body>) -> (StatusCode, axum::body::Bytes) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, body)
}

async fn mint(bench: &Bench) -> String {
    let (status, body) = call(&bench.router, token_request(&bench.basic)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    value["access_token"].as_str().unwrap().to_string()
}

/// 2,000 entries shaped like the writer's under mixed load: token requests and API
/// calls of the demo client, each with its credential, a scope and an address.
fn batch(state: &AppState, app_id: &str, credential_id: &str) -> Vec<Entry> {
    let now = state.clock.now();
    (0..BATCH)
        .map(|i| {
            let token = i % 2 == 0;
            Entry {
                app_id: app_id.to_string(),
                credential_id: Some(credential_id.to_string()),
                at: now,
                method: if token { "POST" } else { "GET" },
                endpoint: if token {
                    "/oauth/token".into()
                } else {
                    BRANCHES.into()
                },
                status: 200,
                latency_us: 700 + (i as i64 % 300),
                error: None,
                scope: token.then(|| "reference".to_string()),
                source: Some(format!("127.0.0.{}", 1 + i % 200)),
            }
        })
        .collect()
}

fn hot_paths(c: &mut Criterion) {
    let bench = setup();
    let rt = &bench.runtime;
    // The first request fills the client cache; the figures are for a cached client.
    let token = rt.block_on(mint(&bench));

    let mut group = c.benchmark_group("in process");
    group.throughput(Throughput::Elements(1));
    group.bench_function("token", |b| {
        b.iter(|| rt.block_on(call(&bench.router, token_request(&bench.basic))))
    });
    // Distinct tokens, minted before the measurement, used in turn.
    let tokens: Vec<String> = rt.block_on(async {
        let mut tokens = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            tokens.push(mint(&bench).await);
        }
        tokens
    });
    let mut next = 0usize;
    group.bench_function("introspect", |b| {
        b.iter(|| {
            next = (next + 1) % tokens.len();
            let body = format!("token={}", tokens[next]);
            rt.block_on(call(
                &bench.router,
                form_post("/oauth/introspect", &bench.basic, body),
            ))
        })
    });
    group.bench_function("api", |b| {
        b.iter(|| rt.block_on(call(&bench.router, api_request(&token))))
    });
    group.finish();

    let (app_id, credential_id): (String, String) = rt.block_on(async {
        sqlx_pair(
            &bench.state,
            "SELECT a.id, c.id FROM apps a JOIN credentials c ON c.app_id = a.id \
             WHERE a.client_id = $1 AND c.revoked_at IS NULL LIMIT 1",
        )
        .await
    });
    let entries = batch(&bench.state, &app_id, &credential_id);
    let dropped = prometheus_client::metrics::counter::Counter::default();
    let mut group = c.benchmark_group("request log");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("batch of 2,000 rows", |b| {
        b.iter(|| {
            rt.block_on(reqlog::write_with_retries(
                &bench.state.db,
                &entries,
                &dropped,
            ))
        })
    });
    group.finish();
    assert_eq!(dropped.get(), 0, "the benchmark's batches were all written");

    allocations(&bench, &token, &tokens, &entries);
}

async fn sqlx_pair(state: &AppState, sql: &str) -> (String, String) {
    let row: (String, String) = sqlx::query_as(sql)
        .bind(CLIENT)
        .fetch_one(&state.db.pool)
        .await
        .unwrap();
    row
}

/// Allocations per request, counted on the one thread that does all the work.
fn allocations(bench: &Bench, token: &str, tokens: &[String], entries: &[Entry]) {
    let rt = &bench.runtime;
    const N: usize = 2_000;
    let per = |name: &str, unit: &str, n: usize, info: allocation_counter::AllocationInfo| {
        println!(
            "allocations: {name}: {:.0} per {unit}, {:.0} bytes per {unit}",
            info.count_total as f64 / n as f64,
            info.bytes_total as f64 / n as f64
        );
    };
    // Let the writer settle first, so each figure carries its own rows only.
    let settle =
        || rt.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(100)).await });
    settle();
    let info = allocation_counter::measure(|| {
        rt.block_on(async {
            for _ in 0..N {
                call(&bench.router, token_request(&bench.basic)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        })
    });
    per("token (with its log row)", "request", N, info);
    settle();
    let info = allocation_counter::measure(|| {
        rt.block_on(async {
            for t in tokens.iter().take(N) {
                let body = format!("token={t}");
                call(
                    &bench.router,
                    form_post("/oauth/introspect", &bench.basic, body),
                )
                .await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        })
    });
    per("introspect (with its log row)", "request", N, info);
    settle();
    let info = allocation_counter::measure(|| {
        rt.block_on(async {
            for _ in 0..N {
                call(&bench.router, api_request(token)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        })
    });
    per("api (with its log row)", "request", N, info);
    let dropped = prometheus_client::metrics::counter::Counter::default();
    let info = allocation_counter::measure(|| {
        rt.block_on(reqlog::write_with_retries(
            &bench.state.db,
            entries,
            &dropped,
        ))
    });
    per("request-log batch", "row", entries.len(), info);
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
