//! Production access routes, thin over the services: the partner's side under
//! `/production`, the bank's queue under `/review/production`, the policy under
//! `/review/policy` (read) and `/admin/policy` (replace). Forms post and redirect; a
//! form with errors comes back with the input, the errors and the right status.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::pages;
use super::policy::Route;
use super::service::{self, Outcome, RequestForm, ReviewForm};
use crate::oauth::Issuer;
use crate::onboarding::catalogue;
use crate::onboarding::handlers::{fields, form_of, with_errors};
use crate::onboarding::service::approved_tier;
use crate::platform::authz::Action;
use crate::platform::context::{AuthUser, Ctx};
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::ui::Form;
use crate::sandbox::readiness;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/production", get(home_page))
        .route("/production/docs", get(docs_page))
        .route("/production/requests/new", get(new_request_page))
        .route("/production/requests", post(submit))
        .route("/production/requests/{id}", get(request_page))
        .route("/production/requests/{id}/answer", post(answer_submit))
        .route("/production/requests/{id}/secret", post(collect_secret))
        .route("/review/production", get(queue_page))
        .route("/review/production/{id}", get(review_page))
        .route("/review/production/{id}/decision", post(decision_submit))
        .route("/review/policy", get(policy_page))
        .route("/production/policy", get(published_policy_page))
        .route("/admin/policy", post(policy_submit))
}

fn org(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or(Error::NotFound)
}

use crate::platform::forms::redirect;

fn split(values: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    values
        .get(name)
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- partner

async fn home_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ViewOnboarding)?;
    let org_id = org(user)?;
    let approved_tier = approved_tier(&state, org_id).await?;
    let sandbox_apps = crate::sandbox::service::list_apps(&state, org_id).await?;
    let requests = service::requests_of_org(&state, org_id).await?;
    let production = service::production_apps(&state, org_id).await?;
    let body = pages::home(pages::HomePage {
        approved_tier,
        sandbox_apps: &sandbox_apps,
        requests: &requests,
        production: &production,
        can_request: ctx.require(Action::RequestProductionAccess).is_ok(),
    });
    Ok(ctx.render("Production access", body).into_response())
}

async fn docs_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let settings = &state.settings;
    let p = Issuer::Production;
    let body = pages::docs(
        &p.identifier(settings),
        &settings.link(&p.metadata_path()),
        &settings.link(&p.path(crate::oauth::token::PATH)),
        &settings.link(&p.path(crate::oauth::introspect::PATH)),
        &settings.link(&p.path(crate::oauth::metadata::JWKS_PATH)),
        &p.audience(settings),
    );
    Ok(ctx.render("Production tokens", body).into_response())
}

#[derive(Deserialize)]
struct NewQuery {
    #[serde(default)]
    app_id: String,
}

async fn render_form(
    state: &AppState,
    ctx: &Ctx,
    user: &AuthUser,
    app_id: &str,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let org_id = org(user)?;
    let app = crate::sandbox::service::get_app(state, org_id, app_id).await?;
    let Some(level) = approved_tier(state, org_id).await? else {
        return Err(Error::Conflict(
            "Your organisation has no approved tier yet: finish onboarding first.".into(),
        ));
    };
    let tier = catalogue::tier(state, level).await?;
    let scopes = catalogue::scopes(state).await?;
    let readiness = readiness::assess(state, &app.id, &tier.scopes, state.clock.now()).await?;
    let body = pages::request_form(pages::RequestFormPage {
        app: &app,
        tier: &tier,
        scopes: &scopes,
        readiness: &readiness,
        form,
        csrf: &ctx.csrf,
    });
    Ok((status, ctx.render("Request production access", body)).into_response())
}

async fn new_request_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<NewQuery>,
) -> Result<Response> {
    let user = ctx.require(Action::RequestProductionAccess)?;
    let form = Form::new()
        .with("submission_key", crate::platform::crypto::random_token())
        .with("lifetime_days", "90")
        .with("auth_method", "private_key_jwt");
    render_form(&state, &ctx, user, &query.app_id, &form, StatusCode::OK).await
}

fn request_form(values: &BTreeMap<String, String>) -> RequestForm {
    let get = |name: &str| values.get(name).cloned().unwrap_or_default();
    let justifications = values
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("justification_")
                .map(|scope| (scope.to_string(), v.clone()))
        })
        .collect();
    RequestForm {
        app_id: get("app_id"),
        scopes: split(values, "scopes"),
        justifications,
        calls_per_day: get("calls_per_day"),
        peak_per_second: get("peak_per_second"),
        auth_method: get("auth_method"),
        jwks: get("jwks"),
        jwks_uri: get("jwks_uri"),
        certificate: get("certificate"),
        ip_allowlist: get("ip_allowlist"),
        allowed_countries: get("allowed_countries"),
        lifetime_days: get("lifetime_days"),
        go_live: get("go_live"),
        submission_key: get("submission_key"),
    }
}

