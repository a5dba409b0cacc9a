//! The audit trail: browsing, export and the periodic checks of the hash-chained
//! events every security-relevant action records (the chain itself is a platform
//! mechanism, `platform::audit`, re-exported here).

pub mod pages;

#[cfg(feature = "ssr")]
pub mod handlers;

#[cfg(feature = "ssr")]
pub use crate::platform::audit::{chain, checkpoint, keyring, record, Event};
pub use crate::platform::audit::{Actor, AuditFilter, AuditRow};

/// The audit trail's periodic jobs: verifying the chain, and signing checkpoints.
#[cfg(feature = "ssr")]
pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    use crate::platform::state::AppState;
    vec![
        crate::job!(
            "audit_chain_check",
            300,
            |state: AppState, now| async move {
                let verdict = chain::check_and_record(&state.db, now).await?;
                if !matches!(verdict, chain::Verdict::Intact { .. }) {
                    tracing::error!(verdict = %verdict, "the audit chain does not verify");
                    return Ok(serde_json::json!({ "verdict": verdict.to_string() }));
                }
                // The chain alone trusts `keyed_from` and the head from the database:
                // the signed checkpoints written so far catch a cut-off tail or a
                // changed `keyed_from` (review finding L3).
                let path = state.settings.audit_checkpoint_path();
                let Ok(text) = std::fs::read_to_string(&path) else {
                    return Ok(serde_json::json!({ "verdict": verdict.to_string() }));
                };
                let finding = checkpoint::check(&state.db, &text).await?;
                if matches!(finding, checkpoint::Finding::Fails { .. }) {
                    tracing::error!(finding = %finding, "the audit checkpoints do not hold");
                    chain::record_check(&state.db, now, false, &finding.to_string()).await?;
                }
                Ok(serde_json::json!({
                    "verdict": verdict.to_string(), "checkpoints": finding.to_string(),
                }))
            }
        ),
        crate::job!("audit_checkpoint", 60, |state: AppState, now| async move {
            let interval = state.settings.audit_checkpoint_seconds;
            let written = checkpoint::write_if_due(&state, now, interval).await?;
            Ok(serde_json::json!({ "written": written.is_some() }))
        }),
    ]
}
