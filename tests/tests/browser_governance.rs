//! Governance in headless Chromium with JavaScript disabled: the bank's reviewer
//! filters the inventory to what expires within 30 days and exports it; the partner
//! admin rotates a production credential. axe-core then checks every governance page
//! of both roles.

use fantoccini::error::CmdError;
use fantoccini::Locator;

use crate::browser::{click, fill, open_browser, start_driver};
use crate::browser_onboarding::{check_accessibility, sign_in, wait_text};
use crate::common::{totp_code, Backend, TestServer};

const FJORD: &str = "admin@fjord-analytics.example.com";
const REVIEWER: &str = "reviewer@bank.example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bank_filters_and_exports_the_inventory_and_a_partner_rotates_in_a_browser() {
    let Some((_driver, webdriver, binary)) = start_driver().await else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let insights: String = sqlx::query_scalar("SELECT id FROM apps WHERE name = 'Fjord insights'")
        .fetch_one(server.pool())
        .await
        .unwrap();
    let credentials_before = server.count("SELECT COUNT(*) FROM credentials").await;
    let reviewer_profile = tempfile::tempdir().unwrap();
    let partner_profile = tempfile::tempdir().unwrap();
    let reviewer = open_browser(&webdriver, &binary, reviewer_profile.path()).await;
    let partner = open_browser(&webdriver, &binary, partner_profile.path()).await;
    let base = server.base.clone();
    let result = async {
        // The reviewer: Inventory, expiring within 30 days, then the CSV export.
        sign_in(&server, &reviewer, &base, REVIEWER, Some(0)).await?;
        click(&reviewer, Locator::LinkText("Inventory")).await?;
        fill(&reviewer, "expiring_within", "30").await?;
        click(&reviewer, Locator::Css("form.filters button[type=submit]")).await?;
        // The filtered page, not the one the click left: its address carries the filter.
        for _ in 0..300 {
            if reviewer
                .current_url()
                .await?
                .as_str()
                .contains("expiring_within=30")
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let table = reviewer
            .wait()
            .for_element(Locator::Id("inventory"))
            .await?
            .text()
            .await?;
        assert!(table.contains("Fjord insights"), "{table}");
        assert!(!table.contains("Acme Budgeting demo app"), "{table}");
        let total = reviewer
            .find(Locator::Id("inventory-total"))
            .await?
            .text()
            .await?;
        let href = reviewer
            .find(Locator::Id("export-csv"))
            .await?
            .attr("href")
            .await?
            .unwrap_or_default();
        assert!(
            href.contains("expiring_within=30") && href.contains("format=csv"),
            "{href}"
        );
        let cookie = reviewer.get_all_cookies().await?;
        let header: Vec<String> = cookie
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        let csv = reqwest::Client::new()
            .get(if href.starts_with("http") {
                href.clone()
            } else {
                format!("{base}{href}")
            })
            .header("cookie", header.join("; "))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let rows: usize = total
            .split_whitespace()
            .next()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        assert_eq!(
            csv.lines().count(),
            rows + 1,
            "the export holds exactly the filtered rows:\n{csv}"
        );
        assert!(csv.contains("Fjord insights"));

        // The partner admin rotates the production secret with a one-hour overlap.
        sign_in(&server, &partner, &base, FJORD, Some(0)).await?;
        click(&partner, Locator::LinkText("Inventory")).await?;
        partner
            .goto(&format!("{base}/governance/clients/{insights}"))
            .await?;
        fill(&partner, "overlap_hours", "1").await?;
        click(
            &partner,
            Locator::Css("form[action$='/rotate'] button[type=submit]"),
        )
        .await?;
        let notice = wait_text(&partner, ".notice", "Rotated").await?;
        assert!(notice.contains("shown once"), "{notice}");
        Ok::<_, CmdError>(())
    }
    .await;
    let _ = reviewer.close().await;
    let _ = partner.close().await;
    result.expect("the browser journey");
    assert_eq!(
        server.count("SELECT COUNT(*) FROM credentials").await,
        credentials_before + 1
    );

    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let reporting: String =
        sqlx::query_scalar("SELECT id FROM apps WHERE name = 'Fjord reporting'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let exception: String =
        sqlx::query_scalar("SELECT id FROM policy_exceptions WHERE status = 'pending'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    check_accessibility(
        &server,
        &webdriver,
        &binary,
        vec![
            (
                FJORD,
                Some(totp_code(&server.state.clock, &secret, 1)),
                vec![
                    "/governance/inventory".into(),
                    format!("/governance/clients/{insights}"),
                    format!("/governance/clients/{reporting}"),
                    "/dashboard".into(),
                ],
            ),
            (
                "approver@bank.example.com",
                Some(totp_code(&server.state.clock, &secret, 0)),
                vec![
                    "/governance/bank/inventory".into(),
                    "/governance/bank/inventory?status=dormant".into(),
                    "/governance/bank/exceptions".into(),
                    format!("/governance/bank/exceptions/{exception}"),
                    format!("/governance/bank/clients/{reporting}"),
                    "/governance/bank/evidence".into(),
                    "/governance/bank/runs".into(),
                    "/admin/lifecycle".into(),
                    "/governance/bank/suspensions".into(),
                ],
            ),
        ],
    )
    .await;
}
