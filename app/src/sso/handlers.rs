//! The sign-in routes: `/sso/<id>/start` sends the person to the provider,
//! `/sso/<id>/callback` takes them back; `/sso/step-up` asks the provider for a
//! fresh multi-factor sign-in before a decision; `/sso/<id>/backchannel-logout`
//! is the provider's (no session, no CSRF: the logout token is the proof); and the
//! bank admin's `/admin/sso`.
//!
//! `state`, `nonce` and the PKCE verifier live in the tower-sessions session (never
//! a table or a cookie of their own), for ten minutes, and are used once.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::provider::{self, Refusal};
use super::{pages, service, staff};
use crate::platform::authz::Action;
use crate::platform::context::{keys, start_signed_in_session, Ctx};
use crate::platform::error::{Error, Result};
use crate::platform::forms::{redirect, safe_next};
use crate::platform::state::AppState;

/// The session key of a sign-in under way.
const PENDING: &str = "sso_pending";
/// How long a sign-in at the provider may take.
const PENDING_SECONDS: i64 = 600;
/// How long a step-up at the provider stays good for one decision.
pub const STEP_UP_SECONDS: i64 = 300;

#[derive(Debug, Deserialize, Serialize)]
struct Pending {
    idp: String,
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    at: i64,
    /// For a step-up: the signed-in user, who must come back as the same person.
    step_up_for: Option<String>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sso/{id}/start", get(start))
        .route("/sso/{id}/callback", get(callback))
        .route("/sso/step-up", get(step_up))
        .route("/admin/sso", get(admin_page))
        .route("/admin/sso/staff/{id}/reactivate", post(reactivate))
}

