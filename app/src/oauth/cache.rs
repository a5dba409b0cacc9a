//! What every token request, introspection and sandbox API call reads from the
//! database, kept in process: a client with its usable credentials, and the
//! revocation state behind an access token (its app, credential, consent and `jti`).
//!
//! Revocation stays immediate. Every change Gatehouse makes to clients, credentials,
//! consents or revoked tokens calls [`StateCache::changed`] once it is written, which
//! empties the cache; a reader notes the generation *before* it reads the database,
//! so a value read before a change can never be kept after it. A change made outside
//! this process (another instance, a hand-edited database) is seen within
//! [`TTL`]: nothing is served from the cache for longer.
//!
//! Time-dependent facts (credential expiry) are kept as data and judged at each use,
//! against the current clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sandbox::model::{App, Credential};

/// The longest a cached value is used: the delay before a change made by another
/// process takes effect here.
pub const TTL: Duration = Duration::from_secs(1);
/// Past this many entries a map is emptied before it grows further.
const MAX_ENTRIES: usize = 100_000;

/// A client and every credential that was usable when it was read.
pub type Client = Arc<(App, Vec<Credential>)>;

/// What the database says about the things an access token depends on; `None` in
/// [`StateCache::tokens`] means the client or credential does not exist.
#[derive(Clone, Debug)]
pub struct TokenState {
    pub app_id: String,
    pub org_id: String,
    pub rate_limit_per_minute: i64,
    pub app_active: bool,
    pub credential_revoked: bool,
    pub credential_expires_at: i64,
    pub token_revoked: bool,
    /// The consent's status, when the token names one.
    pub consent_status: Option<String>,
}

/// An access token's dependencies: issuer, client, credential, `jti`, consent.
pub type TokenKey = (&'static str, String, String, String, Option<String>);

#[derive(Default)]
pub struct StateCache {
    generation: AtomicU64,
    clients: Map<String, Client>,
    tokens: Map<TokenKey, Option<TokenState>>,
}

impl StateCache {
    /// The generation to pass to `store_*`: read it before reading the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets everything: call after writing a change to a client, credential,
    /// consent or revoked token.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.clients.clear();
        self.tokens.clear();
    }

    pub fn client(&self, client_id: &str) -> Option<Client> {
        self.clients.get(client_id, self.generation())
    }

    pub fn store_client(&self, client_id: &str, generation: u64, client: Client) {
        self.clients
            .insert(client_id.to_string(), generation, client, self.generation());
    }

    pub fn token(&self, key: &TokenKey) -> Option<Option<TokenState>> {
        self.tokens.get(key, self.generation())
    }

    pub fn store_token(&self, key: TokenKey, generation: u64, state: Option<TokenState>) {
        self.tokens
            .insert(key, generation, state, self.generation());
    }
}

struct Entry<V> {
    generation: u64,
    loaded: Instant,
    value: V,
}

struct Map<K, V>(Mutex<HashMap<K, Entry<V>>>);

impl<K, V> Default for Map<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Map<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get<Q>(&self, key: &Q, current: u64) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let map = self.lock();
        let entry = map.get(key)?;
        (entry.generation == current && entry.loaded.elapsed() < TTL).then(|| entry.value.clone())
    }

    /// Keeps `value` unless a change happened since `generation` was read.
    fn insert(&self, key: K, generation: u64, value: V, current: u64) {
        if generation != current {
            return;
        }
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.generation == current && e.loaded.elapsed() < TTL);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            key,
            Entry {
                generation,
                loaded: Instant::now(),
                value,
            },
        );
    }

    fn clear(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(org: &str) -> Option<TokenState> {
        Some(TokenState {
            app_id: "app".into(),
            org_id: org.into(),
            rate_limit_per_minute: 60,
            app_active: true,
            credential_revoked: false,
            credential_expires_at: 0,
            token_revoked: false,
            consent_status: None,
        })
    }

    fn key() -> TokenKey {
        ("sandbox", "cli".into(), "cred".into(), "jti".into(), None)
    }

    #[test]
    fn a_change_empties_the_cache() {
        let cache = StateCache::default();
        cache.store_token(key(), cache.generation(), state("org"));
        assert!(cache.token(&key()).is_some());
        cache.changed();
        assert!(cache.token(&key()).is_none());
    }

    /// A reader that read the database before a change cannot store what it read.
    #[test]
    fn a_value_read_before_a_change_is_not_kept() {
        let cache = StateCache::default();
        let before = cache.generation();
        cache.changed();
        cache.store_token(key(), before, state("stale"));
        assert!(cache.token(&key()).is_none());
        cache.store_token(key(), cache.generation(), state("fresh"));
        let kept = cache.token(&key()).flatten().map(|s| s.org_id);
        assert_eq!(kept.as_deref(), Some("fresh"));
    }

    #[test]
    fn values_expire_after_the_ttl() {
        let cache = StateCache::default();
        let generation = cache.generation();
        {
            let mut map = cache.tokens.lock();
            map.insert(
                key(),
                Entry {
                    generation,
                    loaded: Instant::now() - TTL,
                    value: state("old"),
                },
            );
        }
        assert!(cache.token(&key()).is_none());
    }
}
