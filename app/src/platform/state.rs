//! Application state shared by every handler and job.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

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
    /// Every rate limit (sign-in attempts per address, each client's quota): in
    /// process on SQLite, shared by the instances on PostgreSQL.
    pub limits: super::limiter::Limiter,
    pub metrics: Metrics,
    /// Repeated security events per source (CSRF refusals, failed client
    /// authentication), aggregated before they reach the audit trail.
    pub repeats: super::repeats::Repeats,
    /// A real argon2 hash of a random password, verified against when the account is
    /// unknown, so an unknown e-mail costs the same time as a wrong password.
    pub dummy_password_hash: String,
    /// The clock of the authorization server (tests move it forward).
    pub clock: Clock,
    /// What features keep for the life of the process (the authorization server's
    /// keys and caches, the sandbox's datasets), put here by the composition root.
    pub parts: Parts,
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

impl From<Inner> for AppState {
    fn from(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Inner {
    /// Connects to the database (creating the data directory and SQLite file if
    /// needed), applies migrations and loads the keys. The features' parts are added
    /// by the composition root (`server/src/compose.rs`) before the state is shared.
    pub async fn open(settings: Settings) -> Result<Self> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            Error::Internal(format!(
                "cannot create data directory {}: {e}",
                settings.data_dir.display()
            ))
        })?;
        let url = settings.effective_database_url();
        let db = Db::connect(&url).await?;
        db.migrate().await.map_err(Error::internal)?;
        let sessions = SessionBackend::connect(&url).await?;
        let keys = Keys::load(settings.secret_key.as_deref(), &settings.data_dir)?;
        super::audit::keyring::load(&db, &keys).await?;
        crypto::set_hash_concurrency(settings.password_hash_concurrency);
        let dummy_password_hash = crypto::hash_password(crypto::random_token()).await?;
        let metrics = Metrics::new();
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
        let limits = super::limiter::Limiter::new(&db, settings.local_rate_limits);
        Ok(Inner {
            db,
            settings,
            keys,
            sessions,
            mail_wakeup: Notify::new(),
            limits,
            metrics,
            repeats: Default::default(),
            dummy_password_hash,
            clock: Clock::default(),
            parts: Parts::default(),
            evidence,
            outbound,
            webhook_wakeup: Notify::new(),
            instance: super::ids::new_id("ins"),
        })
    }
}

/// A feature's long-lived part of the state, by type: the platform keeps them without
/// naming the features (which would make it import every feature), and each feature
/// reads its own through an accessor of its own (`AppState::oauth`, `::datasets`).
#[derive(Default)]
pub struct Parts(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl Parts {
    pub fn insert<T: Any + Send + Sync>(&mut self, part: T) {
        self.0.insert(TypeId::of::<T>(), Box::new(part));
    }

    /// The part of type `T`. Every part is put in before the state is shared, by the
    /// one function that builds it, so a missing part is a composition bug that the
    /// first request or test finds.
    pub fn get<T: Any + Send + Sync>(&self) -> &T {
        match self
            .0
            .get(&TypeId::of::<T>())
            .and_then(|p| p.downcast_ref::<T>())
        {
            Some(part) => part,
            None => panic!(
                "{} is not in the state: server/src/compose.rs::state puts every part there",
                std::any::type_name::<T>()
            ),
        }
    }
}
