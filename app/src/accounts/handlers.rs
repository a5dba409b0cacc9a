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

use super::authz::Action;
use super::members;
use super::service::{self, PasswordStep, SignUp};
use super::tokens::Purpose;
use super::{pages, totp};
use crate::platform::context::{keys, start_signed_in_session, Ctx};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;
use crate::ui::Form;

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
    mut form: Form,
    invalid: Invalid,
    page: impl FnOnce(&Form, &str) -> AnyView,
) -> Response {
    for (field, message) in invalid.fields {
        form.add_error(&field, message);
    }
    let body = page(&form, &ctx.csrf);
    (invalid.status, ctx.render(&format!("Error: {title}"), body)).into_response()
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

async fn redirect_with(ctx: &Ctx, to: &str, message: &str) -> Result<Response> {
    ctx.set_flash(message).await?;
    Ok(Redirect::to(to).into_response())
}

// ---- sign-up and e-mail verification ----

async fn signup_page(ctx: Ctx) -> Html<String> {
    ctx.render("Create an account", pages::signup(&Form::new(), &ctx.csrf))
}

async fn signup_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let (input, form): (SignUp, Form) = parse(&body)?;
    match service::sign_up(&state, input, &ctx.client).await {
        // The same answer whether the address was new or already had an account.
        Ok(()) => Ok(Redirect::to("/signup/sent").into_response()),
        Err(Error::Invalid(invalid)) => Ok(invalid_page(
            &ctx,
            "Create an account",
            form,
            invalid,
            pages::signup,
        )),
        Err(err) => Err(err),
    }
}

async fn signup_sent(ctx: Ctx) -> Html<String> {
    let mailbox = ctx.state.settings.dev_mailbox();
    ctx.render("Check your e-mail", pages::signup_sent(mailbox))
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn verify_email(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<TokenQuery>,
) -> Result<Response> {
    service::verify_email(&state, &query.token, &ctx.client).await?;
    let to = if ctx.user.is_some() {
        "/dashboard"
    } else {
        "/signin"
    };
    redirect_with(&ctx, to, "Your e-mail address is confirmed.").await
}

async fn verify_pending(ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    if user.email_verified {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let mailbox = ctx.state.settings.dev_mailbox();
    Ok(ctx
        .render(
            "Confirm your e-mail address",
            pages::verify_pending(&user.email, &ctx.csrf, mailbox),
        )
        .into_response())
}

async fn verify_resend(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    service::resend_verification(&state, user).await?;
    redirect_with(
        &ctx,
        "/verify-email/pending",
        "We sent a new link. The previous one no longer works.",
    )
    .await
}

// ---- sign-in and sign-out ----

#[derive(Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn signin_page(ctx: Ctx, Query(query): Query<NextQuery>) -> Response {
    if ctx.user.is_some() {
        return Redirect::to("/dashboard").into_response();
    }
    ctx.render(
        "Sign in",
        pages::signin(&Form::new(), &ctx.csrf, &safe_next(&query.next)),
    )
    .into_response()
}

#[derive(Deserialize)]
struct SignIn {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn signin_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let (input, form): (SignIn, Form) = parse(&body)?;
    let next = safe_next(&input.next);
    match service::check_password(&state, &input.email, &input.password, &ctx.client).await {
        Ok(PasswordStep::SignedIn(signed)) => {
            start_signed_in_session(
                &ctx.session,
                &signed.user_id,
                signed.epoch,
                false,
                ctx.state.clock.now(),
            )
            .await?;
            Ok(Redirect::to(&next).into_response())
        }
        Ok(PasswordStep::NeedsSecondFactor { user_id }) => {
            let pending =
                serde_json::json!({ "uid": user_id, "at": ctx.state.clock.now(), "next": next });
            ctx.session
                .insert(keys::MFA_PENDING, pending)
                .await
                .map_err(Error::internal)?;
            Ok(Redirect::to("/signin/code").into_response())
        }
        Err(Error::Invalid(invalid)) => Ok(invalid_page(
            &ctx,
            "Sign in",
            form,
            invalid,
            |form, csrf| pages::signin(form, csrf, &next),
        )),
        Err(err) => Err(err),
    }
}

/// The user waiting for their second factor (for five minutes after the password).
async fn pending_second_factor(ctx: &Ctx) -> Result<(String, String)> {
    let pending = ctx
        .session
        .get::<serde_json::Value>(keys::MFA_PENDING)
        .await
        .map_err(Error::internal)?;
    let fresh = pending.as_ref().and_then(|p| {
        let at = p.get("at")?.as_i64()?;
        (ctx.state.clock.now() - at < 300).then_some(())?;
        Some((
            p.get("uid")?.as_str()?.to_string(),
            p.get("next")?.as_str()?.to_string(),
        ))
    });
    fresh.ok_or_else(|| Error::Redirect("/signin".into()))
}

async fn signin_code_page(ctx: Ctx) -> Result<Html<String>> {
    pending_second_factor(&ctx).await?;
    Ok(ctx.render(
        "Enter your code",
        pages::signin_code(&Form::new(), &ctx.csrf),
    ))
}

#[derive(Deserialize)]
struct Code {
    #[serde(default)]
    code: String,
}

async fn signin_code_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let (user_id, next) = pending_second_factor(&ctx).await?;
    let (input, form): (Code, Form) = parse(&body)?;
    match service::check_second_factor(&state, &user_id, &input.code, &ctx.client).await {
        Ok(signed) => {
            start_signed_in_session(
                &ctx.session,
                &signed.user_id,
                signed.epoch,
                true,
                ctx.state.clock.now(),
            )
            .await?;
            Ok(Redirect::to(&safe_next(&next)).into_response())
        }
        Err(Error::Invalid(invalid)) => Ok(invalid_page(
            &ctx,
            "Enter your code",
            form,
            invalid,
            pages::signin_code,
        )),
        Err(err) => Err(err),
    }
}

