//! The account's security page: enrolling TOTP, recovery codes, regenerating
//! them and turning the second factor off.

use super::*;

pub(super) async fn account_page(State(state): State<AppState>, ctx: Ctx) -> Result<Html<String>> {
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
pub(super) async fn enrolment_secret(ctx: &Ctx) -> Result<Vec<u8>> {
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

pub(super) fn enrol_view(secret: &[u8], email: &str) -> impl Fn(&Form, &str) -> AnyView {
    let base32 = totp::to_base32(secret);
    let uri = totp::otpauth_uri(secret, email);
    move |form, csrf| pages::totp_enrol(form, csrf, &base32, &uri)
}

pub(super) async fn totp_page(ctx: Ctx) -> Result<Response> {
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

pub(super) async fn totp_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
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
pub(super) async fn recovery_codes_shown(ctx: Ctx) -> Result<Response> {
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

pub(super) fn regenerate_view(form: &Form, csrf: &str) -> AnyView {
    pages::code_confirm(
        form,
        csrf,
        "/account/totp/recovery-codes",
        "New codes replace all your old ones.",
        "Make new codes",
    )
}

pub(super) async fn regenerate_page(ctx: Ctx) -> Result<Html<String>> {
    ctx.require(Action::ManageOwnAccount)?;
    Ok(ctx.render(
        "Make new recovery codes",
        regenerate_view(&Form::new(), &ctx.csrf),
    ))
}

pub(super) async fn regenerate_submit(
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

pub(super) fn disable_view(form: &Form, csrf: &str) -> AnyView {
    pages::code_confirm(
        form,
        csrf,
        "/account/totp/disable",
        "Your account will be protected by your password alone.",
        "Turn off",
    )
}

pub(super) async fn disable_page(ctx: Ctx) -> Result<Html<String>> {
    ctx.require(Action::ManageOwnAccount)?;
    Ok(ctx.render(
        "Turn off two-step verification",
        disable_view(&Form::new(), &ctx.csrf),
    ))
}

pub(super) async fn disable_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let user = ctx.require(Action::ManageOwnAccount)?;
    let (input, form): (Code, Form) = parse(&body)?;
    match service::disable_totp(&state, user, &input.code, &ctx.client).await {
        Ok(()) => redirect(&ctx, "/account", "Two-step verification is off.").await,
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
