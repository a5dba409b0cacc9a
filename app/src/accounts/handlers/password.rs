//! Password reset by e-mail link, and changing the password when signed in.

use super::*;

pub(super) async fn forgot_page(ctx: Ctx) -> Html<String> {
    ctx.render(
        "Reset your password",
        pages::forgot(&Form::new(), &ctx.csrf),
    )
}

#[derive(Deserialize)]
pub(super) struct Email {
    #[serde(default)]
    email: String,
}

pub(super) async fn forgot_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let (input, form): (Email, Form) = parse(&body)?;
    match crate::accounts::reset::request_password_reset(&state, &input.email, &ctx.client).await {
        Ok(()) => redirect(&ctx, "/signin", "If that address has an account, we have sent it a link to reset the password. The link works for an hour.").await,
        Err(Error::Invalid(invalid)) => Ok(invalid_page(&ctx, "Reset your password", form, invalid, pages::forgot)),
        Err(err) => Err(err),
    }
}

pub(super) async fn reset_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<TokenQuery>,
) -> Result<Html<String>> {
    crate::accounts::tokens::peek(
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
pub(super) struct Reset {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn reset_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let (input, form): (Reset, Form) = parse(&body)?;
    match crate::accounts::reset::reset_password(&state, &input.token, &input.password, &ctx.client)
        .await
    {
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

pub(super) async fn password_page(ctx: Ctx) -> Result<Html<String>> {
    ctx.require(Action::ManageOwnAccount)?;
    Ok(ctx.render(
        "Change your password",
        pages::change_password(&Form::new(), &ctx.csrf),
    ))
}

#[derive(Deserialize)]
pub(super) struct ChangePassword {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub(super) async fn password_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
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
            redirect(
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
