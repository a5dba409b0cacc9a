//! Production credentials the partner runs: rotate one (new secret, key, JWKS URL or
//! certificate, the old one valid for an overlap the partner chooses up to the
//! policy's maximum), revoke one, retire a whole client; and, for any client, name
//! a new owner. Rotation keeps the approved scopes, the expiry bound and the
//! sender-constraint, and the same authentication class, so it needs no review;
//! anything wider is a new production request. Each step is audited and e-mailed
//! to the partner admins.

use serde_json::json;

use crate::audit::{self, Event};
use crate::clients::model::{App, Credential, APP_COLUMNS};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;
use crate::platform::time;
use crate::sandbox::service::{credential_material, insert_credential, Issued, KeyMaterial};

fn org_of(user: &AuthUser) -> Result<&str> {
    user.org_id.as_deref().ok_or(Error::NotFound)
}

/// A client, sandbox or production: of the organisation `org` when given (another
/// organisation's is not found), or any client for bank staff (`None`).
pub async fn client(state: &AppState, org: Option<&str>, app_id: &str) -> Result<App> {
    let row = sqlx::query(&format!(
        "SELECT {APP_COLUMNS} FROM apps WHERE id = $1 AND ($2 = '' OR org_id = $2)"
    ))
    .bind(app_id)
    .bind(org.unwrap_or_default())
    .fetch_optional(&state.db.pool)
    .await?;
    row.as_ref()
        .map(App::from_row)
        .transpose()?
        .ok_or(Error::NotFound)
}

/// One of the organisation's production clients.
pub async fn production_app(state: &AppState, org_id: &str, app_id: &str) -> Result<App> {
    let app = client(state, Some(org_id), app_id).await?;
    if app.environment != "production" {
        return Err(Error::NotFound);
    }
    Ok(app)
}

/// The tier a production client was approved under (its request's; for a client
/// made without one, the organisation's highest approved tier).
pub async fn tier_of(state: &AppState, app_id: &str) -> Result<Option<i64>> {
    let tier: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT COALESCE(r.tier, (SELECT MAX(t.tier) FROM tier_approvals t WHERE t.org_id = a.org_id)) \
         FROM apps a LEFT JOIN access_requests r ON r.id = a.access_request_id WHERE a.id = $1 AND a.environment = 'production'",
    )
    .bind(app_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(tier.flatten())
}

/// The longest overlap the policy in force allows this client, in hours.
pub async fn max_overlap_hours(state: &AppState, app: &App) -> Result<i64> {
    let tier = tier_of(state, &app.id).await?;
    let policy = super::policy::in_force(state).await?.policy;
    Ok(policy.for_client(&app.environment, tier).max_overlap_hours)
}

async fn usable(state: &AppState, app: &App, credential_id: &str) -> Result<Credential> {
    let now = state.clock.now();
    let credential = crate::sandbox::service::credentials(state, app)
        .await?
        .into_iter()
        .find(|c| c.id == credential_id)
        .ok_or(Error::NotFound)?;
    match credential.status(now) {
        "active" => Ok(credential),
        "revoked" => Err(Error::Conflict(
            "This credential is revoked: it cannot be rotated or revoked again.".into(),
        )),
        _ => Err(Error::Conflict(
            "This credential has expired: ask for production access again.".into(),
        )),
    }
}

/// Rotates a production credential. The successor has the same kind of
/// authentication and the same expiry; the old one stays valid for `overlap_hours`.
pub async fn rotate(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    app_id: &str,
    credential_id: &str,
    overlap_hours: &str,
    keys: KeyMaterial,
) -> Result<Issued> {
    let org_id = org_of(user)?;
    let app = production_app(state, org_id, app_id).await?;
    if !app.is_active() {
        return Err(Error::Conflict(
            "This client is retired: its credentials cannot be rotated.".into(),
        ));
    }
    let old = usable(state, &app, credential_id).await?;
    let max = max_overlap_hours(state, &app).await?;
    let mut invalid = Invalid::new();
    let overlap = match overlap_hours.trim().parse::<i64>() {
        Ok(h) if (0..=max).contains(&h) => h,
        Ok(h) if h > max => {
            invalid.add(
                "overlap_hours",
                format!("The policy allows an overlap of at most {max} hours on this client."),
            );
            0
        }
        _ => {
            invalid.add(
                "overlap_hours",
                format!("Enter the overlap in whole hours, from 0 to {max}."),
            );
            0
        }
    };
    let material = credential_material(&app.auth_method, &keys, &mut invalid);
    invalid.into_result()?;
    let Some((kind, material)) = material else {
        return Err(Error::Internal("validated input without material".into()));
    };
    let now = state.clock.now();
    let until = now + overlap * 3_600;
    let mut tx = state.db.begin().await?;
    // Only the credential being rotated is shortened; a conditional update, so a
    // double submission cannot rotate a credential that was just revoked, nor one
    // already rotated (it has its successor: rotate that one).
    let shortened = sqlx::query(
        "UPDATE credentials SET expires_at = CASE WHEN expires_at > $1 THEN $1 ELSE expires_at END, \
         revoked_at = CASE WHEN $1 <= $2 THEN $2 ELSE revoked_at END, \
         revoked_reason = CASE WHEN $1 <= $2 THEN 'rotated' ELSE revoked_reason END, rotated_at = $2 \
         WHERE id = $3 AND app_id = $4 AND revoked_at IS NULL AND expires_at > $2 AND rotated_at IS NULL",
    )
    .bind(until)
    .bind(now)
    .bind(&old.id)
    .bind(&app.id)
    .execute(&mut *tx)
    .await?;
    if shortened.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This credential was rotated or changed meanwhile: it has a successor, rotate that one instead. Reload the page.".into(),
        ));
    }
    crate::sandbox::service::mirror_to_registered(&mut tx, &old.id).await?;
    let (new_id, secret) = insert_credential(
        state,
        &mut tx,
        &app.id,
        kind,
        material,
        &user.id,
        (now, old.expires_at),
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "production_credential.rotated")
            .client(client)
            .org(Some(org_id))
            .resource("credential", &new_id)
            .details(json!({
                "app_id": app.id, "client_id": app.client_id, "previous_credential": old.id,
                "overlap_hours": overlap, "previous_valid_until": until.min(old.expires_at),
                "expires_at": old.expires_at, "kind": kind,
            })),
    )
    .await?;
    crate::onboarding::service::notify_partner_admins(
        &mut tx,
        org_id,
        "A production credential was rotated",
        &format!(
            "{} rotated credential {} of {} ({}).\n\nThe old credential stays valid until {}; the new one ({new_id}) expires on {}.\n",
            user.display_name,
            old.id,
            app.name,
            app.client_id,
            time::display(until.min(old.expires_at)),
            time::display(old.expires_at),
        ),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(Issued {
        app_id: app.id,
        client_id: app.client_id,
        credential_id: new_id,
        secret,
    })
}

