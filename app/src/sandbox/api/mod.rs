//! The sandbox API: the UK Open Banking Read/Write API v3.1.11 over each partner
//! organisation's synthetic dataset, under `/sandbox/open-banking/v3.1/{aisp,pisp}`,
//! plus public reference data under `/sandbox/open-banking/v3.1/reference`.
//!
//! Every response passes [`envelope::envelope`]: the `x-fapi-interaction-id` is
//! echoed (or generated), `Accept` is checked, and every error is an
//! `OBErrorResponse1`. Every call to an endpoint goes through [`guard`]: the access token is checked in full (signature, `typ`, issuer,
//! audience, expiry, revocation of the token, its credential, app and consent), its
//! sender constraint is enforced (DPoP proof with `ath` for `cnf.jkt`, the same client
//! certificate for `cnf.x5t#S256`), the call counts against the client's rate limit,
//! and it lands in the app's request log.

pub mod aisp;
pub mod consents;
pub mod dataset;
pub mod envelope;
pub mod error;
pub mod idempotency;
pub mod obie;
pub mod pisp;
pub mod reference;
pub mod schema;
pub mod transactions;

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use time::OffsetDateTime;

use self::error::{LoggedError, ObError, ObResult};
use crate::clients::reqlog::Entry;
use crate::oauth::jwt::{self, AccessClaims};
use crate::oauth::{dpop, Caller};
use crate::platform::state::AppState;

pub const BASE: &str = crate::clients::paths::SANDBOX_API_BASE;
pub const INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");

/// The caller of an API call, once its token has been checked.
#[derive(Clone, Debug)]
pub struct Bearer {
    pub claims: AccessClaims,
    pub app_id: String,
    pub org_id: String,
    /// The request's `x-fapi-interaction-id`.
    pub interaction_id: String,
    /// The request's own URL, for `Links.Self`.
    pub url: String,
}

impl Bearer {
    /// The request's URL without its query.
    pub fn path_url(&self) -> &str {
        self.url.split('?').next().unwrap_or_default()
    }

    /// The URL of a resource this request created, for its `Links.Self`.
    pub fn link_to(&self, id: &str) -> String {
        format!("{}/{id}", self.path_url())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims.scope.split(' ').any(|s| s == scope)
    }

    /// RFC 6750 §3.1 `insufficient_scope`, as an OBIE 403.
    pub fn require_scope(&self, scope: &str) -> ObResult<()> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ObError::forbidden(
                "UK.OBIE.Resource.ConsentMismatch",
                format!("The access token does not carry the {scope} scope."),
            ))
        }
    }

    /// Endpoints that act for the app itself (creating consents) take a
    /// client-credentials token, issued with no customer.
    pub fn require_client_token(&self) -> ObResult<()> {
        if self.claims.consent_id.is_none() && self.claims.sub == self.claims.client_id {
            Ok(())
        } else {
            Err(ObError::forbidden(
                "UK.OBIE.Resource.ConsentMismatch",
                "This endpoint takes a client-credentials access token, not a customer's.",
            ))
        }
    }

    /// The customer's grant behind an authorization-code token.
    pub fn customer_grant(&self) -> ObResult<&str> {
        self.claims.consent_id.as_deref().ok_or_else(|| {
            ObError::forbidden(
                "UK.OBIE.Resource.ConsentMismatch",
                "This endpoint takes an access token a customer authorised (authorization-code grant), not a client-credentials token.",
            )
        })
    }
}

