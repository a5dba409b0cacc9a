//! Invitations, roles, removal, other organisations' ids, and disabling users.

use reqwest::StatusCode;

use crate::both;
use crate::common::{assert_location, TestServer};

async fn member_id(server: &TestServer, email: &str) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn invitations_roles_and_scoping(server: TestServer) {
    let admin = server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    let response = admin
        .submit(
            "/org/members",
            "/org/members/invite",
            &[
                ("display_name", "Charles Babbage"),
                ("email", "charles@acme.example.com"),
                ("role", "partner_developer"),
            ],
        )
        .await;
    assert_location(&response, "/org/members");
    let (subject, _) = server.last_mail("charles@acme.example.com").await;
    assert!(subject.contains("invited"), "{subject}");

    // Bad invitations: exact errors, nothing written.
    let users = server.count("SELECT COUNT(*) FROM users").await;
    let response = admin
        .submit(
            "/org/members",
            "/org/members/invite",
            &[("display_name", ""), ("email", "nope"), ("role", "admin")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Enter your colleague's name")
            && html.contains("correct format")
            && html.contains("Choose a role")
    );
    let response = admin
        .submit(
            "/org/members",
            "/org/members/invite",
            &[
                ("display_name", "Again"),
                ("email", "charles@acme.example.com"),
                ("role", "partner_admin"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, users);

    // The colleague accepts.
    let link = server.mailed_link("charles@acme.example.com").await;
    let token = link.split("token=").nth(1).unwrap().to_string();
    let charles = server.client();
    let response = charles
        .submit(
            &link,
            "/invitation",
            &[
                ("token", &token),
                ("display_name", "Charles Babbage"),
                ("password", "difference engine number two"),
            ],
        )
        .await;
    assert_location(&response, "/signin");
    let response = charles
        .sign_in("charles@acme.example.com", "difference engine number two")
        .await;
    assert_location(&response, "/dashboard");
    let (status, html) = charles.text("/org/members").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ada Lovelace") && !html.contains("Send invitation"));
    // A developer cannot manage members.
    let response = charles
        .submit(
            "/org/members",
            "/org/members/invite",
            &[
                ("display_name", "X"),
                ("email", "x@acme.example.com"),
                ("role", "partner_developer"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Role change ends the member's sessions so the new role applies at once.
    let charles_id = member_id(&server, "charles@acme.example.com").await;
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{charles_id}/role"),
            &[("role", "partner_admin")],
        )
        .await;
    assert_location(&response, "/org/members");
    assert_location(
        &charles.get("/org/members").await,
        "/signin?next=%2Forg%2Fmembers",
    );
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(&charles_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(role, "partner_admin");

    // Another organisation's ids: 404, and nothing changes.
    let other = server
        .partner_admin("grace@northwind.example.com", "99999999")
        .await;
    for path in [
        format!("/org/members/{charles_id}/role"),
        format!("/org/members/{charles_id}/remove"),
    ] {
        let response = other
            .submit("/org/members", &path, &[("role", "partner_developer")])
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (_, html) = other.text("/org/members").await;
    assert!(!html.contains("charles@acme.example.com"));
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(&charles_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(role, "partner_admin");

    // The last admin cannot be demoted; with two, one can be removed.
    let grace_id = member_id(&server, "grace@northwind.example.com").await;
    let response = other
        .submit(
            "/org/members",
            &format!("/org/members/{grace_id}/role"),
            &[("role", "partner_developer")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{charles_id}/remove"),
            &[],
        )
        .await;
    assert_location(&response, "/org/members");
    // The account stays, disabled and removed (issue 18 item 9).
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM users WHERE email = 'charles@acme.example.com' AND removed_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM users WHERE email = 'charles@acme.example.com' AND status = 'disabled'")
            .await,
        1
    );
    // A removed member can be invited again: the same identity comes back as an
    // invitee, with nothing of before (password, sessions), and accepts anew.
    let response = admin
        .submit(
            "/org/members",
            "/org/members/invite",
            &[
                ("display_name", "Charles Babbage"),
                ("email", "charles@acme.example.com"),
                ("role", "partner_developer"),
            ],
        )
        .await;
    assert_location(&response, "/org/members");
    let (status, id): (String, String) =
        sqlx::query_as("SELECT status, id FROM users WHERE email = 'charles@acme.example.com'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), id.as_str()),
        ("invited", charles_id.as_str())
    );
    let refused = server
        .client()
        .sign_in("charles@acme.example.com", "difference engine number two")
        .await;
    assert_eq!(
        refused.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the old password is gone"
    );
    let link = server.mailed_link("charles@acme.example.com").await;
    let token = link.split("token=").nth(1).unwrap().to_string();
    let response = server
        .client()
        .submit(
            &link,
            "/invitation",
            &[
                ("token", &token),
                ("display_name", "Charles Babbage"),
                ("password", "analytical engine once more"),
            ],
        )
        .await;
    assert_location(&response, "/signin");
    let actions = server.audit_actions().await;
    for expected in [
        "member.invited",
        "member.joined",
        "member.role_changed",
        "member.removed",
    ] {
        assert!(actions.iter().any(|a| a == expected), "{expected}");
    }
}
both!(invitations_roles_and_scoping);

async fn disabling_a_user_ends_their_sessions(server: TestServer) {
    let partner = server.client();
    let response = partner
        .sign_in(
            "dev@acme-budgeting.example.com",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await;
    assert_location(&response, "/dashboard");
    assert_eq!(partner.get("/dashboard").await.status(), StatusCode::OK);
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    // Partner users cannot reach the admin pages.
    assert_eq!(
        partner.get("/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        partner.get("/admin/audit").await.status(),
        StatusCode::FORBIDDEN
    );

    let dev_id = member_id(&server, "dev@acme-budgeting.example.com").await;
    let response = admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{dev_id}/disable"),
            &[],
        )
        .await;
    assert_location(&response, "/admin/users");
    assert_location(
        &partner.get("/dashboard").await,
        "/signin?next=%2Fdashboard",
    );
    let response = partner
        .sign_in(
            "dev@acme-budgeting.example.com",
            app::accounts::bootstrap::DEMO_PASSWORD,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Disabling twice is a clear conflict; unknown ids are 404.
    let response = admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{dev_id}/disable"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = admin
        .submit("/admin/users", "/admin/users/usr_unknown/disable", &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Admins create bank users, who get a set-up link by e-mail.
    let response = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[
                ("display_name", "Rita Reviewer"),
                ("email", "rita@bank.example.com"),
                ("role", "reviewer"),
            ],
        )
        .await;
    assert_location(&response, "/admin/users");
    assert!(server
        .mailed_link("rita@bank.example.com")
        .await
        .starts_with("/setup?token="));
    let response = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[
                ("display_name", "Bad"),
                ("email", "bad@bank.example.com"),
                ("role", "partner_admin"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
both!(disabling_a_user_ends_their_sessions, demo);

async fn invitation_links_expire_and_can_be_withdrawn(server: TestServer) {
    let admin = server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    for email in ["late@acme.example.com", "gone@acme.example.com"] {
        let response = admin
            .submit(
                "/org/members",
                "/org/members/invite",
                &[
                    ("display_name", "Invitee"),
                    ("email", email),
                    ("role", "partner_developer"),
                ],
            )
            .await;
        assert_location(&response, "/org/members");
    }
    let accept = |link: String| {
        let token = link.split("token=").nth(1).unwrap().to_string();
        let client = server.client();
        async move {
            let (status, page) = client.text(&link).await;
            let response = client
                .post(
                    "/invitation",
                    &[
                        ("csrf_token", &client.csrf("/signin").await),
                        ("token", &token),
                        ("display_name", "Invitee"),
                        ("password", "difference engine number two"),
                    ],
                )
                .await;
            (status, page, response.status())
        }
    };

    // An expired invitation: the page says so, and accepting it changes nothing.
    let late = server.mailed_link("late@acme.example.com").await;
    let late_id = member_id(&server, "late@acme.example.com").await;
    sqlx::query("UPDATE email_tokens SET expires_at = 0 WHERE user_id = $1")
        .bind(&late_id)
        .execute(server.pool())
        .await
        .unwrap();
    let (status, page, posted) = accept(late).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("expired"), "{page}");
    assert_eq!(posted, StatusCode::BAD_REQUEST);
    let status: String = sqlx::query_scalar("SELECT status FROM users WHERE id = $1")
        .bind(&late_id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "invited");

    // A withdrawn invitation: the link no longer works.
    let gone = server.mailed_link("gone@acme.example.com").await;
    let gone_id = member_id(&server, "gone@acme.example.com").await;
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{gone_id}/remove"),
            &[],
        )
        .await;
    assert_location(&response, "/org/members");
    let (status, _, posted) = accept(gone).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(posted, StatusCode::BAD_REQUEST);
    let active = server
        .count("SELECT COUNT(*) FROM users WHERE email = 'gone@acme.example.com' AND status = 'active'")
        .await;
    assert_eq!(active, 0);
}
both!(invitation_links_expire_and_can_be_withdrawn);

async fn app_owner(server: &TestServer, app_id: &str) -> String {
    sqlx::query_scalar("SELECT owner_id FROM apps WHERE id = $1")
        .bind(app_id)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// Issue 15, member offboarding: a member who owns clients leaves only once someone
/// owns them (or the admin says nobody will), and their sessions end at once.
async fn removing_an_owner_names_the_next_owner(server: TestServer) {
    use crate::offboarding::join;
    use crate::sandbox_helpers::{app_fields, register_app};
    let admin = server
        .partner_admin("ada@acme.example.com", "12345678")
        .await;
    let ada = member_id(&server, "ada@acme.example.com").await;
    let dev = join(
        &server,
        &admin,
        (
            "Grace Hopper",
            "grace@acme.example.com",
            "compiler pioneer one",
        ),
    )
    .await;
    let grace = member_id(&server, "grace@acme.example.com").await;
    let (app_id, _, _) = register_app(
        &dev,
        &app_fields("Grace's app", &grace, "client_secret_basic", ""),
    )
    .await;
    let other = join(
        &server,
        &admin,
        (
            "Alan Turing",
            "alan@acme.example.com",
            "universal machine one",
        ),
    )
    .await;
    let alan = member_id(&server, "alan@acme.example.com").await;
    let (alan_app, _, _) = register_app(
        &other,
        &app_fields("Alan's app", &alan, "client_secret_basic", ""),
    )
    .await;

    // The page asks who owns the member's clients next.
    let (_, page) = admin.text("/org/members").await;
    assert!(page.contains(&format!("new-owner-{grace}")), "{page}");
    assert!(page.contains("Owns Grace&#x27;s app") || page.contains("Owns Grace's app"));

    // Without a choice: refused, nothing changed, the member still signed in.
    let response = admin
        .submit("/org/members", &format!("/org/members/{grace}/remove"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("choose who owns them now"), "{html}");
    assert_eq!(dev.get("/dashboard").await.status(), StatusCode::OK);
    assert_eq!(app_owner(&server, &app_id).await, grace);
    // Another organisation's member is not a possible owner.
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{grace}/remove"),
            &[("new_owner_id", "usr_elsewhere")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Handed to Ada: the client is hers, Grace's session ends at once.
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{grace}/remove"),
            &[("new_owner_id", &ada)],
        )
        .await;
    assert_location(&response, "/org/members");
    assert_eq!(app_owner(&server, &app_id).await, ada);
    let response = dev.get("/dashboard").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // Left without an owner, explicitly: the governance rules take it from there.
    let response = admin
        .submit(
            "/org/members",
            &format!("/org/members/{alan}/remove"),
            &[("new_owner_id", app::accounts::members::LEAVE_OWNERLESS)],
        )
        .await;
    assert_location(&response, "/org/members");
    assert_eq!(app_owner(&server, &alan_app).await, alan);
    assert_eq!(
        other.get("/dashboard").await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, page) = admin.text("/governance/inventory?no_owner=1").await;
    assert!(
        page.contains("Alan&#x27;s app") || page.contains("Alan's app"),
        "{page}"
    );
}
both!(removing_an_owner_names_the_next_owner);
