//! Appending to and verifying the hash chain.
//!
//! Each event's `hash` is HMAC-SHA-256, under the installation's audit key (derived
//! from the master secret, never in the database; see [`super::keyring`]), over the
//! previous event's hash and a canonical encoding of the event's own fields (each
//! field length-prefixed, absent fields distinct from empty ones). So no field can be
//! changed, and no event deleted, inserted or moved, without a mismatch at a row
//! `verify` can name, and someone who can write to the database but does not hold the
//! key cannot recompute the chain after an edit. Events recorded before the keyed
//! chain existed (`seq < audit_head.keyed_from`) keep the unkeyed SHA-256 of v1; the
//! first keyed event commits to them. What the chain cannot see on its own (the
//! newest events cut off and the head set back) the signed checkpoints of
//! [`super::checkpoint`] catch.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Any, Executor};

use super::{Actor, AuditFilter, AuditRow};
use crate::platform::context::ClientInfo;
use crate::platform::db::Tx;
use crate::platform::error::Result;
use crate::platform::{ids, time};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to record. `details` must never hold a secret or token.
pub struct Event<'a> {
    pub actor: Actor,
    pub action: &'a str,
    pub resource: Option<(&'a str, &'a str)>,
    pub org_id: Option<&'a str>,
    pub client: Option<&'a ClientInfo>,
    pub outcome: &'a str,
    pub details: Value,
}

