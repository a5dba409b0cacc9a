//! Demo mode's production queue: Fjord Analytics (Tier 2) asks for production access
//! for four more of its sandbox apps, each through the real submission service (the
//! checks, the sandbox readiness, the risk policy's routing) and the real decision
//! services:
//! - "Fjord budgets": ready in the sandbox, with an IP allow-list: one reviewer;
//! - "Fjord affordability": not yet ready, high volume, no allow-list: four eyes,
//!   waiting for its first review;
//! - "Fjord cashflow": the reviewer asked for more information and Fjord answered:
//!   back in the queue for its second round;
//! - "Fjord lending checks": four eyes, approved by the demo reviewer (with a code
//!   from the demo authenticator): waiting for the approver's second approval.
//!
//! Kestrel and Orbit (whose applications wait in the onboarding queue) get a sandbox
//! app each, with a key expiring in 6 and 11 days.
//!
//! Waiting times are moved back after the services ran, so the queue reads as a
//! working week. A newcomer signing in as the reviewer or the approver has work.

use std::collections::BTreeMap;

use super::service::{self, RequestForm, ReviewForm};
use crate::clients::reqlog::{self, Entry};
use crate::governance::demo::{client, Client};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::db::{get_setting, set_setting};
use crate::platform::error::{Error, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

const HOUR: i64 = 3_600;
const BASE: &str = "/sandbox/open-banking/v3.1";
const JWKS_URI: &str = "https://fjord-analytics.example.com/.well-known/jwks.json";

struct Ask {
    app: &'static str,
    scopes: &'static [&'static str],
    calls_per_day: &'static str,
    peak_per_second: &'static str,
    allowlist: &'static str,
    /// Successful sandbox calls per scope (readiness needs 3).
    sandbox_calls: i64,
    hours_waiting: i64,
    /// When the sandbox app's key registration expires (beyond the governance
    /// demo's own expiries, which the sweep's tests follow).
    key_expires_in_days: i64,
}

const ASKS: [Ask; 4] = [
    Ask {
        app: "Fjord budgets",
        key_expires_in_days: 60,
        scopes: &["reference", "accounts"],
        calls_per_day: "8000",
        peak_per_second: "2",
        allowlist: "203.0.113.0/24",
        sandbox_calls: 12,
        hours_waiting: 20,
    },
    Ask {
        app: "Fjord affordability",
        key_expires_in_days: 60,
        scopes: &["accounts", "fundsconfirmations"],
        calls_per_day: "250000",
        peak_per_second: "12",
        allowlist: "",
        sandbox_calls: 0,
        hours_waiting: 50,
    },
    Ask {
        app: "Fjord cashflow",
        key_expires_in_days: 90,
        scopes: &["accounts"],
        calls_per_day: "3000",
        peak_per_second: "1",
        allowlist: "198.51.100.0/24",
        sandbox_calls: 6,
        hours_waiting: 6,
    },
    Ask {
        app: "Fjord lending checks",
        key_expires_in_days: 75,
        scopes: &["accounts", "fundsconfirmations"],
        calls_per_day: "150000",
        peak_per_second: "10",
        allowlist: "",
        sandbox_calls: 0,
        hours_waiting: 30,
    },
];

