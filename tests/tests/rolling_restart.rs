//! Issue 30: a rolling restart loses nothing. Two instances on one PostgreSQL (this
//! test's server and a child process, as a second machine would run it) serve token
//! requests and queue webhook deliveries while the child is stopped with SIGTERM and
//! a new one started in its place. Afterwards every answered request is in the
//! request log, every webhook message reached its receiver, the audit trail is whole
//! and no scheduled job ran twice at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::child_server::{self, Process};
use crate::common::{Backend, Client, TestServer};
use crate::webhook_receiver::{register, send_test, Receiver, ADMIN};

const CLIENT_ID: &str = "cli_demo_acme_sandbox";
const SECRET: &str = "demo-sandbox-secret-acme-2026";

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A child instance on `server`'s database, listening on `addr`, ready to serve.
async fn child_at(server: &TestServer, receiver: &Receiver, addr: &str) -> Process {
    let allow: Vec<String> = receiver.allow().iter().map(ToString::to_string).collect();
    let child = child_server::spawn(
        server,
        &[
            (child_server::ADDR, addr.to_string()),
            (child_server::OUTBOUND_ALLOW, allow.join(",")),
            (
                child_server::OUTBOUND_CA,
                receiver.ca_path.display().to_string(),
            ),
        ],
    );
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(response) = http.get(format!("http://{addr}/readyz")).send().await {
            if response.status().is_success() {
                return child;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the child instance at {addr} never became ready");
}

/// Token requests to both instances, one after another on each of 4 connections,
/// until told to stop: the number answered (any status). A request refused at the
/// door (the stopped instance's port closed) is not answered and not counted.
fn traffic(
    bases: Vec<String>,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..4)
        .map(|worker| {
            let bases = bases.clone();
            let stop = stop.clone();
            let answered = answered.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut n = worker;
                while !stop.load(Ordering::Relaxed) {
                    // The child's address changes across the restart: read it each time.
                    let base = &bases[n % bases.len()];
                    n += 1;
                    let sent = http
                        .post(format!("{base}/oauth/token"))
                        .basic_auth(CLIENT_ID, Some(SECRET))
                        .form(&[("grant_type", "client_credentials"), ("scope", "reference")])
                        .send()
                        .await;
                    let answer = match sent {
                        Ok(response) => response.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if answer {
                        answered.fetch_add(1, Ordering::Relaxed);
                    } else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_loses_no_request_log_row_webhook_or_audit_event() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let Some(server) = TestServer::start_with(Backend::Postgres, |s| {
        receiver.configure(s);
        s.sandbox_max_rate_limit = 1_000_000;
    })
    .await
    else {
        return;
    };
    receiver.follow_clock(&server).await;
    sqlx::query("UPDATE apps SET rate_limit_per_minute = 1000000 WHERE client_id = $1")
        .bind(CLIENT_ID)
        .execute(server.pool())
        .await
        .unwrap();
    let acme = server.demo_partner_user(ADMIN).await;
    let (hook, secret) = register(&acme, &receiver.url("/roll"), &["access_request.decided"]).await;
    // Each delivery takes a while to answer, so some are in flight on the old
    // instance when it stops.
    let plan: Vec<_> = (0..40)
        .map(|_| json!({ "status": 200, "delayMs": 400 }))
        .collect();
    receiver
        .control(json!({ "path": "/roll", "secrets": [secret], "plan": plan }))
        .await;

    let old_addr = free_addr();
    let mut old = child_at(&server, &receiver, &old_addr).await;
    let old_base = format!("http://{old_addr}");
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let workers = traffic(
        vec![server.base.clone(), old_base.clone()],
        stop.clone(),
        answered.clone(),
    );
    // Webhook messages queued through both instances (the session is in the
    // database, so the old instance knows the partner admin too).
    let through_old = Client {
        base: old_base,
        ..acme.clone()
    };
    for n in 0..6 {
        send_test(if n % 2 == 0 { &acme } else { &through_old }, &hook).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old_instance: String =
        sqlx::query_scalar("SELECT id FROM instances WHERE address = $1 AND stopped_at IS NULL")
            .bind(&old_addr)
            .fetch_one(server.pool())
            .await
            .unwrap();

    // The rolling restart: SIGTERM, wait for the process to end, start the new one.
    old.terminate().await;
    let new_addr = free_addr();
    let _new = child_at(&server, &receiver, &new_addr).await;
    let new_base = format!("http://{new_addr}");
    let more = traffic(
        vec![server.base.clone(), new_base.clone()],
        stop.clone(),
        answered.clone(),
    );
    let through_new = Client {
        base: new_base,
        ..acme.clone()
    };
    for n in 0..4 {
        send_test(if n % 2 == 0 { &acme } else { &through_new }, &hook).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers.into_iter().chain(more) {
        worker.await.unwrap();
    }
    let answered = answered.load(Ordering::Relaxed);
    assert!(answered > 50, "traffic flowed: {answered}");

    // The old instance stopped cleanly: marked stopped, no lease left behind.
    let stopped: Option<i64> = sqlx::query_scalar("SELECT stopped_at FROM instances WHERE id = $1")
        .bind(&old_instance)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert!(stopped.is_some(), "the old instance marked itself stopped");
    assert_eq!(
        server
            .count(&format!(
                "SELECT COUNT(*) FROM scheduler_jobs WHERE lease_owner = '{old_instance}'"
            ))
            .await,
        0
    );

    // Every answered token request is in the request log (the live instances write
    // theirs within moments; the old one wrote its queue before it exited).
    let logged = |server: &TestServer| {
        let pool = server.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM request_log r JOIN apps a ON a.id = r.app_id \
                 WHERE a.client_id = $1 AND r.endpoint LIKE '%token%'",
            )
            .bind(CLIENT_ID)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let mut rows = 0;
    for _ in 0..100 {
        rows = logged(&server).await;
        if rows >= answered as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        rows, answered as i64,
        "one request-log row per answered request"
    );

    // Every webhook message reached the receiver: the ones the old instance had
    // claimed were handed back at its stop and delivered by another.
    let seen = receiver.wait_for("/roll", 10).await;
    let mut ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10, "ten distinct messages delivered: {seen:?}");
    let mut pending = -1;
    for _ in 0..100 {
        pending = server
            .count("SELECT COUNT(*) FROM webhook_messages WHERE state = 'pending'")
            .await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending, 0, "nothing left waiting");

    // The audit trail holds every test send, and its chain is whole.
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'webhook.test_sent'")
            .await,
        10
    );
    let verdict = app::audit::chain::verify(server.pool()).await.unwrap();
    assert!(
        matches!(verdict, app::audit::chain::Verdict::Intact { .. }),
        "{verdict}"
    );

    // No job ran on two instances at once: each run of a job started after the
    // previous one finished.
    let runs: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT job, instance, started_at, finished_at FROM job_runs ORDER BY job, started_at, finished_at",
    )
    .fetch_all(server.pool())
    .await
    .unwrap();
    assert!(!runs.is_empty());
    for pair in runs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.0 == b.0 && a.1 != b.1 {
            assert!(
                b.2 >= a.3,
                "{} ran on two instances at once: {a:?} {b:?}",
                a.0
            );
        }
    }
}
