//! What every token request, introspection and sandbox API call reads from the
//! database, kept in process: a client with its usable credentials, the revocation
//! state behind an access token (its app, credential and consent, and the revoked
//! `jti`s), the OBIE
//! consent a token was granted for, and an account's sandbox payments.
//!
//! Revocation stays immediate. Every change Gatehouse makes to clients, credentials,
//! consents, revoked tokens or payments calls [`StateCache::changed`] once it is
//! committed, which empties the cache; a reader notes the generation *before* it reads
//! the database, so a value read before a change can never be kept after it. On
//! PostgreSQL, instances sharing the database announce their changes to each other
//! ([`share_changes`]). A change made outside Gatehouse (a hand-edited database) is
//! seen once the cached value expires: nothing is served for longer than
//! `--state-cache-ms` (default [`TTL`]).
//!
//! Time-dependent facts (credential expiry) are kept as data and judged at each use,
//! against the current clock.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sandbox_data::External;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use super::jwt::AccessClaims;
use crate::clients::intents::Intent;
use crate::clients::model::{App, Credential};
use crate::platform::db::Db;
use crate::platform::kill_switch::{self, Suspension};

/// The longest a cached value is used by default (`--state-cache-ms`): the delay
/// before a change made outside Gatehouse takes effect.
pub const TTL: Duration = Duration::from_secs(1);
/// The PostgreSQL channel on which instances announce their changes.
const CHANNEL: &str = "gatehouse_state";
/// Past this many entries a map is emptied before it grows further.
const MAX_ENTRIES: usize = 50_000;

/// A client, every credential that was usable when it was read, and the reason of
/// the open suspension covering it, if any.
pub type Client = Arc<(App, Vec<Credential>, Option<String>)>;

/// What the database says about the things an access token depends on, apart from
/// its own `jti`: its app, credential and consent, shared by every token of that
/// grant. `None` in [`StateCache::grants`] means the client or credential does not
/// exist.
#[derive(Clone, Debug)]
pub struct TokenState {
    pub app_id: String,
    pub org_id: String,
    /// Whether an open suspension covers the client (judged when this was read;
    /// every suspension change empties the cache).
    pub suspended: bool,
    pub rate_limit_per_minute: i64,
    pub app_active: bool,
    pub credential_revoked: bool,
    pub credential_expires_at: i64,
    /// The consent's status, when the token names one.
    pub consent_status: Option<String>,
}

