//! Invitations to an address that already has an account elsewhere (another
//! organisation, or the bank's staff). An address belongs to one account, so no
//! account is created; but the inviting admin must not learn that the address exists
//! elsewhere (issue 19 item 6). So the invitation is answered as any other, listed on
//! the team page as invited (its role can be changed, it can be withdrawn), and the
//! address's owner gets an e-mail saying who invited them and why they cannot join
//! with this address.

use serde_json::json;

use super::members::Member;
use crate::audit::{self, Event};
use crate::mail;
use crate::platform::authz::Role;
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

/// Ids of notices start with this; users' never do.
pub const PREFIX: &str = "inv_";

pub fn is_notice(id: &str) -> bool {
    id.starts_with(PREFIX)
}

/// Records the invitation and tells the address's owner, in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    tx: &mut Tx,
    admin: &AuthUser,
    org_id: &str,
    email: &str,
    name: &str,
    role: Role,
    client: &ClientInfo,
    now: i64,
) -> Result<String> {
    let id = format!("{PREFIX}{}", ids::new_id("n"));
    let inserted = sqlx::query(
        "INSERT INTO invitation_notices (id, org_id, email, display_name, role, invited_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id, email) DO NOTHING",
    )
    .bind(&id)
    .bind(org_id)
    .bind(email)
    .bind(name)
    .bind(role.as_str())
    .bind(&admin.id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 0 {
        // Invited twice: exactly the answer `insert_user` gives a pending invitee
        // invited again, so the two cases cannot be told apart.
        return Err(Error::Invalid(crate::platform::error::Invalid::conflict(
            "email",
            "An account with this e-mail address already exists",
        )));
    }
    let org = admin.org_name.clone().unwrap_or_default();
    let body = format!(
        "Hello,\n\n{} invited this address to join {org} on Gatehouse as {}.\n\n\
         This address already has a Gatehouse account, and an address belongs to one account, so the invitation cannot be accepted with it. \
         If you want to join {org}, ask {} to invite another of your addresses. Nothing about your account was changed or shared.\n",
        admin.display_name,
        role.label().to_lowercase(),
        admin.display_name,
    );
    mail::enqueue(
        tx,
        email,
        &format!("You are invited to {org} on Gatehouse"),
        &body,
    )
    .await?;
    audit::record(
        tx,
        Event::new(admin.actor(), "member.invited")
            .resource("invitation_notice", &id)
            .org(Some(org_id))
            .client(client)
            .details(json!({ "email": email, "role": role.as_str(), "existing_account": true })),
    )
    .await?;
    Ok(id)
}

/// The organisation's notices, as the team page lists invited members.
pub async fn list(state: &AppState, org_id: &str) -> Result<Vec<Member>> {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, email, display_name, role, created_at FROM invitation_notices WHERE org_id = $1 ORDER BY created_at",
    )
    .bind(org_id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, email, display_name, role, created_at)| {
            Some(Member {
                id,
                email,
                display_name,
                role: Role::parse(&role)?,
                status: "invited".into(),
                mfa: false,
                org_name: None,
                created_at,
            })
        })
        .collect())
}

/// Changes the role of a notice of the admin's organisation.
pub async fn change_role(state: &AppState, admin: &AuthUser, id: &str, role: Role) -> Result<()> {
    let org_id = admin.org_id.as_deref().ok_or(Error::NotFound)?;
    let changed =
        sqlx::query("UPDATE invitation_notices SET role = $1 WHERE id = $2 AND org_id = $3")
            .bind(role.as_str())
            .bind(id)
            .bind(org_id)
            .execute(&state.db.pool)
            .await?;
    if changed.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Withdraws a notice of the admin's organisation.
pub async fn withdraw(
    state: &AppState,
    admin: &AuthUser,
    id: &str,
    client: &ClientInfo,
) -> Result<()> {
    let org_id = admin.org_id.clone().ok_or(Error::NotFound)?;
    let mut tx = state.db.begin().await?;
    let email: Option<String> = sqlx::query_scalar(
        "DELETE FROM invitation_notices WHERE id = $1 AND org_id = $2 RETURNING email",
    )
    .bind(id)
    .bind(&org_id)
    .fetch_optional(&mut *tx)
    .await?;
    let email = email.ok_or(Error::NotFound)?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "member.invitation_withdrawn")
            .resource("invitation_notice", id)
            .org(Some(&org_id))
            .client(client)
            .details(json!({ "email": email })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
