//! Issue 17: usage analytics and anomaly alerts against the real server. Attack
//! patterns are driven with real requests (bad secrets, enumeration of ids, a burst
//! of calls outside the client's scopes), the roll-up and the rules run through the
//! scheduler on a controlled clock, and the bank works the alert over HTTP.

use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both;
use crate::common::{assert_location, TestServer};
use crate::sandbox_helpers::{app_fields, oauth_post, register_app, user_id, wait_for_log};

const BASE: &str = "/sandbox/open-banking/v3.1";

/// Runs scheduler job `name` now. The server's own scheduler may hold the job's
/// lease at that moment (its first tick runs every job): then this waits for it
/// and runs the job once more.
async fn run_job(server: &TestServer, name: &str) -> Value {
    server.run_job(name).await
}

pub(crate) async fn run_rollup(server: &TestServer) -> Value {
    run_job(server, "usage_rollup").await
}

async fn alert_of(
    server: &TestServer,
    rule: &str,
    app_id: &str,
) -> Option<(String, String, i64, Option<i64>)> {
    sqlx::query_as(
        "SELECT id, state, version, escalated_at FROM alerts WHERE rule = $1 AND app_id = $2 ORDER BY first_seen_at DESC LIMIT 1",
    )
    .bind(rule)
    .bind(app_id)
    .fetch_optional(server.pool())
    .await
    .unwrap()
}

async fn mails_like(server: &TestServer, subject: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT recipient FROM outbox WHERE subject LIKE $1 ORDER BY recipient")
        .bind(format!("%{subject}%"))
        .fetch_all(server.pool())
        .await
        .unwrap()
}

async fn token(server: &TestServer, id: &str, secret: &str) -> (StatusCode, Value) {
    let (status, _, body) = oauth_post(
        server,
        "/oauth/token",
        Some((id, secret)),
        &[("grant_type", "client_credentials"), ("scope", "accounts")],
        None,
    )
    .await;
    (status, body)
}

