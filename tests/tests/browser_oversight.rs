//! Oversight and webhooks in headless Chromium with JavaScript disabled (issue 17):
//! a partner developer opens an app's usage and sees the charts; a bank admin
//! acknowledges the demo's open alert and suspends the client from it; a partner
//! admin registers a webhook endpoint and sees its secret once. axe-core then checks
//! the pages of the three roles.

use fantoccini::error::CmdError;
use fantoccini::Locator;

use crate::browser::{click, fill, open_browser, start_driver};
use crate::browser_onboarding::{check_accessibility, sign_in, wait_text};
use crate::common::{totp_code, Backend, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_sees_charts_and_bank_acknowledges_and_suspends_in_a_browser() {
    let Some((_driver, webdriver, binary)) = start_driver().await else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let demo_app: String = sqlx::query_scalar("SELECT id FROM apps WHERE client_id = $1")
        .bind(app::accounts::bootstrap::DEMO_CLIENT_ID)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let (alert, alert_app): (String, String) = sqlx::query_as(
        "SELECT id, app_id FROM alerts WHERE state = 'open' AND rule = 'enumeration'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let partner_profile = tempfile::tempdir().unwrap();
    let bank_profile = tempfile::tempdir().unwrap();
    let partner = open_browser(&webdriver, &binary, partner_profile.path()).await;
    let bank = open_browser(&webdriver, &binary, bank_profile.path()).await;
    let base = server.base.clone();
    let result = async {
        // The developer: the app's page, "Usage", the last 30 days.
        sign_in(
            &server,
            &partner,
            &base,
            "dev@acme-budgeting.example.com",
            None,
        )
        .await?;
        partner
            .goto(&format!("{base}/sandbox/apps/{demo_app}"))
            .await?;
        click(&partner, Locator::LinkText("Usage")).await?;
        click(&partner, Locator::LinkText("30 days")).await?;
        let charts = partner.find_all(Locator::Css("svg[role=img]")).await?;
        assert!(
            charts.len() >= 3,
            "calls, latency and endpoints charts: {}",
            charts.len()
        );
        let title = partner
            .find(Locator::Css("svg[role=img] title"))
            .await?
            .html(true)
            .await?;
        assert!(title.contains("Calls and errors"), "{title}");
        let calls: i64 = partner
            .find(Locator::Id("usage-calls"))
            .await?
            .text()
            .await?
            .replace(',', "")
            .parse()
            .unwrap_or(0);
        assert!(calls > 0, "the demo's history is on the chart");

        // The bank admin: Alerts, the open enumeration alert, acknowledge, suspend.
        sign_in(&server, &bank, &base, "admin@bank.example.com", Some(0)).await?;
        click(&bank, Locator::LinkText("Alerts")).await?;
        bank.goto(&format!("{base}/alerts/{alert}")).await?;
        click(
            &bank,
            Locator::Css("form[action$='/acknowledge'] button[type=submit]"),
        )
        .await?;
        wait_text(&bank, ".notice", "Alert acknowledged").await?;
        fill(&bank, "reason", "Enumeration of foreign ids from the alert").await?;
        click(
            &bank,
            Locator::Css("form[action$='/suspend'] button[type=submit]"),
        )
        .await?;
        wait_text(&bank, ".notice", "The client is suspended").await?;
        Ok::<_, CmdError>(())
    }
    .await;
    let _ = partner.close().await;
    let _ = bank.close().await;
    result.expect("the browser journey");
    let (state, suspension): (String, Option<String>) =
        sqlx::query_as("SELECT state, suspension_id FROM alerts WHERE id = $1")
            .bind(&alert)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(state, "acknowledged");
    let suspension = suspension.expect("the alert names its suspension");
    let target: String = sqlx::query_scalar("SELECT target FROM suspensions WHERE id = $1")
        .bind(&suspension)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(target, alert_app);

    let endpoint: String =
        sqlx::query_scalar("SELECT id FROM webhook_endpoints ORDER BY created_at LIMIT 1")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    check_accessibility(
        &server,
        &webdriver,
        &binary,
        vec![
            (
                "dev@acme-budgeting.example.com",
                None,
                vec![format!("/usage/apps/{demo_app}?range=30d")],
            ),
            (
                "admin@acme-budgeting.example.com",
                None,
                vec!["/webhooks".into(), format!("/webhooks/{endpoint}")],
            ),
            (
                "admin@bank.example.com",
                Some(totp_code(&server.state.clock, &secret, 1)),
                vec![
                    "/oversight".into(),
                    "/alerts".into(),
                    format!("/alerts/{alert}"),
                    "/alerts/rules".into(),
                    format!("/oversight/clients/{alert_app}?range=7d"),
                ],
            ),
        ],
    )
    .await;
}
