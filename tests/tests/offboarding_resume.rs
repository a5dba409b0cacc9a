//! Issue 15: an offboarding job killed half-way (a real `kill -9` of a real server
//! process) is resumed when Gatehouse starts again, and ends in the same state, with
//! nothing done twice and nothing that was revoked coming back.
//!
//! The server processes are this test binary started again (`child_server`): each
//! runs Gatehouse on the parent's database and data directory until it is killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::child_server::{self, Process};
use crate::common::{Backend, TestServer};
use crate::offboarding::{
    accept_without_running, active_apps, assert_all_ended, assert_no_token_works, fixture,
    gateways, wait_until_done,
};

fn spawn(server: &TestServer, batch: usize, pause_ms: u64) -> Process {
    child_server::spawn(
        server,
        &[
            (child_server::OFFBOARDING_BATCH, batch.to_string()),
            (child_server::OFFBOARDING_PAUSE_MS, pause_ms.to_string()),
        ],
    )
}

async fn actions(server: &TestServer, id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM offboarding_actions WHERE offboarding_id = $1")
        .bind(id)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn offboarding_survives_kill_9(server: TestServer) {
    let fx = fixture(&server).await;
    let gw = gateways(&server).await;
    // This process's own server must not run the job: the test holds the scheduler's
    // lease on it, so only the child processes' start-up resume does. The action is
    // accepted (and the organisation suspended) without running the job.
    let id = accept_without_running(&server, &fx.org_id).await;
    assert_eq!(actions(&server, &id).await, 1);
    assert_no_token_works(&server, &fx, &gw).await;

    // A server process starts, resumes the job one identity at a time, and is killed
    // part of the way through.
    let mut first = spawn(&server, 1, 400);
    let mut waited = 0;
    while actions(&server, &id).await < 4 {
        waited += 1;
        assert!(waited < 600, "the child process never resumed the job");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.kill_9();
    let done = actions(&server, &id).await;
    let status: String = sqlx::query_scalar("SELECT status FROM offboardings WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "running", "killed half-way");
    assert!(
        active_apps(&server, &fx.org_id).await > 0,
        "killed half-way"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        actions(&server, &id).await,
        done,
        "the killed process did nothing more"
    );
    // Half-way, nothing of the organisation works.
    assert_no_token_works(&server, &fx, &gw).await;

    // Gatehouse starts again: the job is resumed and finished.
    let mut second = spawn(&server, 50, 0);
    wait_until_done(&server, &id).await;
    second.kill_9();
    assert_all_ended(&server, &fx, &gw).await;
    // Nothing was done twice.
    for action in [
        "offboarding.member_disabled",
        "offboarding.client_revoked",
        "offboarding.consent_revoked",
        "offboarding.ob_consent_revoked",
        "offboarding.completed",
    ] {
        let repeated: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT resource_id FROM audit_events WHERE action = $1 \
             GROUP BY resource_id HAVING COUNT(*) > 1) r",
        )
        .bind(action)
        .fetch_one(server.pool())
        .await
        .unwrap();
        assert_eq!(repeated, 0, "{action} recorded twice for one target");
    }
    // The pack verifies.
    let pack: String = sqlx::query_scalar("SELECT pack_id FROM offboardings WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pack.json");
    gatehouse_server::evidence_export(server.state.settings.clone(), &pack, &path)
        .await
        .unwrap();
    let verification = gatehouse_server::evidence_verify(server.state.settings.clone(), &path)
        .await
        .unwrap();
    assert!(verification.problems.is_empty(), "{verification}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_survives_kill_9_sqlite() {
    if let Some(server) = TestServer::start(Backend::Sqlite, true).await {
        offboarding_survives_kill_9(server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_survives_kill_9_postgres() {
    if let Some(server) = TestServer::start(Backend::Postgres, true).await {
        offboarding_survives_kill_9(server).await;
    }
}
