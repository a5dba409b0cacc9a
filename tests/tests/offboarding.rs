//! Issue 15: offboarding. The subject is the demo's Fjord Analytics with at least one
//! of everything added through the portal and the APIs: a second member, a sandbox
//! app with a client-credentials token, a customer's grant with its access and
//! refresh tokens, an authorization code not yet exchanged, an OBIE consent awaiting
//! authorisation, a production token, an onboarding application in draft and a
//! production request waiting for review. After the one action, each of them is
//! checked the way its user would: the token endpoints, a gateway's introspection,
//! the sandbox API, sign-in, and the signed evidence pack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use app::audit::Actor;
use app::oauth::{resource_servers, Issuer};
use oauth2::{CsrfToken, PkceCodeChallenge, Scope, TokenResponse};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{assert_location, totp_code, Backend, Client, TestServer};
use crate::production::{request_fields, request_row, submitted};
use crate::sandbox_api::{account_consent, authorise_with, customer_approves, Api};
use crate::sandbox_helpers::{
    app_fields, oauth_client, oauth_http, oauth_post, register_app, user_id, PartnerKey,
};

pub(crate) const FJORD: &str = "admin@fjord-analytics.example.com";
const DEV: &str = "grace@fjord-analytics.example.com";
const DEV_PASSWORD: &str = "analytical engine notes";
pub(crate) const BANK_ADMIN: &str = "admin@bank.example.com";
const REVIEWER: &str = "reviewer@bank.example.com";
const REDIRECT: &str = "https://app.example.com/callback";
const MIA: (&str, &str) = ("mia.salaried", "sandbox-mia-2026");

pub(crate) fn step_up(server: &TestServer, offset: i64) -> String {
    let secret =
        app::accounts::totp::from_base32(app::accounts::bootstrap::DEMO_TOTP_SECRET).unwrap();
    totp_code(&server.state.clock, &secret, offset)
}

