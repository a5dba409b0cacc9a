//! Issue 19, "portal hardening": one regression test per class of defect, named
//! `item_N_…`, against a real server on both databases.

use reqwest::StatusCode;

use crate::both;
use crate::common::{assert_location, TestServer};

/// Items 1 and 2: `next` after sign-in is a same-origin path in every form a browser
/// could read it, or dropped; a control character in it is never a 500.
async fn item_1_2_sign_in_next_is_same_origin(server: TestServer) {
    for hostile in [
        "/\t/evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "//evil.example",
        "/\n/evil.example",
        "/x\r\nSet-Cookie: a=b",
        "/x\u{7f}",
        "https://evil.example/",
    ] {
        let client = server.client();
        let response = client
            .submit(
                "/signin",
                "/signin",
                &[
                    ("email", "dev@acme-budgeting.example.com"),
                    ("password", app::accounts::bootstrap::DEMO_PASSWORD),
                    ("next", hostile),
                ],
            )
            .await;
        if response.status() == StatusCode::UNPROCESSABLE_ENTITY {
            // DEL and other controls no field accepts are refused before sign-in.
            assert!(hostile.contains('\u{7f}'), "{hostile:?}");
        } else {
            assert_location(&response, "/dashboard");
        }
        // The sign-in page itself, linked with such a `next`, renders.
        let response = server
            .client()
            .http
            .get(format!("{}/signin", server.base))
            .query(&[("next", hostile)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{hostile:?}");
    }
    // A same-origin path is kept.
    let client = server.client();
    let response = client
        .submit(
            "/signin",
            "/signin",
            &[
                ("email", "dev@acme-budgeting.example.com"),
                ("password", app::accounts::bootstrap::DEMO_PASSWORD),
                ("next", "/sandbox/apps"),
            ],
        )
        .await;
    assert_location(&response, "/sandbox/apps");
}
both!(item_1_2_sign_in_next_is_same_origin, demo);

/// Every `<textarea>` a page writes is closed exactly where the page closed it: no
/// value can end it early (item 3).
fn assert_textareas_closed(html: &str, marker: &str) {
    assert_eq!(
        html.matches("<textarea").count(),
        html.matches("</textarea>").count(),
        "every textarea closes once"
    );
    assert!(
        !html.contains(marker),
        "the injected element is not in the page"
    );
}

/// Item 3: text-area contents are escaped, when saved and when a form comes back with
/// errors.
async fn item_3_textareas_escape_their_contents(server: TestServer) {
    use crate::sandbox_helpers::*;
    let injected = "</textarea><a id=\"injected\" href=\"//evil.example\">x</a>";
    let marker = "<a id=\"injected\"";
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    // A form that comes back with errors, its text areas refilled.
    let mut fields = app_fields("", &owner, "private_key_jwt", injected);
    fields.retain(|(k, _)| *k != "redirect_uris");
    fields.push(("redirect_uris", injected));
    let response = developer
        .submit("/sandbox/apps/new", "/sandbox/apps", &fields)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("&lt;/textarea&gt;"),
        "the value is kept, escaped"
    );
    assert_textareas_closed(&html, marker);

    // A saved multi-line answer in onboarding, read back by every member.
    let admin = server
        .demo_partner_user("admin@acme-budgeting.example.com")
        .await;
    let (_, html) = admin.text("/onboarding").await;
    assert_textareas_closed(&html, marker);
}
both!(item_3_textareas_escape_their_contents, demo);

/// Item 5: a failed sign-in whose e-mail and user agent start with formula
/// characters appears in the bank admin's audit CSV as text, not as a formula.
async fn item_5_csv_exports_neutralise_formulas(server: TestServer) {
    let formula = "=HYPERLINK(\"https://evil.example\",\"x\")";
    let client = reqwest::Client::builder()
        .user_agent("@SUM(1+1)*cmd|' /C calc'!A0")
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/signin", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::common::input_value(&page, "csrf_token").unwrap();
    let response = client
        .post(format!("{}/signin", server.base))
        .header("origin", &server.base)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", &format!("{formula}@example.com")),
            ("password", "wrong password entirely"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let csv = admin
        .get("/admin/audit/export?format=csv&action=signin")
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let mut cells = 0;
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            cells += 1;
            let risky = cell.starts_with(['=', '+', '@', '\t', '\r'])
                || (cell.starts_with('-') && cell.parse::<f64>().is_err());
            assert!(!risky, "a live formula in the export: {cell:?}");
        }
    }
    assert!(cells > 0);
    assert!(
        csv.contains("'@SUM(1+1)"),
        "the user agent is kept, as text: {csv}"
    );
}
both!(item_5_csv_exports_neutralise_formulas, demo);

