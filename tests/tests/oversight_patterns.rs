//! Issue 17: the attack patterns `oversight::attacks_open_alerts_that_escalate_and_suspend`
//! does not drive, each with real requests: a burst of calls far above the client's
//! baseline, sustained 429s from a client over its rate limit, and a production
//! token request from outside the client's IP allow-list.

use reqwest::StatusCode;

use crate::both;
use crate::common::TestServer;
use crate::oversight::run_rollup;
use crate::sandbox_helpers::{app_fields, oauth_post, register_app, user_id, wait_for_log};

const FJORD: &str = "admin@fjord-analytics.example.com";

async fn token_status(
    server: &TestServer,
    path: &str,
    id: &str,
    secret: &str,
    scope: &str,
) -> StatusCode {
    let (status, _, _) = oauth_post(
        server,
        path,
        Some((id, secret)),
        &[("grant_type", "client_credentials"), ("scope", scope)],
        None,
    )
    .await;
    status
}

async fn alert(server: &TestServer, rule: &str, app_id: &str) -> Option<(String, String, String)> {
    sqlx::query_as(
        "SELECT severity, summary, evidence FROM alerts WHERE rule = $1 AND app_id = $2 AND state = 'open'",
    )
    .bind(rule)
    .bind(app_id)
    .fetch_optional(server.pool())
    .await
    .unwrap()
}