/// A refresh token the client does not hold, sent with its real secret: the client's
/// own failure (`invalid_grant`).
async fn stolen_refresh(server: &TestServer, client_id: &str, secret: &str, refresh: &str) {
    let (status, _, body) = oauth_post(
        server,
        "/oauth/token",
        Some((client_id, secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
}

async fn attacks_open_alerts_that_escalate_and_suspend(server: TestServer) {
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let (app_id, client_id, secret) = register_app(
        &developer,
        &app_fields("Watched", &owner, "client_secret_basic", ""),
    )
    .await;
    let secret = secret.unwrap();
    // Bank staff sign in now: their sessions outlive the minutes this test moves on.
    let reviewer = server.demo_staff("reviewer@bank.example.com", 1).await;
    let admin = server.demo_staff("admin@bank.example.com", 1).await;
    // The roll-up and the rules have caught up with the demo's history.
    server.state.clock.advance(120);
    run_rollup(&server).await;
    let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts")
        .fetch_one(server.pool())
        .await
        .unwrap();

    // The client's own failures: 12 refresh tokens it does not hold, sent with its
    // real secret (the threshold is 10 in 5 minutes). Wrong secrets are the source
    // address's alert, never the client's (governance_escapes, review L13).
    for n in 0..12 {
        stolen_refresh(&server, &client_id, &secret, &format!("stolen-{n}")).await;
    }
    // Enumeration: a valid token, then 25 account ids that are not the client's.
    let (status, body) = token(&server, &client_id, &secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    for n in 0..25 {
        let response = http
            .get(format!("{}{BASE}/aisp/accounts/acc_guess_{n}", server.base))
            .bearer_auth(&access)
            .header("x-fapi-financial-id", "0015800001041RHAAY")
            .send()
            .await
            .unwrap();
        assert!(
            matches!(response.status().as_u16(), 403 | 404),
            "{}",
            response.status()
        );
    }
    // Calls needing a scope the client does not hold (payments).
    let response = http
        .post(format!(
            "{}{BASE}/pisp/domestic-payment-consents",
            server.base
        ))
        .bearer_auth(&access)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let logged = wait_for_log(&server, &app_id, 12 + 1 + 25 + 1).await;
    assert!(logged >= 39, "{logged} of the 39 requests in the log");

    // Nothing is rolled up before the minute is complete and a minute old.
    let summary = run_rollup(&server).await;
    assert!(
        alert_of(&server, "auth_failures", &app_id).await.is_none(),
        "{summary}"
    );
    server.state.clock.advance(150);
    let summary = run_rollup(&server).await;
    let (auth_id, state, _, _) = alert_of(&server, "auth_failures", &app_id)
        .await
        .expect("an auth-failure alert");
    assert_eq!(state, "open", "{summary}");
    assert!(
        alert_of(&server, "enumeration", &app_id).await.is_some(),
        "{summary}"
    );
    assert!(
        alert_of(&server, "scope_not_held", &app_id).await.is_some(),
        "{summary}"
    );
    // The evidence names the counts and samples from the request log.
    let evidence: String = sqlx::query_scalar("SELECT evidence FROM alerts WHERE id = $1")
        .bind(&auth_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let evidence: Value = serde_json::from_str(&evidence).unwrap();
    assert_eq!(evidence["failures"], 12);
    let sample = evidence["sample_requests"][0].as_str().unwrap().to_string();
    let logged: String = sqlx::query_scalar("SELECT error FROM request_log WHERE id = $1")
        .bind(&sample)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(logged, "invalid_grant");
    // The on-call roles (reviewers and admins) were told; a high-severity alert
    // also reached the partner's admins.
    let told = mails_like(&server, "Gatehouse alert: Authentication-failure burst").await;
    assert!(
        told.iter().any(|r| r == "reviewer@bank.example.com"),
        "{told:?}"
    );
    assert!(
        told.iter().any(|r| r == "admin@bank.example.com"),
        "{told:?}"
    );
    let partner = mails_like(
        &server,
        "Security alert on your API access: Authentication-failure burst",
    )
    .await;
    assert!(
        partner
            .iter()
            .any(|r| r == "admin@acme-budgeting.example.com"),
        "{partner:?}"
    );

    // The usage series agree with the request log.
    let (calls, errors): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(calls) AS BIGINT), CAST(SUM(client_errors) AS BIGINT) FROM usage_series WHERE app_id = $1 AND granularity = 60",
    )
    .bind(&app_id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let (logged, logged_errors): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(CASE WHEN status >= 400 AND status < 500 THEN 1 ELSE 0 END) AS BIGINT) FROM request_log WHERE app_id = $1",
    )
    .bind(&app_id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!((calls, errors), (logged, logged_errors));

    // Repeats group: another evaluation of the same minutes opens nothing new.
    server.state.clock.advance(60);
    run_rollup(&server).await;
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts")
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(after - before, 3, "auth failures, enumeration, scope");
    assert_eq!(
        told.len(),
        mails_like(&server, "Gatehouse alert: Authentication-failure burst")
            .await
            .len()
    );
    // More failures later add to the open alert.
    for n in 0..10 {
        stolen_refresh(&server, &client_id, &secret, &format!("again-{n}")).await;
    }
    wait_for_log(&server, &app_id, 49).await;
    server.state.clock.advance(150);
    run_rollup(&server).await;
    let occurrences: i64 = sqlx::query_scalar("SELECT occurrences FROM alerts WHERE id = $1")
        .bind(&auth_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(occurrences, 2);
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM alerts")
            .fetch_one(server.pool())
            .await
            .unwrap(),
        after
    );

    // The open alert is a risk fact.
    let org: String = sqlx::query_scalar("SELECT org_id FROM apps WHERE id = $1")
        .bind(&app_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert!(
        app::oversight::alert_life::open_count(&server.state, &org)
            .await
            .unwrap()
            >= 3
    );

    // The bank works the alert: partners cannot see it; a reviewer acknowledges
    // (a replay is a 409) but cannot suspend; the admin suspends from the alert and
    // the client's tokens stop at once.
    let (status, _) = developer.text(&format!("/alerts/{auth_id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The later evaluation above replaced the evidence's samples: the page shows
    // the alert's evidence as it is now.
    let evidence: String = sqlx::query_scalar("SELECT evidence FROM alerts WHERE id = $1")
        .bind(&auth_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let evidence: Value = serde_json::from_str(&evidence).unwrap();
    let sample = evidence["sample_requests"][0].as_str().unwrap().to_string();
    let page = format!("/alerts/{auth_id}");
    let (status, html) = reviewer.text(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&sample), "the sample request is on the page");
    // The window's chart: the client's minutes with the running count of failures
    // drawn against the rule's threshold of 10.
    assert!(html.contains("id=\"chart-alert-window\""), "{html}");
    assert!(html.contains("<title>Threshold: 10</title>"));
    assert!(html.contains(">4xx/5xx answers in the last 5 minutes</text>"));
    // The evidence as labelled fields (issue 34), not escaped JSON.
    assert!(html.contains("<dt>Sample requests</dt>"), "{html}");
    assert!(!html.contains("&quot;sample_requests&quot;"));
    let (_, state, version, _) = alert_of(&server, "auth_failures", &app_id).await.unwrap();
    assert_eq!(state, "open");
    let v = version.to_string();
    let response = reviewer
        .submit(&page, &format!("{page}/acknowledge"), &[("version", &v)])
        .await;
    assert_location(&response, &page);
    let response = reviewer
        .submit(&page, &format!("{page}/acknowledge"), &[("version", &v)])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = reviewer
        .submit(
            &page,
            &format!("{page}/suspend"),
            &[
                ("version", &(version + 1).to_string()),
                ("reason", "stuffing"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let current = (version + 1).to_string();
    let response = admin
        .submit(
            &page,
            &format!("{page}/suspend"),
            &[("version", &current), ("reason", "")],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required"
    );
    let response = admin
        .submit(
            &page,
            &format!("{page}/suspend"),
            &[
                ("version", &current),
                ("reason", "Credential stuffing against the client"),
            ],
        )
        .await;
    assert_location(&response, &page);
    let (status, body) = token(&server, &client_id, &secret).await;
    assert_ne!(status, StatusCode::OK, "{body}");
    let (_, html) = admin.text(&page).await;
    assert!(html.contains("sus_"), "the suspension is linked");
    // An incident in one step, once.
    let (_, _, version, _) = alert_of(&server, "auth_failures", &app_id).await.unwrap();
    let v = version.to_string();
    let response = admin
        .submit(&page, &format!("{page}/incident"), &[("version", &v)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/incidents/inc"), "{location}");
    let response = admin
        .submit(
            &page,
            &format!("{page}/incident"),
            &[("version", &(version + 1).to_string())],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // Resolving needs a note; another alert id is a 404.
    let (_, _, version, _) = alert_of(&server, "auth_failures", &app_id).await.unwrap();
    let v = version.to_string();
    let response = admin
        .submit(
            &page,
            &format!("{page}/resolve"),
            &[("version", &v), ("resolution", "\u{7}")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = admin
        .submit(
            &page,
            &format!("{page}/resolve"),
            &[
                ("version", &v),
                ("resolution", "Secret rotated by the partner."),
            ],
        )
        .await;
    assert_location(&response, &page);
    let (status, _) = admin.text("/alerts/alr_nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The pages: the partner's usage of its own app, not another organisation's.
    let (status, html) = developer.text(&format!("/usage/apps/{app_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<svg")
            && html.contains("chart-calls-title")
            && html.contains("usage-endpoints")
    );
    let (status, _) = developer
        .text(&format!("/usage/apps/{app_id}?range=1y"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Another organisation's admin (Fjord's has a second factor, like bank staff).
    let fjord = server
        .demo_staff("admin@fjord-analytics.example.com", 0)
        .await;
    let (status, _) = fjord.text(&format!("/usage/apps/{app_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let csv = developer
        .get(&format!("/usage/apps/{app_id}/usage.csv?range=24h"))
        .await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let total: i64 = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    // Every logged request the roll-up reached, no more, no less.
    let done: i64 =
        sqlx::query_scalar("SELECT done_until FROM usage_rollups WHERE granularity = 60")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let reached: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM request_log WHERE app_id = $1 AND at < $2")
            .bind(&app_id)
            .bind(done)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(total, reached);
    let (status, html) = admin.text("/oversight").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("top-consumers") && html.contains("nearest-limit"));
    let (status, _) = developer.text("/oversight").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Unacknowledged for 30 minutes: escalated to the admins, once. (The demo's
    // own open enumeration alert may have escalated already: count from here.)
    let subject = "Escalated: unacknowledged alert: Enumeration (403/404 burst)";
    let escalated = mails_like(&server, subject).await.len();
    assert!(alert_of(&server, "enumeration", &app_id)
        .await
        .unwrap()
        .3
        .is_none());
    server.state.clock.advance(20 * 60);
    run_rollup(&server).await;
    assert!(
        alert_of(&server, "enumeration", &app_id)
            .await
            .unwrap()
            .3
            .is_none(),
        "not before 30 minutes"
    );
    server.state.clock.advance(11 * 60);
    run_rollup(&server).await;
    run_rollup(&server).await;
    let escalations = mails_like(&server, subject).await;
    assert_eq!(escalations.len(), escalated + 1, "{escalations:?}");
    assert!(escalations.iter().all(|r| r == "admin@bank.example.com"));
    assert!(alert_of(&server, "enumeration", &app_id)
        .await
        .unwrap()
        .3
        .is_some());
}
both!(attacks_open_alerts_that_escalate_and_suspend, demo);

async fn rule_settings_are_validated_and_audited(server: TestServer) {
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let page = "/alerts/rules";
    let response = admin
        .submit(
            page,
            "/alerts/rules/auth_failures",
            &[
                ("enabled", "1"),
                ("severity", "high"),
                ("threshold", "0"),
                ("window_minutes", "5"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = admin
        .submit(
            page,
            "/alerts/rules/auth_failures",
            &[
                ("enabled", "1"),
                ("severity", "urgent"),
                ("threshold", "abc"),
                ("window_minutes", "5"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = admin
        .submit(page, "/alerts/rules/no_such_rule", &[("severity", "high")])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = admin
        .submit(
            page,
            "/alerts/rules/auth_failures",
            &[
                ("enabled", "1"),
                ("severity", "medium"),
                ("threshold", "25"),
                ("window_minutes", "10"),
            ],
        )
        .await;
    assert_location(&response, page);
    let configs = app::oversight::alerts::configs(&server.state.db)
        .await
        .unwrap();
    assert_eq!(configs["auth_failures"].get("threshold"), 25);
    assert_eq!(configs["auth_failures"].severity, "medium");
    let response = admin
        .submit(
            page,
            "/alerts/rules/escalation",
            &[("escalate_after_minutes", "2")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = admin
        .submit(
            page,
            "/alerts/rules/escalation",
            &[("oncall_roles", "admin"), ("escalate_after_minutes", "15")],
        )
        .await;
    assert_location(&response, page);
    let escalation = app::oversight::alerts::escalation(&server.state.db)
        .await
        .unwrap();
    assert_eq!(escalation.oncall_roles, vec!["admin".to_string()]);
    assert_eq!(escalation.escalate_after_minutes, 15);
    let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action IN ('alerts.rule_changed', 'alerts.escalation_changed')")
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(audited, 2);
    let reviewer = server.demo_staff("reviewer@bank.example.com", 0).await;
    let response = reviewer
        .submit(
            page,
            "/alerts/rules/auth_failures",
            &[
                ("enabled", "1"),
                ("severity", "low"),
                ("threshold", "1"),
                ("window_minutes", "1"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
both!(rule_settings_are_validated_and_audited, demo);

/// The request log's retention: rows past it go, in batches, the rest stay; minute
/// buckets past theirs go.
async fn request_log_retention(server: TestServer) {
    // The start-up prune first (the server's scheduler runs it at its first tick),
    // so the rows below meet exactly one run.
    run_job(&server, "usage_prune").await;
    let now = server.state.clock.now();
    let app_id: String = sqlx::query_scalar("SELECT id FROM apps ORDER BY created_at LIMIT 1")
        .fetch_one(server.pool())
        .await
        .unwrap();
    let rows: Vec<app::clients::reqlog::Entry> = (0..(app::oversight::prune::BATCH + 30))
        .map(|n| app::clients::reqlog::Entry {
            app_id: app_id.clone(),
            credential_id: None,
            at: now - 31 * 86_400 + n % 600,
            method: "GET",
            endpoint: format!("{BASE}/aisp/accounts"),
            status: 200,
            latency_us: 900,
            error: None,
            scope: None,
            source: Some("192.0.2.1".into()),
        })
        .collect();
    let dropped = app::platform::metrics::Metrics::new().request_log_dropped;
    app::clients::reqlog::write_with_retries(&server.state.db, &rows, &dropped).await;
    let recent_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_log WHERE at >= $1")
        .bind(now - 30 * 86_400)
        .fetch_one(server.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO usage_series (app_id, granularity, bucket_at, calls, ok, client_errors, server_errors, latency_bins, sources, peak_per_second) VALUES ($1, 60, $2, 1, 1, 0, 0, '1', 1, 1)")
        .bind(&app_id)
        .bind(now - 8 * 86_400)
        .execute(server.pool())
        .await
        .unwrap();
    let summary = run_job(&server, "usage_prune").await;
    let deleted = summary["request_log_deleted"].as_i64().unwrap();
    // The demo's own history may reach past the retention too.
    assert!(deleted >= app::oversight::prune::BATCH + 30, "{summary}");
    let old: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_log WHERE at < $1")
        .bind(now - 30 * 86_400)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(old, 0);
    let recent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_log WHERE at >= $1")
        .bind(now - 30 * 86_400)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(
        recent, recent_before,
        "nothing inside the retention is deleted"
    );
    let minutes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM usage_series WHERE granularity = 60 AND bucket_at < $1",
    )
    .bind(now - 7 * 86_400)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(minutes, 0);
}
both!(request_log_retention, demo);

/// Two instances on one PostgreSQL roll up and evaluate at the same moment: each
/// minute is counted once, one alert opens, one set of e-mails goes out.
#[tokio::test]
async fn two_instances_roll_up_and_alert_once() {
    let Some(first) = TestServer::start(crate::common::Backend::Postgres, true).await else {
        return;
    };
    let second = first.second_instance(|s| s.demo = true).await;
    let now = first.state.clock.now() + 600;
    let app_id: String = sqlx::query_scalar("SELECT id FROM apps WHERE environment = 'sandbox' AND status = 'active' ORDER BY created_at DESC LIMIT 1").fetch_one(first.pool()).await.unwrap();
    let minute = now - now % 60 - 240;
    let rows: Vec<app::clients::reqlog::Entry> = (0..15)
        .map(|n| app::clients::reqlog::Entry {
            app_id: app_id.clone(),
            credential_id: None,
            at: minute + n,
            method: "POST",
            endpoint: "/oauth/token".into(),
            status: 400,
            latency_us: 900,
            error: Some("invalid_grant".into()),
            scope: None,
            source: Some("198.51.100.77".into()),
        })
        .collect();
    let dropped = app::platform::metrics::Metrics::new().request_log_dropped;
    app::clients::reqlog::write_with_retries(&first.state.db, &rows, &dropped).await;
    for _ in 0..60 {
        let (a, b) = tokio::join!(
            app::oversight::rollup::run(&first.state.db, now, None),
            app::oversight::rollup::run(&second.state.db, now, None)
        );
        a.unwrap();
        b.unwrap();
        let done: i64 =
            sqlx::query_scalar("SELECT done_until FROM usage_rollups WHERE granularity = 60")
                .fetch_one(first.pool())
                .await
                .unwrap();
        if done >= now - 120 {
            break;
        }
    }
    let done: i64 =
        sqlx::query_scalar("SELECT done_until FROM usage_rollups WHERE granularity = 60")
            .fetch_one(first.pool())
            .await
            .unwrap();
    let (a, b) = tokio::join!(
        app::oversight::alerts::evaluate(&first.state, done),
        app::oversight::alerts::evaluate(&second.state, done)
    );
    a.unwrap();
    b.unwrap();
    let calls: i64 = sqlx::query_scalar("SELECT CAST(SUM(calls) AS BIGINT) FROM usage_series WHERE app_id = $1 AND granularity = 60 AND bucket_at = $2")
        .bind(&app_id)
        .bind(minute)
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(calls, 15, "the minute is counted once");
    let alerts: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM alerts WHERE rule = 'auth_failures' AND app_id = $1",
    )
    .bind(&app_id)
    .fetch_one(first.pool())
    .await
    .unwrap();
    assert_eq!(alerts, 1);
    let mails: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipient = 'admin@bank.example.com' AND subject LIKE '%Gatehouse alert: Authentication-failure burst%'")
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(mails, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The usage series agree with the request log they were built from, whatever
    /// the stream: per minute, calls, successes, 4xx and 5xx, and the latency
    /// histogram's count.
    #[test]
    fn usage_series_agree_with_the_request_log(
        stream in proptest::collection::vec((0i64..900, 0usize..4, 0usize..5, 0i64..3_000_000, 0usize..3), 1..300)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async move {
            let dir = tempfile::tempdir().unwrap();
            let db = app::platform::db::Db::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display())).await.unwrap();
            db.migrate().await.unwrap();
            let start = 1_800_000_000; // a whole minute
            let endpoints = ["/oauth/token", "/sandbox/open-banking/v3.1/aisp/accounts", "/sandbox/open-banking/v3.1/aisp/accounts/a1/balances", "/sandbox/open-banking/v3.1/pisp/domestic-payments"];
            let statuses = [200u16, 201, 404, 429, 500];
            let entries: Vec<app::clients::reqlog::Entry> = stream
                .iter()
                .map(|(offset, e, s, latency, app)| app::clients::reqlog::Entry {
                    app_id: format!("app_{app}"),
                    credential_id: None,
                    at: start + offset,
                    method: "GET",
                    endpoint: endpoints[*e].to_string(),
                    status: statuses[*s],
                    latency_us: *latency,
                    error: (statuses[*s] >= 400).then(|| "x".to_string()),
                    scope: None,
                    source: Some(format!("192.0.2.{}", offset % 7)),
                })
                .collect();
            let dropped = app::platform::metrics::Metrics::new().request_log_dropped;
            app::clients::reqlog::write_with_retries(&db, &entries, &dropped).await;
            assert_eq!(dropped.get(), 0);
            app::oversight::rollup::run(&db, start + 2 * 3_600, None).await.unwrap();
            let logged: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT app_id, at - (at % 60), COUNT(*), SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END), SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END) \
                 FROM request_log GROUP BY app_id, at - (at % 60) ORDER BY 1, 2",
            )
            .fetch_all(&db.pool)
            .await
            .unwrap();
            let series: Vec<(String, i64, i64, i64, i64, i64, String)> = sqlx::query_as(
                "SELECT app_id, bucket_at, calls, ok, client_errors, server_errors, latency_bins FROM usage_series WHERE granularity = 60 ORDER BY 1, 2",
            )
            .fetch_all(&db.pool)
            .await
            .unwrap();
            assert_eq!(logged.len(), series.len());
            for (l, s) in logged.iter().zip(&series) {
                assert_eq!((&l.0, l.1, l.2, l.3, l.4, l.5), (&s.0, s.1, s.2, s.3, s.4, s.5));
                let binned: i64 = app::oversight::series::parse_bins(&s.6).iter().sum();
                assert_eq!(binned, l.2);
            }
            // The hour buckets add up to the same total.
            let hours: i64 = sqlx::query_scalar("SELECT CAST(SUM(calls) AS BIGINT) FROM usage_series WHERE granularity = 3600")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            assert_eq!(hours, entries.len() as i64);
            let detail: i64 = sqlx::query_scalar("SELECT CAST(SUM(calls) AS BIGINT) FROM usage_detail WHERE granularity = 60")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            assert_eq!(detail, entries.len() as i64);
        });
    }
}
