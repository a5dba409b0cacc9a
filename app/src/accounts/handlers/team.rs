//! Invitations and staff set-up links, the organisation's members, and the bank's
//! own users (bank admins).

use super::*;

// invitations and staff set-up links

pub(super) async fn invitation_page(
    state: State<AppState>,
    ctx: Ctx,
    query: Query<TokenQuery>,
) -> Result<Html<String>> {
    accept_page(state, ctx, query, Purpose::Invitation).await
}
pub(super) async fn setup_page(
    state: State<AppState>,
    ctx: Ctx,
    query: Query<TokenQuery>,
) -> Result<Html<String>> {
    accept_page(state, ctx, query, Purpose::StaffSetup).await
}
pub(super) async fn invitation_submit(
    state: State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    accept_submit(state, ctx, body, Purpose::Invitation).await
}
pub(super) async fn setup_submit(
    state: State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    accept_submit(state, ctx, body, Purpose::StaffSetup).await
}

pub(super) fn accept_action(purpose: Purpose) -> (&'static str, &'static str) {
    match purpose {
        Purpose::StaffSetup => ("/setup", "Set up your bank account"),
        _ => ("/invitation", "Join your team on Gatehouse"),
    }
}

pub(super) async fn accept_page(
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
pub(super) struct Accept {
    #[serde(default)]
    token: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn accept_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
    purpose: Purpose,
) -> Result<Response> {
    let (input, form): (Accept, Form) = parse(&body)?;
    let (action, title) = accept_action(purpose);
    let invited = members::invitation_for(&state, &input.token, purpose)
        .await
        .ok()
        .map(|(email, _)| email);
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
            if let Some(email) = invited {
                super::sign_in::remember_for_sign_in(&ctx, &email).await?;
            }
            crate::platform::forms::redirect(
                &ctx,
                "/signin",
                "Your account is ready: sign in with the password you chose.",
            )
            .await
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

// the organisation's members

pub(super) async fn members_view(state: &AppState, ctx: &Ctx, form: &Form) -> Result<AnyView> {
    let user = ctx.require(Action::ViewMembers)?;
    let org_id = user.org_id.as_deref().ok_or(Error::NotFound)?;
    let can_manage = crate::platform::authz::role_allows(user.role, Action::ManageMembers);
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

pub(super) async fn members_page(State(state): State<AppState>, ctx: Ctx) -> Result<Html<String>> {
    let form = Form::new().with("role", "partner_developer");
    let body = members_view(&state, &ctx, &form).await?;
    Ok(ctx.render("Team", body))
}

#[derive(Deserialize)]
pub(super) struct Invite {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
}

pub(super) async fn invite_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
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
            redirect(
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
pub(super) struct RoleChange {
    #[serde(default)]
    role: String,
}

pub(super) async fn role_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageMembers)?;
    let (input, _): (RoleChange, Form) = parse(&body)?;
    members::change_role(&state, admin, &id, &input.role, &ctx.client).await?;
    redirect(
        &ctx,
        "/org/members",
        "Role changed. They will need to sign in again.",
    )
    .await
}

#[derive(Deserialize, Default)]
pub(super) struct RemoveInput {
    /// Who takes over the member's apps; none leaves them ownerless.
    #[serde(default)]
    new_owner_id: String,
}

pub(super) async fn remove_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    axum::Form(input): axum::Form<RemoveInput>,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageMembers)?;
    members::remove(&state, admin, &id, Some(&input.new_owner_id), &ctx.client).await?;
    redirect(&ctx, "/org/members", "Removed from the organisation.").await
}

// bank users (admin)

pub(super) async fn users_view(state: &AppState, ctx: &Ctx, form: &Form) -> Result<AnyView> {
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

pub(super) async fn users_page(State(state): State<AppState>, ctx: Ctx) -> Result<Html<String>> {
    let form = Form::new().with("role", "reviewer");
    let body = users_view(&state, &ctx, &form).await?;
    Ok(ctx.render("Users", body))
}

pub(super) async fn create_staff_submit(
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
            redirect(
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

pub(super) async fn disable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageUsers)?;
    members::set_disabled(&state, admin, &id, true, &ctx.client).await?;
    redirect(
        &ctx,
        "/admin/users",
        "User disabled: all their sessions have ended.",
    )
    .await
}

pub(super) async fn enable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageUsers)?;
    members::set_disabled(&state, admin, &id, false, &ctx.client).await?;
    redirect(&ctx, "/admin/users", "User enabled.").await
}
