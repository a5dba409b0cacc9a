//! The refresh token grant (RFC 6749 §6) with rotation: each refresh token works once
//! and is replaced by a new one; presenting a used one again means it was stolen or
//! replayed, so the whole family is revoked (RFC 9700 §4.14.2).

use serde_json::{json, Value};
use sqlx::Row;

use super::client_auth::Authenticated;
use super::error::{OAuthError, OAuthResult};
use super::jwt::{self, Binding, Grant};
use super::params::Params;
use super::refresh::{self, Family};
use super::token::{granted_scopes, token_body};
use super::Caller;
use crate::audit::{self, Event};
use crate::platform::state::AppState;

pub async fn grant(
    state: &AppState,
    client: &Authenticated,
    params: &Params,
    binding: &Binding,
) -> OAuthResult<Value> {
    let token = params.require("refresh_token")?;
    let hash = state.keys.keyed_hash(token);
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let row = sqlx::query(
        "SELECT r.family_id, r.app_id, r.consent_id, r.customer, r.scopes, r.expires_at, r.used_at, \
         r.revoked_at, s.status AS consent_status \
         FROM refresh_tokens r JOIN consents s ON s.id = r.consent_id WHERE r.token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&mut *tx)
    .await?;
    let invalid = |why: &str| OAuthError::invalid_grant(why.to_string());
    let Some(row) = row else {
        return Err(invalid("The refresh token is not valid."));
    };
    if row.try_get::<String, _>("app_id")? != client.app.id {
        return Err(invalid("The refresh token is not valid."));
    }
    let family_id: String = row.try_get("family_id")?;
    if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
        return Err(invalid("The refresh token has been revoked."));
    }
    if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
        refresh::revoke_family(&mut tx, &family_id, now).await?;
        audit::record(
            &mut tx,
            Event::new(
                Caller::client_actor(&client.app),
                "oauth.refresh_token_reused",
            )
            .resource("app", &client.app.id)
            .org(Some(&client.app.org_id))
            .outcome("failure")
            .details(json!({ "family": family_id })),
        )
        .await?;
        tx.commit().await?;
        state.oauth().cache.changed();
        return Err(invalid(
            "The refresh token has already been used; every token of its grant is now revoked.",
        ));
    }
    let expires_at: i64 = row.try_get("expires_at")?;
    if expires_at <= now {
        return Err(invalid("The refresh token has expired."));
    }
    if row.try_get::<String, _>("consent_status")? != "granted" {
        return Err(invalid("The customer's consent has been revoked."));
    }
    // The grant's scopes as the client may still use them: a review or a bank
    // decision that removed a scope from the client removes it from every grant it
    // holds, at the next refresh (RFC 6749 §6: never more than originally granted;
    // review finding N4). The narrowed set is what the rotated token carries on.
    let original: String = row.try_get("scopes")?;
    let still_allowed: Vec<String> = crate::clients::catalogue::split(&original)
        .into_iter()
        .filter(|scope| client.app.scopes.contains(scope))
        .collect();
    if still_allowed.is_empty() {
        return Err(invalid(
            "The client may no longer use any scope of this grant: the customer must authorise again.",
        ));
    }
    let original = still_allowed.join(" ");
    let scope = granted_scopes(params.get("scope"), &still_allowed)?;
    let spent = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL")
        .bind(now)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    if spent.rows_affected() != 1 {
        return Err(invalid("The refresh token has already been used."));
    }
    let consent_id: String = row.try_get("consent_id")?;
    let customer: String = row.try_get("customer")?;
    let next = refresh::issue(
        state,
        &mut tx,
        &Family {
            id: &family_id,
            app_id: &client.app.id,
            consent_id: &consent_id,
            customer: &customer,
            scopes: &original,
            expires_at,
        },
        now,
    )
    .await?;
    let issued = jwt::mint(
        state,
        &Grant {
            issuer: client.issuer,
            client_id: &client.app.client_id,
            credential_id: &client.credential_id,
            credential_expires_at: client.credential_expires_at,
            subject: &customer,
            scope: &scope,
            consent_id: Some(&consent_id),
            binding,
        },
    )?;
    refresh::record_descendant(
        &mut tx,
        &family_id,
        &client.app.id,
        &issued.claims.jti,
        issued.claims.exp,
    )
    .await?;
    tx.commit().await?;
    Ok(token_body(&issued, Some(&next)))
}
