//! Issue 15: an offboarded organisation's evidence files are kept for the retention
//! the bank sets, then deleted by the scheduler with an audit event each; the rows
//! (hashes, dates) and the audit trail stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use app::audit::chain::{verify, Verdict};
use app::onboarding::evidence::{self, Upload};
use app::platform::context::{AuthUser, ClientInfo};
use reqwest::StatusCode;

use crate::both;
use crate::common::{assert_location, TestServer};
use crate::offboarding::{step_up, BANK_ADMIN, FJORD};

const DAY: i64 = 86_400;

fn date(server: &TestServer, offset_days: i64) -> String {
    let at = server.state.clock.now() + offset_days * DAY;
    let d = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap()
        .date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

async fn evidence_kept_for_the_retention(server: TestServer) {
    let fjord = AuthUser::by_email(&server.state, FJORD)
        .await
        .unwrap()
        .unwrap();
    let org = fjord.org_id.clone().unwrap();
    let id = evidence::upload(
        &server.state,
        &fjord,
        &ClientInfo::default(),
        Upload {
            kind: "pen_test".into(),
            issued_on: date(&server, -30),
            expires_on: date(&server, 300),
            filename: "pentest.pdf".into(),
            bytes: bytes_of(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\n"),
            use_kept: false,
        },
    )
    .await
    .unwrap();
    let file = evidence::get(&server.state, Some(&org), &id).await.unwrap();
    assert!(evidence::read(&server.state, &file).await.is_ok());

    // The retention: a bank admin sets it; bad values and other roles are refused.
    let bank = server.demo_staff(BANK_ADMIN, -1).await;
    let response = bank
        .submit(
            "/offboarding/bank",
            "/offboarding/bank/retention",
            &[("retention_days", "30")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let reviewer = server.demo_staff("reviewer@bank.example.com", -1).await;
    let token = reviewer.csrf("/offboarding/bank").await;
    let response = reviewer
        .post(
            "/offboarding/bank/retention",
            &[("csrf_token", &token), ("retention_days", "400")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = bank
        .submit(
            "/offboarding/bank",
            "/offboarding/bank/retention",
            &[("retention_days", "400")],
        )
        .await;
    assert_location(&response, "/offboarding/bank");
    assert_eq!(
        app::offboarding::retention::days(&server.state)
            .await
            .unwrap(),
        400
    );

    // Fjord is offboarded; its evidence is kept, with nothing purged yet.
    let admin = AuthUser::by_email(&server.state, BANK_ADMIN)
        .await
        .unwrap()
        .unwrap();
    let offboarding = app::offboarding::start(
        &server.state,
        &admin,
        &ClientInfo::default(),
        &org,
        "Contract ended.",
        &step_up(&server, 0),
    )
    .await
    .unwrap();
    assert!(app::offboarding::job::run(&server.state, &offboarding)
        .await
        .unwrap());
    let now = server.state.clock.now();
    assert_eq!(purge(&server).await, 0);
    assert!(
        evidence::read(&server.state, &file).await.is_ok(),
        "kept after offboarding"
    );
    server.state.clock.advance(399 * DAY);
    assert_eq!(purge(&server).await, 0, "not before the retention ends");

    // After the retention: the file's bytes go, its row and the audit trail stay.
    server.state.clock.advance(2 * DAY);
    let later = now + 401 * DAY;
    let purged = purge(&server).await;
    let files: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM evidence WHERE org_id = $1")
        .bind(&org)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(purged, files);
    assert!(matches!(
        evidence::read(&server.state, &file).await,
        Err(app::platform::error::Error::NotFound)
    ));
    let (sha256, purged_at): (String, Option<i64>) =
        sqlx::query_as("SELECT sha256, purged_at FROM evidence WHERE id = $1")
            .bind(&id)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(sha256, file.sha256);
    let purged_at = purged_at.unwrap();
    assert!(
        (later..later + 120).contains(&purged_at),
        "purged at the run"
    );
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'evidence.purged' AND org_id = $1",
    )
    .bind(&org)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(events, files);
    assert_eq!(purge(&server).await, 0);
    assert!(matches!(
        verify(server.pool()).await.unwrap(),
        Verdict::Intact { .. }
    ));
    // Another, active organisation's evidence is untouched.
    let others: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM evidence WHERE org_id <> $1 AND purged_at IS NOT NULL",
    )
    .bind(&org)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(others, 0);
}
both!(evidence_kept_for_the_retention, demo);

fn bytes_of(data: &[u8]) -> axum::body::Bytes {
    axum::body::Bytes::copy_from_slice(data)
}

/// Runs the scheduler's `evidence_retention` job now, as a running server does every
/// hour: the number of files it deleted.
async fn purge(server: &TestServer) -> i64 {
    server.run_job("evidence_retention").await["purged"]
        .as_i64()
        .unwrap()
}
