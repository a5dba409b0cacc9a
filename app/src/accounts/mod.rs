//! Accounts: organisations, users, sign-up, sign-in, second factor, password
//! reset and change, invitations, members and staff.

use serde::{Deserialize, Serialize};

pub mod authz;
pub mod pages;
pub mod validate;

#[cfg(feature = "ssr")]
pub mod bootstrap;
#[cfg(feature = "ssr")]
pub mod handlers;
#[cfg(feature = "ssr")]
pub mod invitation_notices;
#[cfg(feature = "ssr")]
pub mod members;
#[cfg(feature = "ssr")]
pub mod reset;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod throttle;
#[cfg(feature = "ssr")]
pub mod tokens;
#[cfg(feature = "ssr")]
pub mod totp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PartnerAdmin,
    PartnerDeveloper,
    Reviewer,
    Approver,
    Admin,
}

impl Role {
    pub const PARTNER: [Role; 2] = [Role::PartnerAdmin, Role::PartnerDeveloper];
    pub const STAFF: [Role; 3] = [Role::Reviewer, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerAdmin => "partner_admin",
            Self::PartnerDeveloper => "partner_developer",
            Self::Reviewer => "reviewer",
            Self::Approver => "approver",
            Self::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::PartnerAdmin,
            Self::PartnerDeveloper,
            Self::Reviewer,
            Self::Approver,
            Self::Admin,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::PartnerAdmin => "Partner admin",
            Self::PartnerDeveloper => "Partner developer",
            Self::Reviewer => "Reviewer",
            Self::Approver => "Approver",
            Self::Admin => "Bank admin",
        }
    }

    pub fn is_staff(self) -> bool {
        Self::STAFF.contains(&self)
    }
}

/// The member-removal form's choice of "no new owner" for the member's clients.
pub const LEAVE_OWNERLESS: &str = "none";

/// Accounts' periodic job: forgetting old sign-in attempts.
#[cfg(feature = "ssr")]
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "signin_attempts_prune",
        300,
        |state: crate::platform::state::AppState, now| async move {
            throttle::prune(&state.db, now).await?;
            Ok(serde_json::json!({}))
        }
    )]
}
