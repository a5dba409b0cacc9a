//! One code path for SQLite and PostgreSQL: `sqlx::Any` with portable SQL (`$1`
//! placeholders work on both), one migration folder per backend.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyQueryResult};
use sqlx::{Any, AnyPool, Executor, Transaction};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    pub url: String,
}

pub type Tx = Transaction<'static, Any>;

impl Db {
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(sqlx::Error::Configuration(
                "DATABASE_URL must start with sqlite: or postgres://".into(),
            ));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers work beside the single writer; foreign keys are
                        // off by default in SQLite; writers wait rather than fail at once.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        // FULL, not NORMAL: in WAL mode NORMAL may lose the last
                        // acknowledged commits on power loss (a revocation the user was
                        // told succeeded, audit events). A system of record syncs every
                        // commit. Cost: bench/sqlite-synchronous.sh, BENCHMARKS.md.
                        conn.execute("PRAGMA synchronous = FULL").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            backend,
            url: url.to_string(),
        })
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self.backend {
            Backend::Sqlite => {
                // SQLite changes a table's constraints by rebuilding it, and its
                // documented procedure needs foreign keys off: the migrations run on
                // one connection with them off (each in its transaction), on again
                // after.
                let mut conn = self.pool.acquire().await?;
                conn.execute("PRAGMA foreign_keys = OFF").await?;
                let result = sqlx::migrate!("../migrations/sqlite").run(&mut *conn).await;
                // Nothing the rebuilds did may leave a dangling reference.
                let checked = async {
                    let dangling = sqlx::query("PRAGMA foreign_key_check")
                        .fetch_all(&mut *conn)
                        .await?;
                    if !dangling.is_empty() {
                        return Err(sqlx::Error::Configuration(
                            format!(
                                "{} rows with dangling foreign keys after migrating",
                                dangling.len()
                            )
                            .into(),
                        ));
                    }
                    conn.execute("PRAGMA foreign_keys = ON").await.map(|_| ())
                }
                .await;
                if result.is_err() || checked.is_err() {
                    // Never back into the pool with foreign keys off.
                    drop(conn.detach());
                }
                result?;
                checked.map_err(sqlx::migrate::MigrateError::Execute)
            }
            Backend::Postgres => {
                sqlx::migrate!("../migrations/postgres")
                    .run(&self.pool)
                    .await
            }
        }
    }

    /// Starts a read-write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes can fail
    /// with SQLITE_BUSY when another writer committed in between.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_: AnyQueryResult| ())
    }
}

/// Whether an error is a unique-constraint violation (a duplicate).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Reads a small fact from the `settings` table.
pub async fn get_setting<'e, E>(db: E, key: &str) -> Result<Option<String>, sqlx::Error>
where
    E: Executor<'e, Database = Any>,
{
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(db)
        .await
}

pub async fn set_setting(tx: &mut Tx, key: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
