//! The sandbox docs run as written (issue 34): the page's shell sequences, copied
//! from the page a signed-in developer sees, run in bash against the server. They
//! carry the reader's own app (never another organisation's), anonymous readers see
//! placeholders, a mistyped path's 404 reaches the app's request log, and the app's
//! page says what it still needs for production with the next call to make.

use std::process::Command;

use reqwest::StatusCode;

use crate::both;
use crate::common::TestServer;
use crate::oauth::query;
use crate::sandbox_api::customer_approves;

/// The text of the element with `id` (a code block, a paragraph), as a reader would
/// copy it: `element_text` with the page's escapes undone.
pub(crate) fn block(html: &str, id: &str) -> String {
    crate::common::element_text(html, id)
        .unwrap_or_else(|| panic!("no element {id}"))
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Runs `script` in bash (stopping at the first failure); its standard output.
pub(crate) fn bash(script: &str) -> String {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script}\n--- stdout\n{stdout}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The line of `out` that starts with `prefix`, without it.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {out}"))
}

/// The customer authorises at the printed address; the code it brings back.
async fn authorised(server: &TestServer, out: &str) -> String {
    let url = format!(
        "{}/oauth/authorize{}",
        server.base,
        line(out, &format!("{}/oauth/authorize", server.base))
    );
    let back = customer_approves(server, &url, ("mia.salaried", "sandbox-mia-2026"), Some(0)).await;
    query(&back, "code").unwrap_or_else(|| panic!("no code in {back}"))
}

async fn the_docs_sequences_run_as_written_with_the_readers_app(server: TestServer) {
    let (status, html) = server.client().text("/sandbox/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(block(&html, "seq-setup").contains("export CLIENT_ID=YOUR_CLIENT_ID"));
    assert!(html.contains("at least 3 successful calls in the last 30 days"));

    // Acme's developer: their own (demo) app, its well-known secret in a demo.
    let developer = server.demo_partner().await;
    let (_, html) = developer.text("/sandbox/docs").await;
    let setup = block(&html, "seq-setup");
    assert!(
        setup.contains(&format!("export GATEHOUSE={}", server.base)),
        "{setup}"
    );
    assert!(
        setup.contains("export CLIENT_ID=cli_demo_acme_sandbox"),
        "{setup}"
    );
    let out = bash(&format!("{setup}\n{}", block(&html, "seq-reference")));
    assert!(
        out.contains("\"Data\"") && !out.contains("\"Errors\""),
        "{out}"
    );

    // Accounts: the consent, the customer's authorisation, the exchange, the accounts.
    let out = bash(&format!(
        "{setup}\n{}\necho \"VERIFIER=$VERIFIER\"",
        block(&html, "seq-accounts-consent")
    ));
    let verifier = line(&out, "VERIFIER=").to_string();
    let code = authorised(&server, &out).await;
    let exchange =
        block(&html, "seq-accounts-exchange").replace("CODE='…'", &format!("CODE='{code}'"));
    let out = bash(&format!("{setup}\nVERIFIER={verifier}\n{exchange}"));
    assert!(out.contains("\"AccountId\""), "{out}");

    // A payment the same way.
    let out = bash(&format!(
        "{setup}\n{}\necho \"VERIFIER=$VERIFIER\"\necho \"PAYMENT_CONSENT=$PAYMENT_CONSENT\"",
        block(&html, "seq-payment-consent")
    ));
    let verifier = line(&out, "VERIFIER=").to_string();
    let consent = line(&out, "PAYMENT_CONSENT=").to_string();
    let code = authorised(&server, &out).await;
    let dir = tempfile::tempdir().unwrap();
    let exchange =
        block(&html, "seq-payment-exchange").replace("CODE='…'", &format!("CODE='{code}'"));
    let payment = line(&block(&html, "seq-payment-consent"), "PAYMENT=").to_string();
    let out = bash(&format!(
        "cd {}\n{setup}\nVERIFIER={verifier}\nPAYMENT_CONSENT={consent}\nPAYMENT={payment}\n{exchange}",
        dir.path().display()
    ));
    assert!(out.contains("\"DomesticPaymentId\""), "{out}");

    // A mistyped path with the app's token: a 404 in the app's request log.
    let app_id: String =
        sqlx::query_scalar("SELECT id FROM apps WHERE client_id = 'cli_demo_acme_sandbox'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let reference =
        block(&html, "seq-reference").replace("/reference/branches", "/reference/branchez");
    let out = bash(&format!(
        "{setup}\n{reference} -o /dev/null -w '%{{http_code}}'"
    ));
    assert_eq!(out.trim(), "404");
    // The log is written in batches: wait for the row itself.
    let mut found = 0_i64;
    for _ in 0..200 {
        found = sqlx::query_scalar(
            "SELECT COUNT(*) FROM request_log WHERE app_id = $1 AND endpoint LIKE '%/reference/branchez' AND status = 404",
        )
        .bind(&app_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
        if found > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(found, 1, "the 404 is logged once");
    let (_, log) = developer.text(&format!("/sandbox/apps/{app_id}/log")).await;
    assert!(log.contains("/reference/branchez"), "the 404 is in the log");

    // The app's page: readiness for its own scopes, with the next call where missing.
    let (_, page) = developer.text(&format!("/sandbox/apps/{app_id}")).await;
    assert!(page.contains("id=\"app-readiness\""), "{page}");
    assert!(
        page.contains(&format!("/sandbox/docs?app={app_id}")),
        "{page}"
    );

    // Fjord's admin sees Fjord's app in the examples, never Acme's.
    let fjord = server
        .demo_staff("admin@fjord-analytics.example.com", 0)
        .await;
    let (_, html) = fjord.text("/sandbox/docs").await;
    let setup = block(&html, "seq-setup");
    assert!(
        !setup.contains("cli_demo_acme_sandbox") && !setup.contains("YOUR_CLIENT_ID"),
        "{setup}"
    );
    assert!(!setup.contains("demo-sandbox-secret"), "{setup}");
    let (_, html) = fjord.text(&format!("/sandbox/docs?app={app_id}")).await;
    assert!(
        !block(&html, "seq-setup").contains("cli_demo_acme_sandbox"),
        "another organisation's app"
    );
}
both!(the_docs_sequences_run_as_written_with_the_readers_app, demo);
