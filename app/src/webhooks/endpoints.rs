//! Webhook endpoints: registering (https, a public address, known events), the
//! signing secret (shown once, kept encrypted, rotated with an overlap), disabling
//! and enabling. Every query is scoped to the caller's organisation.

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use sqlx::Row;

use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::crypto;
use crate::platform::db::Tx;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::forms::version_of;
use crate::platform::ids;
use crate::platform::state::AppState;

/// After a rotation the previous secret still signs for this long, so a receiver
/// can switch over without missing a delivery.
pub const ROTATION_OVERLAP_SECONDS: i64 = 24 * 3600;
/// Endpoints per organisation.
pub const MAX_ENDPOINTS: i64 = 10;
const MAX_URL: usize = 2000;
const MAX_DESCRIPTION: usize = 200;
/// How long registration waits for the host name to resolve.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub state: String,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<i64>,
    pub failing_since: Option<i64>,
    pub previous_until: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub version: i64,
}

const SELECT: &str = "SELECT e.id, e.org_id, e.url, e.description, e.events, e.state, e.disabled_reason, \
     e.disabled_at, e.failing_since, e.previous_until, u.email AS created_by, e.created_at, e.version \
     FROM webhook_endpoints e JOIN users u ON u.id = e.created_by";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Endpoint> {
    let events: String = row.try_get("events")?;
    Ok(Endpoint {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        events: events.split(' ').map(str::to_string).collect(),
        state: row.try_get("state")?,
        disabled_reason: row.try_get("disabled_reason")?,
        disabled_at: row.try_get("disabled_at")?,
        failing_since: row.try_get("failing_since")?,
        previous_until: row.try_get("previous_until")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        version: row.try_get("version")?,
    })
}

/// The organisation's endpoints, newest first.
pub async fn list(state: &AppState, org_id: &str) -> Result<Vec<Endpoint>> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE e.org_id = $1 ORDER BY e.created_at DESC, e.id DESC"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One endpoint of the organisation; another organisation's is a 404.
pub async fn get(state: &AppState, org_id: &str, id: &str) -> Result<Endpoint> {
    let row = sqlx::query(&format!("{SELECT} WHERE e.id = $1 AND e.org_id = $2"))
        .bind(id)
        .bind(org_id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or(Error::NotFound)?;
    from_row(&row)
}

/// A new signing secret: 32 random bytes, `whsec_` and base64 (the specification's
/// format, 24 to 64 bytes).
fn new_secret() -> String {
    let bytes = crypto::random_bytes::<32>();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// An endpoint as it is written: by registration, or by the demo.
pub(crate) struct Registered<'a> {
    pub org_id: &'a str,
    pub url: &'a str,
    pub description: &'a str,
    /// Space-separated event types.
    pub events: &'a str,
    pub created_by: &'a str,
    pub created_at: i64,
}

/// Writes an active endpoint with a new secret, sealed; returns its id and the
/// secret (to show once).
pub(crate) async fn insert(
    state: &AppState,
    tx: &mut Tx,
    endpoint: &Registered<'_>,
) -> Result<(String, String)> {
    let id = ids::new_id(ids::WEBHOOK_ENDPOINT);
    let secret = new_secret();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, org_id, url, description, events, secret, state, created_by, created_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, 1)",
    )
    .bind(&id)
    .bind(endpoint.org_id)
    .bind(endpoint.url)
    .bind(endpoint.description)
    .bind(endpoint.events)
    .bind(state.keys.encrypt(secret.as_bytes())?)
    .bind(endpoint.created_by)
    .bind(endpoint.created_at)
    .execute(&mut **tx)
    .await?;
    Ok((id, secret))
}

/// What a partner admin submits to register an endpoint.
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    /// Space-separated event types (the form's checkboxes).
    pub events: String,
}

/// The events chosen: at least one, each known.
fn chosen_events(invalid: &mut Invalid, events: &str) -> Vec<String> {
    let chosen: Vec<String> = events.split_whitespace().map(str::to_string).collect();
    if chosen.is_empty() {
        invalid.add("events", "Choose at least one event.");
    } else if let Some(unknown) = chosen.iter().find(|e| !super::is_event(e)) {
        invalid.add(
            "events",
            format!("{unknown} is not an event Gatehouse sends."),
        );
    }
    let mut unique = chosen;
    unique.sort();
    unique.dedup();
    unique
}

/// Checks the URL as a delivery would: https, and a host that resolves only to
/// addresses Gatehouse may reach.
async fn check_url(state: &AppState, invalid: &mut Invalid, url: &str) {
    if url.is_empty() || url.chars().count() > MAX_URL {
        invalid.add(
            "url",
            format!("Enter the endpoint's https URL (at most {MAX_URL} characters)."),
        );
        return;
    }
    if let Err(refused) = state.outbound.check(url, RESOLVE_TIMEOUT).await {
        use crate::platform::outbound::Refused;
        let message = match refused {
            Refused::NotHttps => "Use an https URL: deliveries are only sent over TLS.".to_string(),
            Refused::BadUrl => "Enter a full URL such as https://hooks.example.com/gatehouse.".to_string(),
            Refused::NotPublic(host, ip) => format!(
                "{host} resolves to {ip}, a loopback, private, link-local or metadata address: Gatehouse only delivers to public addresses."
            ),
            Refused::Unresolved => "The host name does not resolve.".to_string(),
            other => other.to_string(),
        };
        invalid.add("url", message);
    }
}

