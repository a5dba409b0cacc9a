//! Issue 15: an offboarding job killed half-way (a real `kill -9` of a real server
//! process) is resumed when Gatehouse starts again, and ends in the same state, with
//! nothing done twice and nothing that was revoked coming back.
//!
//! The server processes are this test binary started again on one ignored test,
//! `child_server`, which runs Gatehouse on the parent's database and data directory
//! (so the same master key) until it is killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::accounts::Role;
use app::platform::context::{AuthUser, ClientInfo};

use crate::common::{Backend, TestServer};
use crate::offboarding::{
    active_apps, assert_all_ended, assert_no_token_works, fixture, gateways, step_up,
    wait_until_done, BANK_ADMIN,
};

const DATA_DIR: &str = "GATEHOUSE_CHILD_DATA_DIR";
const DATABASE_URL: &str = "GATEHOUSE_CHILD_DATABASE_URL";
const BATCH: &str = "GATEHOUSE_CHILD_OFFBOARDING_BATCH";
const PAUSE: &str = "GATEHOUSE_CHILD_OFFBOARDING_PAUSE_MS";

/// The child process: Gatehouse on the parent's database, until killed. Does nothing
/// when run on its own (`cargo test -- --ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a server process started by offboarding_survives_kill_9"]
async fn child_server() {
    let Ok(data_dir) = std::env::var(DATA_DIR) else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut settings = app::Settings::new(
        url::Url::parse(&base).unwrap(),
        std::path::PathBuf::from(data_dir),
    );
    settings.database_url = std::env::var(DATABASE_URL).ok().filter(|u| !u.is_empty());
    settings.demo = true;
    settings.offboarding_batch = std::env::var(BATCH).unwrap().parse().unwrap();
    settings.offboarding_pause_ms = std::env::var(PAUSE).unwrap().parse().unwrap();
    let _running = gatehouse_server::start(settings, listener).await.unwrap();
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

struct Process(Child);

impl Process {
    /// `kill -9`: SIGKILL, no chance to finish anything.
    fn kill_9(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(server: &TestServer, batch: usize, pause_ms: u64) -> Process {
    let settings = &server.state.settings;
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "offboarding_resume::child_server",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(DATA_DIR, &settings.data_dir)
        .env(
            DATABASE_URL,
            settings.database_url.clone().unwrap_or_default(),
        )
        .env(BATCH, batch.to_string())
        .env(PAUSE, pause_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Process(child)
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
    // lease on it, so only the child processes' start-up resume does.
    sqlx::query(
        "INSERT INTO scheduler_jobs (name, next_due_at, lease_owner, lease_until) \
         VALUES ('offboarding_resume', 0, 'test', 99999999999) \
         ON CONFLICT (name) DO UPDATE SET lease_owner = 'test', lease_until = 99999999999",
    )
    .execute(server.pool())
    .await
    .unwrap();
    let admin_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(BANK_ADMIN)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let admin = AuthUser {
        id: admin_id,
        email: BANK_ADMIN.into(),
        display_name: "Bank admin".into(),
        role: Role::Admin,
        org_id: None,
        org_name: None,
        email_verified: true,
        mfa_enabled: true,
    };
    // The action is accepted (and the organisation suspended) without running the job.
    let id = app::offboarding::start(
        &server.state,
        &admin,
        &ClientInfo::default(),
        &fx.org_id,
        "The partnership ended.",
        &step_up(0),
    )
    .await
    .unwrap();
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
