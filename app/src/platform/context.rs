//! The request context every page handler extracts: the session, the signed-in
//! user (re-checked against the database on every request), the CSRF form token,
//! the flash message and where the request came from.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Html;
use leptos::prelude::AnyView;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::authz::Role;
use super::authz::{self, Action};
use super::crypto;
use super::error::{Error, Result};
use super::state::AppState;
use super::ui::{self, Chrome, Viewer};
use crate::platform::audit::Actor;

/// Session keys.
pub mod keys {
    pub const USER_ID: &str = "uid";
    pub const EPOCH: &str = "epoch";
    pub const AUTH_AT: &str = "auth_at";
    pub const CSRF: &str = "csrf";
    pub const FLASH: &str = "flash";
    pub const MFA_PENDING: &str = "mfa_pending";
    pub const TOTP_ENROL: &str = "totp_enrol";
    pub const RECOVERY_CODES: &str = "recovery_codes";
    /// Whether this session itself proved a second factor (a TOTP or recovery code
    /// at sign-in, or the code that enrolled the authenticator in this session).
    pub const SECOND_FACTOR: &str = "second_factor";
    /// The identity provider proved a second factor at this session's sign-in
    /// (its `acr`/`amr`, issue 28): it stands for Gatehouse's own.
    pub const IDP_MFA: &str = "idp_mfa";
    /// The identity provider's latest fresh confirmation of the person (a step-up
    /// before a decision): the id of its `sso_step_ups` row, used up by the decision.
    pub const IDP_STEP_UP: &str = "idp_step_up";
}

/// The signed-in user, as loaded for this request.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub org_id: Option<String>,
    pub org_name: Option<String>,
    pub email_verified: bool,
    pub mfa_enabled: bool,
}

impl AuthUser {
    pub fn actor(&self) -> Actor {
        Actor::user(&self.id, &self.email)
    }

    /// The active user with this e-mail address, as if signed in (demo seeding acts
    /// through the same services a signed-in user would).
    pub async fn by_email(state: &AppState, email: &str) -> Result<Option<Self>> {
        type Row = (
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
        );
        let row: Option<Row> =
            sqlx::query_as(
                "SELECT u.id, u.email, u.display_name, u.role, u.org_id, o.legal_name, u.email_verified_at, u.totp_enabled_at \
                 FROM users u LEFT JOIN organisations o ON o.id = u.org_id WHERE u.email = $1 AND u.status = 'active'",
            )
            .bind(email)
            .fetch_optional(&state.db.pool)
            .await?;
        Ok(row.and_then(
            |(id, email, display_name, role, org_id, org_name, verified, totp)| {
                Some(Self {
                    id,
                    email,
                    display_name,
                    role: Role::parse(&role)?,
                    org_id,
                    org_name,
                    email_verified: verified.is_some(),
                    mfa_enabled: totp.is_some(),
                })
            },
        ))
    }
}

/// Where a request came from, for the audit trail.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    /// The client address (the peer, or what a trusted proxy forwarded: see
    /// `proxy`) and the user agent, cut to 256 characters.
    pub fn of(extensions: &axum::http::Extensions, headers: &axum::http::HeaderMap) -> Self {
        let forwarded = extensions
            .get::<super::proxy::ClientAddr>()
            .map(|super::proxy::ClientAddr(ip)| ip.to_string());
        Self {
            ip: forwarded
                .or_else(|| {
                    extensions
                        .get::<ConnectInfo<SocketAddr>>()
                        .map(|ConnectInfo(addr)| addr.ip().to_string())
                })
                .unwrap_or_default(),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(256).collect())
                .unwrap_or_default(),
        }
    }
}

pub struct Ctx {
    pub state: AppState,
    pub session: Session,
    pub user: Option<AuthUser>,
    pub csrf: String,
    pub flash: Option<String>,
    pub client: ClientInfo,
    pub path: String,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| Error::Internal(msg.to_string()))?;
        let user = load_user(state, &session).await?;
        let csrf = csrf_token(&session).await?;
        let flash = session
            .remove::<String>(keys::FLASH)
            .await
            .map_err(Error::internal)?;
        let client = ClientInfo::of(&parts.extensions, &parts.headers);
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        Ok(Self {
            state: state.clone(),
            session,
            user,
            csrf,
            flash,
            client,
            path,
        })
    }
}

/// The per-session CSRF form token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String> {
    if let Some(token) = session
        .get::<String>(keys::CSRF)
        .await
        .map_err(Error::internal)?
    {
        return Ok(token);
    }
    let token = crypto::random_token();
    session
        .insert(keys::CSRF, &token)
        .await
        .map_err(Error::internal)?;
    Ok(token)
}

/// id, email, name, role, organisation id and name, verified at, TOTP at, status, epoch.
type SessionUserRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    String,
    i64,
);

