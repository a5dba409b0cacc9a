//! The new partner's first hour, in headless Chromium with JavaScript disabled
//! (issue 34): a fintech signs up, confirms its address, turns on two-step
//! verification from the QR code's text alternative, completes Tier 2 with three
//! documents, is approved by the demo reviewer, registers a sandbox app with its PEM
//! key, finds its own client id in the docs, makes the calls readiness asks for with
//! the `examples/` clients, requests production with the same PEM key (reading the
//! conditions before submitting), is approved, and obtains a production token with
//! DPoP from the examples. Then every page it saw passes axe-core and fits 390 px.

use fantoccini::error::CmdError;
use fantoccini::Locator;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
use serde_json::json;

use crate::browser::{click, fill, open_browser, start_driver};
use crate::browser_onboarding::{
    accept_agreement, check_pages, complete_tier_2, reviewer_approves_application, sign_in,
    wait_text,
};
use crate::browser_production::{
    partner_sees_credential, request_production, reviewer_approves_request,
};
use crate::common::{totp_code, Backend, TestServer};
use crate::examples::{node_dir, run};
use crate::onboarding::REVIEWER;
use crate::sandbox_api::BASE;
use crate::sandbox_helpers::{pem, wait_for_log, DEMO_REDIRECT};

const ORGANISATION: &str = "Tidewater Analytics Ltd";
const EMAIL: &str = "mary@tidewater.example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_partner_goes_from_sign_up_to_a_production_token_in_a_browser() {
    let Some((_driver, webdriver, binary)) = start_driver().await else {
        return;
    };
    let Some(examples) = node_dir("../examples") else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = TestServer::start(Backend::Sqlite, true).await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let pdf = files.path().join("pen-test-summary.pdf");
    std::fs::write(&pdf, crate::onboarding::PDF).unwrap();
    // The partner's key pair, as the examples' README makes it: the public half is
    // pasted as PEM, the private half stays in a file the examples read.
    let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let public_pem = pem(
        "PUBLIC KEY",
        key.public_key().to_public_key_der().unwrap().as_bytes(),
    );
    let private = files.path().join("private.pem");
    std::fs::write(
        &private,
        pem("PRIVATE KEY", key.to_pkcs8_der().unwrap().as_bytes()),
    )
    .unwrap();
    let thumbprint = app::oauth::keys::thumbprint(&json!(key.public_key().to_jwk())).unwrap();

    let partner_profile = tempfile::tempdir().unwrap();
    let reviewer_profile = tempfile::tempdir().unwrap();
    let partner = open_browser(&webdriver, &binary, partner_profile.path()).await;
    let reviewer = open_browser(&webdriver, &binary, reviewer_profile.path()).await;
    let base = server.base.clone();
    let result = async {
        // Sign up; the address is confirmed from the mailbox and pre-filled at sign-in.
        partner.goto(&format!("{base}/signup")).await?;
        for (id, value) in [
            ("legal_name", ORGANISATION),
            ("registration_number", "11223344"),
            ("country", "GB"),
            ("website", "https://tidewater.example.com"),
            ("full_name", "Mary Somerville"),
            ("email", EMAIL),
            ("password", app::accounts::bootstrap::DEMO_PASSWORD),
        ] {
            let field = partner.find(Locator::Id(id)).await?;
            field.clear().await?;
            field.send_keys(value).await?;
        }
        click(
            &partner,
            Locator::Css("form[action='/signup'] button[type=submit]"),
        )
        .await?;
        partner
            .wait()
            .for_element(Locator::Css("main a[href='/signin']"))
            .await?;
        partner.goto(&format!("{base}/dev/mailbox")).await?;
        click(&partner, Locator::Css(".mail-body a")).await?;
        wait_text(&partner, ".notice", "Your e-mail address is confirmed.").await?;
        let address = partner
            .find(Locator::Id("email"))
            .await?
            .prop("value")
            .await?;
        assert_eq!(address.as_deref(), Some(EMAIL), "sign-in is pre-filled");
        fill(
            &partner,
            "password",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await?;
        click(
            &partner,
            Locator::Css("form[action='/signin'] button[type=submit]"),
        )
        .await?;

        // Two-step verification: the QR code, and its text alternative decoded.
        click(&partner, Locator::LinkText("Set it up now")).await?;
        partner
            .wait()
            .for_element(Locator::Css("#totp-qr svg"))
            .await?;
        click(&partner, Locator::Css("details summary")).await?;
        let uri = partner.find(Locator::Id("totp-uri")).await?.text().await?;
        let uri = url::Url::parse(&uri).expect("an otpauth URI");
        assert_eq!(uri.scheme(), "otpauth");
        let secret = uri
            .query_pairs()
            .find(|(name, _)| name == "secret")
            .map(|(_, value)| value.to_string())
            .expect("the URI carries the key");
        let secret = app::accounts::totp::from_base32(&secret).expect("a base32 key");
        fill(
            &partner,
            "code",
            &totp_code(&server.state.clock, &secret, 0),
        )
        .await?;
        click(
            &partner,
            Locator::Css("form[action='/account/totp'] button[type=submit]"),
        )
        .await?;
        partner
            .wait()
            .for_element(Locator::Id("recovery-codes"))
            .await?;

        // Tier 2 with three documents; the demo reviewer approves.
        partner.goto(&format!("{base}/dashboard")).await?;
        let terms_code = totp_code(&server.state.clock, &secret, 1);
        let mut pages = complete_tier_2(&partner, &pdf, &terms_code).await?;
        sign_in(&server, &reviewer, &base, REVIEWER, Some(0)).await?;
        let dossier = reviewer_approves_application(&reviewer, ORGANISATION).await?;

        // A sandbox app with the same key (private_key_jwt), registered in the browser.
        partner.goto(&format!("{base}/sandbox")).await?;
        click(&partner, Locator::LinkText("Register a sandbox app")).await?;
        pages.push("/sandbox/apps/new".into());
        fill(&partner, "name", "Tidewater budgets").await?;
        fill(&partner, "purpose", "Reads balances for household budgets").await?;
        click(&partner, Locator::Id("scope-accounts")).await?;
        fill(&partner, "redirect_uris", DEMO_REDIRECT).await?;
        click(
            &partner,
            Locator::Css("#auth_method option[value='private_key_jwt']"),
        )
        .await?;
        fill(&partner, "jwks", &public_pem).await?;
        click(
            &partner,
            Locator::Css("form[action='/sandbox/apps'] button[type=submit]"),
        )
        .await?;
        let client_id = partner
            .wait()
            .for_element(Locator::Id("client-id"))
            .await?
            .text()
            .await?;
        let app_page = partner.current_url().await?.path().to_string();
        pages.push(app_page.clone());

        // The docs speak of this app, not the demo's.
        partner.goto(&format!("{base}/sandbox/docs")).await?;
        pages.push("/sandbox/docs".into());
        let setup = partner.find(Locator::Id("seq-setup")).await?.text().await?;
        assert!(
            setup.contains(&format!("export CLIENT_ID={client_id}")),
            "{setup}"
        );

        // The examples make the calls readiness asks for: a consent, the customer's
        // authorisation through PAR, the accounts and a balance.
        let sandbox_env = [
            ("GATEHOUSE_ISSUER", base.clone()),
            ("GATEHOUSE_API", format!("{base}{BASE}")),
            ("GATEHOUSE_CLIENT_ID", client_id.clone()),
            ("GATEHOUSE_PRIVATE_KEY", private.display().to_string()),
            ("GATEHOUSE_REDIRECT_URI", DEMO_REDIRECT.to_string()),
        ];
        let accounts = run(&server, &examples, "accounts.mjs", &sandbox_env).await;
        assert_eq!(accounts["token_type"], "dpop", "{accounts}");
        let app_id = app_page.trim_start_matches("/sandbox/apps/");
        wait_for_log(&server, app_id, 3).await;

        // The Tier 2 data-sharing agreement, on the dashboard's list and accepted (the
        // next time step's code), then production with the same PEM key; the reviewer
        // approves with a step-up code.
        partner.goto(&format!("{base}/dashboard")).await?;
        wait_text(&partner, "main", "Accept Data-sharing agreement, Tier 2 v2").await?;
        server.state.clock.advance(30);
        let data_code = totp_code(&server.state.clock, &secret, 1);
        accept_agreement(&partner, "Data-sharing agreement, Tier 2 v2", &data_code).await?;
        pages.push(partner.current_url().await?.path().to_string());
        let request = request_production(&partner, &public_pem).await?;
        pages.push(request.clone());
        reviewer.goto(&format!("{base}/dashboard")).await?;
        reviewer_approves_request(&server, &reviewer, ORGANISATION, 1).await?;
        partner.goto(&format!("{base}{request}")).await?;
        let production_id = partner_sees_credential(&partner).await?;
        pages.push("/production".into());

        // The production token, sender-constrained with DPoP, from the example.
        let production_env = [
            ("GATEHOUSE_ISSUER", format!("{base}/production")),
            ("GATEHOUSE_API", format!("{base}{BASE}")),
            ("GATEHOUSE_CLIENT_ID", production_id.clone()),
            ("GATEHOUSE_PRIVATE_KEY", private.display().to_string()),
            ("GATEHOUSE_SCOPE", "accounts".to_string()),
        ];
        let token = run(&server, &examples, "token.mjs", &production_env).await;
        assert_eq!(token["token_type"], "dpop", "{token}");
        assert_eq!(token["scope"], "accounts", "{token}");
        Ok::<_, CmdError>((pages, dossier, request, production_id, secret))
    }
    .await;
    let _ = partner.close().await;
    let _ = reviewer.close().await;
    let (partner_pages, dossier, request, production_id, secret) =
        result.expect("the browser journey");
    // The pasted PEM became a JWK named by its RFC 7638 thumbprint.
    let material: String = sqlx::query_scalar(
        "SELECT c.material FROM credentials c JOIN apps a ON a.id = c.app_id WHERE a.client_id = $1",
    )
    .bind(&production_id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert!(
        material.contains(&format!("\"kid\":\"{thumbprint}\"")),
        "{material}"
    );

    // Every page the partner saw, and the reviewer's, passes axe-core at 390 px
    // and does not scroll sideways there.
    let demo = app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET)
        .expect("the demo secret");
    // A minute on, so each sign-in's code is one its user has not used yet.
    server.state.clock.advance(60);
    check_pages(
        &server,
        &webdriver,
        &binary,
        vec![
            (
                EMAIL,
                Some(totp_code(&server.state.clock, &secret, 0)),
                [
                    partner_pages,
                    vec![
                        "/dashboard".into(),
                        "/onboarding".into(),
                        "/production/docs".into(),
                        "/account".into(),
                    ],
                ]
                .concat(),
            ),
            (
                REVIEWER,
                Some(totp_code(&server.state.clock, &demo, 0)),
                vec![
                    "/dashboard".into(),
                    "/review".into(),
                    dossier,
                    "/review/production".into(),
                    format!(
                        "/review/production/{}",
                        request.rsplit('/').next().unwrap_or_default()
                    ),
                    "/review/policy".into(),
                ],
            ),
            (
                "admin@bank.example.com",
                Some(totp_code(&server.state.clock, &demo, 0)),
                vec![
                    "/admin/catalogue".into(),
                    "/admin/catalogue/tiers/3".into(),
                    "/admin/catalogue/questionnaires/new".into(),
                    "/admin/agreements".into(),
                ],
            ),
        ],
        Some(390),
    )
    .await;
}
