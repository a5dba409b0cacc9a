//! Demo mode: every tier's sandbox API terms and production data-sharing agreement,
//! published through the service by the demo bank admin; each demo partner has
//! accepted them (its first partner admin signed, recorded as a demo acceptance);
//! and a material second version of the Tier 2 data-sharing agreement took effect
//! 25 days ago with a 30-day window, so Tier 2 partners have it to accept within
//! five days. Versions are published as taking effect today, then dated back (the
//! service refuses a past date to a person).

use serde_json::json;

use super::NewVersion;
use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::{get_setting, set_setting};
use crate::platform::error::Result;
use crate::platform::state::AppState;

const DAY: i64 = 86_400;

fn api_terms(tier: i64) -> String {
    format!(
        "# Sandbox API terms, Tier {tier}\n\n\
         These terms govern your use of the bank's sandbox and its synthetic data.\n\n\
         1. **Synthetic data only.** The sandbox holds no customer's data; never send real personal data to it.\n\
         2. **Credentials.** Keep client secrets and private keys out of source code; rotate them when warned.\n\
         3. **Fair use.** Stay within your app's rate limit; the bank may suspend an app that harms the service.\n\
         4. **Readiness.** Calls you make here count towards your readiness for production.\n"
    )
}

fn data_sharing(tier: i64, version: i64) -> String {
    let breach = if version >= 2 {
        "within **24 hours** of becoming aware of it"
    } else {
        "within 72 hours of becoming aware of it"
    };
    format!(
        "# Data-sharing agreement, Tier {tier}\n\n\
         Between the bank and the partner named in the acceptance record.\n\n\
         ## Purpose\n\nThe partner uses customers' data only for the purpose it stated in its production request, \
         and only while the customer's consent is in force.\n\n\
         ## Security\n\n- Tokens are sender-constrained where the bank's policy says so.\n\
         - The partner tells the bank of a security incident affecting customers' data {breach}.\n\
         - The partner answers access reviews by their due date.\n\n\
         ## Ending\n\nWhen the relationship ends, the partner's credentials are revoked and it deletes \
         customers' data it no longer needs.\n"
    )
}

pub async fn seed(state: &AppState, admin_email: &str) -> Result<()> {
    if get_setting(&state.db.pool, "demo_agreements_seeded")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let Some(admin) = AuthUser::by_email(state, admin_email).await? else {
        return Ok(());
    };
    let client = ClientInfo::default();
    let now = state.clock.now();
    let tiers: Vec<i64> = sqlx::query_scalar("SELECT level FROM tiers ORDER BY level")
        .fetch_all(&state.db.pool)
        .await?;
    let today = crate::platform::time::day(now);
    let mut first_versions = Vec::new();
    for tier in &tiers {
        for (kind, environment, title, body) in [
            (
                "api_terms",
                "sandbox",
                format!("Sandbox API terms, Tier {tier}"),
                api_terms(*tier),
            ),
            (
                "data_sharing",
                "production",
                format!("Data-sharing agreement, Tier {tier}"),
                data_sharing(*tier, 1),
            ),
        ] {
            let id = super::publish(
                state,
                &admin,
                &client,
                &NewVersion {
                    kind: kind.into(),
                    environment: environment.into(),
                    tier: tier.to_string(),
                    title,
                    body,
                    effective_on: today.clone(),
                    material: true,
                    window_days: super::DEFAULT_WINDOW_DAYS.to_string(),
                    change_note: "First version.".into(),
                },
            )
            .await?;
            first_versions.push(id);
        }
    }
    // In force since long before the partners' approvals.
    for id in &first_versions {
        sqlx::query(
            "UPDATE agreement_versions SET effective_at = $1, published_at = $1 WHERE id = $2",
        )
        .bind(now - 400 * DAY)
        .bind(id)
        .execute(&state.db.pool)
        .await?;
    }
    // Every demo partner accepted the first versions, a year ago.
    let orgs: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT o.id, (SELECT u.email FROM users u WHERE u.org_id = o.id AND u.role = 'partner_admin' ORDER BY u.created_at, u.id LIMIT 1) \
         FROM organisations o WHERE o.is_demo = 1 ORDER BY o.id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let accepted_at = now - 365 * DAY;
    // Read once, before any transaction: a pooled read inside one could wait on
    // SQLite's write lock.
    let mut versions = Vec::with_capacity(first_versions.len());
    for id in &first_versions {
        versions.push(super::version(state, id).await?);
    }
    for (org_id, email) in orgs {
        let Some(email) = email else { continue };
        let Some(signatory) = AuthUser::by_email(state, &email).await? else {
            continue;
        };
        let mut tx = state.db.begin().await?;
        for version in &versions {
            if super::record_acceptance(
                &mut tx,
                &signatory,
                &org_id,
                version,
                "192.0.2.10",
                accepted_at,
            )
            .await?
            {
                audit::record(
                    &mut tx,
                    Event::new(signatory.actor(), "agreement.accepted")
                        .org(Some(&org_id))
                        .resource("agreement_version", &version.id)
                        .details(json!({ "title": version.title, "version": 1, "sha256": version.sha256, "demo": true })),
                )
                .await?;
            }
        }
        tx.commit().await?;
    }
    // A material second version of the Tier 2 data-sharing agreement: in force for 25
    // days, to be accepted within 30.
    if tiers.contains(&2) {
        let id = super::publish(
            state,
            &admin,
            &client,
            &NewVersion {
                kind: "data_sharing".into(),
                environment: "production".into(),
                tier: "2".into(),
                title: "Data-sharing agreement, Tier 2".into(),
                body: data_sharing(2, 2),
                effective_on: today,
                material: true,
                window_days: "30".into(),
                change_note: "Security incidents affecting customers' data are reported within 24 hours instead of 72.".into(),
            },
        )
        .await?;
        sqlx::query(
            "UPDATE agreement_versions SET effective_at = $1, published_at = $2 WHERE id = $3",
        )
        .bind(now - 25 * DAY)
        .bind(now - 40 * DAY)
        .bind(&id)
        .execute(&state.db.pool)
        .await?;
    }
    let mut tx = state.db.begin().await?;
    set_setting(&mut tx, "demo_agreements_seeded", "true").await?;
    tx.commit().await?;
    Ok(())
}