/// Loads the session's user, ending the session when it no longer holds: the user
/// was removed or disabled, their session epoch moved on (password change, disable,
/// role change), or the absolute lifetime ran out.
async fn load_user(state: &AppState, session: &Session) -> Result<Option<AuthUser>> {
    let Some(user_id) = session
        .get::<String>(keys::USER_ID)
        .await
        .map_err(Error::internal)?
    else {
        return Ok(None);
    };
    let epoch = session
        .get::<i64>(keys::EPOCH)
        .await
        .map_err(Error::internal)?
        .unwrap_or(-1);
    let auth_at = session
        .get::<i64>(keys::AUTH_AT)
        .await
        .map_err(Error::internal)?
        .unwrap_or(0);
    let second_factor = session
        .get::<bool>(keys::SECOND_FACTOR)
        .await
        .map_err(Error::internal)?
        .unwrap_or(false);
    let idp_mfa = session
        .get::<bool>(keys::IDP_MFA)
        .await
        .map_err(Error::internal)?
        .unwrap_or(false);
    let row: Option<SessionUserRow> = sqlx::query_as(
            "SELECT u.id, u.email, u.display_name, u.role, u.org_id, o.legal_name, u.email_verified_at, \
                    u.totp_enabled_at, u.status, u.session_epoch \
             FROM users u LEFT JOIN organisations o ON o.id = u.org_id WHERE u.id = $1",
        )
        .bind(&user_id)
        .fetch_optional(&state.db.pool)
        .await?;
    // Bank staff have a shorter absolute cap (issue 28: eight hours by default).
    let staff = row
        .as_ref()
        .and_then(|r| Role::parse(&r.3))
        .is_some_and(Role::is_staff);
    let hours = if staff {
        state
            .settings
            .session_absolute_hours
            .min(state.settings.staff_session_hours)
    } else {
        state.settings.session_absolute_hours
    };
    let expired = state.clock.now() - auth_at > hours * 3600;
    match row {
        Some((
            id,
            email,
            display_name,
            role,
            org_id,
            org_name,
            verified,
            totp,
            status,
            current_epoch,
            // Second-factor rights belong to the session, not the account: a session
            // opened with the password alone ends once the account has a second factor
            // (enrolled elsewhere), instead of gaining its rights (issue 18 item 14).
        )) if status == "active"
            && current_epoch == epoch
            && !expired
            && (totp.is_none() || second_factor) =>
        {
            let role = Role::parse(&role)
                .ok_or_else(|| Error::Internal(format!("unknown role {role}")))?;
            Ok(Some(AuthUser {
                id,
                email,
                display_name,
                role,
                org_id,
                org_name,
                email_verified: verified.is_some(),
                mfa_enabled: second_factor && (totp.is_some() || idp_mfa),
            }))
        }
        _ => {
            session.flush().await.map_err(Error::internal)?;
            Ok(None)
        }
    }
}

/// Marks the session as signed in as `user_id`, recording whether it proved a second
/// factor, and when (`now`, the application's clock: the absolute lifetime counts
/// from it). The session id is cycled (no fixation) and the CSRF token renewed.
pub async fn start_signed_in_session(
    session: &Session,
    user_id: &str,
    epoch: i64,
    second_factor: bool,
    now: i64,
) -> Result<()> {
    session.cycle_id().await.map_err(Error::internal)?;
    session
        .insert(keys::SECOND_FACTOR, second_factor)
        .await
        .map_err(Error::internal)?;
    session
        .remove::<serde_json::Value>(keys::MFA_PENDING)
        .await
        .map_err(Error::internal)?;
    // What an identity provider proved belongs to the sign-in that received it.
    for key in [keys::IDP_MFA, keys::IDP_STEP_UP] {
        session
            .remove::<serde_json::Value>(key)
            .await
            .map_err(Error::internal)?;
    }
    session
        .insert(keys::USER_ID, user_id)
        .await
        .map_err(Error::internal)?;
    session
        .insert(keys::EPOCH, epoch)
        .await
        .map_err(Error::internal)?;
    session
        .insert(keys::AUTH_AT, now)
        .await
        .map_err(Error::internal)?;
    session
        .insert(keys::CSRF, crypto::random_token())
        .await
        .map_err(Error::internal)?;
    Ok(())
}

impl Ctx {
    /// The signed-in user, or a redirect to the sign-in page.
    pub fn user(&self) -> Result<&AuthUser> {
        self.user.as_ref().ok_or_else(|| Error::SignInRequired {
            next: self.path.clone(),
        })
    }

    /// The signed-in user if they may do `action`. Before anything else a user must
    /// verify their e-mail, and bank staff must have a second factor.
    pub fn require(&self, action: Action) -> Result<&AuthUser> {
        let user = self.user()?;
        if !user.email_verified && !authz::allowed_unverified(action) {
            return Err(Error::Redirect("/verify-email/pending".into()));
        }
        if user.role.is_staff() && !user.mfa_enabled && !authz::allowed_without_mfa(action) {
            return Err(Error::Redirect("/account/totp".into()));
        }
        authz::check(user.role, user.mfa_enabled, action)
            .map_err(|denied| Error::Forbidden(denied.to_string()))?;
        Ok(user)
    }

    pub fn actor(&self) -> Actor {
        self.user
            .as_ref()
            .map(AuthUser::actor)
            .unwrap_or_else(Actor::anonymous)
    }

    pub async fn set_flash(&self, message: impl Into<String>) -> Result<()> {
        self.session
            .insert(keys::FLASH, message.into())
            .await
            .map_err(Error::internal)
    }

    pub fn chrome(&self) -> Chrome {
        Chrome {
            viewer: self.user.as_ref().map(|u| Viewer {
                name: u.display_name.clone(),
                email: u.email.clone(),
                role: u.role,
                org_name: u.org_name.clone(),
                verified: u.email_verified,
            }),
            csrf: self.csrf.clone(),
            flash: self.flash.clone(),
            mailbox: self.state.settings.dev_mailbox(),
            path: self.path.split('?').next().unwrap_or("/").to_string(),
        }
    }

    /// The whole page around `body`.
    pub fn render(&self, title: &str, body: AnyView) -> Html<String> {
        Html(ui::render_page(&self.chrome(), title, body))
    }
}
