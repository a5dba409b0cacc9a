//! Accounts: organisations, users, sign-up, sign-in, second factor, password
//! reset and change, invitations, members and staff.

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