async fn signout(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    if let Some(user) = &ctx.user {
        service::signed_out(&state, user, &ctx.client).await?;
    }
    // Deletes the session server-side, not only the cookie.
    ctx.session.flush().await.map_err(Error::internal)?;
    Ok(Redirect::to("/").into_response())
}

// ---- password reset and change ----

async fn forgot_page(ctx: Ctx) -> Html<String> {
    ctx.render(
        "Reset your password",
        pages::forgot(&Form::new(), &ctx.csrf),
    )
}

#[derive(Deserialize)]
struct Email {
    #[serde(default)]
    email: String,
}

async fn forgot_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let (input, form): (Email, Form) = parse(&body)?;
    match super::reset::request_password_reset(&state, &input.email, &ctx.client).await {
        Ok(()) => redirect_with(&ctx, "/signin", "If that address has an account, we have sent it a link to reset the password. The link works for an hour.").await,
        Err(Error::Invalid(invalid)) => Ok(invalid_page(&ctx, "Reset your password", form, invalid, pages::forgot)),
        Err(err) => Err(err),
    }
}

async fn reset_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<TokenQuery>,
) -> Result<Html<String>> {
    super::tokens::peek(
        &state.db,
        &state.keys,
        &query.token,
        Purpose::PasswordReset,
        state.clock.now(),
    )
    .await?;
    Ok(ctx.render(
        "Choose a new password",
        pages::reset(&Form::new(), &ctx.csrf, &query.token),
    ))
}

#[derive(Deserialize)]
struct Reset {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let (input, form): (Reset, Form) = parse(&body)?;
    match super::reset::reset_password(&state, &input.token, &input.password, &ctx.client).await {
        Ok(()) => {
            ctx.session.flush().await.map_err(Error::internal)?;
            Ok(Redirect::to("/signin").into_response())
        }
        Err(Error::Invalid(invalid)) => {
            let token = input.token.clone();
            Ok(invalid_page(
                &ctx,
                "Choose a new password",
                form,
                invalid,
                |f, c| pages::reset(f, c, &token),
            ))
        }
        Err(err) => Err(err),
    }
}

async fn password_page(ctx: Ctx) -> Result<Html<String>> {
    ctx.require(Action::ManageOwnAccount)?;
    Ok(ctx.render(
        "Change your password",
        pages::change_password(&Form::new(), &ctx.csrf),
    ))
}

#[derive(Deserialize)]
struct ChangePassword {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

async fn password_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    let (input, form): (ChangePassword, Form) = parse(&body)?;
    match service::change_password(
        &state,
        user,
        &input.current_password,
        &input.new_password,
        &ctx.client,
    )
    .await
    {
        Ok(epoch) => {
            // The new password does not change which factors this session proved.
            start_signed_in_session(
                &ctx.session,
                &user.id,
                epoch,
                user.mfa_enabled,
                ctx.state.clock.now(),
            )
            .await?;
            redirect_with(
                &ctx,
                "/account",
                "Your password was changed. Your other sessions were signed out.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => Ok(invalid_page(
            &ctx,
            "Change your password",
            form,
            invalid,
            pages::change_password,
        )),
        Err(err) => Err(err),
    }
}

