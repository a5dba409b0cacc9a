//! Each organisation's sandbox dataset: a seed in the database and the generated
//! [`Dataset`] cached in memory (generation is cheap, but each account caches its
//! end-of-day balances, which are worth keeping). A reset draws a new seed, deletes the
//! organisation's sandbox payments and revokes its account-access consents, whose
//! account ids no longer exist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::RngCore;
use sandbox_data::Dataset;

use crate::platform::db::Db;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

impl AppState {
    /// Each organisation's synthetic sandbox dataset, cached.
    pub fn datasets(&self) -> &Datasets {
        self.parts.get::<Datasets>()
    }
}

/// How many organisations' datasets stay in memory.
const CACHED: usize = 256;

#[derive(Default)]
pub struct Datasets {
    cache: Mutex<HashMap<String, Arc<Dataset>>>,
}

/// A seed that fits a signed BIGINT on both databases.
fn new_seed() -> i64 {
    (rand::thread_rng().next_u64() >> 1) as i64
}

impl Datasets {
    /// The sandbox's part of the state, with the OBIE schemas compiled once up front
    /// (so the first request does not pay for it, and a broken schema stops start-up).
    pub fn start() -> Result<Self> {
        super::schema::warm_up().map_err(Error::Internal)?;
        Ok(Self::default())
    }

    pub async fn for_org(&self, db: &Db, org_id: &str, now: i64) -> Result<Arc<Dataset>> {
        if let Some(found) = self.cache.lock().ok().and_then(|c| c.get(org_id).cloned()) {
            return Ok(found);
        }
        sqlx::query(
            "INSERT INTO sandbox_datasets (org_id, seed, created_at) VALUES ($1, $2, $3) ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(org_id)
        .bind(new_seed())
        .bind(now)
        .execute(&db.pool)
        .await?;
        let seed: i64 = sqlx::query_scalar("SELECT seed FROM sandbox_datasets WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(&db.pool)
            .await?;
        let dataset = Arc::new(Dataset::generate(seed as u64));
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHED {
                cache.clear();
            }
            cache.insert(org_id.to_string(), dataset.clone());
        }
        Ok(dataset)
    }

    /// Forgets every cached dataset, as a restart does (each is generated again from
    /// its seed on next use).
    pub fn forget_all(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// Gives the organisation a new seed; returns it.
    pub async fn reset(
        &self,
        tx: &mut crate::platform::db::Tx,
        org_id: &str,
        now: i64,
    ) -> Result<i64> {
        let seed = new_seed();
        sqlx::query(
            "INSERT INTO sandbox_datasets (org_id, seed, created_at, reset_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (org_id) DO UPDATE SET seed = $2, reset_at = $3",
        )
        .bind(org_id)
        .bind(seed)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM sandbox_payments WHERE org_id = $1")
            .bind(org_id)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "UPDATE ob_consents SET status = 'Revoked', status_updated_at = $2 \
             WHERE org_id = $1 AND kind = 'account-access' AND status IN ('AwaitingAuthorisation', 'Authorised')",
        )
        .bind(org_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE consents SET status = 'revoked', revoked_at = $2 WHERE org_id = $1 AND status = 'granted' AND intent_id IS NOT NULL",
        )
        .bind(org_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(seed)
    }

    /// Forgets the cached dataset (after a committed reset).
    pub fn forget(&self, org_id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(org_id);
        }
    }
}
