//! Delivering the outbox: each due message is claimed by one instance with a
//! conditional update (so two instances never send it at once), signed under the
//! Standard Webhooks specification, posted through the SSRF guard with a short
//! timeout, and recorded as an attempt. A failure is retried on the schedule below
//! (later when the receiver's `Retry-After` asks for it); a `410 Gone` stops it and
//! disables the endpoint; an endpoint that fails every delivery for
//! `--webhook-disable-days` is disabled and its owners are e-mailed.
//!
//! The `webhook-id` is the message's id on every attempt, so a receiver that saw a
//! delivery whose answer was lost (an instance stopped mid-request) can drop the
//! repeat, as the specification asks receivers to.

use std::time::{Duration, Instant};

use serde_json::json;
use standardwebhooks::Webhook;

use super::endpoints;
use crate::audit::{self, Actor, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

/// Seconds before each retry: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
/// After the last one fails, the message has failed.
pub const SCHEDULE: [i64; 9] = [5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400];
/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// A receiver's `Retry-After` is honoured up to this long.
const MAX_RETRY_AFTER: i64 = 86_400;
/// A claim outlives the slowest attempt (resolution and the timeout) with room to
/// spare; an instance that died holding one frees the message after it.
pub const CLAIM_SECONDS: i64 = 60;

/// At a clean stop (a rolling restart): the messages this instance had claimed go back
/// at once, so another instance delivers them now rather than after [`CLAIM_SECONDS`].
/// An attempt that was already on the wire may arrive twice; receivers drop repeats
/// by the `webhook-id` header (at-least-once, as every webhook system delivers).
pub async fn release_claims(state: &AppState) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE webhook_messages SET claimed_until = NULL, claimed_by = NULL \
         WHERE claimed_by = $1 AND state = 'pending'",
    )
    .bind(&state.instance)
    .execute(&state.db.pool)
    .await?
    .rows_affected())
}
/// What an attempt reads as while it is in flight (and forever, if its instance
/// stopped before the answer was recorded).
const IN_FLIGHT: &str = "no answer recorded: the delivery was interrupted";

/// Claims the message and, when this instance won it, makes the attempt. False when
/// another instance had it.
pub(super) async fn claim_and_attempt(state: &AppState, id: &str) -> Result<bool> {
    match claim(state, id, state.clock.now()).await? {
        Some(attempt) => attempt_once(state, id, attempt).await.map(|()| true),
        None => Ok(false),
    }
}

/// Takes the message for this instance and writes its attempt as in flight; the
/// attempt's number, or `None` when another instance has it.
async fn claim(state: &AppState, id: &str, now: i64) -> Result<Option<i64>> {
    let mut tx = state.db.begin().await?;
    // The endpoint's row first: claims for one endpoint take turns, and a claim is
    // refused while another message of the endpoint is in flight, on any instance
    // (one attempt in flight per endpoint, `dispatch`).
    sqlx::query(
        "UPDATE webhook_endpoints SET version = version \
         WHERE id = (SELECT endpoint_id FROM webhook_messages WHERE id = $1)",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let taken = sqlx::query(
        "UPDATE webhook_messages SET claimed_until = $1, claimed_by = $2, attempts = attempts + 1 \
         WHERE id = $3 AND state = 'pending' AND next_attempt_at <= $4 \
         AND (claimed_until IS NULL OR claimed_until < $4) \
         AND NOT EXISTS (SELECT 1 FROM webhook_messages f WHERE f.endpoint_id = webhook_messages.endpoint_id \
             AND f.id <> $3 AND f.state = 'pending' AND f.claimed_until >= $4)",
    )
    .bind(now + CLAIM_SECONDS)
    .bind(&state.instance)
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if taken.rows_affected() != 1 {
        return Ok(None);
    }
    let attempt: i64 = sqlx::query_scalar("SELECT attempts FROM webhook_messages WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (message_id, attempt, at, status, error, latency_ms) \
         VALUES ($1, $2, $3, NULL, $4, 0)",
    )
    .bind(id)
    .bind(attempt)
    .bind(now)
    .bind(IN_FLIGHT)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(attempt))
}

/// What one attempt came to.
#[derive(Debug, Default)]
struct Answer {
    status: Option<u16>,
    error: Option<String>,
    latency_ms: i64,
    retry_after: Option<i64>,
}

impl Answer {
    fn not_sent(error: String) -> Self {
        Self {
            error: Some(error),
            ..Self::default()
        }
    }
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), from `now`.
pub fn retry_after(value: &str, now: i64) -> Option<i64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return (seconds >= 0).then_some(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some((i64::try_from(at).ok()? - now).max(0))
}

