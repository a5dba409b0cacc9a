//! The configured OpenID providers, on the `openidconnect` crate: discovery (once,
//! on first use, so Gatehouse starts while a provider is down), the authorization
//! request with PKCE, the code exchange and the ID token's validation (signature,
//! issuer, audience, `azp`, expiry, nonce), and the logout token of back-channel
//! logout. When a token is signed with a key the cached key set does not hold, the
//! key set is fetched again, at most once a minute per provider, and the token
//! checked once more: a key rotation at the provider locks nobody out.

use std::sync::Arc;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, JsonWebTokenType, Nonce, NonceVerifier, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, SignatureVerificationError, StandardErrorResponse, StandardTokenResponse,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use super::config::IdpConfig;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

/// Every claim of a token, kept for what the configuration names (the groups
/// claim, `sid`, `tid`, `email`, `events`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Extra {
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}
impl AdditionalClaims for Extra {}

type Fields = IdTokenFields<
    Extra,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type IdToken = openidconnect::IdToken<
    Extra,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type IdClaims = openidconnect::IdTokenClaims<Extra, CoreGenderClaim>;
type OidcClient = openidconnect::Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<Fields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The key set is fetched again at most this often per provider.
const JWKS_COOL_DOWN: i64 = 60;

/// Why a sign-in or a logout token was refused: recorded in the audit trail, and
/// said to the person in plain words.
#[derive(Debug)]
pub struct Refusal {
    pub reason: &'static str,
    pub detail: String,
}

impl Refusal {
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

struct Discovered {
    metadata: CoreProviderMetadata,
    jwks_fetched_at: i64,
    discovered_at: i64,
}

/// Discovery (with the key set) is read again after this long, so a key the
/// provider withdrew stops being trusted without a restart.
const REDISCOVER_SECONDS: i64 = 24 * 3600;

/// One provider: its configuration and what discovery found.
pub struct Idp {
    pub config: IdpConfig,
    discovered: RwLock<Option<Discovered>>,
    /// A partner organisation's provider (`sso::partner`): its URLs are the
    /// partner's, so every request to them goes through the outbound policy (public
    /// https addresses only), and it sends people back to `/sso/partner/<org>/callback`.
    pub partner: bool,
}

/// Every configured provider (a part of the state, put there by the composition root).
pub struct Registry {
    pub idps: Vec<Arc<Idp>>,
    http: openidconnect::reqwest::Client,
    /// Partner organisations' providers, by organisation, with the `updated_at` of
    /// the configuration they were made from (a change anywhere makes a new one).
    pub partners: std::sync::Mutex<std::collections::HashMap<String, (i64, Arc<Idp>)>>,
}

impl AppState {
    /// The configured identity providers.
    pub fn sso(&self) -> &Registry {
        self.parts.get::<Registry>()
    }
}

/// What the authorization request leaves to be checked at the callback.
pub struct Started {
    pub url: url::Url,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl Registry {
    /// The providers of `--staff-idp`, each checked; nothing is fetched yet.
    pub fn new(specs: &[String]) -> std::result::Result<Self, String> {
        let mut idps: Vec<Arc<Idp>> = Vec::new();
        for spec in specs {
            let config = IdpConfig::parse(spec).map_err(|e| format!("--staff-idp: {e}"))?;
            if idps.iter().any(|i| i.config.id == config.id) {
                return Err(format!("--staff-idp: id={} is given twice", config.id));
            }
            idps.push(Arc::new(Idp::new(config, false)));
        }
        // No redirects: a provider's answer is taken from where it was asked.
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            idps,
            http,
            partners: Default::default(),
        })
    }

    pub fn get(&self, id: &str) -> Option<Arc<Idp>> {
        self.idps.iter().find(|i| i.config.id == id).cloned()
    }

    pub fn is_configured(&self) -> bool {
        !self.idps.is_empty()
    }
}

/// Where a provider sends the person back: `<public url>/sso/<id>/callback`.
pub fn redirect_uri(state: &AppState, id: &str) -> String {
    state.settings.link(&format!("/sso/{id}/callback"))
}

