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
use crate::clients::intents::{self as consents, Intent};
use crate::clients::model;
use crate::platform::context::Ctx;
use crate::platform::crypto::{self, ct_eq};
use crate::platform::error::{Error, Invalid as FormInvalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;
use crate::platform::ui::Form;
use sandbox_data::customers::TestCustomer;

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
        None => match request::validate(
            &app,
            &params,
            &crate::clients::catalogue::scopes(&state).await?,
        ) {
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
    if let Some(intent_id) = &auth_request.intent_id {
        if let Err(message) = check_intent(&state, &auth_request, intent_id).await? {
            let to = request::redirect_with(
                &auth_request.redirect_uri,
                &state.settings.issuer(),
                &[
                    ("error", "invalid_request"),
                    ("error_description", &message),
                ],
                auth_request.state.as_deref(),
            );
            return Ok(Redirect::to(&to).into_response());
        }
    }
    // Each pending authorization has its own id, which its consent form carries: a
    // second /oauth/authorize (another tab) replaces the pending request, and the
    // first tab's form then no longer matches (issue 18 item 18).
    let pending = json!({
        "request": auth_request,
        "at": state.clock.now(),
        "id": crate::platform::crypto::random_token(),
    });
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

/// The OBIE consent an authorization request names must be this app's, still
/// awaiting authorisation, and asked for with the scope it needs.
async fn check_intent(
    state: &AppState,
    request: &AuthRequest,
    intent_id: &str,
) -> Result<std::result::Result<Intent, String>> {
    let Some(intent) = consents::find(state, intent_id).await? else {
        return Ok(Err(format!(
            "There is no consent {intent_id} for this app."
        )));
    };
    if intent.app_id != request.app_id {
        return Ok(Err(format!(
            "There is no consent {intent_id} for this app."
        )));
    }
    if intent.status != "AwaitingAuthorisation" {
        return Ok(Err(format!(
            "The consent {intent_id} is {}, not awaiting authorisation.",
            intent.status
        )));
    }
    let needed = if intent.kind == consents::DOMESTIC_PAYMENT {
        "payments"
    } else {
        "accounts"
    };
    if !request.scope.split(' ').any(|s| s == needed) {
        return Ok(Err(format!(
            "A {} consent is authorised with the {needed} scope.",
            intent.kind
        )));
    }
    Ok(Ok(intent))
}

/// What the customer is asked about an OBIE consent, and the accounts to choose from.
async fn intent_view(
    state: &AppState,
    request: &AuthRequest,
    customer: &TestCustomer,
) -> Result<Option<(Intent, super::pages::IntentView)>> {
    let Some(intent_id) = &request.intent_id else {
        return Ok(None);
    };
    let intent = check_intent(state, request, intent_id)
        .await?
        .map_err(Error::BadRequest)?;
    let dataset = state
        .datasets()
        .for_org(&state.db, &intent.org_id, state.clock.now())
        .await?;
    let payment = intent.kind == consents::DOMESTIC_PAYMENT;
    let accounts = dataset
        .customer(customer.username)
        .map(|c| {
            c.accounts
                .iter()
                .filter(|a| {
                    !payment || (a.currency == "GBP" && a.kind.sub_type() == "CurrentAccount")
                })
                .map(|a| {
                    let id = a
                        .masked_identification
                        .as_ref()
                        .unwrap_or(&a.identifier.identification);
                    let tail = id.get(id.len().saturating_sub(4)..).unwrap_or_default();
                    (
                        a.id.clone(),
                        format!(
                            "{} ({}, {} ending {tail})",
                            a.nickname, a.product.name, a.currency
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let view = super::pages::IntentView {
        payment: intent.initiation.as_ref().map(|i| {
            (
                format!(
                    "{} {}",
                    i["InstructedAmount"]["Currency"]
                        .as_str()
                        .unwrap_or_default(),
                    i["InstructedAmount"]["Amount"].as_str().unwrap_or_default()
                ),
                i["CreditorAccount"]["Name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        }),
        permissions: intent.permissions.clone(),
        accounts,
        error: None,
    };
    Ok(Some((intent, view)))
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

/// The id of the pending authorization, which its consent form carries.
async fn pending_id(ctx: &Ctx) -> Result<String> {
    let value = ctx
        .session
        .get::<Value>(keys::REQUEST)
        .await
        .map_err(Error::internal)?;
    Ok(value
        .as_ref()
        .and_then(|v| v.get("id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
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
    let view = intent_view(&state, &request, customer)
        .await?
        .map(|(_, v)| v);
    consent_response(
        &state,
        &ctx,
        &request,
        customer,
        view,
        axum::http::StatusCode::OK,
    )
    .await
}

async fn consent_response(
    state: &AppState,
    ctx: &Ctx,
    request: &AuthRequest,
    customer: &TestCustomer,
    view: Option<super::pages::IntentView>,
    status: axum::http::StatusCode,
) -> Result<Response> {
    let (app, org) = app_label(state, &request.app_id).await?;
    let title = if view.as_ref().is_some_and(|v| v.error.is_some()) {
        "Error: Do you allow this app to access your bank?"
    } else {
        "Do you allow this app to access your bank?"
    };
    let offered = crate::clients::catalogue::scopes(state).await?;
    let body = super::pages::consent(
        &ctx.csrf,
        &pending_id(ctx).await?,
        &app,
        &org,
        customer,
        (&request.scope, &offered),
        &request.redirect_uri,
        view.as_ref(),
    );
    let mut response = (status, ctx.render(title, body)).into_response();
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

pub async fn consent_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let request = pending(&state, &ctx).await?;
    let Some(customer) = customer(&ctx).await? else {
        return Ok(Redirect::to(SIGNIN_PATH).into_response());
    };
    let mut decision = String::new();
    let mut selected: Vec<String> = Vec::new();
    let mut shown = String::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "decision" => decision = value.into_owned(),
            "pending_id" => shown = value.into_owned(),
            "accounts" if !selected.iter().any(|s| *s == value) => {
                selected.push(value.into_owned())
            }
            _ => {}
        }
    }
    let current = pending_id(&ctx).await?;
    if current.is_empty() || !crate::platform::crypto::ct_eq(&shown, &current) {
        return Err(Error::Conflict(
            "This consent page is out of date: another authorization was started in this browser since it was shown. Nothing was decided. Go back to the app and start again.".into(),
        ));
    }
    let intent = intent_view(&state, &request, customer).await?;
    if let (Some((intent, view)), "allow") = (&intent, decision.as_str()) {
        let offered = |id: &String| view.accounts.iter().any(|(a, _)| a == id);
        let problem = if selected.is_empty() || !selected.iter().all(offered) {
            Some("Choose the accounts this app may use.")
        } else if intent.kind == consents::DOMESTIC_PAYMENT && selected.len() != 1 {
            Some("Choose the one account to pay from.")
        } else {
            None
        };
        if let Some(problem) = problem {
            let mut view = view.clone();
            view.error = Some(problem.to_string());
            return consent_response(
                &state,
                &ctx,
                &request,
                customer,
                Some(view),
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    }
    let intent = intent.map(|(i, _)| i);
    let issuer = state.settings.issuer();
    let to = match decision.as_str() {
        "deny" => {
            // The refusal and its audit event commit together (issue 18 item 12).
            let mut tx = state.db.begin().await?;
            if let Some(intent) = &intent {
                sqlx::query("UPDATE ob_consents SET status = 'Rejected', status_updated_at = $2 WHERE id = $1 AND status = 'AwaitingAuthorisation'")
                    .bind(&intent.id)
                    .bind(state.clock.now())
                    .execute(&mut *tx)
                    .await?;
            }
            let org_id: Option<String> =
                sqlx::query_scalar("SELECT org_id FROM apps WHERE id = $1")
                    .bind(&request.app_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let actor = customer_actor(customer);
            audit::record(
                &mut tx,
                Event::new(actor, "sandbox.consent_refused")
                    .resource("app", &request.app_id)
                    .org(org_id.as_deref())
                    .client(&ctx.client)
                    .outcome("failure")
                    .details(json!({ "scopes": request.scope, "intent_id": intent.as_ref().map(|i| &i.id) })),
            )
            .await?;
            tx.commit().await?;
            state.oauth().cache.changed();
            request::redirect_with(
                &request.redirect_uri,
                &issuer,
                &[
                    ("error", "access_denied"),
                    ("error_description", "The customer refused the consent."),
                ],
                request.state.as_deref(),
            )
        }
        "allow" => {
            let code = grant(&state, &ctx, &request, customer, intent.as_ref(), &selected).await?;
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
    intent: Option<&Intent>,
    accounts: &[String],
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
    if let Some(intent) = intent {
        let authorised = sqlx::query(
            "UPDATE ob_consents SET status = 'Authorised', customer = $1, accounts = $2, status_updated_at = $3 \
             WHERE id = $4 AND app_id = $5 AND status = 'AwaitingAuthorisation'",
        )
        .bind(customer.username)
        .bind(accounts.join(" "))
        .bind(now)
        .bind(&intent.id)
        .bind(&request.app_id)
        .execute(&mut *tx)
        .await?;
        if authorised.rows_affected() != 1 {
            return Err(Error::BadRequest(
                "This consent has already been decided. Go back to the app and start again.".into(),
            ));
        }
    }
    let consent_id = ids::new_id(ids::CONSENT);
    sqlx::query(
        "INSERT INTO consents (id, app_id, org_id, customer, scopes, status, created_at, intent_id) VALUES ($1, $2, $3, $4, $5, 'granted', $6, $7)",
    )
    .bind(&consent_id)
    .bind(&request.app_id)
    .bind(&org_id)
    .bind(customer.username)
    .bind(&request.scope)
    .bind(now)
    .bind(intent.map(|i| i.id.as_str()))
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
    let actor = customer_actor(customer);
    audit::record(
        &mut tx,
        Event::new(actor, "sandbox.consent_granted")
            .resource("consent", &consent_id)
            .org(Some(&org_id))
            .client(&ctx.client)
            .details(json!({ "app_id": request.app_id, "scopes": request.scope, "intent_id": intent.map(|i| &i.id), "accounts": accounts })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(code)
}

/// The audit actor of a sandbox test customer.
fn customer_actor(customer: &TestCustomer) -> Actor {
    Actor {
        kind: "customer".into(),
        id: Some(customer.username.into()),
        label: Some(format!("{} (sandbox test customer)", customer.display_name)),
    }
}
