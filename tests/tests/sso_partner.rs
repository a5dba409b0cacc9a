//! A partner organisation's own single sign-on (issue 28), through a started server
//! on both databases, against a real OpenID provider on https (node's
//! oidc-provider with a certificate from the test's CA, reached through the outbound
//! policy): the partner admin connects it (bad input refused, nothing written); a
//! bank admin approves it (the partner cannot); members sign in through it and new
//! ones join just in time; untrusted answers are refused; requiring single sign-on
//! stops members' passwords; removing a member, and the organisation leaving, end
//! their access through it.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_location, Backend, Client, TestServer};
use crate::on_both_backends;
use crate::sso_idp::{Idp, SECRET};

const ADMIN: &str = "admin@acme-budgeting.example.com";

fn member(email: &str, verified: bool) -> Value {
    json!({ "claims": { "email": email, "email_verified": verified, "name": email.split('@').next() }, "amr": ["pwd", "mfa"] })
}

async fn org_of(server: &TestServer, name: &str) -> String {
    sqlx::query_scalar("SELECT id FROM organisations WHERE legal_name LIKE $1")
        .bind(format!("{name}%"))
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn connect(admin: &Client, fields: &[(&str, &str)]) -> reqwest::Response {
    admin
        .submit("/organisation/sso", "/organisation/sso", fields)
        .await
}

/// Through the sign-in page's "your organisation's single sign-on" with `email`,
/// the provider's form as `username`, and back: the callback's response.
async fn partner_sign_in(
    client: &Client,
    idp: &Idp,
    email: &str,
    username: &str,
) -> reqwest::Response {
    let response = client
        .submit(
            "/signin",
            "/sso/partner",
            &[("sso_email", email), ("next", "/dashboard")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = response.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with(&idp.issuer), "{to}");
    let back = idp.authenticate(&idp.browser(), &to, username).await;
    client.http.get(&back).send().await.unwrap()
}

/// The bank admin's decision on the connection's version `version`.
async fn decide(
    bank: &Client,
    action: &str,
    decision: &str,
    reason: &str,
    version: &str,
) -> reqwest::Response {
    bank.submit(
        "/admin/sso",
        action,
        &[
            ("decision", decision),
            ("reason", reason),
            ("version", version),
        ],
    )
    .await
}

async fn last_refusal(server: &TestServer) -> String {
    let details: String = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'sso.signin_refused' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    serde_json::from_str::<Value>(&details).unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn a_partner_connects_its_provider(backend: Backend) {
    let Some(idp) = Idp::start_tls(json!({
        "mia": member("mia@acme-budgeting.example.com", true),
        "dev": member("dev@acme-budgeting.example.com", true),
        "boss": member(ADMIN, true),
        "stranger": member("someone@elsewhere.example.org", true),
        "unverified": member("uv@acme-budgeting.example.com", false),
    })) else {
        return;
    };
    let Some(server) = TestServer::start_with(backend, |s| {
        s.demo = true;
        idp.reachable(s);
    })
    .await
    else {
        return;
    };
    let acme = org_of(&server, "Acme").await;
    idp.register_partner(&server.base, &acme).await;
    let admin = server.demo_partner_user(ADMIN).await;
    // Connecting a provider decides who signs in as the organisation's members: it
    // needs the admin's own second factor first.
    let (status, _) = admin.text("/organisation/sso").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let secret = admin.enrol_totp().await;
    let (status, page) = admin.text("/organisation/sso").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("{}/sso/partner/{acme}/callback", server.base)),
        "{page}"
    );

    // Bad input: nothing is written.
    let good = [
        ("issuer", idp.issuer.as_str()),
        ("client_id", "gatehouse-partner"),
        ("client_secret", SECRET),
        ("domains", "acme-budgeting.example.com"),
        ("member_role", "partner_developer"),
        ("require_sso", "1"),
    ];
    for (field, value) in [
        ("issuer", "http://login.acme.example"),
        ("issuer", ""),
        ("client_id", "has space"),
        ("client_secret", ""),
        ("domains", "bank.example.com"),
        ("domains", "not a domain"),
        ("member_role", "admin"),
    ] {
        let fields: Vec<(&str, &str)> = good
            .iter()
            .map(|(k, v)| if *k == field { (*k, value) } else { (*k, *v) })
            .collect();
        let response = connect(&admin, &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}"
        );
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM org_idps").await, 0);

    // Connected: waiting for the bank, not yet usable.
    let response = connect(&admin, &good).await;
    assert_location(&response, "/organisation/sso");
    let (_, page) = admin.text("/organisation/sso").await;
    assert!(page.contains("Waiting for the bank"), "{page}");
    server
        .wait_for_mails(
            "admin@bank.example.com",
            "A partner's single sign-on waits for approval",
            1,
        )
        .await;
    let visitor = server.client();
    let (_, page) = visitor.text("/signin").await;
    assert!(!page.contains("Your organisation's single sign-on"));
    let response = visitor
        .submit(
            "/signin",
            "/sso/partner",
            &[("sso_email", "mia@acme-budgeting.example.com")],
        )
        .await;
    assert_location(&response, "/signin");

    // Another organisation cannot vouch for the same domain (its website is in it).
    sqlx::query("UPDATE organisations SET website = 'https://www.acme-budgeting.example.com' WHERE legal_name LIKE 'Northwind%'")
        .execute(server.pool())
        .await
        .unwrap();
    let northwind = server
        .demo_partner_user("admin@northwind-pay.example.com")
        .await;
    northwind.enrol_totp().await;
    let response = connect(&northwind, &good).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(server.count("SELECT COUNT(*) FROM org_idps").await, 1);

    // The partner cannot approve its own connection; the bank admin does.
    let action = format!("/admin/sso/partners/{acme}/decision");
    let version = || async {
        sqlx::query_scalar::<_, i64>("SELECT version FROM org_idps WHERE org_id = $1")
            .bind(&acme)
            .fetch_one(server.pool())
            .await
            .unwrap()
            .to_string()
    };
    let v = version().await;
    let response = admin
        .submit(
            "/organisation/sso",
            &action,
            &[("decision", "approve"), ("version", v.as_str())],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let bank = server.demo_staff("admin@bank.example.com", 0).await;
    let (_, page) = bank.text("/admin/sso").await;
    assert!(
        page.contains("Acme Budgeting") && page.contains("Waiting"),
        "{page}"
    );
    // A rejection needs a reason; an approval names the version reviewed.
    let response = decide(&bank, &action, "reject", "", &v).await;
    assert_location(&response, "/admin/sso");
    let response = decide(&bank, &action, "approve", "", "0").await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = decide(&bank, &action, "approve", "", &v).await;
    assert_location(&response, "/admin/sso");
    let status: String = sqlx::query_scalar("SELECT status FROM org_idps WHERE org_id = $1")
        .bind(&acme)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "approved");
    // Requiring single sign-on ended the members' password sessions, the admin's too.
    assert_ne!(admin.text("/dashboard").await.0, StatusCode::OK);
    // The admin comes back through the provider; its "mfa" does not stand in for
    // the authenticator the admin enrolled, whose code is asked for.
    let admin = server.client();
    let response = partner_sign_in(&admin, &idp, ADMIN, "boss").await;
    assert_location(&response, "/signin/code");
    let code = crate::common::totp_code(&server.state.clock, &secret, 1);
    let response = admin
        .submit("/signin/code", "/signin/code", &[("code", code.as_str())])
        .await;
    assert_location(&response, "/dashboard");
    // Approved, the connection is not edited in place.
    let token = admin.csrf("/organisation/sso").await;
    let response = admin
        .post(
            "/organisation/sso",
            &[
                ("csrf_token", token.as_str()),
                ("issuer", "https://evil.example"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // A new member joins just in time with the chosen role.
    let mia = server.client();
    let (_, page) = mia.text("/signin").await;
    assert!(
        page.contains("Your organisation's single sign-on"),
        "{page}"
    );
    let response = partner_sign_in(&mia, &idp, "mia@acme-budgeting.example.com", "mia").await;
    assert_location(&response, "/dashboard");
    let (mia_id, org, role): (String, Option<String>, String) = sqlx::query_as(
        "SELECT id, org_id, role FROM users WHERE email = 'mia@acme-budgeting.example.com'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(
        (org.as_deref(), role.as_str()),
        (Some(acme.as_str()), "partner_developer")
    );
    assert_eq!(mia.text("/dashboard").await.0, StatusCode::OK);
    // An existing member signs in with their own account.
    let dev = server.client();
    let response = partner_sign_in(&dev, &idp, "dev@acme-budgeting.example.com", "dev").await;
    assert_location(&response, "/dashboard");

    // Untrusted answers: an address outside the vouched domains, an unverified one.
    let users = server.count("SELECT COUNT(*) FROM users").await;
    let response = partner_sign_in(
        &server.client(),
        &idp,
        "x@acme-budgeting.example.com",
        "stranger",
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(last_refusal(&server).await, "domain_not_vouched");
    let response = partner_sign_in(
        &server.client(),
        &idp,
        "x@acme-budgeting.example.com",
        "unverified",
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(last_refusal(&server).await, "email_unverified");
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, users);

    // Single sign-on is required: members' passwords stop working.
    let response = server
        .client()
        .sign_in(
            "dev@acme-budgeting.example.com",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await;
    assert_ne!(response.status(), StatusCode::SEE_OTHER);

    // Removing a member ends their way in through the provider too.
    let (admin_id,): (String,) = sqlx::query_as("SELECT id FROM users WHERE email = $1")
        .bind(ADMIN)
        .fetch_one(server.pool())
        .await
        .unwrap();
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{mia_id}/remove"),
            &[("new_owner_id", admin_id.as_str())],
        )
        .await;
    assert_location(&response, "/org/members");
    let response = partner_sign_in(
        &server.client(),
        &idp,
        "mia@acme-budgeting.example.com",
        "mia",
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(last_refusal(&server).await, "account_deactivated");
    assert_ne!(mia.text("/dashboard").await.0, StatusCode::OK);

    // The organisation leaves (as its offboarding records it): nobody gets in through it.
    sqlx::query("UPDATE organisations SET status = 'offboarded' WHERE id = $1")
        .bind(&acme)
        .execute(server.pool())
        .await
        .unwrap();
    let response = server
        .client()
        .submit(
            "/signin",
            "/sso/partner",
            &[("sso_email", "dev@acme-budgeting.example.com")],
        )
        .await;
    assert_location(&response, "/signin");
    sqlx::query("UPDATE organisations SET status = 'active' WHERE id = $1")
        .bind(&acme)
        .execute(server.pool())
        .await
        .unwrap();

    // The bank switches it off: sessions end, passwords work again.
    assert_eq!(dev.text("/dashboard").await.0, StatusCode::OK);
    let v = version().await;
    let response = decide(&bank, &action, "revoke", "Provider compromised.", &v).await;
    assert_location(&response, "/admin/sso");
    assert_ne!(dev.text("/dashboard").await.0, StatusCode::OK);
    let response = server
        .client()
        .submit(
            "/signin",
            "/sso/partner",
            &[("sso_email", "dev@acme-budgeting.example.com")],
        )
        .await;
    assert_location(&response, "/signin");
    let response = server
        .client()
        .sign_in(
            "dev@acme-budgeting.example.com",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}
on_both_backends!(a_partner_connects_its_provider);
