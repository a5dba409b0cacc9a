//! Issue 27: the governance escape routes the 2026-12-04 review found, each tried as
//! the partner (or the approver) who would use it, through a started server: HTTP
//! for what people do, the scheduler's job for what the server does by itself.
//!
//! - N2: removing the expired document does not lift the evidence suspension, and a
//!   required kind with no evidence lapses;
//! - N3: granting an unrelated exception does not lift the suspension a lapsed
//!   exception caused;
//! - N4: a refresh token cannot mint a scope the client no longer has;
//! - L5: a bank user who belongs to the organisation cannot decide its exception;
//! - L6: a credential already rotated cannot be rotated again;
//! - L13: an outsider who knows a client id cannot open alerts against the client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::sandbox_helpers::{app_fields, oauth_post, register_app, user_id, wait_for_log};
use reqwest::StatusCode;

use crate::both;
use crate::common::{totp_code, TestServer};
use crate::governance::open_suspensions;
use crate::reviews::{app_named, insights_token};

const FJORD: &str = "admin@fjord-analytics.example.com";
const DAY: i64 = 86_400;

async fn evidence_of(server: &TestServer, kind: &str) -> String {
    sqlx::query_scalar(
        "SELECT e.id FROM evidence e JOIN users u ON u.org_id = e.org_id WHERE u.email = $1 AND e.kind = $2",
    )
    .bind(FJORD)
    .bind(kind)
    .fetch_one(server.pool())
    .await
    .unwrap()
}

fn date(ts: i64) -> String {
    app::platform::time::rfc3339(ts).chars().take(10).collect()
}

