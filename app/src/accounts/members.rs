//! An organisation's members (invite, change role, remove) and bank users
//! (create staff, disable, enable). Partner queries always carry the caller's
//! organisation id, so another organisation's user ids find nothing (404).

use serde_json::json;

use super::service::insert_user;
use super::tokens::{self, Purpose};
use super::validate;
use crate::audit::{self, Actor, Event};
use crate::mail;
use crate::platform::authz::Role;
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::crypto;
use crate::platform::db::Tx;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

#[derive(Clone, Debug)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub status: String,
    pub mfa: bool,
    pub org_name: Option<String>,
    pub created_at: i64,
}

type MemberRow = (
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    i64,
);

fn member(row: MemberRow) -> Option<Member> {
    Some(Member {
        id: row.0,
        email: row.1,
        display_name: row.2,
        role: Role::parse(&row.3)?,
        status: row.4,
        mfa: row.5.is_some(),
        org_name: row.6,
        created_at: row.7,
    })
}

const MEMBER_COLUMNS: &str =
    "u.id, u.email, u.display_name, u.role, u.status, u.totp_enabled_at, o.legal_name, u.created_at";

pub async fn list_members(state: &AppState, org_id: &str) -> Result<Vec<Member>> {
    let rows: Vec<MemberRow> = sqlx::query_as(&format!(
        "SELECT {MEMBER_COLUMNS} FROM users u LEFT JOIN organisations o ON o.id = u.org_id \
         WHERE u.org_id = $1 AND u.removed_at IS NULL ORDER BY u.created_at"
    ))
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut members: Vec<Member> = rows.into_iter().filter_map(member).collect();
    members.extend(super::invitation_notices::list(state, org_id).await?);
    members.sort_by_key(|m| m.created_at);
    Ok(members)
}

pub async fn list_all_users(state: &AppState) -> Result<Vec<Member>> {
    let rows: Vec<MemberRow> = sqlx::query_as(&format!(
        "SELECT {MEMBER_COLUMNS} FROM users u LEFT JOIN organisations o ON o.id = u.org_id \
         ORDER BY u.org_id IS NOT NULL, o.legal_name, u.created_at"
    ))
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().filter_map(member).collect())
}

