//! The lifecycle policy: for the sandbox and for each tier, how long a credential
//! may go unused before it is revoked as dormant, when expiry is warned of, the
//! longest rotation overlap, and the grace periods after an owner leaves and after
//! evidence expires. The maximum credential lifetime stays on the tier (and
//! `--sandbox-credential-days` for the sandbox), where it already was.
//!
//! Every save is a new version (`lifecycle_policies`); the highest version is in
//! force, and it is what the sweep and every page read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

/// The rules for one environment or tier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// No successful use for this many days: warned 7 days before, then revoked.
    pub dormancy_days: i64,
    /// Expiry is warned of this many days before, once each (descending).
    pub warning_days: Vec<i64>,
    /// The longest a rotated-out credential may stay valid beside its successor.
    pub max_overlap_hours: i64,
    /// After the owner leaves, the days the partner has to name a new one.
    pub owner_grace_days: i64,
    /// After evidence a tier relied on expires, the days before its clients are suspended.
    pub evidence_grace_days: i64,
    /// Production clients must name the addresses they call from (an IP allow-list).
    #[serde(default)]
    pub require_ip_allowlist: bool,
}

/// The whole policy: the sandbox's rules and each tier's, by level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub sandbox: Rules,
    pub tiers: BTreeMap<i64, Rules>,
}

/// A saved version of the policy.
#[derive(Clone, Debug)]
pub struct Version {
    pub version: i64,
    pub policy: Lifecycle,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
}

/// Days before dormancy revocation that the owner is warned.
pub const DORMANCY_WARNING_DAYS: i64 = 7;
/// The longest an exception may run, from the day it is asked for.
pub const MAX_EXCEPTION_DAYS: i64 = 90;

fn rules(dormancy_days: i64, max_overlap_hours: i64) -> Rules {
    Rules {
        dormancy_days,
        warning_days: vec![30, 7, 1],
        max_overlap_hours,
        owner_grace_days: 14,
        evidence_grace_days: 30,
        require_ip_allowlist: false,
    }
}

impl Default for Lifecycle {
    /// The suggested defaults: dormancy 90 days in the sandbox, 180 / 90 / 30 for
    /// Tiers 1 / 2 / 3; the higher the tier, the shorter the overlap.
    fn default() -> Self {
        Self {
            sandbox: rules(90, 168),
            tiers: BTreeMap::from([
                (1, rules(180, 72)),
                (2, rules(90, 48)),
                (
                    3,
                    Rules {
                        require_ip_allowlist: true,
                        ..rules(30, 24)
                    },
                ),
            ]),
        }
    }
}

impl Rules {
    /// The warning lead times already reached for something ending at `until`, most
    /// urgent (smallest) first.
    pub fn leads_reached(&self, until: i64, now: i64) -> Vec<i64> {
        let mut leads: Vec<i64> = self
            .warning_days
            .iter()
            .copied()
            .filter(|d| until - now <= d * 86_400)
            .collect();
        leads.sort_unstable();
        leads
    }
}

impl Lifecycle {
    /// The rules for a client: the sandbox's, or its tier's (a tier the policy does
    /// not name yet gets the strictest tier's rules).
    pub fn for_client(&self, environment: &str, tier: Option<i64>) -> &Rules {
        if environment != "production" {
            return &self.sandbox;
        }
        tier.and_then(|t| self.tiers.get(&t))
            .or_else(|| self.tiers.values().min_by_key(|r| r.dormancy_days))
            .unwrap_or(&self.sandbox)
    }
}

/// The version in force (the highest). Written at start-up if there is none.
pub async fn in_force(state: &AppState) -> Result<Version> {
    let row: Option<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT version, content, note, created_by, created_at FROM lifecycle_policies ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(&state.db.pool)
    .await?;
    match row {
        Some((version, content, note, created_by, created_at)) => Ok(Version {
            version,
            policy: serde_json::from_str(&content).map_err(Error::internal)?,
            note,
            created_by,
            created_at,
        }),
        None => Ok(Version {
            version: 0,
            policy: Lifecycle::default(),
            note: "defaults".into(),
            created_by: "system".into(),
            created_at: 0,
        }),
    }
}

pub async fn versions(state: &AppState) -> Result<Vec<(i64, String, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT version, note, created_by, created_at FROM lifecycle_policies ORDER BY version DESC",
    )
    .fetch_all(&state.db.pool)
    .await?)
}

/// Writes version 1 (the defaults) on a fresh installation; several instances
/// starting at once write it once.
pub async fn ensure_default(state: &AppState) -> Result<()> {
    let content = serde_json::to_string(&Lifecycle::default()).map_err(Error::internal)?;
    sqlx::query(
        "INSERT INTO lifecycle_policies (id, version, content, note, created_by, created_at) \
         VALUES ($1, 1, $2, 'The suggested defaults', 'system', $3) ON CONFLICT (version) DO NOTHING",
    )
    .bind(ids::new_id("lcp"))
    .bind(content)
    .bind(state.clock.now())
    .execute(&state.db.pool)
    .await?;
    Ok(())
}

/// The form's keys for one set of rules: `sandbox_…` or `tier2_…`.
pub fn field(prefix: &str, name: &str) -> String {
    format!("{prefix}_{name}")
}

pub fn prefixes(policy: &Lifecycle) -> Vec<(String, String)> {
    let mut out = vec![("sandbox".to_string(), "Sandbox".to_string())];
    for level in policy.tiers.keys() {
        out.push((format!("tier{level}"), format!("Tier {level}")));
    }
    out
}

