//! Data residency (issue 32), through a started server on both databases, with a real
//! MaxMind-format country database from the npm registry (GeoLite2 country, installed
//! by `.ci/run` in tests/geoip) and loopback looked up as a US address
//! (`--geoip-loopback-as`): the bank sets a client's countries (bad input refused,
//! nothing written, audited); calls from another country raise an "unexpected
//! origin" alert through the usage roll-up; a client set to refuse them is refused at
//! the token endpoint, and served again once its countries include the caller's.
//! Without a database nothing is checked or guessed, and the rule says it is off.

use std::path::PathBuf;

use reqwest::StatusCode;

use crate::both;
use crate::common::{Backend, TestServer};
use crate::sandbox_helpers::oauth_post;

const BANK_ADMIN: &str = "admin@bank.example.com";
/// An address the database places in the United States.
const US_ADDRESS: &str = "8.8.8.8";

/// The country database, or `None` (a skip) when tests/geoip was not installed and
/// `GATEHOUSE_REQUIRE_GEOIP=1` does not make that a failure.
fn database() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("geoip/node_modules/@ip-location-db/geolite2-country-mmdb/geolite2-country.mmdb");
    if path.exists() {
        return Some(path);
    }
    if std::env::var("GATEHOUSE_REQUIRE_GEOIP").as_deref() == Ok("1") {
        panic!(
            "GATEHOUSE_REQUIRE_GEOIP=1 but {} is missing: npm ci --prefix tests/geoip",
            path.display()
        );
    }
    eprintln!("skipping: no country database (npm ci --prefix tests/geoip)");
    None
}

async fn insights(server: &TestServer) -> (String, String) {
    sqlx::query_as("SELECT id, client_id FROM apps WHERE name = 'Fjord insights'")
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn token(server: &TestServer, client_id: &str) -> (StatusCode, serde_json::Value) {
    let (status, _, body) = oauth_post(
        server,
        "/production/oauth/token",
        Some((client_id, app::governance::demo::DEMO_PRODUCTION_SECRET)),
        &[("grant_type", "client_credentials"), ("scope", "accounts")],
        None,
    )
    .await;
    (status, body)
}

async fn set_residency(
    admin: &crate::common::Client,
    app_id: &str,
    countries: &str,
    refuse: bool,
) -> reqwest::Response {
    let page = format!("/governance/bank/clients/{app_id}");
    let action = format!("{page}/residency");
    let mut fields = vec![("allowed_countries", countries)];
    if refuse {
        fields.push(("refuse_other_countries", "1"));
    }
    admin.submit(&page, &action, &fields).await
}

async fn stored(server: &TestServer, app_id: &str) -> (String, i64) {
    sqlx::query_as("SELECT allowed_countries, refuse_other_countries FROM apps WHERE id = $1")
        .bind(app_id)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn logged(server: &TestServer, app_id: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM request_log WHERE app_id = $1")
        .bind(app_id)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

async fn wait_for_log(server: &TestServer, app_id: &str, n: i64) {
    for _ in 0..400 {
        let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_log WHERE app_id = $1")
            .bind(app_id)
            .fetch_one(server.pool())
            .await
            .unwrap();
        if logged >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the request log did not reach {n} rows");
}

async fn checked_against_a_country_database(backend: Backend) {
    let Some(db) = database() else {
        return;
    };
    let Some(server) = TestServer::start_with(backend, |s| {
        s.demo = true;
        s.geoip_db = Some(db);
        s.geoip_loopback_as = Some(US_ADDRESS.parse().unwrap());
    })
    .await
    else {
        return;
    };
    // The lookups are the database's own.
    let geo = server.state.geo();
    assert_eq!(geo.country_of(US_ADDRESS).as_deref(), Some("US"));
    assert_eq!(geo.country_of("127.0.0.1").as_deref(), Some("US"));
    assert_eq!(geo.country_of("81.2.69.142").as_deref(), Some("GB"));
    assert_eq!(
        geo.country_of("10.1.2.3"),
        None,
        "a private address is no country"
    );

    let (app_id, client_id) = insights(&server).await;
    let admin = server.demo_staff(BANK_ADMIN, 0).await;
    let (_, rules) = admin.text("/alerts/rules").await;
    assert!(
        rules.contains("Country database: "),
        "the rule says it is on"
    );

    // Bad input writes nothing.
    let before = stored(&server, &app_id).await;
    for (countries, refuse) in [("GBR", false), ("G1", true), ("", true), ("GB;IE", false)] {
        let response = set_residency(&admin, &app_id, countries, refuse).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{countries:?}"
        );
    }
    assert_eq!(stored(&server, &app_id).await, before);
    // A partner cannot set its own (nor see the bank's form).
    let fjord = server
        .demo_staff("admin@fjord-analytics.example.com", 0)
        .await;
    let response = fjord
        .submit(
            "/dashboard",
            &format!("/governance/bank/clients/{app_id}/residency"),
            &[("allowed_countries", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Allowed: GB only, not refused. A call from the US is served and raises an alert.
    let response = set_residency(&admin, &app_id, "gb", false).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored(&server, &app_id).await, ("GB".to_string(), 0));
    assert!(server
        .audit_actions()
        .await
        .contains(&"client.residency_changed".to_string()));
    let before = logged(&server, &app_id).await;
    let (status, body) = token(&server, &client_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_for_log(&server, &app_id, before + 1).await;
    server.state.clock.advance(120);
    server.run_job("usage_rollup").await;
    let group = format!("unexpected_origin:{app_id}:US");

    let (rule, summary): (String, String) =
        sqlx::query_as("SELECT rule, summary FROM alerts WHERE group_key = $1")
            .bind(&group)
            .fetch_one(server.pool())
            .await
            .unwrap();
    assert_eq!(rule, "unexpected_origin");
    assert!(summary.contains("from US (127.0.0.1)"), "{summary}");
    assert!(summary.contains("(GB)"), "{summary}");

    // Refused: the token endpoint answers unauthorized_client and issues nothing.
    let response = set_residency(&admin, &app_id, "GB IE", true).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = admin
        .text(&format!("/governance/bank/clients/{app_id}"))
        .await;
    assert!(page.contains("Token requests from other countries are refused."));
    let (status, body) = token(&server, &client_id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "unauthorized_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("from US"),
        "{body}"
    );
    // The partner reads the same on its own page.
    let (_, page) = fjord.text(&format!("/governance/clients/{app_id}")).await;
    assert!(page.contains("GB, IE"), "{page}");

    // Its countries include the caller's: served again.
    let response = set_residency(&admin, &app_id, "GB US", true).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, body) = token(&server, &client_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

mod checked {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::checked_against_a_country_database(crate::common::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::checked_against_a_country_database(crate::common::Backend::Postgres).await;
    }
}

/// Without a database: the countries are recorded and shown, nothing is refused and
/// no country is guessed; the rule says it is off.
async fn without_a_database_nothing_is_guessed(server: TestServer) {
    let (app_id, client_id) = insights(&server).await;
    let admin = server.demo_staff(BANK_ADMIN, 0).await;
    let (_, rules) = admin.text("/alerts/rules").await;
    assert!(rules.contains("Off: no country database is configured"));
    let response = set_residency(&admin, &app_id, "GB", true).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = admin
        .text(&format!("/governance/bank/clients/{app_id}"))
        .await;
    assert!(page.contains("Not checked: no country database is configured"));
    let (status, body) = token(&server, &client_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
both!(without_a_database_nothing_is_guessed, demo);
