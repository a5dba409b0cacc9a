//! Client authentication at the token, PAR, introspection and revocation endpoints
//! (RFC 6749 §2.3). Every client is confidential and authenticates with the one method
//! it registered:
//! - `client_secret_basic` / `client_secret_post` (sandbox only): the secret's keyed
//!   hash is compared in constant time with each usable secret of the client;
//! - `private_key_jwt` (RFC 7523 §3, FAPI 2.0 §5.3.2.1): a signed assertion with
//!   `iss` = `sub` = client id, `aud` = our issuer, a short `exp` and a single-use `jti`.
//!
//! Every failure is written to the audit trail.

use std::time::Duration;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{json, Value};

use super::error::{OAuthError, OAuthResult};
use super::keys::ALGORITHMS;
use super::mtls::{same_subject, ClientCertificate};
use super::params::Params;
use super::replay::{self, Kind};
use super::{Caller, Issuer};
use crate::audit::{self, Actor, Event};
use crate::clients::model::{self, App, Credential};
use crate::platform::context::ClientInfo;
use crate::platform::crypto::ct_eq;
use crate::platform::state::AppState;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// An assertion may be valid for at most this long from now (FAPI 2.0: short-lived).
pub const MAX_ASSERTION_LIFETIME: i64 = 300;
/// The sandbox takes what common client libraries send by default: an `exp` up to an
/// hour ahead (authlib's default). The production issuer keeps five minutes.
pub const SANDBOX_MAX_ASSERTION_LIFETIME: i64 = 3600;
/// Clock skew tolerated on `iat` / `nbf`.
pub const SKEW: i64 = 60;

pub struct Authenticated {
    pub issuer: Issuer,
    pub app: App,
    pub credential_id: String,
    /// Tokens never outlive the credential that obtained them.
    pub credential_expires_at: i64,
}

struct Failure {
    client_id: Option<String>,
    app: Option<App>,
    method: &'static str,
    reason: String,
}

/// Authenticates the client of an OAuth request.
pub async fn authenticate(
    state: &AppState,
    issuer: Issuer,
    headers: &HeaderMap,
    params: &Params,
    caller: &Caller,
    endpoint: &str,
) -> OAuthResult<Authenticated> {
    let client = &caller.info;
    let basic = basic_credentials(headers)?;
    let assertion = params.get("client_assertion");
    let post_secret = params.get("client_secret");
    let used = usize::from(basic.is_some())
        + usize::from(assertion.is_some())
        + usize::from(post_secret.is_some());
    if used > 1 {
        return Err(OAuthError::invalid_request(
            "Use exactly one client authentication method (RFC 6749 §2.3).",
        ));
    }
    let outcome = if let Some((id, secret)) = basic {
        by_secret(state, issuer, &id, &secret, "client_secret_basic").await
    } else if let Some(secret) = post_secret {
        let id = params.require("client_id")?.to_string();
        by_secret(state, issuer, &id, secret, "client_secret_post").await
    } else if let Some(assertion) = assertion {
        if params.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER}."
            )));
        }
        let audiences = Audiences::of(state, issuer, endpoint);
        by_assertion(state, &audiences, assertion, params.get("client_id")).await
    } else if let Some(certificate) = caller.certificate() {
        let id = params.require("client_id")?.to_string();
        by_certificate(state, issuer, &id, certificate).await
    } else {
        Err(Failure {
            client_id: params.get("client_id").map(str::to_string),
            app: None,
            method: "none",
            reason: "no client authentication".into(),
        })
    };
    match outcome {
        Ok(authenticated) => Ok(authenticated),
        Err(failure) => {
            record_failure(state, &failure, client).await?;
            let mut error = OAuthError::invalid_client(format!(
                "Client authentication failed: {}.",
                failure.reason
            ));
            error.app_id = failure.app.map(|app| app.id);
            Err(error)
        }
    }
}