/// Where a provider posts its logout tokens.
pub fn backchannel_uri(state: &AppState, id: &str) -> String {
    state
        .settings
        .link(&format!("/sso/{id}/backchannel-logout"))
}

fn unreachable(err: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!(
        "The identity provider cannot be reached just now ({err}). Try again in a minute."
    ))
}

impl Idp {
    fn multi_tenant(&self) -> bool {
        self.config
            .issuer
            .contains(super::config::TENANT_PLACEHOLDER)
    }

    pub fn new(config: IdpConfig, partner: bool) -> Self {
        Self {
            config,
            discovered: RwLock::new(None),
            partner,
        }
    }

    /// The HTTP client for a request to `url`: the configured providers' own, or for
    /// a partner's provider one pinned to the addresses the outbound policy allowed.
    async fn http(&self, state: &AppState, url: &str) -> Result<openidconnect::reqwest::Client> {
        if !self.partner {
            return Ok(state.sso().http.clone());
        }
        let timeout = Duration::from_secs(10);
        let target = state
            .outbound
            .check(url, timeout)
            .await
            .map_err(unreachable)?;
        state.outbound.client(&target, timeout).map_err(unreachable)
    }

    /// Discovery and the key set: once a day, otherwise kept.
    async fn metadata(&self, state: &AppState, now: i64) -> Result<CoreProviderMetadata> {
        let current = |d: &Discovered| now - d.discovered_at < REDISCOVER_SECONDS;
        if let Some(d) = self.discovered.read().await.as_ref().filter(|d| current(d)) {
            return Ok(d.metadata.clone());
        }
        let mut slot = self.discovered.write().await;
        if let Some(d) = slot.as_ref().filter(|d| current(d)) {
            return Ok(d.metadata.clone());
        }
        let metadata = if self.multi_tenant() || self.partner {
            // Read by hand: Entra's multi-tenant document names a templated issuer,
            // which the crate's discovery (rightly) refuses (the issuer is then checked
            // per tenant, `issuer_matches`); a partner's provider is reached through
            // the outbound policy, a client per host.
            let issuer = self
                .config
                .issuer
                .replace(super::config::TENANT_PLACEHOLDER, "organizations");
            let url = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let mut response = self
                .http(state, &url)
                .await?
                .get(&url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(unreachable)?;
            // Read with a cap: a provider's document is a few kilobytes.
            let mut doc = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
                doc.extend_from_slice(&chunk);
                if doc.len() > 256 * 1024 {
                    return Err(unreachable("its discovery document is over 256 KB"));
                }
            }
            let metadata: CoreProviderMetadata =
                serde_json::from_slice(&doc).map_err(unreachable)?;
            if self.partner && metadata.issuer().as_str() != self.config.issuer {
                return Err(unreachable(format!(
                    "its discovery document names the issuer {}",
                    metadata.issuer().as_str()
                )));
            }
            let jwks_client = self.http(state, metadata.jwks_uri().as_str()).await?;
            let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &jwks_client)
                .await
                .map_err(unreachable)?;
            metadata.set_jwks(jwks)
        } else {
            let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(Error::internal)?;
            CoreProviderMetadata::discover_async(issuer, &state.sso().http)
                .await
                .map_err(unreachable)?
        };
        *slot = Some(Discovered {
            metadata: metadata.clone(),
            // The cool-down spaces refetches; the first one after discovery may come at once.
            jwks_fetched_at: now - JWKS_COOL_DOWN,
            discovered_at: now,
        });
        Ok(metadata)
    }

    /// Fetches the key set again after an unknown key, unless it was fetched within
    /// the cool-down. The fetch runs outside the lock (sign-ins go on meanwhile), and
    /// one caller at a time claims it. Whether there is a new set to try.
    async fn refresh_keys(&self, state: &AppState, now: i64) -> bool {
        let uri = {
            let mut slot = self.discovered.write().await;
            let Some(d) = slot.as_mut() else {
                return false;
            };
            if now - d.jwks_fetched_at < JWKS_COOL_DOWN {
                return false;
            }
            d.jwks_fetched_at = now;
            d.metadata.jwks_uri().clone()
        };
        let Ok(http) = self.http(state, uri.as_str()).await else {
            return false;
        };
        match CoreJsonWebKeySet::fetch_async(&uri, &http).await {
            Ok(jwks) => {
                if let Some(d) = self.discovered.write().await.as_mut() {
                    d.metadata = d.metadata.clone().set_jwks(jwks);
                }
                tracing::info!(idp = %self.config.id, "identity provider's keys fetched again");
                true
            }
            Err(err) => {
                tracing::warn!(idp = %self.config.id, "identity provider's keys: {err}");
                false
            }
        }
    }

    fn client(&self, state: &AppState, metadata: CoreProviderMetadata) -> Result<OidcClient> {
        let uri = if self.partner {
            super::partner::redirect_uri(state, &self.config.id)
        } else {
            redirect_uri(state, &self.config.id)
        };
        let redirect = RedirectUrl::new(uri).map_err(Error::internal)?;
        // With `private_key_jwt` there is no secret: the client id goes in the body
        // and the assertion beside it (`finish`).
        let secret = (!self.config.client_secret.is_empty())
            .then(|| ClientSecret::new(self.config.client_secret.clone()));
        Ok(OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect))
    }

    /// The authorization request: code flow, PKCE S256, a fresh `state` and `nonce`.
    /// `fresh` asks for a new authentication (`prompt=login`, `max_age=0`), for a
    /// step-up before a decision.
    pub async fn start(&self, state: &AppState, fresh: bool) -> Result<Started> {
        let metadata = self.metadata(state, state.clock.now()).await?;
        let client = self.client(state, metadata)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if fresh {
            request = request
                .add_prompt(CoreAuthPrompt::Login)
                .set_max_age(Duration::from_secs(0));
        }
        let (url, csrf, nonce) = request.url();
        Ok(Started {
            url,
            state: csrf.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code (with the PKCE verifier) and returns the ID token's
    /// verified claims.
    pub async fn finish(
        &self,
        state: &AppState,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<std::result::Result<IdClaims, Refusal>> {
        let now = state.clock.now();
        let metadata = self.metadata(state, now).await?;
        let token_url = metadata
            .token_endpoint()
            .map(|u| u.as_str().to_string())
            .unwrap_or_default();
        let client = self.client(state, metadata)?;
        let request = match client.exchange_code(AuthorizationCode::new(code.to_string())) {
            Ok(request) => request,
            Err(err) => return Ok(Err(Refusal::new("provider_metadata", err.to_string()))),
        };
        let mut request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()));
        if let Some(key) = &self.config.private_key {
            let assertion = self.client_assertion(key, now)?;
            request = request
                .add_extra_param(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .add_extra_param("client_assertion", assertion);
        }
        let http = self.http(state, &token_url).await?;
        let response = match request.request_async(&http).await {
            Ok(response) => response,
            Err(err) => return Ok(Err(Refusal::new("code_refused", describe(&err)))),
        };
        let Some(token) = response.id_token().cloned() else {
            return Ok(Err(Refusal::new(
                "no_id_token",
                "the token response has no ID token",
            )));
        };
        let nonce = Nonce::new(nonce.to_string());
        self.verify(state, client, &token, &nonce, &["JWT"]).await
    }

    async fn verify(
        &self,
        state: &AppState,
        client: OidcClient,
        token: &IdToken,
        nonce: impl NonceVerifier + Copy,
        types: &[&str],
    ) -> Result<std::result::Result<IdClaims, Refusal>> {
        let types: Vec<_> = types
            .iter()
            .filter_map(|t| JsonWebTokenType::new((*t).to_string()).normalize().ok())
            .collect();
        let now = state.clock.now();
        let mut client = client;
        for attempt in 0..2 {
            let outcome = {
                let mut verifier = client.id_token_verifier().set_time_fn(move || {
                    chrono::DateTime::from_timestamp(now, 0).unwrap_or_default()
                });
                if self.multi_tenant() {
                    verifier = verifier.require_issuer_match(false);
                }
                verifier = verifier.set_allowed_jose_types(types.iter().cloned());
                token.claims(&verifier, nonce).cloned()
            };
            match outcome {
                Ok(claims) => return Ok(self.check_claims(claims)),
                Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )) if attempt == 0 && self.refresh_keys(state, now).await => {
                    let metadata = self.metadata(state, now).await?;
                    client = self.client(state, metadata)?;
                }
                Err(err) => return Ok(Err(Refusal::new("id_token_invalid", err.to_string()))),
            }
        }
        Ok(Err(Refusal::new(
            "id_token_invalid",
            "no key of the provider verifies the token",
        )))
    }

    /// What the crate leaves to the relying party: `azp`, when present, is this
    /// client (OpenID Connect Core §3.1.3.7 item 5), and a multi-tenant issuer is
    /// checked against the accepted tenants.
    fn check_claims(&self, claims: IdClaims) -> std::result::Result<IdClaims, Refusal> {
        if let Some(azp) = claims.authorized_party() {
            if azp.as_str() != self.config.client_id {
                return Err(Refusal::new(
                    "id_token_invalid",
                    format!("azp is {}", azp.as_str()),
                ));
            }
        }
        let tid = claims
            .additional_claims()
            .claims
            .get("tid")
            .and_then(Value::as_str);
        if !self.config.issuer_matches(claims.issuer().as_str(), tid) {
            return Err(Refusal::new(
                "wrong_issuer",
                format!("iss is {}", claims.issuer().as_str()),
            ));
        }
        Ok(claims)
    }

    /// A back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6):
    /// signed by the provider, for this client, with the logout event, `sub`, no
    /// `nonce`, issued within the last five minutes. Parsed and verified as a JWT of
    /// the ID token's shape by the crate (signature, `iss`, `aud`, `exp`); the
    /// logout-specific members are checked here.
    pub async fn logout_token(
        &self,
        state: &AppState,
        raw: &str,
    ) -> Result<std::result::Result<IdClaims, Refusal>> {
        let token: IdToken = match serde_json::from_value(Value::String(raw.to_string())) {
            Ok(token) => token,
            Err(err) => return Ok(Err(Refusal::new("logout_token_invalid", err.to_string()))),
        };
        let metadata = self.metadata(state, state.clock.now()).await?;
        let client = self.client(state, metadata)?;
        let no_nonce = |nonce: Option<&Nonce>| match nonce {
            None => Ok(()),
            Some(_) => Err("a logout token must not carry a nonce".to_string()),
        };
        // §2.4: a logout token is typed `logout+jwt`; untyped (JWT) ones are still sent.
        let types = ["logout+jwt", "JWT"];
        let claims = match self.verify(state, client, &token, no_nonce, &types).await? {
            Ok(claims) => claims,
            Err(refusal) => return Ok(Err(Refusal::new("logout_token_invalid", refusal.detail))),
        };
        let extra = &claims.additional_claims().claims;
        let has_event = extra
            .get("events")
            .and_then(Value::as_object)
            .is_some_and(|e| e.contains_key("http://schemas.openid.net/event/backchannel-logout"));
        if !has_event {
            return Ok(Err(Refusal::new(
                "logout_token_invalid",
                "no back-channel logout event",
            )));
        }
        let age = state.clock.now() - claims.issue_time().timestamp();
        if !(-60..=300).contains(&age) {
            return Ok(Err(Refusal::new(
                "logout_token_invalid",
                format!("issued {age} s ago"),
            )));
        }
        if extra.get("jti").and_then(Value::as_str).is_none() {
            return Ok(Err(Refusal::new("logout_token_invalid", "no jti")));
        }
        Ok(Ok(claims))
    }
}