/// Item 4: control characters (other than tab and line breaks) and invalid UTF-8 are
/// refused with the field named, never stored or repaired; nothing is written.
async fn item_4_control_characters_and_invalid_utf8_are_refused(server: TestServer) {
    use crate::sandbox_helpers::*;
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let apps = async || -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM apps")
            .fetch_one(server.pool())
            .await
            .unwrap()
    };
    let before = apps().await;
    for purpose in [
        "budgeting\u{0}app",
        "colour \u{1b}[31mred",
        "bell\u{7}",
        "nel\u{85}",
    ] {
        let mut fields = app_fields("Control app", &owner, "client_secret_basic", "");
        fields.retain(|(k, _)| *k != "purpose");
        fields.push(("purpose", purpose));
        let response = developer
            .submit("/sandbox/apps/new", "/sandbox/apps", &fields)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{purpose:?}"
        );
        let page = response.text().await.unwrap();
        assert!(
            page.contains("purpose") && page.contains("control character"),
            "{page}"
        );
    }
    // Invalid UTF-8 is refused, not turned into U+FFFD.
    let csrf = developer.csrf("/sandbox/apps/new").await;
    let body = format!(
        "csrf_token={csrf}&name=Bad%FF%FEname&purpose=x&owner_id={owner}&auth_method=client_secret_basic&scopes=reference"
    );
    let response = developer
        .http
        .post(format!("{}/sandbox/apps", server.base))
        .header("origin", &server.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("UTF-8"));
    // The JSON API too, where JSON escapes carry the control character.
    let response = developer
        .http
        .post(format!("{}/api/v1/sandbox/apps", server.base))
        .header("origin", &server.base)
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"name":"Json\u0000app","purpose":"x","owner_id":"{owner}","scopes":["reference"],"auth_method":"client_secret_basic"}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["fields"]["name"].as_str().unwrap().contains("U+0000"));
    assert_eq!(apps().await, before, "nothing written");
    // Line breaks and tabs in a multi-line field are fine.
    let mut fields = app_fields("Multi-line app", &owner, "client_secret_basic", "");
    fields.retain(|(k, _)| *k != "redirect_uris");
    fields.push((
        "redirect_uris",
        "https://app.example.com/a\r\n\thttps://app.example.com/b",
    ));
    let response = developer
        .submit("/sandbox/apps/new", "/sandbox/apps", &fields)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}
both!(item_4_control_characters_and_invalid_utf8_are_refused, demo);

/// Item 10: forged anonymous posts cannot grow the audit trail at will: repeats from
/// one source in a window become one summary event with their count.
async fn item_10_repeated_refusals_are_aggregated(server: TestServer) {
    let count = async |action: &str| -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = $1")
            .bind(action)
            .fetch_one(server.pool())
            .await
            .unwrap()
    };
    let before = count("security.csrf_refused").await;
    let http = reqwest::Client::new();
    for _ in 0..300 {
        let response = http
            .post(format!("{}/signup", server.base))
            .form(&[("legal_name", "Forged Ltd")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(
        count("security.csrf_refused").await - before,
        1,
        "one event now"
    );
    server
        .state
        .clock
        .advance(app::platform::repeats::WINDOW + 1);
    assert_eq!(
        app::platform::repeats::flush(&server.state).await.unwrap(),
        1
    );
    let details: String = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'security.csrf_refused_repeated' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["repeated"], 299, "the rest, counted: {details}");
}
both!(item_10_repeated_refusals_are_aggregated);

/// Item 14: a request-log batch whose write fails is retried, and what is still lost
/// is counted in a metric and shown to bank admins (readiness is judged on the log).
async fn item_14_lost_request_log_entries_are_counted_and_shown(server: TestServer) {
    let entry = app::clients::reqlog::Entry {
        app_id: "app_that_does_not_exist".into(),
        credential_id: None,
        at: server.state.clock.now(),
        method: "GET",
        endpoint: "/sandbox/open-banking/v3.1/aisp/accounts".into(),
        status: 200,
        latency_us: 10,
        error: None,
        scope: None,
        source: None,
    };
    // The table is away (as in an outage) for every attempt: the entries are dropped
    // and counted.
    let rename = async |from: &str, to: &str| {
        sqlx::query(&format!("ALTER TABLE {from} RENAME TO {to}"))
            .execute(server.pool())
            .await
            .unwrap();
    };
    rename("request_log", "request_log_away").await;
    app::clients::reqlog::write_with_retries(
        &server.state.db,
        &[entry.clone(), entry],
        &server.state.metrics.request_log_dropped,
    )
    .await;
    rename("request_log_away", "request_log").await;
    assert_eq!(server.state.oauth().request_log.dropped(), 2);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("gatehouse_request_log_dropped_total 2"),
        "{metrics}"
    );
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let (_, dashboard) = admin.text("/dashboard").await;
    assert!(
        dashboard.contains("request-log-dropped") && dashboard.contains("2 request-log entries")
    );
}
both!(item_14_lost_request_log_entries_are_counted_and_shown, demo);