/// The provider's own endpoint: outside the session and CSRF layers.
pub fn api_routes() -> Router<AppState> {
    Router::new().route("/sso/{id}/backchannel-logout", post(backchannel_logout))
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Sends the person to `idp` (`key` names it in the pending sign-in: a configured
/// provider's id, or `partner:<org>`).
pub(super) async fn begin(
    ctx: &Ctx,
    idp: &provider::Idp,
    key: &str,
    next: &str,
    step_up_for: Option<String>,
) -> Result<Response> {
    let started = idp.start(&ctx.state, step_up_for.is_some()).await?;
    let pending = Pending {
        idp: key.to_string(),
        state: started.state,
        nonce: started.nonce,
        verifier: started.verifier,
        next: safe_next(next),
        at: ctx.state.clock.now(),
        step_up_for,
    };
    ctx.session
        .insert(PENDING, &pending)
        .await
        .map_err(Error::internal)?;
    Ok(Redirect::to(started.url.as_str()).into_response())
}

async fn start(ctx: Ctx, Path(id): Path<String>, Query(q): Query<NextQuery>) -> Result<Response> {
    if ctx.user.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let idp = ctx.state.sso().get(&id).ok_or(Error::NotFound)?;
    begin(&ctx, &idp, &id, &q.next, None).await
}

/// A fresh sign-in at the provider for someone already signed in through it.
async fn step_up(ctx: Ctx, Query(q): Query<NextQuery>) -> Result<Response> {
    let user = ctx.user()?.clone();
    let Some((idp, _)) = service::identity_of(&ctx.state, &user.id).await? else {
        return Err(Error::Forbidden(
            "You do not sign in through an identity provider: confirm with your authenticator code instead.".into(),
        ));
    };
    let Some(provider) = ctx.state.sso().get(&idp) else {
        return Err(Error::Forbidden(
            "Your identity provider cannot confirm decisions: use your authenticator code.".into(),
        ));
    };
    begin(&ctx, &provider, &idp, &q.next, Some(user.id)).await
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The page a refused sign-in shows (the reason in plain words; the detail is in
/// the audit trail).
pub(super) async fn refusal_page(ctx: &Ctx, id: &str, refusal: Refusal) -> Result<Response> {
    service::refused(&ctx.state, id, &refusal, None, &ctx.client).await?;
    shown(ctx, &refusal)
}

fn shown(ctx: &Ctx, refusal: &Refusal) -> Result<Response> {
    Ok((
        StatusCode::FORBIDDEN,
        ctx.render("Sign-in refused", pages::refused(refusal.reason)),
    )
        .into_response())
}

async fn callback(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> Result<Response> {
    let idp = ctx.state.sso().get(&id).ok_or(Error::NotFound)?;
    complete(&ctx, &idp, &id, q, None).await
}

/// The callback's checks and the sign-in, for a configured provider (`partner`
/// `None`) or a partner organisation's.
pub(super) async fn complete(
    ctx: &Ctx,
    idp: &provider::Idp,
    id: &str,
    q: CallbackQuery,
    partner: Option<&super::partner::OrgIdp>,
) -> Result<Response> {
    let id = id.to_string();
    // Used once, whatever happens next: a replayed callback finds nothing.
    let pending: Option<Pending> = ctx.session.remove(PENDING).await.map_err(Error::internal)?;
    let now = ctx.state.clock.now();
    let Some(pending) = pending.filter(|p| now - p.at <= PENDING_SECONDS) else {
        return refusal_page(
            ctx,
            &id,
            Refusal::new(
                "no_sign_in_under_way",
                "no sign-in under way in this session (expired, replayed or never started)",
            ),
        )
        .await;
    };
    if pending.idp != id {
        return refusal_page(
            ctx,
            &id,
            Refusal::new(
                "wrong_issuer",
                format!("the sign-in was started at {}", pending.idp),
            ),
        )
        .await;
    }
    if q.state.as_deref() != Some(pending.state.as_str()) {
        return refusal_page(
            ctx,
            &id,
            Refusal::new("state_mismatch", "state does not match"),
        )
        .await;
    }
    if let Some(error) = q.error {
        let description: String = q
            .error_description
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        return refusal_page(
            ctx,
            &id,
            Refusal::new("provider_error", format!("{error}: {description}")),
        )
        .await;
    }
    // RFC 9207: the authorization response names its issuer.
    if let Some(iss) = &q.iss {
        if !idp.config.issuer_matches(iss, None)
            && !idp
                .config
                .issuer
                .contains(super::config::TENANT_PLACEHOLDER)
        {
            return refusal_page(
                ctx,
                &id,
                Refusal::new("wrong_issuer", format!("iss is {iss}")),
            )
            .await;
        }
    }
    let Some(code) = q.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return refusal_page(
            ctx,
            &id,
            Refusal::new("no_code", "the response has no code"),
        )
        .await;
    };
    let claims = match idp
        .finish(&ctx.state, &code, &pending.verifier, &pending.nonce)
        .await?
    {
        Ok(claims) => claims,
        Err(refusal) => return refusal_page(ctx, &id, refusal).await,
    };
    if let (Some(user_id), None) = (&pending.step_up_for, partner) {
        return finish_step_up(ctx, &idp.config, user_id, &claims, &pending).await;
    }
    let outcome = match partner {
        None => service::sign_in(&ctx.state, &idp.config, &claims, &ctx.client).await?,
        Some(conn) => {
            super::partner_members::sign_in(&ctx.state, conn, &claims, &ctx.client).await?
        }
    };
    let signed = match outcome {
        Ok(signed) => signed,
        Err(refusal) => return shown(ctx, &refusal),
    };
    if signed.mfa {
        start_signed_in_session(&ctx.session, &signed.user_id, signed.epoch, true, now).await?;
        ctx.session
            .insert(keys::IDP_MFA, true)
            .await
            .map_err(Error::internal)?;
    } else if signed.totp_enrolled {
        // The provider did not prove a second factor: Gatehouse's own code is asked for.
        let pending = json!({ "uid": signed.user_id, "at": now, "next": pending.next });
        ctx.session
            .insert(keys::MFA_PENDING, pending)
            .await
            .map_err(Error::internal)?;
        return Ok(Redirect::to("/signin/code").into_response());
    } else {
        start_signed_in_session(&ctx.session, &signed.user_id, signed.epoch, false, now).await?;
    }
    Ok(Redirect::to(&pending.next).into_response())
}

/// A step-up counts only for the same person, still in a group that gives the role
/// they hold (the claims are applied as at a sign-in), freshly authenticated with
/// more than one factor.
async fn finish_step_up(
    ctx: &Ctx,
    config: &super::config::IdpConfig,
    user_id: &str,
    claims: &provider::IdClaims,
    pending: &Pending,
) -> Result<Response> {
    let signed_in_as = ctx.user.as_ref().map(|u| u.id.clone());
    let epoch: Option<i64> = ctx
        .session
        .get(keys::EPOCH)
        .await
        .map_err(Error::internal)?;
    let signed = match service::sign_in(&ctx.state, config, claims, &ctx.client).await? {
        Ok(signed) => signed,
        Err(refusal) => return shown(ctx, &refusal),
    };
    let fresh = claims
        .auth_time()
        .is_some_and(|t| t.timestamp() >= pending.at - 60);
    let refusal = if signed_in_as.as_deref() != Some(user_id) || signed.user_id != user_id {
        Some(Refusal::new(
            "step_up_other_person",
            "the provider signed in someone else",
        ))
    } else if epoch != Some(signed.epoch) {
        Some(Refusal::new(
            "step_up_role_changed",
            "the person's role changed at the provider",
        ))
    } else if !fresh {
        Some(Refusal::new(
            "step_up_not_fresh",
            "the provider did not authenticate the person again",
        ))
    } else if !signed.mfa {
        Some(Refusal::new(
            "step_up_not_mfa",
            "the provider did not prove a second factor",
        ))
    } else {
        None
    };
    if let Some(refusal) = refusal {
        return refusal_page(ctx, &config.id, refusal).await;
    }
    let id = crate::platform::ids::new_id("sup");
    sqlx::query("INSERT INTO sso_step_ups (id, user_id, at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(user_id)
        .bind(ctx.state.clock.now())
        .execute(&ctx.state.db.pool)
        .await?;
    ctx.session
        .insert(keys::IDP_STEP_UP, &id)
        .await
        .map_err(Error::internal)?;
    redirect(
        ctx,
        &pending.next,
        "Confirmed with your identity provider: you can decide within five minutes.",
    )
    .await
}

/// The step-up this session holds, if fresh and unused, used up in one conditional
/// update (two decisions sent at once cannot both use it). Its time, or `None`.
pub async fn take_step_up(ctx: &Ctx) -> Result<Option<i64>> {
    let (Some(user), Some(id)) = (&ctx.user, step_up_id(ctx).await?) else {
        return Ok(None);
    };
    let now = ctx.state.clock.now();
    Ok(sqlx::query_scalar(
        "UPDATE sso_step_ups SET used_at = $1 WHERE id = $2 AND user_id = $3 AND used_at IS NULL AND at >= $4 RETURNING at",
    )
    .bind(now)
    .bind(&id)
    .bind(&user.id)
    .bind(now - STEP_UP_SECONDS)
    .fetch_optional(&ctx.state.db.pool)
    .await?)
}

async fn step_up_id(ctx: &Ctx) -> Result<Option<String>> {
    ctx.session
        .get(keys::IDP_STEP_UP)
        .await
        .map_err(Error::internal)
}

/// Gives back a step-up a refused form used (it decided nothing).
pub async fn keep_step_up(ctx: &Ctx, at: Option<i64>) -> Result<()> {
    if let (Some(_), Some(id)) = (at, step_up_id(ctx).await?) {
        sqlx::query("UPDATE sso_step_ups SET used_at = NULL WHERE id = $1")
            .bind(&id)
            .execute(&ctx.state.db.pool)
            .await?;
    }
    Ok(())
}

/// For someone who signs in through a provider, the offer to confirm there instead
/// of a code (or that they have, within the last five minutes); `None` for others.
pub async fn step_up_offer(ctx: &Ctx, back_to: &str) -> Result<Option<leptos::prelude::AnyView>> {
    let Some(user) = &ctx.user else {
        return Ok(None);
    };
    if service::identity_of(&ctx.state, &user.id).await?.is_none() {
        return Ok(None);
    }
    let fresh = match step_up_id(ctx).await? {
        Some(id) => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sso_step_ups WHERE id = $1 AND user_id = $2 AND used_at IS NULL AND at >= $3",
            )
            .bind(&id)
            .bind(&user.id)
            .bind(ctx.state.clock.now() - STEP_UP_SECONDS)
            .fetch_one(&ctx.state.db.pool)
            .await?;
            n > 0
        }
        None => false,
    };
    Ok(Some(pages::step_up_offer(back_to, fresh)))
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    logout_token: String,
}

/// OpenID Connect Back-Channel Logout 1.0 §2.5–2.8: 200 when the sessions are
/// ended (or there were none), 400 with an error for a token that does not hold.
async fn backchannel_logout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    let Some(idp) = state.sso().get(&id) else {
        return Err(Error::NotFound);
    };
    let form: LogoutForm = serde_urlencoded::from_bytes(&body).unwrap_or(LogoutForm {
        logout_token: String::new(),
    });
    if form.logout_token.is_empty() || form.logout_token.len() > 16_384 {
        let body =
            json!({ "error": "invalid_request", "error_description": "logout_token is required" });
        return Ok((StatusCode::BAD_REQUEST, no_store, axum::Json(body)).into_response());
    }
    let refusal = match idp.logout_token(&state, &form.logout_token).await? {
        Ok(claims) if service::first_use_of_logout_token(&state, &claims).await? => {
            service::logged_out(&state, &id, &claims).await?;
            return Ok((StatusCode::OK, no_store).into_response());
        }
        Ok(_) => Refusal::new(
            "logout_token_replayed",
            "this logout token was already used",
        ),
        Err(refusal) => refusal,
    };
    let client = crate::platform::context::ClientInfo::default();
    service::refused(&state, &id, &refusal, None, &client).await?;
    let body = json!({ "error": "invalid_request", "error_description": refusal.detail });
    Ok((StatusCode::BAD_REQUEST, no_store, axum::Json(body)).into_response())
}

async fn admin_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    ctx.require(Action::ManageUsers)?;
    let people = staff::list(&state).await?;
    let partners = super::partner::all(&state).await?;
    let partners = super::partner_handlers::bank_section(&partners, &ctx.csrf);
    let body = pages::admin(&state, &people, partners, &ctx.csrf);
    Ok(ctx.render("Single sign-on", body).into_response())
}

async fn reactivate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageUsers)?;
    staff::reactivate(&state, admin, &ctx.client, &id).await?;
    redirect(
        &ctx,
        "/admin/sso",
        "Reactivated: the person can sign in through the identity provider again.",
    )
    .await
}
