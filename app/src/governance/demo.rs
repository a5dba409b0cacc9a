//! Demo mode's lived-in installation for governance: Fjord Analytics, approved for
//! Tier 2 six months ago, with three production clients and a sandbox app, and a
//! month of use. One credential expires within 30 days (a client secret kept under
//! an open exception), one has gone unused for 86 days (dormant: Tier 2 revokes at
//! 90), one client's owner has left, and an exception waits for the bank. The sweep
//! runs at start and finds all of it: the notices and e-mails a newcomer sees are
//! the sweep's own.

use serde_json::json;

use crate::audit::{self, Actor, Event};
use crate::platform::db::{get_setting, set_setting, Tx};
use crate::platform::error::Result;
use crate::platform::state::AppState;
use crate::platform::{ids, time::now};

/// The demo production secret of "Fjord insights" (a demo installation only).
pub const DEMO_PRODUCTION_SECRET: &str = "demo-production-secret-fjord-2026";

const DAY: i64 = 86_400;

pub(crate) struct Client<'a> {
    pub(crate) name: &'a str,
    pub(crate) purpose: &'a str,
    pub(crate) environment: &'a str,
    pub(crate) scopes: &'a str,
    pub(crate) auth_method: &'a str,
    pub(crate) owner_id: &'a str,
    pub(crate) created_days_ago: i64,
}

pub(crate) async fn client(
    tx: &mut Tx,
    state: &AppState,
    org_id: &str,
    c: Client<'_>,
    now: i64,
) -> Result<String> {
    let id = ids::new_id(ids::APP);
    sqlx::query(
        "INSERT INTO apps (id, org_id, environment, client_id, name, purpose, owner_id, scopes, redirect_uris, \
         auth_method, dpop_required, rate_limit_per_minute, status, is_demo, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', $9, 0, $10, 'active', 1, 'demo', $11, $11)",
    )
    .bind(&id)
    .bind(org_id)
    .bind(c.environment)
    .bind(ids::new_id(ids::CLIENT))
    .bind(c.name)
    .bind(c.purpose)
    .bind(c.owner_id)
    .bind(c.scopes)
    .bind(c.auth_method)
    .bind(if c.environment == "production" { 300 } else { i64::from(state.settings.sandbox_max_rate_limit) })
    .bind(now - c.created_days_ago * DAY)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

pub(crate) struct Credential<'a> {
    pub(crate) kind: &'a str,
    pub(crate) secret: Option<&'a str>,
    pub(crate) material: Option<&'a str>,
    pub(crate) created_days_ago: i64,
    pub(crate) expires_in_days: i64,
    pub(crate) last_used_days_ago: i64,
}

