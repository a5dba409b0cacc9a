//! Issue 14: governance. The demo installation's Fjord Analytics (Tier 2, three
//! production clients) is the subject: a controlled clock walks each sweep rule
//! forward, and every check is what a partner or the bank would see — the mails
//! sent, the audit trail, the token endpoint, introspection and the sandbox API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use app::governance::{inventory, sweep};
use app::platform::scheduler;
use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, Scope, TokenUrl};
use reqwest::StatusCode;
use serde_json::Value;

use crate::both;
use crate::common::{totp_code, TestServer};
use crate::sandbox_api::{client_token, Api};
use crate::sandbox_helpers::{introspect, oauth_http, oauth_post, DEMO_ID, DEMO_SECRET};

const FJORD: &str = "admin@fjord-analytics.example.com";
const DAY: i64 = 86_400;

async fn app_id(server: &TestServer, name: &str) -> String {
    sqlx::query_scalar("SELECT id FROM apps WHERE name = $1")
        .bind(name)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn client_id(server: &TestServer, app: &str) -> String {
    sqlx::query_scalar("SELECT client_id FROM apps WHERE id = $1")
        .bind(app)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn credential(server: &TestServer, app: &str) -> String {
    sqlx::query_scalar(
        "SELECT id FROM credentials WHERE app_id = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(app)
    .fetch_one(server.pool())
    .await
    .unwrap()
}

async fn mails(server: &TestServer, to: &str, subject: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND subject = $2")
        .bind(to)
        .bind(subject)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// The sweep's mails (other jobs, such as the escalation of the demo's waiting
/// production requests as the clock moves on, write their own).
async fn all_mails(server: &TestServer) -> i64 {
    server
        .count(
            "SELECT COUNT(*) FROM outbox WHERE subject IN ('A client was suspended: it has no owner', \
             'A credential expires soon', 'A credential has expired', 'An exception ends soon', \
             'An exception has lapsed', 'An unused credential was revoked (dormant)', \
             'An unused credential will be revoked', 'Evidence the bank relies on expires', \
             'Name a new owner for a client', 'A production client was suspended: evidence expired')",
        )
        .await
}

async fn revoked_reason(server: &TestServer, credential: &str) -> Option<String> {
    sqlx::query_scalar("SELECT revoked_reason FROM credentials WHERE id = $1")
        .bind(credential)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

pub(crate) async fn open_suspensions(server: &TestServer, target: &str, origin: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM suspensions WHERE target = $1 AND origin = $2 AND lifted_at IS NULL",
    )
    .bind(target)
    .bind(origin)
    .fetch_one(server.pool())
    .await
    .unwrap()
}

/// The sweep's notices (the access-review reminders the background scheduler may send
/// meanwhile are another job's).
async fn notice_keys(server: &TestServer) -> HashSet<String> {
    sqlx::query_scalar::<_, String>(
        "SELECT key FROM governance_notices WHERE kind <> 'review_reminder'",
    )
    .fetch_all(server.pool())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// Takes the sweep's scheduler lease for a year of the test's clock, so the server's
/// own scheduler does not sweep at another moment between a test's preview and its
/// reads (its run would apply actions of a later time).
async fn hold_the_sweep(server: &TestServer) {
    sqlx::query(
        "INSERT INTO scheduler_jobs (name, next_due_at) VALUES ('governance_sweep', 0) ON CONFLICT (name) DO NOTHING",
    )
    .execute(server.pool())
    .await
    .unwrap();
    sqlx::query(
        "UPDATE scheduler_jobs SET lease_owner = 'the test', lease_until = $1 WHERE name = 'governance_sweep'",
    )
    .bind(server.state.clock.now() + 365 * DAY)
    .execute(server.pool())
    .await
    .unwrap();
}

/// Runs the sweep as the scheduler would, now.
async fn sweep_now(server: &TestServer) {
    hold_the_sweep(server).await;
    sweep::run(&server.state, server.state.clock.now())
        .await
        .unwrap();
}

/// The plan at this moment, then the sweep: the keys the sweep took are exactly the
/// plan's (whichever run, this one or the background scheduler's, applied them).
async fn preview_then_sweep(server: &TestServer) -> Vec<sweep::Action> {
    hold_the_sweep(server).await;
    let now = server.state.clock.now();
    let before = notice_keys(server).await;
    let plan = sweep::plan(&server.state, now).await.unwrap();
    let lines = gatehouse_server::governance::plan_lines(&plan);
    assert_eq!(lines.lines().count(), plan.len(), "{lines}");
    sweep::run(&server.state, now).await.unwrap();
    let after = notice_keys(server).await;
    let taken: HashSet<String> = after.difference(&before).cloned().collect();
    let planned: HashSet<String> = plan
        .iter()
        .flat_map(|a| std::iter::once(a.key.clone()).chain(a.also_settles.clone()))
        .collect();
    assert_eq!(
        taken, planned,
        "the sweep did exactly what the preview printed:\n{lines}"
    );
    plan
}

fn production_oauth(
    server: &TestServer,
    id: &str,
    secret: &str,
) -> BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_token_uri(TokenUrl::new(format!("{}/production/oauth/token", server.base)).unwrap())
}

/// Whether a production client_credentials token is issued for `id` / `secret`.
async fn production_token(server: &TestServer, id: &str, secret: &str) -> Result<String, String> {
    use oauth2::TokenResponse;
    production_oauth(server, id, secret)
        .exchange_client_credentials()
        .add_scope(Scope::new("reference".into()))
        .request_async(&oauth_http())
        .await
        .map(|t| t.access_token().secret().clone())
        .map_err(|e| format!("{e:?}"))
}

/// Each sweep rule on a controlled clock: warnings once per lead time, dormant
/// revocation after the threshold and not before, ownerless suspension after the
/// grace, expiry refused at the token endpoint, and a re-run that sends nothing.
async fn sweep_rules_on_a_controlled_clock(server: TestServer) {
    let insights = app_id(&server, "Fjord insights").await;
    let reporting = app_id(&server, "Fjord reporting").await;
    let legacy = app_id(&server, "Fjord legacy export").await;
    let insights_client = client_id(&server, &insights).await;
    let secret = app::governance::demo::DEMO_PRODUCTION_SECRET;
    let reporting_credential = credential(&server, &reporting).await;
    let legacy_credential = credential(&server, &legacy).await;

    // At start: the 30-day warnings (the sandbox app and Fjord insights), the dormancy
    // warning (Fjord reporting, idle 86 of 90 days), the owner request (legacy export).
    sweep_now(&server).await;
    assert_eq!(mails(&server, FJORD, "A credential expires soon").await, 2);
    assert_eq!(
        mails(&server, FJORD, "An unused credential will be revoked").await,
        1
    );
    assert_eq!(
        mails(&server, FJORD, "Name a new owner for a client").await,
        1
    );
    let sent = all_mails(&server).await;
    preview_then_sweep(&server).await;
    sweep_now(&server).await;
    assert_eq!(
        all_mails(&server).await,
        sent,
        "re-running the sweep sends nothing new"
    );
    assert!(production_token(&server, &insights_client, secret)
        .await
        .is_ok());

    // Day 3: idle 89 days, below the threshold: nothing is revoked.
    server.state.clock.advance(3 * DAY);
    preview_then_sweep(&server).await;
    assert_eq!(revoked_reason(&server, &reporting_credential).await, None);

    // Day 4 and a minute: the threshold is reached: revoked as dormant, once.
    server.state.clock.advance(DAY + 60);
    let plan = preview_then_sweep(&server).await;
    assert!(plan.iter().any(|a| a.kind == sweep::Kind::RevokeDormant
        && a.credential_id.as_deref() == Some(reporting_credential.as_str())));
    assert_eq!(
        revoked_reason(&server, &reporting_credential)
            .await
            .as_deref(),
        Some("dormant")
    );
    assert_eq!(
        mails(&server, FJORD, "An unused credential was revoked (dormant)").await,
        1
    );
    let details: Vec<String> = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'governance.credential_revoked' AND resource_id = $1",
    )
    .bind(&reporting_credential)
    .fetch_all(server.pool())
    .await
    .unwrap();
    assert_eq!(details.len(), 1);
    assert!(details[0].contains("\"reason\":\"dormant\""), "{details:?}");
    // Issued within the threshold period: untouched.
    assert_eq!(revoked_reason(&server, &legacy_credential).await, None);

    // Day 14 and a minute: Fjord insights is 6 days from expiry (the 7-day warning),
    // and the legacy export's 14-day grace without an owner has passed.
    server.state.clock.advance(10 * DAY);
    preview_then_sweep(&server).await;
    let bodies: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM outbox WHERE recipient = $1 AND subject = 'A credential expires soon' ORDER BY created_at",
    )
    .bind(FJORD)
    .fetch_all(server.pool())
    .await
    .unwrap();
    assert_eq!(
        mails(&server, FJORD, "A credential expires soon").await,
        3,
        "{bodies:#?}"
    );
    // Written for the person who reads them (issue 34): no operator's log line.
    // (A sent mail's body is redacted; those still queued are read here.)
    let unsent =
        |b: &&String| !b.is_empty() && !b.starts_with("(The text of this message has been removed");
    for body in bodies.iter().filter(unsent) {
        assert!(body.starts_with("Hello,\n\nCredential "), "{body}");
        assert!(
            !body.contains("Warn:") && body.contains("Rotate it before then"),
            "{body}"
        );
    }
    assert_eq!(open_suspensions(&server, &legacy, "ownerless").await, 1);
    assert_eq!(
        mails(&server, FJORD, "A client was suspended: it has no owner").await,
        1
    );

    // Day 20 and an hour: Fjord insights has expired: refused, and told once.
    server.state.clock.advance(6 * DAY + 3_600);
    preview_then_sweep(&server).await;
    assert_eq!(mails(&server, FJORD, "A credential has expired").await, 1);
    assert_eq!(
        mails(&server, FJORD, "A credential expires soon").await,
        3,
        "no 1-day warning after expiry"
    );
    server.forget_cached_state();
    let refused = production_token(&server, &insights_client, secret)
        .await
        .unwrap_err();
    assert!(refused.contains("invalid_client"), "{refused}");
    let listing = inventory::list(
        &server.state,
        None,
        &inventory::Filter {
            status: "expired".into(),
            ..Default::default()
        },
        usize::MAX,
    )
    .await
    .unwrap();
    assert!(listing.rows.iter().any(|r| r.app_id == insights));

    let sent = all_mails(&server).await;
    sweep_now(&server).await;
    sweep_now(&server).await;
    assert_eq!(all_mails(&server).await, sent, "nothing is sent twice");

    // The partner names a new owner: the ownerless suspension is lifted at once.
    let fjord = server.demo_staff(FJORD, 0).await;
    let (_, page) = fjord.text(&format!("/governance/clients/{legacy}")).await;
    assert!(
        page.contains("This client is suspended"),
        "the partner sees why"
    );
    let owner: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(FJORD)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let response = fjord
        .submit(
            &format!("/governance/clients/{legacy}"),
            &format!("/governance/clients/{legacy}/owner"),
            &[("owner_id", &owner)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(open_suspensions(&server, &legacy, "ownerless").await, 0);
}
both!(sweep_rules_on_a_controlled_clock, demo);

/// Two instances on one PostgreSQL running the sweep at the same moment send each
/// notice exactly once, and the scheduler's lease lets one of them run a job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_send_each_notice_once() {
    let Some(first) = TestServer::start(crate::common::Backend::Postgres, true).await else {
        return;
    };
    let second = first.second_instance(|settings| settings.demo = true).await;
    for _ in 0..3 {
        first.state.clock.advance(15 * DAY);
        second.state.clock.advance(15 * DAY);
        let now = first.state.clock.now();
        let (a, b) = tokio::join!(
            sweep::run(&first.state, now),
            sweep::run(&second.state, now)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let keys_a: HashSet<&str> = a.applied.iter().map(|x| x.key.as_str()).collect();
        assert!(
            b.applied.iter().all(|x| !keys_a.contains(x.key.as_str())),
            "an action applied by both instances"
        );
    }
    // One mail per notice: as many mails of each kind as notices of that kind.
    let fjord_org: String = sqlx::query_scalar("SELECT org_id FROM users WHERE email = $1")
        .bind(FJORD)
        .fetch_one(first.pool())
        .await
        .unwrap();
    for (kind, subject) in [
        ("expired", "A credential has expired"),
        ("expiry_warning", "A credential expires soon"),
        ("owner_missing", "Name a new owner for a client"),
        (
            "revoke_dormant",
            "An unused credential was revoked (dormant)",
        ),
        (
            "suspend_ownerless",
            "A client was suspended: it has no owner",
        ),
        ("exception_lapsed", "An exception has lapsed"),
    ] {
        let notices: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM governance_notices WHERE kind = $1 AND org_id = $2",
        )
        .bind(kind)
        .bind(&fjord_org)
        .fetch_one(first.pool())
        .await
        .unwrap();
        assert!(notices > 0, "{kind} happened");
        let sent: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND subject = $2")
                .bind(FJORD)
                .bind(subject)
                .fetch_one(first.pool())
                .await
                .unwrap();
        assert_eq!(sent, notices, "{kind}: one mail per notice");
    }
    // The scheduler: the job falls due on both instances and both ask for it at
    // once. Whichever claims it runs it; the other finds it held or already done for
    // this period, however the two interleave (a run that ends before the other asks
    // has moved the job's next due time on). The servers' own schedulers may be the
    // one that ran it: counted in the job's runs, it still ran once.
    let job = gatehouse_server::compose::jobs()
        .into_iter()
        .find(|j| j.name == "governance_sweep")
        .unwrap();
    first.state.clock.advance(job.every_seconds + 1);
    second.state.clock.advance(job.every_seconds + 1);
    let since = first.state.clock.now();
    let (a, b) = tokio::join!(
        scheduler::run_job(&first.state, &job, "instance-a", false),
        scheduler::run_job(&second.state, &job, "instance-b", false)
    );
    let ran = [a.unwrap(), b.unwrap()]
        .iter()
        .filter(|r| r.is_some())
        .count();
    assert!(ran <= 1, "both instances ran the sweep");
    let runs = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM job_runs WHERE job = 'governance_sweep' AND started_at >= $1",
        )
        .bind(since)
        .fetch_one(first.pool())
        .await
        .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while runs().await == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(runs().await, 1, "the sweep ran once in its period");
}

/// The kill switch: one client, or every client holding a scope, refused at the
/// token endpoint, inactive at introspection and refused by the sandbox API at once;
/// lifting takes a second bank user.
async fn suspension_is_immediate_and_two_person(server: TestServer) {
    let api = Api::new(&server);
    let token = client_token(&server, "reference").await;
    assert_eq!(
        api.get("/reference/branches", &token).await.status,
        StatusCode::OK
    );
    let (gateway, gateway_secret) = app::oauth::resource_servers::create(
        &server.state,
        app::audit::Actor::system("test"),
        "test gateway",
        app::oauth::Issuer::Sandbox,
    )
    .await
    .unwrap();
    assert_eq!(
        introspect(&server, &gateway.client_id, &gateway_secret, &token).await["active"],
        true
    );

    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let demo_app: String = sqlx::query_scalar("SELECT id FROM apps WHERE client_id = $1")
        .bind(DEMO_ID)
        .fetch_one(server.pool())
        .await
        .unwrap();

    // Bad input: nothing is written.
    let before = server.count("SELECT COUNT(*) FROM suspensions").await;
    let page = "/governance/bank/suspensions";
    let no_reason = admin
        .submit(
            page,
            page,
            &[
                ("target_kind", "client"),
                ("target", &demo_app),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(no_reason.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = admin
        .submit(
            page,
            page,
            &[
                ("target_kind", "client"),
                ("target", "app_nope"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let partner = server.demo_partner().await;
    let csrf = partner.csrf("/dashboard").await;
    let forbidden = partner
        .post(
            page,
            &[
                ("csrf_token", &csrf),
                ("target_kind", "client"),
                ("target", &demo_app),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM suspensions").await,
        before
    );

    // Every client holding `payments` (the demo app does): refused everywhere at once.
    let response = admin
        .submit(
            page,
            page,
            &[
                ("target_kind", "scope"),
                ("target", "payments"),
                ("reason", "payments incident"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        introspect(&server, &gateway.client_id, &gateway_secret, &token).await["active"],
        false
    );
    assert_eq!(
        api.get("/reference/branches", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, body) = oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("grant_type", "client_credentials"), ("scope", "reference")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    // The partner sees why.
    let (_, inventory) = partner.text("/governance/inventory").await;
    assert!(
        inventory.contains("payments incident"),
        "the reason is shown to the partner"
    );
    assert!(
        mails(
            &server,
            "admin@acme-budgeting.example.com",
            "Your API access is suspended"
        )
        .await
            >= 1
    );

    // Lifting alone is refused; a second admin lifts it.
    let id: String = sqlx::query_scalar(
        "SELECT id FROM suspensions WHERE target = 'payments' AND lifted_at IS NULL",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let lift = format!("/governance/bank/suspensions/{id}/lift");
    let alone = admin
        .submit(page, &lift, &[("lift_reason", "resolved")])
        .await;
    assert_eq!(alone.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM suspensions WHERE lifted_at IS NULL AND id NOT IN (SELECT suspension_id FROM offboardings)")
            .await,
        1
    );
    sqlx::query(
        "INSERT INTO users (id, org_id, email, display_name, role, status, password_hash, email_verified_at, totp_secret, totp_enabled_at, session_epoch, created_at, updated_at) \
         SELECT 'usr_second_admin', NULL, 'second.admin@bank.example.com', 'Second admin', role, status, password_hash, email_verified_at, totp_secret, totp_enabled_at, 0, created_at, updated_at \
         FROM users WHERE email = 'admin@bank.example.com'",
    )
    .execute(server.pool())
    .await
    .unwrap();
    let second = server.demo_staff("second.admin@bank.example.com", 1).await;
    let no_reason = second.submit(page, &lift, &[("lift_reason", "")]).await;
    assert_eq!(no_reason.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let lifted = second
        .submit(page, &lift, &[("lift_reason", "incident closed")])
        .await;
    assert_eq!(lifted.status(), StatusCode::SEE_OTHER);
    let again = second
        .submit(page, &lift, &[("lift_reason", "incident closed")])
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        api.get("/reference/branches", &token).await.status,
        StatusCode::OK
    );
    let actions = server.audit_actions().await;
    assert!(actions.iter().any(|a| a == "governance.suspended"));
    assert!(actions.iter().any(|a| a == "governance.suspension_lifted"));

    // One client by id: the same, at once.
    let response = admin
        .submit(
            page,
            page,
            &[
                ("target_kind", "client"),
                ("target", &demo_app),
                ("reason", "leaked secret"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        introspect(&server, &gateway.client_id, &gateway_secret, &token).await["active"],
        false
    );
}
both!(suspension_is_immediate_and_two_person, demo);

/// Production rotation end to end with the `oauth2` crate: both secrets work during
/// the overlap, only the new one after; an overlap above the policy's maximum, a
/// developer, another organisation and a revoked credential are refused.
async fn production_rotation_end_to_end(server: TestServer) {
    let insights = app_id(&server, "Fjord insights").await;
    let insights_client = client_id(&server, &insights).await;
    let old_secret = app::governance::demo::DEMO_PRODUCTION_SECRET;
    let old = credential(&server, &insights).await;
    let fjord = server.demo_staff(FJORD, 0).await;
    let page = format!("/governance/clients/{insights}");
    let rotate = format!("/governance/clients/{insights}/credentials/{old}/rotate");
    let credentials = || server.count("SELECT COUNT(*) FROM credentials");

    // Tier 2 allows 48 hours of overlap.
    let before = credentials().await;
    let (_, html) = fjord.text(&page).await;
    assert!(
        html.contains("48 hours"),
        "the page states the policy's maximum"
    );
    let too_long = fjord
        .submit(&page, &rotate, &[("overlap_hours", "49")])
        .await;
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.text().await.unwrap().contains("at most 48 hours"));
    let not_a_number = fjord
        .submit(&page, &rotate, &[("overlap_hours", "two")])
        .await;
    assert_eq!(not_a_number.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(credentials().await, before, "nothing written");

    // Another organisation's partner (and a developer) cannot act on it.
    let acme_dev = server.demo_partner().await;
    let csrf = acme_dev.csrf("/dashboard").await;
    let refused = acme_dev
        .post(&rotate, &[("csrf_token", &csrf), ("overlap_hours", "1")])
        .await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "a developer may not rotate"
    );
    let (status, _) = acme_dev.text(&page).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another organisation's client is not found"
    );
    assert_eq!(credentials().await, before);

    // Rotate with a 2-hour overlap: the new secret is shown once.
    let response = fjord
        .submit(&page, &rotate, &[("overlap_hours", "2")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = fjord.text(&page).await;
    let marker = "shown once: ";
    let start = html.find(marker).expect("the new secret is shown") + marker.len();
    let new_secret: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let (_, again) = fjord.text(&page).await;
    assert!(!again.contains(&new_secret), "shown once only");
    assert!(
        production_token(&server, &insights_client, old_secret)
            .await
            .is_ok(),
        "old works in the overlap"
    );
    assert!(
        production_token(&server, &insights_client, &new_secret)
            .await
            .is_ok(),
        "new works"
    );
    assert!(mails(&server, FJORD, "A production credential was rotated").await >= 1);
    // Issue 27, L6: inside the overlap the old credential is still active, but it has
    // its successor: rotating it again is refused, so one rotation is one credential
    // replaced by one, not a fan of live secrets.
    let before = credentials().await;
    let again = fjord
        .submit(&page, &rotate, &[("overlap_hours", "1")])
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(credentials().await, before, "nothing written");

    // After the overlap, only the new one.
    server.state.clock.advance(2 * 3_600 + 1);
    server.forget_cached_state();
    assert!(
        production_token(&server, &insights_client, old_secret)
            .await
            .is_err(),
        "old refused after the overlap"
    );
    assert!(production_token(&server, &insights_client, &new_secret)
        .await
        .is_ok());
    // The new credential keeps the approved expiry.
    let (old_expiry, new_expiry): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT created_at FROM credentials WHERE id = $1) + 0, (SELECT expires_at FROM credentials WHERE app_id = $2 ORDER BY created_at DESC LIMIT 1)",
    )
    .bind(&old)
    .bind(&insights)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert!(new_expiry > old_expiry);

    // Rotating the rotated-out credential is refused, nothing written.
    let before = credentials().await;
    let stale = fjord
        .submit(&page, &rotate, &[("overlap_hours", "1")])
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert_eq!(credentials().await, before);

    // Revoke the new credential: refused at once; then retire the client.
    let new = credential(&server, &insights).await;
    let response = fjord
        .submit(
            &page,
            &format!("/governance/clients/{insights}/credentials/{new}/revoke"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(production_token(&server, &insights_client, &new_secret)
        .await
        .is_err());
    // A revoked credential cannot be rotated or revoked again; nothing is written.
    let before = credentials().await;
    let rotate_revoked = fjord
        .submit(
            &page,
            &format!("/governance/clients/{insights}/credentials/{new}/rotate"),
            &[("overlap_hours", "1")],
        )
        .await;
    assert_eq!(rotate_revoked.status(), StatusCode::CONFLICT);
    let revoke_again = fjord
        .submit(
            &page,
            &format!("/governance/clients/{insights}/credentials/{new}/revoke"),
            &[],
        )
        .await;
    assert_eq!(revoke_again.status(), StatusCode::CONFLICT);
    assert_eq!(credentials().await, before);
    let no_reason = fjord
        .submit(
            &page,
            &format!("/governance/clients/{insights}/retire"),
            &[("retire_reason", "")],
        )
        .await;
    assert_eq!(no_reason.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let retired = fjord
        .submit(
            &page,
            &format!("/governance/clients/{insights}/retire"),
            &[("retire_reason", "replaced by v2")],
        )
        .await;
    assert_eq!(retired.status(), StatusCode::SEE_OTHER);
    let status: String = sqlx::query_scalar("SELECT status FROM apps WHERE id = $1")
        .bind(&insights)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "revoked");
    let actions = server.audit_actions().await;
    for action in [
        "production_credential.rotated",
        "production_credential.revoked",
        "production_client.retired",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action} audited");
    }
}
both!(production_rotation_end_to_end, demo);

/// Exceptions: asked for with a reason and an end date at most 90 days away,
/// granted by an approver with a step-up code, lapsing at their end (the client,
/// still breaking the rule, is suspended).
async fn exceptions_are_explicit_and_temporary(server: TestServer) {
    let reporting = app_id(&server, "Fjord reporting").await;
    let insights = app_id(&server, "Fjord insights").await;
    let fjord = server.demo_staff(FJORD, 0).await;
    let page = format!("/governance/clients/{reporting}");
    let action = format!("/governance/clients/{reporting}/exceptions");
    let count = || server.count("SELECT COUNT(*) FROM policy_exceptions");
    let before = count().await;
    let day = |days: i64| {
        let t = time::OffsetDateTime::from_unix_timestamp(server.state.clock.now() + days * DAY)
            .unwrap();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let no_reason = fjord
        .submit(
            &page,
            &action,
            &[
                ("rule", "ip_allowlist"),
                ("reason", ""),
                ("ends_on", &day(30)),
            ],
        )
        .await;
    assert_eq!(no_reason.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let too_far = fjord
        .submit(
            &page,
            &action,
            &[
                ("rule", "ip_allowlist"),
                ("reason", "migrating"),
                ("ends_on", &day(91)),
            ],
        )
        .await;
    assert_eq!(too_far.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad_rule = fjord
        .submit(
            &page,
            &action,
            &[
                ("rule", "anything"),
                ("reason", "migrating"),
                ("ends_on", &day(30)),
            ],
        )
        .await;
    assert_eq!(bad_rule.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let acme = server.demo_partner().await;
    let csrf = acme.csrf("/dashboard").await;
    let other_org = acme
        .post(
            &action,
            &[
                ("csrf_token", &csrf),
                ("rule", "ip_allowlist"),
                ("reason", "x"),
                ("ends_on", &day(30)),
            ],
        )
        .await;
    assert_eq!(other_org.status(), StatusCode::FORBIDDEN);
    assert_eq!(count().await, before, "nothing written");

    let asked = fjord
        .submit(
            &page,
            &action,
            &[
                ("rule", "ip_allowlist"),
                ("reason", "our egress addresses change next week"),
                ("ends_on", &day(30)),
            ],
        )
        .await;
    assert_eq!(asked.status(), StatusCode::SEE_OTHER);
    let id: String = sqlx::query_scalar(
        "SELECT id FROM policy_exceptions WHERE app_id = $1 AND rule = 'ip_allowlist'",
    )
    .bind(&reporting)
    .fetch_one(server.pool())
    .await
    .unwrap();

    // A reviewer may look but not decide; an approver decides with a step-up code.
    let detail = format!("/governance/bank/exceptions/{id}");
    let decision = format!("{detail}/decision");
    let reviewer = server.demo_staff("reviewer@bank.example.com", 0).await;
    let csrf = reviewer.csrf(&detail).await;
    let refused = reviewer
        .post(
            &decision,
            &[
                ("csrf_token", &csrf),
                ("decision", "grant"),
                ("decision_reason", "ok"),
                ("code", "000000"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let approver = server.demo_staff("approver@bank.example.com", -1).await;
    let wrong_code = approver
        .submit(
            &detail,
            &decision,
            &[
                ("decision", "grant"),
                ("decision_reason", "temporary"),
                ("code", "000000"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(wrong_code.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let granted = approver
        .submit(
            &detail,
            &decision,
            &[
                ("decision", "grant"),
                ("decision_reason", "temporary"),
                ("code", &totp_code(&server.state.clock, &secret, 0)),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(granted.status(), StatusCode::SEE_OTHER);
    let status: String = sqlx::query_scalar("SELECT status FROM policy_exceptions WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "granted");
    let replay = approver
        .submit(
            &detail,
            &decision,
            &[
                ("decision", "refuse"),
                ("decision_reason", "changed my mind"),
                ("code", &totp_code(&server.state.clock, &secret, 1)),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(
        replay.status(),
        StatusCode::CONFLICT,
        "a decided exception stays decided"
    );
    let (_, register) = approver.text("/governance/bank/exceptions").await;
    assert!(register.contains(&id));
    let has_exception = inventory::list(
        &server.state,
        None,
        &inventory::Filter {
            has_exception: "1".into(),
            ..Default::default()
        },
        usize::MAX,
    )
    .await
    .unwrap();
    assert!(has_exception.rows.iter().any(|r| r.app_id == reporting));

    // The demo's client-secret exception of Fjord insights ends in 45 days: warned a
    // week before, then lapsed; the client still uses a secret, so it is suspended.
    // Day 39: the 30-day exception has ended (Tier 2 needs no allow-list, so the
    // client complies and is not suspended); the demo's is 6 days from its end.
    server.state.clock.advance(39 * DAY);
    sweep_now(&server).await;
    sweep_now(&server).await;
    assert_eq!(
        mails(&server, FJORD, "An exception ends soon").await,
        1,
        "warned once"
    );
    assert_eq!(mails(&server, FJORD, "An exception has lapsed").await, 1);
    assert_eq!(
        open_suspensions(&server, &reporting, "exception_lapsed").await,
        0
    );
    let status: String = sqlx::query_scalar("SELECT status FROM policy_exceptions WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "lapsed");
    server.state.clock.advance(7 * DAY);
    preview_then_sweep(&server).await;
    assert_eq!(
        open_suspensions(&server, &insights, "exception_lapsed").await,
        1
    );
    assert_eq!(mails(&server, FJORD, "An exception has lapsed").await, 2);
    let listing = inventory::list(
        &server.state,
        None,
        &inventory::Filter::default(),
        usize::MAX,
    )
    .await
    .unwrap();
    let row = listing.rows.iter().find(|r| r.app_id == insights).unwrap();
    assert!(row.suspension.is_some(), "{row:?}");
}
both!(exceptions_are_explicit_and_temporary, demo);

/// Evidence a tier relied on: warned, then after the grace the organisation's
/// clients under the tier are suspended until a reviewer accepts the renewed document.
async fn evidence_expiry_suspends_until_reattested(server: TestServer) {
    let reporting = app_id(&server, "Fjord reporting").await;
    let org: String = sqlx::query_scalar("SELECT org_id FROM apps WHERE id = $1")
        .bind(&reporting)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let now = server.state.clock.now();
    let date = |ts: i64| app::platform::time::rfc3339(ts)[..10].to_string();
    // Uploaded before the tier was approved (180 days ago): relied on. Expires in 10 days.
    // It stands in for the demo's own pen-test report (valid for months), which this
    // test takes out of the record in the same transaction: a sweep (the server's own,
    // already under way when the test holds it) never sees the organisation without a
    // pen test, which it would warn about as missing.
    hold_the_sweep(&server).await;
    let mut swap = server.pool().begin().await.unwrap();
    sqlx::query("UPDATE evidence SET removed_at = $1 WHERE org_id = $2 AND kind = 'pen_test'")
        .bind(now)
        .bind(&org)
        .execute(&mut *swap)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO evidence (id, org_id, kind, filename, content_type, size_bytes, sha256, object_key, issued_on, expires_on, uploaded_by, uploaded_at) \
         VALUES ('evd_old', $1, 'pen_test', 'pen-test.pdf', 'application/pdf', 10, 'x', 'none', '2026-01-01', $2, 'test', $3)",
    )
    .bind(&org)
    .bind(date(now + 10 * DAY))
    .bind(now - 200 * DAY)
    .execute(&mut *swap)
    .await
    .unwrap();
    swap.commit().await.unwrap();
    sweep_now(&server).await;
    assert_eq!(
        mails(&server, FJORD, "Evidence the bank relies on expires").await,
        1,
        "one warning per document"
    );
    // Expiry + the 30-day grace: suspended.
    server.state.clock.advance(42 * DAY);
    preview_then_sweep(&server).await;
    assert_eq!(open_suspensions(&server, &reporting, "evidence").await, 1);
    // The partner uploads the renewed document on the re-attestation page (a bad
    // date is refused, nothing stored); a reviewer accepts it; restored at once.
    let fjord = server.demo_staff(FJORD, 0).await;
    let (_, page) = fjord.text("/governance/evidence").await;
    assert!(
        page.contains("pen_test") && page.contains("Relied on by the bank"),
        "{page}"
    );
    let upload = |expires: String| {
        let fjord = &fjord;
        async move {
            let token = fjord.csrf("/governance/evidence").await;
            let form = reqwest::multipart::Form::new()
                .text("csrf_token", token)
                .text("kind", "pen_test")
                .text("issued_on", "2026-11-30")
                .text("expires_on", expires)
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(crate::onboarding::PDF)
                        .file_name("pen-test-2027.pdf")
                        .mime_str("application/pdf")
                        .unwrap(),
                );
            fjord
                .http
                .post(format!("{}/governance/evidence", fjord.base))
                .header("origin", &fjord.base)
                .multipart(form)
                .send()
                .await
                .unwrap()
        }
    };
    let before = server.count("SELECT COUNT(*) FROM evidence").await;
    let bad = upload("not a date".into()).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM evidence").await,
        before,
        "nothing stored"
    );
    let uploaded = upload(date(server.state.clock.now() + 365 * DAY)).await;
    assert_eq!(uploaded.status(), StatusCode::SEE_OTHER);
    let new_id: String =
        sqlx::query_scalar("SELECT id FROM evidence WHERE filename = 'pen-test-2027.pdf'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(
        open_suspensions(&server, &reporting, "evidence").await,
        1,
        "not before a reviewer accepts it"
    );
    let reviewer = server.demo_staff("reviewer@bank.example.com", 0).await;
    let (_, queue) = reviewer.text("/governance/bank/evidence").await;
    assert!(queue.contains("pen-test-2027.pdf"));
    let accept = format!("/governance/bank/evidence/{new_id}/accept");
    let accepted = reviewer
        .submit("/governance/bank/evidence", &accept, &[])
        .await;
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(open_suspensions(&server, &reporting, "evidence").await, 0);
    let again = reviewer
        .submit("/governance/bank/evidence", &accept, &[])
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
}
both!(evidence_expiry_suspends_until_reattested, demo);

/// The inventory: the bank's filters and exports (exactly the filtered rows), the
/// partner's own view, bad filters refused.
async fn inventory_filters_exports_and_scopes(server: TestServer) {
    let reviewer = server.demo_staff("reviewer@bank.example.com", 0).await;
    let (status, page) = reviewer
        .text("/governance/bank/inventory?expiring_within=30")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Fjord insights") && !page.contains("Acme Budgeting demo app"),
        "filtered"
    );
    let response = reviewer
        .get("/governance/bank/inventory/export?format=csv&expiring_within=30")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let csv = response.text().await.unwrap();
    let listing = inventory::list(
        &server.state,
        None,
        &inventory::Filter {
            expiring_within: "30".into(),
            ..Default::default()
        },
        usize::MAX,
    )
    .await
    .unwrap();
    assert_eq!(
        csv.lines().count(),
        listing.total + 1,
        "a header and exactly the filtered rows"
    );
    // `gatehouse inventory --format csv --expiring-within 30` prints the same rows.
    let cli = gatehouse_server::governance::inventory_text(
        &server.state,
        &inventory::Filter {
            expiring_within: "30".into(),
            ..Default::default()
        },
        "csv",
    )
    .await
    .unwrap();
    assert_eq!(cli, csv, "the CLI and the export print the same rows");
    let json: Value = reviewer
        .get("/governance/bank/inventory/export?format=json&no_owner=1")
        .await
        .json()
        .await
        .unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["client_name"], "Fjord legacy export");
    assert_eq!(rows[0]["owner"], Value::Null);
    for bad in [
        "status=bogus",
        "expiring_within=-1",
        "sort=name",
        "page=0",
        "environment=staging",
    ] {
        let (status, _) = reviewer
            .text(&format!("/governance/bank/inventory?{bad}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert!(server
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "governance.inventory_exported"));

    // The partner sees their own organisation only; the bank's page is not theirs.
    let acme = server.demo_partner().await;
    let (_, own) = acme.text("/governance/inventory").await;
    assert!(own.contains("Acme Budgeting demo app") && !own.contains("Fjord"));
    let (status, _) = acme.text("/governance/bank/inventory").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let export = acme
        .get("/governance/inventory/export?format=json")
        .await
        .text()
        .await
        .unwrap();
    assert!(!export.contains("Fjord"));
    let fjord_app = app_id(&server, "Fjord reporting").await;
    let (status, _) = acme.text(&format!("/governance/clients/{fjord_app}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Last used, from the batched request log: a token request, then an API call.
    let demo_credential: String = sqlx::query_scalar(
        "SELECT c.id FROM credentials c JOIN apps a ON a.id = c.app_id WHERE a.client_id = $1",
    )
    .bind(DEMO_ID)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let token = client_token(&server, "reference").await;
    let api = Api::new(&server);
    assert_eq!(
        api.get("/reference/branches", &token).await.status,
        StatusCode::OK
    );
    let mut used = (None, None);
    for _ in 0..100 {
        used = sqlx::query_as::<_, (Option<i64>, Option<i64>)>(
            "SELECT last_token_at, last_used_at FROM credentials WHERE id = $1",
        )
        .bind(&demo_credential)
        .fetch_one(server.pool())
        .await
        .unwrap();
        if used.0.is_some() && used.1.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        used.0.is_some() && used.1.is_some(),
        "both kinds of use are recorded: {used:?}"
    );
}
both!(inventory_filters_exports_and_scopes, demo);

/// Every field of the lifecycle form, with the defaults, then `changes`.
fn lifecycle_fields(changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let policy = app::governance::policy::Lifecycle::default();
    let mut fields = Vec::new();
    for (prefix, rules) in std::iter::once(("sandbox".to_string(), &policy.sandbox))
        .chain(policy.tiers.iter().map(|(l, r)| (format!("tier{l}"), r)))
    {
        let warnings: Vec<String> = rules.warning_days.iter().map(|d| d.to_string()).collect();
        fields.push((
            format!("{prefix}_dormancy_days"),
            rules.dormancy_days.to_string(),
        ));
        fields.push((format!("{prefix}_warning_days"), warnings.join(", ")));
        fields.push((
            format!("{prefix}_max_overlap_hours"),
            rules.max_overlap_hours.to_string(),
        ));
        fields.push((
            format!("{prefix}_owner_grace_days"),
            rules.owner_grace_days.to_string(),
        ));
        fields.push((
            format!("{prefix}_evidence_grace_days"),
            rules.evidence_grace_days.to_string(),
        ));
        if rules.require_ip_allowlist {
            fields.push((format!("{prefix}_require_ip_allowlist"), "1".to_string()));
        }
    }
    for (name, value) in changes {
        fields.retain(|(n, _)| n != name);
        fields.push((name.to_string(), value.to_string()));
    }
    fields
}

/// The lifecycle policy: bad values and a missing note are refused with nothing
/// saved; a change is a new version, audited, and what the pages use at once.
async fn lifecycle_policy_is_versioned_and_validated(server: TestServer) {
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let page = "/admin/lifecycle";
    let versions = || server.count("SELECT COUNT(*) FROM lifecycle_policies");
    assert_eq!(versions().await, 1, "the defaults are version 1");
    let as_refs = |fields: &Vec<(String, String)>| -> Vec<(String, String)> { fields.clone() };
    let post = |fields: Vec<(String, String)>| {
        let admin = &admin;
        async move {
            let refs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            admin.submit(page, page, &refs).await
        }
    };
    let bad = post(as_refs(&lifecycle_fields(&[
        ("sandbox_dormancy_days", "3"),
        ("note", "shorter"),
    ])))
    .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("dormancy threshold"));
    let bad_leads = post(lifecycle_fields(&[
        ("tier2_warning_days", "30, soon"),
        ("note", "x"),
    ]))
    .await;
    assert_eq!(bad_leads.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let no_note = post(lifecycle_fields(&[("tier2_max_overlap_hours", "12")])).await;
    assert_eq!(no_note.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unchanged = post(lifecycle_fields(&[("note", "nothing")])).await;
    assert_eq!(unchanged.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let reviewer = server.demo_staff("reviewer@bank.example.com", 0).await;
    let csrf = reviewer.csrf(page).await;
    let refused = reviewer
        .post(page, &[("csrf_token", &csrf), ("note", "x")])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(versions().await, 1, "nothing saved");

    let saved = post(lifecycle_fields(&[
        ("tier2_max_overlap_hours", "12"),
        ("note", "shorter overlaps on Tier 2"),
    ]))
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(versions().await, 2);
    assert!(server
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "lifecycle.policy_saved"));
    // In force at once: the rotation form's maximum and the service's check.
    let insights = app_id(&server, "Fjord insights").await;
    let fjord = server.demo_staff(FJORD, 0).await;
    let (_, html) = fjord.text(&format!("/governance/clients/{insights}")).await;
    assert!(
        html.contains("to 12 hours"),
        "the page uses the version in force"
    );
    let old = credential(&server, &insights).await;
    let rotate = format!("/governance/clients/{insights}/credentials/{old}/rotate");
    let too_long = fjord
        .submit(
            &format!("/governance/clients/{insights}"),
            &rotate,
            &[("overlap_hours", "13")],
        )
        .await;
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
both!(lifecycle_policy_is_versioned_and_validated, demo);

/// Naming an owner: only an active member of the organisation, only by its admins.
async fn owners_are_members(server: TestServer) {
    let legacy = app_id(&server, "Fjord legacy export").await;
    let page = format!("/governance/clients/{legacy}");
    let action = format!("{page}/owner");
    let fjord = server.demo_staff(FJORD, 0).await;
    let outsider: String =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@acme-budgeting.example.com'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let former: String = sqlx::query_scalar(
        "SELECT id FROM users WHERE email = 'former.engineer@fjord-analytics.example.com'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    for owner in [outsider.as_str(), former.as_str(), "usr_nobody", ""] {
        let response = fjord.submit(&page, &action, &[("owner_id", owner)]).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{owner}"
        );
    }
    let owner: String = sqlx::query_scalar("SELECT owner_id FROM apps WHERE id = $1")
        .bind(&legacy)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(owner, former, "unchanged");
    // Another organisation's admin cannot reach it.
    let acme = server
        .demo_partner_user("admin@acme-budgeting.example.com")
        .await;
    let csrf = acme.csrf("/dashboard").await;
    let response = acme
        .post(&action, &[("csrf_token", &csrf), ("owner_id", &outsider)])
        .await;
    assert!(
        matches!(
            response.status(),
            StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::SEE_OTHER
        ),
        "{}",
        response.status()
    );
    let owner: String = sqlx::query_scalar("SELECT owner_id FROM apps WHERE id = $1")
        .bind(&legacy)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(owner, former, "unchanged");
}
both!(owners_are_members, demo);