/// N2, as the partner: the pen-test report Tier 2 relies on expired past the grace,
/// the sweep suspends the production client, the partner admin tries to remove the
/// expired document (refused), and the client still gets no token after the next
/// sweep.
async fn n2_removing_the_expired_document_does_not_lift_the_suspension(server: TestServer) {
    let (insights, client_id) = app_named(&server, "Fjord insights").await;
    assert_eq!(
        insights_token(&server, &client_id, "accounts").await.0,
        StatusCode::OK
    );
    let pen_test = evidence_of(&server, "pen_test").await;
    // The report expired 60 days ago (the 30-day grace has passed).
    sqlx::query("UPDATE evidence SET expires_on = $1 WHERE id = $2")
        .bind(date(server.state.clock.now() - 60 * DAY))
        .bind(&pen_test)
        .execute(server.pool())
        .await
        .unwrap();
    server.run_job("governance_sweep").await;
    assert_eq!(open_suspensions(&server, &insights, "evidence").await, 1);
    let (status, body) = insights_token(&server, &client_id, "accounts").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // The partner admin removes the expired document: refused, and it stays.
    let fjord = server.demo_staff(FJORD, 0).await;
    let response = fjord
        .submit(
            "/onboarding",
            &format!("/onboarding/evidence/{pen_test}/remove"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("relies on this document"));
    let removed: Option<i64> = sqlx::query_scalar("SELECT removed_at FROM evidence WHERE id = $1")
        .bind(&pen_test)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(removed, None);
    server.run_job("governance_sweep").await;
    assert_eq!(open_suspensions(&server, &insights, "evidence").await, 1);
    assert_eq!(
        insights_token(&server, &client_id, "accounts").await.0,
        StatusCode::UNAUTHORIZED
    );
}
both!(
    n2_removing_the_expired_document_does_not_lift_the_suspension,
    demo
);

/// N2, the other half: a required kind with no accepted evidence at all (here a
/// document gone from the record before this release refused removals) is warned
/// about at once and suspends the client once the grace has passed since.
async fn n2_a_required_kind_without_evidence_lapses(server: TestServer) {
    let (insights, client_id) = app_named(&server, "Fjord insights").await;
    let iso = evidence_of(&server, "iso27001_soc2").await;
    sqlx::query("UPDATE evidence SET removed_at = $1 WHERE id = $2")
        .bind(server.state.clock.now())
        .bind(&iso)
        .execute(server.pool())
        .await
        .unwrap();
    server.run_job("governance_sweep").await;
    let warned: i64 = server
        .count("SELECT COUNT(*) FROM governance_notices WHERE key LIKE 'evidence_missing:%:iso27001_soc2'")
        .await;
    assert_eq!(warned, 1, "warned once, at once");
    assert_eq!(open_suspensions(&server, &insights, "evidence").await, 0);
    assert_eq!(
        insights_token(&server, &client_id, "accounts").await.0,
        StatusCode::OK
    );
    // The grace (30 days) passes since the warning.
    sqlx::query(
        "UPDATE governance_notices SET created_at = created_at - $1 WHERE key LIKE 'evidence_missing:%'",
    )
    .bind(31 * DAY)
    .execute(server.pool())
    .await
    .unwrap();
    server.run_job("governance_sweep").await;
    assert_eq!(open_suspensions(&server, &insights, "evidence").await, 1);
    assert_eq!(
        insights_token(&server, &client_id, "accounts").await.0,
        StatusCode::UNAUTHORIZED
    );
}
both!(n2_a_required_kind_without_evidence_lapses, demo);

/// Inserts a pending exception of Fjord insights for `rule` (what the partner's form
/// writes), ending in 30 days. Its id.
async fn pending_exception(server: &TestServer, app_id: &str, rule: &str) -> String {
    let id = format!("exc_test_{rule}");
    sqlx::query(
        "INSERT INTO policy_exceptions (id, org_id, app_id, rule, reason, ends_at, status, requested_by, requested_at) \
         SELECT $1, a.org_id, a.id, $2, 'Needed for the test.', $3, 'pending', u.id, $4 FROM apps a, users u \
         WHERE a.id = $5 AND u.email = $6",
    )
    .bind(&id)
    .bind(rule)
    .bind(server.state.clock.now() + 30 * DAY)
    .bind(server.state.clock.now())
    .bind(app_id)
    .bind(FJORD)
    .execute(server.pool())
    .await
    .unwrap();
    id
}

/// The approver grants exception `id` through the page, with a step-up code.
async fn grant(
    server: &TestServer,
    approver: &crate::common::Client,
    id: &str,
    step: i64,
) -> StatusCode {
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let detail = format!("/governance/bank/exceptions/{id}");
    approver
        .submit(
            &detail,
            &format!("{detail}/decision"),
            &[
                ("decision", "grant"),
                ("decision_reason", "Granted for the test."),
                ("code", &totp_code(&server.state.clock, &secret, step)),
                ("version", "1"),
            ],
        )
        .await
        .status()
}

/// N3, as the approver is led to: Fjord insights' client-secret exception lapsed and
/// the client was suspended for it; an unrelated exception (an IP allow-list one) is
/// granted. The client must still get no token, the next sweep must not lift it, and
/// only renewing the client-secret exception lifts the suspension at once.
async fn n3_an_unrelated_exception_does_not_lift_the_suspension(server: TestServer) {
    // After the server's first tick: on SQLite its roll-up of the demo's month of
    // traffic holds the write lock long enough, under CI's load, for this test's own
    // sweep to give up waiting ("database is locked"; PoolTimedOut before that).
    server.wait_for_first_tick().await;
    let (insights, client_id) = app_named(&server, "Fjord insights").await;
    sqlx::query(
        "UPDATE policy_exceptions SET ends_at = $1 WHERE app_id = $2 AND rule = 'client_secret' AND status = 'granted'",
    )
    .bind(server.state.clock.now() - DAY)
    .bind(&insights)
    .execute(server.pool())
    .await
    .unwrap();
    server.run_job("governance_sweep").await;
    assert_eq!(
        open_suspensions(&server, &insights, "exception_lapsed").await,
        1
    );
    assert_eq!(
        insights_token(&server, &client_id, "accounts").await.0,
        StatusCode::UNAUTHORIZED
    );

    let unrelated = pending_exception(&server, &insights, "ip_allowlist").await;
    let approver = server.demo_staff("approver@bank.example.com", -1).await;
    assert_eq!(
        grant(&server, &approver, &unrelated, 0).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        open_suspensions(&server, &insights, "exception_lapsed").await,
        1,
        "an exception for another rule lifts nothing"
    );
    assert_eq!(
        insights_token(&server, &client_id, "accounts").await.0,
        StatusCode::UNAUTHORIZED
    );
    server.run_job("governance_sweep").await;
    assert_eq!(
        open_suspensions(&server, &insights, "exception_lapsed").await,
        1
    );

    // Renewing the exception for the rule the client breaks lifts it at once.
    let renewal = pending_exception(&server, &insights, "client_secret").await;
    assert_eq!(
        grant(&server, &approver, &renewal, 1).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        open_suspensions(&server, &insights, "exception_lapsed").await,
        0
    );
    assert_eq!(
        insights_token(&server, &client_id, "accounts").await.0,
        StatusCode::OK
    );
}
both!(n3_an_unrelated_exception_does_not_lift_the_suspension, demo);

/// L5: a bank user whose e-mail domain is an active member's of the organisation
/// cannot decide its exception; an address at the bank that the partner merely
/// invited blocks nobody.
async fn l5_a_member_of_the_organisation_cannot_decide_its_exception(server: TestServer) {
    let (insights, _) = app_named(&server, "Fjord insights").await;
    let org: String = sqlx::query_scalar("SELECT org_id FROM apps WHERE id = $1")
        .bind(&insights)
        .fetch_one(server.pool())
        .await
        .unwrap();
    // The partner invites an address at the bank (never accepted).
    let fjord = server.demo_staff(FJORD, 0).await;
    let invited = fjord
        .submit(
            "/org/members",
            "/org/members/invite",
            &[
                ("display_name", "Someone at the bank"),
                ("email", "someone@bank.example.com"),
                ("role", "partner_developer"),
            ],
        )
        .await;
    assert_eq!(invited.status(), StatusCode::SEE_OTHER);
    let approver = server.demo_staff("approver@bank.example.com", -1).await;
    let first = pending_exception(&server, &insights, "ip_allowlist").await;
    assert_eq!(
        grant(&server, &approver, &first, 0).await,
        StatusCode::SEE_OTHER,
        "an invitation the partner sent to the bank's domain blocks nobody"
    );
    // Someone at the bank's domain is an active member of Fjord (a bank employee
    // seconded there): the bank's approvers share that domain.
    sqlx::query(
        "UPDATE users SET status = 'active', removed_at = NULL, email = 'seconded@bank.example.com' \
         WHERE email = 'former.engineer@fjord-analytics.example.com' AND org_id = $1",
    )
    .bind(&org)
    .execute(server.pool())
    .await
    .unwrap();
    let second = pending_exception(&server, &insights, "credential_lifetime").await;
    assert_eq!(
        grant(&server, &approver, &second, 1).await,
        StatusCode::FORBIDDEN
    );
    let status: String = sqlx::query_scalar("SELECT status FROM policy_exceptions WHERE id = $1")
        .bind(&second)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "pending", "nothing was decided");
}
both!(
    l5_a_member_of_the_organisation_cannot_decide_its_exception,
    demo
);