/// A grant's dependencies: issuer, client, credential, consent.
pub type GrantKey = (&'static str, String, String, Option<String>);

/// The `jti`s of access tokens revoked before their expiry (RFC 7009, refresh-token
/// reuse, code replay), read in one query; `complete` is false (and the set empty)
/// when there were more than [`REVOKED_IN_MEMORY`], and each token's `jti` is then
/// looked up on its own ([`StateCache::revoked_one`]).
#[derive(Debug, Default)]
pub struct Revoked {
    pub jtis: std::collections::HashSet<String>,
    pub complete: bool,
}

/// The most revoked `jti`s kept in memory. They are pruned once expired, but a partner
/// revoking its own tokens as fast as its rate limit allows can keep thousands alive,
/// and the set is read again after every change: the bound keeps that read small
/// (about a millisecond), and past it each `jti` is looked up on its own, as before.
pub const REVOKED_IN_MEMORY: usize = 2_000;

/// An account-access or payment consent, by (token's grant, app, organisation).
pub type IntentKey = (String, String, String);
/// The payments made through the sandbox API from one account, by (organisation, account).
pub type PaymentsKey = (String, String);

pub struct StateCache {
    generation: AtomicU64,
    /// Set on PostgreSQL: where `changed` announces a change to the other instances.
    announce: OnceLock<mpsc::UnboundedSender<()>>,
    pub clients: Map<String, Client>,
    /// By grant, the state every token of it shares: a token's own revocation is
    /// judged against [`StateCache::revoked`], so a thousand distinct tokens of one
    /// client cost one query, not a thousand.
    pub grants: Map<GrantKey, Option<TokenState>>,
    /// The revoked `jti`s, under the one key `()`.
    pub revoked: Map<(), Arc<Revoked>>,
    /// Whether one `jti` is revoked, when there are too many to keep them all.
    pub revoked_one: Map<String, bool>,
    pub intents: Map<IntentKey, Option<Intent>>,
    pub payments: Map<PaymentsKey, Arc<Vec<External>>>,
    /// The open suspensions (the kill switch), under the one key `()`.
    pub suspensions: Map<(), Arc<Vec<Suspension>>>,
    /// Access tokens whose signature, issuer and audience were checked, by the token's
    /// exact text: the same bytes under the same keys verify the same way.
    verified: Map<String, Arc<AccessClaims>>,
}

impl Default for StateCache {
    fn default() -> Self {
        Self::new(TTL)
    }
}

impl StateCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            generation: AtomicU64::new(0),
            announce: OnceLock::new(),
            clients: Map::new(ttl),
            grants: Map::new(ttl),
            revoked: Map::new(ttl),
            revoked_one: Map::new(ttl),
            intents: Map::new(ttl),
            payments: Map::new(ttl),
            suspensions: Map::new(ttl),
            verified: Map::new(ttl),
        }
    }

    /// Call after committing a change to a client, credential, consent, revoked token
    /// or sandbox payment: forgets everything here, and tells the other instances.
    pub fn changed(&self) {
        self.forget();
        if let Some(announce) = self.announce.get() {
            let _ = announce.send(());
        }
    }

    /// How many times this cache forgot everything since the instance started (shown
    /// on the instances page: one whose generation stands still while the others'
    /// move no longer hears the announcements).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets everything (another instance changed something).
    pub fn forget(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.clients.clear();
        self.grants.clear();
        self.revoked.clear();
        self.revoked_one.clear();
        self.intents.clear();
        self.payments.clear();
        self.suspensions.clear();
        self.verified.clear();
    }

    /// The open suspension covering a client, if any (from the cache, or one query).
    pub async fn suspension<'s>(
        &self,
        db: &Db,
        app_id: &str,
        org_id: &str,
        issuer: &str,
        scopes: impl Iterator<Item = &'s str> + Clone,
    ) -> crate::platform::error::Result<Option<Suspension>> {
        let open = self
            .cached(&self.suspensions, (), || async {
                kill_switch::open(db).await.map(Arc::new)
            })
            .await?;
        Ok(kill_switch::find(&open, app_id, org_id, issuer, scopes).cloned())
    }

    /// The claims of a token verified earlier by [`crate::oauth::jwt::verify_signature`].
    pub fn verified(&self, token: &str) -> Option<Arc<AccessClaims>> {
        self.verified
            .get(token, self.generation.load(Ordering::Acquire))
    }

    pub fn store_verified(&self, token: &str, claims: Arc<AccessClaims>) {
        let current = self.generation.load(Ordering::Acquire);
        self.verified
            .insert(token.to_string(), current, claims, current);
    }

    /// The value of `key` in `map`, from the cache or else from `load` (which reads the
    /// database). What `load` read is kept only if nothing changed meanwhile.
    pub async fn cached<K, V, E, F>(
        &self,
        map: &Map<K, V>,
        key: K,
        load: impl FnOnce() -> F,
    ) -> Result<V, E>
    where
        K: Eq + Hash,
        V: Clone,
        F: Future<Output = Result<V, E>>,
    {
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(value) = map.get(&key, generation) {
            return Ok(value);
        }
        let value = load().await?;
        // The generation read *before* the database: a change committed since then
        // has moved it on, and the value is not kept.
        map.insert(
            key,
            generation,
            value.clone(),
            self.generation.load(Ordering::Acquire),
        );
        Ok(value)
    }
}

/// On PostgreSQL, where several instances may share the database: announces this
/// instance's changes with `NOTIFY` once they are committed, and forgets everything
/// when another instance announces one (or when the listening connection was lost,
/// as announcements may have been missed meanwhile).
pub fn share_changes(cache: Arc<StateCache>, db: Db) {
    let (sender, receiver) = mpsc::unbounded_channel();
    if cache.announce.set(sender).is_err() {
        return;
    }
    let instance = crate::platform::crypto::random_token();
    tokio::spawn(announce(db.clone(), receiver, instance.clone()));
    tokio::spawn(listen(cache, db.url, instance));
}

