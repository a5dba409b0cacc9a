//! Health, readiness, metrics, security headers, 404, and the demo start-up.

use reqwest::StatusCode;

use crate::both;
use crate::common::TestServer;

async fn operations_endpoints_and_headers(server: TestServer) {
    let client = server.client();
    assert_eq!(
        client.text("/healthz").await,
        (StatusCode::OK, "ok".to_string())
    );
    assert_eq!(
        client.text("/readyz").await,
        (StatusCode::OK, "ready".to_string())
    );
    client.get("/signin").await;
    let response = client.get("/").await;
    let headers = response.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert!(headers.contains_key("x-request-id"));
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    // No third-party assets: every src/href is local.
    let html = response.text().await.unwrap();
    assert!(!html.contains("<script"));
    assert!(!html.contains("href=\"http") && !html.contains("src=\"http"));
    let (status, html) = client.text("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"));
    // Issue 17: /metrics asks for the configured bearer token.
    let (status, _) = client.text("/metrics").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong = reqwest::Client::new()
        .get(format!("{}/metrics", server.base))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(
            "gatehouse_http_requests_total{method=\"GET\",route=\"/signin\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("gatehouse_http_request_duration_seconds_bucket"));
}
both!(operations_endpoints_and_headers);

/// Without `--metrics-token`, the public listener does not serve `/metrics` at all;
/// the `--metrics-addr` listener serves it alone, without a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_without_a_token_or_on_their_own_listener() {
    let server = TestServer::start_with(crate::common::Backend::Sqlite, |s| s.metrics_token = None)
        .await
        .unwrap();
    let (status, body) = server.client().text("/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("--metrics-addr"), "{body}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app::ops::metrics_only(server.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    server.client().get("/signin").await;
    let private = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(private.status(), StatusCode::OK);
    let text = private.text().await.unwrap();
    assert!(text.contains("gatehouse_http_requests_total"), "{text}");
    let other = reqwest::get(format!("http://{addr}/signin")).await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "nothing else there");
}

async fn demo_accounts_sign_in_for_every_role(server: TestServer) {
    for (email, expected) in [
        ("admin@acme-budgeting.example.com", "Manage your team"),
        ("dev@acme-budgeting.example.com", "See your team"),
    ] {
        let client = server.client();
        client
            .sign_in(email, app::accounts::bootstrap::DEMO_PASSWORD)
            .await;
        let (status, html) = client.text("/dashboard").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(expected), "{email}");
    }
    for (offset, (email, expected)) in [
        ("reviewer@bank.example.com", "Review queue"),
        ("approver@bank.example.com", "Second approvals"),
        ("admin@bank.example.com", "Audit trail"),
    ]
    .into_iter()
    .enumerate()
    {
        let client = server.demo_staff(email, offset as i64 % 2).await;
        let (_, html) = client.text("/dashboard").await;
        assert!(html.contains(expected), "{email}");
    }
}
both!(demo_accounts_sign_in_for_every_role, demo);

/// The sign-in slow-down and address limit answer 429 with Retry-After, and a
/// correct password still works for the account afterwards (no lock-out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_is_limited_per_address() {
    let server = TestServer::start_with(crate::common::Backend::Sqlite, |s| {
        s.demo = true;
        s.signin_attempts_per_minute = 3;
    })
    .await
    .unwrap();
    let client = server.client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client
            .sign_in("dev@acme-budgeting.example.com", "wrong guess")
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status());
    }
    assert_eq!(statuses[..3], [StatusCode::UNPROCESSABLE_ENTITY; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
}
