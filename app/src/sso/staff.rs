//! Staff who sign in through a provider: the bank admin's list (last sign-in, the
//! claims last received), and the scheduler's deactivation of those not seen for
//! `--sso-dormant-days`.

use serde_json::{json, Value};

use crate::platform::audit::{self, Actor, Event};
use crate::platform::error::Result;
use crate::platform::state::AppState;

/// One person as the admin page lists them.
#[derive(Clone, Debug)]
pub struct SsoStaff {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub idp: String,
    pub first_seen_at: i64,
    pub last_sign_in_at: i64,
    pub last_claims: Value,
}

pub async fn list(state: &AppState) -> Result<Vec<SsoStaff>> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        i64,
        i64,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT u.id, u.email, u.display_name, u.role, u.status, s.idp, s.first_seen_at, s.last_sign_in_at, s.last_claims \
         FROM sso_identities s JOIN users u ON u.id = s.user_id WHERE u.org_id IS NULL \
         ORDER BY s.last_sign_in_at DESC, u.email LIMIT 500",
    )
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(user_id, email, name, role, status, idp, first, last, claims)| SsoStaff {
                user_id,
                email,
                name,
                role,
                status,
                idp,
                first_seen_at: first,
                last_sign_in_at: last,
                last_claims: serde_json::from_str(&claims).unwrap_or(Value::Null),
            },
        )
        .collect())
}

/// Deactivates staff whose last sign-in through a provider is older than the
/// dormancy period: their sessions end, the change is audited, and the person and
/// the bank admins are told, once (the update only takes an active account).
pub async fn deactivate_dormant(state: &AppState, now: i64) -> Result<Value> {
    let cutoff = now - state.settings.sso_dormant_days * 86_400;
    let dormant: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.email, MAX(s.last_sign_in_at) FROM users u JOIN sso_identities s ON s.user_id = u.id \
         WHERE u.status = 'active' AND u.org_id IS NULL GROUP BY u.id, u.email HAVING MAX(s.last_sign_in_at) < $1",
    )
    .bind(cutoff)
    .fetch_all(&state.db.pool)
    .await?;
    let mut deactivated = Vec::new();
    for (user_id, email, last) in dormant {
        let mut tx = state.db.begin().await?;
        // Never the last active bank admin: nobody would be left to reactivate anyone.
        let taken = sqlx::query(
            "UPDATE users SET status = 'disabled', session_epoch = session_epoch + 1, updated_at = $1 \
             WHERE id = $2 AND status = 'active' AND (role <> 'admin' OR \
               (SELECT COUNT(*) FROM users o WHERE o.role = 'admin' AND o.status = 'active' AND o.org_id IS NULL AND o.id <> $2) > 0)",
        )
        .bind(now)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 0 {
            continue;
        }
        let days = (now - last) / 86_400;
        audit::record(
            &mut tx,
            Event::new(Actor::system("sso_dormant_staff"), "sso.staff_deactivated")
                .resource("user", &user_id)
                .details(json!({ "email": email, "last_sign_in_at": last, "days": days })),
        )
        .await?;
        let body = format!(
            "{email} has not signed in to Gatehouse through the bank's identity provider for {days} days, \
             so the account is deactivated: its sessions have ended and it can no longer review or decide anything.\n\n\
             A bank admin can reactivate it (Admin → Single sign-on) if the person still needs access."
        );
        let admins: Vec<String> = sqlx::query_scalar(
            "SELECT email FROM users WHERE role = 'admin' AND status = 'active' AND org_id IS NULL ORDER BY email",
        )
        .fetch_all(&mut *tx)
        .await?;
        for to in std::iter::once(&email).chain(admins.iter()) {
            crate::mail::enqueue(
                &mut tx,
                to,
                "Gatehouse account deactivated after inactivity",
                &body,
            )
            .await?;
        }
        tx.commit().await?;
        deactivated.push(email);
    }
    if !deactivated.is_empty() {
        state.mail_wakeup.notify_one();
    }
    Ok(json!({ "deactivated": deactivated }))
}

/// A bank admin reactivates a deactivated SSO account (audited); the person signs
/// in through the provider again, which recomputes their role.
pub async fn reactivate(
    state: &AppState,
    admin: &crate::platform::context::AuthUser,
    client: &crate::platform::context::ClientInfo,
    user_id: &str,
) -> Result<()> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let email: Option<String> = sqlx::query_scalar(
        "UPDATE users SET status = 'active', updated_at = $1 WHERE id = $2 AND status = 'disabled' AND org_id IS NULL \
         AND id IN (SELECT user_id FROM sso_identities) RETURNING email",
    )
    .bind(now)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(email) = email else {
        return Err(crate::platform::error::Error::NotFound);
    };
    // Reactivated counts as seen: the next dormancy run must not undo it.
    sqlx::query("UPDATE sso_identities SET last_sign_in_at = $1 WHERE user_id = $2")
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "sso.staff_reactivated")
            .client(client)
            .resource("user", user_id)
            .details(json!({ "email": email })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
