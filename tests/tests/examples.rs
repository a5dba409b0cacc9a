//! The partner examples in `examples/` run as written (issue 34), against a started
//! server: a key pair made as the examples' README says, its public half registered
//! as PEM through the portal, the private half in a PKCS #8 file the examples read.
//! Client credentials with private_key_jwt and DPoP; a customer's accounts through
//! PAR and PKCE; a domestic payment. The customer's part is played by the test.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
use serde_json::Value;

use crate::common::{Backend, TestServer};
use crate::sandbox_api::{customer_approves, BASE};
use crate::sandbox_helpers::{app_fields, pem, register_app, user_id, DEMO_REDIRECT};

/// `dir` (from `tests/`) when its node packages are installed and node runs; a
/// failure when CI requires them (`GATEHOUSE_REQUIRE_INTEROP`), else a skip.
pub(crate) fn node_dir(dir: &str) -> Option<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    if dir.join("node_modules/openid-client").is_dir()
        && Command::new("node").arg("--version").output().is_ok()
    {
        return Some(dir);
    }
    assert!(
        std::env::var("GATEHOUSE_REQUIRE_INTEROP").is_err(),
        "openid-client is not installed: run npm ci --prefix {}",
        dir.display()
    );
    eprintln!("skipping: run npm ci --prefix {}", dir.display());
    None
}

/// Runs the node script `dir/script`; when it prints `{"authorize": url}` a test
/// customer approves (pushed requests only) and the address the browser returns to
/// goes to its standard input; its `result`.
pub(crate) async fn run(
    server: &TestServer,
    dir: &std::path::Path,
    script: &str,
    env: &[(&str, String)],
) -> Value {
    let mut child = Command::new("node")
        .arg(dir.join(script))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let (mut reader, first) = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        (reader, line)
    })
    .await
    .unwrap();
    let mut answer: Value =
        serde_json::from_str(&first).unwrap_or_else(|_| panic!("{script} printed {first:?}"));
    if let Some(url) = answer["authorize"].as_str() {
        assert!(
            url.contains("request_uri="),
            "{script} pushes its request (PAR): {url}"
        );
        let back =
            customer_approves(server, url, ("mia.salaried", "sandbox-mia-2026"), Some(0)).await;
        writeln!(stdin, "{back}").unwrap();
        let last = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            line
        })
        .await
        .unwrap();
        answer =
            serde_json::from_str(&last).unwrap_or_else(|_| panic!("{script} printed {last:?}"));
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{script}: {answer}");
    answer["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_run_against_a_started_server() {
    let Some(dir) = node_dir("../examples") else {
        return;
    };
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let public = pem(
        "PUBLIC KEY",
        secret.public_key().to_public_key_der().unwrap().as_bytes(),
    );
    let mut fields = app_fields("Examples", &owner, "private_key_jwt", &public);
    fields.push(("scopes", "payments"));
    let (_, client_id, _) = register_app(&developer, &fields).await;
    let keys = tempfile::tempdir().unwrap();
    let private = keys.path().join("private.pem");
    std::fs::write(
        &private,
        pem("PRIVATE KEY", secret.to_pkcs8_der().unwrap().as_bytes()),
    )
    .unwrap();
    let env = [
        ("GATEHOUSE_ISSUER", server.base.clone()),
        ("GATEHOUSE_API", format!("{}{BASE}", server.base)),
        ("GATEHOUSE_CLIENT_ID", client_id),
        ("GATEHOUSE_PRIVATE_KEY", private.display().to_string()),
        ("GATEHOUSE_REDIRECT_URI", DEMO_REDIRECT.to_string()),
    ];

    let result = run(&server, &dir, "client-credentials.mjs", &env).await;
    assert_eq!(result["token_type"], "dpop", "{result}");
    assert!(result["branches"].as_u64().unwrap() >= 1, "{result}");

    let result = run(&server, &dir, "accounts.mjs", &env).await;
    assert_eq!(result["token_type"], "dpop", "{result}");
    assert_eq!(result["accounts"], 1, "one account chosen: {result}");
    assert!(result["balances"].as_u64().unwrap() >= 1, "{result}");

    let result = run(&server, &dir, "payment.mjs", &env).await;
    assert!(
        result["status"].as_str().unwrap().starts_with("Accepted"),
        "{result}"
    );
}
