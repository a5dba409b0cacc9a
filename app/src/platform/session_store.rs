//! Sessions live in the same database as everything else, through the
//! `tower-sessions-sqlx-store` stores. Those take typed pools, so this picks the
//! store for the configured backend and dispatches to it.

use std::str::FromStr;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use super::error::{Error, Result};

/// The store of the configured backend, with its pool for the ended-session markers.
#[derive(Clone, Debug)]
pub enum SessionBackend {
    Sqlite(SqliteStore, SqlitePool),
    Postgres(PostgresStore, PgPool),
}

/// How long an ended session id is remembered: longer than any session can live
/// (the absolute lifetime is configured in hours; two days covers any setting in use).
const ENDED_RETENTION_SECONDS: i64 = 48 * 3600;

fn id_hash(id: &Id) -> String {
    hex::encode(Sha256::digest(id.to_string().as_bytes()))
}

impl SessionBackend {
    pub async fn connect(url: &str) -> Result<Self> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await?;
            let store = SqliteStore::new(pool.clone());
            store.migrate().await?;
            Self::Sqlite(store, pool)
        } else {
            let pool = PgPoolOptions::new().max_connections(4).connect(url).await?;
            let store = PostgresStore::new(pool.clone());
            store.migrate().await?;
            Self::Postgres(store, pool)
        };
        Ok(store)
    }

    pub async fn delete_expired_sessions(&self) -> Result<()> {
        match self {
            Self::Sqlite(store, _) => store.delete_expired().await,
            Self::Postgres(store, _) => store.delete_expired().await,
        }
        .map_err(Error::internal)?;
        let before = super::time::now() - ENDED_RETENTION_SECONDS;
        let sql = "DELETE FROM ended_sessions WHERE ended_at < $1";
        match self {
            Self::Sqlite(_, pool) => sqlx::query(sql)
                .bind(before)
                .execute(pool)
                .await
                .map(|_| ()),
            Self::Postgres(_, pool) => sqlx::query(sql)
                .bind(before)
                .execute(pool)
                .await
                .map(|_| ()),
        }?;
        Ok(())
    }

    async fn mark_ended(&self, id: &Id) -> session_store::Result<()> {
        let sql = "INSERT INTO ended_sessions (id_sha256, ended_at) VALUES ($1, $2) \
                   ON CONFLICT (id_sha256) DO NOTHING";
        let (hash, now) = (id_hash(id), super::time::now());
        match self {
            Self::Sqlite(_, pool) => sqlx::query(sql)
                .bind(hash)
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ()),
            Self::Postgres(_, pool) => sqlx::query(sql)
                .bind(hash)
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ()),
        }
        .map_err(backend_error)
    }

    async fn is_ended(&self, id: &Id) -> session_store::Result<bool> {
        let sql = "SELECT COUNT(*) FROM ended_sessions WHERE id_sha256 = $1";
        let hash = id_hash(id);
        let count: i64 = match self {
            Self::Sqlite(_, pool) => sqlx::query_scalar(sql).bind(hash).fetch_one(pool).await,
            Self::Postgres(_, pool) => sqlx::query_scalar(sql).bind(hash).fetch_one(pool).await,
        }
        .map_err(backend_error)?;
        Ok(count > 0)
    }

    async fn delete_record(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store, _) => store.delete(id).await,
            Self::Postgres(store, _) => store.delete(id).await,
        }
    }
}

/// A query's error as the session store reports it (text only), marked when it says
/// the database is away, so that the request gets 503 rather than 500.
fn backend_error(err: sqlx::Error) -> session_store::Error {
    if super::error::unavailable(&err) {
        session_store::Error::Backend(format!("{}{err}", super::error::UNAVAILABLE))
    } else {
        session_store::Error::Backend(err.to_string())
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(store, _) => store.create(record).await,
            Self::Postgres(store, _) => store.create(record).await,
        }
    }

    /// Saves, unless the id was ended. The check comes after the write, and `delete`
    /// marks before it deletes: whichever order a request in flight and a sign-out
    /// interleave in, the ended session is gone at the end.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        if self.is_ended(&record.id).await? {
            return Ok(());
        }
        match self {
            Self::Sqlite(store, _) => store.save(record).await,
            Self::Postgres(store, _) => store.save(record).await,
        }?;
        if self.is_ended(&record.id).await? {
            self.delete_record(&record.id).await?;
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if self.is_ended(id).await? {
            return Ok(None);
        }
        match self {
            Self::Sqlite(store, _) => store.load(id).await,
            Self::Postgres(store, _) => store.load(id).await,
        }
    }

    /// Ends a session for good: sign-out (`flush`) and a cycled id both come here.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.mark_ended(id).await?;
        self.delete_record(id).await
    }
}
