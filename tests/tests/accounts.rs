//! Sign-up, e-mail verification, sign-in, TOTP, password reset and change.

use reqwest::StatusCode;

use crate::both;
use crate::common::{
    assert_location, element_text, input_value, signup_fields, totp_code, TestServer,
};

async fn signup_verify_signin_totp_dashboard(server: TestServer) {
    let client = server.client();
    let response = client
        .submit(
            "/signup",
            "/signup",
            &signup_fields("ada@acme.example.com", "12345678"),
        )
        .await;
    // Not signed in: the same page whether or not the address had an account.
    assert_location(&response, "/signup/sent");
    let (status, page) = client.text("/signup/sent").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("We have sent a message"));
    assert_location(&client.get("/dashboard").await, "/signin?next=%2Fdashboard");
    // Signed in before confirming: nothing but the verification page.
    let early = server.client();
    early
        .sign_in("ada@acme.example.com", crate::common::SIGNUP_PASSWORD)
        .await;
    assert_location(&early.get("/dashboard").await, "/verify-email/pending");
    let (subject, _) = server.last_mail("ada@acme.example.com").await;
    assert_eq!(subject, "Confirm your e-mail address");
    let link = server.mailed_link("ada@acme.example.com").await;
    assert_location(&client.get(&link).await, "/signin");
    // The sign-in page says so and has the address filled in (issue 34), once.
    let (_, page) = client.text("/signin").await;
    assert!(page.contains("Your e-mail address is confirmed."), "{page}");
    assert!(page.contains("value=\"ada@acme.example.com\""), "{page}");
    let (_, page) = client.text("/signin").await;
    assert!(
        !page.contains("value=\"ada@acme.example.com\""),
        "only once"
    );
    assert_location(
        &client
            .sign_in("ada@acme.example.com", crate::common::SIGNUP_PASSWORD)
            .await,
        "/dashboard",
    );
    let (status, html) = client.text("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Welcome, Ada Lovelace."), "{html}");
    assert!(html.contains("Set up two-step verification"));

    // Enrol TOTP: the page shows the key; a code from it turns the factor on.
    let (_, html) = client.text("/account/totp").await;
    let key = element_text(&html, "totp-secret")
        .unwrap_or_else(|| panic!("no key on {html}"))
        .replace(' ', "");
    let secret = app::accounts::totp::from_base32(&key).unwrap();
    // The QR code (issue 34) is the set-up address beside it, drawn as SVG: the same
    // address encoded again gives the same modules.
    let uri = crate::sandbox_docs::block(&html, "totp-uri");
    assert_eq!(
        uri,
        app::accounts::totp::otpauth_uri(&secret, "ada@acme.example.com")
    );
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M)
        .unwrap()
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let path = |svg: &str| {
        svg.split(" d=\"")
            .nth(1)
            .map(|d| d.split('"').next().unwrap().to_string())
    };
    assert!(html.contains("id=\"totp-qr\"") && html.contains("role=\"img\""));
    assert_eq!(
        path(&html),
        path(&code),
        "the QR code encodes the set-up address"
    );
    // The enrolment code, kept: the replay below sends these very digits (computing
    // them again could land in the next 30-second step and be a fresh code).
    let enrolment_code = totp_code(&server.state.clock, &secret, 0);
    let response = client
        .submit(
            "/account/totp",
            "/account/totp",
            &[("code", &enrolment_code)],
        )
        .await;
    assert_location(&response, "/account/totp/codes");
    let (_, html) = client.text("/account/totp/codes").await;
    let recovery: Vec<String> = html
        .split("<li>")
        .skip(1)
        .filter_map(|s| s.split("</li>").next())
        .filter(|s| s.len() == 11 && s.contains('-'))
        .map(str::to_string)
        .collect();
    assert_eq!(recovery.len(), 10, "{html}");
    // Shown once only.
    assert_location(&client.get("/account/totp/codes").await, "/account");

    // Sign out, then in again: password, then the second factor.
    let response = client.submit("/dashboard", "/signout", &[]).await;
    assert_location(&response, "/");
    assert_location(&client.get("/dashboard").await, "/signin?next=%2Fdashboard");
    let response = client
        .sign_in("Ada@Acme.example.com", "tidal ferret oboe lantern")
        .await;
    assert_location(&response, "/signin/code");
    // The enrolment code cannot be replayed.
    let replay = client
        .submit("/signin/code", "/signin/code", &[("code", &enrolment_code)])
        .await;
    assert_eq!(replay.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(replay.text().await.unwrap().contains("was already used"));
    let response = client
        .submit(
            "/signin/code",
            "/signin/code",
            &[("code", &totp_code(&server.state.clock, &secret, 1))],
        )
        .await;
    assert_location(&response, "/dashboard");
    let (status, html) = client.text("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Set up two-step verification: partner admins"));

    // A recovery code works once.
    client.submit("/dashboard", "/signout", &[]).await;
    client
        .sign_in("ada@acme.example.com", "tidal ferret oboe lantern")
        .await;
    let response = client
        .submit("/signin/code", "/signin/code", &[("code", &recovery[0])])
        .await;
    assert_location(&response, "/dashboard");
    client.submit("/dashboard", "/signout", &[]).await;
    client
        .sign_in("ada@acme.example.com", "tidal ferret oboe lantern")
        .await;
    let response = client
        .submit("/signin/code", "/signin/code", &[("code", &recovery[0])])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let actions = server.audit_actions().await;
    for expected in [
        "organisation.created",
        "user.signed_up",
        "user.email_verified",
        "mfa.enrolled",
        "signout",
        "signin.success",
        "signin.failure",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    let verdict = app::audit::chain::verify(server.pool()).await.unwrap();
    assert!(
        matches!(verdict, app::audit::chain::Verdict::Intact { .. }),
        "{verdict}"
    );
    // No secret ever reaches the trail.
    let details: Vec<String> =
        sqlx::query_scalar("SELECT details || COALESCE(actor_label, '') FROM audit_events")
            .fetch_all(server.pool())
            .await
            .unwrap();
    assert!(details
        .iter()
        .all(|d| !d.contains("tidal ferret") && !d.contains(&key)));
}
both!(signup_verify_signin_totp_dashboard);

