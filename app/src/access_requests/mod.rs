//! Production access requests: a partner admin asks for production credentials for
//! one sandbox app; Gatehouse gathers the facts (tier, dossier, sandbox readiness,
//! history), the risk policy (`policy`, Rego) routes the request, reviewers decide,
//! and approval issues the credential under the production issuer.

#[cfg(feature = "ssr")]
pub mod demo;
pub mod handlers;
pub mod model;
pub mod pages;
pub mod policy;
pub mod policy_table;
pub mod service;

/// Production requests' periodic job: escalating requests past their review SLA.
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "access_requests_escalate",
        60,
        |state: crate::platform::state::AppState, _now| async move {
            let escalated = service::escalate_overdue(&state).await?;
            Ok(serde_json::json!({ "escalated": escalated }))
        }
    )]
}