/// Mutual-TLS client authentication (RFC 8705 §2): the presented certificate is the
/// registered one (§2.2, compared by thumbprint in constant time), or its chain was
/// validated against a partner CA the bank configured and its subject is the
/// registered DN (§2.1). A subject in an untrusted certificate proves nothing.
async fn by_certificate(
    state: &AppState,
    issuer: Issuer,
    client_id: &str,
    certificate: &ClientCertificate,
) -> Result<Authenticated, Failure> {
    let method = "tls_client_auth";
    let (app, credentials) = load_app(state, issuer, client_id, method).await?;
    let matched = credentials
        .iter()
        .find(|c| match (c.kind.as_str(), &c.material) {
            ("tls_certificate", Some(registered)) => ct_eq(registered, &certificate.thumbprint),
            ("tls_subject", Some(registered)) => {
                certificate.chain_trusted && same_subject(registered, &certificate.name)
            }
            _ => false,
        });
    match matched {
        Some(credential) => Ok(Authenticated {
            issuer,
            credential_id: credential.id.clone(),
            credential_expires_at: credential.expires_at,
            app,
        }),
        None => Err(Failure {
            client_id: Some(client_id.to_string()),
            reason: if certificate.chain_trusted {
                format!(
                    "the certificate (subject {}) is not registered for the client",
                    certificate.subject
                )
            } else {
                format!(
                    "the certificate (subject {}) is not the one registered for the client, \
                     and no partner CA the bank trusts issued it",
                    certificate.subject
                )
            },
            app: Some(app),
            method,
        }),
    }
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
pub fn basic_credentials(headers: &HeaderMap) -> OAuthResult<Option<(String, String)>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed =
        || OAuthError::invalid_client("The Authorization header is not valid HTTP Basic.");
    let text = value.to_str().map_err(|_| malformed())?;
    let Some(encoded) = text.strip_prefix("Basic ") else {
        return Err(malformed());
    };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unescape(id), unescape(secret))))
}

/// The client and its usable credentials, if it may authenticate with `method`.
async fn load_app(
    state: &AppState,
    issuer: Issuer,
    client_id: &str,
    method: &'static str,
) -> Result<(App, Vec<Credential>), Failure> {
    let fail = |app: Option<App>, reason: &str| Failure {
        client_id: Some(client_id.to_string()),
        app,
        method,
        reason: reason.into(),
    };
    let now = state.clock.now();
    let cache = &state.oauth().cache;
    let client = cache
        .cached(&cache.clients, client_id.to_string(), || async {
            let (app, credentials) = model::client_with_credentials(&state.db.pool, client_id, now)
                .await
                .map_err(|_| fail(None, "the client could not be loaded"))?
                .ok_or_else(|| fail(None, "unknown client"))?;
            // The kill switch, judged on a cache miss: every suspension change
            // empties the cache, on every instance.
            let suspension = cache
                .suspension(
                    &state.db,
                    &app.id,
                    &app.org_id,
                    app.environment.as_str(),
                    app.scopes.iter().map(String::as_str),
                )
                .await
                .map_err(|_| fail(None, "the client could not be loaded"))?
                .map(|s| s.reason);
            Ok(std::sync::Arc::new((app, credentials, suspension)))
        })
        .await?;
    let app = client.0.clone();
    // Cached credentials are judged against the clock now.
    let credentials: Vec<Credential> = client
        .1
        .iter()
        .filter(|c| c.expires_at > now)
        .cloned()
        .collect();
    if app.environment != issuer.name() {
        return Err(fail(Some(app), "unknown client"));
    }
    if !app.is_active() {
        return Err(fail(Some(app), "the client has been revoked"));
    }
    // The kill switch: a suspended client cannot authenticate (RFC 6749 §5.2
    // `invalid_client`), whatever credential it presents.
    if let Some(reason) = &client.2 {
        let reason = format!("the client is suspended: {reason}");
        return Err(fail(Some(app), &reason));
    }
    if app.auth_method != method {
        let reason = format!("the client is registered for {}", app.auth_method);
        return Err(fail(Some(app), &reason));
    }
    Ok((app, credentials))
}

async fn by_secret(
    state: &AppState,
    issuer: Issuer,
    client_id: &str,
    secret: &str,
    method: &'static str,
) -> Result<Authenticated, Failure> {
    let (app, credentials) = load_app(state, issuer, client_id, method).await?;
    let fail = |app: App, reason: &str| Failure {
        client_id: Some(client_id.to_string()),
        app: Some(app),
        method,
        reason: reason.into(),
    };
    let presented = state.keys.keyed_hash(secret);
    // Compare with every usable secret, in constant time, without stopping early.
    let mut matched: Option<&Credential> = None;
    for credential in &credentials {
        let stored = credential.secret_hash.as_deref().unwrap_or_default();
        if credential.kind == "client_secret" && ct_eq(stored, &presented) && matched.is_none() {
            matched = Some(credential);
        }
    }
    match matched {
        Some(credential) => Ok(Authenticated {
            issuer,
            credential_id: credential.id.clone(),
            credential_expires_at: credential.expires_at,
            app,
        }),
        None => {
            let reason = stale_secret_reason(state, &app.id, &presented).await;
            Err(fail(app, reason))
        }
    }
}

/// Why a secret did not match: a revoked or expired secret is worth telling the
/// developer (and the audit trail) apart from a wrong one.
async fn stale_secret_reason(state: &AppState, app_id: &str, presented_hash: &str) -> &'static str {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT revoked_at FROM credentials WHERE app_id = $1 AND secret_hash = $2")
            .bind(app_id)
            .bind(presented_hash)
            .fetch_optional(&state.db.pool)
            .await
            .ok()
            .flatten();
    match row {
        Some((Some(_),)) => "the secret has been revoked",
        Some((None,)) => "the secret has expired",
        None => "wrong client secret",
    }
}

