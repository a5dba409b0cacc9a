//! The real `gatehouse` binary, as an operator runs it, not its library functions:
//! a first start on an empty data directory (the SQLite file created and migrated, the
//! demo seeded, the portal served), then every command of the CLI against the database
//! that server wrote, and the exit codes a script would check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-bin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `gatehouse --data-dir DIR ARGS…` with nothing from this environment (no
/// `DATABASE_URL`, no `GATEHOUSE_*`): what a fresh shell would run.
fn gatehouse(dir: &Path, args: &[&str]) -> (Output, String) {
    let output = Command::new(BIN)
        .env_clear()
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    (output, stdout)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (output, stdout) = gatehouse(dir, args);
    assert!(
        output.status.success(),
        "gatehouse {args:?}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The server process, killed when the test ends.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET: the status and the body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split(' ').nth(1)?.parse().ok()?;
    Some((status, answer))
}

fn serve(dir: &Path, extra: &[&str]) -> (Served, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(BIN)
        .env_clear()
        .arg("--data-dir")
        .arg(dir)
        .args(["--addr", &addr])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut served = Served(child);
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some((200, _)) = get(port, "/readyz") {
            return (served, port);
        }
        if let Some(status) = served.0.try_wait().unwrap() {
            panic!("gatehouse serve exited: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "gatehouse serve never became ready"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn first_start_serves_the_demo_and_every_command_reads_its_database() {
    let dir = data_dir("demo");
    {
        let (mut _served, port) = serve(&dir, &["--demo"]);
        assert!(
            dir.join("gatehouse.db").exists(),
            "the SQLite file was created"
        );
        let (status, home) = get(port, "/").unwrap();
        assert_eq!(status, 200);
        assert!(home.contains("Gatehouse"), "{home}");
        let (status, metadata) = get(port, "/.well-known/oauth-authorization-server").unwrap();
        assert_eq!(status, 200);
        assert!(metadata.contains("\"token_endpoint\""), "{metadata}");
        let (status, _) = get(port, "/admin/audit").unwrap();
        assert!(
            matches!(status, 303 | 401 | 403),
            "staff pages need a session: {status}"
        );
        let listed = ok(&dir, &["instances"]);
        assert!(listed.contains("\tlive\t"), "{listed}");
        // A clean stop (SIGTERM, as a rolling restart sends): the instance says so.
        let pid = _served.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(60);
        while _served.0.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "gatehouse did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let listed = ok(&dir, &["instances"]);
        assert!(listed.contains("\tstopped\t"), "{listed}");
    }

    let code = ok(&dir, &["demo-code"]);
    assert!(
        code.trim().len() == 6 && code.trim().chars().all(|c| c.is_ascii_digit()),
        "{code}"
    );

    let verdict = ok(&dir, &["audit", "verify"]);
    assert!(verdict.starts_with("audit chain intact: "), "{verdict}");
    // The server's own scheduler may already have written a checkpoint at this head.
    let written = ok(&dir, &["audit", "checkpoint"]);
    let unmoved = "the head has not moved since the last checkpoint";
    assert!(
        written.starts_with("audit checkpoint at event ") || written.trim() == unmoved,
        "{written}"
    );
    let again = ok(&dir, &["audit", "checkpoint"]);
    assert_eq!(
        again.trim(),
        unmoved,
        "a second checkpoint at the same head writes nothing"
    );
    let checkpoints = dir.join("audit-checkpoints.jsonl");
    assert!(
        checkpoints.exists(),
        "the checkpoint file is in the data directory"
    );
    let held = ok(
        &dir,
        &[
            "audit",
            "verify",
            "--checkpoints",
            checkpoints.to_str().unwrap(),
        ],
    );
    assert!(held.contains("audit chain intact"), "{held}");
    assert!(held.contains("audit checkpoints hold: "), "{held}");

    let inventory = ok(&dir, &["inventory", "--format", "csv"]);
    assert!(
        inventory.contains("cli_demo_acme_sandbox"),
        "the demo app is in the inventory: {inventory}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&dir, &["inventory", "--environment", "production"])).unwrap();
    let rows = json.as_array().expect("a JSON array");
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r["environment"] == "production"),
        "{json}"
    );

    let preview: serde_json::Value =
        serde_json::from_str(&ok(&dir, &["governance", "preview", "--json"])).unwrap();
    assert!(preview.is_array() || preview.is_object(), "{preview}");
    ok(&dir, &["governance", "sweep"]);
    // On a terminal the inventory and the sweep count the identities they judge.
    let seen = on_terminal(&dir, "inventory --format csv");
    assert!(seen.contains("Judging identities"), "{seen:?}");
    assert!(seen.contains("cli_demo_acme_sandbox"), "{seen:?}");
    let seen = on_terminal(&dir, "governance sweep");
    assert!(seen.contains("Judging identities"), "{seen:?}");

    let keys = ok(&dir, &["keys", "list", "--issuer", "sandbox"]);
    assert_eq!(keys.matches("ES256").count(), 1, "{keys}");
    let rotated = ok(&dir, &["keys", "rotate", "--issuer", "sandbox"]);
    assert!(!rotated.trim().is_empty());
    let keys = ok(&dir, &["keys", "list", "--issuer", "sandbox"]);
    assert_eq!(
        keys.matches("ES256").count(),
        2,
        "the new key is listed: {keys}"
    );
    // The directory's key (issue 29) is its own (the demo's statement made the
    // first): rotating it adds one and leaves the token keys be.
    let directory = ok(&dir, &["keys", "list", "--issuer", "directory"]);
    assert_eq!(directory.matches("signing").count(), 1, "{directory}");
    ok(&dir, &["keys", "rotate", "--issuer", "directory"]);
    let directory = ok(&dir, &["keys", "list", "--issuer", "directory"]);
    assert_eq!(directory.matches("ES256").count(), 2, "{directory}");
    assert!(directory.contains("published, signs from"), "{directory}");
    let signing = directory
        .lines()
        .find(|l| l.ends_with("signing"))
        .and_then(|l| l.split_whitespace().next())
        .expect("a signing directory key")
        .to_string();
    let retired = ok(
        &dir,
        &["keys", "retire", "--issuer", "directory", "--kid", &signing],
    );
    assert!(retired.contains("replaces it"), "{retired}");
    let keys = ok(&dir, &["keys", "list", "--issuer", "sandbox"]);
    assert_eq!(keys.matches("ES256").count(), 2, "{keys}");

    let created = ok(
        &dir,
        &[
            "resource-server",
            "create",
            "--name",
            "Ledger API",
            "--issuer",
            "sandbox",
        ],
    );
    let client_id = created
        .lines()
        .find_map(|l| l.strip_prefix("client_id: "))
        .expect("the client id is printed")
        .to_string();
    assert!(
        created.contains("client_secret (shown once): "),
        "{created}"
    );
    assert!(ok(&dir, &["resource-server", "list"]).contains("Ledger API"));
    ok(
        &dir,
        &["resource-server", "revoke", "--client-id", &client_id],
    );
    let listed = ok(&dir, &["resource-server", "list"]);
    let line = listed.lines().find(|l| l.contains(&client_id)).unwrap();
    assert!(line.contains("revoked"), "{listed}");

    let created = ok(
        &dir,
        &[
            "staff",
            "create",
            "--email",
            "second.reviewer@bank.example.com",
            "--name",
            "Second Reviewer",
            "--role",
            "reviewer",
        ],
    );
    assert!(created.contains("One-time set-up link"), "{created}");
    // A bad address is the operator's mistake: exit code 2 and the field named.
    let (output, _) = gatehouse(
        &dir,
        &[
            "staff",
            "create",
            "--email",
            "not-an-address",
            "--name",
            "X",
            "--role",
            "reviewer",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("email"));

    // The demo's offboarded organisation left a signed evidence pack.
    let packs = ok(&dir, &["evidence", "list"]);
    let id = packs
        .lines()
        .next()
        .and_then(|l| l.split('\t').next())
        .expect("a pack")
        .to_string();
    let file = dir.join("pack.json");
    ok(
        &dir,
        &["evidence", "export", &id, "--out", file.to_str().unwrap()],
    );
    ok(&dir, &["evidence", "verify", file.to_str().unwrap()]);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text = text.replacen("\"entries\"", "\"entries_\"", 1);
    std::fs::write(&file, text).unwrap();
    let (output, _) = gatehouse(&dir, &["evidence", "verify", file.to_str().unwrap()]);
    assert!(!output.status.success(), "a changed pack does not verify");

    // The traffic generator needs a server: none is running now.
    let (output, _) = gatehouse(
        &dir,
        &[
            "traffic",
            "--pattern",
            "nonsense",
            "--target",
            "http://127.0.0.1:9",
        ],
    );
    assert!(!output.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_start_that_cannot_compose_its_state_says_why() {
    let dir = data_dir("bad-alg");
    let (output, _) = gatehouse(&dir, &["--signing-alg", "HS256", "keys", "list"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ES256, PS256 or EdDSA"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_country_database_flag_is_read_and_checked_at_start() {
    let dir = data_dir("geoip");
    let (output, _) = gatehouse(
        &dir,
        &["--geoip-db", "/nonexistent/country.mmdb", "keys", "list"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read the country database /nonexistent/country.mmdb"),
        "{stderr}"
    );
    // The npm registry's GeoLite2 build (installed by .ci/run) opens.
    let db = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../tests/geoip/node_modules/@ip-location-db/geolite2-country-mmdb/geolite2-country.mmdb",
    );
    if db.exists() {
        let db = db.to_string_lossy().to_string();
        ok(
            &dir,
            &[
                "--geoip-db",
                &db,
                "--geoip-loopback-as",
                "8.8.8.8",
                "keys",
                "list",
            ],
        );
    } else if std::env::var("GATEHOUSE_REQUIRE_GEOIP").as_deref() == Ok("1") {
        panic!("GATEHOUSE_REQUIRE_GEOIP=1 but {} is missing", db.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_identity_provider_flag_is_checked_at_start() {
    let dir = data_dir("staff-idp");
    // A provider without a role mapping would let nobody in: refused, saying why.
    let (output, _) = gatehouse(
        &dir,
        &[
            "--staff-idp",
            "id=corp;issuer=https://login.bank.example/;client-id=gatehouse;secret=s",
            "keys",
            "list",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--staff-idp: at least one role."),
        "{stderr}"
    );
    // Passwords off with no provider would lock every bank staff member out.
    let (output, _) = gatehouse(&dir, &["--local-staff-passwords=false", "keys", "list"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs at least one --staff-idp"),
        "{stderr}"
    );
    // A complete one starts (discovery waits for the first sign-in).
    ok(
        &dir,
        &[
            "--staff-idp",
            "id=corp;issuer=https://login.bank.example/;client-id=gatehouse;secret=s;role.reviewer=gh-reviewers",
            "--local-staff-passwords=false",
            "--staff-session-hours",
            "4",
            "keys",
            "list",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What `gatehouse --data-dir <dir> <args>` shows on a terminal: util-linux
/// `script` runs it on a pseudo-terminal and records everything drawn.
fn on_terminal(dir: &Path, args: &str) -> String {
    let terminal = Command::new("script")
        .args([
            "-qec",
            &format!("{BIN} --data-dir {} {args}", dir.display()),
            "/dev/null",
        ])
        .output()
        .expect("util-linux script");
    let seen = String::from_utf8_lossy(&terminal.stdout).into_owned();
    assert!(terminal.status.success(), "{seen}");
    seen
}

/// The long commands show progress on a terminal and nothing anywhere else (issue
/// 31): `gatehouse audit verify` piped prints its verdict alone; given a terminal
/// (util-linux `script` runs it on a pseudo-terminal) it also draws its bar.
#[test]
fn audit_verify_draws_its_progress_only_on_a_terminal() {
    let bin = BIN;
    let dir = data_dir("progress");
    let data = dir.to_str().unwrap().to_string();
    // An installation with audit events: a bank user created through the CLI.
    let created = Command::new(bin)
        .args([
            "--data-dir",
            &data,
            "staff",
            "create",
            "--email",
            "rev@bank.example.com",
            "--name",
            "Rev",
            "--role",
            "reviewer",
        ])
        .env("GATEHOUSE_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");

    let piped = Command::new(bin)
        .args(["--data-dir", &data, "audit", "verify"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&piped.stdout);
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(piped.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("audit chain intact"), "{stdout}");
    assert!(
        !stderr.contains("Verifying"),
        "nothing drawn when piped: {stderr:?}"
    );
    assert!(!stdout.contains('\r') && !stderr.contains('\r'));

    let seen = on_terminal(&dir, "audit verify");
    assert!(
        seen.contains("Verifying the audit chain"),
        "the bar on a terminal: {seen:?}"
    );
    assert!(seen.contains("audit chain intact"), "{seen:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
