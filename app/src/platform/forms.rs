//! Form plumbing every feature's handlers share: the submitted fields, the form
//! refilled with its errors, and what a submission becomes (a redirect with a flash,
//! or the page again with the errors and their status).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::ui::Form;
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Invalid, Result};

/// A url-encoded form as field → value; repeated fields (checkboxes) are joined
/// with spaces. The CSRF token is left out.
pub fn fields(body: &Bytes) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in url::form_urlencoded::parse(body) {
        if key == crate::platform::csrf::FIELD {
            continue;
        }
        out.entry(key.into_owned())
            .and_modify(|v| {
                v.push(' ');
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    out
}

pub fn form_of(values: &BTreeMap<String, String>) -> Form {
    values
        .iter()
        .fold(Form::new(), |form, (k, v)| form.with(k, v.clone()))
}

pub fn with_errors(mut form: Form, invalid: Invalid) -> (StatusCode, Form) {
    for (field, message) in invalid.fields {
        form.add_error(&field, message);
    }
    (invalid.status, form)
}

pub fn get_field(values: &BTreeMap<String, String>, name: &str) -> String {
    values.get(name).cloned().unwrap_or_default()
}

/// A form's hidden `version` field: a 400 when it is missing or not a number.
pub fn version_of(version: &str) -> Result<i64> {
    version
        .trim()
        .parse()
        .map_err(|_| Error::BadRequest("The form's version is missing or not a number.".into()))
}

/// Sets `message` as the flash and redirects to `to` (303).
pub async fn redirect(ctx: &Ctx, to: &str, message: &str) -> Result<Response> {
    ctx.set_flash(message).await?;
    Ok(Redirect::to(to).into_response())
}

/// What a form's submission becomes: on success, a redirect to `to` with a flash;
/// on `Error::Invalid`, the page again (`render`) with the input (less the
/// `forget` fields, such as a one-time code) and the errors, with their status.
pub async fn outcome<R, Fut>(
    ctx: &Ctx,
    result: Result<String>,
    to: &str,
    mut values: BTreeMap<String, String>,
    forget: &[&str],
    render: R,
) -> Result<Response>
where
    R: FnOnce(Form, StatusCode) -> Fut,
    Fut: std::future::Future<Output = Result<Response>>,
{
    match result {
        Ok(message) => redirect(ctx, to, &message).await,
        Err(Error::Invalid(invalid)) => {
            for field in forget {
                values.remove(*field);
            }
            let (status, form) = with_errors(form_of(&values), invalid);
            render(form, status).await
        }
        Err(err) => Err(err),
    }
}

/// Only local paths may be redirect targets (no open redirect): anything else is
/// dropped for the dashboard. Browsers read a `Location` leniently (the WHATWG URL
/// parser removes tabs and newlines anywhere and treats `\\` as `/` in http URLs, so
/// `/\t/evil.example` becomes `//evil.example`), and a control character cannot be
/// put in a header at all. So the path must be plain visible ASCII without `\\`,
/// must not start with `//`, and must resolve to the same origin.
pub fn safe_next(next: &str) -> String {
    const FALLBACK: &str = "/dashboard";
    let plain = next
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b'\\');
    if !plain || !next.starts_with('/') || next.starts_with("//") {
        return FALLBACK.into();
    }
    let Ok(base) = url::Url::parse("http://gatehouse.invalid/") else {
        return FALLBACK.into();
    };
    match base.join(next) {
        Ok(url) if url.origin() == base.origin() => next.to_string(),
        _ => FALLBACK.into(),
    }
}