async fn spike_saturation_and_allowlist(server: TestServer) {
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let (burst_app, burst_client, burst_secret) = register_app(
        &developer,
        &app_fields("Bursty", &owner, "client_secret_basic", ""),
    )
    .await;
    let burst_secret = burst_secret.unwrap();
    let mut limited = app_fields("Limited", &owner, "client_secret_basic", "");
    for field in &mut limited {
        if field.0 == "rate_limit_per_minute" {
            field.1 = "10";
        }
    }
    let (limited_app, limited_client, limited_secret) = register_app(&developer, &limited).await;
    let limited_secret = limited_secret.unwrap();
    // Fjord's production client may ask for tokens only from 203.0.113.0/24.
    let insights: String = sqlx::query_scalar("SELECT id FROM apps WHERE name = 'Fjord insights'")
        .fetch_one(server.pool())
        .await
        .unwrap();
    let insights_client: String = sqlx::query_scalar("SELECT client_id FROM apps WHERE id = $1")
        .bind(&insights)
        .fetch_one(server.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE apps SET ip_allowlist = '203.0.113.0/24' WHERE id = $1")
        .bind(&insights)
        .execute(server.pool())
        .await
        .unwrap();
    server.forget_cached_state();
    // The roll-up and the rules have caught up with the demo's history.
    server.state.clock.advance(120);
    run_rollup(&server).await;

    // A burst: 80 tokens in a minute, 960 an hour on the 5-minute window, against a
    // baseline of nothing (the floor is 600 an hour).
    for _ in 0..80 {
        let status = token_status(
            &server,
            "/oauth/token",
            &burst_client,
            &burst_secret,
            "accounts",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // Over the limit three minutes running: 15 requests a minute against 10.
    let mut refused = Vec::new();
    for _ in 0..3 {
        let mut n = 0;
        for _ in 0..15 {
            let status = token_status(
                &server,
                "/oauth/token",
                &limited_client,
                &limited_secret,
                "accounts",
            )
            .await;
            n += usize::from(status == StatusCode::TOO_MANY_REQUESTS);
        }
        refused.push(n);
        server.state.clock.advance(60);
    }
    assert!(
        refused.iter().all(|n| *n >= 5),
        "429s each minute: {refused:?}"
    );
    // Outside the allow-list (this test calls from 127.0.0.1): refused.
    let status = token_status(
        &server,
        "/production/oauth/token",
        &insights_client,
        app::governance::demo::DEMO_PRODUCTION_SECRET,
        "reference",
    )
    .await;
    assert!(status.is_client_error(), "{status}");
    wait_for_log(&server, &burst_app, 80).await;
    wait_for_log(&server, &limited_app, 45).await;
    // The log is written in batches, off the request path.
    let mut logged = 0;
    for _ in 0..100 {
        logged = sqlx::query_scalar(
            "SELECT COUNT(*) FROM request_log WHERE app_id = $1 AND error = 'unauthorized_client'",
        )
        .bind(&insights)
        .fetch_one(server.pool())
        .await
        .unwrap();
        if logged >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(logged >= 1, "the refusal is logged");

    // Every minute above is complete and a minute old.
    server.state.clock.advance(150);
    run_rollup(&server).await;
    let (severity, summary, _) = alert(&server, "traffic_spike", &burst_app)
        .await
        .expect("a traffic-spike alert");
    assert_eq!(severity, "medium");
    assert!(summary.contains("calls an hour"), "{summary}");
    let (_, summary, _) = alert(&server, "rate_limit_saturation", &limited_app)
        .await
        .expect("a rate-limit alert");
    assert!(summary.contains("429"), "{summary}");
    assert!(
        alert(&server, "traffic_spike", &limited_app)
            .await
            .is_none(),
        "45 calls are no spike"
    );
    let (severity, _, evidence) = alert(&server, "allowlist_miss", &insights)
        .await
        .expect("an allow-list alert");
    assert_eq!(severity, "high");
    assert!(
        evidence.contains("127.0.0.1"),
        "the source is in the evidence: {evidence}"
    );
    // High severity: Fjord's admins are told too.
    server
        .wait_for_mails(
            FJORD,
            "Security alert on your API access: Call from outside the allow-list",
            1,
        )
        .await;
}
both!(spike_saturation_and_allowlist, demo);

/// The traffic generator (`gatehouse traffic`) against a real server: normal use,
/// then the authentication-failure patterns, which open their alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traffic_generator_fires_an_alert() {
    let server = TestServer::start(crate::common::Backend::Sqlite, true)
        .await
        .unwrap();
    server.state.clock.advance(120);
    run_rollup(&server).await;
    let plan = |pattern: &str| gatehouse_server::traffic::Plan {
        target: server.base.clone(),
        token_path: "/oauth/token".into(),
        api_path: "/sandbox/open-banking/v3.1".into(),
        client_id: app::accounts::bootstrap::DEMO_CLIENT_ID.into(),
        client_secret: app::accounts::bootstrap::DEMO_CLIENT_SECRET.into(),
        pattern: pattern.into(),
        minutes: 0,
        rate: 6000,
        forwarded_for: None,
    };
    let report = gatehouse_server::traffic::run(plan("auth-failures"))
        .await
        .unwrap();
    assert_eq!(
        report.split(" in ").next(),
        Some("auth-failures: 12"),
        "{report}"
    );
    assert!(report.contains("12× 401"), "{report}");
    let report = gatehouse_server::traffic::run(plan("grant-failures"))
        .await
        .unwrap();
    assert!(report.contains("12× 400"), "{report}");
    let report = gatehouse_server::traffic::run(plan("enumeration"))
        .await
        .unwrap();
    assert!(report.contains("25× 403"), "{report}");
    assert!(gatehouse_server::traffic::run(plan("nonsense"))
        .await
        .is_err());
    let demo_app: String = sqlx::query_scalar("SELECT id FROM apps WHERE client_id = $1")
        .bind(app::accounts::bootstrap::DEMO_CLIENT_ID)
        .fetch_one(server.pool())
        .await
        .unwrap();
    wait_for_log(&server, &demo_app, 50).await;
    server.state.clock.advance(150);
    run_rollup(&server).await;
    // The wrong secrets are the source address's alert, the refused grants the
    // client's own.
    let (org, evidence): (Option<String>, String) = sqlx::query_as(
        "SELECT org_id, evidence FROM alerts WHERE group_key = 'auth_failures:source:127.0.0.1'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(org, None);
    assert!(evidence.contains(&demo_app), "{evidence}");
    let own: String = sqlx::query_scalar(
        "SELECT evidence FROM alerts WHERE rule = 'auth_failures' AND app_id = $1",
    )
    .bind(&demo_app)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert!(own.contains("\"failures\":12"), "{own}");
    assert!(
        alert(&server, "enumeration", &demo_app).await.is_some(),
        "the enumeration's alert"
    );
}
