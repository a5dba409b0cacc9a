//! Issue 27: the outside findings on a running demo installation, and the review's
//! M6, through a started server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;

use crate::both;
use crate::common::{assert_location, TestServer};

async fn events(server: &TestServer, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = $1")
        .bind(action)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// The timing finding on `POST /password/forgot`: an existing account's work (its
/// token, its mail, its audit events) is not done while the request is answered, so
/// the answer cannot take longer for it. Right after the answer nothing of it has
/// happened; it happens later, and the mail arrives.
async fn a_reset_request_is_answered_before_any_account_work(server: TestServer) {
    let before = events(&server, "password.reset_requested").await;
    let response = server
        .client()
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "admin@acme-budgeting.example.com")],
        )
        .await;
    assert_location(&response, "/signin");
    assert_eq!(
        events(&server, "password.reset_requested").await,
        before,
        "nothing of the account's work before the answer"
    );
    server
        .wait_for_mails(
            "admin@acme-budgeting.example.com",
            "Reset your Gatehouse password",
            1,
        )
        .await;
    assert_eq!(
        events(&server, "password.reset_requested").await,
        before + 1
    );
}
both!(a_reset_request_is_answered_before_any_account_work, demo);

/// M6: forged posts after an aggregation window closed start a new window at once
/// (one event, and one summary of the closed window's repeats), instead of an event
/// each until the next flush.
async fn m6_a_closed_window_restarts_at_once(server: TestServer) {
    let http = reqwest::Client::new();
    let forge = async |n: usize| {
        for _ in 0..n {
            let response = http
                .post(format!("{}/signup", server.base))
                .form(&[("legal_name", "Forged Ltd")])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
    };
    let refused = events(&server, "security.csrf_refused").await;
    let summaries = events(&server, "security.csrf_refused_repeated").await;
    forge(11).await;
    assert_eq!(events(&server, "security.csrf_refused").await, refused + 1);
    server
        .state
        .clock
        .advance(app::platform::repeats::WINDOW + 2);
    forge(20).await;
    let added = events(&server, "security.csrf_refused").await - refused;
    let added_summaries = events(&server, "security.csrf_refused_repeated").await - summaries;
    assert_eq!(added, 2, "one event per window, not one per post");
    assert_eq!(
        added_summaries, 1,
        "the closed window's ten repeats, summed"
    );
    let details: String = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'security.csrf_refused_repeated' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["repeated"], 10, "{details}");
}
both!(m6_a_closed_window_restarts_at_once);

/// M6: failed client authentication from one address is one event per window plus
/// a summary, not an event per guess.
async fn m6_guessing_a_client_secret_does_not_grow_the_trail(server: TestServer) {
    let before = events(&server, "oauth.client_auth_failed").await;
    // A failure for a made-up client first: it must not hide the guesses against the
    // real one behind its window.
    let (status, _, _) = crate::sandbox_helpers::oauth_post(
        &server,
        "/oauth/token",
        Some(("cli_made_up", "x")),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for _ in 0..40 {
        let (status, _, _) = crate::sandbox_helpers::oauth_post(
            &server,
            "/oauth/token",
            Some((crate::sandbox_helpers::DEMO_ID, "wrong-secret")),
            &[("grant_type", "client_credentials")],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        events(&server, "oauth.client_auth_failed").await,
        before + 2,
        "one for the made-up client, one for the guessed one"
    );
    let against_the_client: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'oauth.client_auth_failed' \
         AND resource_type = 'app' AND org_id IS NOT NULL",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert!(
        against_the_client >= 1,
        "recorded against the client's organisation"
    );
    assert_eq!(
        server.state.repeats.pending("oauth.client_auth_failed"),
        39,
        "the rest counted, for the summary"
    );
}
both!(m6_guessing_a_client_secret_does_not_grow_the_trail, demo);
