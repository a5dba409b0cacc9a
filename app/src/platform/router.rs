//! The HTTP application's mechanism: the middleware stack around the composed routes.

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Request, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use super::context::Ctx;
use super::state::AppState;
use super::{csrf, headers, metrics, proxy};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the composed routes in the middleware stack. `pages` are the routes people
/// use in a browser (sessions and CSRF protection apply); `api` are the machine
/// endpoints (OAuth, the sandbox API, operations), which carry their own
/// authentication. The routes themselves come from each feature's `routes()`, composed
/// by the server (`gatehouse_server::compose`).
pub fn router(state: AppState, pages: Router<AppState>, api: Router<AppState>) -> Router {
    let sessions = SessionManagerLayer::new(state.sessions.clone())
        .with_name("gatehouse_session")
        .with_secure(state.settings.secure_cookies())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::minutes(state.settings.session_idle_minutes),
        ));

    let pages = pages
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), page_clock))
        .layer(from_fn_with_state(state.clone(), csrf::protect))
        .layer(sessions);

    let app = api
        .route("/static/gatehouse.css", get(stylesheet))
        .merge(pages)
        .route_layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(csrf::FORM_BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUlid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(from_fn_with_state(state.clone(), headers::security_headers)),
        );
    // Without trusted proxies (the default) the peer address is the client: no layer.
    let app = if state.settings.trusted_proxies.is_empty() {
        app
    } else {
        app.layer(from_fn_with_state(state.clone(), proxy::client_address))
    };
    app.with_state(state)
}

/// Pages read the application clock once per request, for their relative ages.
async fn page_clock(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    super::time::with_page_clock(state.clock.now(), next.run(request)).await
}

/// A request id that sorts by time: a ULID from the thread's random generator,
/// rather than a v4 UUID, which asked the kernel for randomness (a system call) on
/// every request.
#[derive(Clone, Copy)]
struct MakeRequestUlid;

impl MakeRequestId for MakeRequestUlid {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        axum::http::HeaderValue::from_str(&ulid::Ulid::new().to_string())
            .ok()
            .map(RequestId::new)
    }
}

async fn not_found(ctx: Ctx) -> Response {
    let page = super::ui::MessagePage::not_found();
    (
        StatusCode::NOT_FOUND,
        ctx.render(&page.title, super::ui::message_body(page.message)),
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../style/gatehouse.css"),
    )
        .into_response()
}
