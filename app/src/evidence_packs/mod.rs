//! Evidence packs: what an offboarding (or a finished review campaign) did, signed so
//! that anyone can check it later against the audit trail.
//!
//! A pack is one JSON file:
//! - `jws`: the manifest as a compact JWS (RFC 7515), EdDSA under the installation's
//!   evidence key (derived from the master secret; the public key is published at
//!   `/.well-known/gatehouse-evidence-keys` as a JWK set, RFC 7517);
//! - `manifest`: the same manifest, readable;
//! - `csv`: the same entries as CSV, whose SHA-256 the manifest carries.
//!
//! The manifest lists each identity or record the action ended, when, and the audit
//! event that records it with that event's hash, plus the audit chain's head (seq and
//! hash) when the pack was made. [`verify`] checks the signature, that the readable
//! manifest and the CSV are the signed ones, that every listed event is still in the
//! trail with the same hash, that the head is, and that the chain verifies: an edit to
//! the pack or to the trail is found and named.

pub mod archive;
pub mod handlers;
mod pages;

pub use archive::jobs;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::platform::crypto::Keys;
use crate::platform::db::{Db, Tx};
use crate::platform::error::{Error, Result};
use crate::platform::{ids, time};

pub const FORMAT: &str = "gatehouse-evidence-pack/v1";
const CSV_HEADER: [&str; 6] = [
    "kind",
    "target_id",
    "label",
    "done_at",
    "audit_event_id",
    "audit_hash",
];

/// One thing the action did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// `client`, `credential`, `refresh_tokens`, `member`, `access_request`, …
    pub kind: String,
    pub target_id: String,
    pub label: String,
    /// RFC 3339.
    pub done_at: String,
    pub audit_event_id: String,
    pub audit_hash: String,
}

/// What is signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub pack_id: String,
    /// `offboarding` or `campaign`.
    pub kind: String,
    pub subject_id: String,
    pub org_id: Option<String>,
    pub title: String,
    /// RFC 3339.
    pub created_at: String,
    /// The audit chain this pack refers to.
    pub install_id: String,
    pub audit_head_seq: i64,
    pub audit_head_hash: String,
    /// What the action was: who, why, its outcome (kind-specific).
    pub summary: Value,
    pub csv_sha256: String,
    pub entries: Vec<Entry>,
}

/// An entry to put in a pack; its audit hash is read when the pack is made.
pub struct NewEntry {
    pub kind: String,
    pub target_id: String,
    pub label: String,
    pub done_at: i64,
    pub audit_event_id: String,
}

/// The evidence key's public half as a JWK (RFC 8037), with its RFC 7638 thumbprint as `kid`.
pub fn public_jwk(keys: &Keys) -> Result<Value> {
    let signing = ed25519_dalek::SigningKey::from_bytes(&keys.evidence_pack_seed());
    let mut jwk = json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
    });
    let kid = crate::oauth::keys::thumbprint(&jwk)?;
    jwk["kid"] = Value::String(kid);
    jwk["use"] = Value::String("sig".into());
    jwk["alg"] = Value::String("EdDSA".into());
    Ok(jwk)
}

