//! What a verified sign-in does to Gatehouse's accounts: the role is recomputed from
//! the groups claim and replaces the old one; an account is made just in time only
//! for someone in a mapped group; every refusal is audited and writes nothing else.

use serde_json::{json, Value};

use super::config::IdpConfig;
use super::provider::{self, IdClaims, Refusal};
use crate::platform::audit::{self, Actor, Event};
use crate::platform::authz::Role;
use crate::platform::context::ClientInfo;
use crate::platform::error::Result;
use crate::platform::ids;
use crate::platform::state::AppState;

/// Whom a sign-in signed in, and what it proved.
#[derive(Debug)]
pub struct SignedIn {
    pub user_id: String,
    pub email: String,
    pub epoch: i64,
    pub role: Role,
    /// The provider proved multi-factor authentication (`acr`/`amr`).
    pub mfa: bool,
    pub totp_enrolled: bool,
    pub subject: String,
    pub auth_time: Option<i64>,
}

/// Records a refused sign-in (or logout token): who the provider said it was, why,
/// and nothing else.
pub async fn refused(
    state: &AppState,
    idp: &str,
    refusal: &Refusal,
    claims: Option<&Value>,
    client: &ClientInfo,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(Actor::anonymous(), "sso.signin_refused")
            .client(client)
            .outcome("failure")
            .details(json!({
                "idp": idp, "reason": refusal.reason, "detail": refusal.detail, "claims": claims,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// user id, e-mail, role, status, epoch, organisation, TOTP enrolled at.
type UserRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
);

const USER_COLUMNS: &str =
    "SELECT id, email, role, status, session_epoch, org_id, totp_enabled_at FROM users";

/// Signs the person in as the provider says, or refuses.
pub async fn sign_in(
    state: &AppState,
    config: &IdpConfig,
    claims: &IdClaims,
    client: &ClientInfo,
) -> Result<std::result::Result<SignedIn, Refusal>> {
    let recorded = provider::recorded_claims(config, claims);
    let outcome = decide(state, config, claims, &recorded, client).await?;
    if let Err(refusal) = &outcome {
        refused(state, &config.id, refusal, Some(&recorded), client).await?;
    }
    Ok(outcome)
}

async fn decide(
    state: &AppState,
    config: &IdpConfig,
    claims: &IdClaims,
    recorded: &Value,
    client: &ClientInfo,
) -> Result<std::result::Result<SignedIn, Refusal>> {
    let Some(groups) = provider::groups(config, claims) else {
        return Ok(Err(Refusal::new(
            "missing_groups",
            format!(
                "the ID token has no `{}` claim; roles are never guessed",
                config.groups_claim
            ),
        )));
    };
    let email_verified = claims.email_verified() == Some(true)
        || (config.trust_email && claims.email_verified().is_none());
    if !email_verified {
        return Ok(Err(Refusal::new(
            "email_unverified",
            "the provider does not say the e-mail address is verified",
        )));
    }
    let Some(email) = claims
        .email()
        .map(|e| e.as_str().trim().to_lowercase())
        .filter(|e| plausible_email(e))
    else {
        return Ok(Err(Refusal::new(
            "no_email",
            "the ID token has no usable e-mail address",
        )));
    };
    let issuer = claims.issuer().as_str().to_string();
    let subject = claims.subject().as_str().to_string();
    let name = provider::display_name(claims, &email);
    let amr = provider::amr(claims);
    let mfa = config.proves_mfa(claims.auth_context_ref().map(|a| a.as_str()), &amr);
    let now = state.clock.now();

    let mut tx = state.db.begin().await?;
    let linked: Option<String> =
        sqlx::query_scalar("SELECT user_id FROM sso_identities WHERE issuer = $1 AND subject = $2")
            .bind(&issuer)
            .bind(&subject)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(role) = config.role_for(&groups) else {
        if let Some(user_id) = &linked {
            // The provider no longer puts the person in any Gatehouse group: their
            // access ends here too, with their sessions (leaving the bank).
            let ended = sqlx::query(
                "UPDATE users SET status = 'disabled', session_epoch = session_epoch + 1, updated_at = $1 \
                 WHERE id = $2 AND status = 'active'",
            )
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            if ended.rows_affected() > 0 {
                audit::record(
                    &mut tx,
                    Event::new(Actor::user(user_id, &email), "sso.access_removed")
                        .client(client)
                        .resource("user", user_id)
                        .details(json!({ "idp": config.id, "groups": groups, "claims": recorded })),
                )
                .await?;
            }
            tx.commit().await?;
        }
        return Ok(Err(Refusal::new(
            "no_mapped_group",
            "none of the person's groups gives a Gatehouse role",
        )));
    };
    let existing: Option<UserRow> = match &linked {
        Some(user_id) => {
            sqlx::query_as(&format!("{USER_COLUMNS} WHERE id = $1"))
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?
        }
        None => {
            sqlx::query_as(&format!("{USER_COLUMNS} WHERE email = $1"))
                .bind(&email)
                .fetch_optional(&mut *tx)
                .await?
        }
    };
    let (user_id, epoch, totp, action) = match existing {
        Some((_, _, _, _, _, Some(_), _)) => {
            return Ok(Err(Refusal::new(
                "email_in_use",
                "the e-mail address belongs to a partner's account",
            )));
        }
        Some((_, _, _, status, _, _, _)) if status != "active" => {
            return Ok(Err(Refusal::new(
                "account_deactivated",
                "the Gatehouse account is not active; a bank admin can reactivate it",
            )));
        }
        Some((id, _, _, _, _, None, _))
            if linked.is_none() && has_identity(&mut tx, &id).await? =>
        {
            // Already signed in through another identity: an e-mail address alone
            // never moves an account to someone else.
            let _ = id;
            return Ok(Err(Refusal::new(
                "email_in_use",
                "the account with this e-mail address signs in through another identity",
            )));
        }
        Some((id, _, old_role, _, epoch, None, totp)) => {
            let epoch = if old_role == role.as_str() {
                epoch
            } else {
                // A new role ends the sessions opened under the old one.
                sqlx::query(
                    "UPDATE users SET role = $1, session_epoch = session_epoch + 1, updated_at = $2 WHERE id = $3",
                )
                .bind(role.as_str())
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                epoch + 1
            };
            if linked.is_none() {
                // From now on this account signs in through the provider only.
                sqlx::query("UPDATE users SET password_hash = NULL, updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
            let action = match (&linked, old_role == role.as_str()) {
                (None, _) => "sso.account_linked",
                (Some(_), false) => "sso.role_changed",
                (Some(_), true) => "sso.signin",
            };
            let details = json!({ "from_role": old_role, "role": role.as_str() });
            (id, epoch, totp.is_some(), (action, details))
        }
        None => {
            let id = ids::new_id(ids::USER);
            let created = sqlx::query(
                "INSERT INTO users (id, org_id, email, display_name, role, status, password_hash, \
                 email_verified_at, session_epoch, created_at, updated_at) \
                 VALUES ($1, NULL, $2, $3, $4, 'active', NULL, $5, 0, $5, $5) ON CONFLICT (email) DO NOTHING",
            )
            .bind(&id)
            .bind(&email)
            .bind(&name)
            .bind(role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if created.rows_affected() == 0 {
                // Another sign-in made the account a moment ago.
                return Ok(Err(Refusal::new(
                    "email_in_use",
                    "the account was created by another sign-in at the same time; sign in again",
                )));
            }
            (
                id,
                0,
                false,
                ("sso.account_created", json!({ "role": role.as_str() })),
            )
        }
    };
    sqlx::query(
        "INSERT INTO sso_identities (issuer, subject, idp, user_id, first_seen_at, last_sign_in_at, last_claims) \
         VALUES ($1, $2, $3, $4, $5, $5, $6) \
         ON CONFLICT (issuer, subject) DO UPDATE SET last_sign_in_at = $5, last_claims = $6, idp = $3",
    )
    .bind(&issuer)
    .bind(&subject)
    .bind(&config.id)
    .bind(&user_id)
    .bind(now)
    .bind(recorded.to_string())
    .execute(&mut *tx)
    .await?;
    if let Some(sid) = claims
        .additional_claims()
        .claims
        .get("sid")
        .and_then(Value::as_str)
    {
        sqlx::query(
            "INSERT INTO sso_sessions (issuer, sid, user_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (issuer, sid) DO NOTHING",
        )
        .bind(&issuer)
        .bind(sid)
        .bind(&user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let (action, mut details) = action;
    details["idp"] = json!(config.id);
    details["groups"] = json!(groups);
    details["mfa_from_idp"] = json!(mfa);
    details["claims"] = recorded.clone();
    audit::record(
        &mut tx,
        Event::new(Actor::user(&user_id, &email), action)
            .client(client)
            .resource("user", &user_id)
            .details(details),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(SignedIn {
        user_id,
        email,
        epoch,
        role,
        mfa,
        totp_enrolled: totp,
        subject,
        auth_time: claims.auth_time().map(|t| t.timestamp()),
    }))
}

pub(super) async fn has_identity(tx: &mut crate::platform::db::Tx, user_id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sso_identities WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n > 0)
}

/// Whether this logout token is seen for the first time (its `jti` is kept until
/// the token expires; expired ones are forgotten on the way).
pub async fn first_use_of_logout_token(state: &AppState, claims: &IdClaims) -> Result<bool> {
    let now = state.clock.now();
    let jti = claims
        .additional_claims()
        .claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    sqlx::query("DELETE FROM sso_logout_jtis WHERE expires_at < $1")
        .bind(now)
        .execute(&state.db.pool)
        .await?;
    let first = sqlx::query(
        "INSERT INTO sso_logout_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (issuer, jti) DO NOTHING",
    )
    .bind(claims.issuer().as_str())
    .bind(jti)
    .bind(claims.expiration().timestamp().max(now + 300))
    .execute(&state.db.pool)
    .await?;
    Ok(first.rows_affected() == 1)
}

/// Back-channel logout: ends every Gatehouse session of the person the token names
/// (by `sub`, or by the provider session `sid`). Returns whom it signed out.
pub async fn logged_out(
    state: &AppState,
    idp: &str,
    claims: &IdClaims,
) -> Result<Option<(String, String)>> {
    let issuer = claims.issuer().as_str();
    let sid = claims
        .additional_claims()
        .claims
        .get("sid")
        .and_then(Value::as_str);
    let mut tx = state.db.begin().await?;
    let user: Option<(String, String)> = sqlx::query_as(
        "SELECT u.id, u.email FROM users u WHERE u.id IN ( \
           SELECT user_id FROM sso_identities WHERE issuer = $1 AND subject = $2 \
           UNION SELECT user_id FROM sso_sessions WHERE issuer = $1 AND sid = $3)",
    )
    .bind(issuer)
    .bind(claims.subject().as_str())
    .bind(sid.unwrap_or(""))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((user_id, email)) = user else {
        return Ok(None);
    };
    let now = state.clock.now();
    sqlx::query(
        "UPDATE users SET session_epoch = session_epoch + 1, updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(&user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM sso_sessions WHERE user_id = $1")
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(
            Actor::system(&format!("identity provider {idp}")),
            "sso.backchannel_logout",
        )
        .resource("user", &user_id)
        .details(json!({ "idp": idp, "email": email, "sid": sid })),
    )
    .await?;
    tx.commit().await?;
    Ok(Some((user_id, email)))
}

/// Whether this user signs in through a provider, and through which.
pub async fn identity_of(state: &AppState, user_id: &str) -> Result<Option<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT idp, subject FROM sso_identities WHERE user_id = $1 ORDER BY last_sign_in_at DESC LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&state.db.pool)
    .await?)
}

/// An address Gatehouse can use as an account's e-mail: one `@`, no spaces or
/// control characters, at most 254 characters.
fn plausible_email(email: &str) -> bool {
    email.len() <= 254
        && email.matches('@').count() == 1
        && !email.starts_with('@')
        && !email.ends_with('@')
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
}
