//! Application state shared by every handler and job.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;

use super::crypto::{self, Keys};
use super::db::Db;
use super::error::{Error, Result};
use super::metrics::Metrics;
use super::session_store::SessionBackend;
use super::settings::Settings;
use super::time::Clock;

pub struct Inner {
    pub db: Db,
    pub settings: Settings,
    pub keys: Keys,
    pub sessions: SessionBackend,
    /// Wakes the mail worker when a message is queued.
    pub mail_wakeup: Notify,
    /// Sign-in attempts per client address (password and second-factor steps).
    pub signin_limiter: DefaultKeyedRateLimiter<IpAddr>,
    pub metrics: Metrics,
    /// Repeated security events per source (CSRF refusals, failed client
    /// authentication), aggregated before they reach the audit trail.
    pub repeats: super::repeats::Repeats,
    /// A real argon2 hash of a random password, verified against when the account is
    /// unknown, so an unknown e-mail costs the same time as a wrong password.
    pub dummy_password_hash: String,
    /// The clock of the authorization server (tests move it forward).
    pub clock: Clock,
    /// The authorization server's keys, rate limiters and request log writer.
    pub oauth: crate::oauth::Runtime,
    /// Each organisation's synthetic sandbox dataset, cached.
    pub datasets: crate::sandbox::api::dataset::Datasets,
    /// Where onboarding evidence files are kept.
    pub evidence: super::object_store::Store,
    /// What outbound requests (webhooks) may reach.
    pub outbound: super::outbound::Policy,
    /// Wakes the webhook worker when a message is queued.
    pub webhook_wakeup: Notify,
    /// Names this instance in scheduler leases, job runs and webhook claims.
    pub instance: String,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Connects to the database (creating the data directory and SQLite file if
    /// needed), applies migrations and loads the keys.
    pub async fn new(settings: Settings) -> Result<Self> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            Error::Internal(format!(
                "cannot create data directory {}: {e}",
                settings.data_dir.display()
            ))
        })?;
        crate::oauth::ring_crypto::install();
        let url = settings.effective_database_url();
        let db = Db::connect(&url).await?;
        db.migrate().await.map_err(Error::internal)?;
        let sessions = SessionBackend::connect(&url).await?;
        let keys = Keys::load(settings.secret_key.as_deref(), &settings.data_dir)?;
        crate::audit::keyring::load(&db, &keys).await?;
        crate::sandbox::api::schema::warm_up().map_err(Error::Internal)?;
        let per_minute =
            NonZeroU32::new(settings.signin_attempts_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        crypto::set_hash_concurrency(settings.password_hash_concurrency);
        let dummy_password_hash = crypto::hash_password(crypto::random_token()).await?;
        let alg = crate::oauth::keys::parse_alg(&settings.signing_alg).ok_or_else(|| {
            Error::Internal(format!(
                "the signing algorithm must be ES256, PS256 or EdDSA, not {}",
                settings.signing_alg
            ))
        })?;
        let ring =
            crate::oauth::keys::ensure(&db, &keys, "sandbox", alg, super::time::now()).await?;
        let production =
            crate::oauth::keys::ensure(&db, &keys, "production", alg, super::time::now()).await?;
        let metrics = Metrics::new();
        let oauth = crate::oauth::Runtime::new(
            ring,
            production,
            db.clone(),
            std::time::Duration::from_millis(settings.state_cache_ms),
            metrics.request_log_dropped.clone(),
        );
        if db.backend == super::db::Backend::Postgres {
            crate::oauth::cache::share_changes(oauth.cache.clone(), db.clone());
        }
        let evidence = super::object_store::open_store(&settings)?;
        let ca = match &settings.outbound_ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| Error::Internal(format!("cannot read {}: {e}", path.display())))?,
            ),
            None => None,
        };
        let outbound = super::outbound::Policy::new(settings.outbound_allow.clone(), ca.as_deref())
            .map_err(Error::internal)?;
        Ok(Self(Arc::new(Inner {
            db,
            settings,
            keys,
            sessions,
            mail_wakeup: Notify::new(),
            signin_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            metrics,
            repeats: Default::default(),
            dummy_password_hash,
            clock: Clock::default(),
            oauth,
            datasets: Default::default(),
            evidence,
            outbound,
            webhook_wakeup: Notify::new(),
            instance: super::ids::new_id("ins"),
        })))
    }
}
