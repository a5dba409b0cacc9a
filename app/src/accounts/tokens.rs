//! Single-use links sent by e-mail. Only the keyed hash of a token is stored.

use crate::platform::crypto::{random_token, Keys};
use crate::platform::db::{Db, Tx};
use crate::platform::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    PasswordReset,
    Invitation,
    StaffSetup,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::Invitation => "invitation",
            Self::StaffSetup => "staff_setup",
        }
    }

    /// How long a link stays valid. Reset links are short (OWASP forgot-password
    /// cheat sheet); invitations give a colleague a week.
    pub fn lifetime_secs(self) -> i64 {
        match self {
            Self::VerifyEmail => 24 * 3600,
            Self::PasswordReset => 3600,
            Self::Invitation => 7 * 24 * 3600,
            Self::StaffSetup => 72 * 3600,
        }
    }
}

/// Issues a new link token for `user_id`; earlier unused ones of the same purpose stop working.
pub async fn issue(
    tx: &mut Tx,
    keys: &Keys,
    user_id: &str,
    purpose: Purpose,
    now: i64,
) -> Result<String> {
    sqlx::query("UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL")
        .bind(now)
        .bind(user_id)
        .bind(purpose.as_str())
        .execute(&mut **tx)
        .await?;
    let token = random_token();
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, purpose, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(keys.keyed_hash(&token))
    .bind(purpose.as_str())
    .bind(user_id)
    .bind(now)
    .bind(now + purpose.lifetime_secs())
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

const INVALID: &str =
    "This link is not valid. It may have been used already, or replaced by a newer one.";
const EXPIRED: &str = "This link has expired. Ask for a new one.";

/// The user a still-valid token belongs to, without using it up (to show a form).
pub async fn peek(db: &Db, keys: &Keys, token: &str, purpose: Purpose, now: i64) -> Result<String> {
    let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT user_id, expires_at, used_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2",
    )
    .bind(keys.keyed_hash(token))
    .bind(purpose.as_str())
    .fetch_optional(&db.pool)
    .await?;
    match row {
        Some((_, _, Some(_))) | None => Err(Error::BadRequest(INVALID.into())),
        Some((_, expires_at, None)) if expires_at <= now => Err(Error::BadRequest(EXPIRED.into())),
        Some((user_id, _, None)) => Ok(user_id),
    }
}

/// Uses a token up and returns its user. The conditional update makes a replayed or
/// concurrent second use fail.
pub async fn consume(
    tx: &mut Tx,
    keys: &Keys,
    token: &str,
    purpose: Purpose,
    now: i64,
) -> Result<String> {
    let hash = keys.keyed_hash(token);
    let user: Option<String> = sqlx::query_scalar(
        "UPDATE email_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(&hash)
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(user) = user {
        return Ok(user);
    }
    let expired: Option<i64> = sqlx::query_scalar(
        "SELECT expires_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(&hash)
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    Err(Error::BadRequest(
        if expired.is_some() { EXPIRED } else { INVALID }.into(),
    ))
}