/// N4, as the client whose scope was removed: it holds a refresh token granted for
/// `accounts fundsconfirmations`; a review then narrows the client to `accounts`
/// (the review rewrites the client's scopes, as here). Refreshing yields `accounts`
/// only, asking for the removed scope is `invalid_scope`, and the rotated refresh
/// token does not bring it back either.
async fn n4_a_refresh_token_cannot_mint_a_removed_scope(server: TestServer) {
    use crate::oauth::{authorize_as_customer, query};
    use crate::sandbox_helpers::{oauth_client, oauth_http, DEMO_ID, DEMO_REDIRECT, DEMO_SECRET};
    use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope, TokenResponse};
    let oauth = oauth_client(&server, DEMO_ID, DEMO_SECRET, DEMO_REDIRECT);
    let http = oauth_http();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("accounts".into()))
        .add_scope(Scope::new("fundsconfirmations".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = authorize_as_customer(&server, url.as_str(), "allow").await;
    let token = oauth
        .exchange_code(AuthorizationCode::new(query(&back, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let refresh = token.refresh_token().unwrap().clone();

    sqlx::query("UPDATE apps SET scopes = 'reference accounts payments' WHERE client_id = $1")
        .bind(DEMO_ID)
        .execute(server.pool())
        .await
        .unwrap();
    server.forget_cached_state();

    let asked = oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.secret()),
            ("scope", "accounts fundsconfirmations"),
        ],
        None,
    )
    .await;
    assert_eq!(asked.0, StatusCode::BAD_REQUEST, "{}", asked.2);
    assert_eq!(asked.2["error"], "invalid_scope");

    let refreshed = oauth
        .exchange_refresh_token(&refresh)
        .request_async(&http)
        .await
        .expect("refresh");
    let scopes: Vec<String> = refreshed
        .scopes()
        .map(|s| s.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default();
    assert_eq!(scopes, vec!["accounts".to_string()]);
    let claims = crate::sandbox_helpers::introspect(
        &server,
        DEMO_ID,
        DEMO_SECRET,
        refreshed.access_token().secret(),
    )
    .await;
    assert_eq!(claims["scope"], "accounts");
    let next = oauth
        .exchange_refresh_token(refreshed.refresh_token().unwrap())
        .request_async(&http)
        .await
        .expect("second refresh");
    let claims = crate::sandbox_helpers::introspect(
        &server,
        DEMO_ID,
        DEMO_SECRET,
        next.access_token().secret(),
    )
    .await;
    assert_eq!(
        claims["scope"], "accounts",
        "the rotated grant stays narrowed"
    );
}
both!(n4_a_refresh_token_cannot_mint_a_removed_scope, demo);

/// L13, as an outsider who knows a partner's client id: twelve wrong secrets open no
/// alert on the client and mail nobody at the partner. The alert is the source
/// address's: it names no organisation and its page offers no suspension.
async fn l13_failed_authentication_is_the_sources_alert_not_the_clients(server: TestServer) {
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let (app_id, client_id, _) = register_app(
        &developer,
        &app_fields("Targeted", &owner, "client_secret_basic", ""),
    )
    .await;
    let admin = server.demo_staff("admin@bank.example.com", 1).await;
    server.state.clock.advance(120);
    server.run_job("usage_rollup").await;
    for n in 0..12 {
        let (status, _, body) = oauth_post(
            &server,
            "/oauth/token",
            Some((&client_id, &format!("guess-{n}"))),
            &[("grant_type", "client_credentials")],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // The partner still sees the refusals in its request log.
    wait_for_log(&server, &app_id, 12).await;
    server.state.clock.advance(150);
    let summary = server.run_job("usage_rollup").await;

    let on_client: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE app_id = $1")
        .bind(&app_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(on_client, 0, "no alert on the client: {summary}");
    let (alert_id, org, evidence): (String, Option<String>, String) = sqlx::query_as(
        "SELECT id, org_id, evidence FROM alerts WHERE group_key = 'auth_failures:source:127.0.0.1'",
    )
    .fetch_one(server.pool())
    .await
    .expect("the source address's alert");
    assert_eq!(org, None);
    assert!(
        evidence.contains(&app_id),
        "the targeted client is in the evidence"
    );
    let partner_told: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE recipient LIKE '%@acme-budgeting.example.com' AND subject LIKE 'Security alert%'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(partner_told, 0);
    let (status, page) = admin.text(&format!("/alerts/{alert_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("127.0.0.1"), "the page names the source");
    assert!(!page.contains("Suspend the client"), "nothing to suspend");
    // Nor can the form be posted by hand.
    let response = admin
        .submit(
            &format!("/alerts/{alert_id}"),
            &format!("/alerts/{alert_id}/suspend"),
            &[("reason", "stuffing")],
        )
        .await;
    assert!(response.status().is_client_error(), "{}", response.status());
    let suspended: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM suspensions WHERE target = $1")
        .bind(&app_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(suspended, 0);
}
both!(
    l13_failed_authentication_is_the_sources_alert_not_the_clients,
    demo
);