/// The `webhook-signature` value: a `v1,` signature per secret, space-separated.
pub fn signature(secrets: &[String], id: &str, timestamp: i64, body: &str) -> Result<String> {
    let mut signatures = Vec::new();
    for secret in secrets {
        let signer = Webhook::new(secret).map_err(Error::internal)?;
        signatures.push(
            signer
                .sign(id, timestamp, body.as_bytes())
                .map_err(Error::internal)?,
        );
    }
    Ok(signatures.join(" "))
}

/// Posts the message to the endpoint (checked again now: a name may resolve
/// somewhere else than at registration).
async fn post(state: &AppState, url: &str, id: &str, body: &str, secrets: &[String]) -> Answer {
    let target = match state.outbound.check(url, endpoints::RESOLVE_TIMEOUT).await {
        Ok(target) => target,
        Err(refused) => return Answer::not_sent(format!("not sent: {refused}")),
    };
    let client = match state.outbound.client(&target, TIMEOUT) {
        Ok(client) => client,
        Err(refused) => return Answer::not_sent(format!("not sent: {refused}")),
    };
    let timestamp = state.clock.now();
    let signature = match signature(secrets, id, timestamp, body) {
        Ok(signature) => signature,
        Err(err) => return Answer::not_sent(format!("not signed: {err}")),
    };
    let started = Instant::now();
    let sent = client
        .post(target.url)
        .header("content-type", "application/json")
        .header("user-agent", "Gatehouse-Webhooks/1")
        .header(standardwebhooks::HEADER_WEBHOOK_ID, id)
        .header(
            standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
            timestamp.to_string(),
        )
        .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
        .body(body.to_string())
        .send()
        .await;
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match sent {
        Ok(response) => Answer {
            status: Some(response.status().as_u16()),
            error: None,
            latency_ms,
            retry_after: response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, state.clock.now())),
        },
        Err(err) => {
            let error = if err.is_timeout() {
                format!("no answer within {} seconds", TIMEOUT.as_secs())
            } else if err.is_connect() {
                "could not connect".to_string()
            } else {
                "the request failed".to_string()
            };
            Answer {
                error: Some(error),
                latency_ms,
                ..Answer::default()
            }
        }
    }
}

