//! Agreements (issue 32), through a started server on both databases: the bank
//! publishes versions (bad input refused, nothing written; HTML in the text inert); a
//! partner admin with a second factor accepts the version in force (a developer, a
//! wrong code, a replay, an old version are refused, nothing written) and downloads
//! the exact text with its hash; an application cannot be submitted, nor a
//! production request approved, without the tier's agreements; a material version's
//! deadline suspends the partner's production clients through the scheduler's sweep
//! on a controlled clock, and accepting lifts them at once.

use base64::Engine;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::both;
use crate::common::{assert_location, totp_code, Client, TestServer};
use crate::onboarding::{self, ACME_ADMIN, ACME_DEV, REVIEWER};

const BANK_ADMIN: &str = "admin@bank.example.com";
const FJORD: &str = "admin@fjord-analytics.example.com";
const DAY: i64 = 86_400;

/// The id of `version` of the document (kind, environment, tier).
async fn version_id(
    server: &TestServer,
    kind: &str,
    environment: &str,
    tier: i64,
    version: i64,
) -> String {
    sqlx::query_scalar(
        "SELECT v.id FROM agreement_versions v JOIN agreement_documents d ON d.id = v.document_id \
         WHERE d.kind = $1 AND d.environment = $2 AND d.tier = $3 AND v.version = $4",
    )
    .bind(kind)
    .bind(environment)
    .bind(tier)
    .bind(version)
    .fetch_one(server.pool())
    .await
    .unwrap()
}

/// A new partner admin's part before submitting an application for `tier` on a demo
/// server: two-step verification, then each of the tier's sandbox agreements in force
/// accepted.
pub(crate) async fn accept_tier_terms(server: &TestServer, admin: &Client, tier: i64) {
    let secret = admin.enrol_totp().await;
    let versions: Vec<String> = sqlx::query_scalar(
        "SELECT v.id FROM agreement_versions v JOIN agreement_documents d ON d.id = v.document_id \
         WHERE d.tier = $1 AND d.environment = 'sandbox' AND v.effective_at <= $2 \
         AND v.version = (SELECT MAX(w.version) FROM agreement_versions w WHERE w.document_id = d.id AND w.effective_at <= $2)",
    )
    .bind(tier)
    .bind(server.state.clock.now())
    .fetch_all(server.pool())
    .await
    .unwrap();
    for (step, version) in versions.iter().enumerate() {
        if step > 0 {
            // Each code once: the next acceptance takes the next time step's.
            server.state.clock.advance(30);
        }
        let code = totp_code(&server.state.clock, &secret, 1);
        assert_eq!(
            accept(admin, version, &code).await.status(),
            StatusCode::SEE_OTHER
        );
    }
}

async fn accept(client: &Client, version: &str, code: &str) -> reqwest::Response {
    client
        .submit(
            &format!("/agreements/{version}"),
            &format!("/agreements/{version}/accept"),
            &[("code", code)],
        )
        .await
}

fn publish_fields<'a>(
    title: &'a str,
    body: &'a str,
    effective: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("kind", "api_terms"),
        ("environment", "sandbox"),
        ("tier", "1"),
        ("title", title),
        ("body", body),
        ("effective_on", effective),
        ("window_days", "30"),
        ("change_note", "Clearer wording."),
    ]
}

