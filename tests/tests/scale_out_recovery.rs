//! Issue 30: what happens when an instance dies or loses the database. An instance
//! that stops beating is shown as gone, the others' shares grow back and its job
//! leases are taken back at once; an instance cut off from PostgreSQL (a TCP proxy
//! between them that stops passing bytes, as a network partition or a database
//! restart looks to it) holds each client to its own share in memory, neither open
//! nor closed, and the bank gets an alert once the database answers again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::common::{Backend, TestServer};
use crate::scale_out::{app_with_quota, both_live, demo};
use app::platform::limiter::Limit;

/// Polls `check` every 100 ms for up to 20 s.
async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_stops_beating_is_gone_and_its_leases_are_taken_back() {
    let Some(server) = TestServer::start_with(Backend::Postgres, demo).await else {
        return;
    };
    // Another instance beat a moment ago and holds a job's lease for ten minutes.
    let now = server.state.clock.now();
    sqlx::query(
        "INSERT INTO instances (id, version, address, started_at, last_beat_at) \
         VALUES ('ins_killed', '0.1.0', '10.0.0.9:3000', $1, $2)",
    )
    .bind(now - 3600)
    .bind(now)
    .execute(server.pool())
    .await
    .unwrap();
    sqlx::query(
        "UPDATE scheduler_jobs SET lease_owner = 'ins_killed', lease_until = $1 WHERE name = 'usage_prune'",
    )
    .bind(now + 600)
    .execute(server.pool())
    .await
    .unwrap();
    let limits = &server.state.limits;
    until("the server counting two instances", async || {
        limits.live() == 2
    })
    .await;
    let large = Limit::per_minute("client", 800);
    assert_eq!(limits.batch(&large), 10, "a fortieth of half of 800");

    // It is killed: no clean stop, no beat for longer than GONE_AFTER.
    sqlx::query("UPDATE instances SET last_beat_at = $1 WHERE id = 'ins_killed'")
        .bind(now - app::instances::GONE_AFTER - 1)
        .execute(server.pool())
        .await
        .unwrap();
    // Within a heartbeat: the share is the whole limit again, and the lease is free.
    until("the share growing back", async || limits.live() == 1).await;
    assert_eq!(limits.batch(&large), 20);
    let owner: Option<String> =
        sqlx::query_scalar("SELECT lease_owner FROM scheduler_jobs WHERE name = 'usage_prune'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_ne!(owner.as_deref(), Some("ins_killed"));
    let summary = server.run_job("usage_prune").await;
    assert!(summary.is_object(), "the job runs here: {summary}");

    let admin = server.demo_staff("admin@bank.example.com", 1).await;
    let (status, page) = admin.text("/admin/instances").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("ins_killed"), "{page}");
    assert_eq!(page.matches("<td>gone</td>").count(), 1, "{page}");
    assert!(page.contains("shared through the database by the 1 live instance(s)"));
}

/// A TCP proxy to `target` that passes bytes while its gate is open and holds them
/// while it is shut (connections stay up: to the instance the database just stops
/// answering).
async fn proxy(target: String) -> (u16, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (gate, _) = watch::channel(true);
    let opened = gate.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let (up, down) = (opened.subscribe(), opened.subscribe());
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                let (from_client, to_client) = inbound.into_split();
                let (from_db, to_db) = outbound.into_split();
                tokio::spawn(pipe(from_client, to_db, up));
                pipe(from_db, to_client, down).await;
            });
        }
    });
    (port, gate)
}

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut gate: watch::Receiver<bool>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if gate.wait_for(|open| *open).await.is_err() || to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

async fn token(base: &str, client_id: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "accounts")])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_cut_off_from_the_database_keeps_its_share_and_the_bank_is_alerted() {
    let Some(direct) = TestServer::start_with(Backend::Postgres, demo).await else {
        return;
    };
    let mut url = url::Url::parse(direct.state.settings.database_url.as_deref().unwrap()).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let (port, gate) = proxy(target).await;
    url.set_port(Some(port)).unwrap();
    let cut = direct
        .second_instance(|settings| {
            settings.database_url = Some(url.to_string());
            // Its state cache (the client, its suspensions) outlives the cut, as a
            // short partition would find it.
            settings.state_cache_ms = 600_000;
        })
        .await;
    both_live(&direct, &cut).await;
    let (client_id, secret) = app_with_quota(&direct, "Partition app", "10").await;
    let first = token(&cut.base, &client_id, &secret).await;
    assert_eq!(first.status(), StatusCode::OK, "counted in the database");

    // The database stops answering this instance.
    gate.send_replace(false);
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..8 {
        let response = token(&cut.base, &client_id, &secret).await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
        }
    }
    let admitted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        admitted, 5,
        "neither open nor closed: its share of 10 over 2 instances: {statuses:?}"
    );
    let refused = refused.expect("beyond the share, refused");
    assert!(refused.headers().contains_key("retry-after"));
    assert!(cut.state.limits.degraded_since().is_some());
    // The other instance still counts in the database, where the limit holds.
    let other = token(&direct.base, &client_id, &secret).await;
    assert_eq!(other.status(), StatusCode::OK);

    // Two seconds (or more) later the database answers again: the next heartbeat ends the
    // degraded period and the bank's on-call staff get an alert naming the instance.
    cut.state.clock.advance(2);
    gate.send_replace(true);
    let pool = direct.pool().clone();
    until("the limiter_degraded alert", async || {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM alerts WHERE rule = 'limiter_degraded'")
            .fetch_one(&pool)
            .await
            .unwrap()
            == 1
    })
    .await;
    assert!(cut.state.limits.degraded_since().is_none());
    let (summary, evidence, severity): (String, String, String) = sqlx::query_as(
        "SELECT summary, evidence, severity FROM alerts WHERE rule = 'limiter_degraded'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(summary.contains(&cut.state.instance), "{summary}");

    assert_eq!(severity, "high");
    let evidence: serde_json::Value = serde_json::from_str(&evidence).unwrap();
    assert_eq!(evidence["instance"], cut.state.instance.as_str());
    assert_eq!(evidence["live_instances"], 2);
    let lasted = evidence["to"].as_i64().unwrap() - evidence["from"].as_i64().unwrap();
    assert!(lasted >= 2, "the period covers the cut: {evidence}");
    assert!(summary.contains(&format!("({lasted} s)")), "{summary}");
    let admin = direct.demo_staff("admin@bank.example.com", 1).await;
    let (status, page) = admin.text("/alerts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Rate limits counted in memory"), "{page}");

    // Counting in the database again: what the two instances admitted while apart is
    // not forgotten there, and the window's limit holds from here on.
    let mut after = Vec::new();
    for i in 0..12 {
        let base = if i % 2 == 0 { &cut.base } else { &direct.base };
        after.push(token(base, &client_id, &secret).await.status());
    }
    let more = after.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        more,
        10 - 2,
        "the database had counted 2 in this window: {after:?}"
    );
}
