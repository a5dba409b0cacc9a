//! The webhook tests' receiver and helpers: a partner's https receiver on loopback
//! (node, verifying every delivery with the Standard Webhooks project's JavaScript
//! library), and the steps a partner admin takes to register and test an endpoint.
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_location, Client, TestServer};

pub const ADMIN: &str = "admin@acme-budgeting.example.com";
pub(crate) const ALL_EVENTS: [&str; 3] = [
    "client.suspended",
    "access_request.decided",
    "credential.revoked",
];

/// The receiver: node running tests/interop/webhook-receiver.mjs with a certificate
/// for `localhost` and `*.partner.test` issued by a CA of its own.
pub struct Receiver {
    child: Child,
    pub port: u16,
    http: reqwest::Client,
    pub ca_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn interop_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop");
    if dir.join("node_modules/standardwebhooks").is_dir()
        && Command::new("node").arg("--version").output().is_ok()
    {
        return Some(dir);
    }
    assert!(
        std::env::var("GATEHOUSE_REQUIRE_INTEROP").is_err(),
        "standardwebhooks is not installed: run npm ci --prefix tests/interop"
    );
    eprintln!("skipping: standardwebhooks is not installed (npm ci --prefix tests/interop)");
    None
}

impl Receiver {
    pub fn start() -> Option<Self> {
        let interop = interop_dir()?;
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Webhook Receiver Test CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_params = rcgen::CertificateParams::new(vec![
            "localhost".to_string(),
            "hooks.partner.test".to_string(),
            "rebind.partner.test".to_string(),
        ])
        .unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
        let mut child = Command::new("node")
            .arg(interop.join("webhook-receiver.mjs"))
            .arg(dir.path().join("cert.pem"))
            .arg(dir.path().join("key.pem"))
            .current_dir(&interop)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let first: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("the receiver printed {line:?}"));
        let port = u16::try_from(first["port"].as_u64().unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_cert.pem().as_bytes()).unwrap())
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
            .build()
            .unwrap();
        Some(Self {
            child,
            port,
            http,
            ca_path,
            _dir: dir,
        })
    }

    /// The addresses the server is allowed to reach: this receiver on loopback.
    pub fn allow(&self) -> Vec<SocketAddr> {
        vec![
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, self.port)),
        ]
    }

    /// Settings for a server that may deliver here.
    pub fn configure(&self, settings: &mut app::Settings) {
        settings.demo = true;
        settings.outbound_allow = self.allow();
        settings.outbound_ca_file = Some(self.ca_path.clone());
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    pub async fn control(&self, body: Value) {
        let response = self
            .http
            .post(format!("https://localhost:{}/_control", self.port))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// Tells the receiver Gatehouse's clock, for the timestamp tolerance.
    pub async fn follow_clock(&self, server: &TestServer) {
        let offset = (server.state.clock.now() - app::platform::time::now()) * 1000;
        self.control(json!({ "clockOffsetMs": offset })).await;
    }

    /// Moves Gatehouse's clock on by `seconds` and tells the receiver.
    pub async fn advance(&self, server: &TestServer, seconds: i64) {
        server.state.clock.advance(seconds);
        self.follow_clock(server).await;
    }

    pub async fn log(&self) -> Vec<Value> {
        self.http
            .get(format!("https://localhost:{}/_log", self.port))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The deliveries to `path`, once there are at least `n`.
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Value> {
        self.wait_for_type(path, None, n).await
    }

    /// The deliveries to `path` of event `kind` (all when `None`), once there are
    /// at least `n`.
    pub async fn wait_for_type(&self, path: &str, kind: Option<&str>, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let seen: Vec<Value> = self
                .log()
                .await
                .into_iter()
                .filter(|e| e["path"] == path && kind.is_none_or(|k| e["type"] == k))
                .collect();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{path} did not receive {n} deliveries: {:?}",
            self.log().await
        );
    }

    pub async fn count(&self, path: &str) -> usize {
        self.log()
            .await
            .iter()
            .filter(|e| e["path"] == path)
            .count()
    }
}

/// The secret in a page's flash message.
pub(crate) fn secret_in(html: &str) -> String {
    let start = html
        .find("whsec_")
        .unwrap_or_else(|| panic!("no secret on {html}"));
    html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '/' | '='))
        .collect()
}

/// Registers an endpoint as the partner admin; returns its id and secret.
pub async fn register(admin: &Client, url: &str, events: &[&str]) -> (String, String) {
    let mut fields = vec![("url", url), ("description", "Our on-call receiver")];
    for event in events {
        fields.push(("events", event));
    }
    let response = admin.submit("/webhooks", "/webhooks", &fields).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "registering {url}"
    );
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let id = location.trim_start_matches("/webhooks/").to_string();
    let (_, html) = admin.text(&location).await;
    (id, secret_in(&html))
}

pub async fn send_test(admin: &Client, id: &str) {
    let page = format!("/webhooks/{id}");
    let response = admin.submit(&page, &format!("{page}/test"), &[]).await;
    assert_location(&response, &page);
}

/// (state, attempts, next_attempt_at) of a message.
pub(crate) async fn message(server: &TestServer, id: &str) -> (String, i64, Option<i64>) {
    sqlx::query_as("SELECT state, attempts, next_attempt_at FROM webhook_messages WHERE id = $1")
        .bind(id)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// The statuses of a message's attempts, in order (0: no answer).
pub(crate) async fn statuses(server: &TestServer, id: &str) -> Vec<i64> {
    let rows: Vec<(Option<i64>,)> = sqlx::query_as(
        "SELECT status FROM webhook_attempts WHERE message_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(server.pool())
    .await
    .unwrap();
    rows.into_iter().map(|(s,)| s.unwrap_or(0)).collect()
}

pub(crate) async fn endpoint_state(server: &TestServer, id: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT state, disabled_reason FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// Runs delivery rounds until the message has made `attempts` attempts and has no
/// attempt in flight (the instance's own worker may be the one that makes them).
pub(crate) async fn settle(server: &TestServer, id: &str, attempts: i64) {
    for _ in 0..300 {
        app::webhooks::dispatch::deliver_due(&server.state)
            .await
            .unwrap();
        let in_flight: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_messages WHERE id = $1 AND claimed_until IS NOT NULL",
        )
        .bind(id)
        .fetch_one(server.pool())
        .await
        .unwrap();
        if message(server, id).await.1 >= attempts && in_flight == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!(
        "{id} did not reach {attempts} attempts: {:?}",
        message(server, id).await
    );
}

pub(crate) async fn newest_message(server: &TestServer, endpoint: &str) -> String {
    sqlx::query_scalar(
        "SELECT id FROM webhook_messages WHERE endpoint_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(endpoint)
    .fetch_one(server.pool())
    .await
    .unwrap()
}
