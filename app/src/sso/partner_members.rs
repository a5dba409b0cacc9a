//! Members' way in through their organisation's approved provider (issue 28): the
//! provider that vouches for an e-mail's domain, and what a verified answer from it
//! does to the organisation's accounts.

use serde_json::json;

use super::partner::{of_org, OrgIdp};
use super::provider::{self, IdClaims, Refusal};
use super::service::SignedIn;
use crate::platform::audit::{self, Actor, Event};
use crate::platform::authz::Role;
use crate::platform::context::ClientInfo;
use crate::platform::error::Result;
use crate::platform::ids;
use crate::platform::state::AppState;

/// Whether any organisation's provider is approved (the sign-in page then offers it).
pub async fn any_approved(state: &AppState) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_idps WHERE status = 'approved'")
        .fetch_one(&state.db.pool)
        .await?;
    Ok(n > 0)
}

/// The approved provider that vouches for this e-mail's domain, with its
/// organisation active.
pub async fn for_email(state: &AppState, email: &str) -> Result<Option<OrgIdp>> {
    let Some((_, domain)) = email
        .trim()
        .to_ascii_lowercase()
        .rsplit_once('@')
        .map(|(a, d)| (a.to_string(), d.to_string()))
    else {
        return Ok(None);
    };
    let org: Option<String> = sqlx::query_scalar(
        "SELECT d.org_id FROM org_idp_domains d JOIN org_idps p ON p.org_id = d.org_id \
         JOIN organisations o ON o.id = d.org_id WHERE d.domain = $1 AND p.status = 'approved' AND o.status = 'active'",
    )
    .bind(&domain)
    .fetch_optional(&state.db.pool)
    .await?;
    match org {
        Some(org) => of_org(state, &org).await,
        None => Ok(None),
    }
}

/// A member's sign-in through the organisation's provider: a verified e-mail at a
/// vouched domain, the organisation active and the connection approved; someone
/// already in the organisation signs in with their own role, someone new joins
/// with the chosen one; an account elsewhere (another organisation, the bank) or a
/// removed member is refused. Refusals are audited and write nothing else.
pub async fn sign_in(
    state: &AppState,
    conn: &OrgIdp,
    claims: &IdClaims,
    client: &ClientInfo,
) -> Result<std::result::Result<SignedIn, Refusal>> {
    let outcome = decide_member(state, conn, claims, client).await?;
    if let Err(refusal) = &outcome {
        let recorded = json!({ "iss": claims.issuer().as_str(), "sub": claims.subject().as_str(),
                               "email": claims.email().map(|e| e.as_str()), "email_verified": claims.email_verified(),
                               "org_id": conn.org_id });
        let idp = format!("partner:{}", conn.org_id);
        super::service::refused(state, &idp, refusal, Some(&recorded), client).await?;
    }
    Ok(outcome)
}