fn number(
    invalid: &mut Invalid,
    values: &BTreeMap<String, String>,
    key: &str,
    range: (i64, i64),
    what: &str,
) -> i64 {
    let value = values.get(key).map(|v| v.trim()).unwrap_or_default();
    match value.parse::<i64>() {
        Ok(n) if (range.0..=range.1).contains(&n) => n,
        _ => {
            invalid.add(
                key,
                format!(
                    "Enter {what} as a whole number from {} to {}.",
                    range.0, range.1
                ),
            );
            0
        }
    }
}

/// Reads one set of rules from the form (`values`), naming each wrong field.
fn parse_rules(invalid: &mut Invalid, values: &BTreeMap<String, String>, prefix: &str) -> Rules {
    let key = |name| field(prefix, name);
    let warnings_key = key("warning_days");
    let mut warning_days: Vec<i64> = Vec::new();
    let text = values.get(&warnings_key).cloned().unwrap_or_default();
    for part in text.split([',', ' ']).filter(|p| !p.is_empty()) {
        match part.parse::<i64>() {
            Ok(n) if (1..=365).contains(&n) && !warning_days.contains(&n) => warning_days.push(n),
            _ => {
                invalid.add(
                    &warnings_key,
                    "List the warning lead times as days from 1 to 365, separated by commas, each once.",
                );
                break;
            }
        }
    }
    if warning_days.is_empty() || warning_days.len() > 5 {
        invalid.add(&warnings_key, "Give from one to five warning lead times.");
    }
    warning_days.sort_unstable_by(|a, b| b.cmp(a));
    Rules {
        dormancy_days: number(
            invalid,
            values,
            &key("dormancy_days"),
            (8, 3650),
            "the dormancy threshold in days",
        ),
        warning_days,
        max_overlap_hours: number(
            invalid,
            values,
            &key("max_overlap_hours"),
            (1, 720),
            "the longest overlap in hours",
        ),
        owner_grace_days: number(
            invalid,
            values,
            &key("owner_grace_days"),
            (1, 180),
            "the grace after an owner leaves in days",
        ),
        evidence_grace_days: number(
            invalid,
            values,
            &key("evidence_grace_days"),
            (0, 180),
            "the grace after evidence expires in days",
        ),
        require_ip_allowlist: values
            .get(&key("require_ip_allowlist"))
            .is_some_and(|v| v == "on" || v == "1"),
    }
}

/// Saves the form as the next version, in force at once.
pub async fn save(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    values: &BTreeMap<String, String>,
) -> Result<i64> {
    let current = in_force(state).await?;
    let mut invalid = Invalid::new();
    let sandbox = parse_rules(&mut invalid, values, "sandbox");
    let mut tiers = BTreeMap::new();
    for level in current.policy.tiers.keys() {
        tiers.insert(
            *level,
            parse_rules(&mut invalid, values, &format!("tier{level}")),
        );
    }
    let note = values
        .get("note")
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    if note.is_empty() || note.chars().count() > 500 {
        invalid.add(
            "note",
            "Say why the policy changes (at most 500 characters).",
        );
    }
    invalid.into_result()?;
    let policy = Lifecycle { sandbox, tiers };
    if policy == current.policy {
        return Err(Error::Invalid(Invalid::field(
            "note",
            "Nothing changed: this is the policy in force.",
        )));
    }
    let content = serde_json::to_string(&policy).map_err(Error::internal)?;
    let mut tx = state.db.begin().await?;
    let version = current.version + 1;
    // The version's uniqueness makes two admins saving at once a conflict, not a merge.
    let inserted = sqlx::query(
        "INSERT INTO lifecycle_policies (id, version, content, note, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (version) DO NOTHING",
    )
    .bind(ids::new_id("lcp"))
    .bind(version)
    .bind(&content)
    .bind(&note)
    .bind(&admin.email)
    .bind(state.clock.now())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() != 1 {
        return Err(Error::Conflict(
            "Someone saved the policy at the same time: reload the page and check it.".into(),
        ));
    }
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "lifecycle.policy_saved")
            .client(client)
            .resource("lifecycle_policy", &version.to_string())
            .details(json!({ "version": version, "note": note, "policy": policy })),
    )
    .await?;
    tx.commit().await?;
    Ok(version)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_suggested_thresholds() {
        let policy = Lifecycle::default();
        assert_eq!(policy.sandbox.dormancy_days, 90);
        assert_eq!(policy.for_client("production", Some(1)).dormancy_days, 180);
        assert_eq!(policy.for_client("production", Some(2)).dormancy_days, 90);
        assert_eq!(policy.for_client("production", Some(3)).dormancy_days, 30);
        // An unknown tier gets the strictest rules, never the sandbox's.
        assert_eq!(policy.for_client("production", Some(9)).dormancy_days, 30);
        assert_eq!(policy.sandbox.warning_days, vec![30, 7, 1]);
    }

    #[test]
    fn the_form_names_each_wrong_field() {
        let mut values = BTreeMap::new();
        values.insert("sandbox_dormancy_days".to_string(), "3".to_string());
        values.insert("sandbox_warning_days".to_string(), "30, 7, x".to_string());
        values.insert("sandbox_max_overlap_hours".to_string(), "24".to_string());
        values.insert("sandbox_owner_grace_days".to_string(), "14".to_string());
        values.insert("sandbox_evidence_grace_days".to_string(), "30".to_string());
        let mut invalid = Invalid::new();
        parse_rules(&mut invalid, &values, "sandbox");
        let fields: Vec<&str> = invalid.fields.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            vec!["sandbox_warning_days", "sandbox_dormancy_days"]
        );
    }
}
