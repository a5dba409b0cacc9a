//! First start: a fresh installation gets one bank admin with a one-time set-up
//! link (never a default password); demo mode seeds clearly marked demo accounts.

use serde_json::json;

use super::members::staff_setup_link;
use super::service::insert_user;
use super::totp;
use crate::audit::{self, Actor, Event};
use crate::platform::authz::Role;
use crate::platform::crypto;
use crate::platform::db::{get_setting, set_setting};
use crate::platform::error::Result;
use crate::platform::ids;
use crate::platform::state::AppState;

/// The password of every demo account (printed at start-up and in the README).
pub const DEMO_PASSWORD: &str = "gatehouse-demo-2026";
/// The TOTP secret (base32) of the demo bank staff, so they can sign in at once:
/// `gatehouse demo-code` prints the current code.
pub const DEMO_TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// The demo partner's sandbox app: well-known credentials, like a public sandbox's
/// test credentials, created in demo mode only, so the README's curl example works.
pub const DEMO_CLIENT_ID: &str = "cli_demo_acme_sandbox";
pub const DEMO_CLIENT_SECRET: &str = "demo-sandbox-secret-acme-2026";
pub const DEMO_REDIRECT_URI: &str = "http://localhost:8080/callback";

#[derive(Clone, Debug)]
pub struct DemoAccount {
    pub email: &'static str,
    pub role: Role,
    pub organisation: Option<&'static str>,
    pub totp: bool,
}

pub const DEMO_ACCOUNTS: [DemoAccount; 7] = [
    DemoAccount {
        email: "admin@acme-budgeting.example.com",
        role: Role::PartnerAdmin,
        organisation: Some("Acme Budgeting Ltd (demo)"),
        totp: false,
    },
    DemoAccount {
        email: "dev@acme-budgeting.example.com",
        role: Role::PartnerDeveloper,
        organisation: Some("Acme Budgeting Ltd (demo)"),
        totp: false,
    },
    DemoAccount {
        email: "admin@northwind-pay.example.com",
        role: Role::PartnerAdmin,
        organisation: Some("Northwind Payments Ltd (demo)"),
        totp: false,
    },
    // Approved for Tier 2 and in production, with a lived-in inventory (governance).
    DemoAccount {
        email: "admin@fjord-analytics.example.com",
        role: Role::PartnerAdmin,
        organisation: Some("Fjord Analytics Ltd (demo)"),
        totp: true,
    },
    DemoAccount {
        email: "reviewer@bank.example.com",
        role: Role::Reviewer,
        organisation: None,
        totp: true,
    },
    DemoAccount {
        email: "approver@bank.example.com",
        role: Role::Approver,
        organisation: None,
        totp: true,
    },
    DemoAccount {
        email: "admin@bank.example.com",
        role: Role::Admin,
        organisation: None,
        totp: true,
    },
];

const DEMO_ORGS: [(&str, &str, &str, &str); 3] = [
    (
        "Acme Budgeting Ltd (demo)",
        "DEMO0001",
        "GB",
        "https://acme-budgeting.example.com",
    ),
    (
        "Northwind Payments Ltd (demo)",
        "DEMO0002",
        "GB",
        "https://northwind-pay.example.com",
    ),
    (
        "Fjord Analytics Ltd (demo)",
        "DEMO0003",
        "NO",
        "https://fjord-analytics.example.com",
    ),
];

/// On a fresh, non-demo installation, creates the first bank admin and returns a
/// one-time set-up link. Until the admin has set up their account, every start
/// replaces the link (the previous one stops working).
pub async fn ensure_first_admin(state: &AppState) -> Result<Option<String>> {
    let active_admins: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active'")
            .fetch_one(&state.db.pool)
            .await?;
    if active_admins > 0 {
        return Ok(None);
    }
    let email = state.settings.admin_email.trim().to_lowercase();
    let existing: Option<(String, String)> =
        sqlx::query_as("SELECT id, status FROM users WHERE email = $1 AND role = 'admin'")
            .bind(&email)
            .fetch_optional(&state.db.pool)
            .await?;
    let mut tx = state.db.begin().await?;
    let user_id = match existing {
        Some((id, status)) if status == "invited" => id,
        Some(_) => return Ok(None),
        None => {
            let id = ids::new_id(ids::USER);
            insert_user(
                &mut tx,
                &id,
                None,
                &email,
                "Bank administrator",
                Role::Admin,
                "invited",
                None,
            )
            .await?;
            audit::record(
                &mut tx,
                Event::new(Actor::system("bootstrap"), "staff.created")
                    .resource("user", &id)
                    .details(json!({ "email": email, "role": "admin", "reason": "first start" })),
            )
            .await?;
            id
        }
    };
    let link = staff_setup_link(state, &mut tx, &user_id, &email, "Bank administrator").await?;
    tx.commit().await?;
    Ok(Some(link))
}

