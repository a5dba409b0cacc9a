//! The request log of each sandbox app: every token request and sandbox API call with
//! its time, endpoint, status, latency and error code, never a secret or a token.
//!
//! Writing a row per request in the request's own transaction would put a database
//! write on the hottest path, so entries go through a channel to a writer task that
//! stores them in batches, together with each credential's "last used": the last
//! successful token request (`last_token_at`) and the last successful API call
//! (`last_used_at`), one update per credential and batch whatever the traffic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use serde::Serialize;
use sqlx::Row;
use tokio::sync::mpsc;

use crate::platform::db::{Backend, Db, Tx};
use crate::platform::error::Result;
use crate::platform::ids;

#[derive(Clone, Debug)]
pub struct Entry {
    pub app_id: String,
    pub credential_id: Option<String>,
    pub at: i64,
    pub method: &'static str,
    pub endpoint: String,
    pub status: u16,
    pub latency_us: i64,
    pub error: Option<String>,
    /// The scopes a successful token request was granted (client credentials), kept
    /// as each scope's last use (`scope_use`); an API call's scope comes from its path.
    pub scope: Option<String>,
    /// The caller's address (after the trusted-proxy rules).
    pub source: Option<String>,
}

/// The scope a sandbox API path needs (the prefixes readiness also reads).
pub fn scope_of(endpoint: &str) -> Option<&'static str> {
    let rest = endpoint.strip_prefix(super::paths::SANDBOX_API_BASE)?;
    if rest.starts_with("/aisp/") {
        Some("accounts")
    } else if rest.starts_with("/pisp/") {
        Some("payments")
    } else if rest.starts_with("/reference/") {
        Some("reference")
    } else if rest.starts_with("/cbpii/") {
        Some("fundsconfirmations")
    } else {
        None
    }
}

#[derive(Clone)]
pub struct RequestLog {
    sender: mpsc::Sender<Entry>,
    /// Entries lost: exported as `gatehouse_request_log_dropped_total` and shown to
    /// bank admins, because readiness is judged on this log.
    dropped: Counter,
    /// Entries accepted and not yet written (or dropped): what [`RequestLog::drain`]
    /// waits for at a clean stop.
    pending: Arc<AtomicUsize>,
}

/// Entries waiting to be written; beyond this, new entries are dropped (and counted
/// in the log) rather than slowing requests down.
const QUEUE: usize = 50_000;
const BATCH: usize = 2_000;

/// Attempts at writing one batch before its entries count as dropped: with the
/// back-off below (0.1, 0.4, 1.6 s, then 5 s each), about 22 s, so a database
/// restart or fail-over of that long loses no entry (the queue holds them meanwhile).
const WRITE_ATTEMPTS: u32 = 8;
/// The longest pause between two attempts.
const MAX_BACKOFF_MS: u64 = 5_000;

impl RequestLog {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db, dropped: Counter) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let pending = Arc::new(AtomicUsize::new(0));
        tokio::spawn(writer(db, receiver, dropped.clone(), pending.clone()));
        Self {
            sender,
            dropped,
            pending,
        }
    }

    pub fn record(&self, entry: Entry) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        if self.sender.try_send(entry).is_err() {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            self.dropped.inc();
            tracing::warn!("request log queue full: an entry was dropped");
        }
    }

    /// Waits (at most `limit`) until every entry accepted so far is written: a clean
    /// stop (a rolling restart) calls it after the last request was answered, so no
    /// answered request is missing from the log. `false` if entries were still
    /// waiting when the time ran out.
    pub async fn drain(&self, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while self.pending.load(Ordering::Acquire) > 0 {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }

    /// Entries lost since this instance started.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }
}

/// How long the writer lingers for more entries after the first of a batch: with
/// `synchronous = FULL` every commit is a disk sync, so fewer, fuller batches keep the
/// hot paths' throughput (BENCHMARKS.md); an entry reaches the table within this.
const LINGER: std::time::Duration = std::time::Duration::from_millis(25);

async fn writer(
    db: Db,
    mut receiver: mpsc::Receiver<Entry>,
    dropped: Counter,
    pending: Arc<AtomicUsize>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        if batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match receiver.try_recv() {
                    Ok(entry) => batch.push(entry),
                    Err(_) => break,
                }
            }
        }
        write_with_retries(&db, &batch, &dropped).await;
        pending.fetch_sub(batch.len(), Ordering::Release);
        batch.clear();
    }
}

/// Writes a batch, retrying a failed write (a busy database, a lost connection) with
/// back-off; only a batch that fails every attempt is dropped, and counted.
pub async fn write_with_retries(db: &Db, batch: &[Entry], dropped: &Counter) {
    for attempt in 1..=WRITE_ATTEMPTS {
        match write_batch(db, batch).await {
            Ok(()) => return,
            Err(err) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(error = %err, attempt, entries = batch.len(), "request log write failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(
                    (100 * 4u64.saturating_pow(attempt - 1)).min(MAX_BACKOFF_MS),
                ))
                .await;
            }
            Err(err) => {
                dropped.inc_by(batch.len() as u64);
                tracing::error!(error = %err, entries = batch.len(), "could not write the request log: entries dropped");
            }
        }
    }
}

/// Rows per INSERT statement: 9 parameters each (SQLite's limit is 32,766).
const ROWS_PER_INSERT: usize = 100;

/// Columns of one request-log row.
const COLUMNS: usize = 9;

