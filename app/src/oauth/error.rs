//! OAuth2 error responses (RFC 6749 §5.2, RFC 9449 §5, RFC 9126 §2.3): a JSON body with
//! `error` and `error_description`, `Cache-Control: no-store`, and `WWW-Authenticate`
//! on every 401.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The error codes Gatehouse's endpoints answer with, snake_case as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// RFC 6749 §5.2: a parameter is missing, repeated, malformed or unsupported.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (401).
    InvalidClient,
    /// RFC 6749 §5.2: the code, refresh token or PKCE verifier is wrong, expired or used.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    UnsupportedGrantType,
    /// RFC 6749 §5.2: a scope the client does not have.
    InvalidScope,
    /// RFC 9449 §5: the DPoP proof is missing or wrong.
    InvalidDpopProof,
    /// RFC 6749 §4.1.2.1 (authorization endpoint).
    AccessDenied,
    UnsupportedResponseType,
    /// RFC 6585 §4 / RFC 6749 usage: the client's rate limit.
    SlowDown,
    ServerError,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::SlowDown => "slow_down",
            Self::ServerError => "server_error",
        }
    }
}

#[derive(Debug)]
pub struct OAuthError {
    pub code: Code,
    pub description: String,
    /// Seconds, for 429 answers.
    pub retry_after: Option<u64>,
    /// The app the request was for, when known: failures land in its request log.
    pub app_id: Option<String>,
}

pub type OAuthResult<T> = Result<T, OAuthError>;

impl OAuthError {
    pub fn new(code: Code, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
            app_id: None,
        }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, description)
    }
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(Code::InvalidClient, description)
    }
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(Code::InvalidGrant, description)
    }
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(Code::InvalidScope, description)
    }
    pub fn invalid_dpop(description: impl Into<String>) -> Self {
        Self::new(Code::InvalidDpopProof, description)
    }
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            code: Code::SlowDown,
            description: "This client has reached its rate limit.".into(),
            retry_after: Some(retry_after),
            app_id: None,
        }
    }

    pub fn for_app(mut self, app_id: &str) -> Self {
        self.app_id = Some(app_id.to_string());
        self
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            Code::InvalidClient => StatusCode::UNAUTHORIZED,
            Code::SlowDown => StatusCode::TOO_MANY_REQUESTS,
            Code::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<crate::platform::error::Error> for OAuthError {
    fn from(err: crate::platform::error::Error) -> Self {
        tracing::error!(error = %err, "authorization server error");
        Self::new(
            Code::ServerError,
            "The authorization server could not complete the request.",
        )
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(err: sqlx::Error) -> Self {
        crate::platform::error::Error::from(err).into()
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = json!({ "error": self.code.as_str(), "error_description": self.description });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: a 401 names the authentication scheme the client should use.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="gatehouse-sandbox", charset="UTF-8""#),
            );
        }
        if let Some(seconds) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
