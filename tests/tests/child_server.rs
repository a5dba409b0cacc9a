//! A Gatehouse server process for the tests that `kill -9` one: this test binary
//! started again on the ignored test `child_server::run`, which runs Gatehouse on
//! the parent's database and data directory (so the same master key) until it is
//! killed. Settings the parent passes in the environment override the defaults.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::TestServer;

const DATA_DIR: &str = "GATEHOUSE_CHILD_DATA_DIR";
const DATABASE_URL: &str = "GATEHOUSE_CHILD_DATABASE_URL";
pub const OFFBOARDING_BATCH: &str = "GATEHOUSE_CHILD_OFFBOARDING_BATCH";
pub const OFFBOARDING_PAUSE_MS: &str = "GATEHOUSE_CHILD_OFFBOARDING_PAUSE_MS";
/// Comma-separated socket addresses (`--outbound-allow`).
pub const OUTBOUND_ALLOW: &str = "GATEHOUSE_CHILD_OUTBOUND_ALLOW";
/// A PEM file (`--outbound-ca`).
pub const OUTBOUND_CA: &str = "GATEHOUSE_CHILD_OUTBOUND_CA";
/// The address to listen on (default: any free port).
pub const ADDR: &str = "GATEHOUSE_CHILD_ADDR";

/// The child process. Does nothing when run on its own (`cargo test -- --ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a server process started by the kill -9 tests"]
async fn run() {
    let Ok(data_dir) = std::env::var(DATA_DIR) else {
        return;
    };
    let addr = std::env::var(ADDR).unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut settings = app::Settings::new(
        url::Url::parse(&base).unwrap(),
        std::path::PathBuf::from(data_dir),
    );
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    settings.database_url = var(DATABASE_URL);
    settings.demo = true;
    if let Some(batch) = var(OFFBOARDING_BATCH) {
        settings.offboarding_batch = batch.parse().unwrap();
    }
    if let Some(pause) = var(OFFBOARDING_PAUSE_MS) {
        settings.offboarding_pause_ms = pause.parse().unwrap();
    }
    if let Some(allow) = var(OUTBOUND_ALLOW) {
        settings.outbound_allow = allow.split(',').map(|a| a.parse().unwrap()).collect();
    }
    settings.outbound_ca_file = var(OUTBOUND_CA).map(Into::into);
    let running = gatehouse_server::start(settings, listener).await.unwrap();
    // Until SIGTERM has stopped it cleanly (as the real binary's main waits), or it is
    // killed.
    running.server.await.unwrap();
}

pub struct Process(Child);

impl Process {
    /// SIGTERM, as a rolling restart sends: waits until the process has exited.
    pub async fn terminate(&mut self) {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        for _ in 0..600 {
            if self.0.try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the child did not stop on SIGTERM");
    }

    /// `kill -9`: SIGKILL, no chance to finish anything.
    pub fn kill_9(&mut self) {
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

/// Starts a child on `server`'s database and data directory, with `env` besides.
pub fn spawn(server: &TestServer, env: &[(&str, String)]) -> Process {
    let settings = &server.state.settings;
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_server::run",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(DATA_DIR, &settings.data_dir)
        .env(
            DATABASE_URL,
            settings.database_url.clone().unwrap_or_default(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    Process(command.spawn().unwrap())
}
