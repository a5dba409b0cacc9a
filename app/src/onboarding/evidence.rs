//! Evidence files: checked by their bytes (PDF, PNG or JPEG only, whatever the name
//! says), limited in size, hashed (SHA-256), and kept in an object store — the local
//! filesystem by default, S3-compatible storage when configured. Only the uploading
//! organisation and bank staff can read them back.

use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::model::{self, EvidenceFacts, EvidenceKind};
use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

pub use crate::platform::object_store::{open_store, Store};

/// The media type of a file, read from its first bytes; only PDF, PNG and JPEG pass.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    match infer::get(bytes)?.mime_type() {
        "application/pdf" => Some("application/pdf"),
        "image/png" => Some("image/png"),
        "image/jpeg" => Some("image/jpeg"),
        _ => None,
    }
}

/// An upload as the form sends it.
#[derive(Default)]
pub struct Upload {
    pub kind: String,
    pub issued_on: String,
    pub expires_on: String,
    pub filename: String,
    pub bytes: bytes::Bytes,
    /// The form asks to use the file kept from the attempt before (no new file).
    pub use_kept: bool,
}

/// One stored file.
#[derive(Clone, Debug)]
pub struct Evidence {
    pub id: String,
    pub org_id: String,
    pub kind: EvidenceKind,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub object_key: String,
    pub issued_on: String,
    pub expires_on: String,
    pub uploaded_at: i64,
}

impl Evidence {
    pub fn facts(&self) -> EvidenceFacts {
        EvidenceFacts {
            id: self.id.clone(),
            kind: self.kind,
            issued_on: self.issued_on.clone(),
            expires_on: self.expires_on.clone(),
        }
    }
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    i64,
);

const COLUMNS: &str = "id, org_id, kind, filename, content_type, size_bytes, sha256, object_key, issued_on, expires_on, uploaded_at";

fn of(row: Row) -> Result<Evidence> {
    let (
        id,
        org_id,
        kind,
        filename,
        content_type,
        size_bytes,
        sha256,
        object_key,
        issued_on,
        expires_on,
        uploaded_at,
    ) = row;
    Ok(Evidence {
        kind: EvidenceKind::parse(&kind)
            .ok_or_else(|| Error::Internal(format!("evidence kind {kind}")))?,
        id,
        org_id,
        filename,
        content_type,
        size_bytes,
        sha256,
        object_key,
        issued_on,
        expires_on,
        uploaded_at,
    })
}

/// The organisation's current evidence (not removed), newest first.
pub async fn list(state: &AppState, org_id: &str) -> Result<Vec<Evidence>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM evidence WHERE org_id = $1 AND removed_at IS NULL ORDER BY uploaded_at DESC, id DESC"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.into_iter().map(of).collect()
}

/// One file, for its organisation (`Some(org)`) or for bank staff (`None`). Removed
/// files stay readable: a dossier may cite them.
pub async fn get(state: &AppState, org_id: Option<&str>, id: &str) -> Result<Evidence> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM evidence WHERE id = $1 AND ($2 IS NULL OR org_id = $2)"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.map(of).ok_or(Error::NotFound)?
}

