//! What every response under the API prefix shares, whatever answered it: an
//! `x-fapi-interaction-id` (the client's, when it sent a valid one, or a new one), and
//! an `OBErrorResponse1` body for every error, including those axum itself writes (a
//! method the path does not have, a body over the limit, a query string that does not
//! parse). The media types are checked here and in the extractors below: a request
//! that will not take JSON is a 406, a body that is not JSON a 415 (Read/Write API
//! v3.1.11, "HTTP Status Codes").

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ObError, ObResult};
use super::INTERACTION_ID;

/// The interaction id of this request, as the response will carry it.
#[derive(Clone, Debug)]
pub struct InteractionId(pub String);

/// The largest request body the API reads (a consent or a payment is a few KB).
pub const BODY_LIMIT: usize = 64 * 1024;

pub async fn envelope(mut request: Request, next: Next) -> Response {
    let (interaction, refused) = match interaction_id(request.headers()) {
        Ok(id) => (id, None),
        Err(err) => (new_interaction_id(), Some(err)),
    };
    let refused = refused.or_else(|| {
        (!accepts_json(request.headers())).then(|| {
            ObError::new(
                StatusCode::NOT_ACCEPTABLE,
                "UK.OBIE.Header.Invalid",
                "This API answers in application/json only: send Accept: application/json (or none).",
            )
            .at("Accept")
        })
    });
    let mut response = match refused {
        Some(err) => err.into_response(),
        None => {
            request
                .extensions_mut()
                .insert(InteractionId(interaction.clone()));
            obie_shaped(next.run(request).await)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&interaction) {
        response.headers_mut().insert(INTERACTION_ID, value);
    }
    response
}

/// A random (version 4) UUID, RFC 4122 §4.4.
fn new_interaction_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The interaction id to echo: the client's, when it sent a valid one (FAPI: a UUID,
/// RFC 4122), or a new one.
fn interaction_id(headers: &HeaderMap) -> ObResult<String> {
    match headers.get(&INTERACTION_ID) {
        None => Ok(new_interaction_id()),
        Some(value) => {
            let text = value.to_str().unwrap_or_default();
            let uuid_like = text.len() == 36
                && text.chars().enumerate().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => c == '-',
                    _ => c.is_ascii_hexdigit(),
                });
            if uuid_like {
                Ok(text.to_string())
            } else {
                Err(ObError::bad_request(
                    "UK.OBIE.Header.Invalid",
                    "x-fapi-interaction-id must be a UUID (RFC 4122).",
                )
                .at("x-fapi-interaction-id"))
            }
        }
    }
}

/// Whether an `Accept` header (RFC 9110 §12.5.1) admits `application/json`: no header,
/// or a media range that matches it with a non-zero quality.
pub fn accepts_json(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect();
    if values.is_empty() {
        return true;
    }
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|range| !range.is_empty())
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let zero = parts.any(|p| {
                p.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("q")
                        && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
                })
            });
            !zero && matches!(media.as_str(), "*/*" | "application/*" | "application/json")
        })
}

/// Whether a `Content-Type` is JSON in UTF-8: `application/json`, with no charset or
/// `charset=utf-8`.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    media.eq_ignore_ascii_case("application/json")
        && parts.all(|p| match p.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
                let v = v.trim().trim_matches('"');
                v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
            }
            _ => p.is_empty(),
        })
}

/// An error response axum (or a layer) wrote in its own shape, rewritten as the OBIE
/// error for its status; an OBIE body, and every success, passes unchanged.
fn obie_shaped(response: Response) -> Response {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let err = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = response
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            ObError::new(
                status,
                "UK.OBIE.UnexpectedError",
                format!("This endpoint does not take that method; it allows {allowed}."),
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        StatusCode::NOT_FOUND => ObError::not_found("The endpoint"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => unsupported_media_type(),
        s if s.is_client_error() => {
            ObError::new(s, "UK.OBIE.Field.Invalid", "The request is malformed.")
        }
        _ => ObError::internal(),
    };
    let mut rewritten = err.into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = response.headers().get(&name) {
            rewritten.headers_mut().insert(name, value.clone());
        }
    }
    rewritten
}

fn too_large() -> ObError {
    ObError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "UK.OBIE.Resource.InvalidFormat",
        format!("The request body is larger than {} KiB.", BODY_LIMIT / 1024),
    )
}

fn unsupported_media_type() -> ObError {
    ObError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UK.OBIE.Header.Invalid",
        "Send the body as Content-Type: application/json (UTF-8); signed or encrypted bodies (application/jose+jwe) are not supported.",
    )
    .at("Content-Type")
}

/// A query string read strictly: each parameter at most once, every value in the
/// shape the endpoint takes; anything else is an OBIE 400 naming the problem.
pub struct ObQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ObQuery<T> {
    type Rejection = ObError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> ObResult<Self> {
        let query = parts.uri.query().unwrap_or_default();
        let mut seen: Vec<String> = Vec::new();
        for (name, _) in url::form_urlencoded::parse(query.as_bytes()) {
            if seen.iter().any(|s| *s == name) {
                return Err(ObError::field_invalid(
                    &name,
                    format!("The query parameter {name} is given more than once."),
                ));
            }
            seen.push(name.into_owned());
        }
        serde_urlencoded::from_str(query)
            .map(ObQuery)
            .map_err(|err| {
                ObError::bad_request(
                    "UK.OBIE.Field.Invalid",
                    format!("The query string is invalid: {err}."),
                )
            })
    }
}

/// A JSON request body: `Content-Type: application/json` (else 415), at most
/// [`BODY_LIMIT`] bytes (else 413), a JSON object (else 400). The raw bytes are kept
/// for idempotency, which compares bodies byte for byte.
pub struct ObJson {
    pub bytes: Bytes,
    pub value: Value,
}

impl<S: Send + Sync> FromRequest<S> for ObJson {
    type Rejection = ObError;

    async fn from_request(request: Request, _state: &S) -> ObResult<Self> {
        if !is_json(request.headers()) {
            return Err(unsupported_media_type());
        }
        let body: Body = request.into_body();
        let bytes = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .map_err(|_| too_large())?;
        let value = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                ObError::bad_request(
                    "UK.OBIE.Resource.InvalidFormat",
                    "The body must be a JSON object in UTF-8.",
                )
            })?;
        Ok(Self { bytes, value })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_ranges() {
        assert!(accepts_json(&HeaderMap::new()));
        for ok in [
            "application/json",
            "*/*",
            "application/*",
            "text/html, application/json;q=0.5",
            "Application/JSON; charset=utf-8",
        ] {
            assert!(accepts_json(&with(header::ACCEPT, ok)), "{ok}");
        }
        for refused in [
            "application/xml",
            "text/plain",
            "application/json;q=0",
            "application/jose+jwe",
        ] {
            assert!(!accepts_json(&with(header::ACCEPT, refused)), "{refused}");
        }
    }

    #[test]
    fn content_types() {
        assert!(is_json(&with(header::CONTENT_TYPE, "application/json")));
        assert!(is_json(&with(
            header::CONTENT_TYPE,
            "application/json; charset=UTF-8"
        )));
        for refused in [
            "text/plain",
            "application/xml",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin1",
            "application/jsonx",
            "application/jose+jwe",
        ] {
            assert!(!is_json(&with(header::CONTENT_TYPE, refused)), "{refused}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