async fn signup_rejects_bad_input_and_writes_nothing(server: TestServer) {
    let client = server.client();
    let before = (
        server.count("SELECT COUNT(*) FROM organisations").await,
        server.count("SELECT COUNT(*) FROM users").await,
    );
    let events = server.count("SELECT COUNT(*) FROM audit_events").await;

    // Missing everything: every field is named, 422.
    let response = client.submit("/signup", "/signup", &[]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    for message in [
        "Enter the organisation's legal name",
        "Enter the company registration number",
        "Enter the country of registration",
        "Enter your full name",
        "Enter an e-mail address",
        "Enter a password",
    ] {
        assert!(html.contains(message), "{message} missing");
    }
    assert!(html.contains("There is a problem") && html.contains("role=\"alert\""));

    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "email",
            "not-an-email",
            "Enter an e-mail address in the correct format",
        ),
        ("lei", "5493001KJTIIGC8Y1R13", "check digits are wrong"),
        ("country", "UK", "two-letter ISO 3166 code"),
        ("website", "acme.example.com", "full address"),
        ("password", "password1234", "too common"),
        ("password", "short", "12 characters or more"),
    ];
    let too_long = "x".repeat(201);
    let mut all_cases = cases.clone();
    all_cases.push(("legal_name", too_long.as_str(), "200 characters or fewer"));
    for (field, value, message) in all_cases {
        let mut fields = signup_fields("grace@acme.example.com", "87654321");
        fields.retain(|(k, _)| *k != field);
        fields.push((field, value));
        let response = client.submit("/signup", "/signup", &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{field}: {message} not in page");
        // The user's input is kept (except the password).
        assert_eq!(
            input_value(&html, "full_name").as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(input_value(&html, "password").as_deref(), Some(""));
    }
    assert_eq!(
        (
            server.count("SELECT COUNT(*) FROM organisations").await,
            server.count("SELECT COUNT(*) FROM users").await
        ),
        before
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM audit_events").await,
        events
    );

    // Duplicates: 409, and the first organisation is untouched.
    server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    let orgs = server.count("SELECT COUNT(*) FROM organisations").await;
    let response = client
        .submit(
            "/signup",
            "/signup",
            &signup_fields("other@acme.example.com", "12345678"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("already registered"));
    // An address that has an account: the same answer as a new one (no user
    // enumeration, issue 19 item 6); nothing is created, and the owner is told.
    let fresh = server.client();
    let new_address = fresh
        .submit(
            "/signup",
            "/signup",
            &signup_fields("newcomer@acme.example.com", "55555555"),
        )
        .await;
    let response = client
        .submit(
            "/signup",
            "/signup",
            &signup_fields("ADA@acme.example.com", "99999999"),
        )
        .await;
    assert_eq!(response.status(), new_address.status());
    assert_eq!(
        response.headers().get("location"),
        new_address.headers().get("location")
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM organisations").await,
        orgs + 1,
        "only the newcomer's organisation"
    );
    let (subject, body) = server.last_mail("ada@acme.example.com").await;
    assert_eq!(subject, "Your Gatehouse account already exists");
    assert!(body.contains("/password/forgot") && !body.contains("token="));

    // A body larger than the limit is refused before it is read.
    let big = "y".repeat(100 * 1024);
    let token = client.csrf("/signup").await;
    let response = client
        .post("/signup", &[("csrf_token", &token), ("legal_name", &big)])
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM organisations").await,
        orgs + 1,
        "nothing since the newcomer's organisation"
    );
}
both!(signup_rejects_bad_input_and_writes_nothing);

async fn signin_failures_are_uniform(server: TestServer) {
    server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    let client = server.client();
    let wrong = client
        .sign_in("ada@acme.example.com", "not the password")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong = wrong.text().await.unwrap();
    let unknown = client
        .sign_in("nobody@acme.example.com", "not the password")
        .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = unknown.text().await.unwrap();
    assert!(wrong.contains("Enter a correct e-mail address and password"));
    assert!(unknown.contains("Enter a correct e-mail address and password"));
    assert_eq!(
        input_value(&unknown, "email").as_deref(),
        Some("nobody@acme.example.com")
    );
    let missing = client.submit("/signin", "/signin", &[]).await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing
        .text()
        .await
        .unwrap()
        .contains("Enter your e-mail address"));
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'signin.failure'")
            .await,
        2
    );
    // Open redirects are not followed.
    let response = client
        .submit(
            "/signin",
            "/signin",
            &[
                ("email", "ada@acme.example.com"),
                ("password", "tidal ferret oboe lantern"),
                ("next", "//evil.example.com"),
            ],
        )
        .await;
    assert_location(&response, "/dashboard");
}
both!(signin_failures_are_uniform);

