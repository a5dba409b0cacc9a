//! Onboarding in headless Chromium with JavaScript disabled, as steps of the new
//! partner's journey (`browser_first_hour`): a partner admin completes the Tier 2
//! wizard with uploads, a reviewer approves. Sign-in helpers and the accessibility
//! check (axe-core, in a JavaScript-enabled session) for every browser test.

use fantoccini::error::CmdError;
use fantoccini::{Client as Browser, Locator};
use serde_json::Value;

use crate::browser::{click, fill, open_browser_with};
use crate::common::{totp_code, TestServer};
use crate::onboarding::date;

/// Signs in; bank staff also give the demo TOTP code `staff` steps ahead (a code is
/// single-use, so a second sign-in in the same 30 seconds takes the next one).
pub(crate) async fn sign_in(
    server: &TestServer,
    browser: &Browser,
    base: &str,
    email: &str,
    staff: Option<i64>,
) -> Result<(), CmdError> {
    // A code a step behind is accepted only while that step is the previous one: not
    // in the last seconds of the current step, which a browser's sign-in outlasts.
    while staff.is_some_and(|offset| offset < 0) && server.state.clock.now() % 30 >= 24 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let code = staff.map(|offset| {
        let secret = app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET)
            .expect("the demo secret");
        totp_code(&server.state.clock, &secret, offset)
    });
    sign_in_with(browser, base, email, code).await
}

/// Signs in with the demo password and, when asked for one, `code`.
pub(crate) async fn sign_in_with(
    browser: &Browser,
    base: &str,
    email: &str,
    code: Option<String>,
) -> Result<(), CmdError> {
    browser.goto(&format!("{base}/signin")).await?;
    fill(browser, "email", email).await?;
    fill(browser, "password", app::accounts::bootstrap::DEMO_PASSWORD).await?;
    click(
        browser,
        Locator::Css("form[action='/signin'] button[type=submit]"),
    )
    .await?;
    if let Some(code) = code {
        fill(browser, "code", &code).await?;
        click(
            browser,
            Locator::Css("form[action='/signin/code'] button[type=submit]"),
        )
        .await?;
    }
    browser.wait().for_element(Locator::Css(".cards")).await?;
    Ok(())
}

pub(crate) async fn sign_out(browser: &Browser) -> Result<(), CmdError> {
    click(browser, Locator::Css("form[action='/signout'] button")).await?;
    browser
        .wait()
        .for_element(Locator::LinkText("Sign in"))
        .await?;
    Ok(())
}

