//! Production access end to end in headless Chromium with JavaScript disabled: a
//! partner admin approved for Tier 2 submits a request for account information, a
//! reviewer reads the risk explanation and approves with a step-up code, and the
//! partner sees the production credential.

use fantoccini::error::CmdError;
use fantoccini::Locator;
use serde_json::json;

use crate::browser::{click, fill, open_browser, start_driver};
use crate::browser_onboarding::{check_accessibility, sign_in, sign_in_with, wait_text};
use crate::common::{totp_code, Backend, TestServer};
use crate::onboarding::{date, ACME_ADMIN, ACME_DEV, APPROVER, REVIEWER};
use crate::production::{approve_tier, call_accounts, call_reference, demo_app_id};
use crate::sandbox_helpers::{pem, wait_for_log};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_requests_tier_2_access_and_a_reviewer_approves_in_a_browser() {
    let Some((_driver, webdriver, binary)) = start_driver().await else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    // Set-up over HTTP: the partner admin's second factor, Tier 2 approval, and
    // sandbox calls that prove readiness.
    let admin = server.demo_partner_user(ACME_ADMIN).await;
    let partner_secret = admin.enrol_totp().await;
    let approver = server.demo_staff(APPROVER, 0).await;
    approve_tier(&server, &admin, &approver, "2").await;
    let app_id = demo_app_id(&server).await;
    call_reference(&server, 3).await;
    call_accounts(&server, 3).await;
    wait_for_log(&server, &app_id, 10).await;
    // The partner's key pair, its public half pasted as PEM (converted on the server).
    let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let public_pem = {
        use p256::pkcs8::EncodePublicKey;
        pem(
            "PUBLIC KEY",
            key.public_key().to_public_key_der().unwrap().as_bytes(),
        )
    };
    let thumbprint = app::oauth::keys::thumbprint(&json!(key.public_key().to_jwk())).unwrap();

    let partner_profile = tempfile::tempdir().unwrap();
    let reviewer_profile = tempfile::tempdir().unwrap();
    let partner = open_browser(&webdriver, &binary, partner_profile.path()).await;
    let reviewer = open_browser(&webdriver, &binary, reviewer_profile.path()).await;
    let base = server.base.clone();
    let result = async {
        sign_in_with(
            &partner,
            &base,
            ACME_ADMIN,
            Some(totp_code(&server.state.clock, &partner_secret, 1)),
        )
        .await?;
        click(&partner, Locator::LinkText("Production")).await?;
        click(
            &partner,
            Locator::Css("form[action='/production/requests/new'] button"),
        )
        .await?;
        let readiness = partner
            .wait()
            .for_element(Locator::Id("readiness"))
            .await?
            .text()
            .await?;
        assert!(
            readiness.contains("accounts") && readiness.contains("Ready"),
            "{readiness}"
        );
        click(&partner, Locator::Id("scope-accounts")).await?;
        fill(
            &partner,
            "justification_accounts",
            "Households see all their balances and spending in one budget.",
        )
        .await?;
        fill(&partner, "calls_per_day", "20000").await?;
        fill(&partner, "peak_per_second", "3").await?;
        fill(&partner, "jwks", &public_pem).await?;
        fill(&partner, "ip_allowlist", "127.0.0.0/8").await?;
        fill(&partner, "go_live", &date(14)).await?;
        // The terms an approval sets are on the form before submitting.
        let conditions = partner
            .find(Locator::Id("conditions"))
            .await?
            .text()
            .await?;
        assert!(
            conditions.contains("Tokens must be sender-constrained if you ask for accounts"),
            "{conditions}"
        );
        click(
            &partner,
            Locator::Css("form[action='/production/requests'] button[type=submit]"),
        )
        .await?;
        wait_text(
            &partner,
            ".notice",
            "a reviewer at the bank will look at it",
        )
        .await?;
        let outcome = partner.find(Locator::Id("outcome")).await?.text().await?;
        assert!(
            outcome.contains("What would change this outcome"),
            "{outcome}"
        );

        // The reviewer reads the explanation and approves with a step-up code.
        sign_in(&server, &reviewer, &base, REVIEWER, Some(0)).await?;
        click(&reviewer, Locator::LinkText("Production requests")).await?;
        click(&reviewer, Locator::LinkText("Acme Budgeting Ltd (demo)")).await?;
        let explanation = reviewer
            .find(Locator::Id("explanation"))
            .await?
            .text()
            .await?;
        assert!(explanation.contains("One reviewer"), "{explanation}");
        assert!(
            explanation.contains("Account information reads customers' financial data."),
            "{explanation}"
        );
        click(&reviewer, Locator::Id("decision-approve")).await?;
        fill(
            &reviewer,
            "reason",
            "Pen test and ISO certificate are current.",
        )
        .await?;
        let secret = app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET)
            .expect("the demo secret");
        fill(
            &reviewer,
            "code",
            &totp_code(&server.state.clock, &secret, 1),
        )
        .await?;
        click(
            &reviewer,
            Locator::Css("#decision-form button[type=submit]"),
        )
        .await?;
        wait_text(
            &reviewer,
            ".notice",
            "Approved: the production credential is issued",
        )
        .await?;

        // The partner sees the credential.
        partner.refresh().await?;
        let status = partner
            .find(Locator::Id("request-status"))
            .await?
            .text()
            .await?;
        assert_eq!(status, "Approved");
        let terms = partner
            .find(Locator::Id("approved-terms"))
            .await?
            .text()
            .await?;
        assert!(
            terms.contains("accounts") && terms.contains("90 days"),
            "{terms}"
        );
        let client_id = partner
            .find(Locator::Css(".client-id"))
            .await?
            .text()
            .await?;
        assert!(client_id.starts_with("cli_"), "{client_id}");
        click(&partner, Locator::LinkText("Production")).await?;
        let list = partner
            .find(Locator::Css(".production-client"))
            .await?
            .text()
            .await?;
        assert!(list.contains(&client_id), "{list}");
        // The pasted PEM became a JWK named by its RFC 7638 thumbprint.
        let material: String = sqlx::query_scalar(
            "SELECT c.material FROM credentials c JOIN apps a ON a.id = c.app_id WHERE a.client_id = $1",
        )
        .bind(&client_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
        assert!(material.contains(&format!("\"kid\":\"{thumbprint}\"")), "{material}");
        // The sandbox docs show this partner's own client id, never a placeholder.
        partner.goto(&format!("{base}/sandbox/docs")).await?;
        let setup = partner
            .find(Locator::Id("seq-setup"))
            .await?
            .text()
            .await?;
        assert!(
            setup.contains("export CLIENT_ID=cli_") && !setup.contains("YOUR_CLIENT_ID"),
            "{setup}"
        );
        let request: String = sqlx::query_scalar("SELECT id FROM access_requests WHERE org_id = (SELECT org_id FROM users WHERE email = 'admin@acme-budgeting.example.com')")
            .fetch_one(server.pool())
            .await
            .unwrap();
        Ok::<_, CmdError>(request)
    }
    .await;
    let _ = partner.close().await;
    let _ = reviewer.close().await;
    let request = result.expect("the browser journey");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM apps WHERE environment = 'production' AND scopes = 'accounts' AND is_demo = 0")
            .await,
        1
    );

    // Every production page passes axe-core: the partner's (as the developer, who
    // can read them), the reviewer's and the policy.
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    check_accessibility(
        &server,
        &webdriver,
        &binary,
        vec![
            (
                ACME_DEV,
                None,
                vec![
                    "/production".into(),
                    format!("/production/requests/{request}"),
                    "/production/docs".into(),
                    "/dashboard".into(),
                ],
            ),
            (
                APPROVER,
                Some(totp_code(&server.state.clock, &secret, 1)),
                vec![
                    "/review/production".into(),
                    format!("/review/production/{request}"),
                    "/review/policy".into(),
                ],
            ),
        ],
    )
    .await;
}
