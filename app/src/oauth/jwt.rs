//! Access tokens: JWTs per RFC 9068 (`typ` `at+jwt`; `iss`, `sub`, `aud`, `client_id`,
//! `scope`, `iat`, `exp`, `jti`), signed with the issuer's current key. Besides the
//! standard claims a token carries `cred`, the credential that obtained it, and
//! `consent_id` when a customer consented, so that revoking either makes the token
//! inactive at once. Sender-constrained tokens carry `cnf.jkt` (RFC 9449 §6.1).

use std::sync::Arc;

use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

use super::cache::{GrantKey, Revoked, TokenState, REVOKED_IN_MEMORY};
use super::keys::alg_name;
use super::Issuer;
use crate::platform::crypto;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Value>,
    pub cred: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
}

impl AccessClaims {
    pub fn jkt(&self) -> Option<&str> {
        self.cnf.as_ref()?.get("jkt")?.as_str()
    }

    pub fn x5t(&self) -> Option<&str> {
        self.cnf.as_ref()?.get("x5t#S256")?.as_str()
    }
}

/// What to put in a new access token.
pub struct Grant<'a> {
    pub issuer: Issuer,
    pub client_id: &'a str,
    pub credential_id: &'a str,
    pub credential_expires_at: i64,
    pub subject: &'a str,
    pub scope: &'a str,
    pub consent_id: Option<&'a str>,
    pub binding: &'a Binding,
}

/// What a token is bound to (sender-constrained): a DPoP key (RFC 9449 §6.1) and/or
/// the client's TLS certificate (RFC 8705 §3.1).
#[derive(Clone, Debug, Default)]
pub struct Binding {
    pub jkt: Option<String>,
    pub x5t: Option<String>,
}

impl Binding {
    fn cnf(&self) -> Option<Value> {
        let mut cnf = serde_json::Map::new();
        if let Some(jkt) = &self.jkt {
            cnf.insert("jkt".into(), json!(jkt));
        }
        if let Some(x5t) = &self.x5t {
            cnf.insert("x5t#S256".into(), json!(x5t));
        }
        (!cnf.is_empty()).then_some(Value::Object(cnf))
    }
}

pub struct Issued {
    pub token: String,
    pub claims: AccessClaims,
}

