//! Sandbox apps and their credentials as the authorization server and the pages read them.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::platform::error::Result;

pub const AUTH_METHODS: [(&str, &str); 4] = [
    ("private_key_jwt", "Private key JWT (recommended)"),
    ("tls_client_auth", "Mutual TLS certificate"),
    (
        "client_secret_basic",
        "Client secret, HTTP Basic (sandbox only)",
    ),
    (
        "client_secret_post",
        "Client secret in the form body (sandbox only)",
    ),
];

pub fn is_secret_method(method: &str) -> bool {
    matches!(method, "client_secret_basic" | "client_secret_post")
}

/// An app as the authorization server needs it.
#[derive(Clone, Debug, Serialize)]
pub struct App {
    pub id: String,
    pub org_id: String,
    pub environment: String,
    pub client_id: String,
    pub name: String,
    pub purpose: String,
    pub owner_id: String,
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: String,
    pub dpop_required: bool,
    pub rate_limit_per_minute: i64,
    pub status: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub const APP_COLUMNS: &str = "id, org_id, environment, client_id, name, purpose, owner_id, scopes, \
    redirect_uris, auth_method, dpop_required, rate_limit_per_minute, status, created_at, revoked_at";

impl App {
    pub fn from_row(row: &AnyRow) -> Result<Self> {
        let scopes: String = row.try_get("scopes")?;
        let uris: String = row.try_get("redirect_uris")?;
        Ok(Self {
            id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            environment: row.try_get("environment")?,
            client_id: row.try_get("client_id")?,
            name: row.try_get("name")?,
            purpose: row.try_get("purpose")?,
            owner_id: row.try_get("owner_id")?,
            scopes: super::catalogue::split(&scopes),
            redirect_uris: uris
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            auth_method: row.try_get("auth_method")?,
            dpop_required: row.try_get::<i64, _>("dpop_required")? != 0,
            rate_limit_per_minute: row.try_get("rate_limit_per_minute")?,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }

    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// A credential. `secret_hash` is the keyed hash of a client secret: never shown,
/// never serialised.
#[derive(Clone)]
pub struct Credential {
    pub id: String,
    pub app_id: String,
    pub kind: String,
    pub secret_hash: Option<String>,
    pub secret_hint: Option<String>,
    pub material: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

pub const CREDENTIAL_COLUMNS: &str =
    "id, app_id, kind, secret_hash, secret_hint, material, created_at, expires_at, revoked_at, last_used_at";

impl Credential {
    pub fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            app_id: row.try_get("app_id")?,
            kind: row.try_get("kind")?,
            secret_hash: row.try_get("secret_hash")?,
            secret_hint: row.try_get("secret_hint")?,
            material: row.try_get("material")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            last_used_at: row.try_get("last_used_at")?,
        })
    }

    pub fn is_usable(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }

    /// `active`, `expiring` (rotated, in its overlap window), `expired` or `revoked`.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "active"
        }
    }
}

/// The sandbox app with `client_id`, whatever its status.
pub async fn app_by_client_id<'e, E>(db: E, client_id: &str) -> Result<Option<App>>
where
    E: Executor<'e, Database = Any>,
{
    let row = sqlx::query(&format!(
        "SELECT {APP_COLUMNS} FROM apps WHERE client_id = $1"
    ))
    .bind(client_id)
    .fetch_optional(db)
    .await?;
    row.as_ref().map(App::from_row).transpose()
}

/// The credentials of an app that authenticate now (not revoked, not expired).
pub async fn usable_credentials<'e, E>(db: E, app_id: &str, now: i64) -> Result<Vec<Credential>>
where
    E: Executor<'e, Database = Any>,
{
    let rows = sqlx::query(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials \
         WHERE app_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at"
    ))
    .bind(app_id)
    .bind(now)
    .fetch_all(db)
    .await?;
    rows.iter().map(Credential::from_row).collect()
}
