//! Production access through the portal, as partner admins and bank reviewers use
//! it: auto-approval end to end (request → credential → a production token with the
//! oauth2 crate), one reviewer with conditions, four eyes, auto-rejection, step-up,
//! conflicts of interest, concurrent approvals, the risk policy's replacement, and
//! bad input on the request form.

use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{assert_location, element_text, input_value, totp_code, Client, TestServer};
use crate::onboarding::{
    self, new_staff, ACME_ADMIN, ACME_DEV, APPROVER, NORTHWIND_ADMIN, REVIEWER,
};
use crate::sandbox_api::{
    account_consent, authorise, client_token, pay, payment_consent, payment_initiation, Api,
};
use crate::sandbox_helpers::{
    as_refs, assertion_form, oauth_http, oauth_post, wait_for_log, PartnerKey, DEMO_ID,
};

/// Acme's production requests (the demo's queue holds Fjord's).
const ACME_REQUESTS: &str = "SELECT COUNT(*) FROM access_requests WHERE org_id = (SELECT org_id FROM users WHERE email = 'admin@acme-budgeting.example.com')";

const MIA: (&str, &str) = ("mia.salaried", "sandbox-mia-2026");

/// The demo partner admin of Acme, with a second factor.
async fn acme_admin(server: &TestServer) -> Client {
    let admin = server.demo_partner_user(ACME_ADMIN).await;
    admin.enrol_totp().await;
    admin
}

/// Onboards `admin`'s organisation to `tier`, approved by `reviewer`.
pub(crate) async fn approve_tier(
    server: &TestServer,
    admin: &Client,
    reviewer: &Client,
    tier: &str,
) {
    let application = onboarding::start(admin, tier).await;
    onboarding::complete_and_submit(server, admin, &application).await;
    let response =
        onboarding::decide(reviewer, &application, "approve", "Due diligence complete.").await;
    assert_location(&response, &format!("/review/applications/{application}"));
}

/// The demo partner admin of Acme with a second factor, approved for `tier` by `reviewer`.
async fn approved_acme(server: &TestServer, reviewer: &Client, tier: &str) -> Client {
    let admin = acme_admin(server).await;
    approve_tier(server, &admin, reviewer, tier).await;
    admin
}

