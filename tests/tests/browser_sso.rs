//! Single sign-on in a real browser (issue 28): Chromium follows "Sign in with Bank
//! SSO" to the provider's own pages (node's oidc-provider), types the username
//! there, and comes back signed in; a bank admin from the provider's admin group
//! reads the SSO page with the configured provider and the staff list; a person in
//! no mapped group sees the refusal page. axe-core checks each of these pages.

use fantoccini::{Client as Browser, Locator};
use serde_json::{json, Value};

use crate::browser::{click, fill, open_browser_with, start_driver};
use crate::browser_onboarding::axe_script;
use crate::common::Backend;
use crate::sso_idp::{person, server_with, Idp};

/// axe-core's serious or critical violations on the page the browser shows.
async fn axe_here(browser: &Browser, axe: &str, label: &str) -> Vec<String> {
    browser.execute(axe, vec![]).await.unwrap();
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations), e => done([{ id: 'axe-error', impact: 'critical', help: String(e) }]));",
            vec![],
        )
        .await
        .unwrap();
    found
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v: Value| format!("{label}: {} ({})", v["id"], v["help"]))
        .collect()
}

/// From Gatehouse's sign-in page through the provider's form, as `username`.
async fn through_the_provider(browser: &Browser, base: &str, username: &str) {
    browser.goto(&format!("{base}/signin")).await.unwrap();
    click(browser, Locator::LinkText("Sign in with Bank SSO"))
        .await
        .unwrap();
    fill(browser, "login", username).await.unwrap();
    click(browser, Locator::Css("button[type=submit]"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_through_the_provider_s_pages() {
    let Some((_driver, webdriver, binary)) = start_driver().await else {
        return;
    };
    let Some(axe) = axe_script() else {
        return;
    };
    let Some(idp) = Idp::start(json!({
        "rita": person("rita@bank.example.com", &["gh-reviewers"], true),
        "ada": person("ada@bank.example.com", &["gh-admins"], true),
        "outsider": person("out@bank.example.com", &["marketing"], true),
    })) else {
        return;
    };
    let server = server_with(Backend::Sqlite, &idp, |_| {}).await.unwrap();
    let base = server.base.clone();
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser_with(&webdriver, &binary, profile.path(), true).await;
    let mut violations = Vec::new();

    // The sign-in page offers the provider.
    browser.goto(&format!("{base}/signin")).await.unwrap();
    violations.extend(axe_here(&browser, &axe, "/signin").await);

    // Rita signs in on the provider's page and lands on her dashboard.
    through_the_provider(&browser, &base, "rita").await;
    browser
        .wait()
        .for_element(Locator::Css(".cards"))
        .await
        .unwrap();
    let who = browser
        .find(Locator::Css(".who"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(who.contains("rita") && who.contains("Reviewer"), "{who}");
    browser.delete_all_cookies().await.unwrap();

    // Ada, from the admins' group, reads the SSO page.
    through_the_provider(&browser, &base, "ada").await;
    browser
        .wait()
        .for_element(Locator::Css(".cards"))
        .await
        .unwrap();
    browser.goto(&format!("{base}/admin/sso")).await.unwrap();
    let table = browser
        .find(Locator::Id("sso-staff"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        table.contains("rita@bank.example.com") && table.contains("ada@bank.example.com"),
        "{table}"
    );
    violations.extend(axe_here(&browser, &axe, "/admin/sso").await);
    browser.delete_all_cookies().await.unwrap();

    // Someone in no mapped group is told why, on a page axe also checks.
    through_the_provider(&browser, &base, "outsider").await;
    let lead = browser
        .wait()
        .for_element(Locator::Css("p.lead"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(lead.contains("None of your groups"), "{lead}");
    violations.extend(axe_here(&browser, &axe, "sign-in refused").await);
    let _ = browser.close().await;
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