/// Invites a colleague into the caller's organisation and e-mails them a link.
pub async fn invite(
    state: &AppState,
    admin: &AuthUser,
    email: &str,
    name: &str,
    role: &str,
    client: &ClientInfo,
) -> Result<String> {
    let org_id = admin.org_id.clone().ok_or(Error::NotFound)?;
    let mut invalid = Invalid::new();
    let email = invalid.check("email", validate::email(email));
    let name = invalid.check(
        "display_name",
        validate::text(name, 100, "Enter your colleague's name"),
    );
    let role = invalid.check(
        "role",
        Role::parse(role)
            .filter(|r| Role::PARTNER.contains(r))
            .ok_or("Choose a role"),
    );
    let (Some(email), Some(name), Some(role)) = (email, name, role) else {
        return Err(Error::Invalid(invalid));
    };
    let mut tx = state.db.begin().await?;
    // An address with an account in another organisation (or the bank's): answered
    // like any invitation, so the team page never tells it exists elsewhere.
    let existing: Option<(String, Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT id, org_id, removed_at FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
    let rejoining = matches!(existing, Some((_, _, Some(_))));
    let user_id = match existing {
        Some((_, their_org, _)) if their_org.as_deref() != Some(org_id.as_str()) => {
            let id = super::invitation_notices::record(
                &mut tx,
                admin,
                &org_id,
                &email,
                &name,
                role,
                client,
                state.clock.now(),
            )
            .await?;
            tx.commit().await?;
            state.mail_wakeup.notify_one();
            return Ok(id);
        }
        // A member who was removed comes back as a new invitee: the same identity
        // (what it owned and did stays linked), with no password, second factor or
        // session of before.
        Some((id, _, Some(_))) => {
            sqlx::query(
                "UPDATE users SET status = 'invited', removed_at = NULL, display_name = $1, role = $2,                  password_hash = NULL, totp_secret = NULL, totp_enabled_at = NULL,                  session_epoch = session_epoch + 1, updated_at = $3 WHERE id = $4 AND org_id = $5",
            )
            .bind(&name)
            .bind(role.as_str())
            .bind(state.clock.now())
            .bind(&id)
            .bind(&org_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            id
        }
        _ => {
            let user_id = ids::new_id(ids::USER);
            insert_user(
                &mut tx,
                &user_id,
                Some(&org_id),
                &email,
                &name,
                role,
                "invited",
                None,
            )
            .await?;
            user_id
        }
    };
    let token = tokens::issue(
        &mut tx,
        &state.keys,
        &user_id,
        Purpose::Invitation,
        state.clock.now(),
    )
    .await?;
    let link = state.settings.link(&format!("/invitation?token={token}"));
    let org = admin.org_name.clone().unwrap_or_default();
    let body = format!(
        "Hello {name},\n\n{} invited you to join {org} on Gatehouse as {}.\n\nTo accept, open this link within 7 days and choose a password:\n\n{link}\n",
        admin.display_name,
        role.label().to_lowercase()
    );
    mail::enqueue(
        &mut tx,
        &email,
        &format!("You are invited to {org} on Gatehouse"),
        &body,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "member.invited")
            .resource("user", &user_id)
            .org(Some(&org_id))
            .client(client)
            .details(json!({ "email": email, "role": role.as_str(), "rejoining": rejoining })),
    )
    .await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(user_id)
}

/// Creates a bank user and e-mails a one-time set-up link; returns the link too
/// (the CLI prints it).
pub async fn create_staff(
    state: &AppState,
    actor: Actor,
    email: &str,
    name: &str,
    role: &str,
    client: Option<&ClientInfo>,
) -> Result<String> {
    let mut invalid = Invalid::new();
    let email = invalid.check("email", validate::email(email));
    let name = invalid.check(
        "display_name",
        validate::text(name, 100, "Enter the person's name"),
    );
    let role = invalid.check(
        "role",
        Role::parse(role)
            .filter(|r| r.is_staff())
            .ok_or("Choose reviewer, approver or admin"),
    );
    let (Some(email), Some(name), Some(role)) = (email, name, role) else {
        return Err(Error::Invalid(invalid));
    };
    let user_id = ids::new_id(ids::USER);
    let mut tx = state.db.begin().await?;
    insert_user(
        &mut tx, &user_id, None, &email, &name, role, "invited", None,
    )
    .await?;
    let link = staff_setup_link(state, &mut tx, &user_id, &email, &name).await?;
    let mut event = Event::new(actor, "staff.created")
        .resource("user", &user_id)
        .details(json!({ "email": email, "role": role.as_str() }));
    if let Some(client) = client {
        event = event.client(client);
    }
    audit::record(&mut tx, event).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(link)
}

pub(crate) async fn staff_setup_link(
    state: &AppState,
    tx: &mut Tx,
    user_id: &str,
    email: &str,
    name: &str,
) -> Result<String> {
    let token = tokens::issue(
        tx,
        &state.keys,
        user_id,
        Purpose::StaffSetup,
        state.clock.now(),
    )
    .await?;
    let link = state.settings.link(&format!("/setup?token={token}"));
    let body = format!(
        "Hello {name},\n\nA Gatehouse bank account was created for you. Open this link within 72 hours to choose a password; you will then set up two-step verification:\n\n{link}\n"
    );
    mail::enqueue(tx, email, "Set up your Gatehouse account", &body).await?;
    Ok(link)
}

/// Who a still-valid invitation or set-up link is for (to show the form).
pub async fn invitation_for(
    state: &AppState,
    token: &str,
    purpose: Purpose,
) -> Result<(String, String)> {
    let user_id = tokens::peek(&state.db, &state.keys, token, purpose, state.clock.now()).await?;
    let row: (String, String) = sqlx::query_as(
        "SELECT email, display_name FROM users WHERE id = $1 AND status = 'invited'",
    )
    .bind(&user_id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| Error::BadRequest("This invitation was withdrawn.".into()))?;
    Ok(row)
}

/// Accepts an invitation or a staff set-up link: name, password, verified e-mail.
pub async fn accept(
    state: &AppState,
    token: &str,
    purpose: Purpose,
    name: &str,
    password: &str,
    client: &ClientInfo,
) -> Result<()> {
    let (email, _) = invitation_for(state, token, purpose).await?;
    let mut invalid = Invalid::new();
    let name = invalid.check(
        "display_name",
        validate::text(name, 100, "Enter your full name"),
    );
    invalid.check(
        "password",
        validate::password(
            password,
            &[email.as_str(), name.as_deref().unwrap_or_default()],
        ),
    );
    let Some(name) = name else {
        return Err(Error::Invalid(invalid));
    };
    invalid.into_result()?;
    let hash = crypto::hash_password(password.to_string()).await?;
    let mut tx = state.db.begin().await?;
    let user_id = tokens::consume(&mut tx, &state.keys, token, purpose, state.clock.now()).await?;
    let now = state.clock.now();
    let org_id: Option<String> = sqlx::query_scalar(
        "UPDATE users SET display_name = $1, password_hash = $2, status = 'active', email_verified_at = $3, updated_at = $3 \
         WHERE id = $4 AND status = 'invited' RETURNING org_id",
    )
    .bind(&name)
    .bind(&hash)
    .bind(now)
    .bind(&user_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::BadRequest("This invitation was withdrawn.".into()))?;
    let action = if purpose == Purpose::StaffSetup {
        "staff.setup_completed"
    } else {
        "member.joined"
    };
    audit::record(
        &mut tx,
        Event::new(Actor::user(&user_id, &email), action)
            .resource("user", &user_id)
            .org(org_id.as_deref())
            .client(client),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Loads a member of the admin's own organisation, or 404.
async fn own_member(tx: &mut Tx, admin: &AuthUser, member_id: &str) -> Result<(String, Role)> {
    let org_id = admin.org_id.as_deref().ok_or(Error::NotFound)?;
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT email, role FROM users WHERE id = $1 AND org_id = $2 AND removed_at IS NULL",
    )
    .bind(member_id)
    .bind(org_id)
    .fetch_optional(&mut **tx)
    .await?;
    let (email, role) = row.ok_or(Error::NotFound)?;
    Ok((email, Role::parse(&role).ok_or(Error::NotFound)?))
}

async fn other_active_admins(tx: &mut Tx, org_id: &str, except: &str) -> Result<i64> {
    // The organisation's row first: two admins removing (or demoting) each other at
    // once take turns, and the second sees the first's change, so an organisation
    // never ends without a partner admin (review finding L7).
    sqlx::query("UPDATE organisations SET status = status WHERE id = $1")
        .bind(org_id)
        .execute(&mut **tx)
        .await?;
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE org_id = $1 AND role = 'partner_admin' AND status = 'active' AND id <> $2",
    )
    .bind(org_id)
    .bind(except)
    .fetch_one(&mut **tx)
    .await?)
}

