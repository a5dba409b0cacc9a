//! E-mail through an outbox: a message is written in the same transaction as the
//! change that causes it, then delivered by the worker over SMTP (lettre), with
//! retries and back-off. Without SMTP, messages stay in the built-in mailbox page,
//! so every flow can be followed on one machine.

pub mod mailbox;

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::platform::db::Tx;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::{ids, time::now};

/// Deliveries are retried this many times, backing off, before a message is marked failed.
const MAX_ATTEMPTS: i64 = 8;
/// A claimed message whose sender died is retried after this long.
const CLAIM_SECS: i64 = 120;

pub async fn enqueue(tx: &mut Tx, to: &str, subject: &str, body: &str) -> Result<()> {
    let now = now();
    sqlx::query(
        "INSERT INTO outbox (id, recipient, subject, body, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
    )
    .bind(ids::new_id(ids::MAIL))
    .bind(to)
    .bind(subject)
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Delivers due messages until the server stops. Several instances may run this
/// against one PostgreSQL database: a message is claimed with a conditional update
/// before it is sent, so only one instance sends it.
pub async fn run_worker(state: AppState) {
    let transport = match &state.settings.smtp_url {
        Some(url) => match AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
            Ok(builder) => Some(builder.build()),
            Err(err) => {
                tracing::error!(error = %err, "the SMTP URL is not valid: e-mail stays in the outbox");
                return;
            }
        },
        None => None,
    };
    loop {
        if let Err(err) = deliver_due(&state, transport.as_ref()).await {
            tracing::warn!(error = %err, "outbox delivery round failed");
        }
        tokio::select! {
            _ = state.mail_wakeup.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

/// How long the built-in mailbox (no SMTP) shows a message's body: long enough to
/// follow a link, short enough that one-time links do not pile up in the database.
pub const MAILBOX_BODY_SECONDS: i64 = 3600;
/// A message that could not be delivered keeps its body this long, for an operator.
pub const FAILED_BODY_SECONDS: i64 = 86_400;
/// What a purged body reads as.
pub const PURGED: &str =
    "(The text of this message has been removed: its links were one-time links.)";

/// Removes the bodies of messages shown in the built-in mailbox for a while, and of
/// failed ones after a day. Idempotent, so several instances may run it.
pub async fn purge_bodies(db: &crate::platform::db::Db, now: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE outbox SET body = $1 WHERE body <> $1 AND body <> '' AND \
         ((status = 'mailbox' AND sent_at < $2) OR (status = 'failed' AND created_at < $3))",
    )
    .bind(PURGED)
    .bind(now - MAILBOX_BODY_SECONDS)
    .bind(now - FAILED_BODY_SECONDS)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

pub async fn deliver_due(
    state: &AppState,
    transport: Option<&AsyncSmtpTransport<Tokio1Executor>>,
) -> Result<()> {
    let now = state.clock.now();
    let due: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, recipient, subject, body, attempts FROM outbox \
         WHERE (status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND next_attempt_at <= $1) \
         ORDER BY created_at LIMIT 50",
    )
    .bind(now)
    .fetch_all(&state.db.pool)
    .await?;
    for (id, recipient, subject, body, attempts) in due {
        let Some(transport) = transport else {
            sqlx::query("UPDATE outbox SET status = 'mailbox', sent_at = $1 WHERE id = $2 AND status = 'pending'")
                .bind(now)
                .bind(&id)
                .execute(&state.db.pool)
                .await?;
            continue;
        };
        let claimed = sqlx::query(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id = $2 AND attempts = $3 AND status IN ('pending', 'sending')",
        )
        .bind(now + CLAIM_SECS)
        .bind(&id)
        .bind(attempts)
        .execute(&state.db.pool)
        .await?;
        if claimed.rows_affected() != 1 {
            continue; // another instance has it
        }
        match send(
            transport,
            &state.settings.mail_from,
            &recipient,
            &subject,
            &body,
        )
        .await
        {
            Ok(()) => {
                // Delivered: the body (set-up, invitation and reset links among them)
                // is not kept (issue 18 item 20).
                sqlx::query("UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL, body = '' WHERE id = $2")
                    .bind(state.clock.now())
                    .bind(&id)
                    .execute(&state.db.pool)
                    .await?;
                tracing::info!(message_id = %id, "e-mail delivered");
            }
            Err(err) => {
                let attempts = attempts + 1;
                let status = if attempts >= MAX_ATTEMPTS {
                    "failed"
                } else {
                    "pending"
                };
                let backoff = 30 * 2i64.pow(attempts.min(10) as u32);
                tracing::warn!(message_id = %id, attempts, error = %err, "e-mail delivery failed");
                sqlx::query("UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4")
                    .bind(status)
                    .bind(now + backoff)
                    .bind(err.to_string().chars().take(500).collect::<String>())
                    .bind(&id)
                    .execute(&state.db.pool)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<()> {
    let from: Mailbox = from.parse().map_err(Error::internal)?;
    let to: Mailbox = to.parse().map_err(Error::internal)?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .body(body.to_string())
        .map_err(Error::internal)?;
    transport.send(message).await.map_err(Error::internal)?;
    Ok(())
}

/// Mail's periodic job: dropping delivered messages' bodies after their retention.
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "mail_purge",
        300,
        |state: AppState, now| async move {
            let purged = purge_bodies(&state.db, now).await?;
            Ok(serde_json::json!({ "purged": purged }))
        }
    )]
}
