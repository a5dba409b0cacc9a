//! Password reset: a link by e-mail to choose a new password. The request is answered
//! at once and alike for every address (the lookup happens afterwards), is limited per
//! client address and per account, and a reset ends every session of the user.

use super::tokens::{self, Purpose};
use super::{throttle, validate};
use crate::audit::{self, Actor, Event};
use crate::mail;
use crate::platform::context::ClientInfo;
use crate::platform::crypto;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;

/// Reset e-mails one account gets at most, per hour.
pub const RESETS_PER_HOUR: i64 = 3;

/// The range of the pause before a reset request's work, in milliseconds.
pub const RESET_PAUSE_MS: (u64, u64) = (500, 2000);

/// Answers at once, the same for every well-formed address: whether it has an
/// account is looked up after the answer, so neither the answer nor its timing tells
/// (issue 19 item 7). Limited per client address (`--reset-requests-per-hour`), and per account to
/// [`RESETS_PER_HOUR`] e-mails.
pub async fn request_password_reset(
    state: &AppState,
    email: &str,
    client: &ClientInfo,
) -> Result<()> {
    throttle::check_address(state, &client.ip, throttle::Attempt::Reset).await?;
    let email = validate::email(email).map_err(|m| Error::Invalid(Invalid::field("email", m)))?;
    let state = state.clone();
    let client = client.clone();
    // The account's work (its token, mail and audit events, which an unknown address
    // does not have) starts after a random pause, well after this answer has gone:
    // the answer's timing cannot depend on it, and the work cannot be lined up with
    // the next request's answer either.
    let pause = std::time::Duration::from_millis(rand::Rng::gen_range(
        &mut rand::thread_rng(),
        RESET_PAUSE_MS.0..RESET_PAUSE_MS.1,
    ));
    tokio::spawn(async move {
        tokio::time::sleep(pause).await;
        if let Err(err) = send_password_reset(&state, &email, &client).await {
            tracing::warn!(error = %err, "sending a password reset failed");
        }
    });
    Ok(())
}

async fn send_password_reset(state: &AppState, email: &str, client: &ClientInfo) -> Result<()> {
    let user: Option<(String, String, Option<String>)> = sqlx::query_as(
        // Someone who signs in through an identity provider has no Gatehouse
        // password to reset (issue 28): a reset would be a way around the provider.
        "SELECT id, display_name, org_id FROM users WHERE email = $1 AND status = 'active' \
         AND NOT (org_id IS NULL AND id IN (SELECT user_id FROM sso_identities)) \
         AND (org_id IS NULL OR org_id NOT IN (SELECT org_id FROM org_idps WHERE status = 'approved' AND require_sso = 1))",
    )
    .bind(email)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((user_id, name, org_id)) = user else {
        return Ok(());
    };
    let mut tx = state.db.begin().await?;
    // Taking the user's row first serialises concurrent requests for one account, so
    // the count below is exact.
    sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
    let recent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'password.reset_requested' AND resource_id = $1 AND occurred_at > $2",
    )
    .bind(&user_id)
    .bind(state.clock.now() - 3600)
    .fetch_one(&mut *tx)
    .await?;
    if recent >= RESETS_PER_HOUR {
        audit::record(
            &mut tx,
            Event::new(Actor::user(&user_id, email), "password.reset_throttled")
                .resource("user", &user_id)
                .org(org_id.as_deref())
                .client(client)
                .outcome("failure"),
        )
        .await?;
        tx.commit().await?;
        return Ok(());
    }
    let token = tokens::issue(
        &mut tx,
        &state.keys,
        &user_id,
        Purpose::PasswordReset,
        state.clock.now(),
    )
    .await?;
    let link = state
        .settings
        .link(&format!("/password/reset?token={token}"));
    let body = format!(
        "Hello {name},\n\nSomeone asked to reset the password of your Gatehouse account. To choose a new password, open this link within an hour:\n\n{link}\n\nIf it was not you, ignore this message: your password has not changed.\n"
    );
    mail::enqueue(&mut tx, email, "Reset your Gatehouse password", &body).await?;
    audit::record(
        &mut tx,
        Event::new(Actor::user(&user_id, email), "password.reset_requested")
            .resource("user", &user_id)
            .org(org_id.as_deref())
            .client(client),
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// Sets a new password from a reset link. Every session of the user ends.
pub async fn reset_password(
    state: &AppState,
    token: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<()> {
    let user_id = tokens::peek(
        &state.db,
        &state.keys,
        token,
        Purpose::PasswordReset,
        state.clock.now(),
    )
    .await?;
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(&user_id)
        .fetch_one(&state.db.pool)
        .await?;
    validate::password(password, &[email.as_str()])
        .map_err(|m| Error::Invalid(Invalid::field("password", m)))?;
    let hash = crypto::hash_password(password.to_string()).await?;
    let mut tx = state.db.begin().await?;
    let user_id = tokens::consume(
        &mut tx,
        &state.keys,
        token,
        Purpose::PasswordReset,
        state.clock.now(),
    )
    .await?;
    let org_id: Option<String> = sqlx::query_scalar(
        "UPDATE users SET password_hash = $1, session_epoch = session_epoch + 1, \
         email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2 WHERE id = $3 RETURNING org_id",
    )
    .bind(&hash)
    .bind(state.clock.now())
    .bind(&user_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(Actor::user(&user_id, &email), "password.reset")
            .resource("user", &user_id)
            .org(org_id.as_deref())
            .client(client),
    )
    .await?;
    mail::enqueue(
        &mut tx,
        &email,
        "Your Gatehouse password was changed",
        "Your password was reset. If this was not you, contact your administrator at once.\n",
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}