pub(crate) async fn org_of(server: &TestServer, email: &str) -> String {
    sqlx::query_scalar("SELECT org_id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// Everything of the organisation the offboarding must end.
pub(crate) struct Fixture {
    pub org_id: String,
    pub admin: Client,
    pub dev: Client,
    pub sandbox: (String, String),
    pub cc_token: String,
    pub customer_access: String,
    pub customer_refresh: String,
    pub unused_code: (String, String),
    pub pending_intent: String,
    pub production: (String, String),
    pub production_token: String,
    pub application: String,
    pub access_request: String,
}

async fn client_credentials(server: &TestServer, id: &str, secret: &str, scope: &str) -> String {
    oauth_client(server, id, secret, REDIRECT)
        .exchange_client_credentials()
        .add_scope(Scope::new(scope.into()))
        .request_async(&oauth_http())
        .await
        .unwrap()
        .access_token()
        .secret()
        .clone()
}

async fn production_token(server: &TestServer, id: &str, secret: &str) -> Result<String, String> {
    let (status, _, body) = oauth_post(
        server,
        "/production/oauth/token",
        Some((id, secret)),
        &[("grant_type", "client_credentials"), ("scope", "reference")],
        None,
    )
    .await;
    match status {
        StatusCode::OK => Ok(body["access_token"].as_str().unwrap().to_string()),
        _ => Err(format!("{status} {body}")),
    }
}

/// A developer invited by `admin` joins and signs in.
pub(crate) async fn join(
    server: &TestServer,
    admin: &Client,
    (name, email, password): (&str, &str, &str),
) -> Client {
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
    assert_location(&response, "/org/members");
    let link = server.mailed_link(email).await;
    let token = link.split("token=").nth(1).unwrap().to_string();
    let member = server.client();
    let response = member
        .submit(
            &link,
            "/invitation",
            &[
                ("token", &token),
                ("display_name", name),
                ("password", password),
            ],
        )
        .await;
    assert_location(&response, "/signin");
    assert_location(&member.sign_in(email, password).await, "/dashboard");
    member
}

pub(crate) async fn fixture(server: &TestServer) -> Fixture {
    let org_id = org_of(server, FJORD).await;
    let admin = server.demo_staff(FJORD, -1).await;
    let dev = join(server, &admin, ("Grace Hopper", DEV, DEV_PASSWORD)).await;
    let owner = user_id(server, FJORD).await;
    let (app_id, client_id, secret) = register_app(
        &admin,
        &app_fields(
            "Fjord offboarding fixture",
            &owner,
            "client_secret_basic",
            "",
        ),
    )
    .await;
    let secret = secret.unwrap();
    let api = Api::new(server);
    let cc_token = client_credentials(server, &client_id, &secret, "accounts").await;
    let reference = client_credentials(server, &client_id, &secret, "reference").await;
    for _ in 0..3 {
        assert_eq!(
            api.get("/reference/branches", &reference).await.status,
            StatusCode::OK
        );
    }
    let permissions = json!({ "Permissions": ["ReadAccountsDetail", "ReadBalances"] });
    let intent = account_consent(&api, &cc_token, permissions.clone()).await;
    let tokens = authorise_with(
        server,
        (&client_id, &secret, REDIRECT),
        &intent,
        "accounts",
        MIA,
        None,
    )
    .await;
    let customer_access = tokens.access_token().secret().clone();
    let customer_refresh = tokens.refresh_token().unwrap().secret().clone();
    assert_eq!(
        api.get("/aisp/accounts", &customer_access).await.status,
        StatusCode::OK
    );
    // A code the app has not exchanged yet.
    let intent = account_consent(&api, &cc_token, permissions.clone()).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = oauth_client(server, &client_id, &secret, REDIRECT)
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("accounts".into()))
        .add_extra_param("openbanking_intent_id", &intent)
        .set_pkce_challenge(challenge)
        .url();
    let back = customer_approves(server, url.as_str(), MIA, None).await;
    let code = crate::oauth::query(&back, "code").unwrap();
    let pending_intent = account_consent(&api, &cc_token, permissions).await;

    let insights: String =
        sqlx::query_scalar("SELECT client_id FROM apps WHERE name = 'Fjord insights'")
            .fetch_one(server.pool())
            .await
            .unwrap();
    let production_secret = app::governance::demo::DEMO_PRODUCTION_SECRET.to_string();
    let production_token = production_token(server, &insights, &production_secret)
        .await
        .unwrap();

    let application = crate::onboarding::start(&admin, "3").await;
    crate::sandbox_helpers::wait_for_log(server, &app_id, 6).await;
    let key = PartnerKey::new("fjord-prod-fixture");
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let fields = request_fields(
        &app_id,
        &["reference", "accounts"],
        "private_key_jwt",
        ("jwks", &jwks),
    );
    let access_request = submitted(&admin, &fields).await;
    // The demo's Fjord holds expired evidence, which the risk policy rejects on; the
    // fixture needs a request in the reviewer's queue, so it is put there (routing is
    // not what this test is about).
    sqlx::query(
        "UPDATE access_requests SET status = 'pending_review', route = 'one_reviewer', decided_at = NULL WHERE id = $1",
    )
    .bind(&access_request)
    .execute(server.pool())
    .await
    .unwrap();
    let (status, _, _) = request_row(server, &access_request).await;
    assert_eq!(status, "pending_review");
    Fixture {
        org_id,
        admin,
        dev,
        sandbox: (client_id, secret),
        cc_token,
        customer_access,
        customer_refresh,
        unused_code: (code, verifier.secret().clone()),
        pending_intent,
        production: (insights, production_secret),
        production_token,
        application,
        access_request,
    }
}

async fn count(server: &TestServer, sql: &str, org: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(org)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

pub(crate) async fn active_apps(server: &TestServer, org: &str) -> i64 {
    count(
        server,
        "SELECT COUNT(*) FROM apps WHERE org_id = $1 AND status = 'active'",
        org,
    )
    .await
}

/// Gateways of both issuers, to introspect partners' tokens as the bank's API would.
pub(crate) struct Gateways {
    sandbox: (String, String),
    production: (String, String),
}

pub(crate) async fn gateways(server: &TestServer) -> Gateways {
    let make = |name: &'static str, issuer| async move {
        let (rs, secret) =
            resource_servers::create(&server.state, Actor::system("test"), name, issuer)
                .await
                .unwrap();
        (rs.client_id, secret)
    };
    Gateways {
        sandbox: make("sandbox gateway", Issuer::Sandbox).await,
        production: make("production gateway", Issuer::Production).await,
    }
}

async fn active(server: &TestServer, path: &str, gateway: &(String, String), token: &str) -> bool {
    let (status, _, body) = oauth_post(
        server,
        path,
        Some((&gateway.0, &gateway.1)),
        &[("token", token)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["active"] == true
}

/// No token of the organisation works anywhere: the token endpoints, introspection
/// and the sandbox API.
pub(crate) async fn assert_no_token_works(server: &TestServer, fx: &Fixture, gw: &Gateways) {
    server.forget_cached_state();
    let (status, _, body) = oauth_post(
        server,
        "/oauth/token",
        Some((&fx.sandbox.0, &fx.sandbox.1)),
        &[("grant_type", "client_credentials"), ("scope", "accounts")],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(production_token(server, &fx.production.0, &fx.production.1)
        .await
        .is_err());
    for token in [&fx.cc_token, &fx.customer_access] {
        assert!(!active(server, "/oauth/introspect", &gw.sandbox, token).await);
    }
    assert!(
        !active(
            server,
            "/production/oauth/introspect",
            &gw.production,
            &fx.production_token
        )
        .await
    );
    let api = Api::new(server);
    assert_eq!(
        api.get("/aisp/accounts", &fx.customer_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, _) = oauth_post(
        server,
        "/oauth/token",
        Some((&fx.sandbox.0, &fx.sandbox.1)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &fx.customer_refresh),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The end state: every identity and record ended, sign-in refused.
pub(crate) async fn assert_all_ended(server: &TestServer, fx: &Fixture, gw: &Gateways) {
    assert_no_token_works(server, fx, gw).await;
    let org = fx.org_id.as_str();
    assert_eq!(active_apps(server, org).await, 0);
    for sql in [
        "SELECT COUNT(*) FROM credentials c JOIN apps a ON a.id = c.app_id WHERE a.org_id = $1 AND c.revoked_at IS NULL",
        "SELECT COUNT(*) FROM refresh_tokens r JOIN apps a ON a.id = r.app_id WHERE a.org_id = $1 AND r.revoked_at IS NULL",
        "SELECT COUNT(*) FROM consents WHERE org_id = $1 AND status = 'granted'",
        "SELECT COUNT(*) FROM ob_consents WHERE org_id = $1 AND status IN ('AwaitingAuthorisation', 'Authorised')",
        "SELECT COUNT(*) FROM applications WHERE org_id = $1 AND status IN ('draft', 'submitted', 'more_info')",
        "SELECT COUNT(*) FROM access_requests WHERE org_id = $1 AND status IN ('pending_review', 'pending_second_review', 'more_info')",
        "SELECT COUNT(*) FROM sandbox_datasets WHERE org_id = $1",
        "SELECT COUNT(*) FROM users WHERE org_id = $1 AND status <> 'disabled'",
        "SELECT COUNT(*) FROM outbox o JOIN users u ON u.email = o.recipient WHERE u.org_id = $1 AND o.status = 'pending'",
    ] {
        assert_eq!(count(server, sql, org).await, 0, "{sql}");
    }
    for (table, id) in [
        ("applications", &fx.application),
        ("access_requests", &fx.access_request),
    ] {
        let withdrawn: Option<i64> =
            sqlx::query_scalar(&format!("SELECT withdrawn_at FROM {table} WHERE id = $1"))
                .bind(id)
                .fetch_one(server.pool())
                .await
                .unwrap();
        assert!(withdrawn.is_some(), "{table} {id} withdrawn");
    }
    let status: String = sqlx::query_scalar("SELECT status FROM ob_consents WHERE id = $1")
        .bind(&fx.pending_intent)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(status, "Revoked");
    let org_status: String = sqlx::query_scalar("SELECT status FROM organisations WHERE id = $1")
        .bind(org)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert_eq!(org_status, "offboarded");
    // The code the app never exchanged is dead too.
    let (status, _, _) = oauth_post(
        server,
        "/oauth/token",
        Some((&fx.sandbox.0, &fx.sandbox.1)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &fx.unused_code.0),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &fx.unused_code.1),
        ],
        None,
    )
    .await;
    assert_ne!(status, StatusCode::OK);
    // Every member's session is gone, and sign-in is refused.
    for member in [&fx.admin, &fx.dev] {
        let response = member.get("/dashboard").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/signin"));
    }
    for (email, password) in [
        (FJORD, app::accounts::bootstrap::DEMO_PASSWORD),
        (DEV, DEV_PASSWORD),
    ] {
        let response = server.client().sign_in(email, password).await;
        assert_ne!(response.status(), StatusCode::SEE_OTHER, "{email} signs in");
    }
}

pub(crate) async fn wait_until_done(server: &TestServer, id: &str) {
    for _ in 0..600 {
        let status: String = sqlx::query_scalar("SELECT status FROM offboardings WHERE id = $1")
            .bind(id)
            .fetch_one(server.pool())
            .await
            .unwrap();
        if status == "done" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the offboarding {id} did not finish");
}

async fn offboarding_of(server: &TestServer, org: &str) -> Option<(String, String)> {
    sqlx::query_as("SELECT id, status FROM offboardings WHERE org_id = $1 AND status <> 'declined'")
        .bind(org)
        .fetch_optional(server.pool())
        .await
        .unwrap()
}

async fn written(server: &TestServer) -> (i64, i64) {
    (
        server.count("SELECT COUNT(*) FROM offboardings").await,
        server.count("SELECT COUNT(*) FROM suspensions").await,
    )
}

async fn offboarding_ends_everything(server: TestServer) {
    let fx = fixture(&server).await;
    let gw = gateways(&server).await;
    let bank = server.demo_staff(BANK_ADMIN, -1).await;
    let org = fx.org_id.clone();

    // Bad input: a clear error, nothing written.
    let before = written(&server).await;
    type Case<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);
    let cases: [Case; 5] = [
        (
            &[("org_id", &org), ("reason", ""), ("code", "123456")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Give the reason",
        ),
        (
            &[("org_id", &org), ("reason", "Contract ended")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter the current code",
        ),
        (
            &[
                ("org_id", &org),
                ("reason", "Contract ended"),
                ("code", "000000"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "not valid",
        ),
        (
            &[
                ("org_id", &org),
                ("reason", "bad\u{7}reason"),
                ("code", "123456"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "control character",
        ),
        (
            &[
                ("org_id", "org_nope"),
                ("reason", "Contract ended"),
                ("code", &step_up(&server, 0)),
            ],
            StatusCode::NOT_FOUND,
            "",
        ),
    ];
    for (fields, status, message) in cases {
        let response = bank
            .submit("/offboarding/bank", "/offboarding/bank", fields)
            .await;
        assert_eq!(response.status(), status, "{fields:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{message}: {html}");
    }
    let reviewer = server.demo_staff(REVIEWER, -1).await;
    let token = reviewer.csrf("/offboarding/bank").await;
    let response = reviewer
        .post(
            "/offboarding/bank",
            &[
                ("csrf_token", &token),
                ("org_id", &org),
                ("reason", "x"),
                ("code", &step_up(&server, 1)),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        fx.admin.get("/offboarding/bank").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(written(&server).await, before);

    // The partner admin asks; asking twice is refused; the bank admins are told.
    let response = fx
        .admin
        .submit(
            "/org/close",
            "/org/close",
            &[("reason", "We are winding the company down.")],
        )
        .await;
    assert_location(&response, "/org/close");
    let (id, status) = offboarding_of(&server, &org).await.unwrap();
    assert_eq!(status, "requested");
    let response = fx
        .admin
        .submit("/org/close", "/org/close", &[("reason", "Again.")])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    server
        .wait_for_mails(BANK_ADMIN, "A partner asked to close its organisation", 1)
        .await;
    // Fjord's five clients of the governance demo and the four sandbox apps whose
    // production requests wait in the demo's queue.
    assert_eq!(active_apps(&server, &org).await, 9);

    // The bank admin confirms, with a step-up.
    let page = format!("/offboarding/bank/{id}");
    let response = bank
        .submit(
            &page,
            &format!("/offboarding/bank/{id}/confirm"),
            &[
                ("reason", "Confirmed with the partner by phone."),
                ("code", &step_up(&server, 1)),
            ],
        )
        .await;
    assert_location(&response, &page);
    // From this moment no token works, before the job has revoked the clients.
    assert!(active_apps(&server, &org).await > 0);
    assert_no_token_works(&server, &fx, &gw).await;
    assert!(
        active_apps(&server, &org).await > 0,
        "the tokens were refused while the clients were still active"
    );
    // Offboarding twice is refused, and writes nothing.
    let before = written(&server).await;
    let response = bank
        .submit(
            "/offboarding/bank",
            "/offboarding/bank",
            &[
                ("org_id", &org),
                ("reason", "Again"),
                ("code", &step_up(&server, 2)),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(written(&server).await, before);

    wait_until_done(&server, &id).await;
    assert_all_ended(&server, &fx, &gw).await;

    // Nothing comes back: the suspension is never lifted, no account re-enabled.
    let suspension: String =
        sqlx::query_scalar("SELECT suspension_id FROM offboardings WHERE id = $1")
            .bind(&id)
            .fetch_one(server.pool())
            .await
            .unwrap();
    let response = bank
        .submit(
            "/governance/bank/suspensions",
            &format!("/governance/bank/suspensions/{suspension}/lift"),
            &[("lift_reason", "try")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let dev_id = user_id(&server, DEV).await;
    let response = bank
        .submit(
            "/admin/users",
            &format!("/admin/users/{dev_id}/enable"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // The page lists what was done; the pack is downloadable by bank staff only.
    let (_, html) = bank.text(&page).await;
    assert!(html.contains("done"), "{html}");
    let pack: String = sqlx::query_scalar("SELECT pack_id FROM offboardings WHERE id = $1")
        .bind(&id)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert!(html.contains(&pack));
    let download = format!("/evidence-packs/{pack}/download");
    let response = reviewer.get(&download).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let kinds: Vec<&str> = file["manifest"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    // The agreements in force and what Fjord accepted, with their hashes (issue 32).
    let agreements = &file["manifest"]["summary"]["agreements"];
    assert!(
        agreements["in_force"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{agreements}"
    );
    let accepted = agreements["accepted"].as_array().unwrap();
    assert!(
        accepted
            .iter()
            .any(|a| a["title"] == "Data-sharing agreement, Tier 2"
                && a["signatory"] == FJORD
                && a["sha256"].as_str().is_some_and(|h| h.len() == 64)),
        "{agreements}"
    );
    for kind in [
        "suspension",
        "member",
        "client",
        "credential",
        "refresh_tokens",
        "consent",
        "authorization_codes",
        "ob_consent",
        "application",
        "access_request",
        "sandbox_dataset",
        "organisation",
    ] {
        assert!(kinds.contains(&kind), "the pack lists {kind}: {kinds:?}");
    }
    let partner = server.demo_partner().await;
    assert_eq!(partner.get(&download).await.status(), StatusCode::FORBIDDEN);
    let actions = server.audit_actions().await;
    assert!(actions.iter().any(|a| a == "evidence_pack.downloaded"));

    crate::evidence_packs::detects_tampering(&server, &pack, &text).await;
}

fn slow_job(settings: &mut app::Settings) {
    settings.demo = true;
    settings.offboarding_batch = 1;
    settings.offboarding_pause_ms = 500;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_ends_everything_sqlite() {
    if let Some(server) = TestServer::start_with(Backend::Sqlite, slow_job).await {
        offboarding_ends_everything(server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_ends_everything_postgres() {
    if let Some(server) = TestServer::start_with(Backend::Postgres, slow_job).await {
        offboarding_ends_everything(server).await;
    }
}

/// Accepts the offboarding of `org_id` as the demo bank admin without running its job:
/// the test takes the scheduler's `offboarding_resume` lease first, so that this
/// process's servers never run the job by themselves; the test decides who runs it.
pub(crate) async fn accept_without_running(server: &TestServer, org_id: &str) -> String {
    sqlx::query(
        "INSERT INTO scheduler_jobs (name, next_due_at, lease_owner, lease_until) \
         VALUES ('offboarding_resume', 0, 'test', 99999999999) \
         ON CONFLICT (name) DO UPDATE SET lease_owner = 'test', lease_until = 99999999999",
    )
    .execute(server.pool())
    .await
    .unwrap();
    let admin = app::platform::context::AuthUser::by_email(&server.state, BANK_ADMIN)
        .await
        .unwrap()
        .unwrap();
    app::offboarding::start(
        &server.state,
        &admin,
        &app::platform::context::ClientInfo::default(),
        org_id,
        "The partnership ended.",
        &step_up(server, 0),
    )
    .await
    .unwrap()
}
