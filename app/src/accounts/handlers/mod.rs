//! Account routes. Each handler extracts, authorises, calls one service function
//! and maps the result: a redirect on success (post/redirect/get), or the same
//! form again with the errors and the user's input.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::AnyView;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::members;
use super::service::{self, PasswordStep, SignUp};
use super::tokens::Purpose;
use super::{pages, totp};
use crate::platform::authz::Action;
use crate::platform::context::{keys, start_signed_in_session, Ctx};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::forms::{redirect, with_errors};
use crate::platform::state::AppState;
use crate::platform::ui::Form;

// The handlers by flow; each reads the imports and helpers here with `use super::*`.
mod password;
mod second_factor;
mod sign_in;
mod team;

use password::*;
use second_factor::*;
use sign_in::*;
use team::*;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup_submit))
        .route("/signup/sent", get(signup_sent))
        .route("/verify-email", get(verify_email))
        .route("/verify-email/pending", get(verify_pending))
        .route("/verify-email/resend", post(verify_resend))
        .route("/signin", get(signin_page).post(signin_submit))
        .route(
            "/signin/code",
            get(signin_code_page).post(signin_code_submit),
        )
        .route("/signout", post(signout))
        .route("/password/forgot", get(forgot_page).post(forgot_submit))
        .route("/password/reset", get(reset_page).post(reset_submit))
        .route("/account", get(account_page))
        .route(
            "/account/password",
            get(password_page).post(password_submit),
        )
        .route("/account/totp", get(totp_page).post(totp_submit))
        .route("/account/totp/codes", get(recovery_codes_shown))
        .route(
            "/account/totp/recovery-codes",
            get(regenerate_page).post(regenerate_submit),
        )
        .route(
            "/account/totp/disable",
            get(disable_page).post(disable_submit),
        )
        .route("/invitation", get(invitation_page).post(invitation_submit))
        .route("/setup", get(setup_page).post(setup_submit))
        .route("/org/members", get(members_page))
        .route("/org/members/invite", post(invite_submit))
        .route("/org/members/{id}/role", post(role_submit))
        .route("/org/members/{id}/remove", post(remove_submit))
        .route("/admin/users", get(users_page).post(create_staff_submit))
        .route("/admin/users/{id}/disable", post(disable_user))
        .route("/admin/users/{id}/enable", post(enable_user))
}

/// Parses a urlencoded body into `T` and keeps the raw values to refill the form.
/// Missing fields become empty strings (and then validation messages).
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<(T, Form)> {
    let value: T = serde_urlencoded::from_bytes(body)
        .map_err(|e| Error::BadRequest(format!("The form could not be read: {e}")))?;
    let mut form = Form::new();
    for (key, val) in url::form_urlencoded::parse(body) {
        if key != crate::platform::csrf::FIELD {
            form = form.with(&key, val.into_owned());
        }
    }
    Ok((value, form))
}

/// The same page again, with the problems listed and the input kept.
fn invalid_page(
    ctx: &Ctx,
    title: &str,
    form: Form,
    invalid: Invalid,
    page: impl FnOnce(&Form, &str) -> AnyView,
) -> Response {
    let (status, form) = with_errors(form, invalid);
    let body = page(&form, &ctx.csrf);
    (status, ctx.render(&format!("Error: {title}"), body)).into_response()
}

pub use crate::platform::forms::safe_next;

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_a_same_origin_path_or_dropped() {
        assert_eq!(safe_next("/sandbox/apps?x=1#y"), "/sandbox/apps?x=1#y");
        for hostile in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\nSet-Cookie:x=1",
            "/ok\u{7f}",
            "/\u{0}",
            "https://evil.example/",
            "evil.example",
            "/%09/evil.example/\\",
            " /x",
            "",
        ] {
            assert_eq!(safe_next(hostile), "/dashboard", "{hostile:?}");
        }
    }
}

/// A link's `?token=` (verification, reset, invitation and set-up links).
#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// A typed second-factor code (sign-in, enrolment, turning it off).
#[derive(Deserialize)]
struct Code {
    #[serde(default)]
    code: String,
}
