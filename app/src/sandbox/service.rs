//! The rules for sandbox apps and their credentials. Every function takes the
//! caller's organisation and puts it in every query, so another organisation's app
//! is "not found" (404) and nothing about it leaks.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

use crate::audit::{self, Actor, Event};
use crate::clients::catalogue;
use crate::clients::model::{self, App, Credential, APP_COLUMNS, CREDENTIAL_COLUMNS};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::{is_unique_violation, Tx};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;
use crate::platform::{crypto, ids};

pub const DEFAULT_RATE_LIMIT: i64 = 600;
/// The overlap windows (in seconds, as the form sends them) a rotation may leave the
/// old credential valid for.
pub const OVERLAPS: [(&str, &str); 4] = [
    ("0", "None: the old credential stops now"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
];
const MAX_JWKS_BYTES: usize = 16 * 1024;

/// What a partner fills in to register an app (form and JSON API alike).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewApp {
    pub name: String,
    pub purpose: String,
    pub owner_id: String,
    pub scopes: Vec<String>,
    /// One URI per line (the JSON API also takes them newline-separated).
    pub redirect_uris: String,
    pub auth_method: String,
    pub jwks: String,
    pub jwks_uri: String,
    pub tls_subject: String,
    /// The PEM certificate of a mutual-TLS client (RFC 8705 §2.2).
    pub tls_certificate: String,
    pub rate_limit_per_minute: String,
    pub dpop_required: bool,
}

/// Key material for a new credential of a key-based app.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct KeyMaterial {
    pub jwks: String,
    pub jwks_uri: String,
    /// A subject DN, trusted only under a partner CA the bank configured (RFC 8705 §2.1).
    pub tls_subject: String,
    /// The client's certificate, PEM (RFC 8705 §2.2): what the presented one must equal.
    pub tls_certificate: String,
}

/// A credential just issued; `secret` is shown once and never again.
#[derive(Serialize)]
pub struct Issued {
    pub app_id: String,
    pub client_id: String,
    pub credential_id: String,
    pub secret: Option<String>,
}

fn actor(user: &AuthUser) -> Actor {
    user.actor()
}

pub(crate) use super::revocation::{mirror_to_registered, revoke_app_rows};

fn org_of(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or_else(|| {
        Error::Forbidden("Only members of a partner organisation have sandbox apps.".into())
    })
}

/// Checks a redirect URI: https, or http on localhost for development (RFC 8252 §7.3,
/// RFC 9700 §2.1); no fragment (RFC 6749 §3.1.2).
pub fn check_redirect_uri(uri: &str) -> std::result::Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|_| format!("{uri} is not a valid URL"))?;
    if parsed.fragment().is_some() {
        return Err(format!("{uri} must not contain a fragment (#)"));
    }
    let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        _ => Err(format!("{uri} must use https (http only for localhost)")),
    }
}

/// Parses a pasted JWK, JWK set or PEM public key (or certificate), converted on
/// the server; every key must be a public PS256/ES256/EdDSA key.
pub fn parse_jwks(text: &str) -> std::result::Result<String, String> {
    if text.len() > MAX_JWKS_BYTES {
        return Err("The key set is larger than 16 KB.".into());
    }
    let value: Value = if crate::oauth::pem_keys::is_pem(text) {
        crate::oauth::pem_keys::jwks_from_pem(text)?
    } else {
        serde_json::from_str(text.trim()).map_err(|_| {
            "Paste the public key as PEM (-----BEGIN PUBLIC KEY-----) or as JSON (a JWK or a JWK set)."
                .to_string()
        })?
    };
    let set = if value.get("keys").is_some() {
        value
    } else {
        json!({ "keys": [value] })
    };
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if keys.is_empty() {
        return Err("The key set has no keys.".into());
    }
    for key in &keys {
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| key.get(m).is_some())
        {
            return Err(
                "That is a private key. Paste only the public key: never share the private one."
                    .into(),
            );
        }
        if !matches!(
            key.get("kty").and_then(Value::as_str),
            Some("EC" | "RSA" | "OKP")
        ) {
            return Err("Each key must be an EC (P-256), RSA or OKP (Ed25519) public key.".into());
        }
    }
    let parsed: JwkSet = serde_json::from_value(set.clone())
        .map_err(|_| "The key set is not a valid JWK set.".to_string())?;
    for jwk in &parsed.keys {
        DecodingKey::from_jwk(jwk)
            .map_err(|_| "A key in the set is not a usable public key.".to_string())?;
        crate::oauth::keys::check_client_key(jwk)?;
    }
    Ok(set.to_string())
}

