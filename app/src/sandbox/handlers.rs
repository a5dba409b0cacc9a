//! Sandbox routes: the pages (post/redirect/get, no JavaScript) and the JSON API at
//! `/api/v1/sandbox/…`, both thin over `service`. The JSON API uses the same signed-in
//! session; state-changing calls send the session's CSRF token in `X-CSRF-Token`,
//! which every API response carries.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::pages;
use super::service::{self, Issued, KeyMaterial, NewApp};
use crate::accounts::members;
use crate::clients::model;
use crate::clients::reqlog::{self, Filter};
use crate::platform::authz::Action;
use crate::platform::context::{AuthUser, Ctx};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;
use crate::platform::ui::Form;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandbox", get(|| async { Redirect::to("/sandbox/apps") }))
        .route("/sandbox/docs", get(docs_page))
        .route("/sandbox/apps", get(list_page).post(create_submit))
        .route("/sandbox/apps/new", get(new_page))
        .route("/sandbox/apps/{id}", get(detail_page))
        .route("/sandbox/apps/{id}/rotate", post(rotate_submit))
        .route("/sandbox/apps/{id}/revoke", post(revoke_app_submit))
        .route(
            "/sandbox/apps/{id}/credentials/{cid}/revoke",
            post(revoke_credential_submit),
        )
        .route(
            "/sandbox/apps/{id}/consents/{cid}/revoke",
            post(revoke_consent_submit),
        )
        .route("/sandbox/apps/{id}/log", get(log_page))
        .route("/api/v1/sandbox/apps", get(api_list).post(api_create))
        .route("/api/v1/sandbox/apps/{id}", get(api_get))
        .route(
            "/api/v1/sandbox/apps/{id}/credentials/rotate",
            post(api_rotate),
        )
        .route(
            "/api/v1/sandbox/apps/{id}/credentials/{cid}/revoke",
            post(api_revoke_credential),
        )
        .route("/api/v1/sandbox/apps/{id}/revoke", post(api_revoke_app))
}

/// Session key of a secret waiting to be shown once on the app's page.
const SHOWN: &str = "sandbox_shown_secret";

fn org(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or(Error::NotFound)
}

/// The form's fields as a `Form` (to refill it) and as the service's input; `scopes`
/// may repeat (checkboxes).
fn read_form(body: &Bytes) -> (Form, NewApp, KeyMaterial, String) {
    let mut form = Form::new();
    let mut input = NewApp::default();
    let mut overlap = String::new();
    for (key, value) in url::form_urlencoded::parse(body) {
        let value = value.into_owned();
        match key.as_ref() {
            "name" => input.name = value.clone(),
            "purpose" => input.purpose = value.clone(),
            "owner_id" => input.owner_id = value.clone(),
            "scopes" => input.scopes.push(value.clone()),
            "redirect_uris" => input.redirect_uris = value.clone(),
            "auth_method" => input.auth_method = value.clone(),
            "jwks" => input.jwks = value.clone(),
            "jwks_uri" => input.jwks_uri = value.clone(),
            "tls_subject" => input.tls_subject = value.clone(),
            "tls_certificate" => input.tls_certificate = value.clone(),
            "rate_limit_per_minute" => input.rate_limit_per_minute = value.clone(),
            "dpop_required" => input.dpop_required = value == "true",
            "overlap" => overlap = value.clone(),
            _ => continue,
        }
        if key != "scopes" {
            form = form.with(&key, value);
        }
    }
    form = form.with("scopes", input.scopes.join(" "));
    let keys = KeyMaterial {
        jwks: input.jwks.clone(),
        jwks_uri: input.jwks_uri.clone(),
        tls_subject: input.tls_subject.clone(),
        tls_certificate: input.tls_certificate.clone(),
    };
    (form, input, keys, overlap)
}

fn with_errors(mut form: Form, invalid: Invalid) -> (StatusCode, Form) {
    for (field, message) in invalid.fields {
        form.add_error(&field, message);
    }
    (invalid.status, form)
}