async fn decide_member(
    state: &AppState,
    conn: &OrgIdp,
    claims: &IdClaims,
    client: &ClientInfo,
) -> Result<std::result::Result<SignedIn, Refusal>> {
    if claims.email_verified() != Some(true) {
        return Ok(Err(Refusal::new(
            "email_unverified",
            "the provider does not say the e-mail address is verified",
        )));
    }
    let email = claims
        .email()
        .map(|e| e.as_str().trim().to_ascii_lowercase())
        .unwrap_or_default();
    let domain = email
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    if !conn.domains.contains(&domain) || email.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Ok(Err(Refusal::new(
            "domain_not_vouched",
            format!("{domain} is not a domain the organisation's provider vouches for"),
        )));
    }
    let current: Option<(String, String)> = sqlx::query_as(
        "SELECT p.status, o.status FROM org_idps p JOIN organisations o ON o.id = p.org_id WHERE p.org_id = $1",
    )
    .bind(&conn.org_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let leaving: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM offboardings WHERE org_id = $1 AND status = 'running'",
    )
    .bind(&conn.org_id)
    .fetch_one(&state.db.pool)
    .await?;
    if current != Some(("approved".into(), "active".into())) || leaving > 0 {
        return Ok(Err(Refusal::new(
            "provider_not_approved",
            "the organisation's provider is not approved, or the organisation has left",
        )));
    }
    let issuer = claims.issuer().as_str().to_string();
    let subject = claims.subject().as_str().to_string();
    let amr = provider::amr(claims);
    let mfa = amr.iter().any(|a| a == "mfa");
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    type Member = (String, Option<String>, String, String, i64, Option<i64>);
    let existing: Option<Member> = sqlx::query_as(
        "SELECT id, org_id, role, status, session_epoch, totp_enabled_at FROM users WHERE email = $1",
    )
    .bind(&email)
    .fetch_optional(&mut *tx)
    .await?;
    let linked: Option<String> =
        sqlx::query_scalar("SELECT user_id FROM sso_identities WHERE issuer = $1 AND subject = $2")
            .bind(&issuer)
            .bind(&subject)
            .fetch_optional(&mut *tx)
            .await?;
    let (user_id, role, epoch, totp, action) = match existing {
        Some((id, org, _, _, _, _)) if org.as_deref() != Some(conn.org_id.as_str()) => {
            let _ = id;
            return Ok(Err(Refusal::new(
                "email_in_use",
                "the e-mail address belongs to an account outside the organisation",
            )));
        }
        Some((id, _, _, _, _, _)) if linked.as_ref().is_some_and(|l| *l != id) => {
            return Ok(Err(Refusal::new(
                "email_in_use",
                "the provider's identity already signs in another account",
            )));
        }
        Some((id, _, _, _, _, _))
            if linked.is_none() && super::service::has_identity(&mut tx, &id).await? =>
        {
            // An e-mail address never moves an account to a second identity.
            return Ok(Err(Refusal::new(
                "email_in_use",
                "the account already signs in through another identity",
            )));
        }
        Some((_, _, _, status, _, _)) if status != "active" => {
            return Ok(Err(Refusal::new(
                "account_deactivated",
                "the member was removed from the organisation or is not active",
            )));
        }
        Some((id, _, role, _, epoch, totp)) => {
            let role = Role::parse(&role).unwrap_or(Role::PartnerDeveloper);
            let action = if linked.is_some() {
                "sso.signin"
            } else {
                "sso.account_linked"
            };
            (id, role, epoch, totp.is_some(), action)
        }
        None if linked.is_some() => {
            return Ok(Err(Refusal::new(
                "email_in_use",
                "the provider's identity already signs in another account",
            )));
        }
        None => {
            let id = ids::new_id(ids::USER);
            let name = provider::display_name(claims, &email);
            let created = sqlx::query(
                "INSERT INTO users (id, org_id, email, display_name, role, status, password_hash, \
                 email_verified_at, session_epoch, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'active', NULL, $6, 0, $6, $6) ON CONFLICT (email) DO NOTHING",
            )
            .bind(&id)
            .bind(&conn.org_id)
            .bind(&email)
            .bind(&name)
            .bind(conn.member_role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if created.rows_affected() == 0 {
                return Ok(Err(Refusal::new(
                    "email_in_use",
                    "the account was created by another sign-in at the same time; sign in again",
                )));
            }
            (id, conn.member_role, 0, false, "sso.account_created")
        }
    };
    let recorded = json!({ "iss": issuer, "sub": subject, "email": email, "amr": amr });
    sqlx::query(
        "INSERT INTO sso_identities (issuer, subject, idp, user_id, first_seen_at, last_sign_in_at, last_claims) \
         VALUES ($1, $2, $3, $4, $5, $5, $6) \
         ON CONFLICT (issuer, subject) DO UPDATE SET last_sign_in_at = $5, last_claims = $6",
    )
    .bind(&issuer)
    .bind(&subject)
    .bind(format!("partner:{}", conn.org_id))
    .bind(&user_id)
    .bind(now)
    .bind(recorded.to_string())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(Actor::user(&user_id, &email), action)
            .client(client)
            .org(Some(&conn.org_id))
            .resource("user", &user_id)
            .details(json!({ "idp": format!("partner:{}", conn.org_id), "role": role.as_str(), "mfa_from_idp": mfa, "claims": recorded })),
    )
    .await?;
    tx.commit().await?;
    // A partner's provider never stands in for a member's own authenticator: a
    // member with one enrolled still enters its code.
    Ok(Ok(SignedIn {
        user_id,
        email,
        epoch,
        role,
        mfa: mfa && !totp,
        totp_enrolled: totp,
        subject,
        auth_time: claims.auth_time().map(|t| t.timestamp()),
    }))
}
