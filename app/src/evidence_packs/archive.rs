//! Each evidence pack is also written to the installation's object store, as the same
//! file `gatehouse evidence export` writes (`evidence-packs/{id}.json`), so a bank that
//! keeps its files on S3-compatible storage (with object lock, say) holds every pack
//! there as well as in the database. Packs are signed inside the transaction of what
//! they record; the copy is made once that transaction is committed, by the
//! `evidence_packs_archive` job, which retries a pack until the store has it.

use serde_json::json;

use crate::platform::error::{Error, Result};
use crate::platform::scheduler::Job;
use crate::platform::state::AppState;

/// Packs copied per run; the rest wait for the next minute.
const BATCH: i64 = 100;

/// Where a pack's copy is kept in the object store.
pub fn key(pack_id: &str) -> object_store::path::Path {
    object_store::path::Path::from(format!("evidence-packs/{pack_id}.json"))
}

/// Copies the packs not yet in the object store there; returns how many.
pub async fn run(state: &AppState, now: i64) -> Result<u64> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM evidence_packs WHERE archived_at IS NULL ORDER BY created_at, id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&state.db.pool)
    .await?;
    let mut archived = 0;
    for id in ids {
        let file = super::file(&state.db, &id).await?;
        state
            .evidence
            .put(&key(&id), file.into_bytes().into())
            .await
            .map_err(|e| Error::Internal(format!("cannot store evidence pack {id}: {e}")))?;
        archived += sqlx::query(
            "UPDATE evidence_packs SET archived_at = $1 WHERE id = $2 AND archived_at IS NULL",
        )
        .bind(now)
        .bind(&id)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
    }
    Ok(archived)
}

pub fn jobs() -> Vec<Job> {
    vec![crate::job!(
        "evidence_packs_archive",
        60,
        |state: AppState, now| async move {
            let archived = run(&state, now).await?;
            Ok(json!({ "archived": archived }))
        }
    )]
}