/// What a client assertion's `aud` may name, at one endpoint of one issuer.
///
/// - The sandbox takes the issuer, the token endpoint URL and the URL of the endpoint
///   the assertion is sent to (RFC 9126 §2: the PAR endpoint MUST accept the issuer,
///   the token endpoint URL and its own URL; the same rule at introspection and
///   revocation), each also under the mTLS listener's address (RFC 8705 §5), as a
///   string or as an array that holds one of them (RFC 7519 §4.1.3).
/// - The production issuer takes only its issuer identifier (FAPI 2.0 Security
///   Profile §5.3.2.1), as a string or as an array holding nothing else: an array
///   that also names another audience is refused (audience injection).
pub struct Audiences {
    issuer: Issuer,
    identifier: String,
    urls: Vec<String>,
}

impl Audiences {
    pub fn of(state: &AppState, issuer: Issuer, endpoint: &str) -> Self {
        let settings = &state.settings;
        let mut urls = Vec::new();
        if issuer == Issuer::Sandbox {
            for path in [super::token::PATH, endpoint] {
                let path = issuer.path(path);
                urls.push(settings.link(&path));
                if let Some(mtls) = &settings.mtls_public_url {
                    urls.push(format!("{}{path}", mtls.as_str().trim_end_matches('/')));
                }
            }
        }
        Self {
            issuer,
            identifier: issuer.identifier(settings),
            urls,
        }
    }

    fn accepts_one(&self, aud: &str) -> bool {
        aud == self.identifier || self.urls.iter().any(|u| u == aud)
    }

    /// Whether the `aud` claim names this server.
    pub fn accept(&self, aud: Option<&Value>) -> bool {
        match (self.issuer, aud) {
            (_, Some(Value::String(aud))) => self.accepts_one(aud),
            (Issuer::Sandbox, Some(Value::Array(list))) => list
                .iter()
                .any(|a| a.as_str().is_some_and(|a| self.accepts_one(a))),
            (Issuer::Production, Some(Value::Array(list))) => {
                !list.is_empty() && list.iter().all(|a| a.as_str() == Some(&self.identifier))
            }
            _ => false,
        }
    }

    fn max_lifetime(&self) -> i64 {
        match self.issuer {
            Issuer::Sandbox => SANDBOX_MAX_ASSERTION_LIFETIME,
            Issuer::Production => MAX_ASSERTION_LIFETIME,
        }
    }

    fn describe(&self) -> String {
        match self.issuer {
            Issuer::Sandbox => format!(
                "the client assertion's aud must name the issuer {}, the token endpoint or this endpoint",
                self.identifier
            ),
            Issuer::Production => format!(
                "the client assertion's aud must be the issuer {} (FAPI 2.0), as a string or the only member of an array",
                self.identifier
            ),
        }
    }
}

