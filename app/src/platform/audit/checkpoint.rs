//! Signed checkpoints of the audit chain's head, kept outside the database.
//!
//! The keyed chain stops anyone without the key from rewriting events, but someone
//! who can write to the database can still cut off the newest events and set the head
//! back to an earlier (genuine) event, and the chain alone cannot tell. So the
//! scheduler signs the head periodically (Ed25519, under a key derived from the master
//! secret) and writes the checkpoint where the database's writer cannot reach it: a
//! JSON-lines file (`--audit-checkpoint-file`), the object store (next to the evidence
//! files, `audit-checkpoints/`), and the logs. `gatehouse audit verify --checkpoints
//! FILE` checks every checkpoint's signature and that the chain still holds the event
//! it names, with the same hash.
//!
//! Several instances on one database take turns: a checkpoint is written only by the
//! instance that wins the claim on `settings` (a compare-and-set), so the same head is
//! never checkpointed twice.

use std::io::Write;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, Verifier};
use serde::{Deserialize, Serialize};

use super::keyring;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

/// The claim several instances compete for.
const LAST: &str = "audit.last_checkpoint";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub install_id: String,
    pub seq: i64,
    pub hash: String,
    pub keyed_from: i64,
    pub at: i64,
    /// Ed25519 over [`Checkpoint::payload`], base64url.
    pub signature: String,
}

impl Checkpoint {
    fn payload(&self) -> String {
        format!(
            "gatehouse-audit-checkpoint-v1\n{}\n{}\n{}\n{}\n{}",
            self.install_id, self.seq, self.hash, self.keyed_from, self.at
        )
    }
}

/// The chain's head as it is now: (seq, hash, install_id, keyed_from).
async fn head(db: &crate::platform::db::Db) -> Result<(i64, String, String, i64)> {
    Ok(
        sqlx::query_as("SELECT seq, hash, install_id, keyed_from FROM audit_head WHERE id = 1")
            .fetch_one(&db.pool)
            .await?,
    )
}

/// The head, signed.
fn sign(
    (seq, hash, install_id, keyed_from): (i64, String, String, i64),
    at: i64,
) -> Result<Checkpoint> {
    let keys = keyring::get(&install_id)?;
    let mut checkpoint = Checkpoint {
        install_id,
        seq,
        hash,
        keyed_from,
        at,
        signature: String::new(),
    };
    let signature = keys.checkpoint.sign(checkpoint.payload().as_bytes());
    checkpoint.signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
    Ok(checkpoint)
}

/// Writes a checkpoint when the head moved since the last one and `interval` seconds
/// have passed, unless another instance just did. Returns what it wrote.
pub async fn write_if_due(state: &AppState, now: i64, interval: i64) -> Result<Option<Checkpoint>> {
    let last: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(LAST)
        .fetch_optional(&state.db.pool)
        .await?;
    let previous = last
        .as_deref()
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok());
    let head = head(&state.db).await?;
    if let Some(previous) = &previous {
        let (seq, at) = (previous["seq"].as_i64(), previous["at"].as_i64());
        if seq == Some(head.0) || at.is_some_and(|at| now - at < interval) {
            return Ok(None);
        }
    }
    let checkpoint = sign(head, now)?;
    let claim = serde_json::json!({ "seq": checkpoint.seq, "at": now }).to_string();
    let won = match &last {
        None => sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(LAST)
        .bind(&claim)
        .execute(&state.db.pool)
        .await?
        .rows_affected(),
        Some(old) => sqlx::query("UPDATE settings SET value = $1 WHERE key = $2 AND value = $3")
            .bind(&claim)
            .bind(LAST)
            .bind(old)
            .execute(&state.db.pool)
            .await?
            .rows_affected(),
    };
    if won != 1 {
        return Ok(None);
    }
    export(state, &checkpoint).await?;
    Ok(Some(checkpoint))
}

/// The file, the object store and the log.
async fn export(state: &AppState, checkpoint: &Checkpoint) -> Result<()> {
    let line = serde_json::to_string(checkpoint).map_err(Error::internal)?;
    tracing::info!(target: "gatehouse::audit::checkpoint", checkpoint = %line, "audit checkpoint");
    let path = state.settings.audit_checkpoint_path();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::Internal(format!("cannot open {}: {e}", path.display())))?;
    writeln!(file, "{line}").map_err(Error::internal)?;
    file.sync_all().map_err(Error::internal)?;
    let key = object_store::path::Path::from(format!(
        "audit-checkpoints/{}-{:012}.json",
        checkpoint.install_id, checkpoint.seq
    ));
    state
        .evidence
        .put(&key, line.into_bytes().into())
        .await
        .map_err(Error::internal)?;
    Ok(())
}

/// What checking checkpoints found.
#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    /// Every checkpoint holds.
    Hold { checkpoints: usize },
    /// The first that does not, by line number (from 1), and why.
    Fails { line: usize, reason: String },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hold { checkpoints } => {
                write!(f, "audit checkpoints hold: {checkpoints} checked")
            }
            Self::Fails { line, reason } => {
                write!(f, "audit checkpoint on line {line} fails: {reason}")
            }
        }
    }
}

/// Checks every checkpoint in `text` (JSON lines) against the chain in `db`.
pub async fn check(db: &crate::platform::db::Db, text: &str) -> Result<Finding> {
    let (head, _, install_id, keyed_from) = head(db).await?;
    let verifying = keyring::get(&install_id)?.verifying_key();
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fails = |reason: &str| Finding::Fails {
            line: n + 1,
            reason: reason.to_string(),
        };
        let Ok(checkpoint) = serde_json::from_str::<Checkpoint>(line) else {
            return Ok(fails("not a checkpoint"));
        };
        let signature = URL_SAFE_NO_PAD
            .decode(&checkpoint.signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok());
        let signed = signature.is_some_and(|s| {
            verifying
                .verify(checkpoint.payload().as_bytes(), &s)
                .is_ok()
        });
        if !signed {
            return Ok(fails("its signature does not verify: it was not written by this installation, or was altered"));
        }
        if checkpoint.install_id != install_id {
            return Ok(fails("it is of another installation's chain"));
        }
        if checkpoint.keyed_from != keyed_from {
            return Ok(fails(
                "the chain's keyed_from was changed since: older events were made to look unkeyed",
            ));
        }
        if checkpoint.seq > head {
            return Ok(fails(&format!(
                "it signed event {} but the chain now ends at {head}: the newest events were cut off and the head set back",
                checkpoint.seq
            )));
        }
        let hash: Option<String> =
            sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = $1")
                .bind(checkpoint.seq)
                .fetch_optional(&db.pool)
                .await?;
        if checkpoint.seq > 0 && hash.as_deref() != Some(checkpoint.hash.as_str()) {
            return Ok(fails(&format!(
                "event {} no longer has the hash the checkpoint signed: the chain was rewritten",
                checkpoint.seq
            )));
        }
        count += 1;
    }
    Ok(Finding::Hold { checkpoints: count })
}
