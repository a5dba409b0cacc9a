//! Secrets: random tokens, keyed hashes, encryption at rest and password hashing.
//!
//! High-entropy secrets (e-mail link tokens, recovery codes) are stored as
//! HMAC-SHA-256 under a server key: fast, and useless without the key. Passwords are
//! hashed with argon2id, off the async runtime. TOTP secrets must be recoverable, so
//! they are encrypted with XChaCha20-Poly1305.

use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// Keys derived from the installation's master secret. Never printed or serialised.
#[derive(Clone)]
pub struct Keys {
    mac: [u8; 32],
    enc: [u8; 32],
    audit: [u8; 32],
    audit_checkpoint: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    pub fn from_master(master: &[u8]) -> Self {
        Self {
            mac: derive(master, b"gatehouse/mac/v1"),
            enc: derive(master, b"gatehouse/enc/v1"),
            audit: derive(master, b"gatehouse/audit-chain/v2"),
            audit_checkpoint: derive(master, b"gatehouse/audit-checkpoint/v1"),
        }
    }

    /// The audit chain's HMAC key (see `audit::keyring`).
    pub fn audit_chain_key(&self) -> [u8; 32] {
        self.audit
    }

    /// The seed of the Ed25519 key that signs audit checkpoints.
    pub fn audit_checkpoint_seed(&self) -> [u8; 32] {
        self.audit_checkpoint
    }

    /// The configured master secret (64 hex digits), or one kept in `data_dir/secret.key`,
    /// created on first start. Instances sharing a PostgreSQL database must share it.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Self> {
        if let Some(hex_key) = configured {
            let bytes = hex::decode(hex_key.trim())
                .map_err(|_| Error::Internal("the secret key must be hex".into()))?;
            if bytes.len() < 32 {
                return Err(Error::Internal(
                    "the secret key must be at least 32 bytes".into(),
                ));
            }
            return Ok(Self::from_master(&bytes));
        }
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::load(Some(&text), data_dir),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key = random_bytes::<32>();
                std::fs::write(&path, hex::encode(key)).map_err(Error::internal)?;
                restrict_permissions(&path);
                Ok(Self::from_master(&key))
            }
            Err(err) => Err(Error::internal(err)),
        }
    }

    /// HMAC-SHA-256 of a high-entropy secret, hex: what is stored and looked up.
    pub fn keyed_hash(&self, secret: &str) -> String {
        let mut mac = mac_with(&self.mac);
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let cipher = XChaCha20Poly1305::new((&self.enc).into());
        let nonce = random_bytes::<24>();
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(XNonce::from_slice(&nonce), plaintext)
                .map_err(|_| Error::Internal("encryption failed".into()))?,
        );
        Ok(out)
    }

    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>> {
        if data.len() < 24 {
            return Err(Error::Internal("ciphertext too short".into()));
        }
        let cipher = XChaCha20Poly1305::new((&self.enc).into());
        cipher
            .decrypt(XNonce::from_slice(&data[..24]), &data[24..])
            .map_err(|_| Error::Internal("decryption failed: wrong secret key?".into()))
    }
}

fn mac_with(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

fn derive(master: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = mac_with(master);
    mac.update(label);
    mac.finalize().into_bytes().into()
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}
#[cfg(not(unix))]
fn restrict_permissions(_: &Path) {}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A 256-bit random token, URL-safe base64.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Constant-time equality for secrets compared in memory.
pub fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A bound on concurrent argon2id computations: each takes 19 MiB, so unbounded
/// concurrency (a burst of anonymous sign-ups) would take memory without bound. A
/// caller waits up to `wait` for a slot, then gets 429 with `Retry-After`.
pub struct HashLimiter {
    slots: tokio::sync::Semaphore,
    wait: std::time::Duration,
}

impl HashLimiter {
    pub fn new(permits: usize, wait: std::time::Duration) -> Self {
        Self {
            slots: tokio::sync::Semaphore::new(permits.max(1)),
            wait,
        }
    }

    pub async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        match tokio::time::timeout(self.wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Error::TooManyRequests { retry_after: 5 }),
        }
    }
}

/// The process-wide limiter (the resource it guards is the machine's memory). Sized
/// from `--password-hash-concurrency` at start-up.
static HASHING: std::sync::OnceLock<HashLimiter> = std::sync::OnceLock::new();
/// How long a request waits for a hashing slot before it is told to come back.
const HASH_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Sizes the hashing limit (the first call wins).
pub fn set_hash_concurrency(permits: usize) {
    let _ = HASHING.set(HashLimiter::new(permits, HASH_QUEUE_WAIT));
}

async fn hashing_slot() -> Result<tokio::sync::SemaphorePermit<'static>> {
    HASHING
        .get_or_init(|| HashLimiter::new(4, HASH_QUEUE_WAIT))
        .slot()
        .await
}

/// argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1), off the runtime,
/// within the process-wide hashing limit.
pub async fn hash_password(password: String) -> Result<String> {
    let _slot = hashing_slot().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(Error::internal)
    })
    .await
    .map_err(Error::internal)?
}

/// Verifies a password against a stored argon2 hash, off the runtime, within the
/// process-wide hashing limit.
pub async fn verify_password(password: String, hash: String) -> Result<bool> {
    let _slot = hashing_slot().await?;
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(Error::internal)?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(Error::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashing_is_bounded_and_saturation_is_a_429() {
        let limiter = HashLimiter::new(1, std::time::Duration::from_millis(50));
        let held = limiter.slot().await;
        assert!(held.is_ok());
        assert!(matches!(
            limiter.slot().await,
            Err(Error::TooManyRequests { retry_after: 5 })
        ));
        drop(held);
        assert!(limiter.slot().await.is_ok(), "a freed slot is usable again");
    }

    #[test]
    fn encryption_round_trips_and_detects_tampering() -> Result<()> {
        let keys = Keys::from_master(&[7; 32]);
        let mut sealed = keys.encrypt(b"totp secret")?;
        assert_eq!(keys.decrypt(&sealed)?, b"totp secret");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(keys.decrypt(&sealed).is_err());
        Ok(())
    }

    #[test]
    fn keyed_hash_depends_on_the_key() {
        let a = Keys::from_master(&[1; 32]).keyed_hash("token");
        let b = Keys::from_master(&[2; 32]).keyed_hash("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[tokio::test]
    async fn passwords_verify_only_with_the_right_password() -> Result<()> {
        let hash = hash_password("correct horse battery".into()).await?;
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), hash.clone()).await?);
        assert!(!verify_password("wrong horse battery".into(), hash).await?);
        Ok(())
    }
}
