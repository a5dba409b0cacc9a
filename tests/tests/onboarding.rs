//! Tiered onboarding through the portal, as partner admins and bank reviewers use it:
//! Tier 1 and Tier 3 to approval, the more-information loop, two admins editing at
//! once, two reviewers deciding at once, a higher tier while the lower one stays, the
//! catalogue's versioned questionnaires, and bad input on every form and upload.

use reqwest::multipart::{Form as Multipart, Part};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

use crate::both;
use crate::common::{assert_location, input_value, Client, TestServer};

pub const ACME_ADMIN: &str = "admin@acme-budgeting.example.com";
pub const ACME_DEV: &str = "dev@acme-budgeting.example.com";
pub const NORTHWIND_ADMIN: &str = "admin@northwind-pay.example.com";
pub const REVIEWER: &str = "reviewer@bank.example.com";
pub const APPROVER: &str = "approver@bank.example.com";

/// A small but real PDF.
pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89";

pub fn date(offset_days: i64) -> String {
    let day = time::OffsetDateTime::now_utc().date() + time::Duration::days(offset_days);
    let format = time::macros::format_description!("[year]-[month]-[day]");
    day.format(&format).unwrap()
}

/// Complete answers for every form step; the questionnaire's depend on its name.
pub fn answers(step: &str, questionnaire: &str) -> Vec<(&'static str, &'static str)> {
    match (step, questionnaire) {
        ("profile", _) => vec![
            ("trading_name", "Acme"),
            ("registered_address", "1 Synthetic Street, London QQ1 1QQ"),
            ("company_type", "Private limited company"),
            ("employees", "25"),
        ],
        ("use-case", _) => vec![
            ("objective", "Budgeting for households."),
            ("data_elements", "Balances and 12 months of transactions."),
            ("permission", "Both AISP and PISP"),
            ("licence_number", "FRN123456"),
            ("retention_days", "90"),
        ],
        ("questionnaire", "baseline") => vec![
            ("infosec_policy", "yes"),
            ("security_owner", "Grace Hopper, CISO"),
            ("mfa_staff", "yes"),
            ("secrets_storage", "A secrets manager or HSM"),
        ],
        ("questionnaire", _) => vec![
            ("infosec_policy", "yes"),
            ("security_owner", "Grace Hopper, CISO"),
            ("risk_assessment_date", "2026-03-31"),
            ("mfa_staff", "no"),
            ("access_reviews", "Quarterly"),
            ("encryption_at_rest", "yes"),
            ("data_location", "United Kingdom"),
            ("subprocessors", "none"),
            ("secrets_storage", "A secrets manager or HSM"),
            ("incidents_12m", "0"),
        ],
        ("contacts", _) => vec![
            ("security_name", "Grace Hopper"),
            ("security_email", "security@example.com"),
            ("incident_name", "Alan Turing"),
            ("incident_email", "incidents@example.com"),
            ("incident_phone", "020 7946 0000"),
        ],
        ("declaration", _) => vec![
            ("accurate", "yes"),
            ("signatory_name", "Ada Lovelace"),
            ("signatory_role", "Director"),
        ],
        _ => panic!("no answers for {step}"),
    }
}

/// Starts an application for `tier`; returns its id.
pub async fn start(client: &Client, tier: &str) -> String {
    let response = client
        .submit("/onboarding", "/onboarding/start", &[("tier", tier)])
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "start tier {tier}"
    );
    let location = response.headers()["location"].to_str().unwrap().to_string();
    location.strip_prefix("/onboarding/").unwrap().to_string()
}

/// Saves a step from its page (the version the page shows) and returns the response.
/// "Save and continue" saved the section and led on: to a section still to do, or
/// to the task list.
pub fn assert_left(response: &reqwest::Response, app: &str, step: &str) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{step} saved");
    let to = response.headers()["location"].to_str().unwrap();
    assert!(
        to.starts_with(&format!("/onboarding/{app}")) && !to.ends_with(&format!("/steps/{step}")),
        "{step} led on to {to}"
    );
}

pub async fn save(
    client: &Client,
    app: &str,
    step: &str,
    fields: &[(&str, &str)],
    action: &str,
) -> reqwest::Response {
    let page = format!("/onboarding/{app}/steps/{step}");
    let (_, html) = client.text(&page).await;
    let version = input_value(&html, "version").unwrap();
    let mut all = vec![("version", version.as_str()), ("action", action)];
    all.extend_from_slice(fields);
    client.submit(&page, &page, &all).await
}

