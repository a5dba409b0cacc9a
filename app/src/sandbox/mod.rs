//! The sandbox: partners' sandbox apps (OAuth2 clients) and their credentials,
//! customer consents, the request log, and the docs page.

pub mod catalogue;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod data;
#[cfg(feature = "ssr")]
pub mod handlers;
#[cfg(feature = "ssr")]
pub mod model;
#[cfg(feature = "ssr")]
pub mod pages;
#[cfg(feature = "ssr")]
pub mod reqlog;
#[cfg(feature = "ssr")]
pub mod service;