async fn member_options(state: &AppState, org_id: &str) -> Result<Vec<(String, String)>> {
    Ok(members::list_members(state, org_id)
        .await?
        .into_iter()
        .filter(|m| m.status == "active")
        .map(|m| (m.id, format!("{} ({})", m.display_name, m.email)))
        .collect())
}

async fn list_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::UseSandbox)?;
    let apps = service::list_apps(&state, org(user)?).await?;
    Ok(ctx
        .render("Sandbox apps", pages::list(&apps))
        .into_response())
}

async fn new_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::UseSandbox)?;
    let members = member_options(&state, org(user)?).await?;
    let form = Form::new()
        .with("owner_id", user.id.clone())
        .with("auth_method", "private_key_jwt")
        .with(
            "rate_limit_per_minute",
            service::DEFAULT_RATE_LIMIT.to_string(),
        );
    let scopes = crate::clients::catalogue::scopes(&state).await?;
    let body = pages::new_app(
        &form,
        &ctx.csrf,
        &members,
        state.settings.sandbox_max_rate_limit,
        &scopes,
    );
    Ok(ctx.render("Register a sandbox app", body).into_response())
}

async fn create_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::UseSandbox)?;
    let (form, input, _, _) = read_form(&body);
    match service::create_app(&state, user, input, &ctx.client).await {
        Ok(issued) => show_once(&ctx, issued, "The app is registered.").await,
        Err(Error::Invalid(invalid)) => {
            let members = member_options(&state, org(user)?).await?;
            let (status, form) = with_errors(form, invalid);
            let scopes = crate::clients::catalogue::scopes(&state).await?;
            let body = pages::new_app(
                &form,
                &ctx.csrf,
                &members,
                state.settings.sandbox_max_rate_limit,
                &scopes,
            );
            Ok((status, ctx.render("Error: Register a sandbox app", body)).into_response())
        }
        Err(err) => Err(err),
    }
}

/// Keeps a new secret in the session for exactly one view of the app's page.
async fn show_once(ctx: &Ctx, issued: Issued, message: &str) -> Result<Response> {
    let to = format!("/sandbox/apps/{}", issued.app_id);
    if let Some(secret) = &issued.secret {
        let value = json!({ "app_id": issued.app_id, "secret": secret });
        ctx.session
            .insert(SHOWN, value)
            .await
            .map_err(Error::internal)?;
    }
    crate::platform::forms::redirect(ctx, &to, message).await
}

async fn render_detail(
    state: &AppState,
    ctx: &Ctx,
    user: &AuthUser,
    app_id: &str,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let app = service::get_app(state, org(user)?, app_id).await?;
    let credentials = service::credentials(state, &app).await?;
    let consents = service::consents(state, &app).await?;
    let shown = ctx
        .session
        .remove::<serde_json::Value>(SHOWN)
        .await
        .map_err(Error::internal)?;
    let shown = shown
        .filter(|v| v.get("app_id").and_then(|a| a.as_str()) == Some(app.id.as_str()))
        .map(|v| Issued {
            app_id: app.id.clone(),
            client_id: app.client_id.clone(),
            credential_id: String::new(),
            secret: v.get("secret").and_then(|s| s.as_str()).map(str::to_string),
        });
    let owner = members::list_members(state, &app.org_id)
        .await?
        .into_iter()
        .find(|m| m.id == app.owner_id)
        .map(|m| format!("{} ({})", m.display_name, m.email))
        .unwrap_or_else(|| "No owner: the owner has left the organisation".into());
    let title = if form.has_errors() {
        format!("Error: {}", app.name)
    } else {
        app.name.clone()
    };
    let now = state.clock.now();
    let readiness = super::readiness::assess(state, &app.id, &app.scopes, now).await?;
    let body = pages::detail(pages::Detail {
        readiness: &readiness,
        app: &app,
        owner,
        credentials: &credentials,
        consents: &consents,
        shown,
        now: state.clock.now(),
        csrf: &ctx.csrf,
        form,
    });
    Ok((status, ctx.render(&title, body)).into_response())
}

async fn detail_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::UseSandbox)?;
    let form = Form::new().with("overlap", "86400");
    render_detail(&state, &ctx, user, &id, &form, StatusCode::OK).await
}

