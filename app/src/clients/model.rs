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
    /// CIDR ranges the client may call the token endpoint from; empty means anywhere.
    pub ip_allowlist: Vec<String>,
    /// Countries (ISO 3166-1 alpha-2) the client may call from; empty means anywhere.
    pub allowed_countries: Vec<String>,
    /// Whether the token endpoint refuses requests from other countries (with a
    /// country database configured); otherwise they raise an alert only.
    pub refuse_other_countries: bool,
    pub status: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub const APP_COLUMNS: &str = "id, org_id, environment, client_id, name, purpose, owner_id, scopes, \
    redirect_uris, auth_method, dpop_required, rate_limit_per_minute, ip_allowlist, allowed_countries, \
    refuse_other_countries, status, created_at, revoked_at";

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
            ip_allowlist: row
                .try_get::<String, _>("ip_allowlist")?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            allowed_countries: super::catalogue::split(
                &row.try_get::<String, _>("allowed_countries")?,
            ),
            refuse_other_countries: row.try_get::<i64, _>("refuse_other_countries")? != 0,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }

    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// The app's software id in the directory (issue 29): its id under the
/// directory's own prefix.
pub fn software_id(app_id: &str) -> String {
    format!("sw_{}", app_id.strip_prefix("app_").unwrap_or(app_id))
}

/// The app behind a software id, or None when it is not one.
pub fn app_of_software(software_id: &str) -> Option<String> {
    let rest = software_id.strip_prefix("sw_")?;
    let plain =
        !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric());
    plain.then(|| format!("app_{rest}"))
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
    /// The last successful API call made with a token this credential obtained.
    pub last_used_at: Option<i64>,
    /// The last successful token request authenticated by this credential.
    pub last_token_at: Option<i64>,
}

pub const CREDENTIAL_COLUMNS: &str =
    "id, app_id, kind, secret_hash, secret_hint, material, created_at, expires_at, revoked_at, last_used_at, last_token_at";

impl Credential {
    pub fn from_row(row: &AnyRow) -> Result<Self> {
        Self::from_prefixed_row(row, "")
    }

    /// From columns named `{prefix}id`, `{prefix}kind`, … (a join with `apps`).
    fn from_prefixed_row(row: &AnyRow, prefix: &str) -> Result<Self> {
        let col = |name: &str| format!("{prefix}{name}");
        Ok(Self {
            id: row.try_get(col("id").as_str())?,
            app_id: row.try_get(col("app_id").as_str())?,
            kind: row.try_get(col("kind").as_str())?,
            secret_hash: row.try_get(col("secret_hash").as_str())?,
            secret_hint: row.try_get(col("secret_hint").as_str())?,
            material: row.try_get(col("material").as_str())?,
            created_at: row.try_get(col("created_at").as_str())?,
            expires_at: row.try_get(col("expires_at").as_str())?,
            revoked_at: row.try_get(col("revoked_at").as_str())?,
            last_used_at: row.try_get(col("last_used_at").as_str())?,
            last_token_at: row.try_get(col("last_token_at").as_str())?,
        })
    }

    /// What the credential is, for its row on a page: a secret by its last
    /// characters, a key set by each key's type and kid (with its RFC 7638
    /// thumbprint where the kid is not it), a URL or a certificate by itself.
    pub fn what(&self) -> String {
        let material = self.material.clone().unwrap_or_default();
        match self.kind.as_str() {
            "client_secret" => format!(
                "Client secret …{}",
                self.secret_hint.clone().unwrap_or_default()
            ),
            "jwks" => format!("Public keys: {}", describe_keys(&material)),
            "jwks_uri" => format!("JWKS URL {material}"),
            "tls_certificate" => format!("Certificate x5t#S256 {material}"),
            _ => format!("Certificate subject {material} (partner CA)"),
        }
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

/// The query of `client_with_credentials`, built once from the column lists (the
/// credential columns prefixed `c_`, since both tables have `id`, `created_at`, …).
static CLIENT_WITH_CREDENTIALS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let app_columns = APP_COLUMNS
        .split(", ")
        .map(|c| format!("a.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let credential_columns = CREDENTIAL_COLUMNS
        .split(", ")
        .map(|c| format!("c.{0} AS c_{0}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {app_columns}, {credential_columns} FROM apps a \
         LEFT JOIN credentials c ON c.app_id = a.id AND c.revoked_at IS NULL AND c.expires_at > $2 \
         WHERE a.client_id = $1 ORDER BY c.created_at"
    )
});

/// The app with `client_id` and its usable credentials, in one query: client
/// authentication is on the token endpoint's hot path.
pub async fn client_with_credentials<'e, E>(
    db: E,
    client_id: &str,
    now: i64,
) -> Result<Option<(App, Vec<Credential>)>>
where
    E: Executor<'e, Database = Any>,
{
    let rows = sqlx::query(&CLIENT_WITH_CREDENTIALS)
        .bind(client_id)
        .bind(now)
        .fetch_all(db)
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let app = App::from_row(first)?;
    let mut credentials = Vec::new();
    for row in &rows {
        if row.try_get::<Option<String>, _>("c_id")?.is_some() {
            credentials.push(Credential::from_prefixed_row(row, "c_")?);
        }
    }
    Ok(Some((app, credentials)))
}

/// The size in bits of an RSA modulus given big-endian (leading zero bytes and bits
/// do not count).
pub fn modulus_bits(n: &[u8]) -> usize {
    let lead = n.iter().position(|b| *b != 0).unwrap_or(n.len());
    n.get(lead)
        .map_or(0, |b| (n.len() - lead) * 8 - b.leading_zeros() as usize)
}

/// Each key of a JWK set as "EC P-256, kid …" (RSA with its modulus' bits), with
/// its RFC 7638 thumbprint when the kid is not already that; keys joined by "; ".
pub fn describe_keys(set: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
    let keys: Vec<serde_json::Value> = serde_json::from_str::<serde_json::Value>(set)
        .ok()
        .and_then(|set| set.get("keys").and_then(|k| k.as_array()).cloned())
        .unwrap_or_default();
    let described: Vec<String> = keys
        .iter()
        .map(|jwk| {
            let text = |name: &str| jwk.get(name).and_then(|v| v.as_str());
            let kind = match (text("kty"), text("crv")) {
                (Some("RSA"), _) => {
                    let n = text("n")
                        .and_then(|n| URL_SAFE_NO_PAD.decode(n.trim_end_matches('=')).ok())
                        .unwrap_or_default();
                    format!("RSA {} bits", modulus_bits(&n))
                }
                (Some(kty), Some(crv)) => format!("{kty} {crv}"),
                (Some(kty), None) => kty.to_string(),
                _ => "a key".to_string(),
            };
            let thumbprint = serde_json::from_value::<Jwk>(jwk.clone())
                .map(|k| k.thumbprint(ThumbprintHash::SHA256))
                .unwrap_or_default();
            match text("kid") {
                Some(kid) if kid == thumbprint => format!("{kind}, kid {kid} (its thumbprint)"),
                Some(kid) => format!("{kind}, kid {kid}, thumbprint {thumbprint}"),
                None => format!("{kind}, no kid, thumbprint {thumbprint}"),
            }
        })
        .collect();
    if described.is_empty() {
        "none readable".into()
    } else {
        described.join("; ")
    }
}