/// Checks the key material a method needs; returns (kind, material) of the credential.
pub(crate) fn credential_material(
    method: &str,
    keys: &KeyMaterial,
    invalid: &mut Invalid,
) -> Option<(&'static str, Option<String>)> {
    match method {
        "client_secret_basic" | "client_secret_post" => Some(("client_secret", None)),
        "private_key_jwt" => {
            let jwks = keys.jwks.trim();
            let uri = keys.jwks_uri.trim();
            match (jwks.is_empty(), uri.is_empty()) {
                (false, true) => invalid
                    .check("jwks", parse_jwks(jwks))
                    .map(|set| ("jwks", Some(set))),
                (true, false) => {
                    let ok = url::Url::parse(uri).ok().filter(|u| u.scheme() == "https");
                    invalid
                        .check(
                            "jwks_uri",
                            ok.map(|_| ()).ok_or("The JWKS URL must be an https URL."),
                        )
                        .map(|_| ("jwks_uri", Some(uri.to_string())))
                }
                (false, false) => {
                    invalid.add(
                        "jwks",
                        "Give either the public key or the JWKS URL, not both.",
                    );
                    None
                }
                (true, true) => {
                    invalid.add("jwks", "Paste your public key (JWK) or give your JWKS URL.");
                    None
                }
            }
        }
        "tls_client_auth" => {
            let certificate = keys.tls_certificate.trim();
            let subject = keys.tls_subject.trim();
            match (certificate.is_empty(), subject.is_empty()) {
                // RFC 8705 §2.2: the registered certificate is what must match.
                (false, true) => invalid
                    .check(
                        "tls_certificate",
                        crate::oauth::mtls::parse_pem_certificate(certificate),
                    )
                    .map(|c| ("tls_certificate", Some(c.thumbprint))),
                // RFC 8705 §2.1: a subject, under a partner CA the bank trusts.
                (true, false) => {
                    if subject.len() > 500 {
                        invalid.add("tls_subject", "The subject DN is too long.");
                        None
                    } else {
                        invalid
                            .check(
                                "tls_subject",
                                crate::oauth::mtls::parse_dn(subject).map_err(|e| {
                                    format!("Enter the certificate's subject DN, for example CN=payments.acme.example.com,O=Acme Ltd,C=GB ({e}).")
                                }),
                            )
                            .map(|_| ("tls_subject", Some(subject.to_string())))
                    }
                }
                (false, false) => {
                    invalid.add(
                        "tls_certificate",
                        "Give either the certificate or its subject DN, not both.",
                    );
                    None
                }
                (true, true) => {
                    invalid.add(
                        "tls_certificate",
                        "Paste the client certificate (PEM), or give its subject DN if a partner CA the bank trusts issued it.",
                    );
                    None
                }
            }
        }
        _ => None,
    }
}