/// `INSERT INTO request_log … VALUES (…), (…), …` for `rows` rows. On SQLite the
/// placeholders are anonymous (`?`): sqlx asks SQLite for every parameter's name, and
/// `sqlite3_bind_parameter_name` scans the statement's list of named parameters, so
/// with `$n` the binding cost grew with the square of the parameters (7-8 % of the
/// server's CPU under token load at 100 rows, 2.6 % at 25). Anonymous parameters
/// have no name to scan for. PostgreSQL numbers them (`$1` …).
fn insert_statement(rows: usize, backend: Backend) -> String {
    let mut sql = String::from(
        "INSERT INTO request_log (id, app_id, at, method, endpoint, status, latency_us, error, source) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..COLUMNS {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * COLUMNS + column + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// The statement for a full chunk, built once per backend.
static FULL_INSERT: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
    [
        insert_statement(ROWS_PER_INSERT, Backend::Sqlite),
        insert_statement(ROWS_PER_INSERT, Backend::Postgres),
    ]
});

/// Writes `entries` as request-log rows in `tx`, [`ROWS_PER_INSERT`] to a
/// statement: the log's one writer (the batch writer below, and the demo's history).
pub(crate) async fn insert_rows(tx: &mut Tx, backend: Backend, entries: &[Entry]) -> Result<()> {
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let partial;
        let sql = if chunk.len() == ROWS_PER_INSERT {
            &FULL_INSERT[usize::from(backend == Backend::Postgres)]
        } else {
            partial = insert_statement(chunk.len(), backend);
            &partial
        };
        // A partial chunk's statement (any of 99 lengths) is not kept prepared: it
        // would push the hot queries out of the connection's statement cache.
        let mut query = sqlx::query(sql).persistent(chunk.len() == ROWS_PER_INSERT);
        for entry in chunk {
            query = query
                .bind(ids::new_id(ids::REQUEST))
                .bind(&entry.app_id)
                .bind(entry.at)
                .bind(entry.method)
                .bind(&entry.endpoint)
                .bind(i64::from(entry.status))
                .bind(entry.latency_us)
                .bind(&entry.error)
                .bind(&entry.source);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn write_batch(db: &Db, batch: &[Entry]) -> Result<()> {
    let mut tx = db.begin().await?;
    insert_rows(&mut tx, db.backend, batch).await?;
    // (credential, is a token request) → the latest successful use in this batch.
    let mut last_used: HashMap<(&str, bool), i64> = HashMap::new();
    // (app, scope, call or token) → the latest use of the scope in this batch.
    let mut scope_used: HashMap<(&str, &str, &str), i64> = HashMap::new();
    for entry in batch {
        if let Some(credential) = &entry.credential_id {
            if entry.status < 400 {
                let token = entry.endpoint.ends_with(super::paths::TOKEN);
                // Other OAuth endpoints (PAR, introspection, revocation) are
                // neither a token request nor an API call.
                if token || !entry.endpoint.contains("/oauth/") {
                    let latest = last_used.entry((credential, token)).or_insert(entry.at);
                    *latest = (*latest).max(entry.at);
                }
                let scopes = match (&entry.scope, scope_of(&entry.endpoint)) {
                    (Some(granted), _) if token => granted
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(|s| (s, "token"))
                        .collect(),
                    (_, Some(scope)) => vec![(scope, "call")],
                    _ => Vec::new(),
                };
                for (scope, kind) in scopes {
                    let latest = scope_used
                        .entry((&entry.app_id, scope, kind))
                        .or_insert(entry.at);
                    *latest = (*latest).max(entry.at);
                }
            }
        }
    }
    for ((credential, token), at) in last_used {
        let sql = if token {
            "UPDATE credentials SET last_token_at = $1 WHERE id = $2 AND (last_token_at IS NULL OR last_token_at < $1)"
        } else {
            "UPDATE credentials SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)"
        };
        sqlx::query(sql)
            .bind(at)
            .bind(credential)
            .execute(&mut *tx)
            .await?;
    }
    for ((app_id, scope, kind), at) in scope_used {
        sqlx::query(
            "INSERT INTO scope_use (app_id, scope, kind, last_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (app_id, scope, kind) DO UPDATE SET last_at = excluded.last_at \
             WHERE scope_use.last_at < excluded.last_at",
        )
        .bind(app_id)
        .bind(scope)
        .bind(kind)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One row of the request log page.
#[derive(Clone, Debug, Serialize)]
pub struct LogRow {
    pub at: i64,
    pub method: String,
    pub endpoint: String,
    pub status: i64,
    pub latency_us: i64,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `2xx`, `4xx`, `5xx` or empty for all.
    pub status_class: String,
    /// A substring of the endpoint.
    pub endpoint: String,
}

/// The newest entries of an app (the caller has checked the app is the viewer's).
pub async fn list(db: &Db, app_id: &str, filter: &Filter, limit: i64) -> Result<Vec<LogRow>> {
    let (low, high) = match filter.status_class.as_str() {
        "2xx" => (200, 299),
        "3xx" => (300, 399),
        "4xx" => (400, 499),
        "5xx" => (500, 599),
        _ => (0, 999),
    };
    let rows = sqlx::query(
        "SELECT at, method, endpoint, status, latency_us, error FROM request_log \
         WHERE app_id = $1 AND status BETWEEN $2 AND $3 AND endpoint LIKE $4 \
         ORDER BY at DESC, id DESC LIMIT $5",
    )
    .bind(app_id)
    .bind(low)
    .bind(high)
    .bind(format!("%{}%", filter.endpoint.replace(['%', '_'], "")))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(LogRow {
                at: row.try_get("at")?,
                method: row.try_get("method")?,
                endpoint: row.try_get("endpoint")?,
                status: row.try_get("status")?,
                latency_us: row.try_get("latency_us")?,
                error: row.try_get("error")?,
            })
        })
        .collect()
}
