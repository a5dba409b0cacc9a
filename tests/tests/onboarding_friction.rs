//! The partner's path without needless friction (issue 34): "Save and continue"
//! leads to the next section still to do, the declaration names the signer,
//! evidence asks for an expiry only where the kind has one (and says so before the
//! upload), dates may be typed as people in the UK write them, and after
//! submitting the application says what happens next and by when.

use reqwest::StatusCode;

use crate::both;
use crate::common::{assert_location, Client, TestServer};
use crate::onboarding::{
    answers, complete_and_submit, date, post_evidence, save, start, upload, ACME_ADMIN, PDF,
};

/// A pen-test upload asking for the kept file: no file chosen (an empty file part,
/// as a browser sends, or none at all), the expiry written the UK way.
async fn kept_attempt(client: &Client, app: &str, empty_file_part: bool) -> reqwest::Response {
    let token = client
        .csrf(&format!("/onboarding/{app}/steps/evidence"))
        .await;
    let mut form = reqwest::multipart::Form::new()
        .text("csrf_token", token)
        .text("kind", "pen_test")
        .text("issued_on", date(-30))
        .text("expires_on", "31/12/2099")
        .text("kept_file", "1");
    if empty_file_part {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(Vec::new())
                .file_name("")
                .mime_str("application/octet-stream")
                .unwrap(),
        );
    }
    post_evidence(client, app, form).await
}

async fn the_path_leads_on_and_says_what_comes_next(server: TestServer) {
    let acme = server.demo_partner_user(ACME_ADMIN).await;
    let app = start(&acme, "2").await;
    let response = save(
        &acme,
        &app,
        "profile",
        &answers("profile", "security"),
        "continue",
    )
    .await;
    assert_location(&response, &format!("/onboarding/{app}/steps/use-case"));
    let response = save(
        &acme,
        &app,
        "use-case",
        &answers("use-case", "security"),
        "draft",
    )
    .await;
    assert_location(&response, &format!("/onboarding/{app}/steps/use-case"));

    // The declaration is filled in with the signer's name until saved otherwise.
    let name: String = sqlx::query_scalar("SELECT display_name FROM users WHERE email = $1")
        .bind(ACME_ADMIN)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let (_, html) = acme
        .text(&format!("/onboarding/{app}/steps/declaration"))
        .await;
    assert!(html.contains(&format!("value=\"{name}\"")), "{html}");

    // Evidence: the form says which kinds need an expiry before anything is sent.
    let (_, html) = acme
        .text(&format!("/onboarding/{app}/steps/evidence"))
        .await;
    assert!(
        html.contains("Required for: Penetration test summary"),
        "{html}"
    );
    let no_expiry = upload(
        &acme,
        &app,
        "incident_response_plan",
        &date(-30),
        "",
        (PDF, "plan.pdf", "application/pdf"),
    )
    .await;
    assert_location(&no_expiry, &format!("/onboarding/{app}/steps/evidence"));
    let refused = upload(
        &acme,
        &app,
        "pen_test",
        &date(-30),
        "",
        (PDF, "pt.pdf", "application/pdf"),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("certificates and test reports carry one"));
    // The file is kept: the form says so, and the next attempt needs no file. A date
    // typed as 31/12/2099 is the 31st of December 2099, stored as such.
    assert!(
        html.contains("id=\"kept-file\"") && html.contains("pt.pdf is kept from your last attempt"),
        "{html}"
    );
    let page = format!("/onboarding/{app}/steps/evidence");
    let again = kept_attempt(&acme, &app, true).await;
    assert_location(&again, &page);
    let (stored, name): (String, String) = sqlx::query_as(
        "SELECT expires_on, filename FROM evidence WHERE kind = 'pen_test' ORDER BY uploaded_at DESC LIMIT 1",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!((stored.as_str(), name.as_str()), ("2099-12-31", "pt.pdf"));
    // Used once: another attempt without a file is asked for one.
    let none = kept_attempt(&acme, &app, false).await;
    assert_eq!(none.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(none.text().await.unwrap().contains("Choose a file"));

    // Submitted: what happens next, and by when (the tier's review SLA).
    complete_and_submit(&server, &acme, &app).await;
    let (_, html) = acme.text(&format!("/onboarding/{app}")).await;
    let next = html
        .split("id=\"what-next\"")
        .nth(1)
        .expect("a what-happens-next section");
    assert!(
        next.contains(
            "A reviewer at the bank reads your dossier. Within 3 days of submission, by "
        ),
        "{next}"
    );
}
both!(the_path_leads_on_and_says_what_comes_next, demo);

/// The published risk policy (issue 34): partners read it as tables (each factor's
/// points, when it applies and what to do; blockers; bands; routes), read from the
/// active policy itself; reviewers see the same above the source.
async fn partners_read_the_risk_policy_as_tables(server: TestServer) {
    let developer = server.demo_partner().await;
    let (status, html) = developer.text("/production/policy").await;
    assert_eq!(status, StatusCode::OK);
    let factors = html.split("id=\"policy-factor-table\"").nth(1).unwrap();
    let factors = factors.split("</table>").next().unwrap();
    assert!(factors.contains("<td class=\"num\">40</td>"), "{factors}");
    assert!(factors.contains("Payment initiation always needs two reviewers."));
    let routes = html.split("id=\"policy-route-table\"").nth(1).unwrap();
    assert!(routes.contains("Refused automatically") && routes.contains("count(blockers) &gt; 0"));
    assert!(routes.contains("Approved automatically") && routes.contains("otherwise"));
    assert!(
        html.contains("href=\"/production/policy\" aria-current=\"page\""),
        "in the navigation"
    );
    let reviewer = server.demo_staff(crate::onboarding::REVIEWER, 0).await;
    let (_, html) = reviewer.text("/review/policy").await;
    assert!(html.contains("id=\"policy-factor-table\"") && html.contains("id=\"policy-source\""));
    let response = server.client().get("/production/policy").await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "signed-in readers only"
    );
}
both!(partners_read_the_risk_policy_as_tables, demo);
