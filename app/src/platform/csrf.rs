//! CSRF defence for every state-changing request (OWASP CSRF cheat sheet):
//! 1. fetch metadata and origin: a browser that says the request is cross-site
//!    (`Sec-Fetch-Site`) or names another `Origin` is refused outright;
//! 2. a per-session token (synchroniser token pattern) in every form, as the
//!    `csrf_token` field, or the `X-CSRF-Token` header for non-form bodies.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::context::{keys, ClientInfo};
use super::crypto::ct_eq;
use super::state::AppState;
use super::text_input;
use super::ui;

/// Larger form bodies are refused before they are parsed (uploads come later with their own limit).
pub const FORM_BODY_LIMIT: usize = 64 * 1024;

pub const FIELD: &str = "csrf_token";

/// The largest multipart body (an evidence upload and its few fields) read at all.
pub fn upload_limit(settings: &super::settings::Settings) -> usize {
    settings.evidence_max_bytes + 256 * 1024
}

fn too_large() -> Response {
    let page = ui::MessagePage::new(
        "The form is too large",
        "What you sent is larger than Gatehouse accepts.",
    );
    (StatusCode::PAYLOAD_TOO_LARGE, ui::render_message_page(page)).into_response()
}

/// The `csrf_token` field of a multipart body (a file upload form without JavaScript
/// cannot send a header).
async fn multipart_token(content_type: &str, bytes: &axum::body::Bytes) -> Option<String> {
    let boundary = multer::parse_boundary(content_type).ok()?;
    let body = bytes.clone();
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some(FIELD) {
            return field.text().await.ok();
        }
    }
    None
}

pub async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, request, next).await {
        Ok(response) => response,
        Err(refusal) => refuse(&state, refusal).await,
    }
}

/// A refused request, for the audit trail.
struct Refusal {
    reason: &'static str,
    path: String,
    client: ClientInfo,
}

async fn check(state: &AppState, request: Request, next: Next) -> Result<Response, Refusal> {
    let path: String = request.uri().path().chars().take(200).collect();
    let client = ClientInfo::of(request.extensions(), request.headers());
    let refusal = |reason: &'static str| Refusal {
        reason,
        path: path.clone(),
        client: client.clone(),
    };
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok(next.run(request).await);
    }
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err(refusal("cross-site request"));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if origin != state.settings.origin() {
            return Err(refusal("foreign origin"));
        }
    }
    let expected = match request.extensions().get::<Session>() {
        Some(session) => session.get::<String>(keys::CSRF).await.ok().flatten(),
        None => None,
    };
    let Some(expected) = expected else {
        return Err(refusal("no session token"));
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    if content_type.starts_with("multipart/form-data") {
        let Some((parts, bytes)) = buffered(request, upload_limit(&state.settings)).await else {
            return Ok(too_large());
        };
        let sent = multipart_token(&content_type, &bytes).await;
        if !sent.is_some_and(|sent| ct_eq(&sent, &expected)) {
            return Err(refusal("token missing or wrong"));
        }
        return Ok(next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await);
    }
    if !is_form {
        let sent = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !ct_eq(sent, &expected) {
            return Err(refusal("token missing or wrong"));
        }
        if !content_type.starts_with("application/json") {
            return Ok(next.run(request).await);
        }
        let Some((parts, bytes)) = buffered(request, FORM_BODY_LIMIT).await else {
            return Ok(too_large());
        };
        if let Err(refused) = text_input::check_json(&bytes) {
            return Ok(bad_text(&refused, true));
        }
        return Ok(next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await);
    }
    let Some((parts, bytes)) = buffered(request, FORM_BODY_LIMIT).await else {
        return Ok(too_large());
    };
    let sent = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned());
    if !sent.is_some_and(|sent| ct_eq(&sent, &expected)) {
        return Err(refusal("token missing or wrong"));
    }
    if let Err(refused) = text_input::check_form(&bytes) {
        return Ok(bad_text(&refused, false));
    }
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// The request's head and its body read into memory, at most `limit` bytes (`None`
/// when larger), so the body can be checked before the handler reads it again.
async fn buffered(
    request: Request,
    limit: usize,
) -> Option<(axum::http::request::Parts, axum::body::Bytes)> {
    let (parts, body) = request.into_parts();
    to_bytes(body, limit).await.ok().map(|bytes| (parts, bytes))
}

/// 422 for a body whose text no field accepts; nothing reached a handler, so
/// nothing was written.
fn bad_text(refused: &text_input::Refused, json: bool) -> Response {
    let message = match &refused.field {
        Some(field) => format!("The field \"{field}\" {}.", refused.problem),
        None => format!("The form {}.", refused.problem),
    };
    if json {
        let body = serde_json::json!({
            "error": "The request has errors.",
            "fields": { refused.field.clone().unwrap_or_default(): message },
        });
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response();
    }
    let page = ui::MessagePage::new(
        "Some text could not be accepted",
        format!("{message} Go back, correct it and send the form again. Nothing was saved."),
    );
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        ui::render_message_page(page),
    )
        .into_response()
}

/// The audit action of a refusal.
const ACTION: &str = "security.csrf_refused";

/// Refuses the request and records it: a refused CSRF check is either a stale form or
/// an attack, and both are worth seeing in the audit trail (repeats from one source
/// are aggregated, see `platform::repeats`).
async fn refuse(state: &AppState, refusal: Refusal) -> Response {
    tracing::warn!(reason = refusal.reason, path = %refusal.path, "CSRF check refused a request");
    let details = serde_json::json!({ "reason": refusal.reason, "path": refusal.path });
    let recorded = async {
        let now = super::repeats::admit(
            state,
            &refusal.client.ip,
            ACTION,
            refusal.reason,
            details.clone(),
        )
        .await?;
        if now {
            let mut tx = state.db.begin().await?;
            crate::platform::audit::record(
                &mut tx,
                crate::platform::audit::Event::new(
                    crate::platform::audit::Actor::anonymous(),
                    ACTION,
                )
                .client(&refusal.client)
                .outcome("failure")
                .details(details),
            )
            .await?;
            tx.commit().await?;
        }
        Ok::<_, super::error::Error>(())
    }
    .await;
    if let Err(err) = recorded {
        tracing::error!(error = %err, "could not record a CSRF refusal");
    }
    let page = ui::MessagePage::new(
        "This form has expired",
        "The form was not sent from this Gatehouse session. Go back, reload the page and try again.",
    );
    (StatusCode::FORBIDDEN, ui::render_message_page(page)).into_response()
}
