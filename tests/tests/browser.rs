//! End to end in a real browser: headless Chromium through ChromeDriver, with
//! JavaScript disabled, the way a newcomer signs up. Skipped when ChromeDriver is
//! missing, unless GATEHOUSE_REQUIRE_BROWSER=1 (CI), where it fails instead.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::error::CmdError;
use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::common::{totp_code, Backend, TestServer};

/// A running chromedriver, and this test's turn among the browser tests.
pub(crate) struct Driver {
    child: Child,
    _turn: tokio::sync::SemaphorePermit<'static>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// At most two browser tests at a time, whatever the number of test threads
/// (`RUST_TEST_THREADS`): each drives a Chromium and a server, and four at once on
/// two cores starve each other past their 30-second waits.
static BROWSER_TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

fn find_program(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

pub(crate) async fn start_driver() -> Option<(Driver, String, String)> {
    let driver = find_program(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    let browser = find_program(&[
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]);
    let (Some(driver), Some(browser)) = (driver, browser) else {
        if std::env::var("GATEHOUSE_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("GATEHOUSE_REQUIRE_BROWSER=1 but Chromium or ChromeDriver is not installed");
        }
        eprintln!("skipping: Chromium/ChromeDriver not installed");
        return None;
    };
    let turn = BROWSER_TURNS
        .acquire()
        .await
        .expect("the browser turns are never closed");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // One locale for the browser (it sets the order of a date input's parts).
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .env("LANG", "en_US.UTF-8")
        .env("LANGUAGE", "en_US")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Driver { child, _turn: turn };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some((guard, format!("http://127.0.0.1:{port}"), browser));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

/// Types `value` into the field with `id`, once it is on the page. A native date
/// input is typed as a person would, month, day and year in the US order the test
/// browser's locale shows (`start_driver`), from an ISO `value`, and must then hold
/// that date.
pub(crate) async fn fill(
    browser: &fantoccini::Client,
    id: &str,
    value: &str,
) -> Result<(), CmdError> {
    let field = browser.wait().for_element(Locator::Id(id)).await?;
    if field.attr("type").await?.as_deref() != Some("date") {
        return field.send_keys(value).await;
    }
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 3, "{id}: an ISO date, not {value:?}");
    field
        .send_keys(&format!("{}{}{}", parts[1], parts[2], parts[0]))
        .await?;
    assert_eq!(
        field.prop("value").await?.as_deref(),
        Some(value),
        "the date typed into {id}"
    );
    Ok(())
}

/// Clicks the element `locator` finds, once it is on the page.
pub(crate) async fn click(
    browser: &fantoccini::Client,
    locator: Locator<'_>,
) -> Result<(), CmdError> {
    browser.wait().for_element(locator).await?.click().await?;
    Ok(())
}

/// A headless Chromium session with JavaScript disabled.
pub(crate) async fn open_browser(
    webdriver: &str,
    binary: &str,
    profile: &std::path::Path,
) -> fantoccini::Client {
    open_browser_with(webdriver, binary, profile, false).await
}

/// A headless Chromium session, with or without JavaScript (the accessibility
/// checker needs it; Gatehouse's pages never do).
pub(crate) async fn open_browser_with(
    webdriver: &str,
    binary: &str,
    profile: &std::path::Path,
    javascript: bool,
) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--lang=en-US",
                     format!("--user-data-dir={}", profile.display())],
            "prefs": { "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 } }
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a WebDriver session")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomer_signs_up_verifies_and_enrols_in_a_browser_without_javascript() {
    let Some((_driver, webdriver, browser)) = start_driver().await else {
        return;
    };
    // The process-wide rustls provider (ring), named rather than left to inference.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start(Backend::Sqlite, false).await.unwrap();
    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&webdriver, &browser, profile.path()).await;
    let base = server.base.clone();
    let result = async {
        // An empty form: the error summary, field messages, nothing created.
        browser.goto(&format!("{base}/signup")).await?;
        browser
            .find(Locator::Css("form[action='/signup'] button[type=submit]"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::Css(".error-summary"))
            .await?;
        let page = browser.source().await?;
        assert!(
            page.contains("There is a problem") && page.contains("Enter your full name"),
            "{page}"
        );

        // The real thing.
        for (id, value) in [
            ("legal_name", "Tidewater Analytics Ltd"),
            ("registration_number", "11223344"),
            ("country", "GB"),
            ("website", "https://tidewater.example.com"),
            ("full_name", "Mary Somerville"),
            ("email", "mary@tidewater.example.com"),
            ("password", "tidal ferret oboe lantern"),
        ] {
            let field = browser.find(Locator::Id(id)).await?;
            field.clear().await?;
            field.send_keys(value).await?;
        }
        browser
            .find(Locator::Css("form[action='/signup'] button[type=submit]"))
            .await?
            .click()
            .await?;
        // The same page whether or not the address had an account (no enumeration).
        browser
            .wait()
            .for_element(Locator::Css("main a[href='/signin']"))
            .await?;
        assert!(browser
            .current_url()
            .await?
            .path()
            .ends_with("/signup/sent"));

        // The mailbox has the link; following it confirms the address.
        browser.goto(&format!("{base}/dev/mailbox")).await?;
        browser
            .wait()
            .for_element(Locator::Css(".mail-body a"))
            .await?
            .click()
            .await?;
        browser.wait().for_element(Locator::Css(".notice")).await?;
        assert_eq!(browser.current_url().await?.path(), "/signin");
        assert!(browser
            .source()
            .await?
            .contains("Your e-mail address is confirmed."));
        for (id, value) in [
            ("email", "mary@tidewater.example.com"),
            ("password", "tidal ferret oboe lantern"),
        ] {
            let field = browser.find(Locator::Id(id)).await?;
            field.clear().await?;
            field.send_keys(value).await?;
        }
        browser
            .find(Locator::Css("form[action='/signin'] button[type=submit]"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::LinkText("Set it up now"))
            .await?;
        assert_eq!(browser.current_url().await?.path(), "/dashboard");
        assert!(browser
            .source()
            .await?
            .contains("Welcome, Mary Somerville."));

        // Two-step verification from the dashboard's prompt.
        browser
            .find(Locator::LinkText("Set it up now"))
            .await?
            .click()
            .await?;
        let key = browser
            .wait()
            .for_element(Locator::Id("totp-secret"))
            .await?
            .text()
            .await?
            .replace(' ', "");
        let secret = app::accounts::totp::from_base32(&key).expect("a base32 key");
        browser
            .find(Locator::Id("code"))
            .await?
            .send_keys(&totp_code(&server.state.clock, &secret, 0))
            .await?;
        browser
            .find(Locator::Css(
                "form[action='/account/totp'] button[type=submit]",
            ))
            .await?
            .click()
            .await?;
        let codes = browser
            .wait()
            .for_element(Locator::Id("recovery-codes"))
            .await?
            .text()
            .await?;
        assert_eq!(codes.lines().count(), 10, "{codes}");

        // Sign out with the header button (a POST form with its CSRF token).
        browser
            .find(Locator::Css("form[action='/signout'] button"))
            .await?
            .click()
            .await?;
        browser.wait().for_element(Locator::Css(".cards")).await?;
        assert_eq!(browser.current_url().await?.path(), "/");
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    result.expect("the browser journey");
    let enrolled = server.count("SELECT COUNT(*) FROM users WHERE email = 'mary@tidewater.example.com' AND totp_enabled_at IS NOT NULL").await;
    assert_eq!(enrolled, 1);
}

/// A partner developer registers a sandbox app in the browser, then a test customer
/// consents in the browser and lands on the app's redirect URI (which the consent
/// page's Content-Security-Policy must allow) with a code the oauth2 crate exchanges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn developer_registers_an_app_and_a_customer_consents_in_a_browser() {
    use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope, TokenResponse};

    let Some((_driver, webdriver, binary)) = start_driver().await else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    // The partner's app: a callback page on localhost.
    let callback = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect = format!(
        "http://127.0.0.1:{}/cb",
        callback.local_addr().unwrap().port()
    );
    let app =
        axum::Router::new().route("/cb", axum::routing::get(|| async { "callback received" }));
    tokio::spawn(async move { axum::serve(callback, app).await });

    let profile = tempfile::tempdir().unwrap();
    let browser = open_browser(&webdriver, &binary, profile.path()).await;
    let base = server.base.clone();
    let result = async {
        browser.goto(&format!("{base}/signin")).await?;
        fill(&browser, "email", "dev@acme-budgeting.example.com").await?;
        fill(
            &browser,
            "password",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await?;
        click(
            &browser,
            Locator::Css("form[action='/signin'] button[type=submit]"),
        )
        .await?;
        click(&browser, Locator::LinkText("Your sandbox apps")).await?;
        click(&browser, Locator::LinkText("Register a sandbox app")).await?;
        fill(&browser, "name", "Browser app").await?;
        fill(&browser, "purpose", "Reads balances for budgeting").await?;
        click(&browser, Locator::Id("scope-accounts")).await?;
        fill(&browser, "redirect_uris", &redirect).await?;
        click(
            &browser,
            Locator::Css("#auth_method option[value='client_secret_basic']"),
        )
        .await?;
        click(
            &browser,
            Locator::Css("form[action='/sandbox/apps'] button[type=submit]"),
        )
        .await?;
        let secret = browser
            .wait()
            .for_element(Locator::Id("client-secret"))
            .await?
            .text()
            .await?;
        let client_id = browser.find(Locator::Id("client-id")).await?.text().await?;

        let oauth = crate::sandbox_helpers::oauth_client(&server, &client_id, &secret, &redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = oauth
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("accounts".into()))
            .set_pkce_challenge(challenge)
            .url();
        browser.goto(url.as_str()).await?;
        fill(&browser, "username", "priya.gig").await?;
        fill(&browser, "password", "sandbox-priya-2026").await?;
        click(
            &browser,
            Locator::Css("form[action='/oauth/authorize/signin'] button[type=submit]"),
        )
        .await?;
        let scopes = browser
            .wait()
            .for_element(Locator::Id("consent-scopes"))
            .await?
            .text()
            .await?;
        assert!(scopes.contains("accounts"), "{scopes}");
        click(&browser, Locator::Css("button[value='allow']")).await?;
        let mut at = browser.current_url().await?;
        for _ in 0..50 {
            if at.path() == "/cb" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            at = browser.current_url().await?;
        }
        assert_eq!(
            at.path(),
            "/cb",
            "the browser followed the redirect to the app"
        );
        let pairs: std::collections::HashMap<String, String> =
            at.query_pairs().into_owned().collect();
        assert_eq!(pairs.get("state"), Some(state.secret()));
        let token = oauth
            .exchange_code(AuthorizationCode::new(pairs["code"].clone()))
            .set_pkce_verifier(verifier)
            .request_async(&crate::sandbox_helpers::oauth_http())
            .await
            .expect("the code from the browser exchanges");
        assert!(token.refresh_token().is_some());
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    result.expect("the browser journey");
}