/// Registers an endpoint; returns its id and the signing secret, shown once.
pub async fn create(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    input: &NewEndpoint,
) -> Result<(String, String)> {
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let url = input.url.trim();
    let description = input.description.trim();
    let mut invalid = Invalid::new();
    check_url(state, &mut invalid, url).await;
    invalid.text(
        "description",
        description,
        "Say what the endpoint is for",
        MAX_DESCRIPTION,
    );
    if description.contains(['\n', '\r']) {
        invalid.add("description", "Keep the description on one line.");
    }
    let events = chosen_events(&mut invalid, &input.events);
    invalid.into_result()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    // Registrations of one organisation take turns: this update holds the
    // organisation's row (PostgreSQL) or the write lock (SQLite) until the commit, so
    // two at once cannot both count nine and both insert.
    sqlx::query("UPDATE organisations SET status = status WHERE id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = $1")
        .bind(org_id)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_ENDPOINTS {
        return Err(Error::Invalid(Invalid::field(
            "url",
            format!("An organisation has at most {MAX_ENDPOINTS} endpoints: disable or reuse one."),
        )));
    }
    let registered = Registered {
        org_id,
        url,
        description,
        events: &events.join(" "),
        created_by: &user.id,
        created_at: now,
    };
    let (id, secret) = insert(state, &mut tx, &registered).await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "webhook.endpoint_created")
            .client(client)
            .org(Some(org_id))
            .resource("webhook_endpoint", &id)
            .details(json!({ "url": url, "events": events })),
    )
    .await?;
    tx.commit().await?;
    Ok((id, secret))
}

fn changed() -> Error {
    Error::Conflict(
        "This endpoint changed since the page was loaded: reload it and try again.".into(),
    )
}

/// Records a partner admin's change to an endpoint (or delivery of it).
pub(crate) async fn record(
    tx: &mut Tx,
    user: &AuthUser,
    client: &ClientInfo,
    endpoint: &Endpoint,
    action: &str,
    details: serde_json::Value,
) -> Result<()> {
    audit::record(
        tx,
        Event::new(user.actor(), action)
            .client(client)
            .org(Some(&endpoint.org_id))
            .resource("webhook_endpoint", &endpoint.id)
            .details(details),
    )
    .await?;
    Ok(())
}

/// A new secret; the previous one keeps signing for the overlap. Returns the new
/// secret, shown once.
pub async fn rotate(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    id: &str,
    version: &str,
) -> Result<String> {
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let endpoint = get(state, org_id, id).await?;
    let version = version_of(version)?;
    let now = state.clock.now();
    let secret = new_secret();
    let mut tx = state.db.begin().await?;
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $1, secret = $2, version = version + 1 \
         WHERE id = $3 AND org_id = $4 AND version = $5",
    )
    .bind(now + ROTATION_OVERLAP_SECONDS)
    .bind(state.keys.encrypt(secret.as_bytes())?)
    .bind(id)
    .bind(org_id)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(changed());
    }
    record(
        &mut tx,
        user,
        client,
        &endpoint,
        "webhook.secret_rotated",
        json!({ "url": endpoint.url }),
    )
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Disables or enables an endpoint by hand. Disabling cancels what is queued for
/// it; enabling clears the failure streak (cancelled deliveries can be sent again).
pub async fn set_enabled(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    id: &str,
    version: &str,
    enabled: bool,
) -> Result<()> {
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let endpoint = get(state, org_id, id).await?;
    if endpoint.version != version_of(version)? {
        return Err(changed());
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let done = if enabled {
        sqlx::query(
            "UPDATE webhook_endpoints SET state = 'active', disabled_reason = NULL, disabled_at = NULL, \
             failing_since = NULL, version = version + 1 WHERE id = $1 AND version = $2 AND state = 'disabled'",
        )
        .bind(id)
        .bind(endpoint.version)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1
    } else {
        set_disabled(&mut tx, id, &format!("disabled by {}", user.email), now).await?
    };
    if !done {
        return Err(changed());
    }
    let action = if enabled {
        "webhook.endpoint_enabled"
    } else {
        "webhook.endpoint_disabled"
    };
    record(
        &mut tx,
        user,
        client,
        &endpoint,
        action,
        json!({ "url": endpoint.url }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disables an active endpoint and cancels its queued deliveries; false when it
/// was not active.
pub(crate) async fn set_disabled(tx: &mut Tx, id: &str, reason: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET state = 'disabled', disabled_reason = $1, disabled_at = $2, version = version + 1 \
         WHERE id = $3 AND state = 'active'",
    )
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE webhook_messages SET state = 'cancelled', finished_at = $1, next_attempt_at = NULL \
         WHERE endpoint_id = $2 AND state = 'pending'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// The secrets that sign a delivery at `now`: the current one, and the previous one
/// during a rotation's overlap.
pub(crate) async fn signing_secrets(state: &AppState, id: &str, now: i64) -> Result<Vec<String>> {
    let (current, previous, until): (Vec<u8>, Option<Vec<u8>>, Option<i64>) = sqlx::query_as(
        "SELECT secret, previous_secret, previous_until FROM webhook_endpoints WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&state.db.pool)
    .await?;
    let text = |sealed: &[u8]| -> Result<String> {
        String::from_utf8(state.keys.decrypt(sealed)?).map_err(Error::internal)
    };
    let mut secrets = vec![text(&current)?];
    if let (Some(previous), Some(until)) = (previous, until) {
        if until > now {
            secrets.push(text(&previous)?);
        }
    }
    Ok(secrets)
}