// ---- account security and the second factor ----

async fn account_page(State(state): State<AppState>, ctx: Ctx) -> Result<Html<String>> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(&user.id)
    .fetch_one(&state.db.pool)
    .await?;
    let overview = pages::SecurityOverview {
        email: user.email.clone(),
        role: user.role,
        mfa_enabled: user.mfa_enabled,
        recovery_codes_left: left,
    };
    Ok(ctx.render("Account security", pages::account(overview)))
}

/// The secret being enrolled lives in the session until the first code confirms it.
async fn enrolment_secret(ctx: &Ctx) -> Result<Vec<u8>> {
    if let Some(secret) = ctx
        .session
        .get::<String>(keys::TOTP_ENROL)
        .await
        .map_err(Error::internal)?
        .and_then(|s| totp::from_base32(&s))
    {
        return Ok(secret);
    }
    let secret = totp::new_secret();
    ctx.session
        .insert(keys::TOTP_ENROL, totp::to_base32(&secret))
        .await
        .map_err(Error::internal)?;
    Ok(secret)
}

fn enrol_view(secret: &[u8], email: &str) -> impl Fn(&Form, &str) -> AnyView {
    let base32 = totp::to_base32(secret);
    let uri = totp::otpauth_uri(secret, email);
    move |form, csrf| pages::totp_enrol(form, csrf, &base32, &uri)
}

async fn totp_page(ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    if user.mfa_enabled {
        return Ok(Redirect::to("/account").into_response());
    }
    let secret = enrolment_secret(&ctx).await?;
    let view = enrol_view(&secret, &user.email);
    Ok(ctx
        .render(
            "Set up two-step verification",
            view(&Form::new(), &ctx.csrf),
        )
        .into_response())
}

async fn totp_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    if user.mfa_enabled {
        return Err(Error::Conflict(
            "Two-step verification is already on.".into(),
        ));
    }
    let (input, form): (Code, Form) = parse(&body)?;
    let secret = enrolment_secret(&ctx).await?;
    match service::enrol_totp(&state, user, &secret, &input.code, &ctx.client).await {
        Ok(codes) => {
            ctx.session
                .remove::<String>(keys::TOTP_ENROL)
                .await
                .map_err(Error::internal)?;
            // A privilege change: a new session id, so a fixed or stolen id is worthless.
            // This session proved the new factor by entering its first code.
            ctx.session.cycle_id().await.map_err(Error::internal)?;
            ctx.session
                .insert(keys::SECOND_FACTOR, true)
                .await
                .map_err(Error::internal)?;
            ctx.session
                .insert(keys::RECOVERY_CODES, codes)
                .await
                .map_err(Error::internal)?;
            Ok(Redirect::to("/account/totp/codes").into_response())
        }
        Err(Error::Invalid(invalid)) => {
            let view = enrol_view(&secret, &user.email);
            Ok(invalid_page(
                &ctx,
                "Set up two-step verification",
                form,
                invalid,
                view,
            ))
        }
        Err(err) => Err(err),
    }
}

/// Shows freshly made recovery codes once (they are taken out of the session).
async fn recovery_codes_shown(ctx: Ctx) -> Result<Response> {
    ctx.require(Action::ManageOwnAccount)?;
    match ctx
        .session
        .remove::<Vec<String>>(keys::RECOVERY_CODES)
        .await
        .map_err(Error::internal)?
    {
        Some(codes) => Ok(ctx
            .render("Save your recovery codes", pages::recovery_codes(codes))
            .into_response()),
        None => Ok(Redirect::to("/account").into_response()),
    }
}

fn regenerate_view(form: &Form, csrf: &str) -> AnyView {
    pages::code_confirm(
        form,
        csrf,
        "/account/totp/recovery-codes",
        "New codes replace all your old ones.",
        "Make new codes",
    )
}

async fn regenerate_page(ctx: Ctx) -> Result<Html<String>> {
    ctx.require(Action::ManageOwnAccount)?;
    Ok(ctx.render(
        "Make new recovery codes",
        regenerate_view(&Form::new(), &ctx.csrf),
    ))
}

