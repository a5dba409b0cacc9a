//! Demo mode's onboarding queue: two partners who are not demo sign-ins, Kestrel
//! Lending and Orbit Savings, have Tier 1 applications waiting for the bank's review.
//! Each is made through the wizard's own services, as its partner admin: started,
//! every step answered and finished, submitted into a frozen dossier round. Kestrel's
//! was submitted three days ago, past the tier's 48-hour review SLA; Orbit's this
//! morning. (The timestamps are moved back after the services ran: the demo starts
//! with history.) A newcomer signing in as the reviewer has work at once.

use std::collections::BTreeMap;

use super::model::{Kind, Question, Step};
use super::service;
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::{get_setting, set_setting};
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::{authz::Role, ids};

const HOUR: i64 = 3_600;

/// (legal name, registration number, website, admin e-mail, admin name, hours ago).
type Partner = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
);

const WAITING: [Partner; 2] = [
    (
        "Kestrel Lending Ltd (demo)",
        "DEMO0011",
        "https://kestrel-lending.example.com",
        "admin@kestrel-lending.example.com",
        "Kestrel's partner admin",
        72,
    ),
    (
        "Orbit Savings Ltd (demo)",
        "DEMO0012",
        "https://orbit-savings.example.com",
        "admin@orbit-savings.example.com",
        "Orbit's partner admin",
        5,
    ),
];

/// An answer a sound Tier 1 partner would give to `q`.
fn answer(q: &Question, org: &str, email: &str, person: &str) -> String {
    let short = org.split(" Ltd").next().unwrap_or(org);
    match (&q.kind, q.id.as_str()) {
        (Kind::YesNo { expected }, _) => {
            if expected.unwrap_or(true) { "yes" } else { "no" }.into()
        }
        (Kind::Choice { options }, "permission") => options
            .iter()
            .find(|o| o.starts_with("None"))
            .or(options.first())
            .cloned()
            .unwrap_or_default(),
        (Kind::Choice { options }, _) => options.first().cloned().unwrap_or_default(),
        (Kind::Email, _) => email.into(),
        (Kind::Number, "retention_days") => "90".into(),
        (Kind::Number, _) => "25".into(),
        (Kind::Date, _) => "2026-01-15".into(),
        (Kind::Text { .. }, "trading_name") => short.into(),
        (Kind::Text { .. }, "registered_address") => "1 Demo Street, London EC2A 1AA".into(),
        (Kind::Text { .. }, "objective") => format!(
            "{short} shows savers the bank's products and branches beside its own, to compare rates."
        ),
        (Kind::Text { .. }, "data_elements") => "Public product and branch reference data only.".into(),
        (Kind::Text { .. }, "incident_phone") => "+44 20 7946 0000".into(),
        (Kind::Text { .. }, id) if id.ends_with("_name") => person.into(),
        (Kind::Text { .. }, "signatory_role") => "Chief executive".into(),
        (Kind::Text { .. }, _) if q.is_required(1) => format!("{short}: documented and reviewed yearly."),
        (Kind::Text { .. }, _) => String::new(),
    }
}

/// Seeds the two waiting applications once. Each partner resumes where an
/// interrupted start left it (its account, its draft), so a start that failed half
/// way does not stop the next one.
pub async fn seed(state: &AppState) -> Result<()> {
    if get_setting(&state.db.pool, "demo_onboarding_queue_seeded")
        .await?
        .is_some()
    {
        return Ok(());
    }
    let client = ClientInfo {
        ip: "127.0.0.1".into(),
        user_agent: "gatehouse demo seeding".into(),
    };
    for (org, number, website, email, person, hours_ago) in WAITING {
        let now = state.clock.now();
        if AuthUser::by_email(state, email).await?.is_none() {
            let mut tx = state.db.begin().await?;
            let made = (org, number, website, email, person);
            partner(&mut tx, made, now - (hours_ago + 48) * HOUR, now).await?;
            tx.commit().await?;
        }
        let user = AuthUser::by_email(state, email)
            .await?
            .ok_or(Error::NotFound)?;
        let org_id = user.org_id.clone().ok_or(Error::NotFound)?;
        let latest: Option<(String, String)> = sqlx::query_as(
            "SELECT id, status FROM applications WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(&org_id)
        .fetch_optional(&state.db.pool)
        .await?;
        let id = match latest {
            Some((_, status)) if status != "draft" => continue,
            Some((id, _)) => id,
            None => service::start(state, &user, &client, "1").await?,
        };
        for step in Step::ALL {
            if step == Step::Evidence {
                continue;
            }
            let app = service::application(state, Some(&org_id), &id).await?;
            let form: BTreeMap<String, String> = service::questions(state, &app, step)
                .await?
                .iter()
                .map(|q| (q.id.clone(), answer(q, org, email, person)))
                .collect();
            service::save_step(state, &user, &client, &app, step, &form, app.version, true).await?;
        }
        let app = service::application(state, Some(&org_id), &id).await?;
        service::submit(state, &user, &client, &app, app.version).await?;
        let back = hours_ago * HOUR;
        sqlx::query(
            "UPDATE applications SET created_at = created_at - $1 - 3600, updated_at = updated_at - $1, submitted_at = submitted_at - $1 WHERE id = $2",
        )
        .bind(back)
        .bind(&id)
        .execute(&state.db.pool)
        .await?;
    }
    let mut tx = state.db.begin().await?;
    set_setting(&mut tx, "demo_onboarding_queue_seeded", "true").await?;
    tx.commit().await?;
    Ok(())
}

/// A demo partner's organisation and its verified partner admin, made together.
async fn partner(
    tx: &mut crate::platform::db::Tx,
    (org, number, website, email, person): (&str, &str, &str, &str, &str),
    created_at: i64,
    now: i64,
) -> Result<()> {
    let org_id = ids::new_id(ids::ORG);
    sqlx::query(
        "INSERT INTO organisations (id, legal_name, registration_number, country, website, status, is_demo, created_at) \
         VALUES ($1, $2, $3, 'GB', $4, 'active', 1, $5)",
    )
    .bind(&org_id)
    .bind(org)
    .bind(number)
    .bind(website)
    .bind(created_at)
    .execute(&mut **tx)
    .await?;
    let user_id = ids::new_id(ids::USER);
    crate::accounts::service::insert_user(
        tx,
        &user_id,
        Some(&org_id),
        email,
        person,
        Role::PartnerAdmin,
        "active",
        None,
    )
    .await?;
    sqlx::query("UPDATE users SET email_verified_at = $1, is_demo = 1 WHERE id = $2")
        .bind(now)
        .bind(&user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_fit_their_questions() {
        let steps: serde_json::Value =
            serde_json::from_str(include_str!("steps.json")).expect("the steps");
        for (_, step) in steps.as_object().expect("an object") {
            let questions: Vec<Question> = serde_json::from_value(step.clone()).expect("questions");
            for q in &questions {
                let a = answer(
                    q,
                    "Kestrel Lending Ltd (demo)",
                    "a@kestrel.example.com",
                    "Kim",
                );
                assert_eq!(q.check(&a), Ok(a.clone()), "{}", q.id);
                if q.is_required(1) {
                    assert!(!a.is_empty(), "{} is answered", q.id);
                }
            }
        }
    }
}
