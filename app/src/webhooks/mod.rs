//! Webhooks for partners: endpoints a partner admin registers, the events Gatehouse
//! tells them about, and their delivery under the Standard Webhooks specification.
//!
//! - `endpoints`: registering, rotating the secret, disabling and enabling.
//! - `delivery`: one attempt (signing, the retry schedule, `Retry-After`,
//!   disabling an endpoint that keeps failing), "send again" and "send a test event".
//! - `dispatch`: the outbox worker, fair between endpoints, and pruning.
//! - `emit` (here): the one way a feature reports an event. It writes one outbox row
//!   per subscribed endpoint in the caller's transaction, so an event is delivered if
//!   and only if the change that caused it committed.

pub mod delivery;
pub mod demo;
pub mod dispatch;
pub mod endpoints;
pub mod handlers;
mod pages;

use serde_json::{json, Value};

use crate::platform::db::Tx;
use crate::platform::error::Result;
use crate::platform::{ids, time};

/// The events a partner can subscribe to: type and what it means.
pub const EVENTS: [(&str, &str); 10] = [
    (
        "credential.expiring",
        "A credential expires soon (30, 7 and 1 days before).",
    ),
    (
        "credential.expired",
        "A credential has expired and is refused.",
    ),
    (
        "credential.revoked",
        "A credential was revoked: by your admins, by the bank, or because it was not used.",
    ),
    (
        "software.withdrawn",
        "One of your software records was withdrawn (by the bank, in an access review, or revoked or retired by your own team): its client and credentials are revoked.",
    ),
    (
        "client.suspended",
        "A client was suspended: its tokens are refused until the suspension is lifted.",
    ),
    (
        "access_request.decided",
        "The bank decided a production access request (approved, rejected, or more information needed).",
    ),
    (
        "review.due",
        "An access review waits for your answer.",
    ),
    (
        "alert.opened",
        "The bank's monitoring opened an alert about one of your clients.",
    ),
    (
        "evidence.expiring",
        "Onboarding evidence the bank relies on expires soon.",
    ),
    (
        "agreement.acceptance_required",
        "A new version of an agreement must be accepted by its deadline (when its window opens, 7 days and 1 day before).",
    ),
];

/// The event "Send a test event" sends; not subscribable.
pub const TEST_EVENT: &str = "webhook.test";

pub fn is_event(name: &str) -> bool {
    EVENTS.iter().any(|(event, _)| *event == name)
}

/// The body of a delivery: `{"type", "timestamp", "data"}`, the shape the Standard
/// Webhooks specification recommends.
pub fn payload(event: &str, data: Value, now: i64) -> String {
    json!({ "type": event, "timestamp": time::rfc3339(now), "data": data }).to_string()
}

/// Queues `event` for every active endpoint of `org_id` subscribed to it, in `tx`.
/// Returns how many deliveries were queued.
pub async fn emit(tx: &mut Tx, org_id: &str, event: &str, data: Value, now: i64) -> Result<usize> {
    let endpoints: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, events FROM webhook_endpoints WHERE org_id = $1 AND state = 'active' ORDER BY id",
    )
    .bind(org_id)
    .fetch_all(&mut **tx)
    .await?;
    let body = payload(event, data, now);
    let mut queued = 0;
    for (endpoint, events) in endpoints {
        if events.split(' ').any(|e| e == event) {
            queue(tx, &endpoint, org_id, event, &body, now).await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Writes one outbox row, due at once; returns its id (the `webhook-id`).
pub(crate) async fn queue(
    tx: &mut Tx,
    endpoint: &str,
    org_id: &str,
    event: &str,
    body: &str,
    now: i64,
) -> Result<String> {
    let id = ids::new_id(ids::WEBHOOK_MESSAGE);
    sqlx::query(
        "INSERT INTO webhook_messages (id, endpoint_id, org_id, event_type, payload, state, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
    )
    .bind(&id)
    .bind(endpoint)
    .bind(org_id)
    .bind(event)
    .bind(body)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// The webhook event a governance sweep action reports, if any (by the action's kind).
pub fn sweep_event(kind: &str) -> Option<&'static str> {
    match kind {
        "expiry_warning" => Some("credential.expiring"),
        "expired" => Some("credential.expired"),
        "revoke_dormant" => Some("credential.revoked"),
        "suspend_ownerless" | "suspend_for_evidence" | "suspend_for_agreement" => {
            Some("client.suspended")
        }
        "evidence_warning" => Some("evidence.expiring"),
        "agreement_warning" => Some("agreement.acceptance_required"),
        _ => None,
    }
}

/// Stops an organisation's webhooks (offboarding): its endpoints are disabled and
/// their queued deliveries cancelled. Returns what was ended, for the offboarding
/// record: (kind, id, description).
pub async fn stop_for_org(
    tx: &mut Tx,
    org_id: &str,
    now: i64,
) -> Result<Vec<(&'static str, String, String)>> {
    let endpoints: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, url FROM webhook_endpoints WHERE org_id = $1 AND state = 'active' ORDER BY id",
    )
    .bind(org_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut ended = Vec::new();
    for (id, url) in endpoints {
        if endpoints::set_disabled(tx, &id, "the organisation was offboarded", now).await? {
            ended.push((
                "webhook_endpoint",
                id,
                format!("webhook endpoint {url} disabled"),
            ));
        }
    }
    Ok(ended)
}

/// Webhooks' periodic job: deleting finished deliveries after their retention.
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "webhooks_prune",
        3600,
        |state: crate::platform::state::AppState, now| async move {
            let pruned = dispatch::prune(&state, now).await?;
            Ok(json!({ "pruned": pruned }))
        }
    )]
}
