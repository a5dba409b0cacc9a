//! The time rules of accounts read the application's clock, as every other rule does:
//! a session's absolute lifetime, second-factor codes, and the throttle's window. A
//! test moves the clock; nothing here waits.

use reqwest::StatusCode;

use crate::both;
use crate::common::{assert_location, totp_code, TestServer};

const REVIEWER: &str = "reviewer@bank.example.com";

/// The code for wall-clock time (a clock never moved), which the server no longer goes
/// by once a test has moved its clock.
fn wall_clock_code(secret: &[u8]) -> String {
    totp_code(&app::platform::time::Clock::default(), secret, 0)
}

/// A signed-in session ends at its absolute lifetime by the application's clock.
async fn sessions_end_at_their_absolute_lifetime(server: TestServer) {
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let partner = server.demo_partner().await;
    let (status, _) = reviewer.text("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    // Bank staff have the shorter cap (`--staff-session-hours`, 8 by default).
    let settings = &server.state.settings;
    let lifetime = settings
        .session_absolute_hours
        .min(settings.staff_session_hours)
        * 3600;
    assert!(lifetime < settings.session_absolute_hours * 3600);
    server.state.clock.advance(lifetime - 60);
    let (status, _) = reviewer.text("/dashboard").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a minute before the end: still signed in"
    );
    server.state.clock.advance(120);
    assert_location(
        &reviewer.get("/dashboard").await,
        "/signin?next=%2Fdashboard",
    );
    // A partner's session lives on to the general cap.
    let (status, _) = partner.text("/dashboard").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a partner's session outlives the staff cap"
    );
    // Signing in again starts a new lifetime at the moved clock.
    let again = server.demo_staff(REVIEWER, 1).await;
    let (status, _) = again.text("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
}
both!(sessions_end_at_their_absolute_lifetime, demo);

/// Second-factor codes are checked against the application's clock: ten minutes
/// on, the code of the wall clock is refused and the clock's own is taken.
async fn second_factor_codes_follow_the_clock(server: TestServer) {
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    server.state.clock.advance(600);
    let client = server.client();
    let response = client
        .sign_in(REVIEWER, app::accounts::bootstrap::DEMO_PASSWORD)
        .await;
    assert_location(&response, "/signin/code");
    let refused = client
        .submit(
            "/signin/code",
            "/signin/code",
            &[("code", &wall_clock_code(&secret))],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = client
        .submit(
            "/signin/code",
            "/signin/code",
            &[("code", &totp_code(&server.state.clock, &secret, 0))],
        )
        .await;
    assert_location(&response, "/dashboard");
}
both!(second_factor_codes_follow_the_clock, demo);

/// Failed sign-ins slow the account down for fifteen minutes of the application's
/// clock, then no longer count.
async fn the_sign_in_slow_down_ends_with_its_window(server: TestServer) {
    let email = "dev@acme-budgeting.example.com";
    let state = &server.state;
    for _ in 0..6 {
        app::accounts::throttle::record_attempt(
            &state.db,
            email,
            "192.0.2.1",
            false,
            state.clock.now(),
        )
        .await
        .unwrap();
    }
    let delay = || app::accounts::throttle::account_delay(&state.db, email, state.clock.now());
    assert!(
        !delay().await.unwrap().is_zero(),
        "six failures: slowed down"
    );
    state.clock.advance(15 * 60 + 1);
    assert!(
        delay().await.unwrap().is_zero(),
        "after the window: not any more"
    );
    // A sign-in at the moved clock is not held back.
    assert_location(
        &server
            .client()
            .sign_in(email, app::accounts::bootstrap::DEMO_PASSWORD)
            .await,
        "/dashboard",
    );
}
both!(the_sign_in_slow_down_ends_with_its_window, demo);
