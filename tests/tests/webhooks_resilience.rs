//! Webhook deliveries when things go wrong for long (issue 17): the whole retry
//! schedule and an endpoint disabled after days of failures, two instances on one
//! PostgreSQL delivering each message once, and a `kill -9` of the instance that was
//! delivering.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{Backend, TestServer};
use crate::webhook_receiver::*;

/// The whole schedule: ten attempts at 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
/// 20 h and 24 h, then the message has failed; the endpoint, failing for five days
/// without one success, is then disabled and its owners e-mailed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_days_is_disabled() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let server = TestServer::start_with(Backend::Sqlite, |s| receiver.configure(s))
        .await
        .unwrap();
    receiver.follow_clock(&server).await;
    let admin = server.demo_partner_user(ADMIN).await;
    // Decisions only: the clock moves by days, and the sweep's events must not land here.
    let (id, secret) = register(&admin, &receiver.url("/down"), &["access_request.decided"]).await;
    let plan: Vec<Value> = (0..30).map(|_| json!({ "status": 500 })).collect();
    receiver
        .control(json!({ "path": "/down", "secrets": [secret], "plan": plan }))
        .await;
    send_test(&admin, &id).await;
    let first = newest_message(&server, &id).await;
    let started = server.state.clock.now();
    settle(&server, &first, 1).await;
    for (n, wait) in app::webhooks::delivery::SCHEDULE.iter().enumerate() {
        let (_, _, next) = message(&server, &first).await;
        let next = next.unwrap();
        // The wait runs from the end of the attempt: its start (whole seconds) plus
        // its latency, and a second for the bookkeeping around the request.
        let (at, latency_ms): (i64, i64) = sqlx::query_as(
            "SELECT at, latency_ms FROM webhook_attempts WHERE message_id = $1 ORDER BY attempt DESC LIMIT 1",
        )
        .bind(&first)
        .fetch_one(server.pool())
        .await
        .unwrap();
        let ended = next - wait;
        assert!(
            (at..=at + (latency_ms + 1999) / 1000).contains(&ended),
            "wait before retry {}: due {next}, attempt at {at} took {latency_ms} ms",
            n + 1
        );
        receiver
            .advance(&server, next - server.state.clock.now())
            .await;
        settle(&server, &first, i64::try_from(n).unwrap() + 2).await;
    }
    assert_eq!(
        message(&server, &first).await.0,
        "failed",
        "gave up after ten attempts"
    );
    assert_eq!(statuses(&server, &first).await, vec![500; 10]);
    assert_eq!(receiver.count("/down").await, 10);
    let log = receiver.log().await;
    assert!(
        log.iter().all(|e| e["verifiedWith"] == json!([0])),
        "every attempt verified"
    );
    assert_eq!(
        endpoint_state(&server, &id).await.0,
        "active",
        "three days: not yet"
    );

    // Two days later, more failures: five days without a success.
    let elapsed = server.state.clock.now() - started;
    receiver.advance(&server, 5 * 86_400 - elapsed - 60).await;
    // Days on, the admin signs in again (a session lasts 12 hours of the clock).
    let admin = server.demo_partner_user(ADMIN).await;
    send_test(&admin, &id).await;
    let second = newest_message(&server, &id).await;
    settle(&server, &second, 1).await;
    assert_eq!(
        endpoint_state(&server, &id).await.0,
        "active",
        "just under five days"
    );
    // The first retry is due 5 s later: a minute past the five days.
    receiver
        .advance(&server, app::webhooks::delivery::SCHEDULE[0] + 60)
        .await;
    settle(&server, &second, 2).await;
    let (state, reason) = endpoint_state(&server, &id).await;
    assert_eq!(state, "disabled");
    assert_eq!(reason.as_deref(), Some("every delivery failed for 5 days"));
    assert_eq!(message(&server, &second).await.0, "cancelled");
    server
        .wait_for_mails(ADMIN, "A webhook endpoint was disabled", 1)
        .await;
}

