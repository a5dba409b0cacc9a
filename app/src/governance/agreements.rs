//! Agreements in the sweep (issue 32): an organisation with production clients
//! whose tier's production agreement has a material version it has not accepted is
//! told when the window opens and reminded 7 days and 1 day before its deadline;
//! once the deadline passes, its production clients of that tier are suspended
//! (origin `agreement`). Accepting lifts them at once (`agreements::accept`); the
//! sweep lifts any left once nothing is overdue.

use std::collections::{BTreeMap, HashSet};

use serde_json::json;

use super::inventory::{Context, Row};
use super::sweep::{self, Action, Kind};
use crate::agreements::{self, Standing};
use crate::platform::db::Tx;
use crate::platform::error::Result;
use crate::platform::state::AppState;

/// The reminders before a deadline, in days, most urgent first.
const REMINDERS: [i64; 2] = [1, 7];

/// The agreement actions due: warnings, suspensions, and lifts once accepted.
pub async fn plan(
    state: &AppState,
    ctx: &Context,
    clients: &BTreeMap<&str, Vec<&Row>>,
    done: &HashSet<String>,
    plan: &mut Vec<Action>,
) -> Result<()> {
    let now = ctx.now;
    // Active production clients by organisation and tier.
    let mut by_org: BTreeMap<(&str, i64), Vec<&Row>> = BTreeMap::new();
    for rows in clients.values() {
        if let Some(first) = rows.first() {
            if first.environment == "production" && first.app_active {
                let tier = first.tier.unwrap_or(0);
                by_org
                    .entry((first.org_id.as_str(), tier))
                    .or_default()
                    .push(first);
            }
        }
    }
    for ((org_id, tier), apps) in by_org {
        let owed = agreements::obligations(state, org_id, tier, "production", now).await?;
        let Some(first) = apps.first() else { continue };
        let overdue: Vec<&agreements::Obligation> =
            owed.iter().filter(|o| o.is_overdue(now)).collect();
        for obligation in &owed {
            let deadline = match obligation.standing {
                Standing::Due { deadline } => deadline,
                // (No deadline at all before the organisation's approval.)
                Standing::Required { deadline } if deadline > now && deadline != i64::MAX => {
                    deadline
                }
                _ => continue,
            };
            let version = &obligation.current;
            // The most urgent reminder reached, or the notice that the window is open.
            let reached: Vec<String> = REMINDERS
                .iter()
                .filter(|days| deadline - now <= *days * 86_400)
                .map(|days| days.to_string())
                .chain(std::iter::once("open".to_string()))
                .collect();
            let key = format!("agreement_warning:{}:{org_id}:{}", version.id, reached[0]);
            if done.contains(&key) || plan.iter().any(|a| a.key == key) {
                continue;
            }
            let mut action = Action::for_org(
                Kind::AgreementWarning,
                key,
                first,
                format!(
                    "warn: {} must be accepted by {}, or the production clients of Tier {tier} are suspended",
                    version.name(),
                    crate::platform::time::day(deadline)
                ),
            );
            action.subject_id = Some(version.id.clone());
            action.also_settles = reached[1..]
                .iter()
                .map(|lead| format!("agreement_warning:{}:{org_id}:{lead}", version.id))
                .filter(|k| !done.contains(k))
                .collect();
            plan.push(action);
        }
        for app in apps {
            let suspended = ctx
                .suspensions
                .iter()
                .any(|s| !s.derived && s.origin == "agreement" && s.target == app.app_id);
            match (overdue.first(), suspended) {
                (Some(obligation), false) => {
                    let mut action = Action::for_org(
                        Kind::SuspendForAgreement,
                        format!(
                            "suspend_for_agreement:{}:{}",
                            app.app_id, obligation.current.id
                        ),
                        app,
                        format!(
                            "suspend {}: {} was not accepted by its deadline",
                            app.client_name,
                            obligation.current.name()
                        ),
                    );
                    action.subject_id = Some(obligation.current.id.clone());
                    plan.push(action);
                }
                (None, true) => plan.push(Action::for_org(
                    Kind::AgreementRestored,
                    format!("agreement_restored:{}:{now}", app.app_id),
                    app,
                    format!(
                        "{}: its tier's agreements are accepted; the suspension is lifted",
                        app.client_name
                    ),
                )),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Applies an agreement action (inside the sweep's transaction). False when it
/// changed nothing (the client was suspended already).
pub async fn apply(state: &AppState, tx: &mut Tx, action: &Action, now: i64) -> Result<bool> {
    let mut changed = true;
    let app_id = action.app_id.clone().unwrap_or_default();
    let details = json!({ "key": action.key, "agreement_version_id": action.subject_id, "description": action.description });
    let link = state.settings.link(&format!(
        "/agreements/{}",
        action.subject_id.as_deref().unwrap_or_default()
    ));
    match action.kind {
        Kind::AgreementWarning => {
            sweep::record_action(tx, action, "governance.agreement_warned", details).await?;
            sweep::tell_org(
                tx,
                action,
                "An agreement needs your acceptance",
                &format!(
                    "{}.\n\nA partner admin reads and accepts it here: {link}\n",
                    sweep::for_people(&action.description)
                ),
            )
            .await?;
        }
        Kind::SuspendForAgreement => {
            // Accepted since the plan was made: nothing to suspend.
            if !agreements::overdue_on(tx, &app_id, now).await? {
                return Ok(false);
            }
            changed = super::suspension::suspend_for_rule(
                tx,
                &app_id,
                "agreement",
                "agreement not accepted: accepting the version in force lifts it",
                now,
            )
            .await?;
            sweep::record_action(
                tx,
                action,
                "governance.suspended",
                json!({ "origin": "agreement", "key": action.key, "agreement_version_id": action.subject_id }),
            )
            .await?;
            sweep::tell_org(
                tx,
                action,
                "A production client was suspended: an agreement was not accepted",
                &format!(
                    "{}.\n\nA partner admin accepts the agreement and the suspension is lifted at once: {link}\n",
                    sweep::for_people(&action.description)
                ),
            )
            .await?;
        }
        Kind::AgreementRestored => {
            super::suspension::lift_for_rule(tx, &app_id, "agreement", now).await?;
            sweep::resolve_notices(tx, &app_id, &["suspend_for_agreement"], now).await?;
            sweep::record_action(tx, action, "governance.agreement_restored", details).await?;
        }
        _ => {}
    }
    Ok(changed)
}