async fn by_assertion(
    state: &AppState,
    audiences: &Audiences,
    assertion: &str,
    client_id_param: Option<&str>,
) -> Result<Authenticated, Failure> {
    let method = "private_key_jwt";
    let early = |client_id: Option<&str>, reason: &str| Failure {
        client_id: client_id.map(str::to_string),
        app: None,
        method,
        reason: reason.into(),
    };
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| {
        early(
            client_id_param,
            "the client assertion is not a JWS signed with PS256, ES256 or EdDSA",
        )
    })?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(early(
            client_id_param,
            "the client assertion must be signed with PS256, ES256 or EdDSA",
        ));
    }
    let unverified = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion)
        .map_err(|_| {
            early(
                client_id_param,
                "the client assertion's claims are not JSON",
            )
        })?
        .claims;
    let Some(sub) = unverified.get("sub").and_then(Value::as_str) else {
        return Err(early(client_id_param, "the client assertion has no sub"));
    };
    if unverified.get("iss").and_then(Value::as_str) != Some(sub) {
        return Err(early(
            Some(sub),
            "the client assertion's iss must equal its sub",
        ));
    }
    if client_id_param.is_some_and(|id| id != sub) {
        return Err(early(
            Some(sub),
            "client_id differs from the assertion's sub",
        ));
    }
    let issuer = audiences.issuer;
    let (app, credentials) = load_app(state, issuer, sub, method).await?;
    let fail = |app: &App, reason: &str| Failure {
        client_id: Some(app.client_id.clone()),
        app: Some(app.clone()),
        method,
        reason: reason.into(),
    };
    let now = state.clock.now();
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut verified: Option<(&Credential, Value)> = None;
    for credential in &credentials {
        let Some(set) = key_set(state, credential).await else {
            continue;
        };
        for jwk in &set.keys {
            if header.kid.is_some() && jwk.common.key_id != header.kid {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            if let Ok(data) = jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
                verified = Some((credential, data.claims));
                break;
            }
        }
        if verified.is_some() {
            break;
        }
    }
    let Some((credential, claims)) = verified else {
        return Err(fail(
            &app,
            "the client assertion's signature does not match a registered key",
        ));
    };
    if !audiences.accept(claims.get("aud")) {
        return Err(fail(&app, &audiences.describe()));
    }
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Err(fail(&app, "the client assertion has no exp"));
    };
    if exp <= now {
        return Err(fail(&app, "the client assertion has expired"));
    }
    let lifetime = audiences.max_lifetime();
    if exp > now + lifetime {
        return Err(fail(
            &app,
            &format!(
                "the client assertion's exp is more than {} minutes away",
                lifetime / 60
            ),
        ));
    }
    for claim in ["iat", "nbf"] {
        if claims
            .get(claim)
            .and_then(Value::as_i64)
            .is_some_and(|t| t > now + SKEW)
        {
            return Err(fail(
                &app,
                &format!("the client assertion's {claim} is in the future"),
            ));
        }
    }
    let Some(jti) = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 256)
    else {
        return Err(fail(&app, "the client assertion has no jti"));
    };
    match replay::first_use(
        &state.db,
        Kind::ClientAssertion,
        &app.client_id,
        jti,
        exp + SKEW,
    )
    .await
    {
        Ok(true) => {}
        Ok(false) => {
            return Err(fail(
                &app,
                "the client assertion's jti has been used before",
            ))
        }
        Err(_) => return Err(fail(&app, "the assertion could not be recorded")),
    }
    Ok(Authenticated {
        issuer,
        credential_id: credential.id.clone(),
        credential_expires_at: credential.expires_at,
        app,
    })
}

/// The public keys of a `jwks` or `jwks_uri` credential.
async fn key_set(state: &AppState, credential: &Credential) -> Option<JwkSet> {
    let material = credential.material.as_deref()?;
    match credential.kind.as_str() {
        "jwks" => serde_json::from_str(material).ok(),
        "jwks_uri" => state.oauth().remote_jwks(material).await,
        _ => None,
    }
}

/// Audits a failed client authentication. Repeats from one address are aggregated
/// (`platform::repeats`): the first of a window is an event of its own, the rest
/// one summary with their count, so guessing secrets cannot grow the audit trail at
/// will (review finding M6). The request log still records each one against the
/// client it named, for the partner's own view.
async fn record_failure(
    state: &AppState,
    failure: &Failure,
    client: &ClientInfo,
) -> OAuthResult<()> {
    use crate::platform::repeats;
    const ACTION: &str = "oauth.client_auth_failed";
    // Per address and client: guesses against one client are not hidden behind a
    // failure for another, and the summary names the client's organisation.
    let app_id = failure.app.as_ref().map(|app| app.id.clone());
    let org_id = failure.app.as_ref().map(|app| app.org_id.clone());
    let source = format!(
        "{} {}",
        client.ip,
        failure.client_id.as_deref().unwrap_or("-")
    );
    let first = json!({
        "client_id": failure.client_id, "method": failure.method, "reason": failure.reason,
        "app_id": app_id, "org_id": org_id,
    });
    if !repeats::admit(state, &source, ACTION, failure.method, first).await? {
        return Ok(());
    }
    let mut tx = state.db.begin().await?;
    let label = failure
        .client_id
        .clone()
        .unwrap_or_else(|| "unknown".into());
    let actor = Actor {
        kind: "client".into(),
        id: failure.client_id.clone(),
        label: Some(label),
    };
    let mut event = Event::new(actor, ACTION)
        .client(client)
        .outcome("failure")
        .details(json!({ "method": failure.method, "reason": failure.reason }));
    if let Some(app) = &failure.app {
        event = event.resource("app", &app.id).org(Some(&app.org_id));
    }
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Fetches a partner's JWKS URL through the SSRF guard (`platform::outbound`):
/// https only, public addresses only, no redirects, small, quick.
pub async fn fetch_jwks(url: &str) -> Option<JwkSet> {
    let body = match crate::platform::outbound::fetch(url, 64 * 1024, Duration::from_secs(5)).await
    {
        Ok(body) => body,
        Err(refused) => {
            tracing::warn!(%url, reason = %refused, "a client's JWKS URL was not fetched");
            return None;
        }
    };
    let mut set: JwkSet = serde_json::from_slice(&body).ok()?;
    // A remote set is checked at each fetch, as a pasted one is at registration.
    set.keys
        .retain(|jwk| super::keys::check_client_key(jwk).is_ok());
    Some(set)
}