/// The signing key of a PEM private key: PKCS#8 P-256 (ES256), or RSA in PKCS#8 or
/// PKCS#1 (RS256). `None` when it is neither.
pub fn assertion_key(pem: &str) -> Option<(jsonwebtoken::Algorithm, jsonwebtoken::EncodingKey)> {
    use jsonwebtoken::{Algorithm, EncodingKey};
    use p256::pkcs8::DecodePrivateKey as _;
    use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
    let block = pem::parse(pem.trim()).ok()?;
    let der = block.contents();
    match block.tag() {
        "PRIVATE KEY" => {
            if p256::SecretKey::from_pkcs8_der(der).is_ok() {
                return Some((Algorithm::ES256, EncodingKey::from_ec_der(der)));
            }
            let rsa = rsa::RsaPrivateKey::from_pkcs8_der(der).ok()?;
            let pkcs1 = rsa.to_pkcs1_der().ok()?;
            Some((
                Algorithm::RS256,
                EncodingKey::from_rsa_der(pkcs1.as_bytes()),
            ))
        }
        "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(der)
            .ok()
            .map(|_| (Algorithm::RS256, EncodingKey::from_rsa_der(der))),
        _ => None,
    }
}

impl Idp {
    /// A `private_key_jwt` client assertion (RFC 7523 §3): issued by and about the
    /// client, for the provider (its issuer identifier, which OpenID Connect's
    /// 2025 errata recommend over the token endpoint), one minute's life, unique.
    fn client_assertion(&self, key: &super::config::PrivateKey, now: i64) -> Result<String> {
        let (alg, encoding) = assertion_key(&key.pem)
            .ok_or_else(|| Error::Internal("the SSO client key cannot be read".into()))?;
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = key.kid.clone();
        let claims = serde_json::json!({
            "iss": self.config.client_id, "sub": self.config.client_id,
            "aud": self.config.issuer, "jti": crate::platform::crypto::random_token(),
            "iat": now, "exp": now + 60,
        });
        jsonwebtoken::encode(&header, &claims, &encoding).map_err(Error::internal)
    }
}

