//! Service levels (issue 32), through a started server on both databases: the bank
//! sets a tier's commitments (bad input refused, nothing written, the change
//! audited); figures come from cases with known times on a controlled clock (an
//! incident the partner acknowledges 30 hours after the bank opened it); the partner
//! acknowledges once (again: 409; another organisation: 404); the partner's breach
//! becomes one oversight alert through the scheduler's job however often it runs;
//! the bank's breaches are on the reviewer's dashboard; exports are audited and bad
//! periods refused; each side sees only its own view.

use reqwest::StatusCode;

use crate::both;
use crate::common::{assert_location, TestServer};
use crate::onboarding::{ACME_ADMIN, ACME_DEV, REVIEWER};

const BANK_ADMIN: &str = "admin@bank.example.com";
const FJORD: &str = "admin@fjord-analytics.example.com";
const HOUR: i64 = 3_600;

/// The markup from the element with `id` to the end of its section.
fn part<'a>(html: &'a str, id: &str) -> &'a str {
    let Some(at) = html.find(&format!("id=\"{id}\"")) else {
        return "";
    };
    let end = html[at..].find("</section>").map_or(html.len(), |e| at + e);
    &html[at..end]
}

fn commitment_fields(tier: &str, ack_hours: &str) -> Vec<(&'static str, String)> {
    vec![
        ("tier", tier.to_string()),
        ("hours_application_decision", "48".into()),
        ("hours_request_decision", "72".into()),
        ("hours_message_answer", "24".into()),
        ("hours_incident_acknowledgement", ack_hours.to_string()),
        ("hours_review_answer", "240".into()),
        ("hours_rotation_after_warning", "168".into()),
    ]
}

