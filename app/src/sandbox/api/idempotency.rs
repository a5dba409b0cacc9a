//! `x-idempotency-key` (OBIE Read/Write API, "Idempotency"): a POST that creates a
//! payment consent or a payment carries a key; the same key with the same body within
//! 24 hours gets the first response again, and nothing new is created; the same key
//! with another body is refused. The key is claimed inside the transaction that does
//! the work, so two concurrent requests with one key create one resource.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::error::{ObError, ObResult};
use crate::platform::db::Tx;

pub const HEADER: &str = "x-idempotency-key";
/// How long a key is remembered.
pub const LIFETIME: i64 = 24 * 3600;

/// The request's key: required, at most 40 characters, no leading or trailing space
/// (the specification's `^(?!\s)(.*)(\S)$`, maxLength 40).
pub fn key(headers: &HeaderMap) -> ObResult<String> {
    let value = headers.get(HEADER).ok_or_else(|| {
        ObError::bad_request("UK.OBIE.Header.Missing", "x-idempotency-key is required.").at(HEADER)
    })?;
    let text = value.to_str().unwrap_or_default();
    let valid = !text.is_empty()
        && text.len() <= 40
        && text.trim() == text
        && text.chars().all(|c| !c.is_control());
    if valid {
        Ok(text.to_string())
    } else {
        Err(ObError::bad_request("UK.OBIE.Header.Invalid", "x-idempotency-key must be 1 to 40 printable characters without leading or trailing spaces.").at(HEADER))
    }
}

fn body_hash(body: &Bytes) -> String {
    hex::encode(Sha256::digest(body))
}

/// Claims the key for this request. `Ok(None)`: go on and do the work (then
/// [`remember`] the answer in the same transaction); `Ok(Some(response))`: the same
/// request was answered before, send that again.
pub async fn claim(
    tx: &mut Tx,
    app_id: &str,
    endpoint: &str,
    key: &str,
    body: &Bytes,
    now: i64,
) -> ObResult<Option<Response>> {
    sqlx::query("DELETE FROM idempotency_keys WHERE app_id = $1 AND expires_at <= $2")
        .bind(app_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let hash = body_hash(body);
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (app_id, endpoint, idem_key, request_hash, status, response, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, 0, '', $5, $6) ON CONFLICT (app_id, endpoint, idem_key) DO NOTHING",
    )
    .bind(app_id)
    .bind(endpoint)
    .bind(key)
    .bind(&hash)
    .bind(now)
    .bind(now + LIFETIME)
    .execute(&mut **tx)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT request_hash, status, response FROM idempotency_keys WHERE app_id = $1 AND endpoint = $2 AND idem_key = $3")
        .bind(app_id)
        .bind(endpoint)
        .bind(key)
        .fetch_one(&mut **tx)
        .await?;
    if row.try_get::<String, _>("request_hash")? != hash {
        return Err(ObError::bad_request(
            "UK.OBIE.Header.Invalid",
            "This x-idempotency-key was used with a different request body: use a new key for a new request.",
        )
        .at(HEADER));
    }
    let status = u16::try_from(row.try_get::<i64, _>("status")?)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::CREATED);
    let body: serde_json::Value =
        serde_json::from_str(&row.try_get::<String, _>("response")?).unwrap_or_default();
    Ok(Some((status, axum::Json(body)).into_response()))
}

/// Stores the answer to replay for this key.
pub async fn remember(
    tx: &mut Tx,
    app_id: &str,
    endpoint: &str,
    key: &str,
    status: StatusCode,
    body: &serde_json::Value,
) -> ObResult<()> {
    sqlx::query("UPDATE idempotency_keys SET status = $4, response = $5 WHERE app_id = $1 AND endpoint = $2 AND idem_key = $3")
        .bind(app_id)
        .bind(endpoint)
        .bind(key)
        .bind(i64::from(status.as_u16()))
        .bind(body.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
