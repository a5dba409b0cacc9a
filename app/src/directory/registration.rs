//! Dynamic client registration (RFC 7591) with a software statement the directory
//! signed, and the client configuration endpoint (RFC 7592).
//!
//! A registration is the last step for software the bank already approved, never a
//! way around its approval (each registered client does get the software's rate
//! limit, so at most `MAX_REGISTERED` of them): the statement must be the directory's, fresh, used once, for
//! active, unsuspended software of this issuer, and what the request asks must stay
//! within it. The client it makes is an ordinary Gatehouse client of the software's
//! organisation (owner, purpose, rate limit, allow-lists, tier and credential expiry
//! copied from the software), so the inventory, the sweep, reviews, offboarding and
//! the kill switch reach it; it names the software it came from, and withdrawing
//! the software revokes it.

use serde_json::{json, Map, Value};

use super::software::{self, Software};
use super::statement::{self, STATEMENT_SECONDS};
use crate::audit::{self, Actor, Event};
use crate::clients::model::{is_secret_method, App, APP_COLUMNS};
use crate::oauth::Issuer;
use crate::platform::context::ClientInfo;
use crate::platform::error::Error;
use crate::platform::state::AppState;
use crate::platform::{crypto, ids};

/// The largest registration request accepted.
pub const MAX_BODY: usize = 32 * 1024;
/// Clock skew allowed on a statement's `iat`.
const SKEW_SECONDS: i64 = 60;
/// Active clients one software may have registered at once: each gets the
/// software's rate limit, so this bounds what registration multiplies it by.
pub const MAX_REGISTERED: i64 = 3;
/// Registration requests one address may send a minute.
pub const REQUESTS_PER_MINUTE: i64 = 30;

/// At most 100 characters of something the caller sent, for a description.
fn short(text: &str) -> String {
    let mut out: String = text.chars().take(100).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// A refused request: an RFC 7591 §3.2.2 error code (or RFC 6750's `invalid_token`
/// for the configuration endpoint) and what was wrong.
#[derive(Debug)]
pub struct Refusal {
    pub code: &'static str,
    pub description: String,
    /// For `invalid_token`: no token was presented at all (RFC 6750 §3.1: the
    /// challenge then carries no error code).
    pub no_token: bool,
    /// For `slow_down`: seconds to wait.
    pub retry_after: Option<u64>,
}

impl Refusal {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            no_token: false,
            retry_after: None,
        }
    }
    fn statement(description: impl Into<String>) -> Self {
        Self::new("invalid_software_statement", description)
    }
    fn unapproved(description: impl Into<String>) -> Self {
        Self::new("unapproved_software_statement", description)
    }
    pub(super) fn metadata(description: impl Into<String>) -> Self {
        Self::new("invalid_client_metadata", description)
    }
    fn redirect(description: impl Into<String>) -> Self {
        Self::new("invalid_redirect_uri", description)
    }
    pub fn token() -> Self {
        Self::new(
            "invalid_token",
            "The registration access token is wrong, or its client is gone.",
        )
    }
    pub(super) fn no_token() -> Self {
        Self {
            no_token: true,
            ..Self::new(
                "invalid_token",
                "A registration access token is required (Authorization: Bearer).",
            )
        }
    }
}

/// What a failure is: a refusal to answer as RFC 7591 says, or a fault of ours.
pub enum Failure {
    Refused(Refusal),
    Internal(Error),
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Internal(error)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// A client just registered (or read, or updated): the app, and what is shown once.
pub struct Registered {
    pub app: App,
    pub software_id: String,
    pub secret: Option<String>,
    pub credential_expires_at: i64,
    pub registration_token: Option<String>,
    pub statement: Option<String>,
    /// The client's live key credential (kind, material), for its metadata.
    pub key: Option<(String, String)>,
}

/// The registration request's JSON object.
pub fn parse(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    if body.len() > MAX_BODY {
        return Err(Refusal::metadata(format!(
            "The request is larger than {MAX_BODY} bytes."
        )));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Refusal::metadata(
            "The request must be a JSON object of client metadata (RFC 7591 §3.1).",
        )),
    }
}