async fn bank_publishes_versions_and_bad_input_writes_nothing(server: TestServer) {
    let admin = server.demo_staff(BANK_ADMIN, 0).await;
    let (status, page) = admin.text("/admin/agreements").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Data-sharing agreement, Tier 2 v2"), "{page}");
    let before = server
        .count("SELECT COUNT(*) FROM agreement_versions")
        .await;
    let today = app::platform::time::day(server.state.clock.now());

    // Missing and wrong fields, a past date, a text over the limit: 422, each named.
    let response = admin
        .submit(
            "/admin/agreements",
            "/admin/agreements",
            &[
                ("kind", "lease"),
                ("environment", "moon"),
                ("tier", "9"),
                ("title", ""),
                ("body", ""),
                ("effective_on", "31/02/2027"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    for message in [
        "Choose the kind of document.",
        "Choose the environment it governs.",
        "Choose one of the tiers.",
        "Enter a title",
        "Enter the agreement",
        "Enter the date it takes effect",
    ] {
        assert!(page.contains(message), "{message} in {page}");
    }
    let long = "a".repeat(app::agreements::MAX_TEXT_CHARS + 1);
    for (body, effective, message) in [
        ("Terms.", "2020-01-01", "today or later"),
        (long.as_str(), today.as_str(), "at most 30000 characters"),
    ] {
        let response = admin
            .submit(
                "/admin/agreements",
                "/admin/agreements",
                &publish_fields("Terms", body, effective),
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            response.text().await.unwrap().contains(message),
            "{message}"
        );
    }
    // Over the form limit altogether: 413.
    let huge = "a".repeat(80_000);
    let response = admin
        .submit(
            "/admin/agreements",
            "/admin/agreements",
            &publish_fields("Terms", &huge, &today),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Partners cannot publish.
    let partner = server.demo_partner_user(ACME_ADMIN).await;
    let response = partner
        .submit(
            "/agreements",
            "/admin/agreements",
            &publish_fields("Terms", "Terms.", &today),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM agreement_versions")
            .await,
        before
    );

    // A new, non-material version; HTML and script links in the text stay inert.
    let text = "# Sandbox API terms, Tier 1\n\nNo <script>alert(1)</script> here. See [the bank](https://bank.example.com) and [this](javascript:alert(1)).\n";
    let mut fields = publish_fields("Sandbox API terms, Tier 1", text, &today);
    fields.retain(|(name, _)| *name != "window_days");
    let response = admin
        .submit("/admin/agreements", "/admin/agreements", &fields)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let (status, page) = admin.text(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Sandbox API terms, Tier 1 v2"), "{page}");
    assert!(
        page.contains(&hex::encode(Sha256::digest(text.as_bytes()))),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        !page.contains("<script>alert") && !page.contains("javascript:"),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"https://bank.example.com\">the bank</a>"),
        "{page}"
    );
    assert!(server
        .audit_actions()
        .await
        .contains(&"agreement.published".to_string()));
    // Not material: a demo partner's acceptance of version 1 still stands.
    let fjord: String =
        sqlx::query_scalar("SELECT id FROM organisations WHERE legal_name LIKE 'Fjord%'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let owed = app::agreements::obligations(
        &server.state,
        &fjord,
        1,
        "sandbox",
        server.state.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].current.version, 2);
    assert_eq!(owed[0].accepted.map(|(version, _)| version), Some(1));
    assert!(owed[0].is_met());
}
both!(bank_publishes_versions_and_bad_input_writes_nothing, demo);

async fn a_signatory_accepts_the_version_in_force_once(server: TestServer) {
    let v1 = version_id(&server, "data_sharing", "production", 2, 1).await;
    let v2 = version_id(&server, "data_sharing", "production", 2, 2).await;
    let acceptances = || server.count("SELECT COUNT(*) FROM agreement_acceptances");
    let before = acceptances().await;
    // A developer reads but cannot accept.
    let developer = server.demo_partner_user(ACME_DEV).await;
    let (status, page) = developer.text(&format!("/agreements/{v2}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("A partner admin of your organisation accepts"),
        "{page}"
    );
    assert_eq!(
        accept(&developer, &v2, "123456").await.status(),
        StatusCode::FORBIDDEN
    );
    // A partner admin needs a second factor first.
    let admin = server.demo_partner_user(ACME_ADMIN).await;
    assert_eq!(
        accept(&admin, &v2, "123456").await.status(),
        StatusCode::FORBIDDEN
    );
    let secret = admin.enrol_totp().await;
    // A missing or wrong code: 422, nothing recorded.
    for code in ["", "000000"] {
        let response = accept(&admin, &v2, code).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "code {code:?}"
        );
    }
    assert_eq!(acceptances().await, before);
    // The version in force, with the current code.
    let response = accept(&admin, &v2, &totp_code(&server.state.clock, &secret, 1)).await;
    assert_location(&response, &format!("/agreements/{v2}"));
    let (email, sha, ip): (String, String, String) = sqlx::query_as(
        "SELECT u.email, a.sha256, a.ip FROM agreement_acceptances a JOIN users u ON u.id = a.user_id \
         JOIN organisations o ON o.id = a.org_id WHERE a.version_id = $1 AND o.legal_name LIKE 'Acme%'",
    )
    .bind(&v2)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let body: String = sqlx::query_scalar("SELECT body FROM agreement_versions WHERE id = $1")
        .bind(&v2)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(email, ACME_ADMIN);
    assert_eq!(sha, hex::encode(Sha256::digest(body.as_bytes())));
    assert!(!ip.is_empty());
    assert!(server
        .audit_actions()
        .await
        .contains(&"agreement.accepted".to_string()));
    // Replayed: refused, still one acceptance.
    let response = accept(&admin, &v2, &totp_code(&server.state.clock, &secret, 2)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(acceptances().await, before + 1);
    // An old version, or an unknown one: refused.
    let response = accept(&admin, &v1, &totp_code(&server.state.clock, &secret, 2)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("replaced by a newer version"));
    let token = admin.csrf("/agreements").await;
    let response = admin
        .post(
            "/agreements/agv_nothing/accept",
            &[("csrf_token", &token), ("code", "123456")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(acceptances().await, before + 1);

    // The exact text, with its SHA-256 as RFC 9530 says.
    let response = admin.get(&format!("/agreements/{v2}/text")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let digest = response.headers()["repr-digest"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        digest,
        format!(
            "sha-256=:{}:",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes()))
        )
    );
    assert_eq!(response.text().await.unwrap(), body);
    // Acme's page lists it; another organisation's does not; the bank sees who.
    let (_, page) = admin.text("/agreements").await;
    assert!(page.contains(ACME_ADMIN), "{page}");
    let fjord = server.demo_staff(FJORD, 0).await;
    let (_, page) = fjord.text("/agreements").await;
    assert!(!page.contains(ACME_ADMIN), "{page}");
    let bank = server.demo_staff(BANK_ADMIN, 0).await;
    let (_, page) = bank.text(&format!("/admin/agreements/{v2}")).await;
    assert!(
        page.contains("Acme Budgeting Ltd (demo)") && page.contains(ACME_ADMIN),
        "{page}"
    );
    // Partners have no bank page.
    assert_eq!(
        admin.get(&format!("/admin/agreements/{v2}")).await.status(),
        StatusCode::NOT_FOUND
    );

    // A version published to take effect in ten days can be accepted ahead: once in
    // force it is already accepted, with no window to run.
    let ahead = app::platform::time::day(server.state.clock.now() + 10 * DAY);
    let mut fields = publish_fields(
        "Data-sharing agreement, Tier 2",
        "# Data-sharing agreement, Tier 2\n\nVersion 3.\n",
        &ahead,
    );
    fields[0] = ("kind", "data_sharing");
    fields[1] = ("environment", "production");
    fields[2] = ("tier", "2");
    fields.push(("material", "yes"));
    let response = bank
        .submit("/admin/agreements", "/admin/agreements", &fields)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let v3 = version_id(&server, "data_sharing", "production", 2, 3).await;
    server.state.clock.advance(30);
    let response = accept(&admin, &v3, &totp_code(&server.state.clock, &secret, 1)).await;
    assert_location(&response, &format!("/agreements/{v3}"));
    let acme: String = sqlx::query_scalar("SELECT org_id FROM users WHERE email = $1")
        .bind(ACME_ADMIN)
        .fetch_one(server.pool())
        .await
        .unwrap();
    server.state.clock.advance(11 * DAY);
    let owed = app::agreements::obligations(
        &server.state,
        &acme,
        2,
        "production",
        server.state.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(owed[0].current.version, 3);
    assert_eq!(owed[0].standing, app::agreements::Standing::Accepted);
}
both!(a_signatory_accepts_the_version_in_force_once, demo);

async fn submission_and_approval_wait_for_the_tier_s_agreements(server: TestServer) {
    // A new partner completes Tier 1: submitting waits for the Tier 1 sandbox terms.
    let partner = server
        .partner_admin("ops@tidewater.example.com", "55667788")
        .await;
    let application = onboarding::start(&partner, "1").await;
    onboarding::complete(&server, &partner, &application).await;
    let response = onboarding::submit_response(&partner, &application, &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(page.contains("Sandbox API terms, Tier 1 v1"), "{page}");
    let status: String = sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
        .bind(&application)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "draft", "nothing submitted");
    let (_, page) = partner.text("/agreements").await;
    assert!(page.contains("Sandbox API terms, Tier 1"), "{page}");
    let secret = partner.enrol_totp().await;
    let terms = version_id(&server, "api_terms", "sandbox", 1, 1).await;
    let response = accept(
        &partner,
        &terms,
        &totp_code(&server.state.clock, &secret, 1),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    onboarding::submit(&partner, &application).await;

    // Fjord's waiting production request, once the Tier 2 data-sharing agreement's
    // new version is overdue: approval waits until Fjord accepts it.
    let request: String = sqlx::query_scalar(
        "SELECT r.id FROM access_requests r JOIN organisations o ON o.id = r.org_id \
         WHERE o.legal_name LIKE 'Fjord%' AND r.status = 'pending_review' ORDER BY r.submitted_at LIMIT 1",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    server.state.clock.advance(6 * DAY);
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let demo =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let scopes: String = sqlx::query_scalar("SELECT scopes FROM access_requests WHERE id = $1")
        .bind(&request)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let approve = |code: String| {
        let reviewer = &reviewer;
        let request = &request;
        let scopes = scopes.clone();
        async move {
            let mut fields: Vec<(&str, String)> = vec![
                ("decision", "approve".into()),
                ("lifetime_days", "30".into()),
                ("rate_limit_per_minute", "60".into()),
                ("reason", "Ready.".into()),
                ("code", code),
            ];
            for scope in scopes.split_whitespace() {
                fields.push(("scopes", scope.to_string()));
            }
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            crate::production::review(reviewer, request, &fields).await
        }
    };
    let response = approve(totp_code(&server.state.clock, &demo, 1)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = response.text().await.unwrap();
    assert!(page.contains("Data-sharing agreement, Tier 2 v2"), "{page}");
    let status: String = sqlx::query_scalar("SELECT status FROM access_requests WHERE id = $1")
        .bind(&request)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "pending_review", "nothing decided");
    let fjord = server.demo_staff(FJORD, 0).await;
    let v2 = version_id(&server, "data_sharing", "production", 2, 2).await;
    let response = accept(&fjord, &v2, &totp_code(&server.state.clock, &demo, 1)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // The refused approval never reached its step-up: the same code serves now.
    let response = approve(totp_code(&server.state.clock, &demo, 1)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}
both!(submission_and_approval_wait_for_the_tier_s_agreements, demo);

async fn open_agreement_suspensions(server: &TestServer) -> i64 {
    server
        .count(
            "SELECT COUNT(*) FROM suspensions s JOIN apps a ON a.id = s.target JOIN organisations o ON o.id = a.org_id \
             WHERE s.origin = 'agreement' AND s.lifted_at IS NULL AND o.legal_name LIKE 'Fjord%'",
        )
        .await
}

async fn a_material_version_s_deadline_suspends_until_accepted(server: TestServer) {
    let warned = "SELECT COUNT(*) FROM outbox WHERE recipient = 'admin@fjord-analytics.example.com' AND subject = 'An agreement needs your acceptance'";
    // Due in five days: the scheduler's sweep reminds Fjord once, however often it runs.
    server.run_job("governance_sweep").await;
    server.run_job("governance_sweep").await;
    assert_eq!(server.count(warned).await, 1);
    let (_, body) = server.last_mail(FJORD).await;
    assert!(
        body.contains("Data-sharing agreement, Tier 2 v2 must be accepted by"),
        "{body}"
    );
    assert_eq!(open_agreement_suspensions(&server).await, 0);
    // A day before the deadline, the last reminder.
    server.state.clock.advance(4 * DAY + 60);
    server.run_job("governance_sweep").await;
    assert_eq!(server.count(warned).await, 2);
    // Past the deadline: every Fjord production client is suspended.
    server.state.clock.advance(2 * DAY);
    server.run_job("governance_sweep").await;
    let production = server
        .count(
            "SELECT COUNT(*) FROM apps a JOIN organisations o ON o.id = a.org_id \
             WHERE o.legal_name LIKE 'Fjord%' AND a.environment = 'production' AND a.status = 'active'",
        )
        .await;
    assert!(production >= 1);
    assert_eq!(open_agreement_suspensions(&server).await, production);
    let fjord = server.demo_staff(FJORD, 0).await;
    let (_, page) = fjord.text("/agreements").await;
    assert!(page.contains("Overdue since"), "{page}");
    // Accepting lifts them at once, without waiting for a sweep.
    let v2 = version_id(&server, "data_sharing", "production", 2, 2).await;
    let demo =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let response = accept(&fjord, &v2, &totp_code(&server.state.clock, &demo, 1)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(open_agreement_suspensions(&server).await, 0);
    assert!(server
        .audit_actions()
        .await
        .contains(&"governance.agreement_restored".to_string()));
    // And the next sweep has nothing to do about it.
    server.run_job("governance_sweep").await;
    assert_eq!(open_agreement_suspensions(&server).await, 0);
}
both!(a_material_version_s_deadline_suspends_until_accepted, demo);

async fn an_automatic_approval_waits_for_the_agreements(server: TestServer) {
    use crate::production::{
        approve_tier, call_reference, demo_app_id, request_fields, request_row, submitted,
    };
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let secret = acme.enrol_totp().await;
    approve_tier(&server, &acme, &reviewer, "1").await;
    // The bank adds an SLA schedule to Tier 1's production terms: Acme has not accepted it.
    let bank = server.demo_staff(BANK_ADMIN, 0).await;
    let today = app::platform::time::day(server.state.clock.now());
    let mut fields = publish_fields(
        "SLA schedule, Tier 1",
        "# SLA schedule\n\nThe bank answers within two working days.\n",
        &today,
    );
    fields[0] = ("kind", "sla_schedule");
    fields[1] = ("environment", "production");
    let response = bank
        .submit("/admin/agreements", "/admin/agreements", &fields)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let sla = version_id(&server, "sla_schedule", "production", 1, 1).await;

    // A request the policy approves by itself goes to a reviewer instead, saying why.
    let app_id = demo_app_id(&server).await;
    call_reference(&server, 3).await;
    crate::sandbox_helpers::wait_for_log(&server, &app_id, 4).await;
    let fields = request_fields(&app_id, &["reference"], "client_secret_basic", ("jwks", ""));
    let id = submitted(&acme, &fields).await;
    let (status, route, production_app) = request_row(&server, &id).await;
    assert_eq!(
        (status.as_str(), route.as_str()),
        ("pending_review", "one_reviewer")
    );
    assert!(production_app.is_none(), "no credential issued");
    let (_, page) = acme.text(&format!("/production/requests/{id}")).await;
    assert!(
        page.contains("A partner admin accepts them on the Agreements page"),
        "{page}"
    );
    // Acme's agreements page and dashboard list it.
    let (_, page) = acme.text("/agreements").await;
    assert!(page.contains("SLA schedule, Tier 1 v1"), "{page}");
    let (_, page) = acme.text("/dashboard").await;
    assert!(page.contains("Accept SLA schedule, Tier 1 v1"), "{page}");
    // Accepted, the reviewer approves; the version page names it for the reviewer.
    let response = accept(&acme, &sla, &totp_code(&server.state.clock, &secret, 1)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = reviewer.text(&format!("/review/production/{id}")).await;
    assert!(
        page.contains("Agreements in force") && page.contains("SLA schedule, Tier 1 v1"),
        "{page}"
    );
    let demo =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let code = totp_code(&server.state.clock, &demo, 0);
    let response = crate::production::review(
        &reviewer,
        &id,
        &[
            ("decision", "approve"),
            ("scopes", "reference"),
            ("reason", "Terms accepted."),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(request_row(&server, &id).await.0, "approved");
}
both!(an_automatic_approval_waits_for_the_agreements, demo);

/// The partner's software is told too: the reminder of a material version due soon
/// reaches Fjord's webhook endpoint as `agreement.acceptance_required`, signed and
/// verified by the receiver's own Standard Webhooks library, once however often the
/// sweep runs.
async fn a_material_version_reaches_the_partner_s_webhook(backend: crate::common::Backend) {
    use crate::webhook_receiver::{register, Receiver};
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let Some(server) = TestServer::start_with(backend, |s| {
        s.demo = true;
        receiver.configure(s);
    })
    .await
    else {
        return;
    };
    receiver.follow_clock(&server).await;
    let fjord = server.demo_staff(FJORD, 0).await;
    let (_, secret) = register(
        &fjord,
        &receiver.url("/agreements"),
        &["agreement.acceptance_required"],
    )
    .await;
    receiver
        .control(serde_json::json!({ "path": "/agreements", "secrets": [secret] }))
        .await;
    // The first reminder went out at the server's first tick, before the endpoint
    // existed; the last one, a day before the deadline, reaches it.
    server.wait_for_first_tick().await;
    receiver.advance(&server, 4 * DAY + 60).await;
    server.run_job("governance_sweep").await;
    server.run_job("governance_sweep").await;
    let seen = receiver
        .wait_for_type("/agreements", Some("agreement.acceptance_required"), 1)
        .await;
    assert_eq!(
        seen[0]["verifiedWith"],
        serde_json::json!([0]),
        "{}",
        seen[0]
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(receiver.count("/agreements").await, 1, "told once");
}

mod a_material_version_reaches_the_partner_s_webhook {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_material_version_reaches_the_partner_s_webhook(crate::common::Backend::Sqlite)
            .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_material_version_reaches_the_partner_s_webhook(crate::common::Backend::Postgres)
            .await;
    }
}
