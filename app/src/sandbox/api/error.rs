//! Errors of the sandbox API in the OBIE shape (`OBErrorResponse1`): a high-level
//! `Code`, the interaction id, a message, and one or more `Errors` with the
//! namespaced `ErrorCode` the Read/Write API specification lists.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ObError {
    pub status: StatusCode,
    /// `UK.OBIE.…`
    pub code: &'static str,
    pub message: String,
    /// The JSON path or header the error is about.
    pub path: Option<String>,
    /// For 401s: the `WWW-Authenticate` challenge.
    pub challenge: Option<String>,
}

pub type ObResult<T> = Result<T, ObError>;

/// What the request-log middleware reads back from a response: the error code.
#[derive(Clone, Debug)]
pub struct LoggedError(pub &'static str);

impl ObError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            path: None,
            challenge: None,
        }
    }

    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn field_missing(path: &str) -> Self {
        Self::bad_request("UK.OBIE.Field.Missing", format!("{path} is required.")).at(path)
    }

    pub fn field_invalid(path: &str, message: impl Into<String>) -> Self {
        Self::bad_request("UK.OBIE.Field.Invalid", message).at(path)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "UK.OBIE.Resource.NotFound",
            format!("{what} was not found."),
        )
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// The token is missing, inactive, or not bound the way it must be (RFC 6750 §3.1,
    /// RFC 9449 §7.1).
    pub fn unauthorized(scheme: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut err = Self::new(
            StatusCode::UNAUTHORIZED,
            "UK.OBIE.Reauthenticate",
            message.clone(),
        );
        let description = message.replace('"', "'");
        err.challenge = Some(format!(
            "{scheme} error=\"invalid_token\", error_description=\"{description}\""
        ));
        err
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UK.OBIE.UnexpectedError",
            "Something went wrong on our side.",
        )
    }
}

impl From<crate::platform::error::Error> for ObError {
    fn from(err: crate::platform::error::Error) -> Self {
        tracing::error!(error = %err, "sandbox API error");
        Self::internal()
    }
}

impl From<sqlx::Error> for ObError {
    fn from(err: sqlx::Error) -> Self {
        tracing::error!(error = %err, "sandbox API database error");
        Self::internal()
    }
}

impl IntoResponse for ObError {
    fn into_response(self) -> Response {
        let reason = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .replace(' ', "");
        // OBError1: Message and Path are 1 to 500 characters.
        let clip = |text: &str| -> String { text.chars().take(500).collect() };
        let message = clip(&self.message);
        let mut error = json!({ "ErrorCode": self.code, "Message": message });
        if let Some(path) = self.path.as_deref().filter(|p| !p.is_empty()) {
            error["Path"] = json!(clip(path));
        }
        let body = json!({
            "Code": format!("{} {reason}", self.status.as_u16()),
            "Message": message,
            "Errors": [error],
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response.extensions_mut().insert(LoggedError(self.code));
        response
    }
}
