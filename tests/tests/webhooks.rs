//! Issue 17, webhooks: registration refused for what the SSRF guard refuses, and
//! deliveries received by a real https receiver on loopback that verifies every
//! signature with the Standard Webhooks project's JavaScript library (node, not the
//! Rust crate that signed), through retries, `Retry-After`, `410 Gone`, a rotation's
//! overlap, and the governance sweep's events. The receiver is in `webhook_receiver`;
//! failures over days, two instances and a `kill -9` are in `webhooks_resilience`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_location, Backend, TestServer};
use crate::webhook_receiver::*;

/// Registration: https, public addresses (a name resolving to loopback too), known
/// events, a description; partner admins only; another organisation's endpoint is
/// a 404; stale forms are 409s. Nothing is written by a refused form.
async fn registration_is_validated(server: TestServer) {
    let admin = server.demo_partner_user(ADMIN).await;
    let count = || server.count("SELECT COUNT(*) FROM webhook_endpoints");
    let before = count().await;
    let long = format!("https://hooks.example.com/{}", "a".repeat(2100));
    let refused = [
        ("http://hooks.example.com/gatehouse", "Use an https URL"),
        ("https://127.0.0.1/hook", "resolves to 127.0.0.1"),
        (
            "https://localhost:1/hook",
            "a loopback, private, link-local or metadata address",
        ),
        (
            "https://169.254.169.254/latest/meta-data/",
            "resolves to 169.254.169.254",
        ),
        ("https://[::1]/hook", "resolves to ::1"),
        ("https://10.1.2.3/hook", "resolves to 10.1.2.3"),
        ("https://user:pw@hooks.example.com/hook", "Enter a full URL"),
        ("not a url", "Enter a full URL"),
        ("", "Enter the endpoint's https URL"),
        (long.as_str(), "at most 2000 characters"),
    ];
    for (url, message) in refused {
        let response = admin
            .submit(
                "/webhooks",
                "/webhooks",
                &[("url", url), ("description", "x"), ("events", "review.due")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{url}: {message}");
    }
    for (fields, message) in [
        (
            vec![("url", "https://8.8.8.8/hook"), ("description", "x")],
            "Choose at least one event.",
        ),
        (
            vec![
                ("url", "https://8.8.8.8/hook"),
                ("description", "x"),
                ("events", "credential.stolen"),
            ],
            "credential.stolen is not an event Gatehouse sends.",
        ),
        (
            vec![("url", "https://8.8.8.8/hook"), ("events", "review.due")],
            "Say what the endpoint is for",
        ),
    ] {
        let response = admin.submit("/webhooks", "/webhooks", &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}"
        );
        assert!(
            response.text().await.unwrap().contains(message),
            "{message}"
        );
    }
    // A control character is refused before any handler sees it.
    let response = admin
        .submit(
            "/webhooks",
            "/webhooks",
            &[
                ("url", "https://8.8.8.8/hook"),
                ("description", "bell\u{7}"),
                ("events", "review.due"),
            ],
        )
        .await;
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(count().await, before, "nothing written");

    // An address literal that is public registers (no connection is made).
    let (id, secret) = register(&admin, "https://8.8.8.8/gatehouse", &["review.due"]).await;
    assert!(secret.len() > 40, "{secret}");
    let (_, page) = admin.text(&format!("/webhooks/{id}")).await;
    assert!(!page.contains(&secret), "the secret is shown once");
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret FROM webhook_endpoints WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&sealed).contains(&secret[6..]),
        "kept encrypted"
    );
    assert!(server
        .audit_actions()
        .await
        .contains(&"webhook.endpoint_created".to_string()));

    // Only partner admins; another organisation's endpoint is a 404.
    let developer = server.demo_partner().await;
    assert_eq!(
        developer.get("/webhooks").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        developer.get(&format!("/webhooks/{id}")).await.status(),
        StatusCode::FORBIDDEN
    );
    let other = server
        .demo_partner_user("admin@northwind-pay.example.com")
        .await;
    assert_eq!(
        other.get(&format!("/webhooks/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let response = other
        .submit("/webhooks", &format!("/webhooks/{id}/test"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = other
        .submit(
            "/webhooks",
            &format!("/webhooks/{id}/rotate"),
            &[("version", "1")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // A stale or missing version.
    let page = format!("/webhooks/{id}");
    let response = admin
        .submit(&page, &format!("{page}/rotate"), &[("version", "7")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = admin
        .submit(&page, &format!("{page}/disable"), &[("version", "x")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = admin
        .submit(&page, &format!("{page}/disable"), &[("version", "1")])
        .await;
    assert_location(&response, &page);
    // Replaying the same form: the version moved on.
    let response = admin
        .submit(&page, &format!("{page}/disable"), &[("version", "1")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // A disabled endpoint sends nothing, not even a test.
    let response = admin.submit(&page, &format!("{page}/test"), &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = admin
        .submit(&page, &format!("{page}/enable"), &[("version", "2")])
        .await;
    assert_location(&response, &page);
    assert_eq!(endpoint_state(&server, &id).await.0, "active");
    // An unknown message id is a 404.
    let response = admin
        .submit(&page, &format!("{page}/messages/whmsg_nope/resend"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
crate::both!(registration_is_validated, demo);

/// The limit of endpoints per organisation holds when registrations arrive at once:
/// exactly enough of them succeed to reach it, and the others are told why.
async fn the_endpoint_limit_holds_under_concurrent_registrations(server: TestServer) {
    let admin = server.demo_partner_user(ADMIN).await;
    let org: String = sqlx::query_scalar("SELECT org_id FROM users WHERE email = $1")
        .bind(ADMIN)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = $1")
            .bind(&org)
            .fetch_one(server.pool())
            .await
            .unwrap()
    };
    let max = app::webhooks::endpoints::MAX_ENDPOINTS;
    let room = max - count().await;
    assert!(room > 0);
    let token = admin.csrf("/webhooks").await;
    let urls: Vec<String> = (0..room + 4)
        .map(|n| format!("https://8.8.8.8/concurrent-{n}"))
        .collect();
    let forms: Vec<[(&str, &str); 4]> = urls
        .iter()
        .map(|url| {
            [
                ("csrf_token", token.as_str()),
                ("url", url.as_str()),
                ("description", "Registered at once"),
                ("events", "review.due"),
            ]
        })
        .collect();
    let responses =
        futures_util::future::join_all(forms.iter().map(|form| admin.post("/webhooks", form)))
            .await;
    let mut registered = 0;
    for response in responses {
        match response.status() {
            StatusCode::SEE_OTHER => registered += 1,
            StatusCode::UNPROCESSABLE_ENTITY => assert!(response
                .text()
                .await
                .unwrap()
                .contains(&format!("at most {max} endpoints"))),
            other => panic!("{other}"),
        }
    }
    assert_eq!(registered, room, "exactly the room left");
    assert_eq!(count().await, max);
}
crate::both!(
    the_endpoint_limit_holds_under_concurrent_registrations,
    demo
);

/// Deliveries, verified by the receiver's own library: a test event and a real one
/// (a suspension by the bank), the retry schedule after 500s with one `webhook-id`,
/// `Retry-After`, both signatures during a rotation's overlap and one after it,
/// "send again", a 410 that stops the message and disables the endpoint (e-mailing
/// its owners), and a name that resolves to loopback at delivery time refused.
async fn deliveries_are_signed_retried_and_stopped(backend: Backend) {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let Some(server) = TestServer::start_with(backend, |s| receiver.configure(s)).await else {
        return;
    };
    receiver.follow_clock(&server).await;
    let admin = server.demo_partner_user(ADMIN).await;
    // Only suspensions: the clock moves by a day below, and the governance sweep's
    // own events must not land here.
    let (id, secret) = register(&admin, &receiver.url("/ok"), &["client.suspended"]).await;
    assert!(secret.starts_with("whsec_"));
    receiver
        .control(json!({ "path": "/ok", "secrets": [secret] }))
        .await;

    // A test event: signed, verified, the timestamp Gatehouse's clock.
    send_test(&admin, &id).await;
    let seen = receiver.wait_for("/ok", 1).await;
    let first = &seen[0];
    assert_eq!(first["type"], "webhook.test");
    assert_eq!(first["verifiedWith"], json!([0]), "{first}");
    assert_eq!(first["contentType"], "application/json");
    assert!((first["timestamp"].as_i64().unwrap() - server.state.clock.now()).abs() <= 5);
    let message_id = first["id"].as_str().unwrap().to_string();
    assert!(message_id.starts_with("whmsg_"));
    settle(&server, &message_id, 1).await;
    assert_eq!(message(&server, &message_id).await.0, "delivered");

    // A real event: the bank suspends one of the partner's clients.
    let app_id: String = sqlx::query_scalar(
        "SELECT a.id FROM apps a JOIN users u ON u.org_id = a.org_id WHERE u.email = $1 \
         AND a.revoked_at IS NULL ORDER BY a.id LIMIT 1",
    )
    .bind(ADMIN)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let bank = server.demo_staff("admin@bank.example.com", 1).await;
    let page = "/governance/bank/suspensions";
    let response = bank
        .submit(
            page,
            page,
            &[
                ("target_kind", "client"),
                ("target", &app_id),
                ("reason", "webhook test"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let seen = receiver.wait_for("/ok", 2).await;
    assert_eq!(seen[1]["type"], "client.suspended");
    assert_eq!(seen[1]["verifiedWith"], json!([0]));

    // 500, 500, then 200: the schedule's first two waits, one webhook-id throughout.
    receiver
        .control(json!({ "path": "/ok", "plan": [{ "status": 500 }, { "status": 500 }] }))
        .await;
    send_test(&admin, &id).await;
    let retried = newest_message(&server, &id).await;
    settle(&server, &retried, 1).await;
    let (state, _, next) = message(&server, &retried).await;
    assert_eq!(state, "pending");
    let at = server.state.clock.now();
    assert!((next.unwrap() - at - 5).abs() <= 2, "first retry after 5 s");
    app::webhooks::dispatch::deliver_due(&server.state)
        .await
        .unwrap();
    assert_eq!(
        receiver.count("/ok").await,
        3,
        "nothing before the retry is due"
    );
    receiver.advance(&server, 5).await;
    settle(&server, &retried, 2).await;
    let (_, _, next) = message(&server, &retried).await;
    assert!(
        (next.unwrap() - server.state.clock.now() - 300).abs() <= 2,
        "then 5 minutes"
    );
    receiver.advance(&server, 300).await;
    settle(&server, &retried, 3).await;
    assert_eq!(statuses(&server, &retried).await, [500, 500, 200]);
    assert_eq!(message(&server, &retried).await.0, "delivered");
    let seen = receiver.wait_for("/ok", 5).await;
    assert!(seen[2..5]
        .iter()
        .all(|e| e["id"] == retried.as_str() && e["verifiedWith"] == json!([0])));
    let (_, log_page) = admin.text(&format!("/webhooks/{id}")).await;
    assert!(
        log_page.contains("#1 500") && log_page.contains("#3 200"),
        "the delivery log"
    );

    // Retry-After: 120 s, not the schedule's 5 s.
    receiver
        .control(json!({ "path": "/ok", "plan": [{ "status": 503, "retryAfter": 120 }] }))
        .await;
    send_test(&admin, &id).await;
    let later = newest_message(&server, &id).await;
    settle(&server, &later, 1).await;
    let (_, _, next) = message(&server, &later).await;
    assert!(
        (next.unwrap() - server.state.clock.now() - 120).abs() <= 2,
        "Retry-After honoured"
    );
    receiver.advance(&server, 120).await;
    settle(&server, &later, 2).await;
    assert_eq!(statuses(&server, &later).await, [503, 200]);

    // Rotation: both secrets sign during the overlap, then only the new one.
    let version: i64 = sqlx::query_scalar("SELECT version FROM webhook_endpoints WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let endpoint_page = format!("/webhooks/{id}");
    let response = admin
        .submit(
            &endpoint_page,
            &format!("{endpoint_page}/rotate"),
            &[("version", &version.to_string())],
        )
        .await;
    assert_location(&response, &endpoint_page);
    let (_, html) = admin.text(&endpoint_page).await;
    let rotated = secret_in(&html);
    assert_ne!(rotated, secret);
    receiver
        .control(json!({ "path": "/ok", "secrets": [secret, rotated] }))
        .await;
    let tests = |n| receiver.wait_for_type("/ok", Some("webhook.test"), n);
    let before = tests(1).await.len();
    send_test(&admin, &id).await;
    let seen = tests(before + 1).await;
    assert_eq!(seen[before]["signatures"], 2);
    assert_eq!(
        seen[before]["verifiedWith"],
        json!([0, 1]),
        "each secret verifies alone"
    );
    receiver.advance(&server, 24 * 3600 + 1).await;
    // A day on: the admin's session has ended (12 hours of the clock).
    let admin = server.demo_partner_user(ADMIN).await;
    send_test(&admin, &id).await;
    let seen = tests(before + 2).await;
    assert_eq!(seen[before + 1]["signatures"], 1);
    assert_eq!(
        seen[before + 1]["verifiedWith"],
        json!([1]),
        "the old secret no longer signs"
    );

    // Send again: the same webhook-id once more.
    let page = format!("/webhooks/{id}");
    let response = admin
        .submit(&page, &format!("{page}/messages/{message_id}/resend"), &[])
        .await;
    assert_location(&response, &page);
    let seen = tests(before + 3).await;
    assert_eq!(seen[before + 2]["id"], message_id.as_str());
    settle(&server, &message_id, 2).await;

    // A name that resolves to a loopback address at delivery time is refused, though
    // the receiver listens there: registered while it resolved to a public address.
    server.state.outbound.hosts.write().unwrap().insert(
        "rebind.partner.test".into(),
        vec!["93.184.215.14".parse().unwrap()],
    );
    let rebind_url = format!("https://rebind.partner.test:{}/rebind", receiver.port);
    let (rebind, _) = register(&admin, &rebind_url, &ALL_EVENTS).await;
    server.state.outbound.hosts.write().unwrap().insert(
        "rebind.partner.test".into(),
        vec!["127.0.0.2".parse().unwrap()],
    );
    send_test(&admin, &rebind).await;
    let refused = newest_message(&server, &rebind).await;
    settle(&server, &refused, 1).await;
    let error: String =
        sqlx::query_scalar("SELECT error FROM webhook_attempts WHERE message_id = $1")
            .bind(&refused)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert!(error.contains("non-public address (127.0.0.2)"), "{error}");
    assert_eq!(receiver.count("/rebind").await, 0, "never contacted");
    // The same on a port the operator did not allow: 127.0.0.1 itself, the metadata
    // address and a private one.
    let hosts = || server.state.outbound.hosts.write().unwrap();
    hosts().insert(
        "rebind.partner.test".into(),
        vec!["93.184.215.14".parse().unwrap()],
    );
    let other_port = format!("https://rebind.partner.test:{}/rebind", receiver.port + 1);
    let (other, _) = register(&admin, &other_port, &ALL_EVENTS).await;
    for address in ["127.0.0.1", "169.254.169.254", "10.0.0.7"] {
        hosts().insert("rebind.partner.test".into(), vec![address.parse().unwrap()]);
        send_test(&admin, &other).await;
        let refused = newest_message(&server, &other).await;
        settle(&server, &refused, 1).await;
        let error: String =
            sqlx::query_scalar("SELECT error FROM webhook_attempts WHERE message_id = $1")
                .bind(&refused)
                .fetch_one(server.pool())
                .await
                .unwrap();
        assert!(
            error.contains(&format!("non-public address ({address})")),
            "{error}"
        );
    }

    // 410 Gone: no retry, the endpoint is disabled and its owners told.
    let (gone, gone_secret) = register(&admin, &receiver.url("/gone"), &ALL_EVENTS).await;
    receiver
        .control(json!({ "path": "/gone", "secrets": [gone_secret], "plan": [{ "status": 410 }] }))
        .await;
    send_test(&admin, &gone).await;
    let stopped = newest_message(&server, &gone).await;
    settle(&server, &stopped, 1).await;
    assert_eq!(message(&server, &stopped).await.0, "failed");
    let (state, reason) = endpoint_state(&server, &gone).await;
    assert_eq!(state, "disabled");
    assert_eq!(reason.as_deref(), Some("the endpoint answered 410 Gone"));
    server
        .wait_for_mails(ADMIN, "A webhook endpoint was disabled", 1)
        .await;
    server.state.clock.advance(3600);
    app::webhooks::dispatch::deliver_due(&server.state)
        .await
        .unwrap();
    assert_eq!(receiver.count("/gone").await, 1, "not retried");
    assert!(server
        .audit_actions()
        .await
        .contains(&"webhook.endpoint_disabled".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_and_stopped_sqlite() {
    deliveries_are_signed_retried_and_stopped(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_and_stopped_postgres() {
    deliveries_are_signed_retried_and_stopped(Backend::Postgres).await;
}

/// The governance sweep's events reach the partner's endpoints, queued in the
/// sweep's own transaction: a dormant credential revoked, a credential about to
/// expire. Each once, whichever sweep (this one or the scheduler's) applied them.
async fn the_sweep_reports_through_webhooks(server: TestServer) {
    let fjord = server
        .demo_staff("admin@fjord-analytics.example.com", 0)
        .await;
    let (id, _) = register(
        &fjord,
        "https://8.8.8.8/fjord",
        &[
            "credential.expiring",
            "credential.revoked",
            "client.suspended",
        ],
    )
    .await;
    server.state.clock.advance(25 * 86_400);
    app::governance::sweep::run(&server.state, server.state.clock.now())
        .await
        .unwrap();
    app::governance::sweep::run(&server.state, server.state.clock.now())
        .await
        .unwrap();
    let events: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_type, payload FROM webhook_messages WHERE endpoint_id = $1 ORDER BY created_at, id",
    )
    .bind(&id)
    .fetch_all(server.pool())
    .await
    .unwrap();
    let revoked: Vec<&(String, String)> = events
        .iter()
        .filter(|(t, _)| t == "credential.revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{events:?}");
    let payload: Value = serde_json::from_str(&revoked[0].1).unwrap();
    assert_eq!(payload["type"], "credential.revoked");
    assert!(
        payload["data"]["credential_id"]
            .as_str()
            .unwrap()
            .starts_with("crd_"),
        "{payload}"
    );
    assert!(
        payload["data"]["description"]
            .as_str()
            .unwrap()
            .contains("Fjord reporting"),
        "{payload}"
    );
    assert!(
        events.iter().any(|(t, _)| t == "credential.expiring"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|(t, _)| [
            "credential.expiring",
            "credential.revoked",
            "client.suspended"
        ]
        .contains(&t.as_str())),
        "only the subscribed events: {events:?}"
    );
}
crate::both!(the_sweep_reports_through_webhooks, demo);
