//! The directory's software records. Every app is one: a sandbox app as the partner
//! made it, a production client as its approved request issued it. The record is
//! what a software statement says about the software (its names, redirect URIs,
//! scope ceiling, authentication method, keys, organisation and tier), read from
//! the app and its live credential, so it never drifts from what Gatehouse enforces.
//!
//! Software is withdrawn when its app is revoked, whoever revokes it: the bank here,
//! offboarding, an access review, the partner retiring it (all through
//! `sandbox::service::revoke_app_rows`, which also sends the `software.withdrawn`
//! webhook).

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use crate::audit::{self, Event};
pub use crate::clients::model::{app_of_software as app_id, software_id};
use crate::clients::model::{App, APP_COLUMNS};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;

/// One piece of software as the directory describes it.
#[derive(Clone, Debug, Serialize)]
pub struct Software {
    pub id: String,
    pub app: App,
    pub org_name: String,
    /// The tier it was approved under (production), or the organisation's highest
    /// approved tier (sandbox); None before any tier is approved.
    pub tier: Option<i64>,
    /// The live credential's public material, where it has one.
    pub jwks_uri: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub tls_subject: Option<String>,
    pub tls_thumbprint: Option<String>,
    /// The newest live credential: its kind, public material and expiry (what a
    /// client registered from this software authenticates with, and until when).
    #[serde(skip)]
    pub credential: Option<(String, Option<String>, i64)>,
    /// Why it was withdrawn (the app's revocation reason code), when it was.
    pub withdrawn_reason: Option<String>,
}

/// What a client's revocation reason means for its software, in words.
pub fn withdrawal_cause(reason: &str) -> &'static str {
    match reason {
        "withdrawn" => "by the bank",
        "partner" => "revoked by the partner",
        "retired" => "retired",
        "offboarded" => "the partner was offboarded",
        "review" => "revoked in an access review",
        _ => "revoked",
    }
}

impl Software {
    pub fn is_active(&self) -> bool {
        self.app.is_active()
    }

    pub fn grant_types(&self) -> &'static [&'static str] {
        grant_types(&self.app.environment)
    }

    /// Whether an open suspension (the kill switch) covers the software's client.
    pub async fn is_suspended(&self, state: &AppState) -> Result<bool> {
        let open = crate::platform::kill_switch::open(&state.db).await?;
        let app = &self.app;
        Ok(crate::platform::kill_switch::find(
            &open,
            &app.id,
            &app.org_id,
            &app.environment,
            app.scopes.iter().map(String::as_str),
        )
        .is_some())
    }
}

/// The grant types a client of `environment` may use: the production issuer serves
/// client credentials only.
pub fn grant_types(environment: &str) -> &'static [&'static str] {
    if environment == "production" {
        &["client_credentials"]
    } else {
        &["authorization_code", "refresh_token", "client_credentials"]
    }
}

/// Software of one organisation (`Some`), or of every organisation (bank staff,
/// `None`); `id` narrows it to one app. Newest first, production before sandbox.
async fn load(state: &AppState, org: Option<&str>, id: Option<&str>) -> Result<Vec<Software>> {
    let columns = APP_COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(&format!(
        "SELECT {columns}, a.revoked_reason, o.legal_name AS org_name, \
         COALESCE(r.tier, (SELECT MAX(t.tier) FROM tier_approvals t WHERE t.org_id = a.org_id)) AS tier \
         FROM apps a JOIN organisations o ON o.id = a.org_id \
         LEFT JOIN access_requests r ON r.id = a.access_request_id \
         WHERE a.registered_from IS NULL AND ($1 = '' OR a.org_id = $1) AND ($2 = '' OR a.id = $2) \
         ORDER BY a.environment, a.created_at DESC, a.id DESC"
    ))
    .bind(org.unwrap_or_default())
    .bind(id.unwrap_or_default())
    .fetch_all(&state.db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let app = App::from_row(&row)?;
        out.push(Software {
            id: software_id(&app.id),
            org_name: row.try_get("org_name")?,
            tier: row.try_get("tier")?,
            withdrawn_reason: if app.is_active() {
                None
            } else {
                Some(
                    row.try_get::<Option<String>, _>("revoked_reason")?
                        .unwrap_or_else(|| "revoked".into()),
                )
            },
            app,
            jwks_uri: None,
            jwks: None,
            tls_subject: None,
            tls_thumbprint: None,
            credential: None,
        });
    }
    Ok(out)
}