impl<'a> Event<'a> {
    pub fn new(actor: Actor, action: &'a str) -> Self {
        Self {
            actor,
            action,
            resource: None,
            org_id: None,
            client: None,
            outcome: "success",
            details: Value::Null,
        }
    }
    pub fn resource(mut self, kind: &'a str, id: &'a str) -> Self {
        self.resource = Some((kind, id));
        self
    }
    pub fn org(mut self, org_id: Option<&'a str>) -> Self {
        self.org_id = org_id;
        self
    }
    pub fn client(mut self, client: &'a ClientInfo) -> Self {
        self.client = Some(client);
        self
    }
    pub fn outcome(mut self, outcome: &'a str) -> Self {
        self.outcome = outcome;
        self
    }
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends an event inside the caller's transaction, so the event and the change it
/// records commit together or not at all.
pub async fn record(tx: &mut Tx, event: Event<'_>) -> Result<String> {
    // Bumping the head first takes the row (PostgreSQL) or database (SQLite) write
    // lock, so concurrent appenders queue here and each links to the one before.
    let (seq, prev_hash, install_id, keyed_from): (i64, String, String, i64) =
        sqlx::query_as(
            "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash, install_id, keyed_from",
        )
        .fetch_one(&mut **tx)
        .await?;
    let keys = super::keyring::get(&install_id)?;
    let nonempty = |s: &str| {
        if s.is_empty() {
            None
        } else {
            Some(s.to_string())
        }
    };
    let mut row = AuditRow {
        seq,
        id: ids::new_id(ids::EVENT),
        occurred_at: time::now(),
        actor_kind: event.actor.kind,
        actor_id: event.actor.id,
        actor_label: event.actor.label,
        action: event.action.to_string(),
        resource_type: event.resource.map(|r| r.0.to_string()),
        resource_id: event.resource.map(|r| r.1.to_string()),
        org_id: event.org_id.map(str::to_string),
        ip: event.client.and_then(|c| nonempty(&c.ip)),
        user_agent: event.client.and_then(|c| nonempty(&c.user_agent)),
        outcome: event.outcome.to_string(),
        details: if event.details.is_null() {
            "{}".into()
        } else {
            event.details.to_string()
        },
        prev_hash,
        hash: String::new(),
    };
    row.hash = chain_hash(&row, keyed_from, &keys.mac);
    sqlx::query(
        "INSERT INTO audit_events (seq, id, occurred_at, actor_kind, actor_id, actor_label, action, \
         resource_type, resource_id, org_id, ip, user_agent, outcome, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(row.seq)
    .bind(&row.id)
    .bind(row.occurred_at)
    .bind(&row.actor_kind)
    .bind(&row.actor_id)
    .bind(&row.actor_label)
    .bind(&row.action)
    .bind(&row.resource_type)
    .bind(&row.resource_id)
    .bind(&row.org_id)
    .bind(&row.ip)
    .bind(&row.user_agent)
    .bind(&row.outcome)
    .bind(&row.details)
    .bind(&row.prev_hash)
    .bind(&row.hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&row.hash)
        .execute(&mut **tx)
        .await?;
    Ok(row.id)
}

fn canonical(row: &AuditRow, version: &str) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, value: Option<&str>) {
        match value {
            Some(v) => {
                out.extend_from_slice(v.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(v.as_bytes());
            }
            None => out.push(b'-'),
        }
        out.push(b';');
    }
    let mut out = Vec::with_capacity(512);
    field(&mut out, Some(version));
    field(&mut out, Some(&row.seq.to_string()));
    field(&mut out, Some(&row.id));
    field(&mut out, Some(&row.occurred_at.to_string()));
    field(&mut out, Some(&row.actor_kind));
    field(&mut out, row.actor_id.as_deref());
    field(&mut out, row.actor_label.as_deref());
    field(&mut out, Some(&row.action));
    field(&mut out, row.resource_type.as_deref());
    field(&mut out, row.resource_id.as_deref());
    field(&mut out, row.org_id.as_deref());
    field(&mut out, row.ip.as_deref());
    field(&mut out, row.user_agent.as_deref());
    field(&mut out, Some(&row.outcome));
    field(&mut out, Some(&row.details));
    out
}

/// v1 (before the keyed chain): SHA-256(prev_hash ‖ canonical(row)), hex.
pub fn compute_hash(row: &AuditRow) -> String {
    let mut hasher = Sha256::new();
    hasher.update(row.prev_hash.as_bytes());
    hasher.update(canonical(row, "gatehouse-audit-v1"));
    hex::encode(hasher.finalize())
}

/// v2: HMAC-SHA-256(key, prev_hash ‖ canonical(row)), hex.
pub fn keyed_hash(row: &AuditRow, key: &[u8; 32]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(row.prev_hash.as_bytes());
    mac.update(&canonical(row, "gatehouse-audit-v2"));
    hex::encode(mac.finalize().into_bytes())
}

/// The hash an event at its place in the chain must carry.
pub fn chain_hash(row: &AuditRow, keyed_from: i64, key: &[u8; 32]) -> String {
    if row.seq >= keyed_from {
        keyed_hash(row, key)
    } else {
        compute_hash(row)
    }
}

/// The result of checking the chain.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        events: i64,
    },
    /// The first event at which the chain breaks, and why.
    Broken {
        seq: i64,
        id: Option<String>,
        reason: String,
    },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Intact { events } => write!(f, "audit chain intact: {events} events"),
            Self::Broken {
                seq,
                id: Some(id),
                reason,
            } => write!(f, "audit chain broken at event {id} (seq {seq}): {reason}"),
            Self::Broken {
                seq,
                id: None,
                reason,
            } => write!(f, "audit chain broken at seq {seq}: {reason}"),
        }
    }
}

const COLUMNS: &str =
    "seq, id, occurred_at, actor_kind, actor_id, actor_label, action, resource_type, \
                       resource_id, org_id, ip, user_agent, outcome, details, prev_hash, hash";

type RawRow = (
    i64,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
);

fn from_raw(r: RawRow) -> AuditRow {
    AuditRow {
        seq: r.0,
        id: r.1,
        occurred_at: r.2,
        actor_kind: r.3,
        actor_id: r.4,
        actor_label: r.5,
        action: r.6,
        resource_type: r.7,
        resource_id: r.8,
        org_id: r.9,
        ip: r.10,
        user_agent: r.11,
        outcome: r.12,
        details: r.13,
        prev_hash: r.14,
        hash: r.15,
    }
}

/// Events read per page while verifying: memory stays bounded however long the trail.
const VERIFY_PAGE: i64 = 2_000;

/// Walks the chain in order and names the first event that does not hold.
///
/// The head is read first, then the events up to it, page by page. An event commits
/// in the same transaction as the head's advance, so every event up to a committed
/// head is visible, and events appended meanwhile (beyond the head read) are simply
/// not part of this check: a concurrent append can never look like a deletion.
pub async fn verify<'e, E>(db: E) -> Result<Verdict>
where
    E: Executor<'e, Database = Any> + Copy,
{
    verify_with(db, &crate::platform::progress::Silent).await
}

