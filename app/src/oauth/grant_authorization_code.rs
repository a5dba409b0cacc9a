//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636, S256 only).
//! A code works once; presenting it again revokes what its first use issued
//! (RFC 6749 §4.1.2, RFC 9700 §4.5.1).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::client_auth::Authenticated;
use super::error::{OAuthError, OAuthResult};
use super::jwt::{self, Binding, Grant};
use super::params::Params;
use super::token::token_body;
use super::{refresh, Caller};
use crate::audit::{self, Event};
use crate::platform::crypto::ct_eq;
use crate::platform::state::AppState;

pub async fn grant(
    state: &AppState,
    client: &Authenticated,
    params: &Params,
    binding: &Binding,
) -> OAuthResult<Value> {
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.require("code_verifier")?;
    let code_hash = state.keys.keyed_hash(code);
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let row = sqlx::query(
        "SELECT c.app_id, c.consent_id, c.redirect_uri, c.scopes, c.code_challenge, c.expires_at, \
         c.used_at, c.access_jti, c.access_exp, c.refresh_family, s.customer, s.status AS consent_status \
         FROM authorization_codes c JOIN consents s ON s.id = c.consent_id WHERE c.code_hash = $1",
    )
    .bind(&code_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let invalid = || OAuthError::invalid_grant("The authorization code is not valid.");
    let Some(row) = row else {
        return Err(invalid());
    };
    if row.try_get::<String, _>("app_id")? != client.app.id {
        return Err(invalid());
    }
    // Whatever happens next, the code is spent. The claim is a conditional update
    // whose rows affected decide it: of two concurrent redemptions exactly one wins
    // (on PostgreSQL the loser's update waits for the winner's commit, then finds
    // `used_at` set); the loser, like any second use, is a reuse (RFC 6749 §4.1.2).
    let claimed = row.try_get::<Option<i64>, _>("used_at")?.is_none()
        && sqlx::query(
            "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&code_hash)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
    if !claimed {
        return reused(state, tx, client, &code_hash, now).await;
    }
    let failure = if row.try_get::<i64, _>("expires_at")? <= now {
        Some("The authorization code has expired.")
    } else if row.try_get::<String, _>("redirect_uri")? != redirect_uri {
        Some("redirect_uri does not match the authorization request.")
    } else if !pkce_matches(verifier, &row.try_get::<String, _>("code_challenge")?) {
        Some("The code_verifier does not match the code_challenge.")
    } else if row.try_get::<String, _>("consent_status")? != "granted" {
        Some("The customer's consent has been revoked.")
    } else {
        None
    };
    if let Some(description) = failure {
        tx.commit().await?;
        return Err(OAuthError::invalid_grant(description));
    }
    let consent_id: String = row.try_get("consent_id")?;
    let customer: String = row.try_get("customer")?;
    // The scopes the customer authorised that the client still holds: a scope a
    // review removed between the consent and the exchange is not minted (as for
    // refresh, review finding N4).
    let authorised: String = row.try_get("scopes")?;
    let scopes = crate::clients::catalogue::split(&authorised)
        .into_iter()
        .filter(|scope| client.app.scopes.contains(scope))
        .collect::<Vec<_>>()
        .join(" ");
    if scopes.is_empty() {
        tx.commit().await?;
        return Err(OAuthError::invalid_grant(
            "The client may no longer use any scope the customer authorised.",
        ));
    }
    let issued = jwt::mint(
        state,
        &Grant {
            issuer: client.issuer,
            client_id: &client.app.client_id,
            credential_id: &client.credential_id,
            credential_expires_at: client.credential_expires_at,
            subject: &customer,
            scope: &scopes,
            consent_id: Some(&consent_id),
            binding,
        },
    )?;
    let (refresh_token, family) = refresh::issue_new_family(
        state,
        &mut tx,
        &client.app.id,
        &consent_id,
        &customer,
        &scopes,
        now,
    )
    .await?;
    sqlx::query(
        "UPDATE authorization_codes SET access_jti = $1, access_exp = $2, refresh_family = $3 WHERE code_hash = $4",
    )
    .bind(&issued.claims.jti)
    .bind(issued.claims.exp)
    .bind(&family)
    .bind(&code_hash)
    .execute(&mut *tx)
    .await?;
    refresh::record_descendant(
        &mut tx,
        &family,
        &client.app.id,
        &issued.claims.jti,
        issued.claims.exp,
    )
    .await?;
    tx.commit().await?;
    Ok(token_body(&issued, Some(&refresh_token)))
}

/// A second use of a code: revokes everything its first use issued (the refresh
/// family and every access token minted from it, RFC 9700 §4.5.1). What the first
/// use issued is read again here, after the claim: when the first use won a
/// concurrent race, its tokens are committed by now.
async fn reused(
    state: &AppState,
    mut tx: crate::platform::db::Tx,
    client: &Authenticated,
    code_hash: &str,
    now: i64,
) -> OAuthResult<Value> {
    let row = sqlx::query(
        "SELECT access_jti, access_exp, refresh_family FROM authorization_codes WHERE code_hash = $1",
    )
    .bind(code_hash)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(family) = row.try_get::<Option<String>, _>("refresh_family")? {
        refresh::revoke_family(&mut tx, &family, now).await?;
    }
    if let (Some(jti), Some(exp)) = (
        row.try_get::<Option<String>, _>("access_jti")?,
        row.try_get::<Option<i64>, _>("access_exp")?,
    ) {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, app_id, revoked_at, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(&client.app.id)
        .bind(now)
        .bind(exp)
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut tx,
        Event::new(Caller::client_actor(&client.app), "oauth.code_reused")
            .resource("app", &client.app.id)
            .org(Some(&client.app.org_id))
            .outcome("failure")
            .details(json!({ "revoked": "the tokens issued for the code" })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Err(OAuthError::invalid_grant(
        "The authorization code has already been used; the tokens issued for it are now revoked.",
    ))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge; the verifier is 43 to
/// 128 unreserved characters (§4.1).
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && ct_eq(&computed, challenge)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(super::pkce_matches(verifier, challenge));
        assert!(!super::pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
        assert!(!super::pkce_matches("short", challenge));
    }
}