/// Makes attempt number `attempt` of the message and records what came of it.
async fn attempt_once(state: &AppState, id: &str, attempt: i64) -> Result<()> {
    let (endpoint_id, payload, base): (String, String, i64) = sqlx::query_as(
        "SELECT endpoint_id, payload, base_attempts FROM webhook_messages WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&state.db.pool)
    .await?;
    let (url, endpoint_state): (String, String) =
        sqlx::query_as("SELECT url, state FROM webhook_endpoints WHERE id = $1")
            .bind(&endpoint_id)
            .fetch_one(&state.db.pool)
            .await?;
    let answer = if endpoint_state == "active" {
        let secrets = endpoints::signing_secrets(state, &endpoint_id, state.clock.now()).await?;
        post(state, &url, id, &payload, &secrets).await
    } else {
        Answer::not_sent("not sent: the endpoint is disabled".into())
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "UPDATE webhook_attempts SET status = $1, error = $2, latency_ms = $3 WHERE message_id = $4 AND attempt = $5",
    )
    .bind(answer.status.map(i64::from))
    .bind(&answer.error)
    .bind(answer.latency_ms)
    .bind(id)
    .bind(attempt)
    .execute(&mut *tx)
    .await?;
    let (next_state, next_at) = if answer.succeeded() {
        ("delivered", None)
    } else if endpoint_state != "active" {
        ("cancelled", None)
    } else if answer.status == Some(410) {
        ("failed", None)
    } else {
        match usize::try_from(attempt - base - 1)
            .ok()
            .and_then(|n| SCHEDULE.get(n))
        {
            Some(wait) => {
                let wanted = answer.retry_after.unwrap_or(0).min(MAX_RETRY_AFTER);
                ("pending", Some(now + (*wait).max(wanted)))
            }
            None => ("failed", None),
        }
    };
    // Only the claim that made this attempt may settle it. A claim that expired and
    // was taken by another instance's attempt settles nothing, and so must not mark
    // the endpoint failing or disable it either (review finding L12): its answer is
    // recorded, nothing more.
    let settled = sqlx::query(
        "UPDATE webhook_messages SET state = $1, next_attempt_at = $2, claimed_until = NULL, claimed_by = NULL, \
         finished_at = CASE WHEN $1 = 'pending' THEN NULL ELSE $3 END WHERE id = $4 AND attempts = $5 AND state = 'pending'",
    )
    .bind(next_state)
    .bind(next_at)
    .bind(now)
    .bind(id)
    .bind(attempt)
    .execute(&mut *tx)
    .await?;
    if settled.rows_affected() != 1 {
        tx.commit().await?;
        return Ok(());
    }
    if answer.succeeded() {
        sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1")
            .bind(&endpoint_id)
            .execute(&mut *tx)
            .await?;
    } else if endpoint_state == "active" {
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $1) WHERE id = $2",
        )
        .bind(now)
        .bind(&endpoint_id)
        .execute(&mut *tx)
        .await?;
        let failing_since: Option<i64> =
            sqlx::query_scalar("SELECT failing_since FROM webhook_endpoints WHERE id = $1")
                .bind(&endpoint_id)
                .fetch_one(&mut *tx)
                .await?;
        let days = state.settings.webhook_disable_days;
        let reason = if answer.status == Some(410) {
            Some("the endpoint answered 410 Gone".to_string())
        } else if failing_since.is_some_and(|since| now - since >= days * 86_400) {
            let unit = if days == 1 { "day" } else { "days" };
            Some(format!("every delivery failed for {days} {unit}"))
        } else {
            None
        };
        if let Some(reason) = reason {
            disable_for_failures(state, &mut tx, &endpoint_id, &url, &reason, now).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Disables a failing endpoint, records it and e-mails its owners: the
/// organisation's admins and whoever registered it.
async fn disable_for_failures(
    state: &AppState,
    tx: &mut Tx,
    endpoint_id: &str,
    url: &str,
    reason: &str,
    now: i64,
) -> Result<()> {
    if !endpoints::set_disabled(tx, endpoint_id, reason, now).await? {
        return Ok(());
    }
    let org_id: String = sqlx::query_scalar("SELECT org_id FROM webhook_endpoints WHERE id = $1")
        .bind(endpoint_id)
        .fetch_one(&mut **tx)
        .await?;
    audit::record(
        tx,
        Event::new(
            Actor::system("webhook delivery"),
            "webhook.endpoint_disabled",
        )
        .org(Some(&org_id))
        .resource("webhook_endpoint", endpoint_id)
        .details(json!({ "url": url, "reason": reason })),
    )
    .await?;
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT u.email FROM users u JOIN webhook_endpoints e ON e.id = $1 \
         WHERE u.status = 'active' AND ((u.org_id = e.org_id AND u.role = 'partner_admin') OR u.id = e.created_by) \
         ORDER BY u.email",
    )
    .bind(endpoint_id)
    .fetch_all(&mut **tx)
    .await?;
    let link = state.settings.link(&format!("/webhooks/{endpoint_id}"));
    for email in owners {
        crate::mail::enqueue(
            tx,
            &email,
            "A webhook endpoint was disabled",
            &format!(
                "Gatehouse stopped delivering to {url}: {reason}.\n\nQueued deliveries were cancelled. Fix the receiver, enable the endpoint again and send the deliveries you need again from its page: {link}\n"
            ),
        )
        .await?;
    }
    Ok(())
}

/// One attempt, for the delivery log.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub attempt: i64,
    pub at: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// One message and its attempts, for the delivery log.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub event_type: String,
    pub state: String,
    pub created_at: i64,
    pub next_attempt_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub attempts: Vec<Attempt>,
}

type MessageRow = (String, String, String, i64, Option<i64>, Option<i64>);
type AttemptRow = (String, i64, i64, Option<i64>, Option<String>, i64);

/// The endpoint's latest deliveries (newest first) with every attempt.
pub async fn log(state: &AppState, endpoint_id: &str, limit: i64) -> Result<Vec<Delivery>> {
    let messages: Vec<MessageRow> = sqlx::query_as(
        "SELECT id, event_type, state, created_at, next_attempt_at, finished_at FROM webhook_messages \
         WHERE endpoint_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(endpoint_id)
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?;
    let since = messages.iter().map(|m| m.3).min().unwrap_or(0);
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "SELECT a.message_id, a.attempt, a.at, a.status, a.error, a.latency_ms FROM webhook_attempts a \
         JOIN webhook_messages m ON m.id = a.message_id WHERE m.endpoint_id = $1 AND m.created_at >= $2 \
         ORDER BY a.message_id, a.attempt",
    )
    .bind(endpoint_id)
    .bind(since)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(messages
        .into_iter()
        .map(
            |(id, event_type, state, created_at, next_attempt_at, finished_at)| {
                let attempts = attempts
                    .iter()
                    .filter(|a| a.0 == id)
                    .map(|a| Attempt {
                        attempt: a.1,
                        at: a.2,
                        status: a.3,
                        error: a.4.clone(),
                        latency_ms: a.5,
                    })
                    .collect();
                Delivery {
                    id,
                    event_type,
                    state,
                    created_at,
                    next_attempt_at,
                    finished_at,
                    attempts,
                }
            },
        )
        .collect())
}