/// Item 17: one catalogue everywhere. A scope the bank admin adds on
/// `/admin/catalogue` is offered to sandbox apps, accepted at registration, published
/// in the metadata and described on the consent page; a scope that is not in the
/// catalogue is refused.
async fn item_17_sandbox_scopes_come_from_the_catalogue(server: TestServer) {
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let response = admin
        .submit(
            "/admin/catalogue",
            "/admin/catalogue/scopes",
            &[
                ("scope", "cards"),
                ("product", "Card transactions"),
                (
                    "description",
                    "A customer's card transactions, with their consent.",
                ),
                ("data_class", "account_information"),
                ("sensitivity", "medium"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let developer = server.demo_partner().await;
    let (_, page) = developer.text("/sandbox/apps/new").await;
    assert!(page.contains("value=\"cards\"") && page.contains("Card transactions"));
    let owner = crate::sandbox_helpers::user_id(&server, "dev@acme-budgeting.example.com").await;
    let mut fields =
        crate::sandbox_helpers::app_fields("Cards app", &owner, "client_secret_basic", "");
    fields.push(("scopes", "cards"));
    let (_, client_id, _) = crate::sandbox_helpers::register_app(&developer, &fields).await;
    let scopes: String = sqlx::query_scalar("SELECT scopes FROM apps WHERE client_id = $1")
        .bind(&client_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert!(scopes.split(' ').any(|s| s == "cards"), "{scopes}");
    let metadata: serde_json::Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(metadata["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "cards"));

    // Not in the catalogue: refused with the field named.
    let mut fields =
        crate::sandbox_helpers::app_fields("Other app", &owner, "client_secret_basic", "");
    fields.push(("scopes", "telepathy"));
    let response = developer
        .submit("/sandbox/apps/new", "/sandbox/apps", &fields)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(page.contains("telepathy is not a scope of the API catalogue"));
}
both!(item_17_sandbox_scopes_come_from_the_catalogue, demo);

/// Item 8: parallel guessing cannot beat the per-account pace. After the free
/// failures, 24 wrong passwords sent at once are checked at most once per slot; the
/// rest are 429 with `Retry-After`, and the real user still signs in when the slot
/// comes round.
async fn item_8_parallel_guesses_are_paced_per_account(server: TestServer) {
    let email = "dev@acme-budgeting.example.com";
    for _ in 0..5 {
        let response = server.client().sign_in(email, "wrong password guess").await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let before = server
        .count(&format!(
            "SELECT COUNT(*) FROM signin_attempts WHERE email_key = '{email}'"
        ))
        .await;
    let mut clients = Vec::new();
    for _ in 0..24 {
        let client = server.client();
        client.csrf("/signin").await;
        clients.push(client);
    }
    let attempts = clients
        .iter()
        .map(|c| c.sign_in(email, "another wrong guess"));
    let responses = futures_util::future::join_all(attempts).await;
    let limited = responses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        responses
            .iter()
            .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
            .all(|r| r.headers().contains_key("retry-after")),
        "a paced attempt says when to retry"
    );
    let checked = server
        .count(&format!(
            "SELECT COUNT(*) FROM signin_attempts WHERE email_key = '{email}'"
        ))
        .await
        - before;
    assert!(checked <= 2, "{checked} passwords checked in one slot");
    assert!(limited >= 22, "{limited} of 24 refused");
    // Not a lock-out: once the slot has passed, the right password works.
    let mut signed_in = false;
    for _ in 0..12 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let response = server
            .client()
            .sign_in(email, app::accounts::bootstrap::DEMO_PASSWORD)
            .await;
        if response.status() == StatusCode::SEE_OTHER {
            signed_in = true;
            break;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(signed_in, "the real user gets in after the slot");
}
both!(item_8_parallel_guesses_are_paced_per_account, demo);

/// Item 7: a reset request answers the same, at once, for any address; the e-mails an
/// account gets are capped per hour, and the refusals are audited.
async fn item_7_password_resets_are_uniform_and_capped(server: TestServer) {
    let email = "dev@acme-budgeting.example.com";
    let ask = async |address: &str| {
        let response = server
            .client()
            .submit(
                "/password/forgot",
                "/password/forgot",
                &[("email", address)],
            )
            .await;
        (
            response.status(),
            response.headers().get("location").cloned(),
        )
    };
    let unknown = ask("nobody-here@acme-budgeting.example.com").await;
    for _ in 0..6 {
        assert_eq!(ask(email).await, unknown, "the same answer for both");
    }
    server
        .wait_for_mails(
            email,
            "Reset your Gatehouse password",
            app::accounts::reset::RESETS_PER_HOUR,
        )
        .await;
    // Wait for the later requests' background work, then count.
    for _ in 0..100 {
        let throttled = server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'password.reset_throttled'")
            .await;
        if throttled >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    let sent = server
        .count(&format!(
            "SELECT COUNT(*) FROM outbox WHERE recipient = '{email}' AND subject = 'Reset your Gatehouse password'"
        ))
        .await;
    assert_eq!(sent, app::accounts::reset::RESETS_PER_HOUR);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE action = 'password.reset_throttled'")
            .await,
        3
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM outbox WHERE recipient = 'nobody-here@acme-budgeting.example.com'")
            .await,
        0
    );
}
both!(item_7_password_resets_are_uniform_and_capped, demo);

/// Item 6 (invitations): inviting an address that has an account with another
/// organisation, or at the bank, is answered and listed exactly like inviting a new
/// address; nothing is created for it, and its owner is told by e-mail instead.
async fn item_6_invitations_do_not_reveal_accounts_elsewhere(server: TestServer) {
    let admin = server
        .demo_partner_user("admin@acme-budgeting.example.com")
        .await;
    let invite = async |email: &str, name: &str| {
        let response = admin
            .submit(
                "/org/members",
                "/org/members/invite",
                &[
                    ("display_name", name),
                    ("email", email),
                    ("role", "partner_developer"),
                ],
            )
            .await;
        (
            response.status(),
            response.headers().get("location").cloned(),
        )
    };
    let users = server.count("SELECT COUNT(*) FROM users").await;
    let new = invite("charles@acme-budgeting.example.com", "Charles Babbage").await;
    let elsewhere = invite("admin@northwind-pay.example.com", "Someone Else").await;
    let staff = invite("reviewer@bank.example.com", "A Reviewer").await;
    assert_eq!(elsewhere, new);
    assert_eq!(staff, new);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM users").await,
        users + 1,
        "only the new address got an account"
    );
    let (_, page) = admin.text("/org/members").await;
    for (name, email) in [
        ("Charles Babbage", "charles@acme-budgeting.example.com"),
        ("Someone Else", "admin@northwind-pay.example.com"),
        ("A Reviewer", "reviewer@bank.example.com"),
    ] {
        let row = page
            .split("<tr id=")
            .skip(1)
            .find(|r| r.contains(email))
            .unwrap_or_else(|| panic!("{email} is listed"));
        assert!(row.contains(name) && row.contains("Invited"), "{row}");
        assert!(row.contains("Withdraw invitation"), "{row}");
    }
    let (subject, body) = server.last_mail("admin@northwind-pay.example.com").await;
    assert!(subject.starts_with("You are invited to"));
    assert!(body.contains("already has a Gatehouse account") && !body.contains("token="));
    // Inviting the same address again gives the answer a pending invitee gets.
    let again_new = admin
        .submit(
            "/org/members",
            "/org/members/invite",
            &[
                ("display_name", "Charles"),
                ("email", "charles@acme-budgeting.example.com"),
                ("role", "partner_developer"),
            ],
        )
        .await;
    let again_elsewhere = admin
        .submit(
            "/org/members",
            "/org/members/invite",
            &[
                ("display_name", "Someone"),
                ("email", "admin@northwind-pay.example.com"),
                ("role", "partner_developer"),
            ],
        )
        .await;
    assert_eq!(again_new.status(), again_elsewhere.status());
    let (new_text, elsewhere_text) = (
        again_new.text().await.unwrap(),
        again_elsewhere.text().await.unwrap(),
    );
    assert!(new_text.contains("already exists") && elsewhere_text.contains("already exists"));
    // Its role can be changed and it can be withdrawn, like any invitation; the
    // northwind account is untouched throughout.
    let id: String = sqlx::query_scalar(
        "SELECT id FROM invitation_notices WHERE email = 'admin@northwind-pay.example.com'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{id}/role"),
            &[("role", "partner_admin")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = admin
        .submit("/org/members", &format!("/org/members/{id}/remove"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = admin.text("/org/members").await;
    assert!(!page.contains("admin@northwind-pay.example.com"));
    let status: String = sqlx::query_scalar(
        "SELECT status FROM users WHERE email = 'admin@northwind-pay.example.com'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(status, "active");
    // Another organisation's notice id is not found.
    let response = server
        .demo_partner_user("admin@northwind-pay.example.com")
        .await
        .submit("/org/members", "/org/members/inv_nothere/remove", &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
both!(item_6_invitations_do_not_reveal_accounts_elsewhere, demo);
