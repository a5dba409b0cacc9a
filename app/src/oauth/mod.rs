//! Gatehouse's OAuth2 authorization servers, the sandbox's and the production
//! issuer (`issuer`): one file per endpoint or grant. Partners' software are confidential clients (`sandbox::model::App`); tokens
//! are RFC 9068 JWTs signed with keys Gatehouse generates and rotates (`keys`).
//!
//! - `metadata`: RFC 8414 metadata and the JWKS
//! - `token`: the token endpoint, dispatching to `grant_client_credentials`,
//!   `grant_authorization_code` (PKCE) and `grant_refresh_token` (rotation)
//! - `par` (RFC 9126), `authorize` (the customer's sign-in and consent)
//! - `introspect` (RFC 7662), `revoke` (RFC 7009)
//! - `client_auth` (secrets and private_key_jwt), `dpop` (RFC 9449), `replay`, `limits`

pub mod authorize;
pub mod cache;
pub mod client_auth;
pub mod dpop;
pub mod endpoint;
pub mod error;
pub mod grant_authorization_code;
pub mod grant_client_credentials;
pub mod grant_refresh_token;
pub mod introspect;
pub mod issuer;
pub mod jwt;
pub mod keys;
pub mod limits;
pub mod metadata;
pub mod mtls;
pub mod pages;
pub mod par;
pub mod params;
pub mod pem_keys;
pub mod refresh;
pub mod replay;
pub mod request;
pub mod resource_servers;
pub mod revoke;
pub mod ring_crypto;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;
use jsonwebtoken::jwk::JwkSet;

pub use self::issuer::Issuer;
use crate::audit::Actor;
use crate::clients::model::App;
use crate::clients::reqlog::RequestLog;
use crate::platform::context::ClientInfo;
use crate::platform::db::Db;
use crate::platform::error::{Error, Result};
use crate::platform::state::{AppState, Inner};

impl AppState {
    /// The authorization server's keys, state cache and request log.
    pub fn oauth(&self) -> &Runtime {
        self.parts.get::<Runtime>()
    }
}

/// The authorization server's in-memory state.
pub struct Runtime {
    keys: RwLock<Arc<keys::KeyRing>>,
    production_keys: RwLock<Arc<keys::KeyRing>>,
    /// Clients, token state, verified signatures, consents and payments, kept in
    /// process (see `cache`).
    pub cache: Arc<cache::StateCache>,
    pub request_log: RequestLog,
    remote_keys: Mutex<HashMap<String, (i64, JwkSet)>>,
}

/// How long a partner's JWKS URL is cached.
const REMOTE_JWKS_TTL: i64 = 300;

impl Runtime {
    pub fn new(
        ring: Arc<keys::KeyRing>,
        production: Arc<keys::KeyRing>,
        db: Db,
        cache_ttl: std::time::Duration,
        request_log_dropped: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        Self {
            keys: RwLock::new(ring),
            production_keys: RwLock::new(production),
            cache: Arc::new(cache::StateCache::new(cache_ttl)),
            request_log: RequestLog::start(db, request_log_dropped),
            remote_keys: Mutex::new(HashMap::new()),
        }
    }

    /// The authorization server's part of the state: installs the JWT crypto
    /// provider, makes sure both issuers have a signing key, starts the request-log
    /// writer and, on PostgreSQL, shares the state cache's changes between instances.
    pub async fn start(base: &Inner) -> Result<Self> {
        ring_crypto::install();
        let settings = &base.settings;
        let alg = keys::parse_alg(&settings.signing_alg).ok_or_else(|| {
            Error::Internal(format!(
                "the signing algorithm must be ES256, PS256 or EdDSA, not {}",
                settings.signing_alg
            ))
        })?;
        let now = crate::platform::time::now();
        let ring = keys::ensure(&base.db, &base.keys, "sandbox", alg, now).await?;
        let production = keys::ensure(&base.db, &base.keys, "production", alg, now).await?;
        let runtime = Self::new(
            ring,
            production,
            base.db.clone(),
            std::time::Duration::from_millis(settings.state_cache_ms),
            base.metrics.request_log_dropped.clone(),
        );
        if base.db.backend == crate::platform::db::Backend::Postgres {
            cache::share_changes(runtime.cache.clone(), base.db.clone());
        }
        Ok(runtime)
    }

    fn ring(&self, issuer: Issuer) -> &RwLock<Arc<keys::KeyRing>> {
        match issuer {
            Issuer::Sandbox => &self.keys,
            Issuer::Production => &self.production_keys,
        }
    }

