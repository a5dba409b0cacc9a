//! Issue 30: PostgreSQL itself restarts under load. Two instances on a cluster of
//! this test's own serve token requests while the database is restarted (every
//! connection cut, the server away for a moment). Afterwards every answered request
//! is in the request log, the signed-in partner's session is still valid, the audit
//! chain is whole, and the limiter counts exactly in the database again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use crate::common::TestServer;
use crate::pg_cluster::Cluster;
use crate::scale_out::{app_with_quota, both_live};

/// Answers counted by status: admitted (200), refused by the limit (429), other.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    limited: AtomicUsize,
    other: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restarting_mid_run_loses_nothing_and_the_limiter_recovers() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let cluster = Arc::new(cluster);
    let first = TestServer::start_on(cluster.url(), |s| s.demo = true).await;
    let second = first.second_instance(|_| {}).await;
    both_live(&first, &second).await;
    // A quota large enough that each instance reserves batches from the database
    // while the restart is going on (and counts in memory while it cannot).
    let (client_id, secret) = app_with_quota(&first, "Restart probe", "5000").await;
    let partner = first.demo_partner().await;

    let bases = [first.base.clone(), second.base.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..2)
        .map(|worker| {
            let (bases, stop, tally) = (bases.clone(), stop.clone(), tally.clone());
            let (client_id, secret) = (client_id.clone(), secret.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut n = worker;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let response = http
                        .post(format!("{}/oauth/token", bases[n % 2]))
                        .basic_auth(&client_id, Some(&secret))
                        .form(&[("grant_type", "client_credentials"), ("scope", "reference")])
                        .send()
                        .await;
                    let counter = match response.as_ref().map(reqwest::Response::status) {
                        Ok(StatusCode::OK) => &tally.ok,
                        Ok(StatusCode::TOO_MANY_REQUESTS) => &tally.limited,
                        _ => &tally.other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restarting = cluster.clone();
    tokio::task::spawn_blocking(move || restarting.restart())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let (ok, limited) = (
        tally.ok.load(Ordering::Relaxed) as i64,
        tally.limited.load(Ordering::Relaxed) as i64,
    );
    let other = tally.other.load(Ordering::Relaxed);
    eprintln!("during the restart: {ok} admitted, {limited} limited, {other} failed");
    assert!(ok >= 20, "ok {ok}, limited {limited}");

    // Every admitted and every refused answer is in the request log, once: the
    // writers held their rows through the restart and wrote them when it was back.
    let logged = |status: i64| {
        let pool = first.pool().clone();
        let client_id = client_id.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM request_log r JOIN apps a ON a.id = r.app_id \
                 WHERE a.client_id = $1 AND r.status = $2",
            )
            .bind(client_id)
            .bind(status)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let mut rows = (0, 0);
    for _ in 0..300 {
        rows = (logged(200).await, logged(429).await);
        if rows == (ok, limited) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        rows,
        (ok, limited),
        "request-log rows for 200 and 429 answers"
    );
    assert_eq!(first.state.oauth().request_log.dropped(), 0);
    assert_eq!(second.state.oauth().request_log.dropped(), 0);

    // Sessions live in the database: the partner is still signed in.
    assert_eq!(partner.get("/dashboard").await.status(), StatusCode::OK);
    let verdict = app::audit::chain::verify(first.pool()).await.unwrap();
    assert!(
        matches!(verdict, app::audit::chain::Verdict::Intact { .. }),
        "{verdict}"
    );

    // While the database is down: the portal says so with 503 and Retry-After (a
    // balancer's health check fails too), and answers again once it is back.
    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.pause())
        .await
        .unwrap();
    let response = partner.get("/dashboard").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    assert!(response.text().await.unwrap().contains("Back in a moment"));
    assert_eq!(
        partner.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let resuming = cluster.clone();
    tokio::task::spawn_blocking(move || resuming.resume())
        .await
        .unwrap();
    assert_eq!(partner.get("/dashboard").await.status(), StatusCode::OK);

    // The limiter recovers: once both instances have beaten again, a small quota is
    // counted in the database exactly: 20 of 30 concurrent calls across both.
    for _ in 0..300 {
        if first.state.limits.degraded_since().is_none()
            && second.state.limits.degraded_since().is_none()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(first.state.limits.degraded_since().is_none());
    assert!(second.state.limits.degraded_since().is_none());
    let (client_id, secret) = app_with_quota(&first, "After the restart", "20").await;
    let http = reqwest::Client::new();
    let calls = (0..30).map(|n| {
        let http = http.clone();
        let url = format!("{}/oauth/token", bases[n % 2]);
        let (client_id, secret) = (client_id.clone(), secret.clone());
        async move {
            http.post(url)
                .basic_auth(client_id, Some(secret))
                .form(&[("grant_type", "client_credentials"), ("scope", "reference")])
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let admitted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(admitted, 20, "{statuses:?}");
    let hits: i64 = sqlx::query_scalar("SELECT hits FROM rate_windows WHERE key = $1")
        .bind(format!("client:{client_id}"))
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(hits, 20);
}
