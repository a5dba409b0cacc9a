//! Software statements (RFC 7591 §2.3): short-lived JWTs the directory signs about
//! one piece of software, for its registration at either issuer. The directory
//! signs with keys of its own (`signing_keys` rows of issuer `directory`, made on
//! first use and rotated and retired with `gatehouse keys … --issuer directory`),
//! never with a token-signing key, and publishes them at `/directory/jwks`.

use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, Header};
use serde_json::{json, Value};

use super::software::{self, Software};
use crate::audit::{self, Event};
use crate::oauth::keys::{self, KeyRing};
use crate::platform::authz::Action;
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::crypto;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

/// The issuer name of the directory's keys in `signing_keys`.
pub const KEY_ISSUER: &str = "directory";
/// How long a software statement may be used to register (RFC 7591 leaves it to
/// the directory; the Open Banking profiles check its age at registration).
pub const STATEMENT_SECONDS: i64 = 300;
/// How long a signed revoked-software list is good for.
pub const LIST_SECONDS: i64 = 300;
/// The media type of a signed JWT (RFC 7519 §10.3.1).
pub const JWT_MEDIA_TYPE: &str = "application/jwt";
/// How long a retired-from-signing directory key stays published: longer than any
/// statement or list it signed is good for, plus the JWKS cache time.
pub const RETENTION_SECONDS: i64 = STATEMENT_SECONDS + keys::JWKS_CACHE_SECONDS + 600;

/// The directory's identifier: the `iss` of everything it signs.
pub fn issuer(state: &AppState) -> String {
    state.settings.link("/directory")
}

/// What the directory keeps between requests, so its public endpoints neither
/// decrypt its keys nor sign a new list for every caller: the key ring for
/// `keys::RELOAD_SECONDS` (as the token issuers reload theirs), the signed
/// revoked-software list for `LIST_CACHE_SECONDS` (emptied by a withdrawal here).
#[derive(Default)]
pub struct Cache {
    ring: Mutex<Option<(i64, Arc<KeyRing>)>>,
    revoked: Mutex<Option<(i64, String)>>,
}

/// How long one instance serves the same signed revoked-software list.
pub const LIST_CACHE_SECONDS: i64 = 5;

fn cached<T: Clone>(slot: &Mutex<Option<(i64, T)>>, now: i64, ttl: i64) -> Option<T> {
    let guard = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    guard
        .as_ref()
        .filter(|(at, _)| now >= *at && now - at < ttl)
        .map(|(_, value)| value.clone())
}

fn keep<T>(slot: &Mutex<Option<(i64, T)>>, value: Option<(i64, T)>) {
    *slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
}

/// Forgets the cached revoked-software list (after a withdrawal on this instance).
pub fn forget_list(state: &AppState) {
    keep(&state.parts.get::<Cache>().revoked, None);
}

/// The directory's keys; its first key is made on first use.
pub async fn ring(state: &AppState) -> Result<Arc<KeyRing>> {
    let cache = state.parts.get::<Cache>();
    let now = state.clock.now();
    if let Some(ring) = cached(&cache.ring, now, keys::RELOAD_SECONDS) {
        if ring.signing(now).is_some() {
            return Ok(ring);
        }
    }
    let ring = keys::ensure(&state.db, &state.keys, KEY_ISSUER, Algorithm::ES256, now).await?;
    keep(&cache.ring, Some((now, ring.clone())));
    Ok(ring)
}

/// The directory's published keys (RFC 7517).
pub async fn jwks(state: &AppState) -> Result<Value> {
    Ok(ring(state)
        .await?
        .jwks(state.clock.now(), RETENTION_SECONDS))
}

/// Signs `claims` with the directory's current key; `typ` tells a statement from the
/// revoked list (RFC 8725 §3.11).
async fn sign(state: &AppState, typ: &str, claims: &Value) -> Result<String> {
    let ring = ring(state).await?;
    let key = ring
        .signing(state.clock.now())
        .ok_or_else(|| Error::Internal("the directory has no signing key".into()))?;
    let mut header = Header::new(key.alg);
    header.typ = Some(typ.into());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).map_err(Error::internal)
}

/// The token endpoint authentication method (RFC 7591 §2) of a client registered
/// for `auth_method` whose live key credential is of `key_kind`: a client that
/// registered its certificate itself authenticates with it (RFC 8705 §2.2).
pub fn auth_method<'a>(auth_method: &'a str, key_kind: Option<&str>) -> &'a str {
    if key_kind == Some("tls_certificate") {
        "self_signed_tls_client_auth"
    } else {
        auth_method
    }
}

