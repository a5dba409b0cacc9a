//! Issue 15 in headless Chromium with JavaScript disabled: Fjord's partner admin
//! answers the demo's access review of Fjord legacy export and removes a scope; the
//! bank admin offboards Acme Budgeting and downloads its evidence pack, which
//! verifies. axe-core then checks every new page of both sides.

use fantoccini::error::CmdError;
use fantoccini::Locator;

use crate::browser::{click, fill, open_browser, start_driver};
use crate::browser_onboarding::{check_accessibility, sign_in, wait_text};
use crate::common::{totp_code, Backend, TestServer};

const FJORD: &str = "admin@fjord-analytics.example.com";
const BANK_ADMIN: &str = "admin@bank.example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_attests_and_bank_offboards_in_a_browser() {
    let Some((_driver, webdriver, binary)) = start_driver().await else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let legacy: String =
        sqlx::query_scalar("SELECT id FROM apps WHERE name = 'Fjord legacy export'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let item: String = sqlx::query_scalar(
        "SELECT id FROM review_items WHERE app_id = $1 AND state = 'awaiting_partner'",
    )
    .bind(&legacy)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let acme: String = sqlx::query_scalar(
        "SELECT id FROM organisations WHERE legal_name = 'Acme Budgeting Ltd (demo)'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let partner_profile = tempfile::tempdir().unwrap();
    let bank_profile = tempfile::tempdir().unwrap();
    let partner = open_browser(&webdriver, &binary, partner_profile.path()).await;
    let bank = open_browser(&webdriver, &binary, bank_profile.path()).await;
    let base = server.base.clone();
    let result = async {
        // The partner admin: Reviews, the item, keep reference only, with a reason.
        sign_in(&server, &partner, &base, FJORD, Some(0)).await?;
        click(&partner, Locator::LinkText("Reviews")).await?;
        click(&partner, Locator::LinkText("Fjord legacy export")).await?;
        // Both scopes went unused, so both come pre-marked for removal: keep reference.
        let reference = partner.find(Locator::Id("keep_reference")).await?;
        if !reference.is_selected().await? {
            reference.click().await?;
        }
        let accounts = partner.find(Locator::Id("keep_accounts")).await?;
        if accounts.is_selected().await? {
            accounts.click().await?;
        }
        fill(
            &partner,
            "justification_reference",
            "Branch data in the nightly export.",
        )
        .await?;
        click(
            &partner,
            Locator::Css("form[action^='/reviews/items/'] button[type=submit]"),
        )
        .await?;
        wait_text(&partner, ".notice", "Answered").await?;
        let state = partner
            .find(Locator::Id("review-state"))
            .await?
            .text()
            .await?;
        assert_eq!(state, "Awaiting the bank");

        // The bank admin: Offboarding, Acme, a reason and a step-up code.
        sign_in(&server, &bank, &base, BANK_ADMIN, Some(-1)).await?;
        click(&bank, Locator::LinkText("Offboarding")).await?;
        bank.find(Locator::Css(&format!("#org_id option[value='{acme}']")))
            .await?
            .click()
            .await?;
        fill(&bank, "reason", "The partner asked to end the contract.").await?;
        fill(&bank, "code", &totp_code(&server.state.clock, &secret, 0)).await?;
        click(
            &bank,
            Locator::Css("form[action='/offboarding/bank'] button[type=submit]"),
        )
        .await?;
        wait_text(&bank, ".notice", "Offboarding started").await?;
        let page = bank.current_url().await?;
        // The job finishes; the page then links the pack.
        let mut href = None;
        for _ in 0..100 {
            bank.goto(page.as_str()).await?;
            if let Ok(link) = bank.find(Locator::Css("a[href^='/evidence-packs/']")).await {
                href = link.attr("href").await?;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let href = href.expect("the pack is linked once the job is done");
        let cookies = bank.get_all_cookies().await?;
        let header: Vec<String> = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        let pack = reqwest::Client::new()
            .get(format!("{base}{href}"))
            .header("cookie", header.join("; "))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Ok::<_, CmdError>(pack)
    }
    .await;
    let _ = partner.close().await;
    let _ = bank.close().await;
    let pack = result.expect("the browser journey");
    let scopes: String = sqlx::query_scalar("SELECT scopes FROM apps WHERE id = $1")
        .bind(&legacy)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(
        scopes, "reference",
        "the partner's narrowing took effect at once"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pack.json");
    std::fs::write(&path, &pack).unwrap();
    let verified = gatehouse_server::evidence_verify(server.state.settings.clone(), &path)
        .await
        .unwrap();
    assert!(verified.problems.is_empty(), "{verified}");
    assert!(pack.contains("Acme Budgeting Ltd (demo)"));

    let campaign: String = sqlx::query_scalar("SELECT campaign_id FROM review_items WHERE id = $1")
        .bind(&item)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let offboarding: String = sqlx::query_scalar("SELECT id FROM offboardings WHERE org_id = $1")
        .bind(&acme)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let incident: String = sqlx::query_scalar("SELECT id FROM incidents LIMIT 1")
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
                    "/reviews".into(),
                    format!("/reviews/items/{item}"),
                    "/org/close".into(),
                    "/org/members".into(),
                    "/dashboard".into(),
                ],
            ),
            (
                BANK_ADMIN,
                Some(totp_code(&server.state.clock, &secret, 1)),
                vec![
                    "/reviews/bank".into(),
                    format!("/reviews/bank/{campaign}"),
                    format!("/reviews/bank/items/{item}"),
                    "/offboarding/bank".into(),
                    format!("/offboarding/bank/{offboarding}"),
                    "/evidence-packs".into(),
                    "/incidents".into(),
                    format!("/incidents/{incident}"),
                ],
            ),
        ],
    )
    .await;
}
