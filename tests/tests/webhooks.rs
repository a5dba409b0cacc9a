//! Issue 17, webhooks: registration refused for what the SSRF guard refuses, and
//! deliveries received by a real https receiver on loopback that verifies every
//! signature with the Standard Webhooks project's JavaScript library (node, not the
//! Rust crate that signed), through retries, `Retry-After`, `410 Gone`, a rotation's
//! overlap, disabling after days of failures, two instances and a `kill -9` of the
//! instance that was delivering.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_location, Backend, Client, TestServer};

pub const ADMIN: &str = "admin@acme-budgeting.example.com";
const ALL_EVENTS: [&str; 3] = [
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

fn interop_dir() -> Option<std::path::PathBuf> {
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
fn secret_in(html: &str) -> String {
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
async fn message(server: &TestServer, id: &str) -> (String, i64, Option<i64>) {
    sqlx::query_as("SELECT state, attempts, next_attempt_at FROM webhook_messages WHERE id = $1")
        .bind(id)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// The statuses of a message's attempts, in order (0: no answer).
async fn statuses(server: &TestServer, id: &str) -> Vec<i64> {
    let rows: Vec<(Option<i64>,)> = sqlx::query_as(
        "SELECT status FROM webhook_attempts WHERE message_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(server.pool())
    .await
    .unwrap();
    rows.into_iter().map(|(s,)| s.unwrap_or(0)).collect()
}

async fn endpoint_state(server: &TestServer, id: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT state, disabled_reason FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// Runs delivery rounds until the message has made `attempts` attempts and has no
/// attempt in flight (the instance's own worker may be the one that makes them).
async fn settle(server: &TestServer, id: &str, attempts: i64) {
    for _ in 0..300 {
        app::webhooks::delivery::deliver_due(&server.state)
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

async fn newest_message(server: &TestServer, endpoint: &str) -> String {
    sqlx::query_scalar(
        "SELECT id FROM webhook_messages WHERE endpoint_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(endpoint)
    .fetch_one(server.pool())
    .await
    .unwrap()
}

/// Registration: https, public addresses (a name resolving to loopback too), known
/// events, a description; partner admins only; another organisation's endpoint is
/// a 404; stale forms are 409s. Nothing is written by a refused form.
async fn registration_is_validated(server: TestServer) {
    let admin = server.demo_partner_user(ADMIN).await;
    let count = || server.count("SELECT COUNT(*) FROM webhook_endpoints");
    let before = count().await;
    let long = format!("https://hooks.example.com/{}", "a".repeat(2100));
    let refused = [
        ("http://hooks.example.com/gatehouse", "Use an https URL"),
        ("https://127.0.0.1/hook", "resolves to 127.0.0.1"),
        (
            "https://localhost:1/hook",
            "a loopback, private, link-local or metadata address",
        ),
        (
            "https://169.254.169.254/latest/meta-data/",
            "resolves to 169.254.169.254",
        ),
        ("https://[::1]/hook", "resolves to ::1"),
        ("https://10.1.2.3/hook", "resolves to 10.1.2.3"),
        ("https://user:pw@hooks.example.com/hook", "Enter a full URL"),
        ("not a url", "Enter a full URL"),
        ("", "Enter the endpoint's https URL"),
        (long.as_str(), "at most 2000 characters"),
    ];
    for (url, message) in refused {
        let response = admin
            .submit(
                "/webhooks",
                "/webhooks",
                &[("url", url), ("description", "x"), ("events", "review.due")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{url}: {message}");
    }
    for (fields, message) in [
        (
            vec![("url", "https://8.8.8.8/hook"), ("description", "x")],
            "Choose at least one event.",
        ),
        (
            vec![
                ("url", "https://8.8.8.8/hook"),
                ("description", "x"),
                ("events", "credential.stolen"),
            ],
            "credential.stolen is not an event Gatehouse sends.",
        ),
        (
            vec![("url", "https://8.8.8.8/hook"), ("events", "review.due")],
            "Say what the endpoint is for",
        ),
    ] {
        let response = admin.submit("/webhooks", "/webhooks", &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{fields:?}"
        );
        assert!(
            response.text().await.unwrap().contains(message),
            "{message}"
        );
    }
    // A control character is refused before any handler sees it.
    let response = admin
        .submit(
            "/webhooks",
            "/webhooks",
            &[
                ("url", "https://8.8.8.8/hook"),
                ("description", "bell\u{7}"),
                ("events", "review.due"),
            ],
        )
        .await;
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(count().await, before, "nothing written");

    // An address literal that is public registers (no connection is made).
    let (id, secret) = register(&admin, "https://8.8.8.8/gatehouse", &["review.due"]).await;
    assert!(secret.len() > 40, "{secret}");
    let (_, page) = admin.text(&format!("/webhooks/{id}")).await;
    assert!(!page.contains(&secret), "the secret is shown once");
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret FROM webhook_endpoints WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&sealed).contains(&secret[6..]),
        "kept encrypted"
    );
    assert!(server
        .audit_actions()
        .await
        .contains(&"webhook.endpoint_created".to_string()));

    // Only partner admins; another organisation's endpoint is a 404.
    let developer = server.demo_partner().await;
    assert_eq!(
        developer.get("/webhooks").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        developer.get(&format!("/webhooks/{id}")).await.status(),
        StatusCode::FORBIDDEN
    );
    let other = server
        .demo_partner_user("admin@northwind-pay.example.com")
        .await;
    assert_eq!(
        other.get(&format!("/webhooks/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let response = other
        .submit("/webhooks", &format!("/webhooks/{id}/test"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = other
        .submit(
            "/webhooks",
            &format!("/webhooks/{id}/rotate"),
            &[("version", "1")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // A stale or missing version.
    let page = format!("/webhooks/{id}");
    let response = admin
        .submit(&page, &format!("{page}/rotate"), &[("version", "7")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = admin
        .submit(&page, &format!("{page}/disable"), &[("version", "x")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = admin
        .submit(&page, &format!("{page}/disable"), &[("version", "1")])
        .await;
    assert_location(&response, &page);
    // Replaying the same form: the version moved on.
    let response = admin
        .submit(&page, &format!("{page}/disable"), &[("version", "1")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    // A disabled endpoint sends nothing, not even a test.
    let response = admin.submit(&page, &format!("{page}/test"), &[]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = admin
        .submit(&page, &format!("{page}/enable"), &[("version", "2")])
        .await;
    assert_location(&response, &page);
    assert_eq!(endpoint_state(&server, &id).await.0, "active");
    // An unknown message id is a 404.
    let response = admin
        .submit(&page, &format!("{page}/messages/whmsg_nope/resend"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
crate::both!(registration_is_validated, demo);

/// Deliveries, verified by the receiver's own library: a test event and a real one
/// (a suspension by the bank), the retry schedule after 500s with one `webhook-id`,
/// `Retry-After`, both signatures during a rotation's overlap and one after it,
/// "send again", a 410 that stops the message and disables the endpoint (e-mailing
/// its owners), and a name that resolves to loopback at delivery time refused.
async fn deliveries_are_signed_retried_and_stopped(backend: Backend) {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let Some(server) = TestServer::start_with(backend, |s| receiver.configure(s)).await else {
        return;
    };
    receiver.follow_clock(&server).await;
    let admin = server.demo_partner_user(ADMIN).await;
    // Only suspensions: the clock moves by a day below, and the governance sweep's
    // own events must not land here.
    let (id, secret) = register(&admin, &receiver.url("/ok"), &["client.suspended"]).await;
    assert!(secret.starts_with("whsec_"));
    receiver
        .control(json!({ "path": "/ok", "secrets": [secret] }))
        .await;

    // A test event: signed, verified, the timestamp Gatehouse's clock.
    send_test(&admin, &id).await;
    let seen = receiver.wait_for("/ok", 1).await;
    let first = &seen[0];
    assert_eq!(first["type"], "webhook.test");
    assert_eq!(first["verifiedWith"], json!([0]), "{first}");
    assert_eq!(first["contentType"], "application/json");
    assert!((first["timestamp"].as_i64().unwrap() - server.state.clock.now()).abs() <= 5);
    let message_id = first["id"].as_str().unwrap().to_string();
    assert!(message_id.starts_with("whmsg_"));
    settle(&server, &message_id, 1).await;
    assert_eq!(message(&server, &message_id).await.0, "delivered");

    // A real event: the bank suspends one of the partner's clients.
    let app_id: String = sqlx::query_scalar(
        "SELECT a.id FROM apps a JOIN users u ON u.org_id = a.org_id WHERE u.email = $1 \
         AND a.revoked_at IS NULL ORDER BY a.id LIMIT 1",
    )
    .bind(ADMIN)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let bank = server.demo_staff("admin@bank.example.com", 1).await;
    let page = "/governance/bank/suspensions";
    let response = bank
        .submit(
            page,
            page,
            &[
                ("target_kind", "client"),
                ("target", &app_id),
                ("reason", "webhook test"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let seen = receiver.wait_for("/ok", 2).await;
    assert_eq!(seen[1]["type"], "client.suspended");
    assert_eq!(seen[1]["verifiedWith"], json!([0]));

    // 500, 500, then 200: the schedule's first two waits, one webhook-id throughout.
    receiver
        .control(json!({ "path": "/ok", "plan": [{ "status": 500 }, { "status": 500 }] }))
        .await;
    send_test(&admin, &id).await;
    let retried = newest_message(&server, &id).await;
    settle(&server, &retried, 1).await;
    let (state, _, next) = message(&server, &retried).await;
    assert_eq!(state, "pending");
    let at = server.state.clock.now();
    assert!((next.unwrap() - at - 5).abs() <= 2, "first retry after 5 s");
    app::webhooks::delivery::deliver_due(&server.state)
        .await
        .unwrap();
    assert_eq!(
        receiver.count("/ok").await,
        3,
        "nothing before the retry is due"
    );
    server.state.clock.advance(5);
    receiver.follow_clock(&server).await;
    settle(&server, &retried, 2).await;
    let (_, _, next) = message(&server, &retried).await;
    assert!(
        (next.unwrap() - server.state.clock.now() - 300).abs() <= 2,
        "then 5 minutes"
    );
    server.state.clock.advance(300);
    receiver.follow_clock(&server).await;
    settle(&server, &retried, 3).await;
    assert_eq!(statuses(&server, &retried).await, [500, 500, 200]);
    assert_eq!(message(&server, &retried).await.0, "delivered");
    let seen = receiver.wait_for("/ok", 5).await;
    assert!(seen[2..5]
        .iter()
        .all(|e| e["id"] == retried.as_str() && e["verifiedWith"] == json!([0])));
    let (_, log_page) = admin.text(&format!("/webhooks/{id}")).await;
    assert!(
        log_page.contains("#1 500") && log_page.contains("#3 200"),
        "the delivery log"
    );

    // Retry-After: 120 s, not the schedule's 5 s.
    receiver
        .control(json!({ "path": "/ok", "plan": [{ "status": 503, "retryAfter": 120 }] }))
        .await;
    send_test(&admin, &id).await;
    let later = newest_message(&server, &id).await;
    settle(&server, &later, 1).await;
    let (_, _, next) = message(&server, &later).await;
    assert!(
        (next.unwrap() - server.state.clock.now() - 120).abs() <= 2,
        "Retry-After honoured"
    );
    server.state.clock.advance(120);
    receiver.follow_clock(&server).await;
    settle(&server, &later, 2).await;
    assert_eq!(statuses(&server, &later).await, [503, 200]);

    // Rotation: both secrets sign during the overlap, then only the new one.
    let version: i64 = sqlx::query_scalar("SELECT version FROM webhook_endpoints WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let endpoint_page = format!("/webhooks/{id}");
    let response = admin
        .submit(
            &endpoint_page,
            &format!("{endpoint_page}/rotate"),
            &[("version", &version.to_string())],
        )
        .await;
    assert_location(&response, &endpoint_page);
    let (_, html) = admin.text(&endpoint_page).await;
    let rotated = secret_in(&html);
    assert_ne!(rotated, secret);
    receiver
        .control(json!({ "path": "/ok", "secrets": [secret, rotated] }))
        .await;
    let tests = |n| receiver.wait_for_type("/ok", Some("webhook.test"), n);
    let before = tests(1).await.len();
    send_test(&admin, &id).await;
    let seen = tests(before + 1).await;
    assert_eq!(seen[before]["signatures"], 2);
    assert_eq!(
        seen[before]["verifiedWith"],
        json!([0, 1]),
        "each secret verifies alone"
    );
    server.state.clock.advance(24 * 3600 + 1);
    receiver.follow_clock(&server).await;
    send_test(&admin, &id).await;
    let seen = tests(before + 2).await;
    assert_eq!(seen[before + 1]["signatures"], 1);
    assert_eq!(
        seen[before + 1]["verifiedWith"],
        json!([1]),
        "the old secret no longer signs"
    );

    // Send again: the same webhook-id once more.
    let page = format!("/webhooks/{id}");
    let response = admin
        .submit(&page, &format!("{page}/messages/{message_id}/resend"), &[])
        .await;
    assert_location(&response, &page);
    let seen = tests(before + 3).await;
    assert_eq!(seen[before + 2]["id"], message_id.as_str());
    settle(&server, &message_id, 2).await;

    // A name that resolves to a loopback address at delivery time is refused, though
    // the receiver listens there: registered while it resolved to a public address.
    server.state.outbound.hosts.write().unwrap().insert(
        "rebind.partner.test".into(),
        vec!["93.184.215.14".parse().unwrap()],
    );
    let rebind_url = format!("https://rebind.partner.test:{}/rebind", receiver.port);
    let (rebind, _) = register(&admin, &rebind_url, &ALL_EVENTS).await;
    server.state.outbound.hosts.write().unwrap().insert(
        "rebind.partner.test".into(),
        vec!["127.0.0.2".parse().unwrap()],
    );
    send_test(&admin, &rebind).await;
    let refused = newest_message(&server, &rebind).await;
    settle(&server, &refused, 1).await;
    let error: String =
        sqlx::query_scalar("SELECT error FROM webhook_attempts WHERE message_id = $1")
            .bind(&refused)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert!(error.contains("non-public address (127.0.0.2)"), "{error}");
    assert_eq!(receiver.count("/rebind").await, 0, "never contacted");

    // 410 Gone: no retry, the endpoint is disabled and its owners told.
    let (gone, gone_secret) = register(&admin, &receiver.url("/gone"), &ALL_EVENTS).await;
    receiver
        .control(json!({ "path": "/gone", "secrets": [gone_secret], "plan": [{ "status": 410 }] }))
        .await;
    send_test(&admin, &gone).await;
    let stopped = newest_message(&server, &gone).await;
    settle(&server, &stopped, 1).await;
    assert_eq!(message(&server, &stopped).await.0, "failed");
    let (state, reason) = endpoint_state(&server, &gone).await;
    assert_eq!(state, "disabled");
    assert_eq!(reason.as_deref(), Some("the endpoint answered 410 Gone"));
    server
        .wait_for_mails(ADMIN, "A webhook endpoint was disabled", 1)
        .await;
    server.state.clock.advance(3600);
    app::webhooks::delivery::deliver_due(&server.state)
        .await
        .unwrap();
    assert_eq!(receiver.count("/gone").await, 1, "not retried");
    assert!(server
        .audit_actions()
        .await
        .contains(&"webhook.endpoint_disabled".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_and_stopped_sqlite() {
    deliveries_are_signed_retried_and_stopped(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_and_stopped_postgres() {
    deliveries_are_signed_retried_and_stopped(Backend::Postgres).await;
}

/// The whole schedule: ten attempts at 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
/// 20 h and 24 h, then the message has failed; the endpoint, failing for five days
/// without one success, is then disabled and its owners e-mailed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_days_is_disabled() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let server = TestServer::start_with(Backend::Sqlite, |s| receiver.configure(s))
        .await
        .unwrap();
    receiver.follow_clock(&server).await;
    let admin = server.demo_partner_user(ADMIN).await;
    // Decisions only: the clock moves by days, and the sweep's events must not land here.
    let (id, secret) = register(&admin, &receiver.url("/down"), &["access_request.decided"]).await;
    let plan: Vec<Value> = (0..30).map(|_| json!({ "status": 500 })).collect();
    receiver
        .control(json!({ "path": "/down", "secrets": [secret], "plan": plan }))
        .await;
    send_test(&admin, &id).await;
    let first = newest_message(&server, &id).await;
    let started = server.state.clock.now();
    settle(&server, &first, 1).await;
    for (n, wait) in app::webhooks::delivery::SCHEDULE.iter().enumerate() {
        let (_, _, next) = message(&server, &first).await;
        let next = next.unwrap();
        let last: i64 =
            sqlx::query_scalar("SELECT MAX(at) FROM webhook_attempts WHERE message_id = $1")
                .bind(&first)
                .fetch_one(server.pool())
                .await
                .unwrap();
        assert_eq!(next - last, *wait, "wait before retry {}", n + 1);
        server.state.clock.advance(next - server.state.clock.now());
        receiver.follow_clock(&server).await;
        settle(&server, &first, i64::try_from(n).unwrap() + 2).await;
    }
    assert_eq!(
        message(&server, &first).await.0,
        "failed",
        "gave up after ten attempts"
    );
    assert_eq!(statuses(&server, &first).await, vec![500; 10]);
    assert_eq!(receiver.count("/down").await, 10);
    let log = receiver.log().await;
    assert!(
        log.iter().all(|e| e["verifiedWith"] == json!([0])),
        "every attempt verified"
    );
    assert_eq!(
        endpoint_state(&server, &id).await.0,
        "active",
        "three days: not yet"
    );

    // Two days later, more failures: five days without a success.
    let elapsed = server.state.clock.now() - started;
    server.state.clock.advance(5 * 86_400 - elapsed - 60);
    receiver.follow_clock(&server).await;
    send_test(&admin, &id).await;
    let second = newest_message(&server, &id).await;
    settle(&server, &second, 1).await;
    assert_eq!(
        endpoint_state(&server, &id).await.0,
        "active",
        "just under five days"
    );
    server.state.clock.advance(SCHEDULE_FIRST);
    server.state.clock.advance(60);
    receiver.follow_clock(&server).await;
    settle(&server, &second, 2).await;
    let (state, reason) = endpoint_state(&server, &id).await;
    assert_eq!(state, "disabled");
    assert_eq!(reason.as_deref(), Some("every delivery failed for 5 days"));
    assert_eq!(message(&server, &second).await.0, "cancelled");
    server
        .wait_for_mails(ADMIN, "A webhook endpoint was disabled", 1)
        .await;
}

const SCHEDULE_FIRST: i64 = app::webhooks::delivery::SCHEDULE[0];

/// Two instances on one PostgreSQL, both delivering: each of 20 messages reaches
/// the receiver once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_message_once() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let Some(server) = TestServer::start_with(Backend::Postgres, |s| receiver.configure(s)).await
    else {
        return;
    };
    let second = server.second_instance(|s| receiver.configure(s)).await;
    receiver.follow_clock(&server).await;
    let admin = server.demo_partner_user(ADMIN).await;
    let (id, secret) = register(&admin, &receiver.url("/twice"), &["access_request.decided"]).await;
    receiver
        .control(json!({ "path": "/twice", "secrets": [secret] }))
        .await;
    for _ in 0..20 {
        send_test(&admin, &id).await;
    }
    // Both instances' workers race for them; the test adds rounds on both at once.
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            app::webhooks::delivery::deliver_due(&server.state),
            app::webhooks::delivery::deliver_due(&second.state)
        );
        a.unwrap();
        b.unwrap();
    }
    receiver.wait_for("/twice", 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen: Vec<Value> = receiver
        .log()
        .await
        .into_iter()
        .filter(|e| e["path"] == "/twice")
        .collect();
    assert_eq!(seen.len(), 20, "one delivery per message");
    let mut ids: Vec<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    assert!(seen.iter().all(|e| e["verifiedWith"] == json!([0])));
    let once: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_messages WHERE endpoint_id = $1 AND state = 'delivered' AND attempts = 1",
    )
    .bind(&id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(once, 20);
}

const CHILD_DATA_DIR: &str = "GATEHOUSE_CHILD_WEBHOOK_DATA_DIR";
const CHILD_ALLOW: &str = "GATEHOUSE_CHILD_WEBHOOK_ALLOW";
const CHILD_CA: &str = "GATEHOUSE_CHILD_WEBHOOK_CA";

/// The child process of `a_delivery_cut_off_by_kill_9_is_sent_again_once`: Gatehouse
/// on the parent's SQLite file, delivering webhooks, until killed. Does nothing when
/// run on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a server process started by a_delivery_cut_off_by_kill_9_is_sent_again_once"]
async fn child_delivery_server() {
    let Ok(data_dir) = std::env::var(CHILD_DATA_DIR) else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut settings = app::Settings::new(
        url::Url::parse(&base).unwrap(),
        std::path::PathBuf::from(data_dir),
    );
    settings.demo = true;
    settings.outbound_allow = std::env::var(CHILD_ALLOW)
        .unwrap()
        .split(',')
        .map(|a| a.parse().unwrap())
        .collect();
    settings.outbound_ca_file = Some(std::env::var(CHILD_CA).unwrap().into());
    let _running = gatehouse_server::start(settings, listener).await.unwrap();
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// An instance killed (`kill -9`) while its delivery is in flight: no other
/// instance sends the message while the claim holds; after it, the message goes out
/// again with the same `webhook-id`, and the receiver never gets a message it had
/// already acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_by_kill_9_is_sent_again_once() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        receiver.configure(s);
        s.deliver_webhooks = false;
    })
    .await
    .unwrap();
    let admin = server.demo_partner_user(ADMIN).await;
    let (id, secret) = register(&admin, &receiver.url("/slow"), &["access_request.decided"]).await;
    receiver
        .control(json!({ "path": "/slow", "secrets": [secret], "plan": [{ "status": 200, "delayMs": 4000 }] }))
        .await;
    let allow: Vec<String> = receiver.allow().iter().map(ToString::to_string).collect();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "webhooks::child_delivery_server",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_DATA_DIR, &server.state.settings.data_dir)
        .env(CHILD_ALLOW, allow.join(","))
        .env(CHILD_CA, &receiver.ca_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    send_test(&admin, &id).await;
    let seen = receiver.wait_for("/slow", 1).await;
    assert_eq!(seen[0]["answered"], false, "the answer is held back");
    child.kill().unwrap();
    child.wait().unwrap();
    let message_id = seen[0]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(
        receiver.log().await[0]["abandoned"],
        true,
        "the killed instance got no answer"
    );

    // The claim holds: nothing is sent again yet.
    let (state, attempts, _) = message(&server, &message_id).await;
    assert_eq!((state.as_str(), attempts), ("pending", 1));
    assert_eq!(
        app::webhooks::delivery::deliver_due(&server.state)
            .await
            .unwrap(),
        0
    );
    assert_eq!(receiver.count("/slow").await, 1);

    // After it, once more, with the same webhook-id.
    server
        .state
        .clock
        .advance(app::webhooks::delivery::CLAIM_SECONDS + 1);
    receiver.follow_clock(&server).await;
    settle(&server, &message_id, 2).await;
    assert_eq!(message(&server, &message_id).await.0, "delivered");
    assert_eq!(statuses(&server, &message_id).await, [0, 200]);
    let seen = receiver.wait_for("/slow", 2).await;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1]["id"], message_id.as_str());
    assert_eq!(seen[1]["answered"], true);
    assert!(
        seen.iter().all(|e| e["alreadyAcknowledged"] == false),
        "nothing acknowledged came again"
    );
    let error: String = sqlx::query_scalar(
        "SELECT error FROM webhook_attempts WHERE message_id = $1 AND attempt = 1",
    )
    .bind(&message_id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert!(error.contains("interrupted"), "{error}");
}

/// The governance sweep's events reach the partner's endpoints, queued in the
/// sweep's own transaction: a dormant credential revoked, a credential about to
/// expire. Each once, whichever sweep (this one or the scheduler's) applied them.
async fn the_sweep_reports_through_webhooks(server: TestServer) {
    let fjord = server
        .demo_staff("admin@fjord-analytics.example.com", 0)
        .await;
    let (id, _) = register(
        &fjord,
        "https://8.8.8.8/fjord",
        &[
            "credential.expiring",
            "credential.revoked",
            "client.suspended",
        ],
    )
    .await;
    server.state.clock.advance(25 * 86_400);
    app::governance::sweep::run(&server.state, server.state.clock.now())
        .await
        .unwrap();
    app::governance::sweep::run(&server.state, server.state.clock.now())
        .await
        .unwrap();
    let events: Vec<(String, String)> = sqlx::query_as(
        "SELECT event_type, payload FROM webhook_messages WHERE endpoint_id = $1 ORDER BY created_at, id",
    )
    .bind(&id)
    .fetch_all(server.pool())
    .await
    .unwrap();
    let revoked: Vec<&(String, String)> = events
        .iter()
        .filter(|(t, _)| t == "credential.revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{events:?}");
    let payload: Value = serde_json::from_str(&revoked[0].1).unwrap();
    assert_eq!(payload["type"], "credential.revoked");
    assert!(
        payload["data"]["credential_id"]
            .as_str()
            .unwrap()
            .starts_with("crd_"),
        "{payload}"
    );
    assert!(
        payload["data"]["description"]
            .as_str()
            .unwrap()
            .contains("Fjord reporting"),
        "{payload}"
    );
    assert!(
        events.iter().any(|(t, _)| t == "credential.expiring"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|(t, _)| [
            "credential.expiring",
            "credential.revoked",
            "client.suspended"
        ]
        .contains(&t.as_str())),
        "only the subscribed events: {events:?}"
    );
}
crate::both!(the_sweep_reports_through_webhooks, demo);
