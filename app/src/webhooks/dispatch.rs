//! Which due message goes out next, so that no partner's receiver can hold up
//! another's (review finding N6).
//!
//! - At most one attempt is in flight per endpoint, on every instance together: an
//!   endpoint with a claimed message is not picked again until that attempt settles.
//!   A receiver that hangs until the timeout holds one slot, never the queue.
//! - Endpoints take turns: each pick takes the oldest due message of each of the
//!   endpoints that have one, not the oldest messages overall, so a burst of a
//!   thousand messages to one endpoint goes out one at a time between everyone
//!   else's.
//! - An endpoint that is failing (no success since its last failure) goes after the
//!   healthy ones and may hold at most `FAILING_SLOTS` of the worker's slots, so
//!   receivers that time out cannot take every slot.
//! - Attempts do not wait for each other: the worker starts a new attempt as soon as
//!   a slot frees up, instead of waiting for the slowest of a round.
//!
//! Finished messages and their attempts are deleted after `RETENTION_DAYS` by the
//! scheduler's `webhooks_prune` job.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{Notify, Semaphore};

use super::delivery;
use crate::platform::error::Result;
use crate::platform::state::AppState;

/// Attempts in flight on one instance.
pub const SLOTS: usize = 32;
/// Of those, at most this many for endpoints that are failing.
pub const FAILING_SLOTS: usize = 8;
/// Finished messages (delivered, failed, cancelled) are kept this long for the
/// delivery log, then deleted with their attempts.
pub const RETENTION_DAYS: i64 = 30;
/// Test events and "send again" per organisation per minute: each queues a delivery
/// the partner chose to make, so a script cannot fill the outbox.
pub const MANUAL_PER_MINUTE: i64 = 30;

/// A due message: its id, and whether its endpoint is failing.
#[derive(Debug)]
struct Due {
    id: String,
    failing: bool,
}

/// The oldest due message of each endpoint that has none in flight, healthy
/// endpoints first, at most `limit`.
async fn pick(state: &AppState, now: i64, limit: usize) -> Result<Vec<Due>> {
    let endpoints: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT m.endpoint_id, MIN(m.next_attempt_at) AS due, \
         MAX(CASE WHEN e.failing_since IS NULL THEN 0 ELSE 1 END) AS failing \
         FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id \
         WHERE m.state = 'pending' AND m.next_attempt_at <= $1 \
         AND (m.claimed_until IS NULL OR m.claimed_until < $1) \
         AND m.endpoint_id NOT IN (SELECT f.endpoint_id FROM webhook_messages f \
             WHERE f.state = 'pending' AND f.claimed_until >= $1) \
         GROUP BY m.endpoint_id ORDER BY failing, due, m.endpoint_id LIMIT $2",
    )
    .bind(now)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&state.db.pool)
    .await?;
    let mut due = Vec::with_capacity(endpoints.len());
    for (endpoint_id, _, failing) in endpoints {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM webhook_messages WHERE endpoint_id = $1 AND state = 'pending' \
             AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2) \
             ORDER BY next_attempt_at, id LIMIT 1",
        )
        .bind(&endpoint_id)
        .bind(now)
        .fetch_optional(&state.db.pool)
        .await?;
        if let Some(id) = id {
            due.push(Due {
                id,
                failing: failing == 1,
            });
        }
    }
    Ok(due)
}

/// One round (the CLI's and the tests' way to deliver without the worker): the
/// oldest due message of each endpoint, attempted side by side. Returns how many
/// were attempted (the others were another instance's).
pub async fn deliver_due(state: &AppState) -> Result<usize> {
    let due = pick(state, state.clock.now(), SLOTS).await?;
    let results: Vec<Result<bool>> = futures_util::stream::iter(due)
        .map(|due| async move { delivery::claim_and_attempt(state, &due.id).await })
        .buffer_unordered(SLOTS)
        .collect()
        .await;
    let mut count = 0;
    for result in results {
        match result {
            Ok(attempted) => count += usize::from(attempted),
            Err(err) => tracing::warn!(error = %err, "a webhook attempt could not be recorded"),
        }
    }
    Ok(count)
}

/// Delivers due messages until the server stops: each attempt in a task of its own,
/// a new one started whenever a slot frees up.
pub async fn run_worker(state: AppState) {
    let slots = Arc::new(Semaphore::new(SLOTS));
    let failing_slots = Arc::new(Semaphore::new(FAILING_SLOTS));
    let freed = Arc::new(Notify::new());
    loop {
        if let Err(err) = start_due(&state, &slots, &failing_slots, &freed).await {
            tracing::warn!(error = %err, "picking webhook deliveries failed");
        }
        tokio::select! {
            _ = state.webhook_wakeup.notified() => {}
            _ = freed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Starts an attempt for as many due messages as there are free slots.
async fn start_due(
    state: &AppState,
    slots: &Arc<Semaphore>,
    failing_slots: &Arc<Semaphore>,
    freed: &Arc<Notify>,
) -> Result<()> {
    let free = slots.available_permits();
    if free == 0 {
        return Ok(());
    }
    for due in pick(state, state.clock.now(), free).await? {
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            break;
        };
        let failing_slot = if due.failing {
            match failing_slots.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                // Every slot for failing endpoints is taken: healthy ones go first.
                Err(_) => continue,
            }
        } else {
            None
        };
        let state = state.clone();
        let freed = freed.clone();
        tokio::spawn(async move {
            if let Err(err) = delivery::claim_and_attempt(&state, &due.id).await {
                tracing::warn!(error = %err, "a webhook attempt could not be recorded");
            }
            drop(slot);
            drop(failing_slot);
            freed.notify_one();
        });
    }
    Ok(())
}

/// Deletes finished messages older than the retention, with their attempts. The
/// number of messages deleted.
pub async fn prune(state: &AppState, now: i64) -> Result<u64> {
    let cutoff = now - RETENTION_DAYS * 86_400;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "DELETE FROM webhook_attempts WHERE message_id IN (SELECT id FROM webhook_messages \
         WHERE state <> 'pending' AND finished_at < $1)",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    let deleted =
        sqlx::query("DELETE FROM webhook_messages WHERE state <> 'pending' AND finished_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    sqlx::query("DELETE FROM webhook_manual_sends WHERE at < $1")
        .bind(now - 3600)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(deleted)
}