/// The endpoint of `user`'s organisation, active (a 409 when it is disabled).
async fn active_endpoint(
    state: &AppState,
    user: &AuthUser,
    id: &str,
) -> Result<endpoints::Endpoint> {
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let endpoint = endpoints::get(state, org_id, id).await?;
    if endpoint.state != "active" {
        return Err(Error::Conflict(
            "This endpoint is disabled: enable it first.".into(),
        ));
    }
    Ok(endpoint)
}

/// Deliveries a partner admin queues by hand (test events, "send again") are
/// limited per organisation (`dispatch::MANUAL_PER_MINUTE`). The organisation's row is
/// updated first, so two requests at once take turns and cannot both count one
/// below the limit.
async fn within_manual_limit(tx: &mut Tx, org_id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE organisations SET status = status WHERE id = $1")
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    let recent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_manual_sends WHERE org_id = $1 AND at > $2",
    )
    .bind(org_id)
    .bind(now - 60)
    .fetch_one(&mut **tx)
    .await?;
    if recent >= super::dispatch::MANUAL_PER_MINUTE {
        return Err(Error::TooManyRequests { retry_after: 60 });
    }
    sqlx::query("INSERT INTO webhook_manual_sends (org_id, at) VALUES ($1, $2)")
        .bind(org_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// "Send a test event": a `webhook.test` message to this endpoint only.
pub async fn send_test(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    endpoint_id: &str,
) -> Result<String> {
    let endpoint = active_endpoint(state, user, endpoint_id).await?;
    let now = state.clock.now();
    let body = super::payload(
        super::TEST_EVENT,
        json!({ "endpoint_id": endpoint.id, "message": "A test event from Gatehouse." }),
        now,
    );
    let mut tx = state.db.begin().await?;
    within_manual_limit(&mut tx, &endpoint.org_id, now).await?;
    let id = super::queue(
        &mut tx,
        &endpoint.id,
        &endpoint.org_id,
        super::TEST_EVENT,
        &body,
        now,
    )
    .await?;
    endpoints::record(
        &mut tx,
        user,
        client,
        &endpoint,
        "webhook.test_sent",
        json!({ "message_id": id }),
    )
    .await?;
    tx.commit().await?;
    state.webhook_wakeup.notify_one();
    Ok(id)
}

/// "Send again": a finished message (delivered, failed or cancelled) is queued
/// again under the same `webhook-id`, with a fresh retry schedule.
pub async fn resend(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    endpoint_id: &str,
    message_id: &str,
) -> Result<()> {
    let endpoint = active_endpoint(state, user, endpoint_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    within_manual_limit(&mut tx, &endpoint.org_id, now).await?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT state FROM webhook_messages WHERE id = $1 AND endpoint_id = $2")
            .bind(message_id)
            .bind(&endpoint.id)
            .fetch_optional(&mut *tx)
            .await?;
    match current.as_deref() {
        None => return Err(Error::NotFound),
        Some("pending") => {
            return Err(Error::Conflict(
                "This delivery is already waiting to be sent.".into(),
            ))
        }
        Some(_) => {}
    }
    let queued = sqlx::query(
        "UPDATE webhook_messages SET state = 'pending', next_attempt_at = $1, finished_at = NULL, \
         claimed_until = NULL, claimed_by = NULL, base_attempts = attempts WHERE id = $2 AND state <> 'pending'",
    )
    .bind(now)
    .bind(message_id)
    .execute(&mut *tx)
    .await?;
    if queued.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This delivery is already waiting to be sent.".into(),
        ));
    }
    endpoints::record(
        &mut tx,
        user,
        client,
        &endpoint,
        "webhook.resent",
        json!({ "message_id": message_id }),
    )
    .await?;
    tx.commit().await?;
    state.webhook_wakeup.notify_one();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after("120", 0), Some(120));
        assert_eq!(retry_after("-1", 0), None);
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_700),
            Some(77)
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800),
            Some(0)
        );
        assert_eq!(retry_after("soon", 0), None);
    }

    #[test]
    fn the_schedule_spans_about_three_days() {
        let total: i64 = SCHEDULE.iter().sum();
        assert_eq!(
            total,
            5 + 300 + 1800 + 7200 + 18_000 + 36_000 + 50_400 + 72_000 + 86_400
        );
        assert!(SCHEDULE.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_secret_signs_and_each_signature_verifies_alone() {
        let a = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
        let b = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_string();
        let header =
            signature(&[a.clone(), b.clone()], "msg_1", 1_700_000_000, "{}").unwrap_or_default();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        let one = signature(&[a], "msg_1", 1_700_000_000, "{}").unwrap_or_default();
        assert_eq!(parts[0], one);
    }
}
