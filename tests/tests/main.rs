//! Gatehouse's integration and end-to-end tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod accounts;
mod audit;
mod audit_keyed;
mod browser;
mod browser_axe;
mod browser_governance;
mod browser_onboarding;
mod browser_production;
mod browser_reviews;
mod conformance;
mod evidence_packs;
mod gateway;
mod governance;
mod hardening;
mod incidents;
mod integrity;
mod interop;
mod mail;
mod members;
mod mtls;
mod oauth;
mod oauth_negative;
mod offboarding;
mod offboarding_resume;
mod offboarding_retention;
mod onboarding;
mod ops;
mod oversight;
mod production;
mod reviews;
mod sandbox;
mod sandbox_api;
mod sandbox_helpers;