/// Inserts a credential; returns (id, secret shown once).
pub(crate) async fn insert_credential(
    state: &AppState,
    tx: &mut Tx,
    app_id: &str,
    kind: &str,
    material: Option<String>,
    created_by: &str,
    (now, expires_at): (i64, i64),
) -> Result<(String, Option<String>)> {
    let id = ids::new_id(ids::CREDENTIAL);
    let secret = (kind == "client_secret").then(crypto::random_token);
    let hint = secret.as_ref().map(|s| s[s.len() - 4..].to_string());
    sqlx::query(
        "INSERT INTO credentials (id, app_id, kind, secret_hash, secret_hint, material, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(kind)
    .bind(secret.as_ref().map(|s| state.keys.keyed_hash(s)))
    .bind(hint)
    .bind(material)
    .bind(created_by)
    .bind(now)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok((id, secret))
}

pub async fn create_app(
    state: &AppState,
    user: &AuthUser,
    input: NewApp,
    client: &ClientInfo,
) -> Result<Issued> {
    let org_id = org_of(user)?;
    let mut invalid = Invalid::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        invalid.add("name", "Enter a name for the app, at most 80 characters.");
    }
    let purpose = input.purpose.trim();
    if purpose.is_empty() || purpose.chars().count() > 500 {
        invalid.add(
            "purpose",
            "Say what the app is for, in at most 500 characters.",
        );
    }
    let owner_ok: Option<String> = sqlx::query_scalar(
        "SELECT id FROM users WHERE id = $1 AND org_id = $2 AND status = 'active'",
    )
    .bind(&input.owner_id)
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    if owner_ok.is_none() {
        invalid.add(
            "owner_id",
            "Choose the app's owner: an active member of your organisation.",
        );
    }
    let offered = catalogue::scopes(state).await?;
    let mut scopes: Vec<String> = Vec::new();
    for scope in &input.scopes {
        if catalogue::find(&offered, scope).is_none() {
            invalid.add(
                "scopes",
                format!("{scope} is not a scope of the API catalogue."),
            );
        } else if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    if input.scopes.is_empty() {
        invalid.add("scopes", "Choose at least one scope.");
    }
    let uris: Vec<String> = input
        .redirect_uris
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if uris.len() > 10 {
        invalid.add("redirect_uris", "Register at most 10 redirect URIs.");
    }
    for uri in &uris {
        invalid.check("redirect_uris", check_redirect_uri(uri));
    }
    let needs_customer = scopes
        .iter()
        .any(|s| catalogue::find(&offered, s).is_some_and(|s| s.needs_customer()));
    if needs_customer && uris.is_empty() {
        invalid.add(
            "redirect_uris",
            "Scopes that need a customer's consent need at least one redirect URI.",
        );
    }
    if !model::AUTH_METHODS
        .iter()
        .any(|(m, _)| *m == input.auth_method)
    {
        invalid.add("auth_method", "Choose how the app authenticates.");
    }
    let keys = KeyMaterial {
        jwks: input.jwks.clone(),
        jwks_uri: input.jwks_uri.clone(),
        tls_subject: input.tls_subject.clone(),
        tls_certificate: input.tls_certificate.clone(),
    };
    let material = credential_material(&input.auth_method, &keys, &mut invalid);
    let rate_limit = if input.rate_limit_per_minute.trim().is_empty() {
        Some(DEFAULT_RATE_LIMIT)
    } else {
        let max = i64::from(state.settings.sandbox_max_rate_limit);
        invalid.check(
            "rate_limit_per_minute",
            input
                .rate_limit_per_minute
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or(format!(
                    "Enter a whole number of requests per minute from 1 to {max}."
                )),
        )
    };
    invalid.into_result()?;
    let (Some((kind, material)), Some(rate_limit)) = (material, rate_limit) else {
        return Err(Error::Internal("validated input without material".into()));
    };

    let now = state.clock.now();
    let app_id = ids::new_id(ids::APP);
    let client_id = ids::new_id(ids::CLIENT);
    let mut tx = state.db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO apps (id, org_id, environment, client_id, name, purpose, owner_id, scopes, redirect_uris, \
         auth_method, dpop_required, rate_limit_per_minute, status, created_by, created_at, updated_at) \
         VALUES ($1, $2, 'sandbox', $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $12, $13, $13)",
    )
    .bind(&app_id)
    .bind(org_id)
    .bind(&client_id)
    .bind(name)
    .bind(purpose)
    .bind(&input.owner_id)
    .bind(scopes.join(" "))
    .bind(uris.join("\n"))
    .bind(&input.auth_method)
    .bind(i64::from(input.dpop_required))
    .bind(rate_limit)
    .bind(&user.id)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(err) = inserted {
        if is_unique_violation(&err) {
            return Err(Error::Invalid(Invalid::conflict(
                "name",
                "Your organisation already has a sandbox app with this name.",
            )));
        }
        return Err(err.into());
    }
    let (credential_id, secret) = insert_credential(
        state,
        &mut tx,
        &app_id,
        kind,
        material,
        &user.id,
        (now, now + state.settings.sandbox_credential_days * 86_400),
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(actor(user), "sandbox.app_created")
            .resource("app", &app_id)
            .org(Some(org_id))
            .client(client)
            .details(json!({ "client_id": client_id, "name": name, "scopes": scopes, "auth_method": input.auth_method, "owner_id": input.owner_id })),
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(actor(user), "sandbox.credential_issued")
            .resource("credential", &credential_id)
            .org(Some(org_id))
            .client(client)
            .details(json!({ "app_id": app_id, "kind": kind })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(Issued {
        app_id,
        client_id,
        credential_id,
        secret,
    })
}

/// The organisation's sandbox apps, newest first.
pub async fn list_apps(state: &AppState, org_id: &str) -> Result<Vec<App>> {
    let rows = sqlx::query(&format!(
        "SELECT {APP_COLUMNS} FROM apps WHERE org_id = $1 AND environment = 'sandbox' ORDER BY created_at DESC, id DESC"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(App::from_row).collect()
}

/// One of the organisation's apps; another organisation's id is not found.
pub async fn get_app(state: &AppState, org_id: &str, app_id: &str) -> Result<App> {
    let row = sqlx::query(&format!(
        "SELECT {APP_COLUMNS} FROM apps WHERE id = $1 AND org_id = $2 AND environment = 'sandbox'"
    ))
    .bind(app_id)
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.as_ref()
        .map(App::from_row)
        .transpose()?
        .ok_or(Error::NotFound)
}

pub async fn credentials(state: &AppState, app: &App) -> Result<Vec<Credential>> {
    let rows = sqlx::query(&format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE app_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(&app.id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(Credential::from_row).collect()
}

/// Issues a new credential; the old ones stay valid for `overlap` seconds, then stop.
pub async fn rotate(
    state: &AppState,
    user: &AuthUser,
    app_id: &str,
    overlap: &str,
    keys: KeyMaterial,
    client: &ClientInfo,
) -> Result<Issued> {
    let org_id = org_of(user)?;
    let app = get_app(state, org_id, app_id).await?;
    if !app.is_active() {
        return Err(Error::Conflict(
            "This app has been revoked; its credentials cannot be rotated.".into(),
        ));
    }
    let mut invalid = Invalid::new();
    let overlap = overlap
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|o| OVERLAPS.iter().any(|(s, _)| s.parse::<i64>() == Ok(*o)));
    if overlap.is_none() {
        invalid.add("overlap", "Choose how long the old credential stays valid.");
    }
    let material = credential_material(&app.auth_method, &keys, &mut invalid);
    invalid.into_result()?;
    let (Some(overlap), Some((kind, material))) = (overlap, material) else {
        return Err(Error::Internal("validated input without material".into()));
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let until = now + overlap;
    let shortened = sqlx::query(
        "UPDATE credentials SET expires_at = CASE WHEN expires_at > $1 THEN $1 ELSE expires_at END \
         WHERE app_id = $2 AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(until)
    .bind(&app.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The copies of its keys that clients registered from it hold (RFC 7591) end
    // with them; their own secrets are theirs.
    sqlx::query(
        "UPDATE credentials SET expires_at = CASE WHEN expires_at > $1 THEN $1 ELSE expires_at END \
         WHERE app_id IN (SELECT id FROM apps WHERE registered_from = $2) AND kind <> 'client_secret' \
         AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(until)
    .bind(&app.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let (credential_id, secret) = insert_credential(
        state,
        &mut tx,
        &app.id,
        kind,
        material,
        &user.id,
        (now, now + state.settings.sandbox_credential_days * 86_400),
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(actor(user), "sandbox.credential_rotated")
            .resource("credential", &credential_id)
            .org(Some(org_id))
            .client(client)
            .details(json!({ "app_id": app.id, "kind": kind, "overlap_seconds": overlap, "previous_credentials": shortened.rows_affected() })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(Issued {
        app_id: app.id,
        client_id: app.client_id,
        credential_id,
        secret,
    })
}

#[derive(Clone, Copy)]
enum Revocable {
    Credential,
    Consent,
}

/// Why a conditional revocation changed nothing: the row of this app was already
/// revoked (409), or there is no such row for this app (404).
async fn nothing_revoked(tx: &mut Tx, what: Revocable, id: &str, app_id: &str) -> Error {
    let (sql, message) = match what {
        Revocable::Credential => (
            "SELECT id FROM credentials WHERE id = $1 AND app_id = $2",
            "This credential was already revoked.",
        ),
        Revocable::Consent => (
            "SELECT id FROM consents WHERE id = $1 AND app_id = $2",
            "This consent was already revoked.",
        ),
    };
    let exists: std::result::Result<Option<String>, sqlx::Error> = sqlx::query_scalar(sql)
        .bind(id)
        .bind(app_id)
        .fetch_optional(&mut **tx)
        .await;
    match exists {
        Ok(Some(_)) => Error::Conflict(message.into()),
        Ok(None) => Error::NotFound,
        Err(err) => err.into(),
    }
}

/// Revokes one credential at once: tokens it obtained become inactive.
pub async fn revoke_credential(
    state: &AppState,
    user: &AuthUser,
    app_id: &str,
    credential_id: &str,
    client: &ClientInfo,
) -> Result<()> {
    let org_id = org_of(user)?;
    let app = get_app(state, org_id, app_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let revoked = sqlx::query("UPDATE credentials SET revoked_at = $1 WHERE id = $2 AND app_id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(credential_id)
        .bind(&app.id)
        .execute(&mut *tx)
        .await?;
    if revoked.rows_affected() == 0 {
        return Err(nothing_revoked(&mut tx, Revocable::Credential, credential_id, &app.id).await);
    }
    mirror_to_registered(&mut tx, credential_id).await?;
    audit::record(
        &mut tx,
        Event::new(actor(user), "sandbox.credential_revoked")
            .resource("credential", credential_id)
            .org(Some(org_id))
            .client(client)
            .details(json!({ "app_id": app.id })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}

/// Revokes the app: it can no longer authenticate, and every token it holds is inactive.
pub async fn revoke_app(
    state: &AppState,
    user: &AuthUser,
    app_id: &str,
    client: &ClientInfo,
) -> Result<()> {
    let org_id = org_of(user)?;
    let app = get_app(state, org_id, app_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if !revoke_app_rows(&mut tx, &app.id, now, "partner").await? {
        return Err(Error::Conflict("This app was already revoked.".into()));
    }
    audit::record(
        &mut tx,
        Event::new(actor(user), "sandbox.app_revoked")
            .resource("app", &app.id)
            .org(Some(org_id))
            .client(client)
            .details(json!({ "client_id": app.client_id })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
pub struct Consent {
    pub id: String,
    pub customer: String,
    pub scopes: String,
    pub status: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

pub async fn consents(state: &AppState, app: &App) -> Result<Vec<Consent>> {
    let rows = sqlx::query(
        "SELECT id, customer, scopes, status, created_at, revoked_at FROM consents WHERE app_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(&app.id)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Consent {
                id: row.try_get("id")?,
                customer: row.try_get("customer")?,
                scopes: row.try_get("scopes")?,
                status: row.try_get("status")?,
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        })
        .collect()
}

/// Withdraws a customer's consent: its refresh tokens and access tokens stop at once.
pub async fn revoke_consent(
    state: &AppState,
    user: &AuthUser,
    app_id: &str,
    consent_id: &str,
    client: &ClientInfo,
) -> Result<()> {
    let org_id = org_of(user)?;
    let app = get_app(state, org_id, app_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let revoked = sqlx::query("UPDATE consents SET status = 'revoked', revoked_at = $1 WHERE id = $2 AND app_id = $3 AND status = 'granted'")
        .bind(now)
        .bind(consent_id)
        .bind(&app.id)
        .execute(&mut *tx)
        .await?;
    if revoked.rows_affected() == 0 {
        return Err(nothing_revoked(&mut tx, Revocable::Consent, consent_id, &app.id).await);
    }
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE consent_id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(consent_id)
    .execute(&mut *tx)
    .await?;
    // The OBIE account-access consent it authorised is withdrawn with it.
    sqlx::query(
        "UPDATE ob_consents SET status = 'Revoked', status_updated_at = $1 \
         WHERE id = (SELECT intent_id FROM consents WHERE id = $2) AND kind = 'account-access' AND status = 'Authorised'",
    )
    .bind(now)
    .bind(consent_id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(actor(user), "sandbox.consent_revoked")
            .resource("consent", consent_id)
            .org(Some(org_id))
            .client(client)
            .details(json!({ "app_id": app.id })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}