fn to_csv(entries: &[Entry]) -> Result<String> {
    let mut writer = crate::platform::csv::SafeCsvWriter::new(Vec::new());
    writer.write_record(CSV_HEADER).map_err(Error::internal)?;
    for e in entries {
        writer
            .write_record([
                &e.kind,
                &e.target_id,
                &e.label,
                &e.done_at,
                &e.audit_event_id,
                &e.audit_hash,
            ])
            .map_err(Error::internal)?;
    }
    let bytes = writer.into_inner().map_err(Error::internal)?;
    String::from_utf8(bytes).map_err(Error::internal)
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The hash of each listed event, read in the pack's own transaction.
async fn event_hashes(
    tx: &mut Tx,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, String>> {
    let mut found = std::collections::HashMap::new();
    for chunk in ids.chunks(200) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, hash FROM audit_events WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, (String, String)>(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        for (id, hash) in query.fetch_all(&mut **tx).await? {
            found.insert(id, hash);
        }
    }
    Ok(found)
}

/// What a new pack is of.
pub struct Subject<'a> {
    pub kind: &'a str,
    pub subject_id: &'a str,
    pub org_id: Option<&'a str>,
    pub title: &'a str,
    pub summary: Value,
}

/// Makes and stores the pack, inside the caller's transaction and after its last
/// audit event, so the head it names is the action's own completion.
pub async fn create(
    tx: &mut Tx,
    keys: &Keys,
    subject: Subject<'_>,
    entries: Vec<NewEntry>,
    now: i64,
) -> Result<String> {
    let event_ids: Vec<&str> = entries.iter().map(|e| e.audit_event_id.as_str()).collect();
    let hashes = event_hashes(tx, &event_ids).await?;
    let entries = entries
        .into_iter()
        .map(|e| {
            let audit_hash = hashes.get(&e.audit_event_id).cloned().ok_or_else(|| {
                Error::Internal(format!("audit event {} not found", e.audit_event_id))
            })?;
            Ok(Entry {
                kind: e.kind,
                target_id: e.target_id,
                label: e.label,
                done_at: time::rfc3339(e.done_at),
                audit_event_id: e.audit_event_id,
                audit_hash,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (seq, hash, install_id): (i64, String, String) =
        sqlx::query_as("SELECT seq, hash, install_id FROM audit_head WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?;
    let csv = to_csv(&entries)?;
    let id = ids::new_id("pack");
    let manifest = Manifest {
        format: FORMAT.into(),
        pack_id: id.clone(),
        kind: subject.kind.into(),
        subject_id: subject.subject_id.into(),
        org_id: subject.org_id.map(str::to_string),
        title: subject.title.into(),
        created_at: time::rfc3339(now),
        install_id,
        audit_head_seq: seq,
        audit_head_hash: hash,
        summary: subject.summary,
        csv_sha256: sha256_hex(&csv),
        entries,
    };
    let jws = sign(keys, &manifest)?;
    sqlx::query(
        "INSERT INTO evidence_packs (id, kind, subject_id, org_id, title, created_at, jws, csv) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(subject.kind)
    .bind(subject.subject_id)
    .bind(subject.org_id)
    .bind(subject.title)
    .bind(now)
    .bind(&jws)
    .bind(&csv)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

fn sign(keys: &Keys, manifest: &Manifest) -> Result<String> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let signing = ed25519_dalek::SigningKey::from_bytes(&keys.evidence_pack_seed());
    let der = signing.to_pkcs8_der().map_err(Error::internal)?;
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("gatehouse-evidence-pack+json".into());
    header.kid = public_jwk(keys)?["kid"].as_str().map(str::to_string);
    jsonwebtoken::encode(&header, manifest, &EncodingKey::from_ed_der(der.as_bytes()))
        .map_err(Error::internal)
}

/// A stored pack, as listed.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: String,
    pub kind: String,
    pub subject_id: String,
    pub org_id: Option<String>,
    pub title: String,
    pub created_at: i64,
    pub entries: usize,
}

fn payload(jws: &str) -> Result<Manifest> {
    let part = jws
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::Internal("a stored pack is not a compact JWS".into()))?;
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(Error::internal)?;
    serde_json::from_slice(&bytes).map_err(Error::internal)
}

type ListedRow = (String, String, String, Option<String>, String, i64, String);

/// Every pack, newest first.
pub async fn list(db: &Db) -> Result<Vec<Listed>> {
    let rows: Vec<ListedRow> = sqlx::query_as(
        "SELECT id, kind, subject_id, org_id, title, created_at, jws FROM evidence_packs \
             ORDER BY created_at DESC, id DESC",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.into_iter()
        .map(|(id, kind, subject_id, org_id, title, created_at, jws)| {
            Ok(Listed {
                entries: payload(&jws)?.entries.len(),
                id,
                kind,
                subject_id,
                org_id,
                title,
                created_at,
            })
        })
        .collect()
}

/// The pack file (see the module's doc), or `NotFound`.
pub async fn file(db: &Db, id: &str) -> Result<String> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT jws, csv FROM evidence_packs WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    let (jws, csv) = row.ok_or(Error::NotFound)?;
    let manifest = payload(&jws)?;
    serde_json::to_string_pretty(&json!({
        "format": FORMAT,
        "pack_id": manifest.pack_id,
        "jws": jws,
        "manifest": manifest,
        "csv": csv,
    }))
    .map_err(Error::internal)
}

/// The pack id of the offboarding or campaign `subject_id`, if it has one.
pub async fn of_subject(db: &Db, subject_id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM evidence_packs WHERE subject_id = $1")
            .bind(subject_id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// What [`verify`] found.
#[derive(Debug)]
pub struct Verification {
    pub pack_id: String,
    pub entries: usize,
    /// Empty when the pack verifies. Each names what does not hold.
    pub problems: Vec<String>,
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.problems.is_empty() {
            write!(
                f,
                "evidence pack {} verifies: signature, manifest, CSV, {} entries in the audit trail, and the chain up to its head",
                self.pack_id, self.entries
            )
        } else {
            writeln!(f, "evidence pack {} does NOT verify:", self.pack_id)?;
            for p in &self.problems {
                writeln!(f, "- {p}")?;
            }
            Ok(())
        }
    }
}

/// The first top-level member in which two manifests differ.
fn first_difference(signed: &Value, shown: &Value) -> String {
    let (Some(a), Some(b)) = (signed.as_object(), shown.as_object()) else {
        return "the manifest".into();
    };
    a.keys()
        .chain(b.keys())
        .find(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("`{k}`"))
        .unwrap_or_else(|| "the manifest".into())
}

/// Checks a pack file against the key and the audit trail of `db`.
pub async fn verify(db: &Db, keys: &Keys, text: &str) -> Result<Verification> {
    let file: Value = serde_json::from_str(text)
        .map_err(|e| Error::BadRequest(format!("not an evidence pack (JSON): {e}")))?;
    if file["format"] != FORMAT {
        return Err(Error::BadRequest(format!(
            "not an evidence pack: the format is not {FORMAT}"
        )));
    }
    let pack_id = file["pack_id"].as_str().unwrap_or_default().to_string();
    let mut problems = Vec::new();
    let jws = file["jws"].as_str().unwrap_or_default();
    let jwk = public_jwk(keys)?;
    let key = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap_or_default())
        .map_err(Error::internal)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let signed: Option<Value> = match jsonwebtoken::decode::<Value>(jws, &key, &validation) {
        Ok(data) => Some(data.claims),
        Err(err) => {
            problems.push(format!(
                "the signature does not verify ({err}): the signed manifest was changed, or not signed by this installation's evidence key"
            ));
            None
        }
    };
    // Without a valid signature, nothing else in the file can be trusted; the readable
    // manifest is still checked against the trail so the report says what else differs.
    let shown = &file["manifest"];
    if let Some(signed) = &signed {
        if signed != shown {
            problems.push(format!(
                "the readable manifest differs from the signed one in {}: the file was edited",
                first_difference(signed, shown)
            ));
        }
    }
    let manifest: Manifest = match serde_json::from_value(signed.unwrap_or_else(|| shown.clone())) {
        Ok(m) => m,
        Err(err) => {
            problems.push(format!("the manifest cannot be read: {err}"));
            return Ok(Verification {
                pack_id,
                entries: 0,
                problems,
            });
        }
    };
    let csv = file["csv"].as_str().unwrap_or_default();
    if sha256_hex(csv) != manifest.csv_sha256 {
        problems.push(
            "the CSV is not the one the manifest signs (its SHA-256 differs): the CSV was edited"
                .into(),
        );
    } else if to_csv(&manifest.entries)? != csv {
        problems.push("the CSV does not list the manifest's entries".into());
    }
    let install_id: String = sqlx::query_scalar("SELECT install_id FROM audit_head WHERE id = 1")
        .fetch_one(&db.pool)
        .await?;
    if install_id != manifest.install_id {
        problems.push(format!(
            "the pack refers to the audit chain {}, not this installation's ({install_id})",
            manifest.install_id
        ));
    }
    for entry in &manifest.entries {
        let hash: Option<String> =
            sqlx::query_scalar("SELECT hash FROM audit_events WHERE id = $1")
                .bind(&entry.audit_event_id)
                .fetch_optional(&db.pool)
                .await?;
        match hash {
            None => problems.push(format!(
                "audit event {} ({} {}) is missing from the trail: it was deleted",
                entry.audit_event_id, entry.kind, entry.target_id
            )),
            Some(h) if h != entry.audit_hash => problems.push(format!(
                "audit event {} ({} {}) no longer has the hash the pack recorded: it was edited",
                entry.audit_event_id, entry.kind, entry.target_id
            )),
            Some(_) => {}
        }
    }
    let head: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = $1")
        .bind(manifest.audit_head_seq)
        .fetch_optional(&db.pool)
        .await?;
    if head.as_deref() != Some(manifest.audit_head_hash.as_str()) {
        problems.push(format!(
            "the audit chain no longer holds the head the pack recorded (seq {}, hash {})",
            manifest.audit_head_seq, manifest.audit_head_hash
        ));
    }
    match crate::audit::chain::verify(&db.pool).await? {
        crate::audit::chain::Verdict::Intact { events } if events >= manifest.audit_head_seq => {}
        crate::audit::chain::Verdict::Intact { events } => problems.push(format!(
            "the audit chain has {events} events, fewer than the pack's head (seq {})",
            manifest.audit_head_seq
        )),
        verdict => problems.push(verdict.to_string()),
    }
    Ok(Verification {
        pack_id: manifest.pack_id,
        entries: manifest.entries.len(),
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_member() {
        let a = json!({"title": "x", "entries": [1]});
        let b = json!({"title": "x", "entries": [2]});
        assert_eq!(first_difference(&a, &b), "`entries`");
        assert_eq!(first_difference(&a, &a), "the manifest");
    }

    #[test]
    fn a_signed_manifest_decodes_with_the_published_key() {
        let keys = Keys::from_master(&[7u8; 32]);
        let manifest = Manifest {
            format: FORMAT.into(),
            pack_id: "pack_1".into(),
            kind: "offboarding".into(),
            subject_id: "off_1".into(),
            org_id: None,
            title: "t".into(),
            created_at: "2026-12-01T00:00:00Z".into(),
            install_id: "ins".into(),
            audit_head_seq: 3,
            audit_head_hash: "h".into(),
            summary: json!({}),
            csv_sha256: "c".into(),
            entries: vec![],
        };
        let jws = sign(&keys, &manifest).unwrap_or_default();
        assert_eq!(payload(&jws).ok(), Some(manifest));
        let jwk = public_jwk(&keys).unwrap_or_default();
        let key = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap_or_default());
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        assert!(key
            .and_then(|k| jsonwebtoken::decode::<Value>(&jws, &k, &validation))
            .is_ok());
        let other = public_jwk(&Keys::from_master(&[8u8; 32])).unwrap_or_default();
        assert_ne!(jwk["x"], other["x"]);
    }
}
