//! Security headers on every response.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::state::AppState;

/// No scripts at all (pages are plain server-rendered HTML), styles and images only
/// from Gatehouse itself, forms only to Gatehouse, never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// An internal response header: one more origin the page's forms may lead to.
pub const FORM_ACTION_EXTRA: &str = "x-gatehouse-form-action";

pub async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A handler may widen `form-action` for one page (the OAuth consent page, whose
    // form redirects to the client's redirect URI); everything else gets the default.
    match headers.remove(FORM_ACTION_EXTRA) {
        Some(origin) => {
            let policy = origin
                .to_str()
                .ok()
                .map(|o| CSP.replace("form-action 'self'", &format!("form-action 'self' {o}")))
                .and_then(|p| HeaderValue::from_str(&p).ok())
                .unwrap_or(HeaderValue::from_static(CSP));
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        None => {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Reset and invitation links carry tokens in the URL: never send them to another
    // site. Not `no-referrer`: with it, browsers send `Origin: null` on form posts,
    // which the CSRF origin check must refuse.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.settings.secure_cookies() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}
