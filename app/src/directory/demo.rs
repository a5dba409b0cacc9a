//! Demo mode: Acme Budgeting's developer has downloaded a software statement for
//! the demo sandbox app and its software registered a client with it (RFC 7591),
//! so a newcomer sees a registered client in the inventory, with its owner, and
//! the statement in the audit trail. Made through the real services.

use crate::clients::model::software_id;
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;

/// Seeds the registration for the sandbox app `app_name` of `member_email`'s
/// organisation, once.
pub async fn seed(state: &AppState, member_email: &str, app_name: &str) -> Result<()> {
    let Some(member) = AuthUser::by_email(state, member_email).await? else {
        return Ok(());
    };
    let found: Option<(String, i64)> = sqlx::query_as(
        "SELECT a.id, (SELECT COUNT(*) FROM apps r WHERE r.registered_from = a.id) \
         FROM apps a WHERE a.name = $1 AND a.org_id = $2 AND a.environment = 'sandbox'",
    )
    .bind(app_name)
    .bind(member.org_id.as_deref().unwrap_or_default())
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((app_id, 0)) = found else {
        return Ok(());
    };
    let client = ClientInfo::default();
    let jwt = super::statement::issue(state, &member, &client, &software_id(&app_id)).await?;
    let body = serde_json::json!({
        "software_statement": jwt,
        "scope": "accounts",
        "grant_types": ["client_credentials"],
    });
    super::registration::register(
        state,
        crate::oauth::Issuer::Sandbox,
        body.to_string().as_bytes(),
        &client,
    )
    .await
    .map_err(|failure| match failure {
        super::registration::Failure::Internal(error) => error,
        super::registration::Failure::Refused(refusal) => Error::Internal(format!(
            "the demo registration was refused: {}",
            refusal.description
        )),
    })?;
    Ok(())
}