fn describe<E: std::error::Error>(err: &E) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(300).collect()
}

/// The claims Gatehouse records about a sign-in: what decided the role and the
/// assurance, never the whole token.
pub fn recorded_claims(config: &IdpConfig, claims: &IdClaims) -> Value {
    let extra = &claims.additional_claims().claims;
    serde_json::json!({
        "iss": claims.issuer().as_str(),
        "sub": claims.subject().as_str(),
        "email": claims.email().map(|e| e.as_str()),
        "email_verified": claims.email_verified(),
        config.groups_claim.clone(): extra.get(&config.groups_claim),
        "acr": claims.auth_context_ref().map(|a| a.as_str()),
        "amr": amr(claims),
        "auth_time": claims.auth_time().map(|t| t.timestamp()),
    })
}

/// The name a new account gets: the token's `name` (cut to 100 characters, no
/// control characters), or else the e-mail address.
pub fn display_name(claims: &IdClaims, email: &str) -> String {
    claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().trim().chars().take(100).collect::<String>())
        .filter(|n| !n.is_empty() && !n.chars().any(char::is_control))
        .unwrap_or_else(|| email.to_string())
}

/// The `amr` values of a token.
pub fn amr(claims: &IdClaims) -> Vec<String> {
    claims
        .auth_method_refs()
        .map(|a| a.iter().map(|m| m.as_str().to_string()).collect())
        .unwrap_or_default()
}

/// The groups claim as strings, or `None` when the token has no such claim (which
/// refuses the sign-in: roles are never removed or defaulted on a missing claim).
pub fn groups(config: &IdpConfig, claims: &IdClaims) -> Option<Vec<String>> {
    match claims
        .additional_claims()
        .claims
        .get(&config.groups_claim)?
    {
        Value::Array(values) => Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        Value::String(one) => Some(vec![one.clone()]),
        _ => None,
    }
}

/// The providers (id, label) in their configured order, for the sign-in page.
pub fn sign_in_options(state: &AppState) -> Vec<(String, String)> {
    state
        .sso()
        .idps
        .iter()
        .map(|i| (i.config.id.clone(), i.config.label.clone()))
        .collect()
}
