//! The application error. Handlers return `Result<_, Error>`: the user's mistakes
//! become a 4xx page with a useful message; internal failures are logged with their
//! detail and answered without it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::ui;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("page not found")]
    NotFound,
    /// Not signed in: go to the sign-in page, then come back to `next`.
    #[error("sign in to continue")]
    SignInRequired { next: String },
    /// The user must do something else first (verify e-mail, enrol a second factor).
    #[error("redirect to {0}")]
    Redirect(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// An upload over the size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// An upload of a type Gatehouse does not accept.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The user's input must be corrected; handlers show the form again with these.
    #[error("the form has errors")]
    Invalid(Invalid),
    #[error("too many attempts: try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
    /// The database is away for now (a restart, a fail-over): 503 with `Retry-After`.
    #[error("{UNAVAILABLE}{0}")]
    Unavailable(String),
}

/// How an unavailable database is named in errors that can carry only text (the
/// session store's): [`Error::internal`] turns such a message back into
/// [`Error::Unavailable`].
pub const UNAVAILABLE: &str = "database unavailable: ";

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn internal(err: impl std::fmt::Display) -> Self {
        let message = err.to_string();
        match message.find(UNAVAILABLE) {
            Some(at) => Self::Unavailable(message[at + UNAVAILABLE.len()..].to_string()),
            None => Self::Internal(message),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::SignInRequired { .. } | Self::Redirect(_) => StatusCode::SEE_OTHER,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid(invalid) => invalid.status,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(err) if unavailable(err) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A database error that says the database is away for now (a restart, a fail-over,
/// every connection busy), not that the request or the data is wrong: 503 with
/// `Retry-After`, which a load balancer and a client both know to retry.
pub fn unavailable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
    )
}

/// 503 with `Retry-After`: the database is away for now, nothing was changed.
fn back_in_a_moment(err: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %err, "database unavailable");
    let page = ui::MessagePage::new(
        "Back in a moment",
        "Gatehouse cannot reach its database just now. Nothing was changed: try again in a few seconds.",
    );
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        ui::render_message_page(page),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::SignInRequired { next } => {
                let to = format!(
                    "/signin?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Redirect::to(&to).into_response()
            }
            Self::Redirect(to) => Redirect::to(&to).into_response(),
            Self::NotFound => (
                status,
                ui::render_message_page(ui::MessagePage::not_found()),
            )
                .into_response(),
            Self::Unavailable(ref err) => back_in_a_moment(err),
            Self::Database(ref err) if status == StatusCode::SERVICE_UNAVAILABLE => {
                back_in_a_moment(err)
            }
            Self::Database(ref err) => {
                tracing::error!(error = %err, "database error");
                (status, ui::render_message_page(ui::MessagePage::internal())).into_response()
            }
            Self::Internal(ref err) => {
                tracing::error!(error = %err, "internal error");
                (status, ui::render_message_page(ui::MessagePage::internal())).into_response()
            }
            Self::TooManyRequests { retry_after } => {
                let page = ui::MessagePage::new(
                    "Too many attempts",
                    format!(
                        "Too many attempts from here. Wait {retry_after} seconds and try again."
                    ),
                );
                let mut response = (status, ui::render_message_page(page)).into_response();
                if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            Self::Forbidden(message) => (
                status,
                ui::render_message_page(ui::MessagePage::new("You cannot do that", message)),
            )
                .into_response(),
            Self::BadRequest(message)
            | Self::PayloadTooLarge(message)
            | Self::UnsupportedMediaType(message) => (
                status,
                ui::render_message_page(ui::MessagePage::new("There is a problem", message)),
            )
                .into_response(),
            Self::Invalid(invalid) => {
                let message = invalid
                    .fields
                    .iter()
                    .map(|(_, m)| m.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                (
                    status,
                    ui::render_message_page(ui::MessagePage::new("There is a problem", message)),
                )
                    .into_response()
            }
            Self::Conflict(message) => (
                status,
                ui::render_message_page(ui::MessagePage::new("That has changed", message)),
            )
                .into_response(),
        }
    }
}

/// A form the user must correct: field name and message for each problem, and the
/// status to answer with (422 for invalid input, 409 for a duplicate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub status: StatusCode,
    pub fields: Vec<(String, String)>,
}

impl Invalid {
    pub fn new() -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            fields: Vec::new(),
        }
    }
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        let mut invalid = Self::new();
        invalid.add(name, message);
        invalid
    }
    pub fn conflict(name: &str, message: impl Into<String>) -> Self {
        let mut invalid = Self::field(name, message);
        invalid.status = StatusCode::CONFLICT;
        invalid
    }
    pub fn add(&mut self, name: &str, message: impl Into<String>) {
        if !self.fields.iter().any(|(f, _)| f == name) {
            self.fields.push((name.into(), message.into()));
        }
    }
    pub fn check<T, E: Into<String>>(
        &mut self,
        name: &str,
        result: std::result::Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(name, message);
                None
            }
        }
    }
    /// A required text field: `value`, trimmed, must be 1 to `max` characters, or
    /// the field gets "`what` (at most `max` characters)."
    pub fn text(&mut self, name: &str, value: &str, what: &str, max: usize) {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > max {
            self.add(name, format!("{what} (at most {max} characters)."));
        }
    }
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
    /// `Err(self)` if there is any problem.
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self))
        }
    }
}

impl Default for Invalid {
    fn default() -> Self {
        Self::new()
    }
}
