//! Single sign-on (issue 28): bank staff sign in through the bank's OpenID
//! provider, on the `openidconnect` crate. Roles come from the provider's groups
//! at every sign-in; accounts are made just in time for people in a mapped group;
//! the provider's `acr`/`amr` counts as the second factor when it proves one, and a
//! fresh sign-in there confirms a decision; back-channel logout ends sessions at
//! once; the scheduler deactivates staff not seen for a while.

pub mod config;
pub mod handlers;
pub mod pages;
pub mod partner;
pub mod partner_handlers;
pub mod partner_members;
pub mod provider;
pub mod service;
pub mod staff;

pub use config::IdpConfig;
pub use provider::Registry;

pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "sso_dormant_staff",
        3_600,
        |state: crate::AppState, now| async move { staff::deactivate_dormant(&state, now).await }
    )]
}
