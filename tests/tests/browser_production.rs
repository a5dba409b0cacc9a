//! Production access in headless Chromium with JavaScript disabled, as steps of the
//! new partner's journey (`browser_first_hour`): a partner admin approved for Tier 2
//! requests account information with a PEM key, a reviewer reads the risk
//! explanation and approves with a step-up code, and the partner sees the production
//! credential.

use fantoccini::error::CmdError;
use fantoccini::{Client as Browser, Locator};

use crate::browser::{click, fill};
use crate::browser_onboarding::wait_text;
use crate::common::{totp_code, TestServer};
use crate::onboarding::date;

/// A signed-in partner admin, ready in the sandbox, asks for `accounts` in
/// production with the public key `public_pem`; the request's path.
pub(crate) async fn request_production(
    partner: &Browser,
    public_pem: &str,
) -> Result<String, CmdError> {
    click(partner, Locator::LinkText("Production")).await?;
    click(
        partner,
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
    click(partner, Locator::Id("scope-accounts")).await?;
    fill(
        partner,
        "justification_accounts",
        "Households see all their balances and spending in one budget.",
    )
    .await?;
    fill(partner, "calls_per_day", "20000").await?;
    fill(partner, "peak_per_second", "3").await?;
    fill(partner, "jwks", public_pem).await?;
    fill(partner, "ip_allowlist", "127.0.0.0/8").await?;
    fill(partner, "go_live", &date(14)).await?;
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
        partner,
        Locator::Css("form[action='/production/requests'] button[type=submit]"),
    )
    .await?;
    wait_text(partner, ".notice", "a reviewer at the bank will look at it").await?;
    let outcome = partner.find(Locator::Id("outcome")).await?.text().await?;
    assert!(
        outcome.contains("What would change this outcome"),
        "{outcome}"
    );
    Ok(partner.current_url().await?.path().to_string())
}

/// A signed-in reviewer reads `organisation`'s request and its risk explanation and
/// approves with the demo step-up code `offset` steps ahead.
pub(crate) async fn reviewer_approves_request(
    server: &TestServer,
    reviewer: &Browser,
    organisation: &str,
    offset: i64,
) -> Result<(), CmdError> {
    click(reviewer, Locator::LinkText("Production requests")).await?;
    click(reviewer, Locator::LinkText(organisation)).await?;
    let explanation = reviewer
        .find(Locator::Id("explanation"))
        .await?
        .text()
        .await?;
    assert!(
        explanation.contains("Account information reads customers' financial data."),
        "{explanation}"
    );
    click(reviewer, Locator::Id("decision-approve")).await?;
    fill(
        reviewer,
        "reason",
        "Pen test and ISO certificate are current.",
    )
    .await?;
    let secret = app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET)
        .expect("the demo secret");
    fill(
        reviewer,
        "code",
        &totp_code(&server.state.clock, &secret, offset),
    )
    .await?;
    click(reviewer, Locator::Css("#decision-form button[type=submit]")).await?;
    wait_text(
        reviewer,
        ".notice",
        "Approved: the production credential is issued",
    )
    .await?;
    Ok(())
}

/// The partner, on its request's page, sees the approval, its terms and the
/// production client; the client id.
pub(crate) async fn partner_sees_credential(partner: &Browser) -> Result<String, CmdError> {
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
    click(partner, Locator::LinkText("Production")).await?;
    let list = partner
        .find(Locator::Css(".production-client"))
        .await?
        .text()
        .await?;
    assert!(list.contains(&client_id), "{list}");
    Ok(client_id)
}
