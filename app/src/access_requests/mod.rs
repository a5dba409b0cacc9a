//! Production access requests: a partner admin asks for production credentials for
//! one sandbox app; Gatehouse gathers the facts (tier, dossier, sandbox readiness,
//! history), the risk policy (`policy`, Rego) routes the request, reviewers decide,
//! and approval issues the credential under the production issuer.

pub mod handlers;
pub mod model;
pub mod pages;
pub mod policy;
pub mod readiness;
pub mod service;
