//! The authorization endpoint (RFC 6749 §4.1.1) and the sandbox bank's customer pages:
//! a test customer signs in on a sandbox-branded page and grants or refuses a consent
//! that names the app, its organisation and the scopes. Granting stores the consent
//! and sends a single-use, 60-second code back to the client with `state` and `iss`.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

use super::params::Params;
use super::request::{self, AuthRequest, Invalid};
use crate::audit::{self, Actor, Event};
use crate::platform::context::Ctx;
use crate::platform::crypto::{self, ct_eq};
use crate::platform::error::{Error, Invalid as FormInvalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;
use crate::sandbox::model;
use crate::ui::Form;

pub const PATH: &str = "/oauth/authorize";
pub const SIGNIN_PATH: &str = "/oauth/authorize/signin";
pub const CONSENT_PATH: &str = "/oauth/authorize/consent";
/// An authorization code is exchanged within a minute or not at all.
pub const CODE_LIFETIME: i64 = 60;
/// The customer has ten minutes to sign in and decide.
const PENDING_LIFETIME: i64 = 600;

mod keys {
    pub const REQUEST: &str = "oauth_request";
    pub const CUSTOMER: &str = "sandbox_customer";
}

pub async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let params = Params::parse(query.unwrap_or_default().as_bytes())
        .map_err(|e| Error::BadRequest(e.description))?;
    let client_id = params
        .get("client_id")
        .ok_or_else(|| Error::BadRequest("The authorization request has no client_id.".into()))?;
    let app = model::app_by_client_id(&state.db.pool, client_id)
        .await?
        .filter(|app| app.is_active() && app.environment == "sandbox")
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "There is no active sandbox app with the client_id {client_id}."
            ))
        })?;
    let auth_request = match params.get("request_uri") {
        Some(uri) => pushed(&state, &app.id, uri).await?,
        None => match request::validate(&app, &params) {
            Ok(valid) => valid,
            Err(Invalid::NoRedirect(message)) => return Err(Error::BadRequest(message)),
            Err(Invalid::Redirect {
                redirect_uri,
                state: client_state,
                error,
            }) => {
                let to = request::redirect_with(
                    &redirect_uri,
                    &state.settings.issuer(),
                    &[
                        ("error", error.code.as_str()),
                        ("error_description", &error.description),
                    ],
                    client_state.as_deref(),
                );
                return Ok(Redirect::to(&to).into_response());
            }
        },
    };
    let pending = json!({ "request": auth_request, "at": state.clock.now() });
    ctx.session
        .insert(keys::REQUEST, pending)
        .await
        .map_err(Error::internal)?;
    let next = if customer(&ctx).await?.is_some() {
        CONSENT_PATH
    } else {
        SIGNIN_PATH
    };
    Ok(Redirect::to(next).into_response())
}

/// The pushed request behind a `request_uri`, if it is this app's, fresh and unused.
async fn pushed(state: &AppState, app_id: &str, uri: &str) -> Result<AuthRequest> {
    let unknown =
        || Error::BadRequest("The request_uri is unknown, has expired or has been used.".into());
    let reference = uri
        .strip_prefix(super::par::URN_PREFIX)
        .ok_or_else(unknown)?;
    let hash = state.keys.keyed_hash(reference);
    let row = sqlx::query(
        "SELECT app_id, params, expires_at, used_at FROM pushed_requests WHERE uri_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(unknown)?;
    let fresh = row.try_get::<String, _>("app_id")? == app_id
        && row.try_get::<i64, _>("expires_at")? > state.clock.now()
        && row.try_get::<Option<i64>, _>("used_at")?.is_none();
    if !fresh {
        return Err(unknown());
    }
    let mut request: AuthRequest =
        serde_json::from_str(&row.try_get::<String, _>("params")?).map_err(Error::internal)?;
    request.pushed = Some(hash);
    Ok(request)
}

async fn pending(state: &AppState, ctx: &Ctx) -> Result<AuthRequest> {
    let value = ctx
        .session
        .get::<Value>(keys::REQUEST)
        .await
        .map_err(Error::internal)?;
    let expired = || {
        Error::BadRequest(
            "This authorization has expired or was already completed. Go back to the app and start again.".into(),
        )
    };
    let value = value.ok_or_else(expired)?;
    let at = value.get("at").and_then(Value::as_i64).unwrap_or_default();
    if state.clock.now() - at > PENDING_LIFETIME {
        return Err(expired());
    }
    serde_json::from_value(value.get("request").cloned().unwrap_or_default()).map_err(|_| expired())
}

async fn customer(ctx: &Ctx) -> Result<Option<&'static sandbox_data::customers::TestCustomer>> {
    let username = ctx
        .session
        .get::<String>(keys::CUSTOMER)
        .await
        .map_err(Error::internal)?;
    Ok(username.and_then(|u| sandbox_data::customers::find(&u)))
}

async fn app_label(state: &AppState, app_id: &str) -> Result<(String, String)> {
    let row = sqlx::query("SELECT a.name, o.legal_name FROM apps a JOIN organisations o ON o.id = a.org_id WHERE a.id = $1")
        .bind(app_id)
        .fetch_one(&state.db.pool)
        .await?;
    Ok((row.try_get("name")?, row.try_get("legal_name")?))
}

