//! The client configuration endpoint (RFC 7592) of clients registered with a
//! software statement: read (the registration access token is not rotated), update
//! within what the software holds now, delete (a retirement). The token is kept
//! only as a keyed hash; anything but the right token for an active client of this
//! issuer is `invalid_token`.

use serde_json::json;

use super::registration::{
    client, key_of, parse, refused, text, within, Failure, Refusal, Registered,
};
use super::software;
use crate::audit::{self, Actor, Event};
use crate::clients::model::App;
use crate::oauth::Issuer;
use crate::platform::context::ClientInfo;
use crate::platform::state::AppState;

/// The registered, active client of this issuer that `token` (a registration access
/// token) is for, named `client_id` in the path. Anything else is `invalid_token`.
async fn authorised(
    state: &AppState,
    issuer: Issuer,
    client_id: &str,
    token: Option<&str>,
) -> Result<(App, String, i64), Failure> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(Refusal::no_token)?;
    let found: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT a.id, a.registered_from, \
         COALESCE((SELECT MAX(c.expires_at) FROM credentials c WHERE c.app_id = a.id AND c.revoked_at IS NULL), 0) \
         FROM apps a WHERE a.client_id = $1 AND a.registration_token_hash = $2 \
         AND a.status = 'active' AND a.environment = $3",
    )
    .bind(client_id)
    .bind(state.keys.keyed_hash(token))
    .bind(issuer.name())
    .fetch_optional(&state.db.pool)
    .await?;
    let (app_id, software_app, expires_at) = found.ok_or_else(Refusal::token)?;
    Ok((
        client(state, issuer, &app_id).await?,
        software_app,
        expires_at,
    ))
}

/// Reads a registered client's configuration (RFC 7592 §2.1). The token is not
/// rotated on read.
pub async fn read(
    state: &AppState,
    issuer: Issuer,
    client_id: &str,
    token: Option<&str>,
) -> Result<Registered, Failure> {
    let (app, software_app, expires_at) = authorised(state, issuer, client_id, token).await?;
    let key = key_of(state, &app.id).await?;
    Ok(Registered {
        app,
        software_id: crate::clients::model::software_id(&software_app),
        secret: None,
        credential_expires_at: expires_at,
        registration_token: None,
        statement: None,
        key,
    })
}

/// Updates a registered client (RFC 7592 §2.2): its redirect URIs and scopes, within
/// what its software holds now; nothing else may change.
pub async fn update(
    state: &AppState,
    issuer: Issuer,
    client_id: &str,
    token: Option<&str>,
    body: &[u8],
    caller: &ClientInfo,
) -> Result<Registered, Failure> {
    let (app, software_app, expires_at) = authorised(state, issuer, client_id, token).await?;
    let key = key_of(state, &app.id).await?;
    let method = super::statement::auth_method(
        &app.auth_method,
        key.as_ref().map(|(kind, _)| kind.as_str()),
    );
    let software = software::get(
        state,
        None,
        &crate::clients::model::software_id(&software_app),
    )
    .await?;
    let checked = async {
        let request = parse(body)?;
        if text(&request, "client_id")? != Some(client_id) {
            return Err(Refusal::metadata(
                "The request must carry this client's client_id.",
            ));
        }
        // RFC 7592 §2.2: a client secret sent back must be the client's own.
        if let Some(secret) = text(&request, "client_secret")? {
            let matches: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM credentials WHERE app_id = $1 AND kind = 'client_secret' \
                 AND secret_hash = $2 AND revoked_at IS NULL",
            )
            .bind(&app.id)
            .bind(state.keys.keyed_hash(secret))
            .fetch_one(&state.db.pool)
            .await
            .unwrap_or(0);
            if matches == 0 {
                return Err(Refusal::metadata(
                    "The client_secret is not this client's: a secret cannot be set or changed here (rotate it in the portal).",
                ));
            }
        }
        if let Some(asked) = text(&request, "token_endpoint_auth_method")? {
            if asked != method {
                return Err(Refusal::metadata(
                    "The authentication method is the software statement's and cannot change.",
                ));
            }
        }
        // Within what the software holds now; what the request leaves out stays.
        within(
            &request,
            (&software.app.redirect_uris, &software.app.scopes),
            software.grant_types(),
            (&app.redirect_uris, &app.scopes),
        )
    }
    .await;
    let (uris, scopes) = match checked {
        Ok(found) => found,
        Err(refusal) => {
            refused(
                state,
                issuer,
                caller,
                &refusal,
                "directory.registration_update_refused",
                Some(client_id),
            )
            .await?;
            return Err(refusal.into());
        }
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query("UPDATE apps SET redirect_uris = $1, scopes = $2, updated_at = $3 WHERE id = $4 AND status = 'active'")
        .bind(uris.join("\n"))
        .bind(scopes.join(" "))
        .bind(now)
        .bind(&app.id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(
            Actor::system(&format!("dcr:{}", software.id)),
            "directory.client_updated",
        )
        .client(caller)
        .org(Some(&app.org_id))
        .resource("app", &app.id)
        .details(json!({ "client_id": client_id, "scopes": scopes, "redirect_uris": uris })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(Registered {
        app: client(state, issuer, &app.id).await?,
        software_id: software.id,
        secret: None,
        credential_expires_at: expires_at,
        registration_token: None,
        statement: None,
        key: key_of(state, &app.id).await?,
    })
}

/// Deletes a registered client (RFC 7592 §2.3): retired as a partner retires one,
/// its credentials and tokens revoked at once.
pub async fn delete(
    state: &AppState,
    issuer: Issuer,
    client_id: &str,
    token: Option<&str>,
    caller: &ClientInfo,
) -> Result<(), Failure> {
    let (app, software_app, _) = authorised(state, issuer, client_id, token).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    crate::sandbox::service::revoke_app_rows(&mut tx, &app.id, now, "retired").await?;
    audit::record(
        &mut tx,
        Event::new(
            Actor::system(&format!(
                "dcr:{}",
                crate::clients::model::software_id(&software_app)
            )),
            "directory.client_deleted",
        )
        .client(caller)
        .org(Some(&app.org_id))
        .resource("app", &app.id)
        .details(json!({ "client_id": client_id })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}