/// Revokes one production credential at once.
pub async fn revoke(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    app_id: &str,
    credential_id: &str,
) -> Result<()> {
    let org_id = org_of(user)?;
    let app = production_app(state, org_id, app_id).await?;
    let credential = usable(state, &app, credential_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let revoked = sqlx::query(
        "UPDATE credentials SET revoked_at = $1, revoked_reason = 'partner' WHERE id = $2 AND app_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(&credential.id)
    .bind(&app.id)
    .execute(&mut *tx)
    .await?;
    if revoked.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This credential was already revoked.".into(),
        ));
    }
    crate::sandbox::service::mirror_to_registered(&mut tx, &credential.id).await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "production_credential.revoked")
            .client(client)
            .org(Some(org_id))
            .resource("credential", &credential.id)
            .details(json!({ "app_id": app.id, "client_id": app.client_id, "reason": "partner" })),
    )
    .await?;
    crate::onboarding::service::notify_partner_admins(
        &mut tx,
        org_id,
        "A production credential was revoked",
        &format!(
            "{} revoked credential {} of {} ({}). Tokens it obtained are inactive now.\n",
            user.display_name, credential.id, app.name, app.client_id
        ),
    )
    .await?;
    crate::webhooks::emit(
        &mut tx,
        org_id,
        "credential.revoked",
        json!({ "app_id": app.id, "client_id": app.client_id, "credential_id": credential.id, "reason": "partner" }),
        now,
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}

/// Retires a production client: it and every credential and refresh token it holds
/// are revoked at once.
pub async fn retire(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    app_id: &str,
    reason: &str,
) -> Result<()> {
    let org_id = org_of(user)?;
    let app = production_app(state, org_id, app_id).await?;
    if reason.trim().is_empty() || reason.chars().count() > 500 {
        return Err(Error::Invalid(Invalid::field(
            "reason",
            "Say why the client is retired (at most 500 characters).",
        )));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if !crate::sandbox::service::revoke_app_rows(&mut tx, &app.id, now, "retired").await? {
        return Err(Error::Conflict("This client was already retired.".into()));
    }
    audit::record(
        &mut tx,
        Event::new(user.actor(), "production_client.retired")
            .client(client)
            .org(Some(org_id))
            .resource("app", &app.id)
            .details(json!({ "client_id": app.client_id, "reason": reason.trim() })),
    )
    .await?;
    crate::onboarding::service::notify_partner_admins(
        &mut tx,
        org_id,
        "A production client was retired",
        &format!(
            "{} retired {} ({}).\n\nReason: {}\n\nIt and all its credentials are revoked.\n",
            user.display_name,
            app.name,
            app.client_id,
            reason.trim()
        ),
    )
    .await?;
    crate::webhooks::emit(
        &mut tx,
        org_id,
        "credential.revoked",
        json!({ "app_id": app.id, "client_id": app.client_id, "credential_id": null, "reason": "retired" }),
        now,
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}

/// Names a new owner (an active member of the organisation). An ownerless flag and
/// the suspension that followed it are lifted at once.
pub async fn set_owner(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    app_id: &str,
    owner_id: &str,
) -> Result<()> {
    let org_id = org_of(user)?;
    let app = self::client(state, Some(org_id), app_id).await?;
    let member: Option<String> = sqlx::query_scalar(
        "SELECT id FROM users WHERE id = $1 AND org_id = $2 AND status = 'active' AND removed_at IS NULL",
    )
    .bind(owner_id)
    .bind(org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    if member.is_none() {
        return Err(Error::Invalid(Invalid::field(
            "owner_id",
            "Choose an active member of your organisation.",
        )));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query("UPDATE apps SET owner_id = $1, owner_lost_at = NULL, updated_at = $2 WHERE id = $3 AND org_id = $4")
        .bind(owner_id)
        .bind(now)
        .bind(&app.id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    let lifted = super::suspension::lift_for_rule(&mut tx, &app.id, "ownerless", now).await?;
    super::sweep::resolve_notices(
        &mut tx,
        &app.id,
        &["owner_missing", "suspend_ownerless"],
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "governance.owner_named")
            .client(client)
            .org(Some(org_id))
            .resource("app", &app.id)
            .details(json!({ "client_id": app.client_id, "previous_owner": app.owner_id, "owner": owner_id, "suspension_lifted": lifted > 0 })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}
