//! Secrets: random tokens, keyed hashes, encryption at rest and password hashing.
//!
//! High-entropy secrets (e-mail link tokens, recovery codes) are stored as
//! HMAC-SHA-256 under a server key: fast, and useless without the key. Passwords are
//! hashed with argon2id, off the async runtime. TOTP secrets must be recoverable, so
//! they are encrypted with XChaCha20-Poly1305.

use std::path::Path;

use argon2::password_hash::{PasswordHash, SaltString};
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
    evidence_pack: [u8; 32],
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
            evidence_pack: derive(master, b"gatehouse/evidence-pack/v1"),
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

    /// The seed of the Ed25519 key that signs evidence packs (`evidence_packs`).
    pub fn evidence_pack_seed(&self) -> [u8; 32] {
        self.evidence_pack
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
///
/// The hashes run on a fixed set of threads of their own, one per slot, never on
/// tokio's blocking pool: the allocator keeps a freed 19 MiB block in the arena of the
/// thread that used it, so hashing on whichever of hundreds of blocking threads is free
/// left every one of them holding a block (500 concurrent sign-ups, only 20 of which
/// got through, grew the server by 395 MiB and it stayed). On the same few threads the
/// blocks are reused: the memory hashing can hold is `permits × 19 MiB`, whatever the
/// load (BENCHMARKS.md).
pub struct HashLimiter {
    slots: tokio::sync::Semaphore,
    wait: std::time::Duration,
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

impl HashLimiter {
    pub fn new(permits: usize, wait: std::time::Duration) -> Self {
        let permits = permits.max(1);
        let (sender, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for n in 0..permits {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("gatehouse-hash-{n}"))
                .spawn(move || loop {
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "could not start a password-hashing thread");
            }
        }
        Self {
            slots: tokio::sync::Semaphore::new(permits),
            wait,
            jobs: sender,
        }
    }

    pub async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        match tokio::time::timeout(self.wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Error::TooManyRequests { retry_after: 5 }),
        }
    }

    /// Runs `work` on a hashing thread, within a slot.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let _slot = self.slot().await?;
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs
            .send(job)
            .map_err(|_| Error::Internal("the hashing pool has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Internal("a password hash was lost".into()))
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

fn hashing() -> &'static HashLimiter {
    HASHING.get_or_init(|| HashLimiter::new(4, HASH_QUEUE_WAIT))
}

thread_local! {
    /// Each hashing thread's argon2 memory, kept for its next hash: allocating and
    /// freeing 19 MiB of 64-byte-aligned blocks per hash fragments the allocator's
    /// heap, and the freed blocks were not reused (every sign-up kept 19 MiB).
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest argon2 memory a stored hash may ask for (64 MiB).
const MAX_ARGON2_BLOCKS: usize = 64 * 1024;

/// argon2id under `params` into `out`, with this thread's reusable memory.
fn argon2_into(params: argon2::Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<()> {
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_BLOCKS {
        return Err(Error::Internal(
            "an argon2 hash asks for too much memory".into(),
        ));
    }
    let argon2 = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    ARGON2_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    })
}

/// argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1), in the PHC string
/// format, on a hashing thread within the process-wide limit.
pub async fn hash_password(password: String) -> Result<String> {
    hashing().run(move || hash_now(&password)).await?
}

fn hash_now(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(Error::internal)?;
    let params = argon2::Params::default();
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon2_into(params.clone(), password.as_bytes(), salt_raw, &mut out)?;
    let hash = PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(&params).map_err(Error::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).map_err(Error::internal)?),
    };
    Ok(hash.to_string())
}

pub async fn verify_password(password: String, hash: String) -> Result<bool> {
    hashing().run(move || verify_now(&password, &hash)).await?
}

fn verify_now(password: &str, hash: &str) -> Result<bool> {
    let parsed = PasswordHash::new(hash).map_err(Error::internal)?;
    if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
        return Ok(false);
    }
    let params = argon2::Params::try_from(&parsed).map_err(Error::internal)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(Error::internal)?;
    let mut out = vec![0u8; expected.len()];
    argon2_into(params, password.as_bytes(), salt_raw, &mut out)?;
    Ok(bool::from(subtle::ConstantTimeEq::ct_eq(
        out.as_slice(),
        expected.as_bytes(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn password_hashes_are_standard_argon2id() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_now("correct horse battery").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        assert!(verify_now("correct horse battery", &ours).unwrap());
        assert!(!verify_now("correct horse batterx", &ours).unwrap());
        // A hash the crate made (as every stored one was) verifies here too.
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default()
            .hash_password(b"older password", &salt)
            .unwrap()
            .to_string();
        assert!(verify_now("older password", &theirs).unwrap());
        assert!(!verify_now("other password", &theirs).unwrap());
    }

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