async fn regenerate_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    let (input, form): (Code, Form) = parse(&body)?;
    match service::regenerate_recovery_codes(&state, user, &input.code, &ctx.client).await {
        Ok(codes) => {
            ctx.session
                .insert(keys::RECOVERY_CODES, codes)
                .await
                .map_err(Error::internal)?;
            Ok(Redirect::to("/account/totp/codes").into_response())
        }
        Err(Error::Invalid(invalid)) => Ok(invalid_page(
            &ctx,
            "Make new recovery codes",
            form,
            invalid,
            regenerate_view,
        )),
        Err(err) => Err(err),
    }
}

fn disable_view(form: &Form, csrf: &str) -> AnyView {
    pages::code_confirm(
        form,
        csrf,
        "/account/totp/disable",
        "Your account will be protected by your password alone.",
        "Turn off",
    )
}

async fn disable_page(ctx: Ctx) -> Result<Html<String>> {
    ctx.require(Action::ManageOwnAccount)?;
    Ok(ctx.render(
        "Turn off two-step verification",
        disable_view(&Form::new(), &ctx.csrf),
    ))
}

async fn disable_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    let (input, form): (Code, Form) = parse(&body)?;
    match service::disable_totp(&state, user, &input.code, &ctx.client).await {
        Ok(()) => redirect_with(&ctx, "/account", "Two-step verification is off.").await,
        Err(Error::Invalid(invalid)) => Ok(invalid_page(
            &ctx,
            "Turn off two-step verification",
            form,
            invalid,
            disable_view,
        )),
        Err(err) => Err(err),
    }
}

// ---- invitations and staff set-up links ----

async fn invitation_page(
    state: State<AppState>,
    ctx: Ctx,
    query: Query<TokenQuery>,
) -> Result<Html<String>> {
    accept_page(state, ctx, query, Purpose::Invitation).await
}
async fn setup_page(
    state: State<AppState>,
    ctx: Ctx,
    query: Query<TokenQuery>,
) -> Result<Html<String>> {
    accept_page(state, ctx, query, Purpose::StaffSetup).await
}
async fn invitation_submit(state: State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    accept_submit(state, ctx, body, Purpose::Invitation).await
}
async fn setup_submit(state: State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    accept_submit(state, ctx, body, Purpose::StaffSetup).await
}

fn accept_action(purpose: Purpose) -> (&'static str, &'static str) {
    match purpose {
        Purpose::StaffSetup => ("/setup", "Set up your bank account"),
        _ => ("/invitation", "Join your team on Gatehouse"),
    }
}

async fn accept_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<TokenQuery>,
    purpose: Purpose,
) -> Result<Html<String>> {
    let (email, name) = members::invitation_for(&state, &query.token, purpose).await?;
    let (action, title) = accept_action(purpose);
    let form = Form::new().with("display_name", name);
    Ok(ctx.render(
        title,
        pages::accept(&form, &ctx.csrf, action, &query.token, &email),
    ))
}

#[derive(Deserialize)]
struct Accept {
    #[serde(default)]
    token: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

async fn accept_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
    purpose: Purpose,
) -> Result<Response> {
    let (input, form): (Accept, Form) = parse(&body)?;
    let (action, title) = accept_action(purpose);
    match members::accept(
        &state,
        &input.token,
        purpose,
        &input.display_name,
        &input.password,
        &ctx.client,
    )
    .await
    {
        Ok(()) => {
            ctx.session.flush().await.map_err(Error::internal)?;
            Ok(Redirect::to("/signin").into_response())
        }
        Err(Error::Invalid(invalid)) => {
            let (email, _) = members::invitation_for(&state, &input.token, purpose).await?;
            let token = input.token.clone();
            Ok(invalid_page(&ctx, title, form, invalid, |f, c| {
                pages::accept(f, c, action, &token, &email)
            }))
        }
        Err(err) => Err(err),
    }
}

// ---- the organisation's members ----

