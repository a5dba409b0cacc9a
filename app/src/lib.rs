//! Gatehouse: the partner onboarding portal.
//!
//! This crate holds the server-rendered Leptos pages (always compiled, also for
//! `hydrate`) and, under the `ssr` feature, the application core: the database,
//! the business rules (service functions) and the thin axum handlers over them.
//! It is organised by feature: `accounts`, `audit`, `mail`, `dashboard`, …

pub mod accounts;
pub mod audit;
pub mod dashboard;
pub mod home;
pub mod platform;
pub mod sandbox;

#[cfg(feature = "ssr")]
pub mod access_requests;
#[cfg(feature = "ssr")]
pub mod agreements;
#[cfg(feature = "ssr")]
pub mod clients;
#[cfg(feature = "ssr")]
pub mod directory;
#[cfg(feature = "ssr")]
pub mod evidence_packs;
#[cfg(feature = "ssr")]
pub mod governance;
#[cfg(feature = "ssr")]
pub mod incidents;
#[cfg(feature = "ssr")]
pub mod instances;
#[cfg(feature = "ssr")]
pub mod mail;
#[cfg(feature = "ssr")]
pub mod oauth;
#[cfg(feature = "ssr")]
pub mod offboarding;
#[cfg(feature = "ssr")]
pub mod onboarding;
#[cfg(feature = "ssr")]
pub mod ops;
#[cfg(feature = "ssr")]
pub mod oversight;
#[cfg(feature = "ssr")]
pub mod residency;
#[cfg(feature = "ssr")]
pub mod reviews;
#[cfg(feature = "ssr")]
pub mod slas;
#[cfg(feature = "ssr")]
pub mod sso;
#[cfg(feature = "ssr")]
pub mod webhooks;

#[cfg(feature = "ssr")]
pub use platform::{settings::Settings, state::AppState};