pub(crate) async fn credential(
    tx: &mut Tx,
    state: &AppState,
    app_id: &str,
    owner_id: &str,
    c: Credential<'_>,
    now: i64,
) -> Result<String> {
    let id = ids::new_id(ids::CREDENTIAL);
    let last = now - c.last_used_days_ago * DAY;
    sqlx::query(
        "INSERT INTO credentials (id, app_id, kind, secret_hash, secret_hint, material, created_by, created_at, expires_at, last_used_at, last_token_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(c.kind)
    .bind(c.secret.map(|s| state.keys.keyed_hash(s)))
    .bind(c.secret.map(|s| s[s.len() - 4..].to_string()))
    .bind(c.material)
    .bind(owner_id)
    .bind(now - c.created_days_ago * DAY)
    .bind(now + c.expires_in_days * DAY)
    .bind(last)
    .execute(&mut **tx)
    .await?;
    // A month of history in the request log (a call every few hours until the last
    // use), through the log's one writer.
    let mut at = (now - 30 * DAY).max(now - c.created_days_ago * DAY);
    let mut n = 0_i64;
    let mut history = Vec::new();
    while at <= last {
        let (endpoint, status) = if n % 2 == 0 {
            ("/oauth/token".to_string(), 200)
        } else {
            (
                "/sandbox/open-banking/v3.1/aisp/accounts".to_string(),
                if n % 23 == 0 { 403 } else { 200 },
            )
        };
        history.push(crate::clients::reqlog::Entry {
            app_id: app_id.to_string(),
            credential_id: None,
            at,
            method: if n % 2 == 0 { "POST" } else { "GET" },
            endpoint,
            status,
            latency_us: 900 + (n % 7) * 310,
            error: None,
            scope: None,
            source: None,
        });
        at += 5 * 3_600;
        n += 1;
    }
    crate::clients::reqlog::insert_rows(tx, state.db.backend, &history).await?;
    Ok(id)
}

/// Seeds the governance demo once, for the demo organisation whose admin is `admin_email`.
pub async fn seed(state: &AppState, admin_email: &str) -> Result<()> {
    if get_setting(&state.db.pool, "demo_governance_seeded")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let admin: Option<(String, String)> =
        sqlx::query_as("SELECT id, org_id FROM users WHERE email = $1")
            .bind(admin_email)
            .fetch_optional(&state.db.pool)
            .await?;
    let Some((admin_id, org_id)) = admin else {
        return Ok(());
    };
    let questionnaire: Option<String> =
        sqlx::query_scalar("SELECT questionnaire_id FROM tiers WHERE level = 2")
            .fetch_optional(&state.db.pool)
            .await?;
    let Some(questionnaire) = questionnaire else {
        return Ok(());
    };
    let now = now();
    let approved_at = now - 180 * DAY;
    let mut tx = state.db.begin().await?;
    let application = ids::new_id(ids::APPLICATION);
    sqlx::query(
        "INSERT INTO applications (id, org_id, tier, questionnaire_id, status, round, version, created_by, created_at, updated_at, submitted_at, decided_at, decided_by, decision_reason) \
         VALUES ($1, $2, 2, $3, 'approved', 1, 1, $4, $5, $6, $5, $6, 'demo', 'Demo: approved for Tier 2.')",
    )
    .bind(&application)
    .bind(&org_id)
    .bind(&questionnaire)
    .bind(&admin_id)
    .bind(approved_at - 7 * DAY)
    .bind(approved_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO tier_approvals (org_id, tier, application_id, approved_by, approved_at) VALUES ($1, 2, $2, 'demo', $3)")
        .bind(&org_id)
        .bind(&application)
        .bind(approved_at)
        .execute(&mut *tx)
        .await?;
    // A member who has left: the owner of the legacy export client.
    let former = ids::new_id(ids::USER);
    crate::accounts::service::insert_user(
        &mut tx,
        &former,
        Some(&org_id),
        "former.engineer@fjord-analytics.example.com",
        "Former engineer (left)",
        crate::platform::authz::Role::PartnerDeveloper,
        "disabled",
        None,
    )
    .await?;
    sqlx::query("UPDATE users SET removed_at = $1, is_demo = 1 WHERE id = $2")
        .bind(now - 2 * DAY)
        .bind(&former)
        .execute(&mut *tx)
        .await?;

    let sandbox = client(
        &mut tx,
        state,
        &org_id,
        Client {
            name: "Fjord insights (sandbox)",
            purpose: "Demo: spending insights from account data.",
            environment: "sandbox",
            scopes: "reference accounts fundsconfirmations",
            auth_method: "client_secret_basic",
            owner_id: &admin_id,
            created_days_ago: 200,
        },
        now,
    )
    .await?;
    credential(
        &mut tx,
        state,
        &sandbox,
        &admin_id,
        Credential {
            kind: "client_secret",
            secret: Some("demo-sandbox-secret-fjord-2026"),
            material: None,
            created_days_ago: 60,
            expires_in_days: 30,
            last_used_days_ago: 1,
        },
        now,
    )
    .await?;

    let insights = client(
        &mut tx,
        state,
        &org_id,
        Client {
            name: "Fjord insights",
            purpose: "Spending insights for retail customers, from their account data.",
            environment: "production",
            scopes: "reference accounts",
            auth_method: "client_secret_basic",
            owner_id: &admin_id,
            created_days_ago: 170,
        },
        now,
    )
    .await?;
    credential(
        &mut tx,
        state,
        &insights,
        &admin_id,
        Credential {
            kind: "client_secret",
            secret: Some(DEMO_PRODUCTION_SECRET),
            material: None,
            created_days_ago: 160,
            expires_in_days: 20,
            last_used_days_ago: 0,
        },
        now,
    )
    .await?;
    // Tier 2 allows keys and certificates only: the secret is kept under an exception
    // while Fjord migrates to private_key_jwt.
    let exception = ids::new_id("exc");
    sqlx::query(
        "INSERT INTO policy_exceptions (id, org_id, app_id, rule, reason, ends_at, status, requested_by, requested_at, decided_by, decided_at, decision_reason) \
         VALUES ($1, $2, $3, 'client_secret', 'Migrating to private_key_jwt; our key management service goes live next month.', $4, 'granted', $5, $6, 'demo', $6, 'Granted until the migration: keep the secret in the vault.')",
    )
    .bind(&exception)
    .bind(&org_id)
    .bind(&insights)
    .bind(now + 45 * DAY)
    .bind(&admin_id)
    .bind(now - 20 * DAY)
    .execute(&mut *tx)
    .await?;

    let reporting = client(
        &mut tx,
        state,
        &org_id,
        Client {
            name: "Fjord reporting",
            purpose: "Quarterly reporting for business customers.",
            environment: "production",
            scopes: "reference accounts fundsconfirmations",
            auth_method: "private_key_jwt",
            owner_id: &admin_id,
            created_days_ago: 120,
        },
        now,
    )
    .await?;
    credential(
        &mut tx,
        state,
        &reporting,
        &admin_id,
        Credential {
            kind: "jwks_uri",
            secret: None,
            material: Some("https://fjord-analytics.example.com/.well-known/reporting-jwks.json"),
            created_days_ago: 100,
            expires_in_days: 80,
            last_used_days_ago: 86,
        },
        now,
    )
    .await?;
    sqlx::query(
        "INSERT INTO policy_exceptions (id, org_id, app_id, rule, reason, ends_at, status, requested_by, requested_at) \
         VALUES ($1, $2, $3, 'credential_lifetime', 'The reporting job runs quarterly; a 180-day key leaves no margin for the year-end run.', $4, 'pending', $5, $6)",
    )
    .bind(ids::new_id("exc"))
    .bind(&org_id)
    .bind(&reporting)
    .bind(now + 80 * DAY)
    .bind(&admin_id)
    .bind(now - DAY)
    .execute(&mut *tx)
    .await?;

    let legacy = client(
        &mut tx,
        state,
        &org_id,
        Client {
            name: "Fjord legacy export",
            purpose: "Nightly export to the old data warehouse.",
            environment: "production",
            scopes: "reference accounts",
            auth_method: "private_key_jwt",
            owner_id: &former,
            created_days_ago: 60,
        },
        now,
    )
    .await?;
    credential(
        &mut tx,
        state,
        &legacy,
        &former,
        Credential {
            kind: "jwks_uri",
            secret: None,
            material: Some("https://fjord-analytics.example.com/.well-known/export-jwks.json"),
            created_days_ago: 30,
            expires_in_days: 150,
            last_used_days_ago: 2,
        },
        now,
    )
    .await?;

    audit::record(
        &mut tx,
        Event::new(Actor::system("demo"), "demo.governance_seeded")
            .org(Some(&org_id))
            .details(json!({ "clients": [sandbox, insights, reporting, legacy], "exception": exception })),
    )
    .await?;
    set_setting(&mut tx, "demo_governance_seeded", "true").await?;
    tx.commit().await?;
    seed_evidence(state, admin_email, approved_at, now).await
}

/// A one-page PDF standing in for each demo document.
const DEMO_PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// The evidence Tier 2 requires, uploaded by Fjord's admin through the onboarding
/// service and dated before the approval, so the approval relies on it (and the
/// sweep's evidence rules apply to Fjord as to any approved partner).
async fn seed_evidence(
    state: &AppState,
    admin_email: &str,
    approved_at: i64,
    now: i64,
) -> Result<()> {
    use crate::onboarding::evidence::{upload, Upload};
    let Some(admin) = crate::platform::context::AuthUser::by_email(state, admin_email).await?
    else {
        return Ok(());
    };
    let client = crate::platform::context::ClientInfo::default();
    let date = |ts: i64| {
        crate::platform::time::rfc3339(ts)
            .chars()
            .take(10)
            .collect::<String>()
    };
    for (kind, issued_days_ago, expires_in_days) in [
        ("pen_test", 200, 165),
        ("iso27001_soc2", 400, 700),
        ("incident_response_plan", 200, 530),
    ] {
        let id = upload(
            state,
            &admin,
            &client,
            Upload {
                kind: kind.into(),
                issued_on: date(now - issued_days_ago * DAY),
                expires_on: date(now + expires_in_days * DAY),
                filename: format!("fjord-{kind}.pdf"),
                bytes: bytes::Bytes::from_static(DEMO_PDF),
                use_kept: false,
            },
        )
        .await?;
        sqlx::query("UPDATE evidence SET uploaded_at = $1 WHERE id = $2")
            .bind(approved_at - 8 * DAY)
            .bind(&id)
            .execute(&state.db.pool)
            .await?;
    }
    Ok(())
}