async fn links_are_single_use_and_expire(server: TestServer) {
    let client = server.client();
    client
        .submit(
            "/signup",
            "/signup",
            &signup_fields("ada@acme.example.com", "12345678"),
        )
        .await;
    let link = server.mailed_link("ada@acme.example.com").await;
    assert_eq!(client.get(&link).await.status(), StatusCode::SEE_OTHER);
    let (status, html) = client.text(&link).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("This link is not valid"));
    let (status, _) = client.text("/verify-email?token=made-up").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Password reset: an expired link is refused; a fresh one works once and ends every session.
    let other = server.client();
    other
        .sign_in("ada@acme.example.com", "tidal ferret oboe lantern")
        .await;
    assert_eq!(other.get("/dashboard").await.status(), StatusCode::OK);
    let response = other
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "nobody@acme.example.com")],
        )
        .await;
    assert_location(&response, "/signin");
    let response = server
        .client()
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "ada@acme.example.com")],
        )
        .await;
    assert_location(&response, "/signin");
    server
        .wait_for_mails("ada@acme.example.com", "Reset your Gatehouse password", 1)
        .await;
    let link = server.mailed_link("ada@acme.example.com").await;
    // A reset link lives an hour by the application's clock.
    server.state.clock.advance(3600 - 60);
    let (status, _) = client.text(&link).await;
    assert_eq!(status, StatusCode::OK, "59 minutes: still valid");
    server.state.clock.advance(61);
    let (status, html) = client.text(&link).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("This link has expired"));

    server
        .client()
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "ada@acme.example.com")],
        )
        .await;
    server
        .wait_for_mails("ada@acme.example.com", "Reset your Gatehouse password", 2)
        .await;
    let link = server.mailed_link("ada@acme.example.com").await;
    let token = link.split("token=").nth(1).unwrap().to_string();
    let weak = client
        .submit(
            &link,
            "/password/reset",
            &[("token", &token), ("password", "qwerty123")],
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = client
        .submit(
            &link,
            "/password/reset",
            &[("token", &token), ("password", "a brand new passphrase")],
        )
        .await;
    assert_location(&response, "/signin");
    let replay = client
        .submit(
            "/signin",
            "/password/reset",
            &[("token", &token), ("password", "another new passphrase")],
        )
        .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    // The session signed in before the reset has ended.
    assert_location(&other.get("/dashboard").await, "/signin?next=%2Fdashboard");
    let response = client
        .sign_in("ada@acme.example.com", "a brand new passphrase")
        .await;
    assert_location(&response, "/dashboard");

    // Password change: wrong current password is refused; the right one works.
    let response = client
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "wrong"),
                ("new_password", "yet another passphrase"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = client
        .submit(
            "/account/password",
            "/account/password",
            &[
                ("current_password", "a brand new passphrase"),
                ("new_password", "yet another passphrase"),
            ],
        )
        .await;
    assert_location(&response, "/account");
    assert_eq!(
        client.get("/dashboard").await.status(),
        StatusCode::OK,
        "the changing session continues"
    );
}
both!(links_are_single_use_and_expire);

