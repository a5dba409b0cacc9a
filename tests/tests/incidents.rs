//! Issue 15: incident records. A bank user opens an incident at Fjord Analytics,
//! records who was told, contains it with the kill switch from the incident page,
//! and closes it with the post-incident review; the timeline comes from the audit
//! trail, and the incident counts as a risk fact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;

use crate::both;
use crate::common::{assert_location, TestServer};
use crate::offboarding::{org_of, BANK_ADMIN, FJORD};
use crate::sandbox_helpers::oauth_post;

const REVIEWER: &str = "reviewer@bank.example.com";

fn today(server: &TestServer, offset_days: i64) -> String {
    let at = server.state.clock.now() + offset_days * 86_400;
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

async fn version(server: &TestServer, id: &str) -> String {
    let v: i64 = sqlx::query_scalar("SELECT version FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    v.to_string()
}

async fn incident_lifecycle(server: TestServer) {
    let fjord = org_of(&server, FJORD).await;
    let (insights, insights_client): (String, String) =
        sqlx::query_as("SELECT id, client_id FROM apps WHERE name = 'Fjord insights'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let acme_app: String = sqlx::query_scalar("SELECT id FROM apps WHERE client_id = $1")
        .bind(crate::sandbox_helpers::DEMO_ID)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let date = today(&server, 0);
    let tomorrow = today(&server, 1);

    // Bad input: a clear error, nothing written.
    let cases: [(&str, &str, &str, &str); 3] = [
        ("", &date, &insights, "Give the incident a title"),
        (
            "Credential leak",
            &tomorrow,
            &insights,
            "cannot be in the future",
        ),
        (
            "Credential leak",
            &date,
            &acme_app,
            "must be one of the organisation",
        ),
    ];
    for (title, detected, app, message) in cases {
        let response = reviewer
            .submit(
                "/incidents",
                "/incidents",
                &[
                    ("org_id", &fjord),
                    ("title", title),
                    ("severity", "high"),
                    ("detected_date", detected),
                    ("detected_time", "09:30"),
                    ("detection", "Secret found in a public repository."),
                    ("app_id", app),
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
    let incidents = "SELECT COUNT(*) FROM incidents";
    let before = server.count(incidents).await;
    // (The demo's closed incident is at Northwind.)
    assert_eq!(
        app::incidents::recent_count(&server.state, &fjord, server.state.clock.now())
            .await
            .unwrap(),
        0
    );
    assert_eq!(server.count(incidents).await, before, "nothing written");
    let partner = server.demo_partner().await;
    assert_eq!(
        partner.get("/incidents").await.status(),
        StatusCode::FORBIDDEN
    );

    let response = reviewer
        .submit(
            "/incidents",
            "/incidents",
            &[
                ("org_id", &fjord),
                ("title", "Credential leak"),
                ("severity", "high"),
                ("detected_date", &date),
                ("detected_time", "00:00"),
                ("detection", "Secret found in a public repository."),
                ("app_id", &insights),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = response.headers()["location"].to_str().unwrap().to_string();
    let id = page.strip_prefix("/incidents/").unwrap().to_string();

    // Escalation: who was told, when.
    let v = version(&server, &id).await;
    let response = reviewer
        .submit(
            &page,
            &format!("{page}/entries"),
            &[
                ("version", &v),
                ("kind", "escalation"),
                ("told", ""),
                ("told_date", &date),
                ("body", "Asked to rotate."),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = reviewer
        .submit(
            &page,
            &format!("{page}/entries"),
            &[
                ("version", &v),
                ("kind", "escalation"),
                ("told", "Fjord's CISO; our CISO"),
                ("told_date", &date),
                ("told_time", "00:00"),
                ("body", "Asked to rotate the secret."),
            ],
        )
        .await;
    assert_location(&response, &page);
    // A replayed form (the old version) is refused.
    let response = reviewer
        .submit(
            &page,
            &format!("{page}/entries"),
            &[("version", &v), ("kind", "note"), ("body", "again")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // Containment: only a bank admin holds the kill switch; it takes effect at once.
    let v = version(&server, &id).await;
    let token = reviewer.csrf(&page).await;
    let response = reviewer
        .post(
            &format!("{page}/contain"),
            &[
                ("csrf_token", &token),
                ("version", &v),
                ("app_id", &insights),
                ("reason", "leak"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let admin = server.demo_staff(BANK_ADMIN, -1).await;
    let response = admin
        .submit(
            &page,
            &format!("{page}/contain"),
            &[
                ("version", &v),
                ("app_id", &insights),
                ("reason", "Leaked secret."),
            ],
        )
        .await;
    assert_location(&response, &page);
    server.forget_cached_state();
    let (status, _, body) = oauth_post(
        &server,
        "/production/oauth/token",
        Some((
            &insights_client,
            app::governance::demo::DEMO_PRODUCTION_SECRET,
        )),
        &[("grant_type", "client_credentials"), ("scope", "reference")],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let linked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM incident_entries e JOIN suspensions s ON s.id = e.suspension_id \
         WHERE e.incident_id = $1 AND s.target = $2 AND s.lifted_at IS NULL",
    )
    .bind(&id)
    .bind(&insights)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(linked, 1);

    // Closed with the review; closing twice is refused.
    let v = version(&server, &id).await;
    let response = reviewer
        .submit(
            &page,
            &format!("{page}/close"),
            &[("version", &v), ("review", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = reviewer
        .submit(
            &page,
            &format!("{page}/close"),
            &[
                ("version", &v),
                (
                    "review",
                    "A developer committed a .env file. Secret scanning added to their CI.",
                ),
            ],
        )
        .await;
    assert_location(&response, &page);
    let token = reviewer.csrf(&page).await;
    let response = reviewer
        .post(
            &format!("{page}/close"),
            &[("csrf_token", &token), ("version", &v), ("review", "again")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // The timeline, from the audit trail, in order.
    let (_, html) = reviewer.text(&page).await;
    let timeline = html.split("id=\"incident-timeline\"").nth(1).unwrap();
    let positions: Vec<usize> = [
        "incident.opened",
        "incident.escalated",
        "governance.suspended",
        "incident.contained",
        "incident.closed",
    ]
    .iter()
    .map(|action| {
        timeline
            .find(action)
            .unwrap_or_else(|| panic!("{action} in the timeline"))
    })
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(html.contains("closed"));
    // The risk policy's incident fact counts it.
    let now = server.state.clock.now();
    assert_eq!(
        app::incidents::recent_count(&server.state, &fjord, now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app::incidents::recent_count(&server.state, &fjord, now + 400 * 86_400)
            .await
            .unwrap(),
        0
    );
}
both!(incident_lifecycle, demo);