/// What a statement says about `software`: RFC 7591 client metadata (which take
/// precedence over a registration request's own, §3.1.1), the software id, and who
/// stands behind it.
pub fn claims(state: &AppState, software: &Software, jti: &str, now: i64) -> Value {
    let app = &software.app;
    let mut claims = json!({
        "iss": issuer(state),
        "iat": now,
        "exp": now + STATEMENT_SECONDS,
        "jti": jti,
        "software_id": software.id,
        "software_environment": app.environment,
        "client_name": app.name,
        "software_client_description": app.purpose,
        "redirect_uris": app.redirect_uris,
        "scope": app.scopes.join(" "),
        "token_endpoint_auth_method": app.auth_method,
        "grant_types": software.grant_types(),
        "org_id": app.org_id,
        "org_name": software.org_name,
        "org_tier": software.tier,
    });
    if let Some(object) = claims.as_object_mut() {
        if app.environment == "sandbox" {
            // The sandbox issuer's authorization-code flow answers with a code only.
            object.insert("response_types".into(), json!(["code"]));
        }
        if let Some(uri) = &software.jwks_uri {
            object.insert("jwks_uri".into(), json!(uri));
        }
        if let Some(set) = &software.jwks {
            object.insert("jwks".into(), set.clone());
        }
        if let Some(subject) = &software.tls_subject {
            // RFC 8705 §2.1.2.
            object.insert("tls_client_auth_subject_dn".into(), json!(subject));
        }
        if let Some(thumbprint) = &software.tls_thumbprint {
            // RFC 8705 §2.2: the registered certificate itself authenticates the
            // client; Gatehouse keeps its SHA-256 thumbprint (a private claim).
            object.insert(
                "token_endpoint_auth_method".into(),
                json!(auth_method(&app.auth_method, Some("tls_certificate"))),
            );
            object.insert("gatehouse_tls_certificate_s256".into(), json!(thumbprint));
        }
        if app.dpop_required {
            // RFC 9449 §5.2.
            object.insert("dpop_bound_access_tokens".into(), json!(true));
        }
    }
    claims
}

/// What downloading a statement for `software` takes: for sandbox software, what
/// making a sandbox app takes (any member); for production software, a partner
/// admin with a second factor.
pub fn download_action(software: &Software) -> Action {
    if software.app.environment == "production" {
        Action::ManageSoftware
    } else {
        Action::UseSandbox
    }
}

/// A member downloads a statement for one of the organisation's software (see
/// `download_action`): refused for withdrawn or suspended software, or software
/// without a live credential; recorded (its `jti`, for single use at registration)
/// and audited. The signed JWT.
pub async fn issue(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    software_id: &str,
) -> Result<String> {
    let org = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let software = software::get(state, Some(org), software_id).await?;
    crate::platform::authz::check(user.role, user.mfa_enabled, download_action(&software))
        .map_err(|denied| Error::Forbidden(denied.to_string()))?;
    if !software.is_active() {
        return Err(Error::Conflict(
            "This software is withdrawn: the directory no longer vouches for it.".into(),
        ));
    }
    let app = &software.app;
    if software.is_suspended(state).await? {
        return Err(Error::Conflict(
            "This software's client is suspended: no statement is issued until the bank lifts the suspension.".into(),
        ));
    }
    let now = state.clock.now();
    let jti = crypto::random_token();
    let has_key = software.jwks_uri.is_some()
        || software.jwks.is_some()
        || software.tls_subject.is_some()
        || software.tls_thumbprint.is_some();
    if software.credential.is_none()
        || (!has_key && !crate::clients::model::is_secret_method(&app.auth_method))
    {
        return Err(Error::Conflict(
            "This software has no live credential: rotate its credential first, so the statement can say how it authenticates.".into(),
        ));
    }
    let statement = sign(state, "JWT", &claims(state, &software, &jti, now)).await?;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO software_statements (jti, app_id, org_id, issued_by, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&jti)
    .bind(&app.id)
    .bind(&app.org_id)
    .bind(&user.id)
    .bind(now)
    .bind(now + STATEMENT_SECONDS)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "directory.statement_issued")
            .client(client)
            .org(Some(&app.org_id))
            .resource("software", &software.id)
            .details(json!({
                "jti": jti,
                "environment": app.environment,
                "expires_at": now + STATEMENT_SECONDS,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(statement)
}

/// The revoked-software list, signed by the directory: every withdrawn software id
/// with when it was withdrawn. Relying parties verify it with the directory's keys
/// and need not poll each software.
pub async fn revoked_list(state: &AppState) -> Result<String> {
    let now = state.clock.now();
    let cache = state.parts.get::<Cache>();
    if let Some(jwt) = cached(&cache.revoked, now, LIST_CACHE_SECONDS) {
        return Ok(jwt);
    }
    let revoked: Vec<Value> = software::withdrawn(state)
        .await?
        .into_iter()
        .map(|(id, at)| json!({ "software_id": id, "revoked_at": at }))
        .collect();
    let claims = json!({
        "iss": issuer(state),
        "iat": now,
        "exp": now + LIST_SECONDS,
        "revoked_software": revoked,
    });
    let jwt = sign(state, "revoked-software+jwt", &claims).await?;
    keep(&cache.revoked, Some((now, jwt.clone())));
    Ok(jwt)
}