async fn rotate_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::UseSandbox)?;
    let (form, _, keys, overlap) = read_form(&body);
    match service::rotate(&state, user, &id, &overlap, keys, &ctx.client).await {
        Ok(issued) => show_once(&ctx, issued, "A new credential is issued. The previous ones stop at the end of the overlap you chose.").await,
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form, invalid);
            render_detail(&state, &ctx, user, &id, &form, status).await
        }
        Err(err) => Err(err),
    }
}

async fn revoke_app_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::UseSandbox)?;
    service::revoke_app(&state, user, &id, &ctx.client).await?;
    ctx.set_flash("The app is revoked. Its tokens no longer work.")
        .await?;
    Ok(Redirect::to(&format!("/sandbox/apps/{id}")).into_response())
}

async fn revoke_credential_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Response> {
    let user = ctx.require(Action::UseSandbox)?;
    service::revoke_credential(&state, user, &id, &cid, &ctx.client).await?;
    ctx.set_flash("The credential is revoked. Tokens it obtained no longer work.")
        .await?;
    Ok(Redirect::to(&format!("/sandbox/apps/{id}")).into_response())
}

async fn revoke_consent_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, cid)): Path<(String, String)>,
) -> Result<Response> {
    let user = ctx.require(Action::UseSandbox)?;
    service::revoke_consent(&state, user, &id, &cid, &ctx.client).await?;
    ctx.set_flash("The consent is revoked. Tokens issued under it no longer work.")
        .await?;
    Ok(Redirect::to(&format!("/sandbox/apps/{id}")).into_response())
}

#[derive(Deserialize, Default)]
struct LogQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    endpoint: String,
}

async fn log_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Response> {
    let user = ctx.require(Action::UseSandbox)?;
    let app = service::get_app(&state, org(user)?, &id).await?;
    let filter = Filter {
        status_class: query.status,
        endpoint: query.endpoint.chars().take(100).collect(),
    };
    let rows = reqlog::list(&state.db, &app.id, &filter, 200).await?;
    Ok(ctx
        .render(
            &format!("Request log: {}", app.name),
            pages::request_log(&app, &rows, &filter),
        )
        .into_response())
}

#[derive(Deserialize)]
struct DocsQuery {
    #[serde(default)]
    app: String,
}

/// The docs, with a signed-in partner's own app in the examples (the one asked for
/// in `?app=`, if it is theirs, else their newest active sandbox app that they made
/// themselves: a client their software registered with a statement has a secret
/// nobody on the team was shown).
async fn docs_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<DocsQuery>,
) -> Result<Response> {
    // Only a reader who may use the sandbox (verified, a partner) gets their apps.
    let org = ctx
        .require(Action::UseSandbox)
        .ok()
        .and_then(|u| u.org_id.clone());
    let reader = match org {
        Some(org) => {
            let apps: Vec<model::App> = service::list_apps(&state, &org)
                .await?
                .into_iter()
                .filter(model::App::is_active)
                .collect();
            let registered: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM apps WHERE org_id = $1 AND registered_from IS NOT NULL",
            )
            .bind(&org)
            .fetch_all(&state.db.pool)
            .await?;
            let chosen = apps
                .iter()
                .find(|a| a.id == q.app)
                .or_else(|| apps.iter().find(|a| !registered.contains(&a.id)))
                .or_else(|| apps.first())
                .cloned();
            chosen.map(|app| super::docs::Reader {
                demo_secret: (state.settings.demo
                    && app.client_id == crate::accounts::bootstrap::DEMO_CLIENT_ID)
                    .then(|| crate::accounts::bootstrap::DEMO_CLIENT_SECRET.to_string()),
                apps: apps
                    .iter()
                    .map(|a| (a.id.clone(), a.name.clone()))
                    .collect(),
                app,
            })
        }
        None => None,
    };
    let body = super::docs::docs(super::docs::Docs {
        issuer: state.settings.issuer(),
        audience: state.settings.sandbox_audience(),
        token_lifetime: state.settings.access_token_seconds,
        reader,
    });
    Ok(ctx.render("Sandbox documentation", body).into_response())
}

// ---- JSON API ----