/// Two instances on one PostgreSQL, both delivering: each of 20 messages reaches
/// the receiver once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_message_once() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let Some(server) = TestServer::start_with(Backend::Postgres, |s| receiver.configure(s)).await
    else {
        return;
    };
    let second = server.second_instance(|s| receiver.configure(s)).await;
    receiver.follow_clock(&server).await;
    let admin = server.demo_partner_user(ADMIN).await;
    let (id, secret) = register(&admin, &receiver.url("/twice"), &["access_request.decided"]).await;
    receiver
        .control(json!({ "path": "/twice", "secrets": [secret] }))
        .await;
    for _ in 0..20 {
        send_test(&admin, &id).await;
    }
    // Both instances' workers race for them; the test adds rounds on both at once.
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            app::webhooks::dispatch::deliver_due(&server.state),
            app::webhooks::dispatch::deliver_due(&second.state)
        );
        a.unwrap();
        b.unwrap();
    }
    receiver.wait_for("/twice", 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen: Vec<Value> = receiver
        .log()
        .await
        .into_iter()
        .filter(|e| e["path"] == "/twice")
        .collect();
    assert_eq!(seen.len(), 20, "one delivery per message");
    let mut ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    assert!(seen.iter().all(|e| e["verifiedWith"] == json!([0])));
    let once: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_messages WHERE endpoint_id = $1 AND state = 'delivered' AND attempts = 1",
    )
    .bind(&id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(once, 20);
}

/// An instance killed (`kill -9`) while its delivery is in flight: no other
/// instance sends the message while the claim holds; after it, the message goes out
/// again with the same `webhook-id`, and the receiver never gets a message it had
/// already acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_by_kill_9_is_sent_again_once() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        receiver.configure(s);
        s.deliver_webhooks = false;
    })
    .await
    .unwrap();
    let admin = server.demo_partner_user(ADMIN).await;
    let (id, secret) = register(&admin, &receiver.url("/slow"), &["access_request.decided"]).await;
    receiver
        .control(json!({ "path": "/slow", "secrets": [secret], "plan": [{ "status": 200, "delayMs": 4000 }] }))
        .await;
    let allow: Vec<String> = receiver.allow().iter().map(ToString::to_string).collect();
    let mut child = crate::child_server::spawn(
        &server,
        &[
            (crate::child_server::OUTBOUND_ALLOW, allow.join(",")),
            (
                crate::child_server::OUTBOUND_CA,
                receiver.ca_path.display().to_string(),
            ),
        ],
    );
    send_test(&admin, &id).await;
    let seen = receiver.wait_for("/slow", 1).await;
    assert_eq!(seen[0]["answered"], false, "the answer is held back");
    child.kill_9();
    let message_id = seen[0]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(
        receiver.log().await[0]["abandoned"],
        true,
        "the killed instance got no answer"
    );

    // The claim holds: nothing is sent again yet.
    let (state, attempts, _) = message(&server, &message_id).await;
    assert_eq!((state.as_str(), attempts), ("pending", 1));
    assert_eq!(
        app::webhooks::dispatch::deliver_due(&server.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(receiver.count("/slow").await, 1);

    // After it, once more, with the same webhook-id.
    server
        .state
        .clock
        .advance(app::webhooks::delivery::CLAIM_SECONDS + 1);
    receiver.follow_clock(&server).await;
    settle(&server, &message_id, 2).await;
    assert_eq!(message(&server, &message_id).await.0, "delivered");
    assert_eq!(statuses(&server, &message_id).await, [0, 200]);
    let seen = receiver.wait_for("/slow", 2).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1]["id"], message_id.as_str());
    assert_eq!(seen[1]["answered"], true);
    assert!(
        seen.iter().all(|e| e["alreadyAcknowledged"] == false),
        "nothing acknowledged came again"
    );
    let error: String = sqlx::query_scalar(
        "SELECT error FROM webhook_attempts WHERE message_id = $1 AND attempt = 1",
    )
    .bind(&message_id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert!(error.contains("interrupted"), "{error}");
}