/// Seeds the four requests once, as Fjord's partner admin and the demo reviewer.
pub async fn seed(state: &AppState, partner_email: &str, reviewer_email: &str) -> Result<()> {
    if get_setting(&state.db.pool, "demo_production_queue_seeded")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let (Some(partner), Some(reviewer)) = (
        AuthUser::by_email(state, partner_email).await?,
        AuthUser::by_email(state, reviewer_email).await?,
    ) else {
        return Ok(());
    };
    let org = partner.org_id.clone().ok_or(Error::NotFound)?;
    let from = ClientInfo {
        ip: "127.0.0.1".into(),
        user_agent: "gatehouse demo seeding".into(),
    };
    let now = state.clock.now();
    let today = crate::platform::time::display(now + 30 * 86_400);
    let mut ids_of = Vec::new();
    for ask in &ASKS {
        let name = format!("{} (sandbox)", ask.app);
        // A start interrupted earlier may have made the app, or its request too.
        let made: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT a.id, (SELECT r.id FROM access_requests r WHERE r.app_id = a.id \
             ORDER BY r.submitted_at, r.id LIMIT 1) FROM apps a \
             WHERE a.org_id = $1 AND a.name = $2 AND a.environment = 'sandbox'",
        )
        .bind(&org)
        .bind(&name)
        .fetch_optional(&state.db.pool)
        .await?;
        let app_id = match made {
            Some((_, Some(request))) => {
                ids_of.push(request);
                continue;
            }
            Some((app_id, None)) => app_id,
            None => sandbox_app(state, &org, &partner.id, ask, &name, now).await?,
        };
        let form = RequestForm {
            app_id: app_id.clone(),
            scopes: ask.scopes.iter().map(|s| s.to_string()).collect(),
            justifications: ask
                .scopes
                .iter()
                .map(|s| {
                    (
                        s.to_string(),
                        format!("{} needs {s} to show customers their own finances; nothing is stored beyond 90 days.", ask.app),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            calls_per_day: ask.calls_per_day.into(),
            peak_per_second: ask.peak_per_second.into(),
            auth_method: "private_key_jwt".into(),
            jwks: String::new(),
            jwks_uri: JWKS_URI.into(),
            certificate: String::new(),
            ip_allowlist: ask.allowlist.into(),
            allowed_countries: "GB IE".into(),
            lifetime_days: "90".into(),
            go_live: today.get(..10).unwrap_or_default().into(),
            submission_key: ids::new_id("demo"),
        };
        let submitted = service::submit(state, &partner, &form, &from).await?;
        ids_of.push(submitted.id);
    }
    // Fjord cashflow: the reviewer asks, Fjord answers (a second round).
    let cashflow = &ids_of[2];
    let request = service::request(state, None, cashflow).await?;
    // Each decision only where an interrupted start did not already make it.
    if request.status == "pending_review" && request.round == 1 {
        service::decide(
        state,
        &reviewer,
        cashflow,
        &ReviewForm {
            decision: "more_info".into(),
            reason: "Which customers will use cashflow forecasts, and how long do you keep the transactions you read?".into(),
            scopes: Vec::new(),
            lifetime_days: String::new(),
            rate_limit_per_minute: String::new(),
            code: String::new(),
            version: request.version.to_string(),
            idp_step_up_at: None,
        },
        &from,
    )
    .await?;
    }
    let request = service::request(state, None, cashflow).await?;
    if request.status == "more_info" {
        service::respond(
        state,
        &partner,
        cashflow,
        "Small-business customers who connect their business current account. We keep transactions for 90 days, then only monthly totals.",
        &request.version.to_string(),
        &from,
    )
    .await?;
    }
    // Fjord lending checks: the reviewer's approval (first of four eyes), with the
    // demo authenticator's current code; the reviewer's replay marker is put back
    // afterwards, so the newcomer's own sign-in with that code is not refused.
    let lending = &ids_of[3];
    let request = service::request(state, None, lending).await?;
    if request.status == "pending_review" {
        let last_step: Option<i64> =
            sqlx::query_scalar("SELECT totp_last_step FROM users WHERE id = $1 AND is_demo = 1")
                .bind(&reviewer.id)
                .fetch_optional(&state.db.pool)
                .await?
                .ok_or(Error::NotFound)?;
        // The current step: a verification that crosses into the next step still
        // accepts it (one step either side).
        let seeding_step = state.clock.now() / 30;
        let secret =
            crate::accounts::totp::from_base32(crate::accounts::bootstrap::DEMO_TOTP_SECRET)
                .ok_or(Error::NotFound)?;
        service::decide(
        state,
        &reviewer,
        lending,
        &ReviewForm {
            decision: "approve".into(),
            reason:
                "Dossier current; volume explained by the lender partnership. Approve at 90 days."
                    .into(),
            scopes: Vec::new(),
            lifetime_days: String::new(),
            rate_limit_per_minute: String::new(),
            code: crate::accounts::totp::code_at(&secret, seeding_step * 30)?,
            version: request.version.to_string(),
            idp_step_up_at: None,
        },
        &from,
    )
    .await?;
        // The code was the seeding's, not a person's: the reviewer's authenticator is
        // left as it was (its next code, or the one before, still signs them in).
        // Only if nobody signed in meanwhile (their step would be later).
        sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step = $3")
            .bind(last_step)
            .bind(&reviewer.id)
            .bind(seeding_step)
            .execute(&state.db.pool)
            .await?;
    }
    // Kestrel's and Orbit's sandbox apps (their applications wait in the onboarding
    // queue), with keys expiring in 6 and 11 days: the bank admin's dashboard and the
    // sweep's warnings have something to show, apart from Fjord's own expiries.
    for (email, name, days, jwks) in [
        (
            "admin@kestrel-lending.example.com",
            "Kestrel rates (sandbox)",
            6,
            "https://kestrel-lending.example.com/.well-known/jwks.json",
        ),
        (
            "admin@orbit-savings.example.com",
            "Orbit compare (sandbox)",
            11,
            "https://orbit-savings.example.com/.well-known/jwks.json",
        ),
    ] {
        let Some(owner) = AuthUser::by_email(state, email).await? else {
            continue;
        };
        let org = owner.org_id.clone().ok_or(Error::NotFound)?;
        let made: Option<String> = sqlx::query_scalar(
            "SELECT id FROM apps WHERE org_id = $1 AND name = $2 AND environment = 'sandbox'",
        )
        .bind(&org)
        .bind(name)
        .fetch_optional(&state.db.pool)
        .await?;
        if made.is_some() {
            continue;
        }
        let mut tx = state.db.begin().await?;
        app_with_key(
            &mut tx,
            state,
            &org,
            Client {
                name,
                purpose: "Demo: comparing the bank's products with its own.",
                environment: "sandbox",
                scopes: "reference",
                auth_method: "private_key_jwt",
                owner_id: &owner.id,
                created_days_ago: 80,
            },
            jwks,
            now + days * 86_400,
            now,
        )
        .await?;
        tx.commit().await?;
    }
    for (id, ask) in ids_of.iter().zip(ASKS.iter()) {
        // Moved back to have waited `hours_waiting` (the same whether or not an
        // interrupted start moved it already).
        sqlx::query(
            "UPDATE access_requests SET submitted_at = submitted_at - (waiting_since - $1), \
             updated_at = updated_at - (waiting_since - $1), waiting_since = $1 WHERE id = $2",
        )
        .bind(now - ask.hours_waiting * HOUR)
        .bind(id)
        .execute(&state.db.pool)
        .await?;
    }
    let mut tx = state.db.begin().await?;
    set_setting(&mut tx, "demo_production_queue_seeded", "true").await?;
    tx.commit().await?;
    Ok(())
}

/// A sandbox app made as the governance demo makes its clients, with one key
/// published at `jwks_uri` (made with the app, its owner's) until `expires_at`.
#[allow(clippy::too_many_arguments)]
async fn app_with_key(
    tx: &mut Tx,
    state: &AppState,
    org: &str,
    app: Client<'_>,
    jwks_uri: &str,
    expires_at: i64,
    now: i64,
) -> Result<String> {
    let (owner, created_at) = (
        app.owner_id.to_string(),
        now - app.created_days_ago * 86_400,
    );
    let app_id = client(tx, state, org, app, now).await?;
    sqlx::query(
        "INSERT INTO credentials (id, app_id, kind, material, created_by, created_at, expires_at) \
         VALUES ($1, $2, 'jwks_uri', $3, $4, $5, $6)",
    )
    .bind(ids::new_id(ids::CREDENTIAL))
    .bind(&app_id)
    .bind(jwks_uri)
    .bind(owner)
    .bind(created_at)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(app_id)
}

/// Fjord's sandbox app for `ask`, with its key and the sandbox calls its readiness
/// counts, made in one transaction (all of it or nothing).
async fn sandbox_app(
    state: &AppState,
    org: &str,
    owner_id: &str,
    ask: &Ask,
    name: &str,
    now: i64,
) -> Result<String> {
    let mut tx = state.db.begin().await?;
    let app_id = app_with_key(
        &mut tx,
        state,
        org,
        Client {
            name,
            purpose: "Demo: a Fjord product on its way to production.",
            environment: "sandbox",
            scopes: "reference accounts fundsconfirmations",
            auth_method: "private_key_jwt",
            owner_id,
            created_days_ago: 40,
        },
        JWKS_URI,
        now + ask.key_expires_in_days * 86_400,
        now,
    )
    .await?;
    let calls: Vec<Entry> = ask
        .scopes
        .iter()
        .flat_map(|scope| {
            let endpoint = match *scope {
                "reference" => format!("{BASE}/reference/branches"),
                _ => format!("{BASE}/aisp/accounts"),
            };
            let app_id = app_id.clone();
            (0..ask.sandbox_calls).map(move |n| Entry {
                app_id: app_id.clone(),
                credential_id: None,
                at: now - (n + 1) * 5 * HOUR,
                method: "GET",
                endpoint: endpoint.clone(),
                status: 200,
                latency_us: 1_100 + n * 90,
                error: None,
                scope: None,
                source: Some("198.51.100.7".into()),
            })
        })
        .collect();
    reqlog::insert_rows(&mut tx, state.db.backend, &calls).await?;
    tx.commit().await?;
    Ok(app_id)
}
