//! Issue 15: access-review campaigns on a controlled clock, over the demo's Fjord
//! Analytics (three production clients): reminders each sent once, the partner's
//! attestation (narrowing takes effect at the token endpoint at once), the bank's
//! decisions, the due-date outcome, revocation after the grace period, the report,
//! the evidence pack, and the recurring campaign created once per period by two
//! instances.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use serde_json::Value;

use crate::both;
use crate::common::{assert_location, Client, TestServer};
use crate::offboarding::{org_of, BANK_ADMIN, FJORD};
use crate::sandbox_helpers::oauth_post;

const REVIEWER: &str = "reviewer@bank.example.com";
const DAY: i64 = 86_400;

fn day(server: &TestServer, offset_days: i64) -> String {
    let at = server.state.clock.now() + offset_days * DAY;
    let date = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap()
        .date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

pub(crate) async fn app_named(server: &TestServer, name: &str) -> (String, String) {
    sqlx::query_as("SELECT id, client_id FROM apps WHERE name = $1")
        .bind(name)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn scopes_of(server: &TestServer, app: &str) -> String {
    server.forget_cached_state();
    sqlx::query_scalar("SELECT scopes FROM apps WHERE id = $1")
        .bind(app)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn item_of(server: &TestServer, campaign: &str, app: &str) -> (String, String, String) {
    sqlx::query_as(
        "SELECT id, state, unused_scopes FROM review_items WHERE campaign_id = $1 AND app_id = $2",
    )
    .bind(campaign)
    .bind(app)
    .fetch_one(server.pool())
    .await
    .unwrap()
}

async fn version(server: &TestServer, item: &str) -> String {
    let v: i64 = sqlx::query_scalar("SELECT version FROM review_items WHERE id = $1")
        .bind(item)
        .fetch_one(server.pool())
        .await
        .unwrap();
    v.to_string()
}

async fn mails(server: &TestServer, subject: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND subject = $2")
        .bind(FJORD)
        .bind(subject)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// Runs the scheduler's `access_reviews` job now (as a running server does every
/// five minutes) and reads its report.
async fn run(server: &TestServer) -> app::reviews::schedule::Report {
    let summary = server.run_job("access_reviews").await;
    let n = |key: &str| usize::try_from(summary[key].as_u64().unwrap()).unwrap();
    app::reviews::schedule::Report {
        reminders: n("reminders"),
        unanswered: n("unanswered"),
        revoked: n("revoked"),
        closed: n("closed"),
        created: n("created"),
    }
}

/// The production token endpoint's answer for Fjord insights asking for `scope`.
pub(crate) async fn insights_token(
    server: &TestServer,
    client_id: &str,
    scope: &str,
) -> (StatusCode, Value) {
    server.forget_cached_state();
    let (status, _, body) = oauth_post(
        server,
        "/production/oauth/token",
        Some((client_id, app::governance::demo::DEMO_PRODUCTION_SECRET)),
        &[("grant_type", "client_credentials"), ("scope", scope)],
        None,
    )
    .await;
    (status, body)
}

async fn create(bank: &Client, fields: &[(&str, &str)]) -> reqwest::Response {
    bank.submit("/reviews/bank", "/reviews/bank", fields).await
}

fn campaign_id(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .unwrap()
        .strip_prefix("/reviews/bank/")
        .unwrap()
        .to_string()
}

async fn attest(partner: &Client, item: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let page = format!("/reviews/items/{item}");
    partner.submit(&page, &page, fields).await
}

async fn decide(bank: &Client, item: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    bank.submit(
        &format!("/reviews/bank/items/{item}"),
        &format!("/reviews/bank/items/{item}/decision"),
        fields,
    )
    .await
}

/// Answers and confirms every open item of the demo's campaign, through the pages.
async fn settle_demo_campaign(server: &TestServer, fjord: &Client, reviewer: &Client) {
    let open: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, state, scopes FROM review_items WHERE state IN ('awaiting_partner', 'awaiting_bank') ORDER BY id",
    )
    .fetch_all(server.pool())
    .await
    .unwrap();
    for (item, state, scopes) in open {
        if state == "awaiting_partner" {
            let v = version(server, &item).await;
            let mut fields = vec![
                ("version".to_string(), v),
                ("still_needed".into(), "yes".into()),
            ];
            for scope in scopes.split(' ') {
                fields.push((format!("keep_{scope}"), "1".into()));
                fields.push((format!("justification_{scope}"), "Still in use.".into()));
            }
            let refs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(
                attest(fjord, &item, &refs).await.status(),
                StatusCode::SEE_OTHER
            );
        }
        let v = version(server, &item).await;
        let response = decide(reviewer, &item, &[("version", &v), ("decision", "confirm")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
}

async fn campaign_on_a_controlled_clock(server: TestServer) {
    let fjord_org = org_of(&server, FJORD).await;
    let acme_org = org_of(&server, "admin@acme-budgeting.example.com").await;
    let (insights, insights_client) = app_named(&server, "Fjord insights").await;
    let (reporting, _) = app_named(&server, "Fjord reporting").await;
    let (legacy, _) = app_named(&server, "Fjord legacy export").await;
    // Insights asked for a reference token lately: that scope is in use.
    assert_eq!(
        insights_token(&server, &insights_client, "reference")
            .await
            .0,
        StatusCode::OK
    );
    for _ in 0..100 {
        if server.count("SELECT COUNT(*) FROM scope_use").await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let bank = server.demo_staff(BANK_ADMIN, -1).await;
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let fjord = server.demo_staff(FJORD, -1).await;
    // The demo's own campaign is in progress: settled first, so its reminders and due
    // date do not mix with this test's two campaigns.
    settle_demo_campaign(&server, &fjord, &reviewer).await;
    let campaigns = server.count("SELECT COUNT(*) FROM review_campaigns").await;
    let opened = mails(&server, "An access review is due").await;

    // Bad campaigns: a clear error, nothing written.
    let due = day(&server, 30);
    let past = day(&server, -1);
    let cases: [(&str, &str, &str, &str); 4] = [
        ("organisation", &fjord_org, &past, "at least a day from now"),
        (
            "organisation",
            &acme_org,
            &due,
            "would cover no active production client",
        ),
        ("tier", "7", &due, "Name the tier"),
        ("scope", "no-such-scope", &due, "No scope of the catalogue"),
    ];
    for (kind, value, due_date, message) in cases {
        let response = create(
            &bank,
            &[
                ("title", "Q4 review"),
                ("scope_kind", kind),
                ("scope_value", value),
                ("due_date", due_date),
                ("reminders", "half, 3"),
                ("on_unanswered", "suspend"),
                ("grace_days", "14"),
                ("period_days", "90"),
            ],
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{message}"
        );
        assert!(
            response.text().await.unwrap().contains(message),
            "{message}"
        );
    }
    let token = reviewer.csrf("/reviews/bank").await;
    let response = reviewer
        .post(
            "/reviews/bank",
            &[
                ("csrf_token", &token),
                ("title", "x"),
                ("scope_kind", "all"),
                ("due_date", &due),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM review_campaigns").await,
        campaigns
    );

    // The campaign: Fjord's three production clients, reminders at half-time and 3 days before.
    let response = create(
        &bank,
        &[
            ("title", "Fjord Q4 review"),
            ("scope_kind", "organisation"),
            ("scope_value", &fjord_org),
            ("due_date", &due),
            ("reminders", "half, 3"),
            ("on_unanswered", "suspend"),
            ("grace_days", "14"),
            ("period_days", "90"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let campaign = campaign_id(&response);
    assert_eq!(mails(&server, "An access review is due").await, opened + 1);
    let (insights_item, state, unused) = item_of(&server, &campaign, &insights).await;
    assert_eq!(state, "awaiting_partner");
    assert_eq!(
        unused, "accounts",
        "reference was used; accounts is pre-marked"
    );
    let (reporting_item, _, _) = item_of(&server, &campaign, &reporting).await;
    let (legacy_item, _, _) = item_of(&server, &campaign, &legacy).await;
    let (_, dashboard) = fjord.text("/dashboard").await;
    assert!(
        dashboard.contains(&format!("/reviews/items/{insights_item}")),
        "reviews due on the dashboard"
    );

    // Half-time: one reminder per item, once however often the schedule runs.
    server.state.clock.advance(16 * DAY);
    assert_eq!(run(&server).await.reminders, 3);
    assert_eq!(run(&server).await.reminders, 0);
    assert_eq!(mails(&server, "Reminder: an access review is due").await, 3);

    // A session lasts 12 hours of the clock: after 16 days both sign in again.
    let (reviewer, fjord) = (
        server.demo_staff(REVIEWER, 0).await,
        server.demo_staff(FJORD, 0).await,
    );
    // The partner attests insights: another organisation cannot, widening is refused,
    // every kept scope needs a reason.
    let acme = server
        .demo_partner_user("admin@acme-budgeting.example.com")
        .await;
    acme.enrol_totp().await;
    assert_eq!(
        acme.get(&format!("/reviews/items/{insights_item}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let v = version(&server, &insights_item).await;
    let token = acme.csrf("/reviews").await;
    let response = acme
        .post(
            &format!("/reviews/items/{insights_item}"),
            &[
                ("csrf_token", &token),
                ("version", &v),
                ("still_needed", "no"),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "another organisation's item"
    );
    let response = attest(
        &fjord,
        &insights_item,
        &[
            ("version", &v),
            ("still_needed", "yes"),
            ("keep_reference", "1"),
            ("keep_payments", "1"),
            ("justification_reference", "Branch finder."),
            ("justification_payments", "x"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("cannot be added here"));
    let response = attest(
        &fjord,
        &insights_item,
        &[
            ("version", &v),
            ("still_needed", "yes"),
            ("keep_reference", "1"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Say why the client still needs reference"));
    assert_eq!(
        scopes_of(&server, &insights).await,
        "reference accounts",
        "nothing changed"
    );
    // Narrowed to reference: the client's new tokens lack accounts at once.
    assert_eq!(
        insights_token(&server, &insights_client, "accounts")
            .await
            .0,
        StatusCode::OK
    );
    let response = attest(
        &fjord,
        &insights_item,
        &[
            ("version", &v),
            ("still_needed", "yes"),
            ("keep_reference", "1"),
            ("justification_reference", "Our branch finder."),
        ],
    )
    .await;
    assert_location(&response, &format!("/reviews/items/{insights_item}"));
    assert_eq!(scopes_of(&server, &insights).await, "reference");
    let (status, body) = insights_token(&server, &insights_client, "accounts").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    assert_eq!(
        insights_token(&server, &insights_client, "reference")
            .await
            .0,
        StatusCode::OK
    );
    // A replayed answer (the old version) is refused.
    let response = attest(
        &fjord,
        &insights_item,
        &[
            ("version", &v),
            ("still_needed", "yes"),
            ("keep_reference", "1"),
            ("justification_reference", "again"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // Reporting keeps everything; the bank narrows it.
    let v = version(&server, &reporting_item).await;
    let response = attest(
        &fjord,
        &reporting_item,
        &[
            ("version", &v),
            ("still_needed", "yes"),
            ("keep_reference", "1"),
            ("keep_accounts", "1"),
            ("keep_fundsconfirmations", "1"),
            ("justification_reference", "Reports."),
            ("justification_accounts", "Reports."),
            ("justification_fundsconfirmations", "Checks."),
        ],
    )
    .await;
    assert_location(&response, &format!("/reviews/items/{reporting_item}"));

    // The bank: a partner cannot decide; the reviewer confirms insights, narrows reporting.
    let token = fjord.csrf(&format!("/reviews/items/{insights_item}")).await;
    let response = fjord
        .post(
            &format!("/reviews/bank/items/{insights_item}/decision"),
            &[("csrf_token", &token), ("decision", "confirm")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let v = version(&server, &insights_item).await;
    let response = decide(
        &reviewer,
        &insights_item,
        &[("version", &v), ("decision", "confirm")],
    )
    .await;
    assert_location(&response, &format!("/reviews/bank/items/{insights_item}"));
    let v = version(&server, &reporting_item).await;
    let response = decide(
        &reviewer,
        &reporting_item,
        &[
            ("version", &v),
            ("decision", "narrow"),
            ("keep_reference", "1"),
            ("keep_accounts", "1"),
        ],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "narrowing needs a note"
    );
    let response = decide(
        &reviewer,
        &reporting_item,
        &[
            ("version", &v),
            ("decision", "narrow"),
            ("keep_reference", "1"),
            ("keep_accounts", "1"),
            ("note", "Funds checks are not in your tier's use case."),
        ],
    )
    .await;
    assert_location(&response, &format!("/reviews/bank/items/{reporting_item}"));
    assert_eq!(scopes_of(&server, &reporting).await, "reference accounts");
    let response = decide(
        &reviewer,
        &reporting_item,
        &[("version", &v), ("decision", "confirm")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "decided once");

    // Three days before: the second reminder, only for the item still waiting.
    server.state.clock.advance(12 * DAY);
    assert_eq!(run(&server).await.reminders, 1);
    assert_eq!(mails(&server, "Reminder: an access review is due").await, 4);

    // Past the due date: legacy export is unanswered and suspended; the campaign closes.
    server.state.clock.advance(3 * DAY);
    let report = run(&server).await;
    assert_eq!((report.unanswered, report.closed), (1, 1));
    assert_eq!(
        run(&server).await,
        app::reviews::schedule::Report::default()
    );
    assert_eq!(item_of(&server, &campaign, &legacy).await.1, "unanswered");
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM suspensions WHERE target = $1 AND lifted_at IS NULL",
    )
    .bind(&legacy)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(open, 1);
    assert_eq!(mails(&server, "An access review was not answered").await, 1);
    let (bank, reviewer, fjord) = (
        server.demo_staff(BANK_ADMIN, 0).await,
        server.demo_staff(REVIEWER, 1).await,
        server.demo_staff(FJORD, 1).await,
    );
    // The partner can still answer late; the page says where the item stands.
    let (_, page) = fjord.text(&format!("/reviews/items/{legacy_item}")).await;
    assert!(
        page.contains("Unanswered") && page.contains("Send the answer"),
        "{page}"
    );

    // The report: every item with both decisions, who and when, and the resulting scopes.
    let response = reviewer
        .get(&format!("/reviews/bank/{campaign}/report.csv"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let csv = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let row = rows
        .iter()
        .find(|r| &r[col("item_id")] == insights_item.as_str())
        .unwrap();
    assert_eq!(&row[col("state")], "confirmed");
    assert_eq!(&row[col("attested_by")], FJORD);
    assert_eq!(&row[col("decided_by")], REVIEWER);
    assert_eq!(&row[col("resulting_scopes")], "reference");
    let row = rows
        .iter()
        .find(|r| &r[col("item_id")] == reporting_item.as_str())
        .unwrap();
    assert_eq!(
        (&row[col("state")], &row[col("resulting_scopes")]),
        ("narrowed", "reference accounts")
    );
    let json: Value = reviewer
        .get(&format!("/reviews/bank/{campaign}/report.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 3);
    assert!(server
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "review.report_exported"));
    // The pack of the finished campaign verifies.
    let pack: String = sqlx::query_scalar("SELECT pack_id FROM review_campaigns WHERE id = $1")
        .bind(&campaign)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pack.json");
    gatehouse_server::evidence_export(server.state.settings.clone(), &pack, &path)
        .await
        .unwrap();
    let verified = gatehouse_server::evidence_verify(server.state.settings.clone(), &path)
        .await
        .unwrap();
    assert!(
        verified.problems.is_empty() && verified.entries == 4,
        "{verified}"
    );
    // The risk policy sees the organisation's latest review outcome.
    let outcome = app::reviews::latest_outcome(&server.state, &fjord_org)
        .await
        .unwrap();
    assert_eq!(outcome["outcome"], "unanswered");

    // A second campaign, over the holders of reference, suspend then revoke after 7
    // days: the bank revokes insights; reporting goes unanswered, then is revoked.
    let due = day(&server, 10);
    let response = create(
        &bank,
        &[
            ("title", "Reference holders"),
            ("scope_kind", "scope"),
            ("scope_value", "reference"),
            ("due_date", &due),
            ("reminders", ""),
            ("on_unanswered", "suspend_then_revoke"),
            ("grace_days", "7"),
            ("period_days", "90"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let second = campaign_id(&response);
    let (insights_item, _, _) = item_of(&server, &second, &insights).await;
    let v = version(&server, &insights_item).await;
    attest(
        &fjord,
        &insights_item,
        &[
            ("version", &v),
            ("still_needed", "yes"),
            ("keep_reference", "1"),
            ("justification_reference", "Branch finder."),
        ],
    )
    .await;
    let v = version(&server, &insights_item).await;
    let response = decide(
        &reviewer,
        &insights_item,
        &[
            ("version", &v),
            ("decision", "revoke"),
            ("note", "The product was withdrawn."),
        ],
    )
    .await;
    assert_location(&response, &format!("/reviews/bank/items/{insights_item}"));
    assert_eq!(
        insights_token(&server, &insights_client, "reference")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Legacy export is no longer needed: the partner says so, the client is retired at
    // once (not a revocation by the bank), and the reviewer confirms.
    let (legacy_item, _, _) = item_of(&server, &second, &legacy).await;
    let v = version(&server, &legacy_item).await;
    let response = attest(
        &fjord,
        &legacy_item,
        &[("version", &v), ("still_needed", "no")],
    )
    .await;
    assert_location(&response, &format!("/reviews/items/{legacy_item}"));
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("SELECT status, revoked_reason FROM apps WHERE id = $1")
            .bind(&legacy)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("revoked", Some("retired"))
    );
    let v = version(&server, &legacy_item).await;
    let response = decide(
        &reviewer,
        &legacy_item,
        &[("version", &v), ("decision", "confirm")],
    )
    .await;
    assert_location(&response, &format!("/reviews/bank/items/{legacy_item}"));
    assert_eq!(item_of(&server, &second, &legacy).await.1, "revoked");
    server.state.clock.advance(11 * DAY);
    // Reporting goes unanswered.
    assert_eq!(run(&server).await.unanswered, 1);
    let (_, state, _) = item_of(&server, &second, &reporting).await;
    assert_eq!(state, "unanswered");
    server.state.clock.advance(6 * DAY);
    assert_eq!(
        run(&server).await.revoked,
        0,
        "not before the grace period ends"
    );
    server.state.clock.advance(2 * DAY);
    let report = run(&server).await;
    assert_eq!((report.revoked, report.closed), (1, 1));
    assert_eq!(item_of(&server, &second, &reporting).await.1, "revoked");
    let status: String = sqlx::query_scalar("SELECT status FROM apps WHERE id = $1")
        .bind(&reporting)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "revoked");
    assert_eq!(
        app::reviews::latest_outcome(&server.state, &fjord_org)
            .await
            .unwrap()["outcome"],
        "revoked"
    );
}
both!(campaign_on_a_controlled_clock, demo);

/// The recurring campaign of a tier: created once per period, even by two instances
/// running the schedule at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recurring_campaign_once_per_period_with_two_instances() {
    let Some(first) = TestServer::start(crate::common::Backend::Postgres, true).await else {
        return;
    };
    let second = first.second_instance(|s| s.demo = true).await;
    let bank = first.demo_staff(BANK_ADMIN, -1).await;
    // Nothing recurs until the bank turns it on.
    assert_eq!(run(&first).await.created, 0);
    let opened = mails(&first, "An access review is due").await;
    let response = bank
        .submit(
            "/reviews/bank",
            "/reviews/bank/recurring",
            &[("tier_1", "0"), ("tier_2", "6"), ("tier_3", "3")],
        )
        .await;
    assert_location(&response, "/reviews/bank");
    let response = bank
        .submit(
            "/reviews/bank",
            "/reviews/bank/recurring",
            &[("tier_2", "5")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for _ in 0..3 {
        let now = first.state.clock.now();
        let (a, b) = tokio::join!(
            app::reviews::schedule::run(&first.state, now),
            app::reviews::schedule::run(&second.state, now)
        );
        let _ = (a.unwrap(), b.unwrap());
    }
    let campaigns: Vec<(i64, String)> = sqlx::query_as(
        "SELECT recurring_tier, period FROM review_campaigns WHERE recurring_tier IS NOT NULL ORDER BY recurring_tier",
    )
    .fetch_all(first.pool())
    .await
    .unwrap();
    // Tier 2 (Fjord) once; Tier 3 has no production client, so no campaign.
    assert_eq!(campaigns.len(), 1, "{campaigns:?}");
    assert_eq!(campaigns[0].0, 2);
    let items = first
        .count("SELECT COUNT(*) FROM review_items i JOIN review_campaigns c ON c.id = i.campaign_id WHERE c.recurring_tier = 2")
        .await;
    assert_eq!(items, 3);
    assert_eq!(mails(&first, "An access review is due").await, opened + 1);
    // The next period brings the next campaign, once.
    first.state.clock.advance(200 * DAY);
    second.state.clock.advance(200 * DAY);
    for _ in 0..2 {
        let now = first.state.clock.now();
        let (a, b) = tokio::join!(
            app::reviews::schedule::run(&first.state, now),
            app::reviews::schedule::run(&second.state, now)
        );
        let _ = (a.unwrap(), b.unwrap());
    }
    assert_eq!(
        first
            .count("SELECT COUNT(*) FROM review_campaigns WHERE recurring_tier = 2")
            .await,
        2
    );
}
