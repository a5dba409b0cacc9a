//! The sandbox: partners' sandbox apps (OAuth2 clients) and their credentials,
//! the synthetic data and the API over it, customer consents, and the docs page.
//! The apps' model, scopes and request log are `clients`'.

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod data;
#[cfg(feature = "ssr")]
pub mod docs;
#[cfg(feature = "ssr")]
pub mod handlers;
#[cfg(feature = "ssr")]
pub mod pages;
#[cfg(feature = "ssr")]
pub mod readiness;
#[cfg(feature = "ssr")]
pub mod revocation;
#[cfg(feature = "ssr")]
pub mod service;