async fn members_view(state: &AppState, ctx: &Ctx, form: &Form) -> Result<AnyView> {
    let user = ctx.require(Action::ViewMembers)?;
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let can_manage = super::authz::role_allows(user.role, Action::ManageMembers);
    let mut owned = members::owned_clients(state, org_id).await?;
    let rows = members::list_members(state, org_id)
        .await?
        .into_iter()
        .map(|m| pages::MemberRow {
            is_self: m.id == user.id,
            owns: owned.remove(&m.id).unwrap_or_default(),
            id: m.id,
            name: m.display_name,
            email: m.email,
            role: m.role,
            status: m.status,
            mfa: m.mfa,
        })
        .collect();
    Ok(pages::members(rows, can_manage, form, &ctx.csrf))
}

async fn members_page(State(state): State<AppState>, ctx: Ctx) -> Result<Html<String>> {
    let form = Form::new().with("role", "partner_developer");
    let body = members_view(&state, &ctx, &form).await?;
    Ok(ctx.render("Team", body))
}

#[derive(Deserialize)]
struct Invite {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
}

async fn invite_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    let admin = ctx.require(Action::ManageMembers)?;
    let (input, mut form): (Invite, Form) = parse(&body)?;
    match members::invite(
        &state,
        admin,
        &input.email,
        &input.display_name,
        &input.role,
        &ctx.client,
    )
    .await
    {
        Ok(_) => {
            redirect_with(
                &ctx,
                "/org/members",
                &format!("Invitation sent to {}.", input.email.trim().to_lowercase()),
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            for (field, message) in &invalid.fields {
                form.add_error(field, message.clone());
            }
            let body = members_view(&state, &ctx, &form).await?;
            Ok((invalid.status, ctx.render("Error: Team", body)).into_response())
        }
        Err(err) => Err(err),
    }
}

#[derive(Deserialize)]
struct RoleChange {
    #[serde(default)]
    role: String,
}

async fn role_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageMembers)?;
    let (input, _): (RoleChange, Form) = parse(&body)?;
    members::change_role(&state, admin, &id, &input.role, &ctx.client).await?;
    redirect_with(
        &ctx,
        "/org/members",
        "Role changed. They will need to sign in again.",
    )
    .await
}

#[derive(Deserialize, Default)]
struct RemoveInput {
    /// Who takes over the member's apps; none leaves them ownerless.
    #[serde(default)]
    new_owner_id: String,
}

async fn remove_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(input): axum::Form<RemoveInput>,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageMembers)?;
    members::remove(&state, admin, &id, Some(&input.new_owner_id), &ctx.client).await?;
    redirect_with(&ctx, "/org/members", "Removed from the organisation.").await
}

// ---- bank users (admin) ----

async fn users_view(state: &AppState, ctx: &Ctx, form: &Form) -> Result<AnyView> {
    let admin = ctx.require(Action::ManageUsers)?;
    let rows = members::list_all_users(state)
        .await?
        .into_iter()
        .map(|m| pages::UserRow {
            id: m.id,
            name: m.display_name,
            email: m.email,
            role: m.role,
            organisation: m.org_name,
            status: m.status,
            mfa: m.mfa,
        })
        .collect();
    Ok(pages::users(rows, &admin.id, form, &ctx.csrf))
}

async fn users_page(State(state): State<AppState>, ctx: Ctx) -> Result<Html<String>> {
    let form = Form::new().with("role", "reviewer");
    let body = users_view(&state, &ctx, &form).await?;
    Ok(ctx.render("Users", body))
}

async fn create_staff_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageUsers)?;
    let (input, mut form): (Invite, Form) = parse(&body)?;
    match members::create_staff(
        &state,
        admin.actor(),
        &input.email,
        &input.display_name,
        &input.role,
        Some(&ctx.client),
    )
    .await
    {
        Ok(_) => {
            redirect_with(
                &ctx,
                "/admin/users",
                "Bank user created: they have been e-mailed a set-up link.",
            )
            .await
        }
        Err(Error::Invalid(invalid)) => {
            for (field, message) in &invalid.fields {
                form.add_error(field, message.clone());
            }
            let body = users_view(&state, &ctx, &form).await?;
            Ok((invalid.status, ctx.render("Error: Users", body)).into_response())
        }
        Err(err) => Err(err),
    }
}

async fn disable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageUsers)?;
    members::set_disabled(&state, admin, &id, true, &ctx.client).await?;
    redirect_with(
        &ctx,
        "/admin/users",
        "User disabled: all their sessions have ended.",
    )
    .await
}

async fn enable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageUsers)?;
    members::set_disabled(&state, admin, &id, false, &ctx.client).await?;
    redirect_with(&ctx, "/admin/users", "User enabled.").await
}