/// Today's date by the application's clock: evidence validity is counted in days.
pub fn today(clock: &crate::platform::time::Clock) -> time::Date {
    time::OffsetDateTime::from_unix_timestamp(clock.now())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// Checks and stores an upload. Nothing is written unless every check passes; the
/// object is written first and removed again if the database refuses the row.
pub async fn upload(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    upload: Upload,
) -> Result<String> {
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let mut invalid = Invalid::new();
    let kind = EvidenceKind::parse(&upload.kind);
    if kind.is_none() {
        invalid.add("kind", "Choose the type of evidence.");
    }
    let today = today(&state.clock);
    let issued = model::parse_date(upload.issued_on.trim());
    match issued {
        None => invalid.add(
            "issued_on",
            "Enter the issue date as a real date, for example 2026-03-31 or 31/03/2026.",
        ),
        Some(date) if date > today => {
            invalid.add("issued_on", "The issue date cannot be in the future.")
        }
        Some(_) => {}
    }
    let needs_expiry = kind.is_none_or(EvidenceKind::expires);
    match model::parse_date(upload.expires_on.trim()) {
        None if upload.expires_on.trim().is_empty() && !needs_expiry => {}
        None if upload.expires_on.trim().is_empty() => invalid.add(
            "expires_on",
            "Enter the expiry date: certificates and test reports carry one.",
        ),
        None => invalid.add(
            "expires_on",
            "Enter the expiry date as a real date, for example 2027-03-31 or 31/03/2027.",
        ),
        Some(date) if date <= today => invalid.add(
            "expires_on",
            "The expiry date must be in the future: this document has expired.",
        ),
        Some(date) if issued.is_some_and(|i| date <= i) => invalid.add(
            "expires_on",
            "The expiry date must be after the issue date.",
        ),
        Some(_) => {}
    }
    let filename: String = upload
        .filename
        .chars()
        .filter(|c| !c.is_control() && *c != '/' && *c != '\\' && *c != '"')
        .take(200)
        .collect();
    if upload.bytes.is_empty() {
        invalid.add("file", "Choose a file: the file is empty or missing.");
    }
    invalid.into_result()?;
    if upload.bytes.len() > state.settings.evidence_max_bytes {
        return Err(Error::PayloadTooLarge(format!(
            "The file is larger than {} MB.",
            state.settings.evidence_max_bytes / (1024 * 1024)
        )));
    }
    let Some(content_type) = sniff(&upload.bytes) else {
        return Err(Error::UnsupportedMediaType(
            "The file must be a PDF, PNG or JPEG. Its contents are not one of those, whatever its name says.".into(),
        ));
    };
    let Some(kind) = kind else {
        return Err(Error::internal("kind checked above"));
    };
    let id = ids::new_id(ids::EVIDENCE);
    let sha256 = hex::encode(Sha256::digest(&upload.bytes));
    let size = upload.bytes.len() as i64;
    let key = format!("evidence/{org_id}/{id}");
    let path = ObjectPath::from(key.as_str());
    state
        .evidence
        .put(&path, upload.bytes.into())
        .await
        .map_err(Error::internal)?;
    let written = async {
        let mut tx = state.db.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO evidence ({COLUMNS}, uploaded_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&id)
        .bind(org_id)
        .bind(kind.as_str())
        .bind(if filename.is_empty() { "upload".to_string() } else { filename.clone() })
        .bind(content_type)
        .bind(size)
        .bind(&sha256)
        .bind(&key)
        // Stored as YYYY-MM-DD whichever way it was typed; no expiry is empty.
        .bind(issued.map(crate::platform::time::iso_day).unwrap_or_default())
        .bind(
            model::parse_date(upload.expires_on.trim())
                .map(crate::platform::time::iso_day)
                .unwrap_or_default(),
        )
        .bind(state.clock.now())
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            Event::new(user.actor(), "onboarding.evidence_uploaded")
                .client(client)
                .org(Some(org_id))
                .resource("evidence", &id)
                .details(json!({
                    "kind": kind.as_str(), "filename": filename, "content_type": content_type,
                    "size_bytes": size, "sha256": sha256,
                    "issued_on": upload.issued_on.trim(), "expires_on": upload.expires_on.trim(),
                })),
        )
        .await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    }
    .await;
    if let Err(err) = written {
        if let Err(cleanup) = state.evidence.delete(&path).await {
            tracing::error!(error = %cleanup, key, "could not remove an orphaned evidence object");
        }
        return Err(err);
    }
    Ok(id)
}