/// [`verify`], telling `progress` how far it has got (one step per event).
pub async fn verify_with<'e, E>(
    db: E,
    progress: &dyn crate::platform::progress::Progress,
) -> Result<Verdict>
where
    E: Executor<'e, Database = Any> + Copy,
{
    let (head_seq, head_hash, install_id, keyed_from): (i64, String, String, i64) =
        sqlx::query_as("SELECT seq, hash, install_id, keyed_from FROM audit_head WHERE id = 1")
            .fetch_one(db)
            .await?;
    progress.begin("Verifying the audit chain", Some(head_seq.max(0) as u64));
    let key = super::keyring::get(&install_id)?.mac;
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_string();
    loop {
        let rows: Vec<RawRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT {VERIFY_PAGE}"
        ))
        .bind(expected_seq)
        .bind(head_seq)
        .fetch_all(db)
        .await?;
        let page_len = rows.len() as i64;
        for raw in rows {
            let row = from_raw(raw);
            let broken = |reason: String| Verdict::Broken {
                seq: row.seq,
                id: Some(row.id.clone()),
                reason,
            };
            if row.seq != expected_seq {
                return Ok(broken(format!(
                    "expected seq {expected_seq} here: the events before it were deleted"
                )));
            }
            if row.prev_hash != prev {
                return Ok(broken(
                    "does not link to the event before it: an event was deleted, inserted or reordered"
                        .into(),
                ));
            }
            if chain_hash(&row, keyed_from, &key) != row.hash {
                return Ok(broken(
                    "its content does not match its hash: the event was modified or moved".into(),
                ));
            }
            prev = row.hash;
            expected_seq += 1;
        }
        progress.advance(page_len as u64);
        if page_len < VERIFY_PAGE {
            break;
        }
    }
    let last = expected_seq - 1;
    if head_seq != last || head_hash != prev {
        return Ok(Verdict::Broken {
            seq: last + 1,
            id: None,
            reason: format!("the chain head records {head_seq} events but {last} remain: the newest events were deleted"),
        });
    }
    Ok(Verdict::Intact { events: last })
}

/// The key under which the last background check is kept (in `settings`).
const LAST_CHECK: &str = "audit.last_verification";

/// Runs the full check and keeps its result for the audit page, which never runs
/// the check itself (it reads every event). Run by the maintenance job.
pub async fn check_and_record(db: &crate::platform::db::Db, now: i64) -> Result<Verdict> {
    let verdict = verify(&db.pool).await?;
    record_check(
        db,
        now,
        matches!(verdict, Verdict::Intact { .. }),
        &verdict.to_string(),
    )
    .await?;
    Ok(verdict)
}