pub async fn signin_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let request = pending(&state, &ctx).await?;
    let (app, org) = app_label(&state, &request.app_id).await?;
    let body = super::pages::customer_signin(&Form::new(), &ctx.csrf, &app, &org);
    Ok(ctx
        .render("Sign in to Gatehouse Sandbox Bank", body)
        .into_response())
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub async fn signin_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let request = pending(&state, &ctx).await?;
    let input: Credentials = serde_urlencoded::from_bytes(&body)
        .map_err(|e| Error::BadRequest(format!("The form could not be read: {e}")))?;
    let found = sandbox_data::customers::find(input.username.trim())
        .filter(|c| ct_eq(c.password, &input.password));
    let Some(found) = found else {
        let (app, org) = app_label(&state, &request.app_id).await?;
        let mut form = Form::new().with("username", input.username);
        let invalid = FormInvalid::field("username", "Enter the username and password of a sandbox test customer (they are listed on the sandbox docs page).");
        for (field, message) in invalid.fields {
            form.add_error(&field, message);
        }
        let body = super::pages::customer_signin(&form, &ctx.csrf, &app, &org);
        return Ok((
            invalid.status,
            ctx.render("Error: Sign in to Gatehouse Sandbox Bank", body),
        )
            .into_response());
    };
    ctx.session
        .insert(keys::CUSTOMER, found.username)
        .await
        .map_err(Error::internal)?;
    Ok(Redirect::to(CONSENT_PATH).into_response())
}

pub async fn consent_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let request = pending(&state, &ctx).await?;
    let Some(customer) = customer(&ctx).await? else {
        return Ok(Redirect::to(SIGNIN_PATH).into_response());
    };
    let (app, org) = app_label(&state, &request.app_id).await?;
    let body = super::pages::consent(
        &ctx.csrf,
        &app,
        &org,
        customer,
        &request.scope,
        &request.redirect_uri,
    );
    let mut response = ctx
        .render("Do you allow this app to access your bank?", body)
        .into_response();
    // Browsers apply `form-action` to the redirect that follows the decision, which
    // goes to the client's (registered) redirect URI.
    let origin = url::Url::parse(&request.redirect_uri).map(|u| u.origin().ascii_serialization());
    if let Ok(Ok(value)) = origin.map(|o| axum::http::HeaderValue::from_str(&o)) {
        response
            .headers_mut()
            .insert(crate::platform::headers::FORM_ACTION_EXTRA, value);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct Decision {
    #[serde(default)]
    decision: String,
}

pub async fn consent_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let request = pending(&state, &ctx).await?;
    let Some(customer) = customer(&ctx).await? else {
        return Ok(Redirect::to(SIGNIN_PATH).into_response());
    };
    let input: Decision = serde_urlencoded::from_bytes(&body)
        .map_err(|e| Error::BadRequest(format!("The form could not be read: {e}")))?;
    let issuer = state.settings.issuer();
    let to = match input.decision.as_str() {
        "deny" => request::redirect_with(
            &request.redirect_uri,
            &issuer,
            &[
                ("error", "access_denied"),
                ("error_description", "The customer refused the consent."),
            ],
            request.state.as_deref(),
        ),
        "allow" => {
            let code = grant(&state, &ctx, &request, customer).await?;
            request::redirect_with(
                &request.redirect_uri,
                &issuer,
                &[("code", &code)],
                request.state.as_deref(),
            )
        }
        _ => return Err(Error::BadRequest("Choose Allow or Deny.".into())),
    };
    ctx.session
        .remove::<Value>(keys::REQUEST)
        .await
        .map_err(Error::internal)?;
    Ok(Redirect::to(&to).into_response())
}

/// Stores the consent and a code for it; returns the code.
async fn grant(
    state: &AppState,
    ctx: &Ctx,
    request: &AuthRequest,
    customer: &sandbox_data::customers::TestCustomer,
) -> Result<String> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if let Some(hash) = &request.pushed {
        let spent = sqlx::query(
            "UPDATE pushed_requests SET used_at = $1 WHERE uri_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Err(Error::BadRequest(
                "This authorization request has already been used.".into(),
            ));
        }
    }
    let org_id: Option<String> =
        sqlx::query_scalar("SELECT org_id FROM apps WHERE id = $1 AND status = 'active'")
            .bind(&request.app_id)
            .fetch_optional(&mut *tx)
            .await?;
    let org_id = org_id.ok_or_else(|| Error::BadRequest("The app has been revoked.".into()))?;
    let consent_id = ids::new_id(ids::CONSENT);
    sqlx::query(
        "INSERT INTO consents (id, app_id, org_id, customer, scopes, status, created_at) VALUES ($1, $2, $3, $4, $5, 'granted', $6)",
    )
    .bind(&consent_id)
    .bind(&request.app_id)
    .bind(&org_id)
    .bind(customer.username)
    .bind(&request.scope)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let code = crypto::random_token();
    sqlx::query(
        "INSERT INTO authorization_codes (code_hash, app_id, consent_id, redirect_uri, scopes, code_challenge, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(state.keys.keyed_hash(&code))
    .bind(&request.app_id)
    .bind(&consent_id)
    .bind(&request.redirect_uri)
    .bind(&request.scope)
    .bind(&request.code_challenge)
    .bind(now)
    .bind(now + CODE_LIFETIME)
    .execute(&mut *tx)
    .await?;
    let actor = Actor {
        kind: "customer".into(),
        id: Some(customer.username.into()),
        label: Some(format!("{} (sandbox test customer)", customer.display_name)),
    };
    audit::record(
        &mut tx,
        Event::new(actor, "sandbox.consent_granted")
            .resource("consent", &consent_id)
            .org(Some(&org_id))
            .client(&ctx.client)
            .details(json!({ "app_id": request.app_id, "scopes": request.scope })),
    )
    .await?;
    tx.commit().await?;
    Ok(code)
}