    pub fn key_ring(&self, issuer: Issuer) -> Arc<keys::KeyRing> {
        match self.ring(issuer).read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace_keys(&self, issuer: Issuer, ring: keys::KeyRing) {
        match self.ring(issuer).write() {
            Ok(mut current) => *current = Arc::new(ring),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(ring),
        }
    }

    /// A partner's key set from its JWKS URL, cached for five minutes.
    pub async fn remote_jwks(&self, url: &str) -> Option<JwkSet> {
        let now = crate::platform::time::now();
        let cached = match self.remote_keys.lock() {
            Ok(map) => map.get(url).cloned(),
            Err(_) => None,
        };
        if let Some((fetched, set)) = cached {
            if now - fetched < REMOTE_JWKS_TTL {
                return Some(set);
            }
        }
        let set = client_auth::fetch_jwks(url).await?;
        if let Ok(mut map) = self.remote_keys.lock() {
            map.insert(url.to_string(), (now, set.clone()));
        }
        Some(set)
    }
}

/// Reloads the signing keys from the database when they changed (a key rotated or
/// retired by the CLI or another instance is picked up here; the server calls this
/// every `keys::RELOAD_SECONDS`).
pub async fn reload_keys(state: &AppState) -> Result<()> {
    for issuer in Issuer::ALL {
        // Only the key ids are read every few seconds; the keys themselves (decrypted
        // private halves) are loaded when the set changed.
        let stored = keys::kids(&state.db, issuer.name()).await?;
        let current = state.oauth().key_ring(issuer);
        if current.all().iter().map(|k| &k.kid).eq(stored.iter()) {
            continue;
        }
        let ring = keys::load(&state.db, &state.keys, issuer.name()).await?;
        state.oauth().replace_keys(issuer, ring);
        // A retired key's signatures must not stay remembered as verified.
        state.oauth().cache.forget();
    }
    Ok(())
}

/// Where an OAuth request came from: the client address for the audit trail, and
/// whether it came over the mTLS listener, with which certificate.
pub struct Caller {
    pub info: ClientInfo,
    pub mtls: Option<mtls::MtlsConnection>,
}

impl Caller {
    pub fn certificate(&self) -> Option<&mtls::ClientCertificate> {
        self.mtls.as_ref()?.certificate.as_ref()
    }

    /// The absolute URL of `path` on the listener this request came in on (for `htu`).
    pub fn link(&self, state: &AppState, path: &str) -> String {
        match (&self.mtls, &state.settings.mtls_public_url) {
            (Some(_), Some(base)) => format!("{}{path}", base.as_str().trim_end_matches('/')),
            _ => state.settings.link(path),
        }
    }

    pub fn client_actor(app: &App) -> Actor {
        Actor {
            kind: "client".into(),
            id: Some(app.client_id.clone()),
            label: Some(app.name.clone()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(Self {
            info: ClientInfo::of(&parts.extensions, &parts.headers),
            mtls: parts.extensions.get::<mtls::MtlsConnection>().cloned(),
        })
    }
}

/// The machine-facing endpoints: no session, no CSRF token (clients authenticate).
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::metadata),
        )
        .route(metadata::JWKS_PATH, get(metadata::jwks))
        .route(token::PATH, post(token::endpoint))
        .route(par::PATH, post(par::endpoint))
        .route(introspect::PATH, post(introspect::endpoint))
        .route(revoke::PATH, post(revoke::endpoint))
        .route(&Issuer::Production.metadata_path(), get(metadata::metadata))
        .route(
            &Issuer::Production.path(metadata::JWKS_PATH),
            get(metadata::jwks),
        )
        .route(&Issuer::Production.path(token::PATH), post(token::endpoint))
        .route(
            &Issuer::Production.path(introspect::PATH),
            post(introspect::endpoint),
        )
        .route(
            &Issuer::Production.path(revoke::PATH),
            post(revoke::endpoint),
        )
}

/// The customer-facing pages of the authorization-code flow (sessions and CSRF apply).
pub fn page_routes() -> Router<AppState> {
    Router::new()
        .route(authorize::PATH, get(authorize::start))
        .route(
            authorize::SIGNIN_PATH,
            get(authorize::signin_page).post(authorize::signin_submit),
        )
        .route(
            authorize::CONSENT_PATH,
            get(authorize::consent_page).post(authorize::consent_submit),
        )
}

/// The authorization server's periodic job: forgetting spent JWT ids.
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "jwt_ids_prune",
        60,
        |state: AppState, now| async move {
            let pruned = replay::prune(&state.db, now).await?;
            Ok(serde_json::json!({ "pruned": pruned }))
        }
    )]
}