/// Checks a statement's signature (a current directory key), `typ`, `iss`, times
/// and `jti`, on the application clock. Its claims.
async fn verify(state: &AppState, jwt: &str) -> Result<Map<String, Value>, Failure> {
    let header = jsonwebtoken::decode_header(jwt)
        .map_err(|_| Refusal::statement("The software statement is not a signed JWT."))?;
    if header.typ.as_deref() != Some("JWT") {
        return Err(Refusal::statement("The software statement's typ must be JWT.").into());
    }
    let now = state.clock.now();
    let ring = statement::ring(state).await?;
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| {
            ring.published(now, statement::RETENTION_SECONDS)
                .into_iter()
                .find(|k| k.kid == kid)
        })
        .ok_or_else(|| {
            Refusal::statement("The software statement is not signed by a key of this directory.")
        })?;
    let mut validation = jsonwebtoken::Validation::new(key.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = ["iss".to_string()].into();
    validation.set_issuer(&[statement::issuer(state)]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(jwt, &key.decoding, &validation)
        .map_err(|e| Refusal::statement(format!("The software statement does not verify: {e}.")))?
        .claims;
    let time = |name: &str| claims.get(name).and_then(Value::as_i64);
    let (Some(iat), Some(exp)) = (time("iat"), time("exp")) else {
        return Err(Refusal::statement("The software statement has no iat or exp.").into());
    };
    if exp <= now {
        return Err(
            Refusal::statement("The software statement has expired: download a new one.").into(),
        );
    }
    if iat > now + SKEW_SECONDS || now - iat > STATEMENT_SECONDS || exp - iat > STATEMENT_SECONDS {
        return Err(Refusal::statement(format!(
            "The software statement must be at most {STATEMENT_SECONDS} seconds old."
        ))
        .into());
    }
    if claims
        .get("jti")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(Refusal::statement("The software statement has no jti.").into());
    }
    Ok(claims)
}

fn strings(value: Option<&Value>, name: &str) -> Result<Option<Vec<String>>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .filter(|s| !s.chars().any(char::is_control))
                    .map(str::to_string)
            })
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| Refusal::metadata(format!("{name} must be an array of strings."))),
        Some(_) => Err(Refusal::metadata(format!(
            "{name} must be an array of strings."
        ))),
    }
}

pub(super) fn text<'a>(
    request: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Refusal> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.chars().any(char::is_control) => Ok(Some(s)),
        Some(_) => Err(Refusal::metadata(format!("{name} must be a string."))),
    }
}

/// The client's redirect URIs and scopes: the request's, each within the ceiling
/// (`uris`, `scopes`), or `defaults` when the request names none.
pub(super) fn within(
    request: &Map<String, Value>,
    (uris, scopes): (&[String], &[String]),
    grants: &[&str],
    defaults: (&[String], &[String]),
) -> Result<(Vec<String>, Vec<String>), Refusal> {
    let asked_uris = strings(request.get("redirect_uris"), "redirect_uris")?;
    let uris = match asked_uris {
        None => defaults.0.to_vec(),
        Some(asked) => {
            if let Some(outside) = asked.iter().find(|u| !uris.contains(u)) {
                return Err(Refusal::redirect(format!(
                    "{} is not a redirect URI of the software statement.",
                    short(outside)
                )));
            }
            asked
        }
    };
    let scopes = match text(request, "scope")? {
        None => defaults.1.to_vec(),
        Some(asked) => {
            let asked: Vec<String> = crate::clients::catalogue::split(asked);
            if let Some(outside) = asked.iter().find(|s| !scopes.contains(s)) {
                return Err(Refusal::metadata(format!(
                    "The scope {} is outside the software statement's.",
                    short(outside)
                )));
            }
            if asked.is_empty() {
                return Err(Refusal::metadata("The scope is empty."));
            }
            asked
        }
    };
    if let Some(asked) = strings(request.get("grant_types"), "grant_types")? {
        if let Some(outside) = asked.iter().find(|g| !grants.contains(&g.as_str())) {
            return Err(Refusal::metadata(format!(
                "The grant type {} is not allowed for this software.",
                short(outside)
            )));
        }
    }
    Ok((uris, scopes))
}