async fn submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::RequestProductionAccess)?;
    let values = fields(&body);
    let form = request_form(&values);
    match service::submit(&state, user, &form, &ctx.client).await {
        Ok(submitted) => {
            let message = match submitted.route {
                Route::AutoApprove => "Approved by the bank's risk policy: your production client is ready.",
                Route::AutoReject => "The bank's risk policy did not approve this request: see what would change the outcome.",
                Route::OneReviewer => "Submitted: a reviewer at the bank will look at it.",
                Route::FourEyes => "Submitted: two reviewers at the bank will look at it.",
            };
            redirect(
                &ctx,
                &format!("/production/requests/{}", submitted.id),
                message,
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_form(
                &state,
                &ctx,
                user,
                &values.get("app_id").cloned().unwrap_or_default(),
                &form,
                status,
            )
            .await
        }
        Err(err) => Err(err),
    }
}

async fn render_request(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    secret: Option<(String, String)>,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let user = ctx.require(Action::ViewOnboarding)?;
    let org_id = org(user)?;
    let request = service::request(state, Some(org_id), id).await?;
    let messages = service::messages(state, &request.id).await?;
    let production = match &request.production_app_id {
        Some(app_id) => service::production_apps(state, org_id)
            .await?
            .into_iter()
            .find(|(app, _)| &app.id == app_id),
        None => None,
    };
    let body = pages::partner_request(pages::PartnerRequestPage {
        request: &request,
        messages: &messages,
        production: production.as_ref(),
        secret,
        can_manage: ctx.require(Action::RequestProductionAccess).is_ok(),
        form,
        csrf: &ctx.csrf,
    });
    let title = format!("Production request for {}", request.app_name);
    Ok((status, ctx.render(&title, body)).into_response())
}

async fn request_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_request(&state, &ctx, &id, None, &Form::new(), StatusCode::OK).await
}

async fn answer_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::RequestProductionAccess)?;
    let values = fields(&body);
    let get = |name: &str| values.get(name).cloned().unwrap_or_default();
    match service::respond(
        &state,
        user,
        &id,
        &get("answer"),
        &get("version"),
        &ctx.client,
    )
    .await
    {
        Ok(_) => {
            redirect(
                &ctx,
                &format!("/production/requests/{id}"),
                "Answer sent: the request is back with the bank.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_request(&state, &ctx, &id, None, &form, status).await
        }
        Err(err) => Err(err),
    }
}

async fn collect_secret(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let user = ctx.require(Action::RequestProductionAccess)?;
    let issued = service::collect_secret(&state, user, &id, &ctx.client).await?;
    // Shown in this response only: no redirect, so the secret never sits in a session.
    let mut response = render_request(
        &state,
        &ctx,
        &id,
        Some(issued),
        &Form::new(),
        StatusCode::OK,
    )
    .await?;
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

// ---------------------------------------------------------------- bank

#[derive(Deserialize)]
struct QueueQuery {
    #[serde(default)]
    status: String,
}

async fn queue_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<QueueQuery>,
) -> Result<Response> {
    ctx.require(Action::Review)?;
    let items = service::queue(&state, &query.status).await?;
    Ok(ctx
        .render(
            "Production access requests",
            pages::queue(&items, &query.status),
        )
        .into_response())
}

async fn render_review(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    let user = ctx.require(Action::Review)?;
    let request = service::request(state, None, id).await?;
    let reviews = service::reviews(state, &request.id).await?;
    let messages = service::messages(state, &request.id).await?;
    let conflict = crate::onboarding::review::conflict(state, &user.email, &request.org_id).await?;
    let first = reviews
        .iter()
        .find(|r| r.round == request.round && r.stage == 1)
        .and_then(|r| r.reviewer_id.clone());
    let blocked = (request.status == "pending_second_review")
        .then(|| {
            if first.as_deref() == Some(user.id.as_str()) {
                Some(
                    "You made the first review: a different approver makes the second.".to_string(),
                )
            } else if ctx.require(Action::Approve).is_err() {
                Some("Waiting for an approver's second review.".to_string())
            } else {
                None
            }
        })
        .flatten();
    let policy_version = service::policy_version(state, &request.policy_id).await?;
    let now = state.clock.now();
    let owed =
        crate::agreements::obligations(state, &request.org_id, request.tier, "production", now)
            .await?;
    let body = pages::review(pages::ReviewPage {
        request: &request,
        reviews: &reviews,
        messages: &messages,
        conflict,
        blocked,
        policy_version,
        agreements: crate::agreements::in_force(&owed, now),
        idp_step_up: crate::sso::handlers::step_up_offer(ctx, &format!("/review/production/{id}"))
            .await?,
        form,
        csrf: &ctx.csrf,
    });
    let title = format!("Production request: {}", request.org_name);
    Ok((status, ctx.render(&title, body)).into_response())
}

