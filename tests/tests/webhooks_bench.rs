//! A benchmark, not a test (ignored; run it by name): how many webhook deliveries a
//! minute one instance makes when a tenth of its endpoints hang until the timeout
//! (issue 27, review finding N6). It prints its figures; BENCHMARKS.md records them.
//!
//! `cargo test -p gatehouse-tests --test integration --release -- --ignored webhooks_bench --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Backend, TestServer};
use crate::webhook_receiver::{Receiver, ADMIN};

const ENDPOINTS: usize = 40;
/// A tenth of the endpoints hang, unless `WEBHOOKS_BENCH_HANGING` says how many.
fn hanging_endpoints() -> usize {
    std::env::var("WEBHOOKS_BENCH_HANGING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ENDPOINTS / 10)
}
const MESSAGES_PER_ENDPOINT: usize = 40;
/// The run stops when every healthy delivery is made, or after this long.
const LIMIT_SECONDS: u64 = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints deliveries a minute with a tenth of the endpoints hanging"]
async fn webhooks_bench() {
    let receiver = Receiver::start().expect("the receiver (npm ci --prefix tests/interop)");
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        receiver.configure(s);
        s.deliver_webhooks = false;
    })
    .await
    .unwrap();
    receiver.follow_clock(&server).await;
    let (org, user): (String, String) =
        sqlx::query_as("SELECT org_id, id FROM users WHERE email = $1")
            .bind(ADMIN)
            .fetch_one(server.pool())
            .await
            .unwrap();
    let now = server.state.clock.now();
    let hanging_count = hanging_endpoints();
    for n in 0..ENDPOINTS {
        let path = if n < hanging_count {
            format!("/hang/{n}")
        } else {
            format!("/ok/{n}")
        };
        if n < hanging_count {
            let plan: Vec<_> = (0..MESSAGES_PER_ENDPOINT)
                .map(|_| json!({ "status": 200, "delayMs": 12_000 }))
                .collect();
            receiver
                .control(json!({ "path": path, "plan": plan }))
                .await;
        }
        let secret = format!("whsec_{}", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, org_id, url, description, events, secret, state, created_by, created_at, version) \
             VALUES ($1, $2, $3, 'bench', 'access_request.decided', $4, 'active', $5, $6, 1)",
        )
        .bind(format!("whe_bench_{n:03}"))
        .bind(&org)
        .bind(receiver.url(&path))
        .bind(server.state.keys.encrypt(secret.as_bytes()).unwrap())
        .bind(&user)
        .bind(now)
        .execute(server.pool())
        .await
        .unwrap();
    }
    for _ in 0..MESSAGES_PER_ENDPOINT {
        let mut tx = server.state.db.begin().await.unwrap();
        app::webhooks::emit(&mut tx, &org, "access_request.decided", json!({}), now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let started = Instant::now();
    let worker = tokio::spawn(app::webhooks::dispatch::run_worker(server.state.clone()));
    let queued_healthy = (ENDPOINTS - hanging_count) * MESSAGES_PER_ENDPOINT;
    let mut healthy = 0;
    while started.elapsed() < Duration::from_secs(LIMIT_SECONDS) {
        healthy = server
            .count(
                "SELECT COUNT(*) FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id \
                 WHERE m.state = 'delivered' AND e.url LIKE '%/ok/%'",
            )
            .await as usize;
        if healthy >= queued_healthy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    worker.abort();
    let hanging = receiver
        .log()
        .await
        .iter()
        .filter(|e| e["path"].as_str().is_some_and(|p| p.starts_with("/hang/")))
        .count();
    println!(
        "webhooks_bench: {ENDPOINTS} endpoints, {hanging_count} hanging (10 s timeout), {MESSAGES_PER_ENDPOINT} messages each"
    );
    println!(
        "  healthy deliveries: {healthy} of {queued_healthy} in {elapsed:.1} s = {:.0} a minute",
        healthy as f64 * 60.0 / elapsed
    );
    println!("  attempts at hanging endpoints: {hanging} (at most one in flight each)");
}