/// The software behind a verified statement, if it may still register here.
async fn approved(
    state: &AppState,
    issuer: Issuer,
    claims: &Map<String, Value>,
) -> Result<Software, Failure> {
    let software_id = claims
        .get("software_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Refusal::statement("The software statement has no software_id."))?;
    let software = match software::get(state, None, software_id).await {
        Ok(software) => software,
        Err(Error::NotFound) => {
            return Err(Refusal::unapproved("The directory does not know this software.").into())
        }
        Err(other) => return Err(other.into()),
    };
    let app = &software.app;
    if !software.is_active() {
        return Err(Refusal::unapproved("This software was withdrawn from the directory.").into());
    }
    if app.environment != issuer.name() {
        return Err(Refusal::unapproved(format!(
            "This statement is for {} software; register it at the {} issuer.",
            app.environment, app.environment
        ))
        .into());
    }
    if software.is_suspended(state).await? {
        return Err(Refusal::unapproved("This software's client is suspended by the bank.").into());
    }
    // What the statement says must still be what the directory would say now (a
    // review may have narrowed the software, or its key been rotated, since).
    let now_says = statement::claims(state, &software, "", 0);
    let vouched = [
        "scope",
        "redirect_uris",
        "token_endpoint_auth_method",
        "grant_types",
        "jwks_uri",
        "jwks",
        "tls_client_auth_subject_dn",
        "gatehouse_tls_certificate_s256",
        "dpop_bound_access_tokens",
    ];
    if vouched
        .iter()
        .any(|name| claims.get(*name) != now_says.get(*name))
    {
        return Err(Refusal::unapproved(
            "The software changed since this statement was issued: download a new one.",
        )
        .into());
    }
    Ok(software)
}

/// The authentication method a statement names for `software`.
fn effective_method(software: &Software) -> &str {
    let kind = software
        .tls_thumbprint
        .is_some()
        .then_some("tls_certificate");
    statement::auth_method(&software.app.auth_method, kind)
}

/// Registers a client (RFC 7591 §3). A refused request writes nothing but its audit
/// event.
pub async fn register(
    state: &AppState,
    issuer: Issuer,
    body: &[u8],
    caller: &ClientInfo,
) -> Result<Registered, Failure> {
    let now = state.clock.now();
    let limit = crate::platform::limiter::Limit::per_minute("registration", REQUESTS_PER_MINUTE);
    let verdict = state
        .limits
        .admit(&state.db, &format!("register:{}", caller.ip), limit, now)
        .await;
    if !verdict.admitted {
        // Not audited: a flood would only fill the audit trail.
        return Err(Refusal {
            retry_after: verdict.retry_after(),
            ..Refusal::new(
                "slow_down",
                "Too many registration requests from this address: wait a minute.",
            )
        }
        .into());
    }
    let result = register_checked(state, issuer, body, caller).await;
    if let Err(Failure::Refused(refusal)) = &result {
        refused(
            state,
            issuer,
            caller,
            refusal,
            "directory.registration_refused",
            None,
        )
        .await?;
    }
    result
}

pub(super) async fn refused(
    state: &AppState,
    issuer: Issuer,
    caller: &ClientInfo,
    refusal: &Refusal,
    action: &str,
    client_id: Option<&str>,
) -> Result<(), Failure> {
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(Actor::system("dynamic client registration"), action)
            .client(caller)
            .outcome("refused")
            .details(json!({
                "issuer": issuer.name(),
                "error": refusal.code,
                "description": refusal.description.chars().take(300).collect::<String>(),
                "client_id": client_id,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn register_checked(
    state: &AppState,
    issuer: Issuer,
    body: &[u8],
    caller: &ClientInfo,
) -> Result<Registered, Failure> {
    let request = parse(body)?;
    let jwt = text(&request, "software_statement")?.ok_or_else(|| {
        Refusal::statement(
            "A software statement from the directory is required (software_statement).",
        )
    })?;
    let claims = verify(state, jwt).await?;
    let software = approved(state, issuer, &claims).await?;
    let app = &software.app;
    let production = issuer == Issuer::Production;
    let method = effective_method(&software);
    if production && is_secret_method(method) {
        return Err(Refusal::metadata(
            "Production clients authenticate with a key (private_key_jwt) or a certificate, never a client secret.",
        )
        .into());
    }
    if production && (request.contains_key("jwks") || software.jwks.is_some()) {
        return Err(Refusal::metadata(
            "Production clients register a jwks_uri: keys given inline (jwks) are refused.",
        )
        .into());
    }
    let statement_scopes = crate::clients::catalogue::split(
        claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let statement_uris: Vec<String> =
        serde_json::from_value(claims.get("redirect_uris").cloned().unwrap_or(Value::Null))
            .unwrap_or_default();
    let (uris, scopes) = within(
        &request,
        (&statement_uris, &statement_scopes),
        software.grant_types(),
        (&statement_uris, &statement_scopes),
    )?;
    let Some((kind, material, expires_at)) = software.credential.clone() else {
        return Err(Refusal::unapproved("This software has no live credential.").into());
    };
    if production && kind == "client_secret" {
        return Err(Refusal::metadata(
            "Production clients authenticate with a key (private_key_jwt) or a certificate, never a client secret.",
        )
        .into());
    }

    let now = state.clock.now();
    let new_id = ids::new_id(ids::APP);
    let client_id = ids::new_id(ids::CLIENT);
    let token = crypto::random_token();
    let name: String = format!(
        "{} (registered {})",
        app.name,
        &client_id[client_id.len().saturating_sub(6)..]
    );
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut tx = state.db.begin().await?;
    // The software's row first: a withdrawal under way finishes before this goes on
    // (and is then seen), or waits for it (and then revokes this client too).
    let locked =
        sqlx::query("UPDATE apps SET updated_at = updated_at WHERE id = $1 AND status = 'active'")
            .bind(&app.id)
            .execute(&mut *tx)
            .await?;
    if locked.rows_affected() != 1 {
        return Err(Refusal::unapproved("This software was withdrawn from the directory.").into());
    }
    let (leaving, registered): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM organisations o WHERE o.id = $1 AND (o.status = 'offboarded' \
           OR EXISTS (SELECT 1 FROM offboardings f WHERE f.org_id = o.id AND f.status = 'running'))), \
         (SELECT COUNT(*) FROM apps WHERE registered_from = $2 AND status = 'active')",
    )
    .bind(&app.org_id)
    .bind(&app.id)
    .fetch_one(&mut *tx)
    .await?;
    if leaving > 0 {
        return Err(Refusal::unapproved("This organisation is being offboarded.").into());
    }
    if registered >= MAX_REGISTERED {
        return Err(Refusal::unapproved(format!(
            "This software already has {MAX_REGISTERED} registered clients: delete one (RFC 7592) first."
        ))
        .into());
    }
    let used = sqlx::query(
        "UPDATE software_statements SET used_at = $1 WHERE jti = $2 AND app_id = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(jti)
    .bind(&app.id)
    .execute(&mut *tx)
    .await?;
    if used.rows_affected() != 1 {
        return Err(Refusal::statement(
            "This software statement was already used: download a new one.",
        )
        .into());
    }
    let inserted = sqlx::query(
        "INSERT INTO apps (id, org_id, environment, client_id, name, purpose, owner_id, scopes, redirect_uris, \
         auth_method, dpop_required, rate_limit_per_minute, status, created_by, created_at, updated_at, \
         ip_allowlist, access_request_id, allowed_countries, refuse_other_countries, registered_from, registration_token_hash) \
         SELECT $1, org_id, environment, $2, $3, purpose, owner_id, $4, $5, auth_method, dpop_required, rate_limit_per_minute, \
         'active', $6, $7, $7, ip_allowlist, access_request_id, allowed_countries, refuse_other_countries, id, $8 \
         FROM apps WHERE id = $9 AND status = 'active'",
    )
    .bind(&new_id)
    .bind(&client_id)
    .bind(&name)
    .bind(scopes.join(" "))
    .bind(uris.join("\n"))
    .bind(format!("dcr:{}", software.id))
    .bind(now)
    .bind(state.keys.keyed_hash(&token))
    .bind(&app.id)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Err(Refusal::unapproved("This software was withdrawn from the directory.").into());
    }
    let created_by = format!("dcr:{}", software.id);
    let (credential_id, secret) = crate::sandbox::service::insert_credential(
        state,
        &mut tx,
        &new_id,
        &kind,
        if kind == "client_secret" {
            None
        } else {
            material
        },
        &created_by,
        (now, expires_at),
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(Actor::system(&created_by), "directory.client_registered")
            .client(caller)
            .org(Some(&app.org_id))
            .resource("app", &new_id)
            .details(json!({
                "client_id": client_id,
                "software_id": software.id,
                "jti": jti,
                "environment": app.environment,
                "scopes": scopes,
                "redirect_uris": uris,
                "credential_id": credential_id,
            })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    let registered = client(state, issuer, &new_id).await?;
    Ok(Registered {
        app: registered,
        software_id: software.id.clone(),
        secret,
        credential_expires_at: expires_at,
        registration_token: Some(token),
        statement: Some(jwt.to_string()),
        key: key_of(state, &new_id).await?,
    })
}

/// The newest live key credential of a client: its kind and public material.
pub(super) async fn key_of(
    state: &AppState,
    app_id: &str,
) -> Result<Option<(String, String)>, Failure> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT kind, material FROM credentials WHERE app_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2 AND kind <> 'client_secret' ORDER BY created_at, id",
    )
    .bind(app_id)
    .bind(state.clock.now())
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .last()
        .and_then(|(kind, material)| Some((kind, material?))))
}

pub(super) async fn client(state: &AppState, issuer: Issuer, app_id: &str) -> Result<App, Failure> {
    let row = sqlx::query(&format!(
        "SELECT {APP_COLUMNS} FROM apps WHERE id = $1 AND environment = $2"
    ))
    .bind(app_id)
    .bind(issuer.name())
    .fetch_optional(&state.db.pool)
    .await?;
    match row {
        Some(row) => Ok(App::from_row(&row)?),
        None => Err(Error::NotFound.into()),
    }
}

/// The client's registered metadata (RFC 7591 §3.2.1), with what is shown once.
pub fn response(state: &AppState, issuer: Issuer, registered: &Registered) -> Value {
    let app = &registered.app;
    let mut body = json!({
        "client_id": app.client_id,
        "client_id_issued_at": app.created_at,
        "client_name": app.name,
        "redirect_uris": app.redirect_uris,
        "scope": app.scopes.join(" "),
        "token_endpoint_auth_method": app.auth_method,
        "grant_types": software::grant_types(&app.environment),
        "software_id": registered.software_id,
        "registration_client_uri": state.settings.link(&issuer.path(&format!(
            "{}/{}",
            crate::clients::paths::REGISTER,
            app.client_id
        ))),
    });
    if let Some(object) = body.as_object_mut() {
        if app.environment == "sandbox" {
            object.insert("response_types".into(), json!(["code"]));
        }
        if app.dpop_required {
            object.insert("dpop_bound_access_tokens".into(), json!(true));
        }
        match &registered.key {
            Some((kind, uri)) if kind == "jwks_uri" => {
                object.insert("jwks_uri".into(), json!(uri));
            }
            Some((kind, set)) if kind == "jwks" => {
                if let Ok(set) = serde_json::from_str::<Value>(set) {
                    object.insert("jwks".into(), set);
                }
            }
            Some((kind, subject)) if kind == "tls_subject" => {
                // RFC 8705 §2.1.2.
                object.insert("tls_client_auth_subject_dn".into(), json!(subject));
            }
            _ => {}
        }
        let kind = registered.key.as_ref().map(|(kind, _)| kind.as_str());
        object.insert(
            "token_endpoint_auth_method".into(),
            json!(statement::auth_method(&app.auth_method, kind)),
        );
        if let Some(secret) = &registered.secret {
            object.insert("client_secret".into(), json!(secret));
            // RFC 7591 §3.2.1: REQUIRED with a secret.
            object.insert(
                "client_secret_expires_at".into(),
                json!(registered.credential_expires_at),
            );
        }
        if let Some(token) = &registered.registration_token {
            object.insert("registration_access_token".into(), json!(token));
        }
        if let Some(jwt) = &registered.statement {
            object.insert("software_statement".into(), json!(jwt));
        }
    }
    body
}
