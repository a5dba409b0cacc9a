//! axe-core over every page of every role (issue 19 item 19): each demo user, and a
//! visitor who is not signed in, starts from their home page and follows every link
//! the pages show them (same origin, GET), so a page nobody thought to list is still
//! checked. Any serious or critical violation fails the test. A screenshot of each
//! role's main pages is written under `target/tmp/screenshots/` so that a regression
//! can be seen, and the paths are printed.

use std::collections::{BTreeSet, VecDeque};

use fantoccini::error::CmdError;
use serde_json::Value;

use crate::browser::{open_browser_with, start_driver};
use crate::browser_onboarding::{axe_script, sign_in_with, sign_out};
use crate::common::{totp_code, Backend, TestServer};

/// Pages checked per role at most (the demo shows each role far fewer).
const MAX_PAGES: usize = 60;
/// Screenshots per role.
const MAX_SHOTS: usize = 12;

/// Links not to follow: downloads, one-time links, and flows that leave the portal.
fn skipped(path: &str) -> bool {
    [
        "export",
        "/report.",
        "download",
        "/static/",
        "token=",
        "/oauth/",
        "/file",
        "format=",
        "/.well-known/",
        "/sandbox/open-banking/",
        "/healthz",
        "/readyz",
        "/metrics",
    ]
    .iter()
    .any(|p| path.contains(p))
}

pub(crate) fn slug(path: &str) -> String {
    let s: String = path
        .trim_start_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if s.is_empty() {
        "home".into()
    } else {
        s
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_every_role_passes_axe() {
    let Some((_driver, webdriver, binary)) = start_driver().await else {
        return;
    };
    let Some(axe) = axe_script() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let secret = app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET)
        .expect("the demo secret");
    // Whether each role signs in with a second factor; the code is made just before
    // its sign-in (the crawl of the roles before it takes longer than a code lives).
    let mut roles: Vec<(String, bool)> = vec![("visitor".into(), false)];
    for account in app::accounts::bootstrap::DEMO_ACCOUNTS {
        roles.push((account.email.to_string(), account.totp));
    }
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser_with(&webdriver, &binary, profile.path(), true).await;
    // Tall enough that a screenshot shows most of a page.
    browser
        .set_window_size(1280, 1800)
        .await
        .expect("a window size");
    let base = server.base.clone();
    let result = async {
        let mut violations = Vec::new();
        let mut checked = 0;
        for (role, totp) in &roles {
            let start = if role == "visitor" {
                "/".to_string()
            } else {
                let code = totp.then(|| totp_code(&server.state.clock, &secret, 0));
                sign_in_with(&browser, &base, role, code).await?;
                "/dashboard".to_string()
            };
            let mut queue = VecDeque::from([start]);
            let mut seen = BTreeSet::new();
            let mut shot = 0;
            while let Some(path) = queue.pop_front() {
                if !seen.insert(path.clone()) || seen.len() > MAX_PAGES {
                    continue;
                }
                browser.goto(&format!("{base}{path}")).await?;
                let here = browser.current_url().await?;
                let at = format!(
                    "{}{}",
                    here.path(),
                    here.query().map(|q| format!("?{q}")).unwrap_or_default()
                );
                if !here.as_str().starts_with(&base) || skipped(&at) {
                    continue;
                }
                browser.execute(&axe, vec![]).await?;
                let found = browser
                    .execute_async(
                        "const done = arguments[arguments.length - 1];
                         axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations), e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
                        vec![],
                    )
                    .await?;
                checked += 1;
                for violation in found.as_array().cloned().unwrap_or_default() {
                    let impact = violation["impact"].as_str().unwrap_or("");
                    if impact == "serious" || impact == "critical" {
                        let targets: Vec<Value> = violation["nodes"]
                            .as_array()
                            .map(|nodes| nodes.iter().map(|n| n["target"].clone()).collect())
                            .unwrap_or_default();
                        violations.push(format!(
                            "{role} {at}: {} ({impact}): {} at {targets:?}",
                            violation["id"], violation["help"]
                        ));
                    }
                }
                if shot < MAX_SHOTS && !at.contains('?') {
                    let png = browser.screenshot().await?;
                    let file = shots.join(format!("{}-{}.png", slug(role), slug(&at)));
                    std::fs::write(&file, png).unwrap();
                    shot += 1;
                }
                // The mailbox's links are one-time links: read, never followed.
                if at.starts_with("/dev/mailbox") {
                    continue;
                }
                let links = browser
                    .execute(
                        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);",
                        vec![],
                    )
                    .await?;
                for link in links.as_array().cloned().unwrap_or_default() {
                    let Some(link) = link.as_str() else { continue };
                    let Some(rest) = link.strip_prefix(&base) else { continue };
                    let rest = rest.split('#').next().unwrap_or_default();
                    if rest.starts_with('/') && !skipped(rest) && !seen.contains(rest) {
                        queue.push_back(rest.to_string());
                    }
                }
            }
            if role != "visitor" {
                // The crawl may end on a page that is not the role's (a 403, a
                // public page): sign out from the dashboard.
                browser.goto(&format!("{base}/dashboard")).await?;
                sign_out(&browser).await?;
            }
        }
        Ok::<_, CmdError>((violations, checked))
    }
    .await;
    let _ = browser.close().await;
    let (violations, checked) = result.expect("the accessibility crawl");
    eprintln!(
        "axe-core checked {checked} pages for {} roles; screenshots in {}",
        roles.len(),
        shots.display()
    );
    assert!(checked >= 40, "the crawl reached only {checked} pages");
    assert!(
        violations.is_empty(),
        "accessibility violations:\n{}",
        violations.join("\n")
    );
}
