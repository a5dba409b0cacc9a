//! Single sign-on for bank staff (issue 28), through a started server on both
//! databases, against a real OpenID provider (node's `oidc-provider`, tests/oidc):
//! a reviewer joins just in time from a mapped group and decides a request after a
//! fresh multi-factor sign-in at the provider; a group change at the provider
//! changes the role at the next sign-in; every untrusted answer is refused, audited
//! and writes nothing; a key rotation at the provider locks nobody out;
//! back-channel logout ends a session in flight; the dormant-staff job deactivates
//! on a controlled clock; local staff passwords can be switched off.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_location, Backend, TestServer};
use crate::on_both_backends;
use crate::sso_idp::{person, server_with, sign_in, Idp, ID};

async fn user(server: &TestServer, email: &str) -> Option<(String, String, String)> {
    sqlx::query_as("SELECT id, role, status FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(server.pool())
        .await
        .unwrap()
}

async fn refusals(server: &TestServer) -> Vec<String> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'sso.signin_refused' ORDER BY seq",
    )
    .fetch_all(server.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn accounts() -> Value {
    json!({
        "rita": person("rita@bank.example.com", &["gh-reviewers", "everyone"], true),
        "pat": person("pat@bank.example.com", &["gh-reviewers"], false),
        "nogroups": { "claims": { "email": "ng@bank.example.com", "email_verified": true }, "amr": ["mfa"] },
        "outsider": person("out@bank.example.com", &["marketing"], true),
        "unverified": { "claims": { "email": "uv@bank.example.com", "email_verified": false, "groups": ["gh-reviewers"] }, "amr": ["mfa"] },
        "partner": person("admin@acme-budgeting.example.com", &["gh-admins"], true),
        "reviewer": person("reviewer@bank.example.com", &["gh-reviewers"], true),
        "silent": { "claims": { "email": "silent@bank.example.com", "groups": ["gh-reviewers"] }, "amr": ["mfa"] },
        "rita-again": person("rita@bank.example.com", &["gh-admins"], true),
    })
}

/// A reviewer's whole way in: the sign-in page offers the provider; Rita, in the
/// reviewers' group with a multi-factor sign-in, gets an account just in time
/// (audited with the claims that mattered), works the queue, and approves a request
/// after confirming at the provider instead of typing a code; the confirmation is
/// good for one decision. An existing local reviewer is linked by e-mail.
async fn a_reviewer_joins_through_the_provider_and_decides(backend: Backend) {
    let Some(idp) = Idp::start(accounts()) else {
        return;
    };
    let Some(server) = server_with(backend, &idp, |_| {}).await else {
        return;
    };
    let rita = server.client();
    let (_, page) = rita.text("/signin").await;
    assert!(page.contains("Sign in with Bank SSO"), "{page}");
    assert!(user(&server, "rita@bank.example.com").await.is_none());

    let browser = idp.browser();
    let (response, _) = sign_in(&rita, &idp, &browser, "rita").await;
    assert_location(&response, "/dashboard");
    let (id, role, status) = user(&server, "rita@bank.example.com").await.unwrap();
    assert_eq!((role.as_str(), status.as_str()), ("reviewer", "active"));
    let (details,): (String,) = sqlx::query_as(
        "SELECT details FROM audit_events WHERE action = 'sso.account_created' AND resource_id = $1",
    )
    .bind(&id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["role"], "reviewer", "{details}");
    assert_eq!(details["claims"]["acr"], crate::sso_idp::MFA, "{details}");
    assert_eq!(details["mfa_from_idp"], true);
    let dashboard = rita.get("/dashboard").await;
    assert_eq!(
        dashboard.status(),
        StatusCode::OK,
        "{:?}",
        dashboard.headers().get("location")
    );
    let page = dashboard.text().await.unwrap();
    assert!(page.contains("rita"), "{page}");

    // A request waiting for one reviewer; the page offers the provider's step-up.
    let (request_id,): (String,) = sqlx::query_as(
        "SELECT id FROM access_requests WHERE status = 'pending_review' AND route = 'one_reviewer' ORDER BY id LIMIT 1",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let review = format!("/review/production/{request_id}");
    let (status, page) = rita.text(&review).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("confirm with your identity provider"),
        "{page}"
    );
    // Without a code or a confirmation, approving is refused.
    let response = crate::production::review(
        &rita,
        &request_id,
        &[("decision", "approve"), ("scopes", "reference")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A fresh sign-in at the provider (prompt=login: the form is shown again).
    let step_up = rita.get(&format!("/sso/step-up?next={review}")).await;
    assert_eq!(step_up.status(), StatusCode::SEE_OTHER);
    let to_idp = step_up.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to_idp.contains("prompt=login") && to_idp.contains("max_age=0"),
        "{to_idp}"
    );
    let back = idp.authenticate(&browser, &to_idp, "rita").await;
    let response = rita.http.get(&back).send().await.unwrap();
    assert_location(&response, &review);
    let (_, page) = rita.text(&review).await;
    assert!(
        page.contains("Confirmed with your identity provider"),
        "{page}"
    );
    let fields = [
        ("decision", "approve"),
        ("scopes", "reference"),
        ("reason", "Fine."),
    ];
    let response = crate::production::review(&rita, &request_id, &fields).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "{}",
        crate::common::element_text(&text, "error-summary").unwrap_or(text.clone())
    );
    let (decision, step_up_at): (String, Option<i64>) = sqlx::query_as(
        "SELECT decision, step_up_at FROM access_reviews WHERE request_id = $1 AND reviewer_id = $2",
    )
    .bind(&request_id)
    .bind(&id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(decision, "approve");
    assert!(step_up_at.is_some());
    // Used up: the next approval needs a new confirmation.
    let (_, page) = rita.text("/review/production").await;
    let _ = page;
    let (_, page) = rita.text(&review).await;
    assert!(!page.contains("Confirmed with your identity provider"));

    // The demo's local reviewer signs in through the provider too: linked, not duplicated.
    let local = server.client();
    let (response, _) = sign_in(&local, &idp, &idp.browser(), "reviewer").await;
    assert_location(&response, "/dashboard");
    let linked: i64 = server
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'sso.account_linked'")
        .await;
    assert_eq!(linked, 1);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM users WHERE email = 'reviewer@bank.example.com'")
            .await,
        1
    );
    // Linked, the account signs in through the provider only: no password, no reset.
    let response = server
        .client()
        .sign_in(
            "reviewer@bank.example.com",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await;
    assert_ne!(response.status(), StatusCode::SEE_OTHER);
}
on_both_backends!(a_reviewer_joins_through_the_provider_and_decides);

/// Everything the provider sends is untrusted: a missing groups claim, no mapped
/// group, an unverified e-mail, a partner's e-mail, a replayed callback, a forged
/// `state` and a callback without a sign-in under way are each refused with a
/// clear page, audited, and write no account. A person whose sign-in proves no
/// second factor is signed in, but as staff must still add Gatehouse's own.
async fn untrusted_answers_are_refused(backend: Backend) {
    let Some(idp) = Idp::start(accounts()) else {
        return;
    };
    let Some(server) = server_with(backend, &idp, |_| {}).await else {
        return;
    };
    let users_before = server.count("SELECT COUNT(*) FROM users").await;
    for (username, reason) in [
        ("nogroups", "missing_groups"),
        ("outsider", "no_mapped_group"),
        ("unverified", "email_unverified"),
        ("silent", "email_unverified"),
        ("partner", "email_in_use"),
    ] {
        let client = server.client();
        let (response, _) = sign_in(&client, &idp, &idp.browser(), username).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{username}");
        let page = response.text().await.unwrap();
        assert!(page.contains("Sign-in refused"), "{page}");
        assert_eq!(refusals(&server).await.last().unwrap(), reason);
        let (status, _) = client.text("/dashboard").await;
        assert_ne!(status, StatusCode::OK, "{username} is not signed in");
    }
    assert_eq!(
        server.count("SELECT COUNT(*) FROM users").await,
        users_before
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM sso_identities").await, 0);
    // The partner's account keeps its role.
    assert_eq!(
        user(&server, "admin@acme-budgeting.example.com")
            .await
            .unwrap()
            .1,
        "partner_admin"
    );

    // A replayed callback (the same code and state again) finds no sign-in under way.
    let client = server.client();
    let (response, callback) = sign_in(&client, &idp, &idp.browser(), "rita").await;
    assert_location(&response, "/dashboard");
    let other = server.client();
    let replay = other.http.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refusals(&server).await.last().unwrap(),
        "no_sign_in_under_way"
    );
    let replay = client.http.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    // Another identity with Rita's e-mail address does not get her account.
    let (response, _) = sign_in(&server.client(), &idp, &idp.browser(), "rita-again").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(refusals(&server).await.last().unwrap(), "email_in_use");
    assert_eq!(
        user(&server, "rita@bank.example.com").await.unwrap().1,
        "reviewer"
    );
    // A forged state: the sign-in under way is not this one.
    let mallory = server.client();
    let start = mallory.get(&format!("/sso/{ID}/start")).await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let forged = mallory
        .get(&format!(
            "/sso/{ID}/callback?code=abc&state=forged&iss={}",
            idp.issuer
        ))
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(refusals(&server).await.last().unwrap(), "state_mismatch");
    // An authorization response naming another issuer (RFC 9207 mix-up).
    let start = mallory.get(&format!("/sso/{ID}/start")).await;
    let to_idp = start.headers()["location"].to_str().unwrap().to_string();
    let state = url::Url::parse(&to_idp)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let mixed = mallory
        .get(&format!(
            "/sso/{ID}/callback?code=abc&state={state}&iss=https%3A%2F%2Fevil.example"
        ))
        .await;
    assert_eq!(mixed.status(), StatusCode::FORBIDDEN);
    assert_eq!(refusals(&server).await.last().unwrap(), "wrong_issuer");
    // An unknown provider is not found; an error from the provider is refused.
    assert_eq!(
        mallory.get("/sso/nope/start").await.status(),
        StatusCode::NOT_FOUND
    );

    // No second factor at the provider: signed in, but staff pages ask for Gatehouse's.
    let pat = server.client();
    let (response, _) = sign_in(&pat, &idp, &idp.browser(), "pat").await;
    assert_location(&response, "/dashboard");
    let queue = pat.get("/review/production").await;
    assert_location(&queue, "/account/totp");
}
on_both_backends!(untrusted_answers_are_refused);

/// Leaving and changing at the provider: a group change gives the new role at the
/// next sign-in and ends the sessions opened under the old one; a key rotation at
/// the provider is followed; leaving every mapped group deactivates the account;
/// RP-initiated logout at the provider sends a
/// back-channel logout token that ends Gatehouse's session at once; a forged logout
/// token is refused.
async fn the_provider_s_changes_take_effect(backend: Backend) {
    let Some(idp) = Idp::start(accounts()) else {
        return;
    };
    let Some(server) = server_with(backend, &idp, |_| {}).await else {
        return;
    };
    let first = server.client();
    let (response, _) = sign_in(&first, &idp, &idp.browser(), "rita").await;
    assert_location(&response, "/dashboard");
    assert_eq!(
        user(&server, "rita@bank.example.com").await.unwrap().1,
        "reviewer"
    );

    // Promoted at the provider; the provider also rotates its signing key.
    let mut promoted = accounts();
    promoted["rita"] = person("rita@bank.example.com", &["gh-approvers"], true);
    idp.set(promoted).await;
    idp.rotate().await;
    let second = server.client();
    let browser = idp.browser();
    let (response, _) = sign_in(&second, &idp, &browser, "rita").await;
    assert_location(&response, "/dashboard");
    assert_eq!(
        user(&server, "rita@bank.example.com").await.unwrap().1,
        "approver"
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'sso.role_changed'")
            .await,
        1
    );
    // The session opened as a reviewer has ended.
    let (status, _) = first.text("/dashboard").await;
    assert_ne!(status, StatusCode::OK);
    let (status, _) = second.text("/dashboard").await;
    assert_eq!(status, StatusCode::OK);

    // Logout at the provider ends the session in flight.
    idp.log_out(&browser).await;
    let mut ended = false;
    for _ in 0..50 {
        if second.text("/dashboard").await.0 != StatusCode::OK {
            ended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let details: Vec<String> =
        sqlx::query_scalar("SELECT details FROM audit_events WHERE action = 'sso.signin_refused'")
            .fetch_all(server.pool())
            .await
            .unwrap();
    assert!(ended, "back-channel logout ended the session: {details:?}");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'sso.backchannel_logout'")
            .await,
        1
    );

    // Out of every Gatehouse group at the provider: refused at the next sign-in, and
    // the account is deactivated (leaving the bank ends access here too).
    let mut removed = accounts();
    removed["rita"] = person("rita@bank.example.com", &["everyone"], true);
    idp.set(removed).await;
    let third = server.client();
    let (response, _) = sign_in(&third, &idp, &idp.browser(), "rita").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, role, status) = user(&server, "rita@bank.example.com").await.unwrap();
    assert_eq!((role.as_str(), status.as_str()), ("approver", "disabled"));
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'sso.access_removed'")
            .await,
        1
    );

    // The same logout token again (a replay): refused.
    let token = idp.last_logout_token().await;
    let replay = reqwest::Client::new()
        .post(format!("{}/sso/{ID}/backchannel-logout", server.base))
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'sso.backchannel_logout'")
            .await,
        1
    );

    // Forged and malformed logout tokens: 400, audited, nothing ended.
    let http = reqwest::Client::new();
    let url = format!("{}/sso/{ID}/backchannel-logout", server.base);
    for body in [
        vec![("logout_token", "not.a.jwt")],
        vec![("logout_token", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")],
        vec![],
    ] {
        let response = http.post(&url).form(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request");
    }
    let unknown = http
        .post(format!("{}/sso/nope/backchannel-logout", server.base))
        .form(&[("logout_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}
on_both_backends!(the_provider_s_changes_take_effect);

/// Staff not seen at the provider for the dormancy period are deactivated by the
/// scheduler's job on the application's clock: sessions end, the person and the
/// bank admins are e-mailed once, the provider's next sign-in is refused until a
/// bank admin reactivates the account from the SSO page. The staff session cap
/// (8 hours) ends a session a partner's would outlive.
async fn dormant_staff_are_deactivated(backend: Backend) {
    let Some(idp) = Idp::start(accounts()) else {
        return;
    };
    let Some(server) = server_with(backend, &idp, |s| s.sso_dormant_days = 30).await else {
        return;
    };
    server.wait_for_first_tick().await;
    let rita = server.client();
    let (response, _) = sign_in(&rita, &idp, &idp.browser(), "rita").await;
    assert_location(&response, "/dashboard");

    // The admin's page lists her with the claims last received.
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let (status, page) = admin.text("/admin/sso").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("rita@bank.example.com") && page.contains("gh-reviewers"),
        "{page}"
    );
    assert!(
        page.contains(&format!("{}/sso/{ID}/callback", server.base)),
        "{page}"
    );

    // Eight hours and a minute later the staff session has ended (cap), not earlier.
    server.state.clock.advance(7 * 3600);
    assert_eq!(rita.text("/dashboard").await.0, StatusCode::OK);
    server.state.clock.advance(3600 + 60);
    assert_ne!(rita.text("/dashboard").await.0, StatusCode::OK);

    let summary = server.run_job("sso_dormant_staff").await;
    assert_eq!(summary["deactivated"], json!([]));
    server.state.clock.advance(31 * 86_400);
    let summary = server.run_job("sso_dormant_staff").await;
    assert_eq!(summary["deactivated"], json!(["rita@bank.example.com"]));
    let (id, _, status) = user(&server, "rita@bank.example.com").await.unwrap();
    assert_eq!(status, "disabled");
    server
        .wait_for_mails(
            "rita@bank.example.com",
            "Gatehouse account deactivated after inactivity",
            1,
        )
        .await;
    // Again: nothing more, no second notice.
    let summary = server.run_job("sso_dormant_staff").await;
    assert_eq!(summary["deactivated"], json!([]));
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'sso.staff_deactivated'")
            .await,
        1
    );
    // A bank admin reactivates her (audited); an unknown or active account is not found.
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let (_, page) = admin.text("/admin/sso").await;
    assert!(page.contains("Deactivated"), "{page}");
    let action = format!("/admin/sso/staff/{id}/reactivate");
    let response = admin.submit("/admin/sso", &action, &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        user(&server, "rita@bank.example.com").await.unwrap().2,
        "active"
    );
    let summary = server.run_job("sso_dormant_staff").await;
    assert_eq!(
        summary["deactivated"],
        json!([]),
        "reactivation counts as seen"
    );
    let again = admin.submit("/admin/sso", &action, &[]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let partner = server.demo_partner().await;
    let response = partner.submit("/dashboard", &action, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
on_both_backends!(dormant_staff_are_deactivated);

/// `private_key_jwt` towards the provider (RFC 7523): Gatehouse signs a client
/// assertion with the configured P-256 key instead of sending a secret, and the
/// provider, which knows only the public key, accepts it. With local staff
/// passwords off, a bank staff password is refused and a partner's still works.
async fn a_private_key_jwt_client_signs_in(backend: Backend) {
    use base64::Engine;
    let Some(idp) = Idp::start(accounts()) else {
        return;
    };
    let key = rcgen::KeyPair::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("sso-client.pem");
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let point = key.public_key_raw();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = json!({ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]), "kid": "gh-1", "use": "sig", "alg": "ES256" });
    let spec = crate::sso_idp::spec(&idp.issuer).replace(
        &format!("secret={}", crate::sso_idp::SECRET),
        &format!("key-file={};key-id=gh-1", key_file.display()),
    );
    let Some(server) = TestServer::start_with(backend, |s| {
        s.demo = true;
        s.staff_idps = vec![spec];
        s.local_staff_passwords = false;
    })
    .await
    else {
        return;
    };
    idp.register_with_key(&server.base, jwk).await;
    // Local staff passwords are off: the demo reviewer's is refused, a partner's works.
    let response = server
        .client()
        .sign_in(
            "reviewer@bank.example.com",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await;
    assert_ne!(response.status(), StatusCode::SEE_OTHER);
    let response = server
        .client()
        .sign_in(
            "dev@acme-budgeting.example.com",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let rita = server.client();
    let (response, _) = sign_in(&rita, &idp, &idp.browser(), "rita").await;
    assert_location(&response, "/dashboard");
    assert_eq!(
        user(&server, "rita@bank.example.com").await.unwrap().1,
        "reviewer"
    );
}
on_both_backends!(a_private_key_jwt_client_signs_in);