async fn sla_figures_breaches_alerts_and_exports(server: TestServer) {
    let fjord_org: String = sqlx::query_scalar(
        "SELECT org_id FROM users WHERE email = 'admin@fjord-analytics.example.com'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();

    // The bank admin sets Tier 2's commitments; bad input writes nothing.
    let bank = server.demo_staff(BANK_ADMIN, 0).await;
    let fields = commitment_fields("2", "12\u{0}");
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = bank.submit("/admin/slas", "/admin/slas", &refs).await;
    assert!(response.status().is_client_error());
    assert!(response.text().await.unwrap().contains("control character"));
    for bad in ["0", "abc", "", "9000"] {
        let fields = commitment_fields("2", bad);
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = bank.submit("/admin/slas", "/admin/slas", &refs).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad:?}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("a whole number of hours"), "{html}");
    }
    let fields = commitment_fields("7", "24");
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = bank.submit("/admin/slas", "/admin/slas", &refs).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "an unknown tier");
    assert_eq!(
        server.count("SELECT COUNT(*) FROM sla_commitments").await,
        0
    );
    let fields = commitment_fields("2", "24");
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = bank.submit("/admin/slas", "/admin/slas", &refs).await;
    assert_location(&response, "/admin/slas");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM sla_commitments WHERE tier = 2")
            .await,
        6
    );
    assert!(server
        .audit_actions()
        .await
        .contains(&"sla.commitments_changed".to_string()));

    let (status, page) = bank.text("/admin/slas").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("sla-form-2"));

    // A partner cannot set them, even with a valid form token.
    let fjord = server.demo_staff(FJORD, 0).await;
    assert_eq!(
        fjord.get("/admin/slas").await.status(),
        StatusCode::FORBIDDEN
    );
    let mut forged = commitment_fields("2", "1");
    forged.push(("hours_review_answer", "1".into()));
    let refs: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = fjord.submit("/dashboard", "/admin/slas", &refs).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let hours: i64 = sqlx::query_scalar(
        "SELECT hours FROM sla_commitments WHERE tier = 2 AND measure = 'incident_acknowledgement'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(hours, 24, "nothing written");

    // The bank opens an incident at Fjord; Fjord acknowledges it 30 hours later.
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let today = app::platform::time::day(server.state.clock.now());
    let response = reviewer
        .submit(
            "/incidents",
            "/incidents",
            &[
                ("org_id", &fjord_org),
                ("title", "Tokens requested from an unknown network"),
                ("severity", "high"),
                ("detected_date", &today),
                ("detected_time", "00:00"),
                ("detection", "The oversight rules raised it."),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let incident: String = sqlx::query_scalar(
        "SELECT id FROM incidents WHERE title = 'Tokens requested from an unknown network'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    // Fjord's admins are told, and the dashboard shows the task.
    server
        .wait_for_mails(
            FJORD,
            "Gatehouse: an incident was opened at your organisation",
            1,
        )
        .await;
    let (_, dashboard) = fjord.text("/dashboard").await;
    assert!(
        dashboard.contains("Acknowledge the incident: Tokens requested from an unknown network"),
        "{dashboard}"
    );
    server.state.clock.advance(30 * HOUR);
    let fjord = server.demo_staff(FJORD, 0).await;
    let (status, page) = fjord.text("/relationship").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("incident-{incident}")), "{page}");

    // Another organisation's member cannot acknowledge it.
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let response = acme
        .submit(
            "/relationship",
            &format!("/relationship/incidents/{incident}/acknowledge"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = fjord
        .submit(
            "/relationship",
            &format!("/relationship/incidents/{incident}/acknowledge"),
            &[],
        )
        .await;
    assert_location(&response, &format!("/relationship#incident-{incident}"));
    let response = fjord
        .submit(
            "/relationship",
            &format!("/relationship/incidents/{incident}/acknowledge"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "acknowledged once");
    let acknowledged: Option<i64> =
        sqlx::query_scalar("SELECT acknowledged_at FROM incidents WHERE id = $1")
            .bind(&incident)
            .fetch_one(server.pool())
            .await
            .unwrap();
    let opened: i64 = sqlx::query_scalar("SELECT opened_at FROM incidents WHERE id = $1")
        .bind(&incident)
        .fetch_one(server.pool())
        .await
        .unwrap();
    // The application's clock runs on between the advance and the acknowledgement.
    let took = acknowledged.unwrap() - opened;
    assert!((30 * HOUR..30 * HOUR + 60).contains(&took), "{took}");

    // The figures: the partner's page lists the breach; the JSON export measures it.
    let (_, page) = fjord.text("/relationship").await;
    let breaches = part(&page, "partner-breaches");
    assert!(
        breaches.contains("Tokens requested from an unknown network"),
        "{breaches}"
    );
    assert!(
        breaches.contains("took 30 hours against 24 hours"),
        "{breaches}"
    );
    assert!(page.contains("id=\"sla-chart\""), "the chart is drawn");
    let response = fjord.get("/relationship/export?format=json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: serde_json::Value = response.json().await.unwrap();
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == incident.as_str())
        .cloned()
        .expect("the incident is a case");
    assert_eq!(case["measure"], "incident_acknowledgement");
    assert_eq!(case["side"], "partner");
    assert_eq!(case["elapsed_seconds"], took);
    assert_eq!(case["commitment_seconds"], 24 * HOUR);
    assert_eq!(case["status"], "breached");
    let ack = doc["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["measure"] == "incident_acknowledgement")
        .cloned()
        .unwrap();
    assert_eq!(ack["cases"], 1, "{ack}");
    assert_eq!(ack["breached"], 1, "{ack}");
    assert_eq!(ack["met"], 0, "{ack}");
    let csv = fjord
        .get("/relationship/export?format=csv&from=2000-01-01&to=2099-12-31")
        .await;
    assert_eq!(csv.status(), StatusCode::BAD_REQUEST, "more than a year");
    let from = app::platform::time::day(server.state.clock.now() - 10 * 86_400);
    let to = app::platform::time::day(server.state.clock.now());
    let csv = fjord
        .get(&format!(
            "/relationship/export?format=csv&from={from}&to={to}"
        ))
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    let body = csv.text().await.unwrap();
    assert!(body.starts_with("measure,side,case,"), "{body}");
    let row = body
        .lines()
        .find(|l| l.contains(&incident))
        .expect("the incident's row");
    assert!(row.contains(&format!(",{took},86400,breached,")), "{row}");
    for bad in [
        "format=xml",
        "from=2026-13-01&to=2026-12-01",
        "from=2026-12-05&to=2026-12-01",
        "from=yesterday&to=2026-12-01",
    ] {
        let response = fjord.get(&format!("/relationship/export?{bad}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let exports = server
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'sla.exported'")
        .await;
    assert_eq!(exports, 2, "each export is audited, refusals are not");
    // A closed incident is not the partner's to acknowledge any more.
    let closed: String = sqlx::query_scalar(
        "SELECT id FROM incidents WHERE status = 'closed' AND acknowledged_at IS NULL LIMIT 1",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let northwind = server
        .demo_partner_user("admin@northwind-pay.example.com")
        .await;
    let response = northwind
        .submit(
            "/relationship",
            &format!("/relationship/incidents/{closed}/acknowledge"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // The scheduler's job raises one alert per partner breach, however often it runs.
    let group = format!("sla_breach:incident_acknowledgement:{incident}");
    server.run_job("sla_breaches").await;
    server.run_job("sla_breaches").await;
    let alerts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE group_key = $1")
        .bind(&group)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(alerts, 1);
    let (org, rule): (Option<String>, String) =
        sqlx::query_as("SELECT org_id, rule FROM alerts WHERE group_key = $1")
            .bind(&group)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(
        (org.as_deref(), rule.as_str()),
        (Some(fjord_org.as_str()), "sla_breach")
    );

    // Each side's view: the bank's pages are the bank's, the partner's its own.
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let (_, page) = reviewer.text(&format!("/incidents/{incident}")).await;
    assert!(
        page.contains("Acknowledged by the partner") && page.contains(FJORD),
        "the bank's incident page says who acknowledged it"
    );
    let (status, page) = reviewer.text(&format!("/relationships/{fjord_org}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("/incidents/{incident}")), "{page}");
    let csv = reviewer
        .get(&format!("/relationships/{fjord_org}/export?format=csv"))
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    let body = csv.text().await.unwrap();
    assert!(
        body.lines()
            .any(|l| l.contains(&incident) && l.ends_with(&format!("/incidents/{incident}"))),
        "the bank's export links the bank's page: {body}"
    );
    let (status, register) = reviewer.text("/relationships").await;
    assert_eq!(status, StatusCode::OK);
    assert!(register.contains(&format!("/relationships/{fjord_org}")));
    let dev = server.demo_partner_user(ACME_DEV).await;
    for path in [
        "/relationships".to_string(),
        format!("/relationships/{fjord_org}"),
        format!("/relationships/{fjord_org}/export?format=json"),
    ] {
        assert_eq!(
            dev.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let (_, acme_page) = acme.text("/relationship").await;
    assert!(
        !acme_page.contains(&incident),
        "Acme sees none of Fjord's cases"
    );

    // The demo: Northwind's incidents, one acknowledged in 3 hours, one in 30.
    let doc: serde_json::Value = northwind
        .get("/relationship/export?format=json")
        .await
        .json()
        .await
        .unwrap();
    let ack = doc["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["measure"] == "incident_acknowledgement")
        .cloned()
        .unwrap();
    assert_eq!(
        (ack["met"].as_i64(), ack["breached"].as_i64()),
        (Some(1), Some(1)),
        "{ack}"
    );
    assert_eq!(ack["median_seconds"], (3 + 30) * HOUR / 2, "{ack}");

    // Kestrel's page (the bank's view) shows a breach on each side.
    let kestrel: String = sqlx::query_scalar(
        "SELECT id FROM organisations WHERE legal_name = 'Kestrel Lending Ltd (demo)'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let (_, page) = reviewer.text(&format!("/relationships/{kestrel}")).await;
    assert!(
        part(&page, "bank-breaches").contains("onboarding application"),
        "{page}"
    );
    assert!(
        part(&page, "partner-breaches").contains("Sandbox credentials pasted"),
        "{page}"
    );

    // The bank's breaches are on the reviewer's dashboard: Kestrel's application
    // waiting past the 48-hour decision commitment (seeded by the demo).
    let (_, dashboard) = reviewer.text("/dashboard").await;
    let list = part(&dashboard, "sla-breaches");
    assert!(list.contains("Kestrel"), "{list}");
    assert!(list.contains("onboarding application"), "{list}");
}
both!(sla_figures_breaches_alerts_and_exports, demo);