async fn csrf_is_required_on_every_post(server: TestServer) {
    server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    let client = server.client();
    let orgs = server.count("SELECT COUNT(*) FROM organisations").await;
    client.get("/signup").await;
    // No token.
    let response = client
        .post(
            "/signup",
            &signup_fields("eve@acme.example.com", "55555555"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A token from another session.
    let foreign = server.client().csrf("/signup").await;
    let mut fields = signup_fields("eve@acme.example.com", "55555555");
    fields.push(("csrf_token", &foreign));
    assert_eq!(
        client.post("/signup", &fields).await.status(),
        StatusCode::FORBIDDEN
    );
    // The right token, but the browser says the request is cross-site.
    let token = client.csrf("/signup").await;
    let mut fields = signup_fields("eve@acme.example.com", "55555555");
    fields.push(("csrf_token", &token));
    let response = client
        .http
        .post(format!("{}/signup", server.base))
        .header("sec-fetch-site", "cross-site")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = client
        .http
        .post(format!("{}/signup", server.base))
        .header("origin", "https://evil.example.com")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM organisations").await,
        orgs
    );
    // Every refusal is in the audit trail, with its reason and path.
    let refused = server
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'security.csrf_refused' AND outcome = 'failure' AND details LIKE '%/signup%'")
        .await;
    assert!(refused >= 3, "{refused} refusals recorded");
    // The same form with everything right goes through.
    assert_eq!(
        client.post("/signup", &fields).await.status(),
        StatusCode::SEE_OTHER
    );
}
both!(csrf_is_required_on_every_post);

async fn staff_must_enrol_a_second_factor(server: TestServer) {
    // A fresh installation prints a one-time set-up link for the first admin.
    let link = server
        .admin_setup_link
        .clone()
        .expect("first start prints a set-up link");
    let path = link.strip_prefix(&server.base).unwrap().to_string();
    let token = path.split("token=").nth(1).unwrap().to_string();
    let client = server.client();
    let response = client
        .submit(
            &path,
            "/setup",
            &[
                ("token", &token),
                ("display_name", "Grace Hopper"),
                ("password", "cobol compiler pioneer"),
            ],
        )
        .await;
    assert_location(&response, "/signin");
    let response = client
        .sign_in("admin@example.com", "cobol compiler pioneer")
        .await;
    assert_location(&response, "/dashboard");
    // Nothing but enrolment until the second factor is on.
    assert_location(&client.get("/dashboard").await, "/account/totp");
    assert_location(&client.get("/admin/audit").await, "/account/totp");
    assert_eq!(client.get("/account/totp").await.status(), StatusCode::OK);
    // The link cannot be used twice.
    let (status, _) = client.text(&path).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
both!(staff_must_enrol_a_second_factor);

async fn totp_enrolment_refuses_wrong_codes(server: TestServer) {
    let client = server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    let (_, html) = client.text("/account/totp").await;
    let key = element_text(&html, "totp-secret").unwrap().replace(' ', "");
    let secret = app::accounts::totp::from_base32(&key).unwrap();
    let right = totp_code(&server.state.clock, &secret, 0);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for code in [wrong, "abc", "", "1234567"] {
        let response = client
            .submit("/account/totp", "/account/totp", &[("code", code)])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "code {code:?}"
        );
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("There is a problem"));
    }
    let enrolled = server
        .count("SELECT COUNT(*) FROM users WHERE totp_enabled_at IS NOT NULL")
        .await;
    assert_eq!(enrolled, 0, "a wrong code enrols nothing");
    let response = client
        .submit("/account/totp", "/account/totp", &[("code", &right)])
        .await;
    assert_location(&response, "/account/totp/codes");
}
both!(totp_enrolment_refuses_wrong_codes);
