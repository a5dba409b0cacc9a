//! The two decisions on an item: the partner admin's attestation, then the bank's.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::Item;
use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;

const JUSTIFICATION_MAX: usize = 500;

fn field<'a>(values: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    values
        .get(name)
        .map(String::as_str)
        .unwrap_or_default()
        .trim()
}

/// The scopes a form keeps (`keep_<scope>` = 1), in `allowed`'s order, and any it
/// names outside `allowed`.
fn kept(values: &BTreeMap<String, String>, allowed: &[String]) -> (Vec<String>, Vec<String>) {
    let named: Vec<&str> = values
        .iter()
        .filter(|(_, value)| value.as_str() == "1")
        .filter_map(|(name, _)| name.strip_prefix("keep_"))
        .collect();
    let keep = allowed
        .iter()
        .filter(|s| named.contains(&s.as_str()))
        .cloned()
        .collect();
    let outside = named
        .iter()
        .filter(|s| !allowed.iter().any(|a| a == *s))
        .map(|s| s.to_string())
        .collect();
    (keep, outside)
}

async fn current_scopes(tx: &mut Tx, app_id: &str) -> Result<(Vec<String>, String)> {
    // The client's row first: two reviews answered at once (a tier campaign and an
    // organisation campaign) take turns, so neither writes back scopes the other
    // removed (review finding L7).
    sqlx::query("UPDATE apps SET scopes = scopes WHERE id = $1")
        .bind(app_id)
        .execute(&mut **tx)
        .await?;
    let (scopes, status): (String, String) =
        sqlx::query_as("SELECT scopes, status FROM apps WHERE id = $1")
            .bind(app_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok((super::words(&scopes), status))
}

/// Writes the client's `current` scopes without the `removed` ones, in their order.
async fn narrow(
    tx: &mut Tx,
    app_id: &str,
    current: &[String],
    removed: &[&String],
    now: i64,
) -> Result<()> {
    let remaining: Vec<&String> = current.iter().filter(|s| !removed.contains(s)).collect();
    sqlx::query("UPDATE apps SET scopes = $1, updated_at = $2 WHERE id = $3 AND status = 'active'")
        .bind(
            remaining
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
        .bind(now)
        .bind(app_id)
        .execute(&mut **tx)
        .await?;
    // Clients registered from it with a software statement (RFC 7591) lose the
    // removed scopes too: they never hold more than their software.
    let registered: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, scopes FROM apps WHERE registered_from = $1 AND status = 'active'",
    )
    .bind(app_id)
    .fetch_all(&mut **tx)
    .await?;
    for (id, scopes) in registered {
        let kept: Vec<&str> = scopes
            .split_whitespace()
            .filter(|s| !removed.iter().any(|r| r.as_str() == *s))
            .collect();
        sqlx::query("UPDATE apps SET scopes = $1, updated_at = $2 WHERE id = $3")
            .bind(kept.join(" "))
            .bind(now)
            .bind(&id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn stale() -> Error {
    Error::Conflict("This review item was already answered, or changed since you opened it.".into())
}

/// The partner admin attests: whether the client is still needed, which of its
/// scopes it keeps (each with a reason). Narrowing takes effect at once; a scope the
/// client does not hold cannot be added here.
pub async fn attest(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    id: &str,
    values: &BTreeMap<String, String>,
) -> Result<()> {
    let org_id = admin.org_id.as_deref().ok_or(Error::NotFound)?;
    let item = super::item(state, Some(org_id), id).await?;
    if !matches!(item.state.as_str(), "awaiting_partner" | "unanswered")
        || field(values, "version") != item.version.to_string()
    {
        return Err(stale());
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (current, status) = current_scopes(&mut tx, &item.app_id).await?;
    if status != "active" {
        return Err(Error::Conflict("This client is no longer active.".into()));
    }
    let allowed: Vec<String> = item
        .scopes
        .iter()
        .filter(|s| current.contains(s))
        .cloned()
        .collect();
    let mut invalid = Invalid::new();
    let still_needed = match field(values, "still_needed") {
        "yes" => Some(true),
        "no" => Some(false),
        _ => {
            invalid.add("still_needed", "Say whether the client is still needed.");
            None
        }
    };
    let (keep, outside) = kept(values, &allowed);
    if !outside.is_empty() {
        invalid.add(
            "scopes",
            format!(
                "A review can only keep or remove scopes, not add them: {} cannot be added here (ask for it in a production request).",
                outside.join(", ")
            ),
        );
    }
    let mut justifications = Map::new();
    if still_needed == Some(true) {
        if keep.is_empty() && outside.is_empty() {
            invalid.add(
                "scopes",
                "Keep at least one scope, or say that the client is no longer needed.",
            );
        }
        for scope in &keep {
            let reason = field(values, &format!("justification_{scope}"));
            if reason.is_empty() || reason.chars().count() > JUSTIFICATION_MAX {
                let unused = if item.unused_scopes.contains(scope) {
                    " It was not used in the review period."
                } else {
                    ""
                };
                invalid.add(
                    &format!("justification_{scope}"),
                    format!("Say why the client still needs {scope} (at most {JUSTIFICATION_MAX} characters).{unused}"),
                );
            } else {
                justifications.insert(scope.clone(), Value::String(reason.to_string()));
            }
        }
    }
    invalid.into_result()?;
    let still_needed = still_needed == Some(true);
    let keep = if still_needed { keep } else { Vec::new() };
    let updated = sqlx::query(
        "UPDATE review_items SET state = 'awaiting_bank', still_needed = $1, kept_scopes = $2, justifications = $3, \
         attested_by = $4, attested_at = $5, version = version + 1 \
         WHERE id = $6 AND version = $7 AND state IN ('awaiting_partner', 'unanswered')",
    )
    .bind(i64::from(still_needed))
    .bind(keep.join(" "))
    .bind(Value::Object(justifications.clone()).to_string())
    .bind(&admin.id)
    .bind(now)
    .bind(id)
    .bind(item.version)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(stale());
    }
    let removed: Vec<&String> = allowed.iter().filter(|s| !keep.contains(s)).collect();
    if !still_needed {
        // The partner's own choice: a retirement, which the risk policy does not count
        // as a revocation by the bank.
        crate::sandbox::service::revoke_app_rows(&mut tx, &item.app_id, now, "retired").await?;
    } else if !removed.is_empty() {
        narrow(&mut tx, &item.app_id, &current, &removed, now).await?;
    }
    sqlx::query(
        "UPDATE governance_notices SET resolved_at = $1 WHERE key LIKE $2 AND resolved_at IS NULL",
    )
    .bind(now)
    .bind(format!("review:{id}:%"))
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "review.attested")
            .client(client)
            .org(Some(org_id))
            .resource("review_item", id)
            .details(json!({
                "campaign": item.campaign_id, "app_id": item.app_id, "client_id": item.client_id,
                "still_needed": still_needed, "kept": keep, "removed": removed,
                "justifications": justifications,
            })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}

pub const DECISIONS: [(&str, &str); 3] = [
    ("confirm", "Confirm the partner's answer"),
    ("narrow", "Narrow further"),
    ("revoke", "Revoke the client"),
];

/// A bank reviewer decides on an attested item: confirm, narrow further, or revoke.
/// Confirming (or narrowing) lifts a suspension the review took for a late answer.
pub async fn decide(
    state: &AppState,
    reviewer: &AuthUser,
    client: &ClientInfo,
    id: &str,
    values: &BTreeMap<String, String>,
) -> Result<Item> {
    if reviewer.org_id.is_some() || !reviewer.role.is_staff() {
        return Err(Error::Forbidden(
            "Only a reviewer at the bank decides an access review item.".into(),
        ));
    }
    let item = super::item(state, None, id).await?;
    if let Some(reason) =
        crate::onboarding::review::conflict_by_membership(state, &reviewer.email, &item.org_id)
            .await?
    {
        return Err(Error::Forbidden(reason));
    }
    if item.state != "awaiting_bank" || field(values, "version") != item.version.to_string() {
        return Err(Error::Conflict(
            "This review item is not waiting for the bank, or changed since you opened it.".into(),
        ));
    }
    let decision = field(values, "decision");
    let note = field(values, "note");
    let kept_by_partner = item.kept_scopes.clone().unwrap_or_default();
    let mut invalid = Invalid::new();
    if !DECISIONS.iter().any(|(d, _)| *d == decision) {
        invalid.add("decision", "Choose confirm, narrow or revoke.");
    }
    if decision != "confirm" && (note.is_empty() || note.chars().count() > 1000) {
        invalid.add(
            "note",
            "Say why (the partner sees it; at most 1000 characters).",
        );
    }
    let (keep, outside) = kept(values, &kept_by_partner);
    if decision == "narrow" {
        if !outside.is_empty() {
            invalid.add(
                "scopes",
                "Narrowing can only remove scopes the partner kept.",
            );
        } else if keep.is_empty() || keep.len() >= kept_by_partner.len() {
            invalid.add(
                "scopes",
                "Narrowing keeps at least one scope and removes at least one.",
            );
        }
        if item.still_needed == Some(false) {
            invalid.add(
                "decision",
                "The partner said the client is no longer needed: confirm it.",
            );
        }
    }
    invalid.into_result()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let (result_state, resulting) = match (decision, item.still_needed) {
        ("revoke", _) | ("confirm", Some(false)) => ("revoked", Vec::new()),
        // In the client's own order.
        ("narrow", _) => (
            "narrowed",
            kept_by_partner
                .iter()
                .filter(|s| keep.contains(s))
                .cloned()
                .collect(),
        ),
        _ => ("confirmed", kept_by_partner.clone()),
    };
    let updated = sqlx::query(
        "UPDATE review_items SET state = $1, bank_decision = $2, bank_note = $3, decided_by = $4, decided_at = $5, \
         resulting_scopes = $6, version = version + 1 WHERE id = $7 AND version = $8 AND state = 'awaiting_bank'",
    )
    .bind(result_state)
    .bind(decision)
    .bind(note)
    .bind(&reviewer.id)
    .bind(now)
    .bind(resulting.join(" "))
    .bind(id)
    .bind(item.version)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict(
            "This review item was already decided.".into(),
        ));
    }
    match result_state {
        "revoked" => {
            crate::sandbox::service::revoke_app_rows(&mut tx, &item.app_id, now, "review").await?;
        }
        "narrowed" => {
            // The client's scopes as they are now (its row locked): a scope another
            // review removed meanwhile is not written back (review finding L7).
            let (current, _) = current_scopes(&mut tx, &item.app_id).await?;
            let removed: Vec<&String> = kept_by_partner
                .iter()
                .filter(|s| !resulting.contains(s))
                .collect();
            narrow(&mut tx, &item.app_id, &current, &removed, now).await?;
        }
        _ => {}
    }
    if result_state != "revoked" {
        lift_review_suspension(&mut tx, &item, now).await?;
    }
    audit::record(
        &mut tx,
        Event::new(reviewer.actor(), "review.decided")
            .client(client)
            .org(Some(&item.org_id))
            .resource("review_item", id)
            .details(json!({
                "campaign": item.campaign_id, "app_id": item.app_id, "client_id": item.client_id,
                "decision": decision, "state": result_state, "resulting_scopes": resulting, "note": note,
            })),
    )
    .await?;
    crate::onboarding::service::notify_partner_admins(
        &mut tx,
        &item.org_id,
        "Your access review was decided",
        &format!(
            "The bank decided the access review of {} ({}): {}.\n\nScopes from now on: {}\n{}",
            item.client_name,
            item.client_id,
            super::state_label(result_state).to_lowercase(),
            if resulting.is_empty() {
                "none: the client is revoked".to_string()
            } else {
                resulting.join(" ")
            },
            if note.is_empty() {
                String::new()
            } else {
                format!("\nNote: {note}\n")
            }
        ),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    super::item(state, None, id).await
}

/// Lifts the suspension the review took for this item, if any.
pub(super) async fn lift_review_suspension(tx: &mut Tx, item: &Item, now: i64) -> Result<()> {
    if let Some(suspension) = item
        .outcome
        .as_deref()
        .and_then(|o| o.strip_prefix("suspended:"))
    {
        sqlx::query(
            "UPDATE suspensions SET lifted_at = $1, lifted_by = 'access review', lift_reason = 'answered and confirmed' \
             WHERE id = $2 AND lifted_at IS NULL",
        )
        .bind(now)
        .bind(suspension)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_scopes_and_attempts_to_widen() {
        let allowed = vec!["accounts".to_string(), "reference".to_string()];
        let values: BTreeMap<String, String> = [
            ("keep_accounts", "1"),
            ("keep_payments", "1"),
            ("keep_reference", ""),
            ("justification_accounts", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (keep, outside) = kept(&values, &allowed);
        assert_eq!(keep, vec!["accounts"]);
        assert_eq!(outside, vec!["payments"]);
    }
}