/// The organisation's software (`Some`), or every partner's (`None`, bank staff).
pub async fn list(state: &AppState, org: Option<&str>) -> Result<Vec<Software>> {
    load(state, org, None).await
}

/// One piece of software with its live credential's public material. Another
/// organisation's, or an id that is not a software id, is not found.
pub async fn get(state: &AppState, org: Option<&str>, software_id: &str) -> Result<Software> {
    let app_id = app_id(software_id).ok_or(Error::NotFound)?;
    let mut software = load(state, org, Some(&app_id))
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)?;
    let now = state.clock.now();
    let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "SELECT kind, material, expires_at FROM credentials WHERE app_id = $1 AND revoked_at IS NULL \
         AND expires_at > $2 ORDER BY created_at, id",
    )
    .bind(&app_id)
    .bind(now)
    .fetch_all(&state.db.pool)
    .await?;
    // The newest live credential (rotation leaves the old one live for its
    // overlap): one form of key only (RFC 7591 §2: `jwks` or `jwks_uri`, not both).
    let Some((kind, material, expires_at)) = rows.into_iter().last() else {
        return Ok(software);
    };
    software.credential = Some((kind.clone(), material.clone(), expires_at));
    if let Some(material) = material {
        match kind.as_str() {
            "jwks_uri" => software.jwks_uri = Some(material),
            "jwks" => software.jwks = serde_json::from_str(&material).ok(),
            "tls_subject" => software.tls_subject = Some(material),
            "tls_certificate" => software.tls_thumbprint = Some(material),
            _ => {}
        }
    }
    Ok(software)
}

/// Withdrawn software the directory ever issued a statement for (relying parties
/// meet software only through its statements; the rest of a partner's history is
/// not published), newest withdrawal first: the revoked-software list.
pub async fn withdrawn(state: &AppState) -> Result<Vec<(String, i64)>> {
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT a.id, a.revoked_at FROM apps a WHERE a.status = 'revoked' AND a.registered_from IS NULL \
         AND EXISTS (SELECT 1 FROM software_statements s WHERE s.app_id = a.id) \
         ORDER BY a.revoked_at DESC, a.id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, at)| (software_id(&id), at.unwrap_or_default()))
        .collect())
}

/// The bank withdraws software: its client and every credential and refresh token
/// are revoked at once (its access tokens stop at the next check), the partner's
/// admins are told, the `software.withdrawn` webhook goes out, and the directory
/// lists it as revoked.
pub async fn withdraw(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    software_id: &str,
    reason: &str,
) -> Result<Software> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control) {
        return Err(Error::Invalid(Invalid::field(
            "reason",
            "Say why the software is withdrawn (one line, at most 500 characters).",
        )));
    }
    let software = get(state, None, software_id).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if !crate::sandbox::service::revoke_app_rows(&mut tx, &software.app.id, now, "withdrawn")
        .await?
    {
        return Err(Error::Conflict(
            "This software is already withdrawn.".into(),
        ));
    }
    // The clients revoked with it (its row is locked now: none can be added).
    let registered: Vec<String> = sqlx::query_scalar(
        "SELECT client_id FROM apps WHERE registered_from = $1 AND revoked_at = $2 ORDER BY client_id",
    )
    .bind(&software.app.id)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "directory.software_withdrawn")
            .client(client)
            .org(Some(&software.app.org_id))
            .resource("software", &software.id)
            .details(json!({
                "app_id": software.app.id,
                "client_id": software.app.client_id,
                "environment": software.app.environment,
                "reason": reason,
                "registered_clients_revoked": registered,
            })),
    )
    .await?;
    crate::onboarding::service::notify_partner_admins(
        &mut tx,
        &software.app.org_id,
        "The bank withdrew one of your software records",
        &format!(
            "The bank withdrew {} ({}, {}).\n\nReason: {reason}\n\nIts client, the clients registered from it and all their credentials are revoked. If the directory ever issued a statement for it, its signed revoked-software list now names it.\n",
            software.app.name, software.id, software.app.environment
        ),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    super::statement::forget_list(state);
    Ok(software)
}
