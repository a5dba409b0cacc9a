//! Issue 27: webhook delivery that no partner can hold up for another (review
//! finding N6), that never goes through an outbound proxy from the environment
//! (N7), and whose tables do not only grow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Backend, TestServer};
use crate::webhook_receiver::{register, send_test, Receiver, ADMIN};

const FJORD: &str = "admin@fjord-analytics.example.com";

/// N6: Acme's endpoint accepts every delivery and never answers (until the 10 s
/// timeout), and Acme queues a burst of test events to it; Fjord's endpoint answers
/// at once. Fjord's delivery goes out while Acme's first attempt is still hanging,
/// and Acme's endpoint has one attempt in flight, not a slot per message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n6_a_hanging_endpoint_does_not_delay_another_organisation() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let server = TestServer::start_with(Backend::Sqlite, |s| receiver.configure(s))
        .await
        .unwrap();
    receiver.follow_clock(&server).await;
    let acme = server.demo_partner_user(ADMIN).await;
    let fjord = server.demo_staff(FJORD, 0).await;
    let (hang, hang_secret) =
        register(&acme, &receiver.url("/hang"), &["access_request.decided"]).await;
    let (fast, fast_secret) =
        register(&fjord, &receiver.url("/fast"), &["access_request.decided"]).await;
    let hanging: Vec<_> = (0..30)
        .map(|_| json!({ "status": 200, "delayMs": 12_000 }))
        .collect();
    receiver
        .control(json!({ "path": "/hang", "secrets": [hang_secret], "plan": hanging }))
        .await;
    receiver
        .control(json!({ "path": "/fast", "secrets": [fast_secret] }))
        .await;
    for _ in 0..20 {
        send_test(&acme, &hang).await;
    }
    receiver.wait_for("/hang", 1).await;
    send_test(&fjord, &fast).await;
    receiver.wait_for("/fast", 1).await;
    let hang_seen: Vec<_> = receiver
        .log()
        .await
        .into_iter()
        .filter(|e| e["path"] == "/hang")
        .collect();
    assert_eq!(hang_seen.len(), 1, "one attempt in flight per endpoint");
    assert_eq!(
        hang_seen[0]["answered"], false,
        "Fjord's delivery went out while Acme's was still hanging"
    );

    // Test events are limited per organisation: 30 a minute. A fresh minute (by the
    // application's clock), then 30 at once pass and the 31st is refused.
    server.state.clock.advance(61);
    for _ in 0..30 {
        send_test(&acme, &hang).await;
    }
    let page = format!("/webhooks/{hang}");
    let refused = acme.submit(&page, &format!("{page}/test"), &[]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let queued: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_messages WHERE endpoint_id = $1")
            .bind(&hang)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(queued, 50, "the refused one queued nothing");
    // Fjord's own limit is untouched by Acme's.
    send_test(&fjord, &fast).await;
}

/// Finished deliveries are deleted by the scheduler's `webhooks_prune` job after 30
/// days, with their attempts; pending ones and recent ones stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_deliveries_are_pruned_by_the_scheduler() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let server = TestServer::start_with(Backend::Sqlite, |s| receiver.configure(s))
        .await
        .unwrap();
    receiver.follow_clock(&server).await;
    let acme = server.demo_partner_user(ADMIN).await;
    let (id, secret) = register(&acme, &receiver.url("/ok"), &["access_request.decided"]).await;
    receiver
        .control(json!({ "path": "/ok", "secrets": [secret] }))
        .await;
    send_test(&acme, &id).await;
    receiver.wait_for("/ok", 1).await;
    let message = crate::webhook_receiver::newest_message(&server, &id).await;
    crate::webhook_receiver::settle(&server, &message, 1).await;
    server.run_job("webhooks_prune").await;
    let count = |sql: &'static str| {
        let server = &server;
        let message = message.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(message)
                .fetch_one(server.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM webhook_messages WHERE id = $1").await,
        1,
        "recent: kept"
    );
    server.state.clock.advance(31 * 86_400);
    let summary = server.run_job("webhooks_prune").await;
    assert!(summary["pruned"].as_i64().unwrap() >= 1, "{summary}");
    assert_eq!(
        count("SELECT COUNT(*) FROM webhook_messages WHERE id = $1").await,
        0
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM webhook_attempts WHERE message_id = $1").await,
        0
    );
}

/// N7: a server started with `HTTPS_PROXY` in its environment (a child process, so
/// the variable reaches only it) delivers straight to the checked address; the
/// "proxy", a listener that counts connections, is never used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n7_an_environment_proxy_is_not_used_for_deliveries() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        receiver.configure(s);
        s.deliver_webhooks = false;
    })
    .await
    .unwrap();
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = proxy.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = proxy.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let acme = server.demo_partner_user(ADMIN).await;
    let (id, secret) = register(&acme, &receiver.url("/direct"), &["access_request.decided"]).await;
    receiver
        .control(json!({ "path": "/direct", "secrets": [secret] }))
        .await;
    let allow: Vec<String> = receiver.allow().iter().map(ToString::to_string).collect();
    let proxy_url = format!("http://{proxy_addr}");
    let _child = crate::child_server::spawn(
        &server,
        &[
            (crate::child_server::OUTBOUND_ALLOW, allow.join(",")),
            (
                crate::child_server::OUTBOUND_CA,
                receiver.ca_path.display().to_string(),
            ),
            ("HTTPS_PROXY", proxy_url.clone()),
            ("ALL_PROXY", proxy_url.clone()),
            ("https_proxy", proxy_url),
        ],
    );
    send_test(&acme, &id).await;
    receiver.wait_for("/direct", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "nothing went to the proxy"
    );
}