pub async fn upload(
    client: &Client,
    app: &str,
    kind: &str,
    issued: &str,
    expires: &str,
    file: (&'static [u8], &str, &str),
) -> reqwest::Response {
    let page = format!("/onboarding/{app}/steps/evidence");
    upload_from(client, &page, app, kind, (issued, expires), file).await
}

/// An upload with the CSRF token of `page` (another organisation's page has none).
async fn upload_from(
    client: &Client,
    page: &str,
    app: &str,
    kind: &str,
    (issued, expires): (&str, &str),
    file: (&'static [u8], &str, &str),
) -> reqwest::Response {
    let token = client.csrf(page).await;
    let (bytes, name, mime) = file;
    let form = Multipart::new()
        .text("csrf_token", token)
        .text("kind", kind.to_string())
        .text("issued_on", issued.to_string())
        .text("expires_on", expires.to_string())
        .part(
            "file",
            Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str(mime)
                .unwrap(),
        );
    post_evidence(client, app, form).await
}

/// Posts an evidence upload form (multipart) as the application's page does.
pub async fn post_evidence(client: &Client, app: &str, form: Multipart) -> reqwest::Response {
    client
        .http
        .post(format!("{}/onboarding/{app}/evidence", client.base))
        .header("origin", &client.base)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Completes every step and the tier's evidence, then submits.
pub async fn complete_and_submit(server: &TestServer, client: &Client, app: &str) {
    complete(server, client, app).await;
    submit(client, app).await;
}

/// Fills in every section of the application and uploads the tier's evidence.
pub async fn complete(server: &TestServer, client: &Client, app: &str) {
    let tier: i64 = sqlx::query_scalar("SELECT tier FROM applications WHERE id = $1")
        .bind(app)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let questionnaire = if tier == 1 { "baseline" } else { "security" };
    for step in [
        "profile",
        "use-case",
        "questionnaire",
        "contacts",
        "declaration",
    ] {
        let response = save(client, app, step, &answers(step, questionnaire), "continue").await;
        assert_left(&response, app, step);
    }
    let kinds: &[&str] = match tier {
        1 => &[],
        2 => &["pen_test", "iso27001_soc2", "incident_response_plan"],
        _ => &[
            "pen_test",
            "iso27001_soc2",
            "incident_response_plan",
            "licence",
            "insurance",
        ],
    };
    for kind in kinds {
        let response = upload(
            client,
            app,
            kind,
            &date(-30),
            &date(365),
            (PDF, "report.pdf", "application/pdf"),
        )
        .await;
        assert_location(&response, &format!("/onboarding/{app}/steps/evidence"));
    }
}

pub async fn submit(client: &Client, app: &str) {
    let response = submit_response(client, app, &[]).await;
    assert_location(&response, &format!("/onboarding/{app}"));
}

pub async fn submit_response(
    client: &Client,
    app: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let page = format!("/onboarding/{app}");
    let (_, html) = client.text(&page).await;
    let version = input_value(&html, "version").expect("a submit form on the task list");
    let mut fields = vec![("version", version.as_str())];
    fields.extend_from_slice(extra);
    client
        .submit(&page, &format!("/onboarding/{app}/submit"), &fields)
        .await
}

/// A reviewer's decision from the dossier page.
pub async fn decide(client: &Client, app: &str, decision: &str, text: &str) -> reqwest::Response {
    let page = format!("/review/applications/{app}");
    let (_, html) = client.text(&page).await;
    let version = input_value(&html, "version").unwrap_or_default();
    client
        .submit(
            &page,
            &format!("{page}/decision"),
            &[
                ("version", &version),
                ("decision", decision),
                ("text", text),
            ],
        )
        .await
}

async fn status(server: &TestServer, app: &str) -> String {
    sqlx::query_scalar("SELECT status FROM applications WHERE id = $1")
        .bind(app)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn approved_tiers(server: &TestServer, org_name: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT t.tier FROM tier_approvals t JOIN organisations o ON o.id = t.org_id WHERE o.legal_name = $1 ORDER BY t.tier",
    )
    .bind(org_name)
    .fetch_all(server.pool())
    .await
    .unwrap()
}

const ACME: &str = "Acme Budgeting Ltd (demo)";
const NORTHWIND: &str = "Northwind Payments Ltd (demo)";

async fn tier1_and_tier3_to_approval(server: TestServer) {
    // Tier 1: light due diligence, no evidence.
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let (status_code, html) = acme.text("/onboarding").await;
    assert_eq!(status_code, StatusCode::OK);
    assert!(
        html.contains("Tier 1 — reference data") && html.contains("Tier 3 — payment initiation")
    );
    let app = start(&acme, "1").await;
    let (_, html) = acme.text(&format!("/onboarding/{app}")).await;
    assert!(html.contains("Not started"));
    assert!(html.contains("No evidence is required for this tier."));
    complete_and_submit(&server, &acme, &app).await;
    assert_eq!(status(&server, &app).await, "submitted");
    let (subject, _) = server.last_mail(ACME_ADMIN).await;
    assert!(subject.contains("received"), "{subject}");
    let (subject, body) = server.last_mail(REVIEWER).await;
    assert!(subject.contains("To review"), "{subject}");
    assert!(body.contains(&format!("/review/applications/{app}")));

    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let (_, queue) = reviewer.text("/review").await;
    assert!(queue.contains(ACME), "the queue lists the application");
    let (_, dossier) = reviewer.text(&format!("/review/applications/{app}")).await;
    assert!(
        dossier.contains("Grace Hopper, CISO")
            && dossier.contains("Baseline security questionnaire")
    );
    let response = decide(&reviewer, &app, "approve", "Reference data only: fine.").await;
    assert_location(&response, &format!("/review/applications/{app}"));
    assert_eq!(status(&server, &app).await, "approved");
    assert_eq!(approved_tiers(&server, ACME).await, vec![1]);
    let (subject, body) = server.last_mail(ACME_ADMIN).await;
    assert!(subject.starts_with("Approved"), "{subject}");
    assert!(body.contains("Reference data only: fine."));
    let (_, dashboard) = acme.text("/dashboard").await;
    assert!(dashboard.contains("Approved for tier 1."));

    // Tier 3: full due diligence, five kinds of evidence, decided by an approver.
    let northwind = server.demo_partner_user(NORTHWIND_ADMIN).await;
    let app3 = start(&northwind, "3").await;
    let (_, html) = northwind.text(&format!("/onboarding/{app3}")).await;
    assert!(html.contains("Insurance certificate: not uploaded yet."));
    complete_and_submit(&server, &northwind, &app3).await;
    let dossier: String =
        sqlx::query_scalar("SELECT content FROM dossiers WHERE application_id = $1 AND round = 1")
            .bind(&app3)
            .fetch_one(server.pool())
            .await
            .unwrap();
    let dossier: Value = serde_json::from_str(&dossier).unwrap();
    let evidence = dossier["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 5);
    let expected = {
        use sha2::Digest;
        hex_of(&sha2::Sha256::digest(PDF))
    };
    assert!(evidence.iter().all(|e| e["sha256"] == expected.as_str()));
    assert_eq!(dossier["steps"]["use-case"]["licence_number"], "FRN123456");
    assert_eq!(dossier["questionnaire"]["name"], "security");

    let approver = server.demo_staff(APPROVER, 0).await;
    let (_, page) = approver.text(&format!("/review/applications/{app3}")).await;
    // "mfa_staff: no" is a weighted risk answer.
    assert!(page.contains("+3 risk"), "risk points shown with weights");
    let response = decide(&approver, &app3, "approve", "").await;
    assert_location(&response, &format!("/review/applications/{app3}"));
    assert_eq!(approved_tiers(&server, NORTHWIND).await, vec![3]);
    let actions = server.audit_actions().await;
    for action in [
        "onboarding.application_started",
        "onboarding.step_saved",
        "onboarding.evidence_uploaded",
        "onboarding.submitted",
        "review.approved",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action} audited");
    }
}
both!(tier1_and_tier3_to_approval, demo);

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn more_information_loop(server: TestServer) {
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let app = start(&acme, "2").await;
    complete_and_submit(&server, &acme, &app).await;
    let reviewer = server.demo_staff(REVIEWER, 0).await;

    // Questions are required, and a refused decision changes nothing.
    let response = decide(&reviewer, &app, "more_info", "  ").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Enter your questions to the partner."));
    assert_eq!(status(&server, &app).await, "submitted");

    let question = "Your pen test is from an unnamed firm: who carried it out?";
    let response = decide(&reviewer, &app, "more_info", question).await;
    assert_location(&response, &format!("/review/applications/{app}"));
    assert_eq!(status(&server, &app).await, "more_info");
    let (subject, body) = server.last_mail(ACME_ADMIN).await;
    assert!(subject.starts_with("More information needed"));
    assert!(body.contains(question));
    let (_, dashboard) = acme.text("/dashboard").await;
    assert!(
        dashboard.contains(question),
        "the question is on the dashboard"
    );
    let (_, tasks) = acme.text(&format!("/onboarding/{app}")).await;
    assert!(tasks.contains(question) && tasks.contains("Needs attention"));

    // Resubmitting without an answer is refused.
    assert!(
        tasks.contains("Answer the reviewer&#x27;s questions before you submit again.")
            || tasks.contains("Answer the reviewer's questions before you submit again.")
    );
    let response = acme
        .submit(
            &format!("/onboarding/{app}"),
            &format!("/onboarding/{app}/submit"),
            &[("version", "2")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(server.count(ACME_DOSSIERS).await, 1);

    let response = acme
        .submit(
            &format!("/onboarding/{app}"),
            &format!("/onboarding/{app}/answer"),
            &[("answer", "Synthetic Security Ltd, CREST accredited.")],
        )
        .await;
    assert_location(&response, &format!("/onboarding/{app}"));
    let mut profile = answers("profile", "security");
    profile[3] = ("employees", "30");
    let response = save(&acme, &app, "profile", &profile, "continue").await;
    assert_location(&response, &format!("/onboarding/{app}"));
    submit(&acme, &app).await;
    assert_eq!(status(&server, &app).await, "submitted");

    // Both rounds are kept, the first unchanged.
    let rounds: Vec<(i64, String)> = sqlx::query_as(
        "SELECT round, content FROM dossiers WHERE application_id = $1 ORDER BY round",
    )
    .bind(&app)
    .fetch_all(server.pool())
    .await
    .unwrap();
    assert_eq!(rounds.len(), 2);
    let first: Value = serde_json::from_str(&rounds[0].1).unwrap();
    let second: Value = serde_json::from_str(&rounds[1].1).unwrap();
    assert_eq!(first["steps"]["profile"]["employees"], "25");
    assert_eq!(second["steps"]["profile"]["employees"], "30");
    let (_, dossier) = reviewer.text(&format!("/review/applications/{app}")).await;
    assert!(dossier.contains("Round 1 submitted") && dossier.contains("Round 2 submitted"));
    assert!(dossier.contains("Synthetic Security Ltd, CREST accredited."));
    let response = decide(&reviewer, &app, "approve", "Thanks.").await;
    assert_location(&response, &format!("/review/applications/{app}"));
    assert_eq!(approved_tiers(&server, ACME).await, vec![2]);
    let actions = server.audit_actions().await;
    assert!(actions.iter().any(|a| a == "review.more_info_requested"));
    assert!(actions.iter().any(|a| a == "onboarding.info_answered"));
}
both!(more_information_loop, demo);

/// Makes the demo developer of Acme a partner admin and signs them in again.
async fn second_admin(server: &TestServer, admin: &Client) -> Client {
    let dev_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(ACME_DEV)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{dev_id}/role"),
            &[("role", "partner_admin")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    server.demo_partner_user(ACME_DEV).await
}

async fn concurrent_edits(server: TestServer) {
    let first = server.demo_partner_user(ACME_ADMIN).await;
    let second = second_admin(&server, &first).await;
    let app = start(&first, "1").await;
    let page = format!("/onboarding/{app}/steps/profile");
    // Both open the step before either saves.
    let (_, html_a) = first.text(&page).await;
    let (_, html_b) = second.text(&page).await;
    let token_a = input_value(&html_a, "csrf_token").unwrap();
    let token_b = input_value(&html_b, "csrf_token").unwrap();
    assert_eq!(input_value(&html_a, "version").as_deref(), Some("0"));
    let mut fields_a = answers("profile", "baseline");
    fields_a[0] = ("trading_name", "First's name");
    let mut fields_b = answers("profile", "baseline");
    fields_b[0] = ("trading_name", "Second's name");
    let post = |client: &Client, token: &str, fields: &[(&'static str, &'static str)]| {
        let mut all = vec![
            ("csrf_token", token.to_string()),
            ("version", "0".to_string()),
            ("action", "continue".to_string()),
        ];
        all.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
        let client = client.clone();
        let page = page.clone();
        async move {
            let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            client.post(&page, &refs).await
        }
    };
    let a = post(&first, &token_a, &fields_a).await;
    assert_location(&a, &format!("/onboarding/{app}/steps/use-case"));
    let b = post(&second, &token_b, &fields_b).await;
    assert_eq!(b.status(), StatusCode::CONFLICT);
    let html = b.text().await.unwrap();
    assert!(
        html.contains("Someone else in your organisation saved this step"),
        "a clear message"
    );
    // The second admin's input is kept on the page, and nothing was overwritten.
    assert!(html.contains("Second&#x27;s name") || html.contains("Second's name"));
    let saved: String = sqlx::query_scalar(
        "SELECT answers FROM application_steps WHERE application_id = $1 AND step = 'profile'",
    )
    .bind(&app)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert!(saved.contains("First's name"));
    // Saving again from the page the conflict showed replaces the answers knowingly.
    assert_eq!(input_value(&html, "version").as_deref(), Some("1"));
    let response = save(&second, &app, "profile", &fields_b, "continue").await;
    assert_location(&response, &format!("/onboarding/{app}/steps/use-case"));
    let version: i64 = sqlx::query_scalar(
        "SELECT version FROM application_steps WHERE application_id = $1 AND step = 'profile'",
    )
    .bind(&app)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(version, 2);
}
both!(concurrent_edits, demo);

async fn concurrent_decisions(server: TestServer) {
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let app = start(&acme, "1").await;
    complete_and_submit(&server, &acme, &app).await;
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let approver = server.demo_staff(APPROVER, 0).await;
    let page = format!("/review/applications/{app}");
    let (_, html) = reviewer.text(&page).await;
    let version = input_value(&html, "version").unwrap();
    let token_r = reviewer.csrf(&page).await;
    let token_a = approver.csrf(&page).await;
    let action = format!("{page}/decision");
    let approve = [
        ("csrf_token", token_r.as_str()),
        ("version", &version),
        ("decision", "approve"),
        ("text", ""),
    ];
    let reject = [
        ("csrf_token", token_a.as_str()),
        ("version", &version),
        ("decision", "reject"),
        ("text", "Not convinced."),
    ];
    let (r, a) = tokio::join!(
        reviewer.post(&action, &approve),
        approver.post(&action, &reject)
    );
    let statuses = [r.status(), a.status()];
    assert!(statuses.contains(&StatusCode::SEE_OTHER), "{statuses:?}");
    assert!(statuses.contains(&StatusCode::CONFLICT), "{statuses:?}");
    let loser = if r.status() == StatusCode::CONFLICT {
        r
    } else {
        a
    };
    assert!(loser.text().await.unwrap().contains("already decided"));
    let decisions = server
        .count("SELECT COUNT(*) FROM audit_events WHERE action IN ('review.approved', 'review.rejected')")
        .await;
    assert_eq!(decisions, 1);
    let final_status = status(&server, &app).await;
    assert!(final_status == "approved" || final_status == "rejected");
    let approvals = server
        .count("SELECT COUNT(*) FROM tier_approvals WHERE approved_by <> 'demo'")
        .await;
    assert_eq!(approvals, i64::from(final_status == "approved"));

    // A double submit of the same decision: one outcome, a clear error the second time.
    let again = reviewer
        .post(
            &action,
            &[
                ("csrf_token", &token_r),
                ("version", &version),
                ("decision", "approve"),
                ("text", ""),
            ],
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action IN ('review.approved', 'review.rejected')")
            .await,
        1
    );
}
both!(concurrent_decisions, demo);

async fn higher_tier_while_lower_stays(server: TestServer) {
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let tier1 = start(&acme, "1").await;
    complete_and_submit(&server, &acme, &tier1).await;
    assert_location(
        &decide(&reviewer, &tier1, "approve", "").await,
        &format!("/review/applications/{tier1}"),
    );

    // The same or a lower tier again is refused; a higher one starts.
    let response = acme
        .submit("/onboarding", "/onboarding/start", &[("tier", "1")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("already approved for tier 1"));
    let tier2 = start(&acme, "2").await;
    // Only one application at a time.
    let response = acme
        .submit("/onboarding", "/onboarding/start", &[("tier", "3")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    complete_and_submit(&server, &acme, &tier2).await;
    assert_eq!(approved_tiers(&server, ACME).await, vec![1]);
    let (_, dashboard) = acme.text("/dashboard").await;
    assert!(
        dashboard.contains("Approved for tier 1."),
        "the earlier approval stays while tier 2 is reviewed"
    );

    // A rejection of the higher tier leaves the lower approval alone.
    assert_location(
        &decide(
            &reviewer,
            &tier2,
            "reject",
            "Evidence does not cover production.",
        )
        .await,
        &format!("/review/applications/{tier2}"),
    );
    assert_eq!(approved_tiers(&server, ACME).await, vec![1]);
    let tier2_again = start(&acme, "2").await;
    complete_and_submit(&server, &acme, &tier2_again).await;
    assert_location(
        &decide(&reviewer, &tier2_again, "approve", "").await,
        &format!("/review/applications/{tier2_again}"),
    );
    assert_eq!(approved_tiers(&server, ACME).await, vec![1, 2]);
    let (_, dashboard) = acme.text("/dashboard").await;
    assert!(dashboard.contains("Approved for tier 2."));
}
both!(higher_tier_while_lower_stays, demo);

/// Kind, issued, expires, (bytes, name, type), expected status, expected message.
type BadUpload = (
    &'static str,
    String,
    String,
    (&'static [u8], &'static str, &'static str),
    StatusCode,
    &'static str,
);

/// Saved steps of Acme's applications (the demo's other partners have their own).
async fn step_rows(server: &TestServer) -> i64 {
    server.count(ACME_STEPS).await
}

const ACME_STEPS: &str = "SELECT COUNT(*) FROM application_steps WHERE application_id IN \
     (SELECT id FROM applications WHERE org_id = (SELECT org_id FROM users WHERE email = 'admin@acme-budgeting.example.com'))";

/// Dossier rounds of Acme's applications.
const ACME_DOSSIERS: &str = "SELECT COUNT(*) FROM dossiers WHERE application_id IN \
     (SELECT id FROM applications WHERE org_id = (SELECT org_id FROM users WHERE email = 'admin@acme-budgeting.example.com'))";

async fn bad_input_is_refused_and_writes_nothing(server: TestServer) {
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let app = start(&acme, "2").await;

    // Missing required answers on "Save and continue".
    let response = save(
        &acme,
        &app,
        "profile",
        &[("trading_name", "Acme")],
        "continue",
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("Registered office address: this is required."));
    assert!(html.contains("value=\"Acme\""), "the input is kept");
    assert_eq!(step_rows(&server).await, 0);

    // An impossible date, even as a draft (31/03/2026, as people in the UK write
    // it, is a real date: saved as 2026-03-31 below).
    let mut questionnaire = answers("questionnaire", "security");
    questionnaire[2] = ("risk_assessment_date", "31/02/2026");
    let response = save(&acme, &app, "questionnaire", &questionnaire, "draft").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("enter a real date, for example 2026-03-31 or 31/03/2026"));
    questionnaire[2] = ("risk_assessment_date", "31/03/2026");
    let response = save(&acme, &app, "questionnaire", &questionnaire, "draft").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = acme
        .text(&format!("/onboarding/{app}/steps/questionnaire"))
        .await;
    assert!(
        html.contains("value=\"2026-03-31\""),
        "stored as 2026-03-31"
    );
    let deleted = sqlx::query("DELETE FROM application_steps WHERE application_id = $1")
        .bind(&app)
        .execute(server.pool())
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1, "only the draft just saved");
    let response = save(
        &acme,
        &app,
        "use-case",
        &[("retention_days", "ninety")],
        "draft",
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = save(
        &acme,
        &app,
        "use-case",
        &[("permission", "Wizard")],
        "draft",
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(step_rows(&server).await, 0);
    // A draft with only some answers is fine, and shows as in progress.
    let response = save(&acme, &app, "profile", &[("trading_name", "Acme")], "draft").await;
    assert_location(&response, &format!("/onboarding/{app}/steps/profile"));
    let (_, tasks) = acme.text(&format!("/onboarding/{app}")).await;
    assert!(tasks.contains("In progress"));

    // Uploads: expired, empty, too large, not really a PDF, bad dates, no type.
    let ok_dates = (date(-30), date(365));
    let cases: Vec<BadUpload> = vec![
        (
            "pen_test",
            date(-400),
            date(-1),
            (PDF, "old.pdf", "application/pdf"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "this document has expired",
        ),
        (
            "pen_test",
            ok_dates.0.clone(),
            ok_dates.1.clone(),
            (b"", "empty.pdf", "application/pdf"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "the file is empty or missing",
        ),
        (
            "pen_test",
            ok_dates.0.clone(),
            ok_dates.1.clone(),
            (
                b"<html>I am not a PDF</html>",
                "report.pdf",
                "application/pdf",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "must be a PDF, PNG or JPEG",
        ),
        (
            "pen_test",
            "2026-13-01".into(),
            ok_dates.1.clone(),
            (PDF, "a.pdf", "application/pdf"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter the issue date as a real date",
        ),
        (
            "pen_test",
            date(1),
            ok_dates.1.clone(),
            (PDF, "a.pdf", "application/pdf"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cannot be in the future",
        ),
        (
            "selfie",
            ok_dates.0.clone(),
            ok_dates.1.clone(),
            (PDF, "a.pdf", "application/pdf"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose the type of evidence",
        ),
    ];
    for (kind, issued, expires, file, expected, message) in cases {
        let response = upload(&acme, &app, kind, &issued, &expires, file).await;
        assert_eq!(response.status(), expected, "{message}");
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{message}");
    }
    let big: &'static [u8] = Box::leak(vec![b'%'; 10 * 1024 * 1024 + 1].into_boxed_slice());
    let response = upload(
        &acme,
        &app,
        "pen_test",
        &ok_dates.0,
        &ok_dates.1,
        (big, "big.pdf", "application/pdf"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM evidence WHERE filename NOT LIKE 'fjord-%'")
            .await,
        0
    );
    // (The audit checkpoints share the object store, under their own prefix, and
    // the demo's Fjord Analytics has its Tier 2 evidence there.)
    let fjord_org: String = sqlx::query_scalar(
        "SELECT org_id FROM users WHERE email = 'admin@fjord-analytics.example.com'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let stored = std::fs::read_dir(server.state.settings.data_dir.join("evidence/evidence"))
        .map(|dir| {
            dir.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name() != fjord_org.as_str())
            })
            .count()
        })
        .unwrap_or(0);
    assert_eq!(stored, 0, "no object was left behind");
    // A PNG named .pdf is judged by its bytes and accepted as a PNG.
    let response = upload(
        &acme,
        &app,
        "pen_test",
        &ok_dates.0,
        &ok_dates.1,
        (PNG, "scan.pdf", "application/pdf"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let content_type: String =
        sqlx::query_scalar("SELECT content_type FROM evidence WHERE filename NOT LIKE 'fjord-%'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(content_type, "image/png");

    // Submitting an incomplete application says what is missing and writes nothing.
    let response = acme
        .submit(
            &format!("/onboarding/{app}"),
            &format!("/onboarding/{app}/submit"),
            &[("version", "0")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("ISO 27001 certificate or SOC 2 report: not uploaded yet."));
    assert_eq!(status(&server, &app).await, "draft");
    assert_eq!(server.count(ACME_DOSSIERS).await, 0);

    // Another organisation's application and evidence are not found.
    let evidence_id: String =
        sqlx::query_scalar("SELECT id FROM evidence WHERE filename NOT LIKE 'fjord-%'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let northwind = server.demo_partner_user(NORTHWIND_ADMIN).await;
    let (code, _) = northwind.text(&format!("/onboarding/{app}")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = northwind
        .text(&format!("/onboarding/{app}/steps/profile"))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = northwind
        .text(&format!("/onboarding/evidence/{evidence_id}"))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let response = northwind
        .submit(
            "/onboarding",
            &format!("/onboarding/{app}/steps/profile"),
            &[
                ("version", "1"),
                ("action", "draft"),
                ("trading_name", "Hijack"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = northwind
        .submit(
            "/onboarding",
            &format!("/onboarding/evidence/{evidence_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = upload_from(
        &northwind,
        "/onboarding",
        &app,
        "pen_test",
        (&ok_dates.0, &ok_dates.1),
        (PDF, "a.pdf", "application/pdf"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM evidence WHERE removed_at IS NULL AND filename NOT LIKE 'fjord-%'")
            .await,
        1
    );

    // The owner and the bank can read the file; nobody signed out can.
    let response = acme
        .get(&format!("/onboarding/evidence/{evidence_id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    assert_eq!(
        reviewer
            .get(&format!("/onboarding/evidence/{evidence_id}"))
            .await
            .status(),
        StatusCode::OK
    );
    let anonymous = server.client();
    assert_eq!(
        anonymous
            .get(&format!("/onboarding/evidence/{evidence_id}"))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    // A partner developer can read but not change or submit.
    let dev = server.demo_partner_user(ACME_DEV).await;
    let (code, _) = dev.text(&format!("/onboarding/{app}")).await;
    assert_eq!(code, StatusCode::OK);
    let response = dev
        .submit(
            &format!("/onboarding/{app}"),
            &format!("/onboarding/{app}/submit"),
            &[("version", "0")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = dev
        .submit(
            &format!("/onboarding/{app}"),
            &format!("/onboarding/{app}/steps/profile"),
            &[("version", "1"), ("trading_name", "Dev")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A partner cannot decide, set their status or choose their tier on submission.
    complete_and_submit_from(&server, &acme, &app).await;
    let response = acme
        .submit(
            "/dashboard",
            &format!("/review/applications/{app}/decision"),
            &[("version", "1"), ("decision", "approve")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (code, _) = acme.text("/review").await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(status(&server, &app).await, "submitted");
    let (tier, round): (i64, i64) =
        sqlx::query_as("SELECT tier, round FROM applications WHERE id = $1")
            .bind(&app)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(
        (tier, round),
        (2, 1),
        "status=approved and tier=3 in the form were ignored"
    );

    // A replayed submission makes no second dossier.
    let response = acme
        .submit(
            "/onboarding",
            &format!("/onboarding/{app}/submit"),
            &[("version", "0")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(server.count(ACME_DOSSIERS).await, 1);

    // A rejection needs a reason; an unknown decision is refused.
    let response = decide(&reviewer, &app, "reject", "").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Enter the reason for the rejection."));
    let response = decide(&reviewer, &app, "rubber-stamp", "").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(status(&server, &app).await, "submitted");
}
both!(bad_input_is_refused_and_writes_nothing, demo);

/// Completes the remaining steps and evidence of a tier 2 application that already
/// has a pen-test PNG, then submits with fields a partner must not be able to set.
async fn complete_and_submit_from(server: &TestServer, client: &Client, app: &str) {
    for step in [
        "profile",
        "use-case",
        "questionnaire",
        "contacts",
        "declaration",
    ] {
        let response = save(client, app, step, &answers(step, "security"), "continue").await;
        assert_left(&response, app, step);
    }
    for kind in ["iso27001_soc2", "incident_response_plan"] {
        let response = upload(
            client,
            app,
            kind,
            &date(-10),
            &date(300),
            (PDF, "r.pdf", "application/pdf"),
        )
        .await;
        assert_location(&response, &format!("/onboarding/{app}/steps/evidence"));
    }
    let response = submit_response(client, app, &[("status", "approved"), ("tier", "3")]).await;
    assert_location(&response, &format!("/onboarding/{app}"));
    assert_eq!(status(server, app).await, "submitted");
}

/// A new bank reviewer, created by the bank admin, set up and enrolled in TOTP.
async fn new_reviewer(server: &TestServer, email: &str) -> Client {
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    new_staff(server, &admin, email, "reviewer").await.0
}

/// A new bank user with `role`, created by the signed-in bank `admin`, set up and
/// signed in with a TOTP second factor; returns the client and the TOTP secret.
pub async fn new_staff(
    server: &TestServer,
    admin: &Client,
    email: &str,
    role: &str,
) -> (Client, Vec<u8>) {
    let response = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[
                ("display_name", "Rita Reviewer"),
                ("email", email),
                ("role", role),
            ],
        )
        .await;
    assert_location(&response, "/admin/users");
    let path = server.mailed_link(email).await;
    let token = path.split("token=").nth(1).unwrap().to_string();
    let client = server.client();
    let response = client
        .submit(
            &path,
            "/setup",
            &[
                ("token", &token),
                ("display_name", "Rita Reviewer"),
                ("password", "insider trading is bad"),
            ],
        )
        .await;
    assert_location(&response, "/signin");
    assert_location(
        &client.sign_in(email, "insider trading is bad").await,
        "/dashboard",
    );
    let secret = client.enrol_totp().await;
    (client, secret)
}

async fn reviewers_cannot_review_their_own_organisation(server: TestServer) {
    // A bank reviewer who shares the e-mail domain of the organisation's people.
    let insider = server
        .partner_admin("founder@insider-fintech.example.com", "87654321")
        .await;
    let app = start(&insider, "1").await;
    crate::agreements::accept_tier_terms(&server, &insider, 1).await;
    complete_and_submit(&server, &insider, &app).await;
    let reviewer = new_reviewer(&server, "rita@insider-fintech.example.com").await;
    let (_, page) = reviewer.text(&format!("/review/applications/{app}")).await;
    assert!(page.contains("you cannot review an organisation you belong to"));
    let token = reviewer.csrf(&format!("/review/applications/{app}")).await;
    let response = reviewer
        .post(
            &format!("/review/applications/{app}/decision"),
            &[
                ("csrf_token", &token),
                ("version", "1"),
                ("decision", "approve"),
                ("text", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(status(&server, &app).await, "submitted");
    assert!(server
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "review.refused_conflict"));
    // Nor can the application be assigned to them.
    let reviewer_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind("rita@insider-fintech.example.com")
        .fetch_one(server.pool())
        .await
        .unwrap();
    let approver = server.demo_staff(APPROVER, 0).await;
    let response = approver
        .submit(
            &format!("/review/applications/{app}"),
            &format!("/review/applications/{app}/assign"),
            &[("assignee", &reviewer_id)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The bank's own reviewers have another domain: they can.
    let response = decide(&approver, &app, "approve", "").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}
both!(reviewers_cannot_review_their_own_organisation, demo);

async fn queue_filters_and_sla(server: TestServer) {
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let northwind = server.demo_partner_user(NORTHWIND_ADMIN).await;
    let a1 = start(&acme, "1").await;
    complete_and_submit(&server, &acme, &a1).await;
    let n2 = start(&northwind, "2").await;
    complete_and_submit(&server, &northwind, &n2).await;
    // Acme's application has waited three days: past tier 1's 48-hour SLA.
    sqlx::query("UPDATE applications SET submitted_at = submitted_at - 259200 WHERE id = $1")
        .bind(&a1)
        .execute(server.pool())
        .await
        .unwrap();
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let (_, queue) = reviewer.text("/review").await;
    let (first, second) = (queue.find(ACME).unwrap(), queue.find(NORTHWIND).unwrap());
    assert!(first < second, "oldest first");
    assert!(queue.contains("Overdue"));
    let (_, tier2) = reviewer.text("/review?tier=2").await;
    assert!(!tier2.contains(ACME) && tier2.contains(NORTHWIND));
    let (_, old) = reviewer.text("/review?min_age_days=2").await;
    assert!(old.contains(ACME) && !old.contains(NORTHWIND));
    let (_, approved) = reviewer.text("/review?status=approved").await;
    assert!(!approved.contains(ACME));
    let (code, _) = reviewer.text("/review?status=bogus").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let (_, dashboard) = reviewer.text("/dashboard").await;
    // The reviewer's dashboard leads with both, Acme's marked past its SLA; with the
    // demo's own two (Kestrel's also overdue), four wait.
    assert!(
        dashboard.contains(&format!(
            "<a href=\"/review/applications/{a1}\">{ACME}: tier 1 application"
        )),
        "{dashboard}"
    );
    assert!(dashboard.contains(&format!("<a href=\"/review/applications/{n2}\">")));
    assert!(dashboard.contains("waiting 3 days, 1 day past its SLA of 2 days"));
    assert!(dashboard.contains("Applications waiting (2 past SLA)"));
    assert!(dashboard.contains("<a href=\"/review?status=submitted\"><span>4</span>"));
    // Assignment.
    let approver_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(APPROVER)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let response = reviewer
        .submit(
            &format!("/review/applications/{a1}"),
            &format!("/review/applications/{a1}/assign"),
            &[("assignee", &approver_id)],
        )
        .await;
    assert_location(&response, &format!("/review/applications/{a1}"));
    let assigned: Option<String> =
        sqlx::query_scalar("SELECT assigned_to FROM applications WHERE id = $1")
            .bind(&a1)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(assigned.as_deref(), Some(approver_id.as_str()));
    let response = reviewer
        .submit(
            &format!("/review/applications/{a1}"),
            &format!("/review/applications/{a1}/assign"),
            &[("assignee", "usr_nobody")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
both!(queue_filters_and_sla, demo);

async fn questionnaire_versions_keep_old_answers(server: TestServer) {
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let app = start(&acme, "2").await;
    let response = save(
        &acme,
        &app,
        "questionnaire",
        &answers("questionnaire", "security"),
        "continue",
    )
    .await;
    assert_location(&response, &format!("/onboarding/{app}/steps/evidence"));
    let old_questionnaire: String =
        sqlx::query_scalar("SELECT questionnaire_id FROM applications WHERE id = $1")
            .bind(&app)
            .fetch_one(server.pool())
            .await
            .unwrap();

    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let (code, catalogue) = admin.text("/admin/catalogue").await;
    assert_eq!(code, StatusCode::OK);
    assert!(catalogue.contains("security v1"));
    // Bad questionnaires are refused.
    for (content, message) in [
        ("{not json", "not valid JSON"),
        (r#"{"title": "T", "sections": []}"#, "at least one section"),
        (
            r#"{"title": "T", "sections": [{"title": "S", "questions": [{"id": "a", "label": "A", "type": "yes_no"}, {"id": "a", "label": "B", "type": "text"}]}]}"#,
            "used twice",
        ),
    ] {
        let response = admin
            .submit(
                "/admin/catalogue/questionnaires/new",
                "/admin/catalogue/questionnaires",
                &[("name", "security"), ("content", content)],
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
    assert_eq!(server.count("SELECT COUNT(*) FROM questionnaires").await, 2);
    let v2 = r#"{"title": "Security questionnaire v2", "sections": [{"title": "Everything", "questions": [
        {"id": "quantum_safe", "label": "Are your keys quantum-safe?", "type": "yes_no", "expected": true, "required": true, "weight": 5}]}]}"#;
    let response = admin
        .submit(
            "/admin/catalogue/questionnaires/new",
            "/admin/catalogue/questionnaires",
            &[("name", "security"), ("content", v2)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let new_id = response.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let response = admin
        .submit(
            &format!("/admin/catalogue/questionnaires/{new_id}"),
            &format!("/admin/catalogue/questionnaires/{new_id}/publish"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    // Publishing twice is refused: published versions never change.
    let response = admin
        .submit(
            &format!("/admin/catalogue/questionnaires/{new_id}"),
            &format!("/admin/catalogue/questionnaires/{new_id}/publish"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // Tier 2 now asks the new version.
    let (_, tier_page) = admin.text("/admin/catalogue/tiers/2").await;
    let mut fields: Vec<(String, String)> = vec![
        ("name".into(), "Tier 2 — account information".into()),
        ("description".into(), "Accounts.".into()),
        ("scopes".into(), "reference".into()),
        ("scopes".into(), "accounts".into()),
        ("questionnaire_id".into(), new_id.clone()),
        ("evidence".into(), "pen_test:365".into()),
        ("client_auth".into(), "private_key_jwt".into()),
        ("max_credential_days".into(), "180".into()),
        ("rate_limit_per_minute".into(), "300".into()),
        ("review_sla_hours".into(), "72".into()),
    ];
    fields.push((
        "csrf_token".into(),
        input_value(&tier_page, "csrf_token").unwrap(),
    ));
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let response = admin.post("/admin/catalogue/tiers/2", &refs).await;
    assert_location(&response, "/admin/catalogue");
    // Bad tier input is refused and changes nothing.
    let response = admin
        .submit(
            "/admin/catalogue/tiers/2",
            "/admin/catalogue/tiers/2",
            &[
                ("name", ""),
                ("evidence", "selfie:3"),
                ("max_credential_days", "-1"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let tier_q: String = sqlx::query_scalar("SELECT questionnaire_id FROM tiers WHERE level = 2")
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(tier_q, new_id);

    // The application started earlier keeps v1, its questions and its answers.
    let (_, page) = acme
        .text(&format!("/onboarding/{app}/steps/questionnaire"))
        .await;
    assert!(page.contains("Do you have an information security policy"));
    assert!(!page.contains("quantum-safe"));
    assert_eq!(
        input_value(&page, "security_owner").as_deref(),
        Some("Grace Hopper, CISO")
    );
    let still: String =
        sqlx::query_scalar("SELECT questionnaire_id FROM applications WHERE id = $1")
            .bind(&app)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(still, old_questionnaire);

    // Partners and reviewers cannot edit the catalogue.
    let (code, _) = acme.text("/admin/catalogue").await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let response = reviewer
        .submit(
            "/dashboard",
            "/admin/catalogue/scopes",
            &[
                ("scope", "x"),
                ("product", "X"),
                ("description", "x"),
                ("data_class", "public_reference"),
                ("sensitivity", "low"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // An admin adds a scope; a bad one is refused.
    let response = admin
        .submit(
            "/admin/catalogue",
            "/admin/catalogue/scopes",
            &[
                ("scope", "accounts:write"),
                ("product", "Account mutation"),
                ("description", "Change account details."),
                ("data_class", "account_mutation"),
                ("sensitivity", "high"),
            ],
        )
        .await;
    assert_location(&response, "/admin/catalogue");
    let response = admin
        .submit(
            "/admin/catalogue",
            "/admin/catalogue/scopes",
            &[
                ("scope", "Bad Scope"),
                ("product", ""),
                ("description", ""),
                ("data_class", "secret"),
                ("sensitivity", "extreme"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let row = sqlx::query("SELECT data_class FROM catalogue_scopes WHERE scope = 'accounts:write'")
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "account_mutation");
    assert_eq!(
        server.count("SELECT COUNT(*) FROM catalogue_scopes").await,
        5
    );
}
both!(questionnaire_versions_keep_old_answers, demo);