/// Keeps a check's result for the audit page.
pub async fn record_check(
    db: &crate::platform::db::Db,
    now: i64,
    intact: bool,
    text: &str,
) -> Result<()> {
    let value = serde_json::json!({
        "checked_at": now,
        "intact": intact,
        "text": text,
    })
    .to_string();
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(LAST_CHECK)
    .bind(value)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// `check_and_record` unless any instance sharing the database ran it within
/// `interval` seconds: the full check reads every event, and several instances need
/// not each do it. Returns the verdict when it ran.
pub async fn check_if_due(
    db: &crate::platform::db::Db,
    now: i64,
    interval: i64,
) -> Result<Option<Verdict>> {
    if let Some((at, _, _)) = last_check(&db.pool).await? {
        if now - at < interval {
            return Ok(None);
        }
    }
    check_and_record(db, now).await.map(Some)
}

/// The last background check: (when, what it found), if one ran.
pub async fn last_check<'e, E>(db: E) -> Result<Option<(i64, bool, String)>>
where
    E: Executor<'e, Database = Any>,
{
    let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(LAST_CHECK)
        .fetch_optional(db)
        .await?;
    Ok(value
        .and_then(|v| serde_json::from_str::<Value>(&v).ok())
        .map(|v| {
            (
                v["checked_at"].as_i64().unwrap_or_default(),
                v["intact"].as_bool().unwrap_or(false),
                v["text"].as_str().unwrap_or_default().to_string(),
            )
        }))
}

enum Bind {
    Text(String),
    Int(i64),
}

/// Events matching `filter`, newest first, at most `limit`.
pub async fn list<'e, E>(db: E, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditRow>>
where
    E: Executor<'e, Database = Any>,
{
    let mut sql = format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1");
    let mut binds: Vec<Bind> = Vec::new();
    // Appends `clause`, numbering each `?` in it as the next `$n` placeholder.
    let mut clause = |sql: &mut String, clause: &str, values: Vec<Bind>| {
        let mut parts = clause.split('?');
        sql.push_str(parts.next().unwrap_or_default());
        for (part, value) in parts.zip(values) {
            binds.push(value);
            sql.push_str(&format!("${}{part}", binds.len()));
        }
    };
    let action = filter.action.trim();
    if !action.is_empty() {
        let prefix = format!(
            "{}.%",
            action
                .replace('\\', "")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        clause(
            &mut sql,
            " AND (action = ? OR action LIKE ? ESCAPE '\\')",
            vec![Bind::Text(action.into()), Bind::Text(prefix)],
        );
    }
    let actor = filter.actor.trim().to_lowercase();
    if !actor.is_empty() {
        clause(
            &mut sql,
            " AND (actor_id = ? OR LOWER(actor_label) = ?)",
            vec![Bind::Text(actor.clone()), Bind::Text(actor)],
        );
    }
    if !filter.org.trim().is_empty() {
        clause(
            &mut sql,
            " AND org_id = ?",
            vec![Bind::Text(filter.org.trim().into())],
        );
    }
    if !filter.outcome.trim().is_empty() {
        clause(
            &mut sql,
            " AND outcome = ?",
            vec![Bind::Text(filter.outcome.trim().into())],
        );
    }
    if let Some(from) = time::parse_date(filter.from.trim()) {
        clause(&mut sql, " AND occurred_at >= ?", vec![Bind::Int(from)]);
    }
    if let Some(to) = time::parse_date(filter.to.trim()) {
        clause(
            &mut sql,
            " AND occurred_at < ?",
            vec![Bind::Int(to + 86_400)],
        );
    }
    if let Some(before) = filter.before {
        clause(&mut sql, " AND seq < ?", vec![Bind::Int(before)]);
    }
    sql.push_str(&format!(
        " ORDER BY seq DESC LIMIT {}",
        limit.clamp(1, 100_000)
    ));
    let mut query = sqlx::query_as::<_, RawRow>(&sql);
    for value in binds {
        query = match value {
            Bind::Text(text) => query.bind(text),
            Bind::Int(int) => query.bind(int),
        };
    }
    Ok(query
        .fetch_all(db)
        .await?
        .into_iter()
        .map(from_raw)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            seq: 1,
            id: "evt_1".into(),
            occurred_at: 1_700_000_000,
            actor_kind: "user".into(),
            actor_id: Some("usr_1".into()),
            actor_label: None,
            action: "signin.success".into(),
            resource_type: None,
            resource_id: None,
            org_id: None,
            ip: Some("127.0.0.1".into()),
            user_agent: Some(String::new()),
            outcome: "success".into(),
            details: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_keyed_hash_needs_the_key() {
        let row = row();
        let key = [7u8; 32];
        assert_ne!(keyed_hash(&row, &key), compute_hash(&row));
        assert_ne!(keyed_hash(&row, &key), keyed_hash(&row, &[8u8; 32]));
        assert_eq!(chain_hash(&row, 1, &key), keyed_hash(&row, &key));
        assert_eq!(chain_hash(&row, 2, &key), compute_hash(&row));
    }

    #[test]
    fn every_field_and_the_link_are_covered_by_the_hash() {
        let base = compute_hash(&row());
        let mut changed = row();
        changed.outcome = "failure".into();
        assert_ne!(compute_hash(&changed), base);
        let mut relinked = row();
        relinked.prev_hash = "1".repeat(64);
        assert_ne!(compute_hash(&relinked), base);
        // absent and empty are different values
        let mut absent = row();
        absent.user_agent = None;
        assert_ne!(compute_hash(&absent), base);
        // field boundaries cannot be shifted
        let mut shifted = row();
        shifted.action = "signin.successs".into();
        shifted.outcome = "uccess".into();
        assert_ne!(compute_hash(&shifted), base);
    }
}