pub(crate) async fn demo_app_id(server: &TestServer) -> String {
    sqlx::query_scalar("SELECT id FROM apps WHERE client_id = $1")
        .bind(DEMO_ID)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// `n` successful reference-data calls from the demo sandbox app.
pub(crate) async fn call_reference(server: &TestServer, n: usize) {
    let api = Api::new(server);
    let token = client_token(server, "reference").await;
    for _ in 0..n {
        let answer = api.get("/reference/branches", &token).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
}

/// An account-access consent authorised by a test customer, and `n` account reads.
pub(crate) async fn call_accounts(server: &TestServer, n: usize) {
    let api = Api::new(server);
    let cc = client_token(server, "accounts").await;
    let intent = account_consent(
        &api,
        &cc,
        json!({ "Permissions": ["ReadAccountsDetail", "ReadBalances"] }),
    )
    .await;
    let token = authorise(server, &intent, "accounts", MIA, None).await;
    for _ in 0..n {
        assert_eq!(
            api.get("/aisp/accounts", &token).await.status,
            StatusCode::OK
        );
    }
}

/// A payment consent, authorised, and a domestic payment with an idempotency key.
async fn make_payment(server: &TestServer) {
    make_payment_with(server, false).await;
}

/// As `make_payment`; with `restart`, the server forgets its datasets between the
/// consent and the payment, as a restart does.
async fn make_payment_with(server: &TestServer, restart: bool) {
    let api = Api::new(server);
    let cc = client_token(server, "payments").await;
    let body = payment_initiation("12.00");
    let consent_id = payment_consent(&api, &cc, &body, "ready-consent").await;
    let payer = authorise(server, &consent_id, "payments", MIA, Some(0)).await;
    let funds = api
        .get(
            &format!("/pisp/domestic-payment-consents/{consent_id}/funds-confirmation"),
            &payer,
        )
        .await;
    assert_eq!(funds.status, StatusCode::OK, "{}", funds.body);
    if restart {
        server.state.datasets().forget_all();
    }
    let payment_id = pay(&api, &payer, &body, &consent_id, "ready-payment").await;
    let status = api
        .get(&format!("/pisp/domestic-payments/{payment_id}"), &payer)
        .await;
    assert_eq!(status.status, StatusCode::OK);
}

/// The form fields of a request; `overrides` replace fields by name.
pub(crate) fn request_fields(
    app_id: &str,
    scopes: &[&str],
    method: &str,
    material: (&str, &str),
) -> Vec<(String, String)> {
    let mut fields = vec![
        ("app_id".to_string(), app_id.to_string()),
        ("calls_per_day".into(), "5000".into()),
        ("peak_per_second".into(), "2".into()),
        ("auth_method".into(), method.into()),
        ("ip_allowlist".into(), "127.0.0.0/8".into()),
        ("allowed_countries".into(), "gb ie".into()),
        ("lifetime_days".into(), "60".into()),
        ("go_live".into(), onboarding::date(7)),
        ("jwks".into(), String::new()),
        ("jwks_uri".into(), String::new()),
        ("certificate".into(), String::new()),
        ("submission_key".into(), fresh_submission_key()),
    ];
    fields.push((material.0.to_string(), material.1.to_string()));
    for scope in scopes {
        fields.push(("scopes".into(), scope.to_string()));
        fields.push((
            format!("justification_{scope}"),
            format!("Our budgeting product needs {scope} to show customers their finances."),
        ));
    }
    fields
}

/// A one-time form key, as the request page draws one.
fn fresh_submission_key() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn with(mut fields: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    fields.retain(|(k, _)| k != name);
    fields.push((name.to_string(), value.to_string()));
    fields
}

async fn submit_request(client: &Client, fields: &[(String, String)]) -> reqwest::Response {
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    client
        .submit("/production", "/production/requests", &refs)
        .await
}

/// Submits and returns the new request's id (from the redirect).
pub(crate) async fn submitted(client: &Client, fields: &[(String, String)]) -> String {
    let response = submit_request(client, fields).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        response.text().await
    );
    let location = response.headers()["location"].to_str().unwrap().to_string();
    location
        .strip_prefix("/production/requests/")
        .unwrap()
        .to_string()
}

pub(crate) async fn request_row(server: &TestServer, id: &str) -> (String, String, Option<String>) {
    sqlx::query_as("SELECT status, route, production_app_id FROM access_requests WHERE id = $1")
        .bind(id)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// A reviewer's decision from the review page.
pub(crate) async fn review(
    client: &Client,
    id: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = format!("/review/production/{id}");
    let (_, html) = client.text(&page).await;
    let version = input_value(&html, "version").unwrap_or_else(|| "0".into());
    let mut all = vec![("version", version.as_str())];
    all.extend_from_slice(fields);
    client
        .submit(&page, &format!("{page}/decision"), &all)
        .await
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn production_oauth(
    server: &TestServer,
    client_id: &str,
    secret: &str,
) -> BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(client_id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_token_uri(TokenUrl::new(format!("{}/production/oauth/token", server.base)).unwrap())
}

async fn auto_approve_end_to_end(server: TestServer) {
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let acme = approved_acme(&server, &reviewer, "1").await;
    let app_id = demo_app_id(&server).await;

    // Readiness is shown before submitting: nothing called yet.
    let (status, page) = acme
        .text(&format!("/production/requests/new?app_id={app_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Not ready") && page.contains("readiness-missing"),
        "{page}"
    );
    call_reference(&server, 3).await;
    wait_for_log(&server, &app_id, 4).await;
    let (_, page) = acme
        .text(&format!("/production/requests/new?app_id={app_id}"))
        .await;
    assert!(page.contains("Ready") && !page.contains("readiness-missing"));
    // The terms an approval sets are on the form before submitting (issue 34).
    let terms = page
        .split("id=\"conditions\"")
        .nth(1)
        .expect("the conditions");
    assert!(terms.contains("plain bearer tokens are allowed"), "{terms}");
    assert!(
        terms.contains("Credential lifetime: at most 365 days"),
        "{terms}"
    );

    // Reference data with a client secret (Tier 1 allows one) and an allow-list.
    let fields = request_fields(&app_id, &["reference"], "client_secret_basic", ("jwks", ""));
    let id = submitted(&acme, &fields).await;
    let (status, route, production_app) = request_row(&server, &id).await;
    assert_eq!(
        (status.as_str(), route.as_str()),
        ("approved", "auto_approve")
    );
    let production_app = production_app.expect("a production client was issued");
    // The countries the request named are the client's (data residency).
    let countries: String = sqlx::query_scalar("SELECT allowed_countries FROM apps WHERE id = $1")
        .bind(&production_app)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(countries, "GB IE");
    let (_, page) = acme.text(&format!("/production/requests/{id}")).await;
    assert!(
        page.contains("Approved by the bank&#x27;s risk policy")
            || page.contains("Approved by the bank's risk policy"),
        "{page}"
    );
    let (subject, body) = server.last_mail(ACME_ADMIN).await;
    assert!(
        subject.contains("production credentials are ready"),
        "{subject}"
    );
    assert!(body.contains("/production/oauth/token"));

    // The secret is made when collected, shown once.
    let token = acme.csrf(&format!("/production/requests/{id}")).await;
    let response = acme
        .post(
            &format!("/production/requests/{id}/secret"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    let client_id = element_text(&html, "production-client-id").unwrap();
    let secret = element_text(&html, "client-secret").unwrap();
    // The production docs' curl runs as written with the collected secret.
    let (_, docs) = acme.text("/production/docs").await;
    let out = crate::sandbox_docs::bash(&format!(
        "CLIENT_ID='{client_id}'\nCLIENT_SECRET='{secret}'\n{}",
        crate::sandbox_docs::block(&docs, "production-curl")
    ));
    assert!(out.contains("\"access_token\""), "{out}");
    let token = acme.csrf(&format!("/production/requests/{id}")).await;
    let again = acme
        .post(
            &format!("/production/requests/{id}/secret"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "a secret is collected once"
    );

    // A production token with the standard oauth2 client.
    let issued = production_oauth(&server, &client_id, &secret)
        .exchange_client_credentials()
        .add_scope(Scope::new("reference".into()))
        .request_async(&oauth_http())
        .await
        .unwrap();
    let access = issued.access_token().secret().clone();
    let claims = jwt_claims(&access);
    assert_eq!(claims["iss"], format!("{}/production", server.base));
    assert_eq!(
        claims["aud"],
        format!("{}/production/open-banking/v3.1", server.base)
    );
    assert_eq!(claims["scope"], "reference");
    let expires_at: i64 =
        sqlx::query_scalar("SELECT expires_at FROM credentials WHERE app_id = $1")
            .bind(&production_app)
            .fetch_one(server.pool())
            .await
            .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (expires_at - (now + 60 * 86_400)).abs() < 600,
        "the credential expires after the approved 60 days"
    );

    // Production introspection knows it; the sandbox does not, nor its API.
    let introspected: Value = reqwest::Client::new()
        .post(format!("{}/production/oauth/introspect", server.base))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["iss"], format!("{}/production", server.base));
    let sandbox_view = crate::sandbox_helpers::introspect(
        &server,
        DEMO_ID,
        crate::sandbox_helpers::DEMO_SECRET,
        &access,
    )
    .await;
    assert_eq!(sandbox_view, json!({ "active": false }));
    let api = Api::new(&server);
    assert_eq!(
        api.get("/reference/branches", &access).await.status,
        StatusCode::UNAUTHORIZED
    );

    // The production issuer's metadata and JWKS are its own.
    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server/production",
        server.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(metadata["issuer"], format!("{}/production", server.base));
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["client_credentials"])
    );
    let production_keys: Value = reqwest::get(metadata["jwks_uri"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sandbox_keys: Value = reqwest::get(format!("{}/oauth/jwks", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids = |set: &Value| {
        set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(kids(&production_keys)
        .iter()
        .all(|k| !kids(&sandbox_keys).contains(k)));

    // The IP allow-list is enforced at the token endpoint.
    sqlx::query("UPDATE apps SET ip_allowlist = '10.0.0.0/8' WHERE id = $1")
        .bind(&production_app)
        .execute(server.pool())
        .await
        .unwrap();
    server.forget_cached_state();
    let refused = reqwest::Client::new()
        .post(format!("{}/production/oauth/token", server.base))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");

    // The dashboard and the list show the client; the audit trail links everything.
    let (_, list) = acme.text("/production").await;
    assert!(list.contains(&client_id) && list.contains("Approved"));
    let actions = server.audit_actions().await;
    for action in [
        "access_request.submitted",
        "access_request.evaluated",
        "production_credential.issued",
        "production_credential.secret_collected",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let details: String = sqlx::query_scalar(
        "SELECT details FROM audit_events WHERE action = 'production_credential.issued'",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["access_request_id"], id);
    assert_eq!(details["route"], "auto_approve");
    assert!(details["policy_sha256"].as_str().unwrap().len() == 64);
    assert!(details["evidence_version"].is_object());
}
both!(auto_approve_end_to_end, demo);

/// Issue 18 item 6: the same form submitted twice at once (a double click, a retry
/// after a lost response) gives one request and one production client, and both
/// submissions land on it. A form without its key is refused, nothing written.
async fn item_6_double_submit_issues_one_client(server: TestServer) {
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let acme = approved_acme(&server, &reviewer, "1").await;
    let app_id = demo_app_id(&server).await;
    call_reference(&server, 3).await;
    wait_for_log(&server, &app_id, 4).await;
    let fields = request_fields(&app_id, &["reference"], "client_secret_basic", ("jwks", ""));

    let without_key = with(fields.clone(), "submission_key", "");
    let response = submit_request(&acme, &without_key).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("out of date"));
    let count = async || -> (i64, i64) {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM access_requests WHERE org_id = (SELECT org_id FROM users WHERE email = 'admin@acme-budgeting.example.com')), \
             (SELECT COUNT(*) FROM apps WHERE environment = 'production' AND is_demo = 0)",
        )
        .fetch_one(server.pool())
        .await
        .unwrap()
    };
    assert_eq!(count().await, (0, 0), "nothing written");

    let (first, second) = tokio::join!(
        submit_request(&acme, &fields),
        submit_request(&acme, &fields)
    );
    let location = |r: &reqwest::Response| {
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.headers());
        r.headers()["location"].to_str().unwrap().to_string()
    };
    assert_eq!(location(&first), location(&second), "one request for both");
    // A retry later, after the first answer was lost: the same request again.
    let third = submit_request(&acme, &fields).await;
    assert_eq!(location(&third), location(&first));
    assert_eq!(count().await, (1, 1), "one request, one production client");
}
both!(item_6_double_submit_issues_one_client, demo);

/// Issue 18 item 15: wrong step-up codes are limited per session (the third ends the
/// session) and per account across sessions (past ten, even the right code gets 429).
async fn item_15_step_up_attempts_are_limited(server: TestServer) {
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let acme = approved_acme(&server, &reviewer, "2").await;
    let app_id = demo_app_id(&server).await;
    call_reference(&server, 3).await;
    call_accounts(&server, 3).await;
    wait_for_log(&server, &app_id, 10).await;
    let key = PartnerKey::new("acme-prod-15");
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let fields = request_fields(&app_id, &["accounts"], "private_key_jwt", ("jwks", &jwks));
    let id = submitted(&acme, &fields).await;
    let approve = |code: &'static str| {
        vec![
            ("decision", "approve"),
            ("scopes", "accounts"),
            ("lifetime_days", "30"),
            ("rate_limit_per_minute", "60"),
            ("code", code),
        ]
    };
    assert_eq!(app::accounts::totp::MAX_FAILED_CODES, 5);
    let wrong = async |session: &Client| review(session, &id, &approve("000000")).await;
    // Two sessions, two wrong codes each: still allowed.
    let other = server.demo_staff(REVIEWER, 0).await;
    for session in [&reviewer, &reviewer, &other, &other] {
        assert_eq!(
            wrong(session).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // The first session's third wrong code ends it.
    let response = wrong(&reviewer).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the session ends");
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/signin"));
    let after = reviewer.get("/review/production").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "signed out");
    // Five wrong codes on the account: the other session's right code gets 429.
    let session = other;
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let code = totp_code(&server.state.clock, &secret, 1);
    let mut right = approve("");
    right.retain(|(k, _)| *k != "code");
    right.push(("code", &code));
    let response = review(&session, &id, &right).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        request_row(&server, &id).await.0,
        "pending_review",
        "nothing decided"
    );
}
both!(item_15_step_up_attempts_are_limited, demo);

/// Issue 18 item 19: readiness counts flows that completed. A consent that was only
/// created (never authorised) and a payment consent never paid prove nothing.
async fn item_19_readiness_counts_completed_flows(server: TestServer) {
    let app_id = demo_app_id(&server).await;
    let assess = async || {
        app::sandbox::readiness::assess(
            &server.state,
            &app_id,
            &["accounts".to_string(), "payments".to_string()],
            server.state.clock.now(),
        )
        .await
        .unwrap()
    };
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts").await;
    account_consent(&api, &cc, json!({ "Permissions": ["ReadAccountsDetail"] })).await;
    let cc = client_token(&server, "payments").await;
    let created = api
        .call(
            "POST",
            "/pisp/domestic-payment-consents",
            &cc,
            Some(&payment_initiation("12.00")),
            &[("x-idempotency-key", "never-paid")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let readiness = assess().await;
    assert!(
        !readiness.account_consent,
        "a created consent is not a completed flow"
    );
    assert!(
        !readiness.payment_with_idempotency_key,
        "nor is an unpaid payment consent"
    );
    call_accounts(&server, 1).await;
    make_payment(&server).await;
    let readiness = assess().await;
    assert!(readiness.account_consent && readiness.payment_with_idempotency_key);
}
both!(item_19_readiness_counts_completed_flows, demo);

/// Issue 18 item 7: a domestic payment right after a restart (the dataset not yet
/// loaded) does not wait on the write lock it holds itself: it is created at once.
async fn item_7_payment_after_a_restart_does_not_deadlock(server: TestServer) {
    // A deadlock shows as SQLite's 10-second busy timeout and then a 500, which
    // make_payment_with refuses (it expects 201); no timing is asserted.
    make_payment_with(&server, true).await;
}
both!(item_7_payment_after_a_restart_does_not_deadlock, demo);

async fn one_reviewer_with_conditions_and_step_up(server: TestServer) {
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let acme = approved_acme(&server, &reviewer, "2").await;
    let app_id = demo_app_id(&server).await;
    call_reference(&server, 3).await;
    call_accounts(&server, 3).await;
    wait_for_log(&server, &app_id, 10).await;
    // Tier 2's customer-data scopes: sender-constrained tokens, said before submitting.
    let (_, page) = acme
        .text(&format!("/production/requests/new?app_id={app_id}"))
        .await;
    let terms = page
        .split("id=\"conditions\"")
        .nth(1)
        .expect("the conditions");
    assert!(
        terms.contains("Tokens must be sender-constrained if you ask for accounts"),
        "{terms}"
    );
    let key = PartnerKey::new("acme-prod-1");
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let fields = request_fields(
        &app_id,
        &["reference", "accounts"],
        "private_key_jwt",
        ("jwks", &jwks),
    );
    let fields = with(fields, "lifetime_days", "120");
    let id = submitted(&acme, &fields).await;
    let (status, route, _) = request_row(&server, &id).await;
    assert_eq!(
        (status.as_str(), route.as_str()),
        ("pending_review", "one_reviewer")
    );
    let (_, page) = acme.text(&format!("/production/requests/{id}")).await;
    assert!(
        page.contains("A reviewer at the bank will look at it.")
            && page.contains("what-would-change")
    );
    let (subject, _) = server.last_mail(REVIEWER).await;
    assert!(
        subject.contains("Production request to review"),
        "{subject}"
    );

    // The reviewer sees the explanation in the queue and on the request.
    let (_, queue) = reviewer.text("/review/production").await;
    assert!(queue.contains(&format!("/review/production/{id}")));
    assert!(queue.contains("Within SLA"));
    // The clock runs from submission, not from the latest update (issue 19 item 16):
    // an old last update alone is not overdue, and a recent update (an edit, a
    // message) does not reset a clock that started long ago.
    sqlx::query("UPDATE access_requests SET updated_at = updated_at - 80 * 3600 WHERE id = $1")
        .bind(&id)
        .execute(server.pool())
        .await
        .unwrap();
    let (_, queue) = reviewer.text("/review/production").await;
    assert!(queue.contains("Within SLA"), "{queue}");
    assert_eq!(
        app::access_requests::service::escalate_overdue(&server.state)
            .await
            .unwrap(),
        0
    );
    // Past the tier's 72-hour SLA since submission, the queue says so.
    sqlx::query(
        "UPDATE access_requests SET waiting_since = waiting_since - 80 * 3600, updated_at = waiting_since WHERE id = $1",
    )
    .bind(&id)
    .execute(server.pool())
    .await
    .unwrap();
    let (_, queue) = reviewer.text("/review/production").await;
    assert!(queue.contains("Overdue"), "{queue}");
    // The maintenance job escalates it once, to the approvers and admins.
    let escalate = app::access_requests::service::escalate_overdue;
    // (The server's own job may get there first: either way, exactly once.)
    assert!(escalate(&server.state).await.unwrap() <= 1);
    assert_eq!(escalate(&server.state).await.unwrap(), 0, "escalated once");
    assert_eq!(
        server
            .count(&format!("SELECT COUNT(*) FROM outbox WHERE recipient = '{APPROVER}' AND subject LIKE 'Overdue production request%'"))
            .await,
        1
    );
    let (subject, body) = server.last_mail(APPROVER).await;
    assert!(
        subject.starts_with("Overdue production request"),
        "{subject}"
    );
    assert!(body.contains(&format!("/review/production/{id}")));
    let (_, queue) = reviewer.text("/review/production").await;
    assert!(queue.contains("Overdue — escalated"), "{queue}");
    let (_, page) = reviewer.text(&format!("/review/production/{id}")).await;
    assert!(
        page.contains("Risk explanation") && page.contains("Account information reads customers")
    );

    // Approving needs a step-up code: missing or wrong, nothing is decided.
    let conditions = [
        ("decision", "approve"),
        ("scopes", "accounts"),
        ("lifetime_days", "30"),
        ("rate_limit_per_minute", "60"),
        ("reason", "Narrowed to what the product needs."),
    ];
    let response = review(&reviewer, &id, &conditions).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mut wrong = conditions.to_vec();
    wrong.push(("code", "000000"));
    let response = review(&reviewer, &id, &wrong).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(request_row(&server, &id).await.0, "pending_review");
    // Widening is refused too.
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let code = totp_code(&server.state.clock, &secret, 0);
    let mut wider = conditions.to_vec();
    wider[3] = ("rate_limit_per_minute", "100000");
    wider.push(("code", &code));
    assert_eq!(
        review(&reviewer, &id, &wider).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let code = totp_code(&server.state.clock, &secret, 1);
    let mut approve = conditions.to_vec();
    approve.push(("code", &code));
    let response = review(&reviewer, &id, &approve).await;
    assert_location(&response, &format!("/review/production/{id}"));
    let (status, _, production_app) = request_row(&server, &id).await;
    assert_eq!(status, "approved");
    let (scopes, rate, dpop, method): (String, i64, i64, String) = sqlx::query_as(
        "SELECT scopes, rate_limit_per_minute, dpop_required, auth_method FROM apps WHERE id = $1 AND environment = 'production'",
    )
    .bind(production_app.as_ref().unwrap())
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!(
        (scopes.as_str(), rate, dpop, method.as_str()),
        ("accounts", 60, 1, "private_key_jwt")
    );
    let (kind, expires_at): (String, i64) =
        sqlx::query_as("SELECT kind, expires_at FROM credentials WHERE app_id = $1")
            .bind(production_app.as_ref().unwrap())
            .fetch_one(server.pool())
            .await
            .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(kind, "jwks");
    assert!(
        (expires_at - (now + 30 * 86_400)).abs() < 600,
        "30 days, not the 120 asked for"
    );
    let (_, page) = acme.text(&format!("/production/requests/{id}")).await;
    assert!(page.contains("approved-terms") && page.contains("30 days"));

    // The issued client works with the registered key, DPoP-bound, for the narrowed
    // scope only.
    let client_id: String = sqlx::query_scalar("SELECT client_id FROM apps WHERE id = $1")
        .bind(production_app.as_ref().unwrap())
        .fetch_one(server.pool())
        .await
        .unwrap();
    let issuer = format!("{}/production", server.base);
    let token_url = format!("{issuer}/oauth/token");
    let token_request = |scope: &'static str| {
        let assertion = key.assertion(&server, &client_id, json!({ "aud": issuer }));
        let proof = key.dpop(&server, "POST", &token_url, json!({}), None);
        let form = assertion_form(
            &assertion,
            &[("grant_type", "client_credentials"), ("scope", scope)],
        );
        (form, proof)
    };
    let (form, proof) = token_request("reference");
    let (status, _, body) = oauth_post(
        &server,
        "/production/oauth/token",
        None,
        &as_refs(&form),
        Some(&proof),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope")),
        "{body}"
    );
    let (form, _) = token_request("accounts");
    let (status, _, body) = oauth_post(
        &server,
        "/production/oauth/token",
        None,
        &as_refs(&form),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "DPoP is required: {body}");
    let (form, proof) = token_request("accounts");
    let (status, _, body) = oauth_post(
        &server,
        "/production/oauth/token",
        None,
        &as_refs(&form),
        Some(&proof),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    // The production docs' example runs as written with this client and its key.
    if let Some(examples) = crate::examples::node_dir("../examples") {
        use base64::Engine;
        use p256::pkcs8::EncodePrivateKey;
        let d = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&key.d)
            .unwrap();
        let secret_key = p256::SecretKey::from_slice(&d).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private.pem");
        std::fs::write(
            &private,
            crate::sandbox_helpers::pem(
                "PRIVATE KEY",
                secret_key.to_pkcs8_der().unwrap().as_bytes(),
            ),
        )
        .unwrap();
        let (_, docs) = acme.text("/production/docs").await;
        let command = crate::sandbox_docs::block(&docs, "production-node")
            .replace("YOUR_PRODUCTION_CLIENT_ID", &client_id)
            .replace("private.pem", &private.display().to_string());
        let out = crate::sandbox_docs::bash(&format!("cd {}/..\n{command}", examples.display()));
        assert!(out.contains("\"token_type\":\"dpop\""), "{out}");
        assert!(out.contains("\"scope\":\"accounts\""), "{out}");
    }
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["scope"].as_str(), claims["iss"].as_str()),
        (Some("accounts"), Some(issuer.as_str()))
    );
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());

    // FAPI 2.0: the production issuer takes only its issuer identifier as the
    // assertion's audience, as a string or as the only member of an array, and keeps
    // the five-minute lifetime (issue 16, item 11).
    let now = server.state.clock.now();
    for (claims, accepted) in [
        (json!({ "aud": [issuer] }), true),
        (json!({ "aud": token_url }), false),
        (json!({ "aud": [issuer, "https://another.example"] }), false),
        (json!({ "aud": format!("{}", server.base) }), false),
        (json!({ "aud": issuer, "exp": now + 3600 }), false),
    ] {
        let assertion = key.assertion(&server, &client_id, claims.clone());
        let proof = key.dpop(&server, "POST", &token_url, json!({}), None);
        let form = assertion_form(
            &assertion,
            &[("grant_type", "client_credentials"), ("scope", "accounts")],
        );
        let (status, _, body) = oauth_post(
            &server,
            "/production/oauth/token",
            None,
            &as_refs(&form),
            Some(&proof),
        )
        .await;
        let expected = if accepted {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{claims}: {body}");
        // The bank's production gateway introspects the partner's token (issue 18
        // item 16), as the production docs page describes.
        if accepted {
            let (gateway, secret) = app::oauth::resource_servers::create(
                &server.state,
                app::audit::Actor::system("test"),
                "production gateway",
                app::oauth::Issuer::Production,
            )
            .await
            .unwrap();
            let token = body["access_token"].as_str().unwrap();
            let (status, _, seen) = oauth_post(
                &server,
                "/production/oauth/introspect",
                Some((&gateway.client_id, &secret)),
                &[("token", token)],
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(seen["active"], true, "{seen}");
            assert_eq!(seen["client_id"], client_id.as_str());
            assert_eq!(seen["token_type"], "DPoP");
        }
    }

    // A retry of the same decision changes nothing and says so.
    let response = review(&reviewer, &id, &approve).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM apps WHERE environment = 'production' AND is_demo = 0")
            .await,
        1
    );
    let step_up: Option<i64> = sqlx::query_scalar(
        "SELECT step_up_at FROM access_reviews WHERE request_id = $1 AND stage = 1",
    )
    .bind(&id)
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert!(step_up.is_some());
}
both!(one_reviewer_with_conditions_and_step_up, demo);

async fn four_eyes_and_auto_reject(server: TestServer) {
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let acme = approved_acme(&server, &reviewer, "3").await;
    let app_id = demo_app_id(&server).await;
    let key = PartnerKey::new("acme-pay-1");
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let fields = request_fields(&app_id, &["payments"], "private_key_jwt", ("jwks", &jwks));

    // No sandbox payment yet: the policy rejects, and says what would change that.
    let rejected = submitted(&acme, &fields).await;
    assert_eq!(request_row(&server, &rejected).await.0, "rejected");
    let (_, page) = acme.text(&format!("/production/requests/{rejected}")).await;
    assert!(
        page.contains("Complete a payment consent and a domestic payment in the sandbox first."),
        "{page}"
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM apps WHERE environment = 'production' AND is_demo = 0")
            .await,
        0
    );

    make_payment(&server).await;
    wait_for_log(&server, &app_id, 7).await;
    // A new request: the partner opens the form again (a new submission key).
    let fields = with(fields, "submission_key", &fresh_submission_key());
    let id = submitted(&acme, &fields).await;
    let (status, route, _) = request_row(&server, &id).await;
    assert_eq!(
        (status.as_str(), route.as_str()),
        ("pending_review", "four_eyes")
    );

    // First review by an approver; the same person cannot make the second.
    let approver = server.demo_staff(APPROVER, -1).await;
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    let code = totp_code(&server.state.clock, &secret, 0);
    let first = review(
        &approver,
        &id,
        &[
            ("decision", "approve"),
            ("reason", "Pen test is recent."),
            ("code", &code),
        ],
    )
    .await;
    assert_location(&first, &format!("/review/production/{id}"));
    assert_eq!(request_row(&server, &id).await.0, "pending_second_review");
    let token = approver.csrf(&format!("/review/production/{id}")).await;
    let code = totp_code(&server.state.clock, &secret, 1);
    let (_, page) = approver.text(&format!("/review/production/{id}")).await;
    let version = input_value(&page, "version").unwrap_or_else(|| "2".into());
    let same = approver
        .post(
            &format!("/review/production/{id}/decision"),
            &[
                ("csrf_token", &token),
                ("version", &version),
                ("decision", "approve"),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(same.status(), StatusCode::FORBIDDEN);
    // A reviewer without the approver role cannot make the second either.
    let token = reviewer.csrf(&format!("/review/production/{id}")).await;
    let code = totp_code(&server.state.clock, &secret, 0);
    let not_approver = reviewer
        .post(
            &format!("/review/production/{id}/decision"),
            &[
                ("csrf_token", &token),
                ("version", "2"),
                ("decision", "approve"),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(not_approver.status(), StatusCode::FORBIDDEN);
    // A member of the organisation cannot review it at all.
    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let (insider, insider_secret) = new_staff(
        &server,
        &admin,
        "ops@acme-budgeting.example.com",
        "approver",
    )
    .await;
    let token = insider.csrf(&format!("/review/production/{id}")).await;
    let (_, page) = insider.text(&format!("/review/production/{id}")).await;
    assert!(page.contains("you cannot review an organisation you belong to"));
    let code = totp_code(&server.state.clock, &insider_secret, 1);
    let conflicted = insider
        .post(
            &format!("/review/production/{id}/decision"),
            &[
                ("csrf_token", &token),
                ("version", "2"),
                ("decision", "approve"),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(conflicted.status(), StatusCode::FORBIDDEN);
    assert_eq!(request_row(&server, &id).await.0, "pending_second_review");

    // Two approvers at once: exactly one outcome, a clear conflict for the other.
    let (second, second_secret) = new_staff(
        &server,
        &admin,
        "second.approver@bank.example.com",
        "approver",
    )
    .await;
    let (third, third_secret) = new_staff(
        &server,
        &admin,
        "third.approver@bank.example.com",
        "approver",
    )
    .await;
    let page = format!("/review/production/{id}");
    let (_, html) = second.text(&page).await;
    let version = input_value(&html, "version").unwrap();
    let t2 = second.csrf(&page).await;
    let t3 = third.csrf(&page).await;
    let c2 = totp_code(&server.state.clock, &second_secret, 1);
    let c3 = totp_code(&server.state.clock, &third_secret, 1);
    let path = format!("{page}/decision");
    let f2 = [
        ("csrf_token", t2.as_str()),
        ("version", version.as_str()),
        ("decision", "approve"),
        ("reason", "Second pair of eyes."),
        ("code", c2.as_str()),
    ];
    let f3 = [
        ("csrf_token", t3.as_str()),
        ("version", version.as_str()),
        ("decision", "approve"),
        ("reason", "Second pair of eyes."),
        ("code", c3.as_str()),
    ];
    let (a, b) = tokio::join!(second.post(&path, &f2), third.post(&path, &f3));
    let mut statuses = vec![a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
    assert_eq!(request_row(&server, &id).await.0, "approved");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM apps WHERE environment = 'production' AND is_demo = 0")
            .await,
        1
    );
    assert_eq!(
        server
            .count(&format!(
                "SELECT COUNT(*) FROM access_reviews WHERE request_id = '{id}' AND stage = 2"
            ))
            .await,
        1
    );
    let (scopes, dpop): (String, i64) = sqlx::query_as(
        "SELECT scopes, dpop_required FROM apps WHERE environment = 'production' AND is_demo = 0",
    )
    .fetch_one(server.pool())
    .await
    .unwrap();
    assert_eq!((scopes.as_str(), dpop), ("payments", 1));
    let (subject, _) = server.last_mail(ACME_ADMIN).await;
    assert!(
        subject.contains("production credentials are ready"),
        "{subject}"
    );
}
both!(four_eyes_and_auto_reject, demo);

async fn bad_requests_write_nothing(server: TestServer) {
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let app_id = demo_app_id(&server).await;
    // Not approved for any tier yet.
    let acme = acme_admin(&server).await;
    let fields = request_fields(&app_id, &["reference"], "client_secret_basic", ("jwks", ""));
    let response = submit_request(&acme, &fields).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("no approved tier yet"));
    approve_tier(&server, &acme, &reviewer, "2").await;
    let key = PartnerKey::new("acme-bad-1");
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let good = request_fields(&app_id, &["accounts"], "private_key_jwt", ("jwks", &jwks));
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        ("scope outside the approved tier", request_fields(&app_id, &["payments"], "private_key_jwt", ("jwks", &jwks))),
        ("secret where the tier forbids it", request_fields(&app_id, &["accounts"], "client_secret_basic", ("jwks", ""))),
        ("malformed JWKS", request_fields(&app_id, &["accounts"], "private_key_jwt", ("jwks", "{\"keys\": [{\"kty\": \"EC\"}]}"))),
        ("private key pasted", request_fields(&app_id, &["accounts"], "private_key_jwt", ("jwks", &json!({ "keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": key.d}] }).to_string()))),
        ("malformed certificate", request_fields(&app_id, &["accounts"], "tls_client_auth", ("certificate", "-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----"))),
        ("lifetime beyond the tier maximum", with(good.clone(), "lifetime_days", "400")),
        ("lifetime not a number", with(good.clone(), "lifetime_days", "ninety")),
        ("missing volume", with(good.clone(), "calls_per_day", "")),
        ("missing justification", with(good.clone(), "justification_accounts", "")),
        ("justification too long", with(good.clone(), "justification_accounts", &"x".repeat(5000))),
        ("bad IP range", with(good.clone(), "ip_allowlist", "10.0.0.0/40")),
        ("bad country code", with(good.clone(), "allowed_countries", "GBR")),
        ("go-live in the past", with(good.clone(), "go_live", &onboarding::date(-3))),
        ("no scopes", request_fields(&app_id, &[], "private_key_jwt", ("jwks", &jwks))),
    ];
    for (name, fields) in &cases {
        let response = submit_request(&acme, fields).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}"
        );
        let html = response.text().await.unwrap();
        assert!(
            html.contains("There is a problem"),
            "{name}: the form comes back with its errors"
        );
    }
    assert_eq!(server.count(ACME_REQUESTS).await, 0);

    // Another organisation's app: not found. A developer: forbidden.
    let northwind = server.demo_partner_user(NORTHWIND_ADMIN).await;
    northwind.enrol_totp().await;
    let token = northwind.csrf("/production").await;
    let mut form: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    form.push(("csrf_token", &token));
    assert_eq!(
        northwind.post("/production/requests", &form).await.status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = northwind
        .text(&format!("/production/requests/new?app_id={app_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let developer = server.demo_partner_user(ACME_DEV).await;
    let token = developer.csrf("/production").await;
    let mut form: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    form.push(("csrf_token", &token));
    assert_eq!(
        developer.post("/production/requests", &form).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(server.count(ACME_REQUESTS).await, 0);

    // A replayed submission lands on the first request; a new form for the same app
    // while the first is open is refused: one request.
    let id = submitted(&acme, &good).await;
    assert_eq!(submitted(&acme, &good).await, id);
    assert_eq!(
        submit_request(
            &acme,
            &with(good.clone(), "submission_key", &fresh_submission_key())
        )
        .await
        .status(),
        StatusCode::CONFLICT
    );
    assert_eq!(server.count(ACME_REQUESTS).await, 1);
    // Another organisation's request id: not found, on every route.
    assert_eq!(
        northwind
            .text(&format!("/production/requests/{id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let token = northwind.csrf("/production").await;
    assert_eq!(
        northwind
            .post(
                &format!("/production/requests/{id}/secret"),
                &[("csrf_token", &token)]
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // A partner cannot decide.
    let token = acme.csrf("/production").await;
    assert_eq!(
        acme.post(
            &format!("/review/production/{id}/decision"),
            &[
                ("csrf_token", &token),
                ("version", "1"),
                ("decision", "approve")
            ]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
}
both!(bad_requests_write_nothing, demo);

async fn the_policy_is_replaced_only_when_its_tests_pass(server: TestServer) {
    let reviewer = server.demo_staff(REVIEWER, 0).await;
    let (status, page) = reviewer.text("/review/policy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("package gatehouse.access") && !page.contains("Replace the policy"));
    let partner = server.demo_partner().await;
    assert_eq!(
        partner.text("/review/policy").await.0,
        StatusCode::FORBIDDEN
    );

    let admin = server.demo_staff("admin@bank.example.com", 0).await;
    let (_, page) = admin.text("/review/policy").await;
    assert!(page.contains("Replace the policy"));
    let tests = app::access_requests::policy::DEFAULT_TESTS;
    // Sends everything to one reviewer: its own table disagrees, so it is refused.
    let lazy = app::access_requests::policy::DEFAULT_POLICY
        .replace("else := \"auto_approve\"", "else := \"one_reviewer\"");
    let response = admin
        .submit(
            "/review/policy",
            "/admin/policy",
            &[("source", &lazy), ("tests", tests), ("note", "Stricter")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("route one_reviewer instead of auto_approve"));
    let response = admin
        .submit(
            "/review/policy",
            "/admin/policy",
            &[
                ("source", "package gatehouse.access\ndecision := {"),
                ("tests", tests),
                ("note", "Broken"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(server.count("SELECT COUNT(*) FROM risk_policies").await, 1);
    assert_eq!(
        server
            .count("SELECT version FROM risk_policies WHERE active = 1")
            .await,
        1
    );

    // A real change that passes: a higher daily-volume threshold.
    let tuned = app::access_requests::policy::DEFAULT_POLICY
        .replace("calls_per_day > 100000", "calls_per_day > 200000");
    let response = admin
        .submit(
            "/review/policy",
            "/admin/policy",
            &[
                ("source", &tuned),
                ("tests", tests),
                ("note", "Higher volume threshold"),
            ],
        )
        .await;
    assert_location(&response, "/review/policy");
    assert_eq!(
        server
            .count("SELECT version FROM risk_policies WHERE active = 1")
            .await,
        2
    );
    let actions = server.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "policy.refused")
            && actions.iter().any(|a| a == "policy.replaced")
    );
    // A reviewer cannot replace it.
    let token = reviewer.csrf("/review/policy").await;
    assert_eq!(
        reviewer
            .post(
                "/admin/policy",
                &[
                    ("csrf_token", &token),
                    ("source", &tuned),
                    ("tests", tests),
                    ("note", "x")
                ]
            )
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}
both!(the_policy_is_replaced_only_when_its_tests_pass, demo);

async fn more_information_then_a_new_round(server: TestServer) {
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let acme = approved_acme(&server, &reviewer, "1").await;
    let app_id = demo_app_id(&server).await;
    // Nothing proven in the sandbox yet: a reviewer looks at it.
    let fields = request_fields(&app_id, &["reference"], "client_secret_basic", ("jwks", ""));
    let id = submitted(&acme, &fields).await;
    assert_eq!(
        request_row(&server, &id).await,
        ("pending_review".into(), "one_reviewer".into(), None)
    );
    let (_, page) = reviewer.text(&format!("/review/production/{id}")).await;
    assert!(
        page.contains("No recent successful sandbox calls"),
        "the reviewer sees why"
    );
    let response = review(
        &reviewer,
        &id,
        &[
            ("decision", "more_info"),
            (
                "reason",
                "Please call the branches API in the sandbox first.",
            ),
        ],
    )
    .await;
    assert_location(&response, &format!("/review/production/{id}"));
    assert_eq!(request_row(&server, &id).await.0, "more_info");
    let (subject, body) = server.last_mail(ACME_ADMIN).await;
    assert!(
        subject.contains("more information") && body.contains("branches API"),
        "{subject}"
    );

    // A developer cannot answer; an empty answer is refused.
    let developer = server.demo_partner_user(ACME_DEV).await;
    let token = developer.csrf(&format!("/production/requests/{id}")).await;
    let response = developer
        .post(
            &format!("/production/requests/{id}/answer"),
            &[
                ("csrf_token", &token),
                ("version", "2"),
                ("answer", "Done."),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let page = format!("/production/requests/{id}");
    let (_, html) = acme.text(&page).await;
    assert!(html.contains("Please call the branches API in the sandbox first."));
    let version = input_value(&html, "version").unwrap();
    let response = acme
        .submit(
            &page,
            &format!("{page}/answer"),
            &[("version", &version), ("answer", "  ")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The partner proves readiness and answers: a new round, evaluated again, which
    // the policy now approves by itself.
    call_reference(&server, 3).await;
    wait_for_log(&server, &app_id, 4).await;
    let response = acme
        .submit(
            &page,
            &format!("{page}/answer"),
            &[
                ("version", &version),
                ("answer", "We now call branches, products and FX rates."),
            ],
        )
        .await;
    assert_location(&response, &page);
    let (status, route, production_app) = request_row(&server, &id).await;
    assert_eq!(
        (status.as_str(), route.as_str()),
        ("approved", "auto_approve")
    );
    assert!(production_app.is_some());
    let round: i64 = sqlx::query_scalar("SELECT round FROM access_requests WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(round, 2);
    assert_eq!(
        server.count(&format!("SELECT COUNT(*) FROM audit_events WHERE action = 'access_request.evaluated' AND resource_id = '{id}'")).await,
        2,
        "each round's evaluation is on the record"
    );
    // The same answer again: the request has moved on.
    let response = acme
        .submit(
            "/production",
            &format!("{page}/answer"),
            &[("version", &version), ("answer", "Again.")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}
both!(more_information_then_a_new_round, demo);
