//! The keys the audit chain is kept under, by installation.
//!
//! The chain's hashes are HMAC-SHA-256 under a key derived from the installation's
//! master secret, which is not in the database, and its checkpoints are signed with an
//! Ed25519 key derived from the same secret. Appending happens deep inside callers'
//! transactions, which carry no application state; the chain names its installation
//! (`audit_head.install_id`), and the keys are found here by that name. Every process
//! registers the keys of the databases it opens ([`load`]), so several test servers in
//! one process, each with its own database and secret, never mix them up.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::platform::crypto::Keys;
use crate::platform::db::Db;
use crate::platform::error::{Error, Result};

/// One installation's audit keys.
#[derive(Clone)]
pub struct AuditKeys {
    /// The chain's HMAC key.
    pub mac: [u8; 32],
    /// Signs checkpoints.
    pub checkpoint: SigningKey,
}

impl AuditKeys {
    pub fn from(keys: &Keys) -> Self {
        Self {
            mac: keys.audit_chain_key(),
            checkpoint: SigningKey::from_bytes(&keys.audit_checkpoint_seed()),
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.checkpoint.verifying_key()
    }
}

static KEYS: LazyLock<RwLock<HashMap<String, AuditKeys>>> = LazyLock::new(Default::default);

pub fn register(install_id: &str, keys: AuditKeys) {
    if let Ok(mut map) = KEYS.write() {
        map.insert(install_id.to_string(), keys);
    }
}

/// The keys of the chain named `install_id`.
pub fn get(install_id: &str) -> Result<AuditKeys> {
    KEYS.read()
        .ok()
        .and_then(|map| map.get(install_id).cloned())
        .ok_or_else(|| {
            Error::Internal(format!(
                "the audit chain {install_id} has no key loaded: start with the installation's secret key"
            ))
        })
}

/// Registers `keys` for the chain of `db`; returns its installation id.
pub async fn load(db: &Db, keys: &Keys) -> Result<String> {
    let install_id: String = sqlx::query_scalar("SELECT install_id FROM audit_head WHERE id = 1")
        .fetch_one(&db.pool)
        .await?;
    register(&install_id, AuditKeys::from(keys));
    Ok(install_id)
}
