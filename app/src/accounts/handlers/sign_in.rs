//! Sign-up with e-mail verification, and sign-in (password, then the second
//! factor when the account has one) and sign-out.

use super::*;

// sign-up and e-mail verification

pub(super) async fn signup_page(ctx: Ctx) -> Html<String> {
    ctx.render("Create an account", pages::signup(&Form::new(), &ctx.csrf))
}

pub(super) async fn signup_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
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

pub(super) async fn signup_sent(ctx: Ctx) -> Html<String> {
    let mailbox = ctx.state.settings.dev_mailbox();
    ctx.render("Check your e-mail", pages::signup_sent(mailbox))
}

pub(super) async fn verify_email(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<TokenQuery>,
) -> Result<Response> {
    let email = service::verify_email(&state, &query.token, &ctx.client).await?;
    let to = if ctx.user.is_some() {
        "/dashboard"
    } else {
        remember_for_sign_in(&ctx, &email).await?;
        "/signin"
    };
    redirect(&ctx, to, "Your e-mail address is confirmed.").await
}

pub(super) async fn verify_pending(ctx: Ctx) -> Result<Response> {
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

pub(super) async fn verify_resend(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    service::resend_verification(&state, user).await?;
    redirect(
        &ctx,
        "/verify-email/pending",
        "We sent a new link. The previous one no longer works.",
    )
    .await
}

// sign-in and sign-out

#[derive(Deserialize, Default)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Session key of the address a just-confirmed or just-created account signs in
/// with: the sign-in page fills it in once (never carried in the URL).
const SIGN_IN_AS: &str = "sign_in_as";

pub(super) async fn remember_for_sign_in(ctx: &Ctx, email: &str) -> Result<()> {
    ctx.session
        .insert(SIGN_IN_AS, email.to_string())
        .await
        .map_err(Error::internal)
}

pub(super) async fn signin_page(ctx: Ctx, Query(query): Query<NextQuery>) -> Result<Response> {
    if ctx.user.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let email = ctx
        .session
        .remove::<String>(SIGN_IN_AS)
        .await
        .map_err(Error::internal)?
        .unwrap_or_default();
    Ok(ctx
        .render(
            "Sign in",
            pages::signin(
                &Form::new().with("email", email),
                &ctx.csrf,
                &safe_next(&query.next),
                &crate::sso::provider::sign_in_options(&ctx.state),
                crate::sso::partner_members::any_approved(&ctx.state).await?,
            ),
        )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct SignIn {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn signin_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let (input, form): (SignIn, Form) = parse(&body)?;
    let next = safe_next(&input.next);
    let partner_sso = crate::sso::partner_members::any_approved(&state).await?;
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
            |form, csrf| {
                pages::signin(
                    form,
                    csrf,
                    &next,
                    &crate::sso::provider::sign_in_options(&ctx.state),
                    partner_sso,
                )
            },
        )),
        Err(err) => Err(err),
    }
}

/// The user waiting for their second factor (for five minutes after the password).
pub(super) async fn pending_second_factor(ctx: &Ctx) -> Result<(String, String)> {
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

pub(super) async fn signin_code_page(ctx: Ctx) -> Result<Html<String>> {
    pending_second_factor(&ctx).await?;
    Ok(ctx.render(
        "Enter your code",
        pages::signin_code(&Form::new(), &ctx.csrf),
    ))
}

pub(super) async fn signin_code_submit(
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

pub(super) async fn signout(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    if let Some(user) = &ctx.user {
        service::signed_out(&state, user, &ctx.client).await?;
    }
    // Deletes the session server-side, not only the cookie.
    ctx.session.flush().await.map_err(Error::internal)?;
    Ok(Redirect::to("/").into_response())
}
