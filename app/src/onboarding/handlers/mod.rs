//! Onboarding routes, thin over the services: the partner's wizard under
//! `/onboarding`, the reviewer's queue under `/review`, the admin's catalogue under
//! `/admin/catalogue`. Forms post and redirect (post/redirect/get); a form with
//! errors comes back with the user's input, the errors and the right status.

use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::catalogue::{self, TierInput};
use super::evidence::{self, Upload};
use super::model::Step;
use super::review::{self, QueueFilter};
use super::service::{self, Application};
use super::{model, pages};
use crate::platform::authz::Action;
use crate::platform::context::{AuthUser, Ctx};
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::time::display;
use crate::platform::ui::Form;

pub fn routes(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/onboarding", get(home_page))
        .route("/onboarding/start", post(start_submit))
        .route("/onboarding/{id}", get(task_list_page))
        .route(
            "/onboarding/{id}/steps/{step}",
            get(step_page).post(step_submit),
        )
        .route(
            "/onboarding/{id}/evidence",
            post(upload_submit).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/onboarding/{id}/answer", post(answer_submit))
        .route("/onboarding/{id}/submit", post(submit))
        .route("/onboarding/evidence/{eid}", get(download))
        .route("/onboarding/evidence/{eid}/remove", post(remove_evidence))
        .route("/review", get(queue_page))
        .route("/review/applications/{id}", get(dossier_page))
        .route("/review/applications/{id}/assign", post(assign_submit))
        .route("/review/applications/{id}/decision", post(decision_submit))
        .route("/admin/catalogue", get(catalogue_page))
        .route("/admin/catalogue/scopes", post(scope_submit))
        .route(
            "/admin/catalogue/tiers/{level}",
            get(tier_page).post(tier_submit),
        )
        .route(
            "/admin/catalogue/questionnaires",
            post(questionnaire_submit),
        )
        .route(
            "/admin/catalogue/questionnaires/new",
            get(new_questionnaire_page),
        )
        .route(
            "/admin/catalogue/questionnaires/{id}",
            get(questionnaire_page),
        )
        .route(
            "/admin/catalogue/questionnaires/{id}/publish",
            post(publish_submit),
        )
}

use crate::platform::forms::redirect;

// The handlers by who uses them; each reads the imports and helpers here with
// `use super::*`.
mod admin;
mod partner;
mod reviewer;

pub(crate) use crate::platform::forms::{fields, form_of, with_errors};
use admin::*;
use partner::*;
use reviewer::*;

fn org(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or(Error::NotFound)
}

/// A multipart error as the upload forms answer it: 413 for a body over the limit,
/// 400 for one that cannot be read.
fn upload_error(err: MultipartError) -> Error {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge("The file is larger than Gatehouse accepts.".into())
    } else {
        Error::BadRequest(format!("The upload could not be read: {}", err.body_text()))
    }
}

/// Reads an evidence upload (kind, dates, file) from a multipart form; an
/// oversized body is a 413, an unreadable one a 400.
pub(crate) async fn read_upload(multipart: &mut Multipart) -> Result<Upload> {
    let mut upload = Upload::default();
    loop {
        let Some(field) = multipart.next_field().await.map_err(upload_error)? else {
            break;
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            upload.filename = field.file_name().unwrap_or_default().to_string();
        }
        let data = field.bytes().await.map_err(upload_error)?;
        let text = || {
            String::from_utf8_lossy(&data)
                .chars()
                .take(100)
                .collect::<String>()
        };
        match name.as_str() {
            "kind" => upload.kind = text(),
            "issued_on" => upload.issued_on = text(),
            "expires_on" => upload.expires_on = text(),
            "kept_file" => upload.use_kept = !data.is_empty(),
            "file" => upload.bytes = data,
            _ => {}
        }
    }
    Ok(upload)
}
