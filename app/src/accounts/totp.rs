//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way) and single-use recovery codes.
//!
//! A code is accepted at most once: the last accepted time step is stored and only
//! a later step is accepted (RFC 6238 §5.2), with a conditional update so two
//! concurrent uses of one code cannot both pass.

use totp_rs::{Algorithm, Secret, TOTP};

use crate::platform::crypto::{ct_eq, random_bytes, Keys};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

pub const STEP: i64 = 30;
pub const RECOVERY_CODES: usize = 10;

pub fn new_secret() -> Vec<u8> {
    random_bytes::<20>().to_vec()
}

pub fn to_base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    Secret::Encoded(text.to_string()).to_bytes().ok()
}

/// The `otpauth://` URI authenticator apps import.
pub fn otpauth_uri(secret: &[u8], email: &str) -> String {
    let label: String =
        url::form_urlencoded::byte_serialize(format!("Gatehouse:{email}").as_bytes()).collect();
    format!(
        "otpauth://totp/{label}?secret={}&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30",
        to_base32(secret)
    )
}

fn totp(secret: &[u8]) -> Result<TOTP> {
    TOTP::new(Algorithm::SHA1, 6, 1, STEP as u64, secret.to_vec()).map_err(Error::internal)
}

/// The code for the time step containing `at` (demo seeding acts as the demo staff,
/// whose secret is published; never used for a real account).
pub(crate) fn code_at(secret: &[u8], at: i64) -> Result<String> {
    Ok(totp(secret)?.generate((at / STEP * STEP) as u64))
}

/// The time step `code` is valid for (now, or one step either side), if any.
pub fn matching_step(secret: &[u8], code: &str, at: i64) -> Result<Option<i64>> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret)?;
    let current = at / STEP;
    let mut found = None;
    // Check every candidate (no early exit) so timing does not reveal which matched.
    for step in [current - 1, current, current + 1] {
        if ct_eq(&totp.generate((step * STEP) as u64), &code) {
            found = Some(step);
        }
    }
    Ok(found)
}

/// Checks a TOTP code for an enrolled user and uses it up.
pub async fn verify_code(
    tx: &mut Tx,
    keys: &Keys,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool> {
    let row: Option<(Option<Vec<u8>>, Option<i64>)> =
        sqlx::query_as("SELECT totp_secret, totp_last_step FROM users WHERE id = $1 AND totp_enabled_at IS NOT NULL")
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((Some(sealed), last_step)) = row else {
        return Ok(false);
    };
    let secret = keys.decrypt(&sealed)?;
    let Some(step) = matching_step(&secret, code, now)? else {
        return Ok(false);
    };
    if last_step.is_some_and(|last| step <= last) {
        return Ok(false);
    }
    let updated = sqlx::query(
        "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Failed second-factor codes allowed per account in `ATTEMPT_WINDOW_SECS`, across
/// sign-in, step-up and every other check, whichever sessions and addresses they come
/// from (NIST SP 800-63B §5.2.2 rate limiting). Past it, codes are refused with 429
/// until the window moves on; the password alone never signs anyone in, so this
/// delays a guesser without handing them anything.
pub const MAX_FAILED_CODES: i64 = 5;
pub const ATTEMPT_WINDOW_SECS: i64 = 15 * 60;

fn attempts_key(user_id: &str) -> String {
    format!("totp:{user_id}")
}

/// `verify_code`, limited per account: refused with 429 past `MAX_FAILED_CODES`
/// recent failures. The caller counts a failure with `record_failed_code` once its
/// transaction is over (on SQLite, a write from another connection in between would
/// invalidate the transaction's snapshot).
pub async fn verify_limited(
    state: &AppState,
    tx: &mut Tx,
    user_id: &str,
    code: &str,
) -> Result<bool> {
    let now = state.clock.now();
    let key = attempts_key(user_id);
    let failures: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM signin_attempts WHERE email_key = $1 AND succeeded = 0 AND at > $2",
    )
    .bind(&key)
    .bind(now - ATTEMPT_WINDOW_SECS)
    .fetch_one(&state.db.pool)
    .await?;
    if failures >= MAX_FAILED_CODES {
        return Err(crate::platform::error::Error::TooManyRequests {
            retry_after: ATTEMPT_WINDOW_SECS.unsigned_abs(),
        });
    }
    verify_code(tx, &state.keys, user_id, code, now).await
}

/// A step-up for one action: the user's current code, checked in `tx`. A wrong code
/// ends the transaction, is counted against the account, and is an error on the form's
/// `code` field; a right one hands the transaction back to carry on with.
pub async fn step_up(
    state: &AppState,
    mut tx: Tx,
    user_id: &str,
    code: &str,
    ip: &str,
) -> Result<Tx> {
    if verify_limited(state, &mut tx, user_id, code).await? {
        return Ok(tx);
    }
    drop(tx);
    record_failed_code(state, user_id, ip).await?;
    Err(crate::platform::error::Error::Invalid(
        crate::platform::error::Invalid::field(
            "code",
            "That code is not valid or was already used. Enter the current code from your authenticator app.",
        ),
    ))
}

/// Counts a wrong second-factor code against the account.
pub async fn record_failed_code(state: &AppState, user_id: &str, ip: &str) -> Result<()> {
    super::throttle::record_attempt(
        &state.db,
        &attempts_key(user_id),
        ip,
        false,
        state.clock.now(),
    )
    .await
}

/// Normalises a typed recovery code (case, spaces and dashes do not matter).
fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// Uses up a recovery code, if it is one of the user's unused ones.
pub async fn use_recovery_code(
    tx: &mut Tx,
    keys: &Keys,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<bool> {
    let normalised = normalise_recovery(code);
    if normalised.len() != 10 {
        return Ok(false);
    }
    let updated = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE code_hash = $2 AND user_id = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(keys.keyed_hash(&normalised))
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Replaces the user's recovery codes with new ones and returns them (shown once).
pub async fn new_recovery_codes(tx: &mut Tx, keys: &Keys, user_id: &str) -> Result<Vec<String>> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        // 10 base32 characters: 50 bits, single use, behind the password.
        let raw = to_base32(&random_bytes::<7>()).to_lowercase();
        let code: String = raw.chars().take(10).collect();
        sqlx::query("INSERT INTO recovery_codes (code_hash, user_id) VALUES ($1, $2)")
            .bind(keys.keyed_hash(&code))
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
        codes.push(format!("{}-{}", &code[..5], &code[5..]));
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_neighbours_only() -> Result<()> {
        let secret = new_secret();
        let totp = totp(&secret)?;
        let at = 1_800_000_000;
        let code = totp.generate(at as u64);
        assert_eq!(matching_step(&secret, &code, at)?, Some(at / STEP));
        assert_eq!(matching_step(&secret, &code, at + STEP)?, Some(at / STEP));
        assert_eq!(matching_step(&secret, &code, at + 5 * STEP)?, None);
        assert_eq!(matching_step(&secret, "12345", at)?, None);
        assert_eq!(matching_step(&secret, "abcdef", at)?, None);
        Ok(())
    }

    #[test]
    fn base32_round_trips() {
        let secret = new_secret();
        assert_eq!(from_base32(&to_base32(&secret)), Some(secret));
    }
}