/// Seeds the demo organisations, users and sandbox app once (the other features'
/// demo data follows in `server/src/compose.rs::seed_demo`). Returns whether
/// anything was created.
pub async fn seed_demo(state: &AppState) -> Result<bool> {
    let seeded = seed_demo_accounts(state).await?;
    seed_demo_app(state).await?;
    Ok(seeded)
}

async fn seed_demo_accounts(state: &AppState) -> Result<bool> {
    if get_setting(&state.db.pool, "demo_seeded").await?.is_some() {
        return Ok(false);
    }
    let password_hash = crypto::hash_password(DEMO_PASSWORD.to_string()).await?;
    let secret = totp::from_base32(DEMO_TOTP_SECRET).unwrap_or_default();
    let sealed = state.keys.encrypt(&secret)?;
    let mut tx = state.db.begin().await?;
    let now = state.clock.now();
    let mut org_ids = Vec::new();
    for (name, number, country, website) in DEMO_ORGS {
        let id = ids::new_id(ids::ORG);
        sqlx::query(
            "INSERT INTO organisations (id, legal_name, registration_number, country, website, status, is_demo, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'active', 1, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(number)
        .bind(country)
        .bind(website)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        org_ids.push((name, id));
    }
    for account in DEMO_ACCOUNTS {
        let id = ids::new_id(ids::USER);
        let org_id = account
            .organisation
            .and_then(|o| org_ids.iter().find(|(n, _)| *n == o))
            .map(|(_, id)| id.as_str());
        let name = format!("Demo {}", account.role.label().to_lowercase());
        insert_user(
            &mut tx,
            &id,
            org_id,
            account.email,
            &name,
            account.role,
            "active",
            Some(&password_hash),
        )
        .await?;
        sqlx::query("UPDATE users SET email_verified_at = $1, is_demo = 1 WHERE id = $2")
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        if account.totp {
            sqlx::query("UPDATE users SET totp_secret = $1, totp_enabled_at = $2 WHERE id = $3")
                .bind(&sealed)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        audit::record(
            &mut tx,
            Event::new(Actor::system("demo"), "demo.user_seeded")
                .resource("user", &id)
                .org(org_id)
                .details(json!({ "email": account.email, "role": account.role.as_str() })),
        )
        .await?;
    }
    set_setting(&mut tx, "demo_seeded", "true").await?;
    tx.commit().await?;
    Ok(true)
}

/// The demo partner's sandbox app (once), owned by its partner admin.
async fn seed_demo_app(state: &AppState) -> Result<()> {
    if get_setting(&state.db.pool, "demo_app_seeded")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let owner: Option<(String, String)> =
        sqlx::query_as("SELECT id, org_id FROM users WHERE email = $1")
            .bind(DEMO_ACCOUNTS[0].email)
            .fetch_optional(&state.db.pool)
            .await?;
    let Some((owner_id, org_id)) = owner else {
        return Ok(());
    };
    let now = state.clock.now();
    let app_id = ids::new_id(ids::APP);
    let credential_id = ids::new_id(ids::CREDENTIAL);
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO apps (id, org_id, environment, client_id, name, purpose, owner_id, scopes, redirect_uris, \
         auth_method, dpop_required, rate_limit_per_minute, status, is_demo, created_by, created_at, updated_at) \
         VALUES ($1, $2, 'sandbox', $3, 'Acme Budgeting demo app', 'Demo: shows a budgeting app reading accounts and making payments.', \
         $4, 'reference accounts fundsconfirmations payments', $5, 'client_secret_basic', 0, $6, 'active', 1, $4, $7, $7)",
    )
    .bind(&app_id)
    .bind(&org_id)
    .bind(DEMO_CLIENT_ID)
    .bind(&owner_id)
    .bind(DEMO_REDIRECT_URI)
    .bind(i64::from(state.settings.sandbox_max_rate_limit))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO credentials (id, app_id, kind, secret_hash, secret_hint, created_by, created_at, expires_at) \
         VALUES ($1, $2, 'client_secret', $3, $4, $5, $6, $7)",
    )
    .bind(&credential_id)
    .bind(&app_id)
    .bind(state.keys.keyed_hash(DEMO_CLIENT_SECRET))
    .bind(&DEMO_CLIENT_SECRET[DEMO_CLIENT_SECRET.len() - 4..])
    .bind(&owner_id)
    .bind(now)
    .bind(now + 3650 * 86_400)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(Actor::system("demo"), "demo.app_seeded")
            .resource("app", &app_id)
            .org(Some(&org_id))
            .details(json!({ "client_id": DEMO_CLIENT_ID })),
    )
    .await?;
    set_setting(&mut tx, "demo_app_seeded", "true").await?;
    tx.commit().await?;
    Ok(())
}
