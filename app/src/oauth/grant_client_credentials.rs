//! The client credentials grant (RFC 6749 §4.4): a token for the client itself,
//! `sub` = its client id (RFC 9068 §2.2).

use serde_json::Value;

use super::client_auth::Authenticated;
use super::error::OAuthResult;
use super::jwt::{self, Binding, Grant};
use super::params::Params;
use super::token::{granted_scopes, token_body};
use crate::platform::state::AppState;

pub async fn grant(
    state: &AppState,
    client: &Authenticated,
    params: &Params,
    binding: &Binding,
) -> OAuthResult<Value> {
    let scope = granted_scopes(params.get("scope"), &client.app.scopes)?;
    let issued = jwt::mint(
        state,
        &Grant {
            issuer: client.issuer,
            client_id: &client.app.client_id,
            credential_id: &client.credential_id,
            credential_expires_at: client.credential_expires_at,
            subject: &client.app.client_id,
            scope: &scope,
            consent_id: None,
            binding,
        },
    )?;
    Ok(token_body(&issued, None))
}