/// JSON errors: `{"error": message, "fields": {name: message}}` with the right status.
struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        Self(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::SignInRequired { .. } | Error::Redirect(_) => StatusCode::UNAUTHORIZED,
            other => other.status(),
        };
        let body = match self.0 {
            Error::Invalid(invalid) => {
                let fields: serde_json::Map<String, serde_json::Value> = invalid
                    .fields
                    .into_iter()
                    .map(|(k, v)| (k, json!(v)))
                    .collect();
                json!({ "error": "The request has errors.", "fields": fields })
            }
            Error::Unavailable(_) => {
                json!({ "error": "The service cannot reach its database just now. Nothing was saved: try again in a few seconds." })
            }
            Error::Database(_) | Error::Internal(_) => {
                tracing::error!(error = %self.0, "sandbox API error");
                json!({ "error": "Something went wrong on our side. Nothing was saved." })
            }
            Error::SignInRequired { .. } | Error::Redirect(_) => {
                json!({ "error": "Sign in first." })
            }
            other => json!({ "error": other.to_string() }),
        };
        (status, Json(body)).into_response()
    }
}

type ApiResult = std::result::Result<Response, ApiError>;

fn api_json(ctx: &Ctx, status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&ctx.csrf) {
        response.headers_mut().insert("x-csrf-token", value);
    }
    response
}

fn app_json(app: &model::App, credentials: &[model::Credential], now: i64) -> serde_json::Value {
    let credentials: Vec<serde_json::Value> = credentials
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "kind": c.kind, "secret_hint": c.secret_hint, "material": c.material,
                "created_at": c.created_at, "expires_at": c.expires_at, "revoked_at": c.revoked_at,
                "last_used_at": c.last_used_at, "last_token_at": c.last_token_at, "status": c.status(now),
            })
        })
        .collect();
    let mut value = json!(app);
    if let Some(object) = value.as_object_mut() {
        object.insert("credentials".into(), json!(credentials));
    }
    value
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> std::result::Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(Error::BadRequest(format!(
            "The JSON body could not be read: {e}"
        )))
    })
}

async fn api_list(State(state): State<AppState>, ctx: Ctx) -> ApiResult {
    let user = ctx.require(Action::UseSandbox)?;
    let apps = service::list_apps(&state, org(user)?).await?;
    Ok(api_json(&ctx, StatusCode::OK, json!({ "apps": apps })))
}

async fn api_get(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> ApiResult {
    let user = ctx.require(Action::UseSandbox)?;
    let app = service::get_app(&state, org(user)?, &id).await?;
    let credentials = service::credentials(&state, &app).await?;
    Ok(api_json(
        &ctx,
        StatusCode::OK,
        app_json(&app, &credentials, state.clock.now()),
    ))
}

async fn api_create(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> ApiResult {
    let user = ctx.require(Action::UseSandbox)?;
    let input: NewApp = parse_json(&body)?;
    let issued = service::create_app(&state, user, input, &ctx.client).await?;
    Ok(api_json(&ctx, StatusCode::CREATED, json!(issued)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RotateBody {
    overlap_seconds: i64,
    #[serde(flatten)]
    keys: KeyMaterial,
}

async fn api_rotate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let user = ctx.require(Action::UseSandbox)?;
    let input: RotateBody = parse_json(&body)?;
    let issued = service::rotate(
        &state,
        user,
        &id,
        &input.overlap_seconds.to_string(),
        input.keys,
        &ctx.client,
    )
    .await?;
    Ok(api_json(&ctx, StatusCode::CREATED, json!(issued)))
}

async fn api_revoke_credential(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, cid)): Path<(String, String)>,
) -> ApiResult {
    let user = ctx.require(Action::UseSandbox)?;
    service::revoke_credential(&state, user, &id, &cid, &ctx.client).await?;
    Ok(api_json(&ctx, StatusCode::OK, json!({ "revoked": cid })))
}

async fn api_revoke_app(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult {
    let user = ctx.require(Action::UseSandbox)?;
    service::revoke_app(&state, user, &id, &ctx.client).await?;
    Ok(api_json(&ctx, StatusCode::OK, json!({ "revoked": id })))
}