async fn review_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    render_review(&state, &ctx, &id, &Form::new(), StatusCode::OK).await
}

/// Wrong step-up codes one session may enter before it is ended.
const MAX_STEP_UP_FAILURES_PER_SESSION: i64 = 3;
const STEP_UP_FAILURES: &str = "step_up_failures";

async fn decision_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::Review)?;
    let values = fields(&body);
    let get = |name: &str| values.get(name).cloned().unwrap_or_default();
    let form = ReviewForm {
        decision: get("decision"),
        reason: get("reason"),
        scopes: split(&values, "scopes"),
        lifetime_days: get("lifetime_days"),
        rate_limit_per_minute: get("rate_limit_per_minute"),
        code: get("code"),
        version: get("version"),
        // A confirmation at the identity provider stands for the code, once.
        idp_step_up_at: if get("decision") == "approve" && get("code").trim().is_empty() {
            crate::sso::handlers::take_step_up(&ctx).await?
        } else {
            None
        },
    };
    match service::decide(&state, user, &id, &form, &ctx.client).await {
        Ok(outcome) => {
            let message = match outcome {
                Outcome::Approved => {
                    "Approved: the production credential is issued and the partner told."
                }
                Outcome::AwaitingSecondReview => {
                    "First approval recorded: an approver makes the second review."
                }
                Outcome::Rejected => "Rejected: the partner is told the reason.",
                Outcome::MoreInformation => "Sent back to the partner with your questions.",
            };
            redirect(&ctx, &format!("/review/production/{id}"), message).await
        }
        Err(Error::Invalid(invalid)) => {
            // A confirmation at the identity provider is kept for the corrected form.
            crate::sso::handlers::keep_step_up(&ctx, form.idp_step_up_at).await?;
            if invalid.fields.iter().any(|(field, _)| field == "code")
                && form.decision == "approve"
                && !form.code.trim().is_empty()
            {
                // Repeated wrong step-up codes in one session end it (issue 18 item 15).
                let failures = ctx
                    .session
                    .get::<i64>(STEP_UP_FAILURES)
                    .await
                    .map_err(Error::internal)?
                    .unwrap_or(0)
                    + 1;
                if failures >= MAX_STEP_UP_FAILURES_PER_SESSION {
                    ctx.session.flush().await.map_err(Error::internal)?;
                    return Err(Error::SignInRequired {
                        next: format!("/review/production/{id}"),
                    });
                }
                ctx.session
                    .insert(STEP_UP_FAILURES, failures)
                    .await
                    .map_err(Error::internal)?;
            }
            let mut values = values;
            values.remove("code");
            let (status, form) = with_errors(form_of(&values), invalid);
            render_review(&state, &ctx, &id, &form, status).await
        }
        Err(err) => Err(err),
    }
}

async fn render_policy(
    state: &AppState,
    ctx: &Ctx,
    form: &Form,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ViewPolicy)?;
    let active = service::active_policy(state).await?;
    let versions = service::policies(state).await?;
    let body = pages::policy(pages::PolicyPage {
        active: &active,
        versions: &versions,
        can_replace: ctx.require(Action::ManagePolicy).is_ok(),
        form,
        csrf: &ctx.csrf,
    });
    Ok((status, ctx.render("Risk policy", body)).into_response())
}

/// The policy for partners (and anyone at the bank who may read it).
async fn published_policy_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    if ctx.require(Action::ViewOnboarding).is_err() {
        ctx.require(Action::ViewPolicy)?;
    }
    let active = service::active_policy(&state).await?;
    Ok(ctx
        .render("The risk policy", pages::published_policy(&active))
        .into_response())
}

async fn policy_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render_policy(&state, &ctx, &Form::new(), StatusCode::OK).await
}

async fn policy_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::ManagePolicy)?;
    let values = fields(&body);
    let get = |name: &str| values.get(name).cloned().unwrap_or_default();
    match service::replace_policy(
        &state,
        user,
        &get("source"),
        &get("tests"),
        &get("note"),
        &ctx.client,
    )
    .await
    {
        Ok(policy) => {
            redirect(
                &ctx,
                "/review/policy",
                &format!(
                    "Policy version {} passed its tests and is active.",
                    policy.version
                ),
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            let (status, form) = with_errors(form_of(&values), invalid);
            render_policy(&state, &ctx, &form, status).await
        }
        Err(err) => Err(err),
    }
}