/// Changes a member's role. Their sessions end, so the new role applies at once.
pub async fn change_role(
    state: &AppState,
    admin: &AuthUser,
    member_id: &str,
    role: &str,
    client: &ClientInfo,
) -> Result<()> {
    let role = Role::parse(role)
        .filter(|r| Role::PARTNER.contains(r))
        .ok_or_else(|| {
            Error::Invalid(Invalid::field(
                "role",
                "Choose partner admin or partner developer",
            ))
        })?;
    if super::invitation_notices::is_notice(member_id) {
        return super::invitation_notices::change_role(state, admin, member_id, role).await;
    }
    let org_id = admin.org_id.clone().ok_or(Error::NotFound)?;
    let mut tx = state.db.begin().await?;
    let (email, old) = own_member(&mut tx, admin, member_id).await?;
    if old == role {
        return Ok(());
    }
    if old == Role::PartnerAdmin && other_active_admins(&mut tx, &org_id, member_id).await? == 0 {
        return Err(Error::Conflict(
            "An organisation needs at least one partner admin: make someone else admin first."
                .into(),
        ));
    }
    sqlx::query("UPDATE users SET role = $1, session_epoch = session_epoch + 1, updated_at = $2 WHERE id = $3 AND org_id = $4")
        .bind(role.as_str())
        .bind(state.clock.now())
        .bind(member_id)
        .bind(&org_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "member.role_changed")
            .resource("user", member_id)
            .org(Some(&org_id))
            .client(client)
            .details(json!({ "email": email, "from": old.as_str(), "to": role.as_str() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub use super::LEAVE_OWNERLESS;

/// The active clients each member owns, by member id (names, sorted).
pub async fn owned_clients(
    state: &AppState,
    org_id: &str,
) -> Result<std::collections::HashMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT owner_id, name FROM apps WHERE org_id = $1 AND status = 'active' ORDER BY name",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    let mut owned: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (owner, name) in rows {
        owned.entry(owner).or_default().push(name);
    }
    Ok(owned)
}

/// Removes a member (or withdraws an invitation) from the organisation.
pub async fn remove(
    state: &AppState,
    admin: &AuthUser,
    member_id: &str,
    new_owner: Option<&str>,
    client: &ClientInfo,
) -> Result<()> {
    if super::invitation_notices::is_notice(member_id) {
        return super::invitation_notices::withdraw(state, admin, member_id, client).await;
    }
    let org_id = admin.org_id.clone().ok_or(Error::NotFound)?;
    let mut tx = state.db.begin().await?;
    let (email, role) = own_member(&mut tx, admin, member_id).await?;
    if member_id == admin.id {
        return Err(Error::Conflict(
            "You cannot remove yourself: ask another partner admin.".into(),
        ));
    }
    if role == Role::PartnerAdmin && other_active_admins(&mut tx, &org_id, member_id).await? == 0 {
        return Err(Error::Conflict(
            "An organisation needs at least one partner admin.".into(),
        ));
    }
    // A member who owns active clients leaves only once someone owns them, or the
    // admin says plainly that nobody will (the governance sweep then treats them as
    // ownerless: a request for an owner, then suspension after the grace period).
    let owned: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM apps WHERE owner_id = $1 AND org_id = $2 AND status = 'active' ORDER BY name",
    )
    .bind(member_id)
    .bind(&org_id)
    .fetch_all(&mut *tx)
    .await?;
    let new_owner = match new_owner.map(str::trim).filter(|id| !id.is_empty()) {
        None if !owned.is_empty() => {
            return Err(Error::Invalid(Invalid::field(
                "new_owner_id",
                format!(
                    "{email} owns {} active client(s) ({}): choose who owns them now, or choose to leave them without an owner.",
                    owned.len(),
                    owned.join(", ")
                ),
            )));
        }
        Some(LEAVE_OWNERLESS) => None,
        other => other,
    };
    if let Some(new_owner) = new_owner {
        let ok: Option<String> = sqlx::query_scalar(
            "SELECT id FROM users WHERE id = $1 AND org_id = $2 AND status = 'active' AND removed_at IS NULL AND id <> $3",
        )
        .bind(new_owner)
        .bind(&org_id)
        .bind(member_id)
        .fetch_optional(&mut *tx)
        .await?;
        if ok.is_none() {
            return Err(Error::BadRequest(
                "The new owner must be another active member of your organisation.".into(),
            ));
        }
    }
    // A withdrawn invitation was never used: nothing refers to it, and the address may
    // be invited again.
    let status: String = sqlx::query_scalar("SELECT status FROM users WHERE id = $1")
        .bind(member_id)
        .fetch_one(&mut *tx)
        .await?;
    let owns: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apps WHERE owner_id = $1")
        .bind(member_id)
        .fetch_one(&mut *tx)
        .await?;
    if status == "invited" && owns == 0 {
        sqlx::query("DELETE FROM users WHERE id = $1 AND org_id = $2 AND status = 'invited'")
            .bind(member_id)
            .bind(&org_id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            Event::new(admin.actor(), "member.invitation_withdrawn")
                .resource("user", member_id)
                .org(Some(&org_id))
                .client(client)
                .details(json!({ "email": email, "role": role.as_str() })),
        )
        .await?;
        tx.commit().await?;
        return Ok(());
    }
    // The row stays (apps, requests and messages refer to it): the account is
    // disabled, every session ends, and it leaves the members list.
    let now = state.clock.now();
    let removed = sqlx::query(
        "UPDATE users SET status = 'disabled', removed_at = $1, session_epoch = session_epoch + 1, updated_at = $1 \
         WHERE id = $2 AND org_id = $3 AND removed_at IS NULL",
    )
    .bind(now)
    .bind(member_id)
    .bind(&org_id)
    .execute(&mut *tx)
    .await?;
    if removed.rows_affected() != 1 {
        return Err(Error::NotFound);
    }
    let handed_over = match new_owner {
        Some(new_owner) => {
            sqlx::query("UPDATE apps SET owner_id = $1 WHERE owner_id = $2 AND org_id = $3")
                .bind(new_owner)
                .bind(member_id)
                .bind(&org_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }
        None => 0,
    };
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "member.removed")
            .resource("user", member_id)
            .org(Some(&org_id))
            .client(client)
            .details(json!({
                "email": email, "role": role.as_str(),
                "apps_handed_to": new_owner, "apps_handed_over": handed_over,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disables or re-enables any user. Disabling ends every session of theirs at once.
pub async fn set_disabled(
    state: &AppState,
    admin: &AuthUser,
    user_id: &str,
    disabled: bool,
    client: &ClientInfo,
) -> Result<()> {
    if user_id == admin.id {
        return Err(Error::Conflict(
            "You cannot disable your own account.".into(),
        ));
    }
    let (from, to, action) = if disabled {
        ("active", "disabled", "user.disabled")
    } else {
        ("disabled", "active", "user.enabled")
    };
    let mut tx = state.db.begin().await?;
    let offboarded: Option<String> = sqlx::query_scalar(
        "SELECT o.id FROM users u JOIN organisations o ON o.id = u.org_id WHERE u.id = $1 \
         AND (o.status = 'offboarded' OR o.id IN (SELECT org_id FROM offboardings WHERE status = 'running'))",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    if !disabled && offboarded.is_some() {
        return Err(Error::Conflict(
            "This user's organisation was offboarded: its accounts stay disabled.".into(),
        ));
    }
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "UPDATE users SET status = $1, session_epoch = session_epoch + 1, updated_at = $2 WHERE id = $3 AND status = $4 \
         RETURNING email, org_id",
    )
    .bind(to)
    .bind(state.clock.now())
    .bind(user_id)
    .bind(from)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((email, org_id)) = row else {
        let exists: Option<String> = sqlx::query_scalar("SELECT status FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        return Err(match exists {
            None => Error::NotFound,
            Some(status) => Error::Conflict(format!("This user is {status}; nothing was changed.")),
        });
    };
    audit::record(
        &mut tx,
        Event::new(admin.actor(), action)
            .resource("user", user_id)
            .org(org_id.as_deref())
            .client(client)
            .details(json!({ "email": email })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