pub fn mint(state: &AppState, grant: &Grant<'_>) -> Result<Issued> {
    let now = state.clock.now();
    let ring = state.oauth().key_ring(grant.issuer);
    let key = ring
        .signing(now)
        .ok_or_else(|| Error::Internal("no signing key is active".into()))?;
    let exp =
        (now + grant.issuer.access_token_seconds(&state.settings)).min(grant.credential_expires_at);
    let claims = AccessClaims {
        iss: grant.issuer.identifier(&state.settings),
        sub: grant.subject.to_string(),
        aud: grant.issuer.audience(&state.settings),
        client_id: grant.client_id.to_string(),
        scope: grant.scope.to_string(),
        iat: now,
        exp,
        jti: crypto::random_token(),
        cnf: grant.binding.cnf(),
        cred: grant.credential_id.to_string(),
        consent_id: grant.consent_id.map(str::to_string),
    };
    let mut header = Header::new(key.alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(Error::internal)?;
    Ok(Issued { token, claims })
}

/// A token that is active now, with the app it was issued to.
#[derive(Clone, Debug)]
pub struct Active {
    pub claims: AccessClaims,
    pub app_id: String,
    pub org_id: String,
    pub rate_limit_per_minute: i64,
}

/// Checks an access token completely: signature with a published key, `typ`, issuer,
/// audience, expiry, then the revocation state of the token, its credential, its app
/// and its consent (one query, or the in-process cache). `None` means inactive, for
/// whatever reason.
pub async fn check(state: &AppState, issuer: Issuer, token: &str) -> Result<Option<Active>> {
    let Some(claims) = verify_signature(state, issuer, token) else {
        return Ok(None);
    };
    let now = state.clock.now();
    if claims.exp <= now || claims.iat > now + 60 {
        return Ok(None);
    }
    let key: GrantKey = (
        issuer.name(),
        claims.client_id.clone(),
        claims.cred.clone(),
        claims.consent_id.clone(),
    );
    let cache = &state.oauth().cache;
    let found = cache
        .cached(&cache.grants, key, || token_state(state, issuer, &claims))
        .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    let consent_ok =
        claims.consent_id.is_none() || found.consent_status.as_deref() == Some("granted");
    if found.suspended
        || !found.app_active
        || found.credential_revoked
        || found.credential_expires_at <= now
        || !consent_ok
        || revoked(state, &claims.jti).await?
    {
        return Ok(None);
    }
    Ok(Some(Active {
        claims,
        app_id: found.app_id,
        org_id: found.org_id,
        rate_limit_per_minute: found.rate_limit_per_minute,
    }))
}

/// Whether the token `jti` was revoked before its expiry: from the cached set of
/// revoked `jti`s (one query for all tokens), or, when there are too many to keep,
/// from a query for this `jti` whose answer is cached like the set.
async fn revoked(state: &AppState, jti: &str) -> Result<bool> {
    let cache = &state.oauth().cache;
    let set = cache
        .cached(&cache.revoked, (), || async {
            let jtis: Vec<String> = sqlx::query_scalar("SELECT jti FROM revoked_tokens LIMIT $1")
                .bind(REVOKED_IN_MEMORY as i64 + 1)
                .fetch_all(&state.db.pool)
                .await?;
            let complete = jtis.len() <= REVOKED_IN_MEMORY;
            Ok::<_, crate::platform::error::Error>(Arc::new(Revoked {
                jtis: if complete {
                    jtis.into_iter().collect()
                } else {
                    Default::default()
                },
                complete,
            }))
        })
        .await?;
    if set.complete {
        return Ok(set.jtis.contains(jti));
    }
    cache
        .cached(&cache.revoked_one, jti.to_string(), || async {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1")
                    .bind(jti)
                    .fetch_one(&state.db.pool)
                    .await?;
            Ok::<_, crate::platform::error::Error>(count > 0)
        })
        .await
}

/// The state of a token's app, credential and consent, in one query.
async fn token_state(
    state: &AppState,
    issuer: Issuer,
    claims: &AccessClaims,
) -> Result<Option<TokenState>> {
    let row = sqlx::query(
        "SELECT a.id, a.org_id, a.status, a.scopes, a.rate_limit_per_minute, c.revoked_at, c.expires_at, \
         (SELECT s.status FROM consents s WHERE s.id = $3) AS consent_status \
         FROM apps a JOIN credentials c ON c.app_id = a.id \
         WHERE a.client_id = $1 AND c.id = $2 AND a.environment = $4",
    )
    .bind(&claims.client_id)
    .bind(&claims.cred)
    .bind(&claims.consent_id)
    .bind(issuer.name())
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let app_id: String = row.try_get("id")?;
    let org_id: String = row.try_get("org_id")?;
    let scopes: String = row.try_get("scopes")?;
    // The kill switch, judged here (on a cache miss) rather than per request.
    let suspended = state
        .oauth()
        .cache
        .suspension(
            &state.db,
            &app_id,
            &org_id,
            issuer.name(),
            scopes.split(' ').filter(|s| !s.is_empty()),
        )
        .await?
        .is_some();
    Ok(Some(TokenState {
        app_id,
        org_id,
        suspended,
        rate_limit_per_minute: row.try_get("rate_limit_per_minute")?,
        app_active: row.try_get::<String, _>("status")? == "active",
        credential_revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        credential_expires_at: row.try_get("expires_at")?,
        consent_status: row.try_get("consent_status")?,
    }))
}

/// The claims of a token signed by one of our published keys, or `None`. A token
/// verified within the cache's lifetime is not verified again (`oauth::cache`).
pub fn verify_signature(state: &AppState, issuer: Issuer, token: &str) -> Option<AccessClaims> {
    let cache = &state.oauth().cache;
    if let Some(claims) = cache.verified(token) {
        // The same text under another issuer's path is still refused.
        return (claims.iss == issuer.identifier(&state.settings)).then(|| (*claims).clone());
    }
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let ring = state.oauth().key_ring(issuer);
    let key = ring.find(header.kid.as_deref()?)?;
    if key.alg != header.alg {
        return None;
    }
    let mut validation = Validation::new(key.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
        .ok()?
        .claims;
    let expected_aud = issuer.audience(&state.settings);
    if claims.iss != issuer.identifier(&state.settings) || claims.aud != expected_aud {
        return None;
    }
    cache.store_verified(token, Arc::new(claims.clone()));
    Some(claims)
}

/// Revokes one access token until it would have expired anyway (RFC 7009), inside
/// the caller's transaction; the caller commits, then calls `cache.changed()` when
/// this returns `true`. `false`: it was revoked already, and nothing changed (a
/// repeated revocation must not empty every instance's cache).
pub async fn revoke_in(
    tx: &mut crate::platform::db::Tx,
    state: &AppState,
    app_id: &str,
    claims: &AccessClaims,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO revoked_tokens (jti, app_id, revoked_at, expires_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(&claims.jti)
    .bind(app_id)
    .bind(state.clock.now())
    .bind(claims.exp)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

/// The name of a signing algorithm, for metadata.
pub fn supported_algs() -> Vec<&'static str> {
    super::keys::ALGORITHMS
        .iter()
        .map(|a| alg_name(*a))
        .collect()
}
