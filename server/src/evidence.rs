//! `gatehouse evidence list|export|verify`: the signed evidence packs.

use std::path::Path;

use app::evidence_packs::{self, Verification};
use app::platform::time;

/// One line per pack: id, kind, written, entries, title.
pub async fn evidence_list(settings: app::Settings) -> Result<String, String> {
    let state = crate::compose::state(settings)
        .await
        .map_err(|e| e.to_string())?;
    let packs = evidence_packs::list(&state.db)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    for p in packs {
        out.push_str(&format!(
            "{}\t{}\t{}\t{} entries\t{}\n",
            p.id,
            p.kind,
            time::rfc3339(p.created_at),
            p.entries,
            p.title
        ));
    }
    Ok(out)
}

/// Writes pack `id` to `out`.
pub async fn evidence_export(
    settings: app::Settings,
    id: &str,
    out: &Path,
) -> Result<String, String> {
    let state = crate::compose::state(settings)
        .await
        .map_err(|e| e.to_string())?;
    let file = crate::progress::Bar::around(
        &format!("Exporting evidence pack {id}"),
        evidence_packs::file(&state.db, id),
    )
    .await
    .map_err(|e| match e {
        app::platform::error::Error::NotFound => format!("no evidence pack {id}"),
        other => other.to_string(),
    })?;
    std::fs::write(out, file).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(format!("wrote evidence pack {id} to {}", out.display()))
}

/// Checks the pack at `path` against this installation's key and audit trail.
pub async fn evidence_verify(settings: app::Settings, path: &Path) -> Result<Verification, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let db = app::platform::db::Db::connect(&settings.effective_database_url())
        .await
        .map_err(|e| e.to_string())?;
    let keys =
        app::platform::crypto::Keys::load(settings.secret_key.as_deref(), &settings.data_dir)
            .map_err(|e| e.to_string())?;
    app::audit::keyring::load(&db, &keys)
        .await
        .map_err(|e| e.to_string())?;
    crate::progress::Bar::around(
        &format!("Verifying {}", path.display()),
        evidence_packs::verify(&db, &keys, &text),
    )
    .await
    .map_err(|e| e.to_string())
}