/// Removes a file from the organisation's current evidence. The row and the object
/// stay, because a submitted dossier may cite them.
pub async fn remove(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    id: &str,
) -> Result<()> {
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let mut tx = state.db.begin().await?;
    // Evidence an approved tier relies on (accepted by a reviewer, or uploaded before
    // the approval) stays: the bank's decision cites it, and removing an expired
    // document must not end the suspension its expiry caused. A renewal replaces it
    // once a reviewer accepts the new document.
    let relied_on: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM evidence e WHERE e.id = $1 AND e.org_id = $2 AND e.removed_at IS NULL \
         AND (e.accepted_at IS NOT NULL OR e.uploaded_at <= (SELECT MAX(t.approved_at) FROM tier_approvals t WHERE t.org_id = e.org_id))",
    )
    .bind(id)
    .bind(org_id)
    .fetch_optional(&mut *tx)
    .await?;
    if relied_on.is_some() {
        return Err(Error::Conflict(
            "The bank relies on this document for your approved tier, so it cannot be removed. Upload its renewal instead: a reviewer accepts it.".into(),
        ));
    }
    let done = sqlx::query(
        "UPDATE evidence SET removed_at = $1 WHERE id = $2 AND org_id = $3 AND removed_at IS NULL",
    )
    .bind(state.clock.now())
    .bind(id)
    .bind(org_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    audit::record(
        &mut tx,
        Event::new(user.actor(), "onboarding.evidence_removed")
            .client(client)
            .org(Some(org_id))
            .resource("evidence", id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Where a person's kept file lies: one per person, replaced by the next.
fn kept_path(user: &AuthUser) -> Option<ObjectPath> {
    let org = user.org_id.as_deref()?;
    Some(ObjectPath::from(
        format!("pending/{org}/{}", user.id).as_str(),
    ))
}

/// Keeps the file of an upload whose other fields were refused, so the person need
/// not choose it again: only a file that would itself be accepted (size, type).
/// True when kept.
pub async fn keep(state: &AppState, user: &AuthUser, bytes: &bytes::Bytes) -> Result<bool> {
    let Some(path) = kept_path(user) else {
        return Ok(false);
    };
    if bytes.is_empty() || bytes.len() > state.settings.evidence_max_bytes || sniff(bytes).is_none()
    {
        return Ok(false);
    }
    state
        .evidence
        .put(&path, bytes.clone().into())
        .await
        .map_err(Error::internal)?;
    Ok(true)
}

/// The person's kept file, if any.
pub async fn kept(state: &AppState, user: &AuthUser) -> Result<Option<bytes::Bytes>> {
    let Some(path) = kept_path(user) else {
        return Ok(None);
    };
    match state.evidence.get(&path).await {
        Ok(object) => Ok(Some(object.bytes().await.map_err(Error::internal)?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(Error::internal(err)),
    }
}

/// Forgets the person's kept file (used, or replaced by a new choice).
pub async fn drop_kept(state: &AppState, user: &AuthUser) -> Result<()> {
    let Some(path) = kept_path(user) else {
        return Ok(());
    };
    match state.evidence.delete(&path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(err) => Err(Error::internal(err)),
    }
}

/// The file's bytes.
pub async fn read(state: &AppState, evidence: &Evidence) -> Result<bytes::Bytes> {
    let path = ObjectPath::from(evidence.object_key.as_str());
    let object = match state.evidence.get(&path).await {
        Ok(object) => object,
        // Purged at the end of an offboarded organisation's retention.
        Err(object_store::Error::NotFound { .. }) => return Err(Error::NotFound),
        Err(err) => return Err(Error::internal(err)),
    };
    object.bytes().await.map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn files_are_judged_by_their_bytes() {
        assert_eq!(
            sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"),
            Some("application/pdf")
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0"), Some("image/jpeg"));
        assert_eq!(sniff(b"<html><body>not a pdf</body></html>"), None);
        assert_eq!(sniff(b"PK\x03\x04 a zip file"), None);
        assert_eq!(sniff(b""), None);
    }
}
