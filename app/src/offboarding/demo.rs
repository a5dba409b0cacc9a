//! Demo mode: Harbour Lending, a partner the bank offboarded, with its evidence pack.
//! The offboarding is the real one: accepted as the demo bank admin, run by the job.

use crate::governance::demo::{client, credential, Client, Credential};
use crate::platform::context::AuthUser;
use crate::platform::db::{get_setting, set_setting};
use crate::platform::error::Result;
use crate::platform::state::AppState;
use crate::platform::{ids, time::now};

pub const DEMO_ORG: &str = "Harbour Lending Ltd (demo)";
const DEMO_ADMIN: &str = "admin@harbour-lending.example.com";

pub async fn seed(state: &AppState, bank_admin: &str) -> Result<()> {
    if get_setting(&state.db.pool, "demo_offboarding_seeded")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let Some(admin) = AuthUser::by_email(state, bank_admin).await? else {
        return Ok(());
    };
    let now = now();
    let org_id = ids::new_id(ids::ORG);
    let user_id = ids::new_id(ids::USER);
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO organisations (id, legal_name, registration_number, country, website, status, is_demo, created_at) \
         VALUES ($1, $2, 'DEMO0004', 'GB', 'https://harbour-lending.example.com', 'active', 1, $3)",
    )
    .bind(&org_id)
    .bind(DEMO_ORG)
    .bind(now - 400 * 86_400)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO users (id, org_id, email, display_name, role, status, email_verified_at, is_demo, created_at, updated_at) \
         VALUES ($1, $2, $3, 'Harbour admin', 'partner_admin', 'active', $4, 1, $4, $4)",
    )
    .bind(&user_id)
    .bind(&org_id)
    .bind(DEMO_ADMIN)
    .bind(now - 400 * 86_400)
    .execute(&mut *tx)
    .await?;
    let app = client(
        &mut tx,
        state,
        &org_id,
        Client {
            name: "Harbour loans (sandbox)",
            purpose: "Demo: affordability checks from account data.",
            environment: "sandbox",
            scopes: "reference accounts",
            auth_method: "client_secret_basic",
            owner_id: &user_id,
            created_days_ago: 120,
        },
        now,
    )
    .await?;
    credential(
        &mut tx,
        state,
        &app,
        &user_id,
        Credential {
            kind: "client_secret",
            secret: Some("demo-sandbox-secret-harbour-2026"),
            material: None,
            created_days_ago: 40,
            expires_in_days: 50,
            last_used_days_ago: 3,
        },
        now,
    )
    .await?;
    // A production client the spring access review revoked, before the offboarding.
    let loans = client(
        &mut tx,
        state,
        &org_id,
        Client {
            name: "Harbour loans",
            purpose: "Affordability checks for loan applications.",
            environment: "production",
            scopes: "reference accounts",
            auth_method: "private_key_jwt",
            owner_id: &user_id,
            created_days_ago: 300,
        },
        now,
    )
    .await?;
    sqlx::query(
        "UPDATE apps SET status = 'revoked', revoked_at = $1, revoked_reason = 'review' WHERE id = $2",
    )
    .bind(now - 130 * 86_400)
    .bind(&loans)
    .execute(&mut *tx)
    .await?;
    set_setting(&mut tx, "demo_offboarding_seeded", "true").await?;
    tx.commit().await?;
    let tx = state.db.begin().await?;
    let id = super::accept(
        state,
        tx,
        (&admin.id, admin.actor(), None),
        &org_id,
        "Demo: the partnership ended at the partner's request; contract terminated.",
        None,
    )
    .await?;
    super::job::run(state, &id).await?;
    Ok(())
}
