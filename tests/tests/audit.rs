//! The audit chain detects edits, deletions and reordering, and names the event.

use app::audit::chain::{verify, Verdict};
use reqwest::StatusCode;

use crate::both;
use crate::common::{Backend, TestServer};

/// Lets the test play an attacker with database access: the append-only triggers and
/// the head's guard go.
pub async fn drop_guards(server: &TestServer) {
    let statements: &[&str] = match server.state.db.backend {
        app::platform::db::Backend::Sqlite => &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
            "DROP TRIGGER audit_head_guard",
        ],
        app::platform::db::Backend::Postgres => &[
            "DROP TRIGGER audit_events_no_update ON audit_events",
            "DROP TRIGGER audit_head_guard ON audit_head",
        ],
    };
    for sql in statements {
        sqlx::query(sql).execute(server.pool()).await.unwrap();
    }
}

pub async fn event_id(server: &TestServer, seq: i64) -> String {
    sqlx::query_scalar("SELECT id FROM audit_events WHERE seq = $1")
        .bind(seq)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

pub async fn broken_at(server: &TestServer) -> (i64, Option<String>) {
    match verify(server.pool()).await.unwrap() {
        Verdict::Broken { seq, id, .. } => (seq, id),
        Verdict::Intact { events } => panic!("tampering not detected ({events} events)"),
    }
}

pub async fn fresh(backend: Backend) -> Option<TestServer> {
    let server = TestServer::start(backend, true).await?;
    // The first scheduler tick appends the sweep's events: tamper after it.
    server.wait_for_first_tick().await;
    assert!(server.count("SELECT COUNT(*) FROM audit_events").await >= 6);
    assert!(matches!(
        verify(server.pool()).await.unwrap(),
        Verdict::Intact { .. }
    ));
    Some(server)
}

async fn audit_rows_are_append_only(server: TestServer) {
    let update = sqlx::query("UPDATE audit_events SET outcome = 'failure' WHERE seq = 1")
        .execute(server.pool())
        .await;
    assert!(update.is_err(), "an update must be refused");
    let delete = sqlx::query("DELETE FROM audit_events WHERE seq = 1")
        .execute(server.pool())
        .await;
    assert!(delete.is_err(), "a delete must be refused");
}
both!(audit_rows_are_append_only, demo);

async fn tamper(backend: Backend) {
    // An edited event is named.
    let Some(server) = fresh(backend).await else {
        return;
    };
    drop_guards(&server).await;
    let target = event_id(&server, 3).await;
    sqlx::query("UPDATE audit_events SET outcome = 'failure' WHERE seq = 3")
        .execute(server.pool())
        .await
        .unwrap();
    assert_eq!(broken_at(&server).await, (3, Some(target)));

    // A deleted event: the one after the gap is named.
    let Some(server) = fresh(backend).await else {
        return;
    };
    drop_guards(&server).await;
    let after = event_id(&server, 4).await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 3")
        .execute(server.pool())
        .await
        .unwrap();
    assert_eq!(broken_at(&server).await, (4, Some(after)));

    // The newest event deleted: the head no longer matches.
    let Some(server) = fresh(backend).await else {
        return;
    };
    drop_guards(&server).await;
    let last: i64 = server.count("SELECT MAX(seq) FROM audit_events").await;
    sqlx::query("DELETE FROM audit_events WHERE seq = $1")
        .bind(last)
        .execute(server.pool())
        .await
        .unwrap();
    assert_eq!(broken_at(&server).await, (last, None));

    // Two events swapped: the first position out of order is named.
    let Some(server) = fresh(backend).await else {
        return;
    };
    drop_guards(&server).await;
    let moved = event_id(&server, 3).await;
    sqlx::query("UPDATE audit_events SET seq = -1 WHERE seq = 2")
        .execute(server.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET seq = 2 WHERE seq = 3")
        .execute(server.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET seq = 3 WHERE seq = -1")
        .execute(server.pool())
        .await
        .unwrap();
    assert_eq!(broken_at(&server).await, (2, Some(moved)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_sqlite() {
    tamper(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_detected_postgres() {
    tamper(Backend::Postgres).await;
}

/// `gatehouse audit verify` names the broken event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_command_names_the_broken_event() {
    let server = fresh(Backend::Sqlite).await.unwrap();
    let settings = server.state.settings.clone();
    let (verdict, _) = gatehouse_server::audit_verify(settings.clone(), None)
        .await
        .unwrap();
    assert!(
        verdict.to_string().starts_with("audit chain intact"),
        "{verdict}"
    );
    drop_guards(&server).await;
    let target = event_id(&server, 2).await;
    sqlx::query("UPDATE audit_events SET actor_label = 'someone-else' WHERE seq = 2")
        .execute(server.pool())
        .await
        .unwrap();
    let (verdict, _) = gatehouse_server::audit_verify(settings, None)
        .await
        .unwrap();
    assert!(
        verdict
            .to_string()
            .contains(&format!("broken at event {target} (seq 2)")),
        "{verdict}"
    );
}

async fn admins_browse_filter_and_export(server: TestServer) {
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    // The page shows the last background check (issue 18 item 10); run one now.
    app::audit::chain::check_and_record(&server.state.db, server.state.clock.now())
        .await
        .unwrap();
    let (status, html) = admin.text("/admin/audit?action=demo").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("audit chain intact") && html.contains("demo.user_seeded"));
    let (_, html) = admin.text("/admin/audit?action=signin").await;
    assert!(html.contains("signin.success") && !html.contains("demo.user_seeded"));
    let response = admin
        .get("/admin/audit/export?format=jsonl&action=demo")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("gatehouse-audit.jsonl"));
    let body = response.text().await.unwrap();
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Seven demo users, the demo sandbox app and the governance demo.
    assert_eq!(lines.len(), 9);
    assert!(lines
        .windows(2)
        .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
    let csv = admin
        .get("/admin/audit/export?format=csv&action=demo")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("seq,id,occurred_at_utc,"));
    assert_eq!(csv.lines().count(), 1 + 9, "a header and the nine events");
    assert_eq!(
        admin.get("/admin/audit/export?format=xml").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert!(server
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "audit.exported"));
}
both!(admins_browse_filter_and_export, demo);

/// Issue 18 item 10: verifying while events are appended never reports tampering:
/// the check reads the head first and the events up to it.
async fn item_10_verify_is_consistent_under_concurrent_appends(server: TestServer) {
    let state = server.state.clone();
    let writer = tokio::spawn(async move {
        for i in 0..300 {
            let mut tx = state.db.begin().await.unwrap();
            app::audit::record(
                &mut tx,
                app::audit::Event::new(app::audit::Actor::system("test"), "test.appended")
                    .details(serde_json::json!({ "i": i })),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
        }
    });
    let mut checks = 0;
    while !writer.is_finished() {
        let verdict = app::audit::chain::verify(&server.state.db.pool)
            .await
            .unwrap();
        assert!(
            matches!(verdict, app::audit::chain::Verdict::Intact { .. }),
            "a concurrent append read as tampering: {verdict}"
        );
        checks += 1;
    }
    writer.await.unwrap();
    assert!(checks > 1, "the checks ran while events were appended");
    let verdict = app::audit::chain::verify(&server.state.db.pool)
        .await
        .unwrap();
    assert!(matches!(verdict, app::audit::chain::Verdict::Intact { events } if events >= 300));
}
both!(item_10_verify_is_consistent_under_concurrent_appends);