/// A 201 with a JSON body that must not be cached (it may carry customer data).
pub fn created(body: serde_json::Value) -> Response {
    let mut response = (axum::http::StatusCode::CREATED, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn now(state: &AppState) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(state.clock.now()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn routes(state: AppState) -> Router<AppState> {
    // A path that is no endpoint is a JSON 404, never the portal's HTML page. With
    // an access token it is checked and counted like any call, so the developer
    // finds the mistyped path in the app's request log; without one it is a 404.
    let unknown = Router::new()
        .route(BASE, any(unknown_endpoint))
        .route(&format!("{BASE}/{{*path}}"), any(unknown_endpoint))
        .layer(from_fn_with_state(state.clone(), guard_if_token));
    Router::new()
        .route(
            &format!("{BASE}/aisp/account-access-consents"),
            post(consents::create_account_access),
        )
        .route(
            &format!("{BASE}/aisp/account-access-consents/{{consent_id}}"),
            get(consents::get_account_access).delete(consents::delete_account_access),
        )
        .merge(aisp::routes())
        .merge(pisp::routes())
        .merge(reference::routes())
        .layer(from_fn_with_state(state, guard))
        .merge(unknown)
        .layer(axum::middleware::from_fn(envelope::envelope))
}

/// The Read/Write API's endpoints this sandbox does not offer, by path prefix (and
/// the statement file, `/aisp/accounts/{AccountId}/statements/{StatementId}/file`):
/// an ASPSP "that has not implemented an API endpoint must respond with a 404 (Not
/// Found)". Listed in the README's sandbox section.
pub const NOT_OFFERED: [&str; 4] = [
    "/pisp/domestic-scheduled-payment",
    "/pisp/domestic-standing-order",
    "/pisp/file-payment",
    "/pisp/international-",
];

async fn unknown_endpoint(request: Request) -> ObError {
    let path = request.uri().path();
    let rest = path.strip_prefix(BASE).unwrap_or(path);
    let statement_file = rest.starts_with("/aisp/accounts/") && rest.ends_with("/file");
    if statement_file || NOT_OFFERED.iter().any(|p| rest.starts_with(p)) {
        ObError::new(
            axum::http::StatusCode::NOT_FOUND,
            "UK.OBIE.Resource.NotFound",
            format!("{rest} is an endpoint of the Read/Write API that this sandbox does not offer (the sandbox docs list what it does)."),
        )
    } else {
        ObError::not_found(&format!("The endpoint {rest}"))
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        _ => "OTHER",
    }
}

/// The guard for a request that carries a token; none for one without (an empty
/// `Authorization` header carries none).
async fn guard_if_token(
    state: State<AppState>,
    caller: Caller,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .is_some_and(|(scheme, credentials)| {
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop"))
                && !credentials.trim().is_empty()
        });
    if token {
        guard(state, caller, request, next).await
    } else {
        next.run(request).await
    }
}

async fn guard(
    State(state): State<AppState>,
    caller: Caller,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_name(request.method());
    let path = request.uri().path().to_string();
    let interaction = request
        .extensions()
        .get::<envelope::InteractionId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let outcome = authenticate(&state, &caller, request.headers(), request.method(), &path).await;
    match outcome {
        Err(err) => err.into_response(),
        Ok(active) => {
            let verdict = crate::oauth::limits::admit(
                &state,
                &active.claims.client_id,
                active.rate_limit_per_minute,
            )
            .await;
            let mut response = if verdict.admitted {
                let query = request
                    .uri()
                    .query()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                request.extensions_mut().insert(Bearer {
                    claims: active.claims.clone(),
                    app_id: active.app_id.clone(),
                    org_id: active.org_id.clone(),
                    interaction_id: interaction.clone(),
                    url: format!("{}{query}", caller.link(&state, &path)),
                });
                next.run(request).await
            } else {
                ObError::new(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "UK.OBIE.Rules.RateLimited",
                    "The app's rate limit is exhausted; retry later.",
                )
                .into_response()
            };
            verdict.apply(response.headers_mut());
            state.oauth().request_log.record(Entry {
                app_id: active.app_id,
                credential_id: Some(active.claims.cred),
                at: state.clock.now(),
                method,
                // A mistyped path is the caller's text: logged, but not at any length
                // (a copy only for a path that long; a real endpoint's moves as it is).
                endpoint: if path.len() > 300 {
                    path.chars().take(300).collect()
                } else {
                    path
                },
                status: response.status().as_u16(),
                latency_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
                error: response
                    .extensions()
                    .get::<LoggedError>()
                    .map(|e| e.0.to_string()),
                scope: None,
                source: Some(caller.info.ip.clone()),
            });
            response
        }
    }
}

/// Checks the access token and its sender constraint.
async fn authenticate(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    method: &Method,
    path: &str,
) -> ObResult<jwt::Active> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ObError::unauthorized(
                "Bearer",
                "Send an access token in the Authorization header.",
            )
        })?;
    let (scheme, token) = authorization.split_once(' ').ok_or_else(|| {
        ObError::unauthorized(
            "Bearer",
            "The Authorization header must be Bearer or DPoP and a token.",
        )
    })?;
    let dpop_scheme = scheme.eq_ignore_ascii_case("DPoP");
    if !dpop_scheme && !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(ObError::unauthorized(
            "Bearer",
            "The Authorization header must be Bearer or DPoP and a token.",
        ));
    }
    let challenge = if dpop_scheme { "DPoP" } else { "Bearer" };
    let active = jwt::check(state, crate::oauth::Issuer::Sandbox, token.trim())
        .await?
        .ok_or_else(|| ObError::unauthorized(challenge, "The access token is not active."))?;
    match active.claims.jkt() {
        Some(jkt) => {
            if !dpop_scheme {
                return Err(ObError::unauthorized("DPoP", "This access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof."));
            }
            let htu = caller.link(state, path);
            let proved = dpop::verify(state, headers, method.as_str(), &htu, Some(token.trim()))
                .await
                .map_err(|err| ObError::unauthorized("DPoP", err.description))?;
            match proved {
                Some(key) if key == jkt => {}
                Some(_) => return Err(ObError::unauthorized(
                    "DPoP",
                    "The DPoP proof is signed by another key than the one the token is bound to.",
                )),
                None => {
                    return Err(ObError::unauthorized(
                        "DPoP",
                        "This access token is DPoP-bound: send a DPoP proof.",
                    ))
                }
            }
        }
        None if dpop_scheme => {
            return Err(ObError::unauthorized(
                "Bearer",
                "This access token is not DPoP-bound: send it as Authorization: Bearer.",
            ));
        }
        None => {}
    }
    if let Some(x5t) = active.claims.x5t() {
        let presented = caller.certificate().map(|c| c.thumbprint.as_str());
        if presented != Some(x5t) {
            return Err(ObError::unauthorized(challenge, "This access token is bound to a client certificate: call the mTLS endpoint with that certificate."));
        }
    }
    Ok(active)
}