async fn announce(db: Db, mut changes: mpsc::UnboundedReceiver<()>, instance: String) {
    // The payload is this instance's name, so that it ignores its own announcements.
    // A random token is URL-safe base64: nothing in it needs quoting.
    let notify = format!("NOTIFY {CHANNEL}, '{instance}'");
    while changes.recv().await.is_some() {
        // Changes that queued up meanwhile go out as one announcement.
        while changes.try_recv().is_ok() {}
        if let Err(err) = sqlx::query(&notify).execute(&db.pool).await {
            tracing::warn!(error = %err, "could not announce a change to the other instances");
        }
    }
}

async fn listen(cache: Arc<StateCache>, url: String, instance: String) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    cache.forget();
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(note)) if note.payload() == instance => {}
                            // Another instance's change, or a lost connection (it
                            // reconnects on the next call): forget everything.
                            Ok(_) => cache.forget(),
                            Err(err) => {
                                tracing::warn!(error = %err, "lost the change announcements");
                                break;
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "could not listen for changes"),
            },
            Err(err) => tracing::warn!(error = %err, "could not connect to listen for changes"),
        }
        cache.forget();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

struct Entry<V> {
    generation: u64,
    loaded: Instant,
    value: V,
}

pub struct Map<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    /// How long an entry is served.
    ttl: Duration,
}

impl<K: Eq + Hash, V: Clone> Map<K, V> {
    fn new(ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `entry` may still be served in `current`.
    fn fresh(&self, entry: &Entry<V>, current: u64) -> bool {
        entry.generation == current && entry.loaded.elapsed() < self.ttl
    }

    fn get<Q>(&self, key: &Q, current: u64) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let map = self.lock();
        let entry = map.get(key)?;
        self.fresh(entry, current).then(|| entry.value.clone())
    }

    /// Keeps `value` unless a change happened since `generation` was read.
    fn insert(&self, key: K, generation: u64, value: V, current: u64) {
        if generation != current {
            return;
        }
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            // Expired and outdated entries go first; if that is not enough, all.
            map.retain(|_, e| self.fresh(e, current));
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
            suspended: false,
            rate_limit_per_minute: 60,
            app_active: true,
            credential_revoked: false,
            credential_expires_at: 0,
            consent_status: None,
        })
    }

    fn key() -> GrantKey {
        ("sandbox", "cli".into(), "cred".into(), None)
    }

    async fn read(cache: &StateCache, org: &str) -> Option<String> {
        let loaded: Result<_, ()> = cache
            .cached(&cache.grants, key(), || async { Ok(state(org)) })
            .await;
        loaded.ok().flatten().map(|s| s.org_id)
    }

    #[tokio::test]
    async fn values_are_kept_until_a_change() {
        let cache = StateCache::default();
        assert_eq!(read(&cache, "first").await.as_deref(), Some("first"));
        assert_eq!(read(&cache, "second").await.as_deref(), Some("first"));
        cache.changed();
        assert_eq!(read(&cache, "third").await.as_deref(), Some("third"));
    }

    /// A reader that read the database before a change cannot keep what it read.
    #[tokio::test]
    async fn a_value_read_before_a_change_is_not_kept() {
        let cache = StateCache::default();
        let stale: Result<_, ()> = cache
            .cached(&cache.grants, key(), || async {
                // The change commits while this reader is reading.
                cache.changed();
                Ok(state("stale"))
            })
            .await;
        assert!(stale.is_ok());
        assert_eq!(read(&cache, "fresh").await.as_deref(), Some("fresh"));
    }

    #[tokio::test]
    async fn values_expire_after_the_ttl() {
        let cache = StateCache::default();
        let loaded = Instant::now().checked_sub(TTL);
        if let Some(loaded) = loaded {
            cache.grants.lock().insert(
                key(),
                Entry {
                    generation: 0,
                    loaded,
                    value: state("old"),
                },
            );
            assert_eq!(read(&cache, "new").await.as_deref(), Some("new"));
        }
    }
}