/// Fills text inputs and clicks radios (by id), then "Save and continue".
async fn step(
    browser: &Browser,
    task: &str,
    texts: &[(&str, &str)],
    radios: &[&str],
) -> Result<(), CmdError> {
    let list = browser.current_url().await?;
    click(browser, Locator::LinkText(task)).await?;
    let section = browser.current_url().await?;
    for (id, value) in texts {
        fill(browser, id, value).await?;
    }
    for id in radios {
        click(browser, Locator::Id(id)).await?;
    }
    click(browser, Locator::Css("button[value='continue']")).await?;
    // "Save and continue" leads on (the next section still to do, or the task list
    // after the last); the walk goes back to the task list for its next task.
    for _ in 0..100 {
        if browser.current_url().await? != section {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(
        browser.current_url().await?,
        section,
        "{task} was saved and left"
    );
    browser.goto(list.as_str()).await?;
    browser.wait().for_element(Locator::Id("tasks")).await?;
    Ok(())
}

/// Waits until the element `css` finds contains `needle` (the page may still be
/// changing under the previous one), and returns its text.
pub(crate) async fn wait_text(
    browser: &Browser,
    css: &str,
    needle: &str,
) -> Result<String, CmdError> {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if text.contains(needle) {
                    return Ok(text);
                }
                last = text;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css} never contained {needle:?}; last seen: {last:?}");
}

async fn status_of(browser: &Browser, slug: &str) -> Result<String, CmdError> {
    browser
        .find(Locator::Id(&format!("task-{slug}-status")))
        .await?
        .text()
        .await
}

/// A signed-in partner admin completes the Tier 2 wizard: the five sections, three
/// documents uploaded through the plain multipart form, then submits. The paths it
/// visited (for the accessibility check).
pub(crate) async fn complete_tier_2(
    browser: &Browser,
    pdf: &std::path::Path,
    accept_code: &str,
) -> Result<Vec<String>, CmdError> {
    let mut pages = Vec::new();
    click(browser, Locator::LinkText("Onboarding")).await?;
    click(browser, Locator::Id("tier-2")).await?;
    click(
        browser,
        Locator::Css("form[action='/onboarding/start'] button"),
    )
    .await?;
    browser.wait().for_element(Locator::Id("tasks")).await?;
    pages.push(browser.current_url().await?.path().to_string());
    assert_eq!(status_of(browser, "profile").await?, "Not started");

    step(
        browser,
        "Organisation profile",
        &[
            ("trading_name", "Tidewater"),
            ("registered_address", "1 Synthetic Street, London QQ1 1QQ"),
            ("employees", "25"),
        ],
        &["company_type"],
    )
    .await?;
    assert_eq!(status_of(browser, "profile").await?, "Completed");
    step(
        browser,
        "Use case",
        &[
            ("objective", "Budgeting for households."),
            ("data_elements", "Balances and transactions."),
            ("licence_number", "FRN123456"),
            ("retention_days", "90"),
        ],
        &["permission-1"],
    )
    .await?;
    step(
        browser,
        "Security questionnaire",
        &[
            ("security_owner", "Grace Hopper, CISO"),
            ("risk_assessment_date", "2026-03-31"),
            ("subprocessors", "none"),
            ("incidents_12m", "0"),
        ],
        &[
            "infosec_policy",
            "mfa_staff",
            "access_reviews",
            "encryption_at_rest",
            "data_location",
            "secrets_storage",
        ],
    )
    .await?;
    step(
        browser,
        "Technical contacts",
        &[
            ("security_name", "Grace Hopper"),
            ("security_email", "security@example.com"),
            ("incident_name", "Alan Turing"),
            ("incident_email", "incidents@example.com"),
            ("incident_phone", "020 7946 0000"),
        ],
        &[],
    )
    .await?;
    step(
        browser,
        "Declaration",
        &[
            ("signatory_name", "Ada Lovelace"),
            ("signatory_role", "Director"),
        ],
        &["accurate"],
    )
    .await?;

    // Evidence: three uploads through the plain multipart form.
    click(browser, Locator::LinkText("Evidence")).await?;
    pages.push(browser.current_url().await?.path().to_string());
    for (uploaded, kind) in ["pen_test", "iso27001_soc2", "incident_response_plan"]
        .into_iter()
        .enumerate()
    {
        click(
            browser,
            Locator::Css(&format!("#kind option[value='{kind}']")),
        )
        .await?;
        fill(browser, "issued_on", &date(-30)).await?;
        fill(browser, "expires_on", &date(365)).await?;
        browser
            .find(Locator::Id("file"))
            .await?
            .send_keys(&pdf.display().to_string())
            .await?;
        click(
            browser,
            Locator::Css("form[enctype='multipart/form-data'] button[type=submit]"),
        )
        .await?;
        wait_text(browser, ".notice", "Document uploaded.").await?;
        // The new page lists one more document.
        let mut rows = 0;
        for _ in 0..50 {
            rows = browser
                .find_all(Locator::Css("#evidence tbody tr"))
                .await?
                .len();
            if rows == uploaded + 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(rows, uploaded + 1, "after uploading {kind}");
    }
    let table = browser.find(Locator::Id("evidence")).await?.text().await?;
    for label in [
        "Penetration test summary",
        "ISO 27001 certificate or SOC 2 report",
        "Incident-response plan",
    ] {
        assert!(table.contains(label), "{label} in {table}");
    }
    click(browser, Locator::LinkText("Back to the task list")).await?;
    assert_eq!(status_of(browser, "evidence").await?, "Completed");
    // The tier's sandbox terms, accepted by the signatory (a code from their
    // authenticator app) before the application can go.
    let tasks = browser.current_url().await?;
    accept_agreement(browser, "Sandbox API terms, Tier 2 v1", accept_code).await?;
    pages.push("/agreements".into());
    browser.goto(tasks.as_str()).await?;
    click(browser, Locator::Css("form[action$='/submit'] button")).await?;
    wait_text(browser, ".notice", "Application submitted (round 1).").await?;
    pages.push(format!("{}/steps/questionnaire", pages[0]));
    Ok(pages)
}

/// A signed-in partner admin opens the agreement `name` from the Agreements page and
/// accepts it with `code`.
pub(crate) async fn accept_agreement(
    browser: &Browser,
    name: &str,
    code: &str,
) -> Result<(), CmdError> {
    click(browser, Locator::LinkText("Agreements")).await?;
    click(browser, Locator::LinkText(name)).await?;
    let text = browser
        .find(Locator::Id("agreement-text"))
        .await?
        .text()
        .await?;
    assert!(!text.is_empty(), "the agreement's text is on the page");
    fill(browser, "code", code).await?;
    click(browser, Locator::Css("form[action$='/accept'] button")).await?;
    wait_text(browser, ".notice", "is recorded as accepted").await?;
    Ok(())
}

/// A signed-in reviewer finds `organisation`'s application in the queue, reads the
/// evidence and approves; the dossier's path.
pub(crate) async fn reviewer_approves_application(
    browser: &Browser,
    organisation: &str,
) -> Result<String, CmdError> {
    click(browser, Locator::LinkText("Review queue")).await?;
    click(browser, Locator::LinkText(organisation)).await?;
    let dossier = browser.current_url().await?.path().to_string();
    let evidence = browser
        .find(Locator::Id("dossier-evidence"))
        .await?
        .text()
        .await?;
    assert!(evidence.contains("Penetration test summary"), "{evidence}");
    click(browser, Locator::Id("decision")).await?;
    fill(browser, "text", "Complete and current.").await?;
    click(
        browser,
        Locator::Css("form[action$='/decision'] button[type=submit]"),
    )
    .await?;
    wait_text(browser, ".notice", "Approved.").await?;
    Ok(dossier)
}

/// axe-core's script, installed by `.ci/run` from the npm registry.
pub(crate) fn axe_script() -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("axe/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(script) => Some(script),
        Err(_) if std::env::var("GATEHOUSE_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("GATEHOUSE_REQUIRE_BROWSER=1 but axe-core is not installed: npm ci --prefix tests/axe")
        }
        Err(_) => {
            eprintln!("skipping the accessibility check: axe-core not installed (npm ci --prefix tests/axe)");
            None
        }
    }
}

/// Signs in as each (e-mail, TOTP code if asked) and runs axe-core on its paths;
/// fails on any serious or critical violation.
pub(crate) async fn check_accessibility(
    server: &TestServer,
    webdriver: &str,
    binary: &str,
    sessions: Vec<(&str, Option<String>, Vec<String>)>,
) {
    check_pages(server, webdriver, binary, sessions, None).await;
}

/// As `check_accessibility`; with a `width`, each page is checked that wide and must
/// also not scroll sideways there (`browser_console::MEASURE`).
pub(crate) async fn check_pages(
    server: &TestServer,
    webdriver: &str,
    binary: &str,
    sessions: Vec<(&str, Option<String>, Vec<String>)>,
    width: Option<u32>,
) {
    let Some(axe) = axe_script() else {
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser_with(webdriver, binary, profile.path(), true).await;
    let base = server.base.clone();
    let result = async {
        let mut violations = Vec::new();
        if let Some(width) = width {
            browser.set_window_size(width, 844).await?;
        }
        for (email, code, mut paths) in sessions {
            sign_in_with(&browser, &base, email, code).await?;
            paths.dedup();
            for path in &paths {
                browser.goto(&format!("{base}{path}")).await?;
                if let Some(width) = width {
                    let found = browser.execute(crate::browser_console::MEASURE, vec![]).await?;
                    for problem in found.as_array().cloned().unwrap_or_default() {
                        violations.push(format!("{path} at {width}px: {}", problem.as_str().unwrap_or_default()));
                    }
                }
                browser.execute(&axe, vec![]).await?;
                let result = browser
                    .execute_async(
                        "const done = arguments[arguments.length - 1];
                         axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations), e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
                        vec![],
                    )
                    .await?;
                for violation in result.as_array().cloned().unwrap_or_default() {
                    let impact = violation["impact"].as_str().unwrap_or("");
                    if impact == "serious" || impact == "critical" {
                        let targets: Vec<Value> = violation["nodes"]
                            .as_array()
                            .map(|nodes| nodes.iter().map(|n| n["target"].clone()).collect())
                            .unwrap_or_default();
                        violations.push(format!("{path}: {} ({impact}): {} at {targets:?}", violation["id"], violation["help"]));
                    }
                }
            }
            sign_out(&browser).await?;
        }
        Ok::<_, CmdError>(violations)
    }
    .await;
    let _ = browser.close().await;
    let violations = result.expect("the accessibility run");
    assert!(
        violations.is_empty(),
        "accessibility violations:\n{}",
        violations.join("\n")
    );
}
