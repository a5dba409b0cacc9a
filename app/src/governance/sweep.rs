//! The sweep: the background rules that keep the inventory true.
//!
//! [`plan`] works out, from the inventory rows and the lifecycle policy in force,
//! every action due at a time — warn of expiry, note an expiry, warn of and revoke
//! dormancy, flag and suspend ownerless clients, warn of and lapse exceptions,
//! warn of expiring evidence and suspend the clients that relied on it, warn of and
//! suspend for agreements not accepted by their deadline — without
//! changing anything: `gatehouse governance preview` prints it. [`run`] applies the
//! same plan.
//!
//! Each action has a key naming its subject and occasion (`expiry:crd_…:7`). It is
//! applied in one transaction that first inserts the key into `governance_notices`:
//! when the key is already there (an earlier run, or another instance at the same
//! moment), nothing is done and nothing is sent. So re-running the sweep sends
//! nothing new, and two instances send each notice exactly once.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::inventory::{self, Context, Row};
use super::policy::DORMANCY_WARNING_DAYS;
use crate::audit::{self, Actor, Event};
use crate::platform::db::Tx;
use crate::platform::error::Result;
use crate::platform::progress;
use crate::platform::state::AppState;
use crate::platform::time::day;

/// What the sweep does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Expiry is `days` away (the most urgent lead time reached).
    ExpiryWarning,
    /// The client's last credential has expired: it is refused now.
    Expired,
    /// No use for the threshold less seven days: revoked in a week unless used.
    DormancyWarning,
    /// No use for the threshold: the credential is revoked, reason "dormant".
    RevokeDormant,
    /// The owner has left: the partner admins are asked to name a new one.
    OwnerMissing,
    /// The grace after the owner left has passed: the client is suspended.
    SuspendOwnerless,
    /// The client has an owner again: its ownerless flag and suspension go.
    OwnerRestored,
    /// A granted exception ends within seven days.
    ExceptionWarning,
    /// A granted exception has ended; the client is suspended if it still breaks the rule.
    ExceptionLapsed,
    /// A suspension for a lapsed exception whose client now complies is lifted.
    PolicyRestored,
    /// Evidence an approved tier relied on expires within a lead time.
    EvidenceWarning,
    /// The grace after evidence expired has passed: the tier's clients are suspended.
    SuspendForEvidence,
    /// Accepted evidence is current again: the evidence suspension is lifted.
    EvidenceRestored,
    /// A material agreement version awaits acceptance (window open, 7 and 1 days left).
    AgreementWarning,
    /// Its deadline has passed: the tier's production clients are suspended.
    SuspendForAgreement,
    /// Nothing is overdue any more: the agreement suspension is lifted.
    AgreementRestored,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExpiryWarning => "expiry_warning",
            Self::Expired => "expired",
            Self::DormancyWarning => "dormancy_warning",
            Self::RevokeDormant => "revoke_dormant",
            Self::OwnerMissing => "owner_missing",
            Self::SuspendOwnerless => "suspend_ownerless",
            Self::OwnerRestored => "owner_restored",
            Self::ExceptionWarning => "exception_warning",
            Self::ExceptionLapsed => "exception_lapsed",
            Self::PolicyRestored => "policy_restored",
            Self::EvidenceWarning => "evidence_warning",
            Self::SuspendForEvidence => "suspend_for_evidence",
            Self::EvidenceRestored => "evidence_restored",
            Self::AgreementWarning => "agreement_warning",
            Self::SuspendForAgreement => "suspend_for_agreement",
            Self::AgreementRestored => "agreement_restored",
        }
    }
}

/// One action of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct Action {
    pub kind: Kind,
    /// Unique per subject and occasion: the action happens once.
    pub key: String,
    pub org_id: String,
    pub organisation: String,
    pub app_id: Option<String>,
    pub client_id: Option<String>,
    pub credential_id: Option<String>,
    /// The exception or evidence the action is about.
    pub subject_id: Option<String>,
    /// The owner to tell, besides the partner admins.
    #[serde(skip)]
    pub owner_id: Option<String>,
    pub description: String,
    /// Lead times already passed that this action also settles (their keys).
    #[serde(skip)]
    pub also_settles: Vec<String>,
    /// A dormancy revocation: the last use the plan saw. A use recorded since (the
    /// request-log writer records in batches) cancels it.
    #[serde(skip)]
    pub idle_since: Option<i64>,
}

impl Action {
    /// An action about the client of `row` as a whole (no one credential).
    pub(super) fn for_org(kind: Kind, key: String, row: &Row, description: String) -> Self {
        Self {
            credential_id: None,
            ..Self::for_row(kind, key, row, description)
        }
    }

    fn for_row(kind: Kind, key: String, row: &Row, description: String) -> Self {
        Self {
            kind,
            key,
            org_id: row.org_id.clone(),
            organisation: row.organisation.clone(),
            app_id: Some(row.app_id.clone()),
            client_id: Some(row.client_id.clone()),
            credential_id: row.credential_id.clone(),
            subject_id: None,
            owner_id: row.owner.as_ref().map(|_| row.owner_id.clone()),
            description,
            also_settles: Vec::new(),
            idle_since: None,
        }
    }
}

/// Every key already used: those actions are done.
async fn done_keys(state: &AppState) -> Result<HashSet<String>> {
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM governance_notices")
        .fetch_all(&state.db.pool)
        .await?;
    Ok(keys.into_iter().collect())
}

/// The credential rows grouped by client, in inventory order.
fn by_client(rows: &[Row]) -> BTreeMap<&str, Vec<&Row>> {
    let mut out: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        out.entry(row.app_id.as_str()).or_default().push(row);
    }
    out
}

fn credential_plan(ctx: &Context, rows: &[&Row], done: &HashSet<String>, plan: &mut Vec<Action>) {
    let now = ctx.now;
    // The credential that carries the client on: the usable one expiring last. A
    // credential rotated out (expiring inside its overlap) warns nobody.
    let latest = rows
        .iter()
        .filter(|r| r.credential_id.is_some() && r.app_active && r.revoked_at.is_none())
        .max_by_key(|r| r.expires_at.unwrap_or(0));
    for row in rows {
        let Some(credential) = row.credential_id.as_deref() else {
            continue;
        };
        if !row.app_active || row.revoked_at.is_some() {
            continue;
        }
        let rules = ctx.policy.for_client(&row.environment, row.tier);
        let is_latest = latest.is_some_and(|l| l.credential_id.as_deref() == Some(credential));
        let expires_at = row.expires_at.unwrap_or(i64::MAX);
        if expires_at <= now {
            let key = format!("expired:{credential}");
            if is_latest && !done.contains(&key) {
                plan.push(Action::for_row(
                    Kind::Expired,
                    key,
                    row,
                    format!(
                        "credential {credential} of {} expired on {}: it is refused",
                        row.client_name,
                        day(expires_at)
                    ),
                ));
            }
            continue;
        }
        // Dormancy first: a credential about to be revoked is not also warned of expiry.
        let idle_since = row.last_use_or_creation();
        let threshold = rules.dormancy_days * 86_400;
        if now - idle_since >= threshold {
            let key = format!("dormant:{credential}");
            if !done.contains(&key) {
                let mut action = Action::for_row(
                    Kind::RevokeDormant,
                    key,
                    row,
                    format!(
                        "revoke credential {credential} of {}: no successful use since {} ({} days; the threshold is {})",
                        row.client_name, day(idle_since), (now - idle_since) / 86_400, rules.dormancy_days
                    ),
                );
                action.idle_since = Some(idle_since);
                plan.push(action);
            }
            continue;
        }
        if now - idle_since >= threshold - DORMANCY_WARNING_DAYS * 86_400 {
            // Keyed by the last use: used again and idle again, it is warned again.
            let key = format!("dormancy_warning:{credential}:{idle_since}");
            if !done.contains(&key) {
                plan.push(Action::for_row(
                    Kind::DormancyWarning,
                    key,
                    row,
                    format!(
                        "warn: credential {credential} of {} is revoked as dormant on {} unless it is used",
                        row.client_name, day(idle_since + threshold)
                    ),
                ));
            }
        }
        if !is_latest {
            continue;
        }
        let reached = rules.leads_reached(expires_at, now);
        let Some(most_urgent) = reached.first().copied() else {
            continue;
        };
        let key = format!("expiry:{credential}:{most_urgent}");
        if !done.contains(&key) {
            let mut action = Action::for_row(
                Kind::ExpiryWarning,
                key,
                row,
                format!(
                    "warn: credential {credential} of {} expires on {} ({most_urgent}-day warning)",
                    row.client_name,
                    day(expires_at)
                ),
            );
            action.also_settles = reached[1..]
                .iter()
                .map(|d| format!("expiry:{credential}:{d}"))
                .filter(|k| !done.contains(k))
                .collect();
            plan.push(action);
        }
    }
}

fn owner_plan(ctx: &Context, row: &Row, done: &HashSet<String>, plan: &mut Vec<Action>) {
    let now = ctx.now;
    let rules = ctx.policy.for_client(&row.environment, row.tier);
    let ownerless_suspended = ctx
        .suspensions
        .iter()
        .any(|s| !s.derived && s.origin == "ownerless" && s.target == row.app_id);
    match (&row.owner, row.owner_lost_at) {
        (None, None) => {
            let key = format!("owner_missing:{}:{}", row.app_id, row.owner_id);
            if !done.contains(&key) {
                plan.push(Action::for_org(
                    Kind::OwnerMissing,
                    key,
                    row,
                    format!(
                        "flag {}: its owner has left; the partner admins are asked to name a new owner within {} days",
                        row.client_name, rules.owner_grace_days
                    ),
                ));
            }
        }
        (None, Some(lost_at))
            if now - lost_at >= rules.owner_grace_days * 86_400 && !ownerless_suspended =>
        {
            plan.push(Action::for_org(
                Kind::SuspendOwnerless,
                format!("suspend_ownerless:{}:{lost_at}", row.app_id),
                row,
                format!(
                    "suspend {}: no owner since {} ({}-day grace passed)",
                    row.client_name,
                    day(lost_at),
                    rules.owner_grace_days
                ),
            ));
        }
        (Some(_), Some(lost_at)) => {
            plan.push(Action::for_org(
                Kind::OwnerRestored,
                format!("owner_restored:{}:{lost_at}", row.app_id),
                row,
                format!(
                    "{} has an owner again: its ownerless flag and suspension are lifted",
                    row.client_name
                ),
            ));
        }
        _ => {}
    }
}

/// Exceptions: warned seven days before their end, lapsed at it.
async fn exception_plan(
    state: &AppState,
    ctx: &Context,
    clients: &BTreeMap<&str, Vec<&Row>>,
    done: &HashSet<String>,
    plan: &mut Vec<Action>,
) -> Result<()> {
    let now = ctx.now;
    let granted: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT id, app_id, rule, ends_at FROM policy_exceptions WHERE status = 'granted' ORDER BY ends_at, id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    for (id, app_id, rule, ends_at) in granted {
        let Some(row) = clients.get(app_id.as_str()).and_then(|rows| rows.first()) else {
            continue;
        };
        let action = |kind, key: String, description: String| {
            let mut a = Action::for_org(kind, key, row, description);
            a.subject_id = Some(id.clone());
            a
        };
        if ends_at <= now {
            plan.push(action(
                Kind::ExceptionLapsed,
                format!("exception_lapsed:{id}"),
                format!("lapse exception {id} ({rule}) of {}: it ended on {}; the client is suspended if it still breaks the rule", row.client_name, day(ends_at)),
            ));
        } else if ends_at - now <= DORMANCY_WARNING_DAYS * 86_400 {
            let key = format!("exception_warning:{id}");
            if !done.contains(&key) {
                plan.push(action(
                    Kind::ExceptionWarning,
                    key,
                    format!(
                        "warn: exception {id} ({rule}) of {} ends on {}",
                        row.client_name,
                        day(ends_at)
                    ),
                ));
            }
        }
    }
    // A client suspended for a lapsed exception is restored once it complies.
    for suspension in ctx
        .suspensions
        .iter()
        .filter(|s| !s.derived && s.origin == "exception_lapsed")
    {
        if let Some(row) = clients
            .get(suspension.target.as_str())
            .and_then(|rows| rows.first())
        {
            if row.policy_breaches.is_empty() || !row.app_active {
                plan.push(Action::for_org(
                    Kind::PolicyRestored,
                    format!("policy_restored:{}", suspension.id),
                    row,
                    format!(
                        "{} complies again: its suspension for a lapsed exception is lifted",
                        row.client_name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The plan at `now`: every action the sweep would take, changing nothing.
pub async fn plan(state: &AppState, now: i64) -> Result<Vec<Action>> {
    let ctx = Context::load(state, now).await?;
    let rows = inventory::all(state, &ctx, None, "").await?;
    let done = done_keys(state).await?;
    let clients = by_client(&rows);
    let mut plan = Vec::new();
    for rows in clients.values() {
        let Some(first) = rows.first() else { continue };
        if !first.app_active {
            continue;
        }
        credential_plan(&ctx, rows, &done, &mut plan);
        owner_plan(&ctx, first, &done, &mut plan);
    }
    exception_plan(state, &ctx, &clients, &done, &mut plan).await?;
    super::evidence::plan(state, &ctx, &clients, &done, &mut plan).await?;
    super::agreements::plan(state, &ctx, &clients, &done, &mut plan).await?;
    Ok(plan)
}

/// What a run did, for `job_runs` and the CLI.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub applied: Vec<Action>,
    /// Actions another run (or instance) had already taken.
    pub skipped: usize,
}

impl Report {
    pub fn summary(&self) -> Value {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for action in &self.applied {
            *counts.entry(action.kind.as_str()).or_insert(0) += 1;
        }
        json!({ "applied": counts, "skipped": self.skipped })
    }
}

/// Applies the plan at `now`. Safe to run on several instances at once.
pub async fn run(state: &AppState, now: i64) -> Result<Report> {
    let mut report = Report::default();
    let mut changed = false;
    let plan = plan(state, now).await?;
    progress::begin("Taking the sweep's actions", Some(plan.len() as u64));
    for action in plan {
        let applied = apply(state, &action, now).await?;
        progress::advance(1);
        if applied {
            changed |= !matches!(
                action.kind,
                Kind::ExpiryWarning
                    | Kind::DormancyWarning
                    | Kind::ExceptionWarning
                    | Kind::EvidenceWarning
                    | Kind::AgreementWarning
                    | Kind::Expired
                    | Kind::OwnerMissing
            );
            report.applied.push(action);
        } else {
            report.skipped += 1;
        }
    }
    if changed {
        state.oauth().cache.changed();
    }
    Ok(report)
}

/// Inserts the action's key; false when it was already taken (nothing is done).
/// A lead time passed over (`settled`) is recorded under the kind `settled`.
async fn take(tx: &mut Tx, action: &Action, key: &str, now: i64) -> Result<bool> {
    let settled = key != action.key;
    let inserted = sqlx::query(
        "INSERT INTO governance_notices (key, kind, org_id, app_id, credential_id, message, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(if settled { "settled" } else { action.kind.as_str() })
    .bind(&action.org_id)
    .bind(&action.app_id)
    .bind(&action.credential_id)
    .bind(&action.description)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The owner (when still a member) and the organisation's partner admins.
pub(super) async fn tell_org(
    tx: &mut Tx,
    action: &Action,
    subject: &str,
    body: &str,
) -> Result<()> {
    let mut recipients: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE org_id = $1 AND status = 'active' AND (role = 'partner_admin' OR id = $2) ORDER BY email",
    )
    .bind(&action.org_id)
    .bind(action.owner_id.as_deref().unwrap_or_default())
    .fetch_all(&mut **tx)
    .await?;
    recipients.dedup();
    let body = format!(
        "Hello,\n\n{body}\nYou receive this as a partner admin of your organisation in Gatehouse, or as the owner of the client it concerns.\n"
    );
    for email in recipients {
        crate::mail::enqueue(tx, &email, subject, &body).await?;
    }
    Ok(())
}

fn system() -> Actor {
    Actor::system("governance sweep")
}

pub(super) async fn record_action(
    tx: &mut Tx,
    action: &Action,
    name: &str,
    details: Value,
) -> Result<()> {
    audit::record(
        tx,
        Event::new(system(), name)
            .org(Some(&action.org_id))
            .resource(
                if action.credential_id.is_some() {
                    "credential"
                } else {
                    "app"
                },
                action
                    .credential_id
                    .as_deref()
                    .or(action.app_id.as_deref())
                    .unwrap_or_default(),
            )
            .details(details),
    )
    .await?;
    Ok(())
}

/// Marks the notices about a client's subject resolved (they leave the dashboards).
pub(super) async fn resolve_notices(
    tx: &mut Tx,
    app_id: &str,
    kinds: &[&str],
    now: i64,
) -> Result<()> {
    for kind in kinds {
        sqlx::query("UPDATE governance_notices SET resolved_at = $1 WHERE app_id = $2 AND kind = $3 AND resolved_at IS NULL")
            .bind(now)
            .bind(app_id)
            .bind(kind)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Applies one action in one transaction; false when it had already been taken.
async fn apply(state: &AppState, action: &Action, now: i64) -> Result<bool> {
    let mut tx = state.db.begin().await?;
    if !take(&mut tx, action, &action.key, now).await? {
        return Ok(false);
    }
    for key in &action.also_settles {
        take(&mut tx, action, key, now).await?;
    }
    let app_id = action.app_id.clone().unwrap_or_default();
    let client = action.client_id.clone().unwrap_or_default();
    let details =
        json!({ "key": action.key, "client_id": client, "description": action.description });
    let link = state.settings.link("/governance/inventory");
    // Whether the action changed anything: a webhook tells partners of changes only
    // (review finding L2: no second `credential.revoked` for a credential the
    // partner had revoked already, no `client.suspended` for a client that was).
    let mut changed = true;
    match action.kind {
        Kind::ExpiryWarning => {
            record_action(&mut tx, action, "governance.expiry_warned", details).await?;
            tell_org(&mut tx, action, "A credential expires soon", &format!(
                "{}.\n\nRotate it before then so your software keeps working. See your inventory: {link}\n", for_people(&action.description)
            )).await?;
        }
        Kind::Expired => {
            record_action(&mut tx, action, "governance.credential_expired", details).await?;
            tell_org(
                &mut tx,
                action,
                "A credential has expired",
                &format!(
                    "{}.\n\nTokens are refused with it from now on. See your inventory: {link}\n",
                    for_people(&action.description)
                ),
            )
            .await?;
        }
        Kind::DormancyWarning => {
            record_action(&mut tx, action, "governance.dormancy_warned", details).await?;
            tell_org(&mut tx, action, "An unused credential will be revoked", &format!(
                "{}.\n\nCredentials nobody uses are revoked automatically. See your inventory: {link}\n", for_people(&action.description)
            )).await?;
        }
        Kind::RevokeDormant => {
            let credential = action.credential_id.clone().unwrap_or_default();
            // Not if it was used since the plan looked (review finding L2).
            let revoked = sqlx::query(
                "UPDATE credentials SET revoked_at = $1, revoked_reason = 'dormant' WHERE id = $2 AND revoked_at IS NULL \
                 AND COALESCE(last_token_at, 0) <= $3 AND COALESCE(last_used_at, 0) <= $3",
            )
            .bind(now)
            .bind(&credential)
            .bind(action.idle_since.unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
            if revoked.rows_affected() != 1 {
                // Revoked meanwhile, or used again: nothing happens, and the key is not
                // spent (the transaction rolls back), so a later idle spell is judged
                // again.
                return Ok(false);
            }
            {
                // Refresh tokens need the client to authenticate, which this
                // credential can no longer do; access tokens it obtained are
                // inactive at once (`oauth::jwt::check`).
                record_action(&mut tx, action, "governance.credential_revoked", json!({ "reason": "dormant", "key": action.key, "client_id": client, "description": action.description })).await?;
                tell_org(&mut tx, action, "An unused credential was revoked (dormant)", &format!(
                    "Gatehouse revoked a credential because it was not used: {}.\n\nReason: dormant.\nIssue a new credential if the software still needs access. See your inventory: {link}\n",
                    action.description.trim_start_matches("revoke ")
                )).await?;
            }
        }
        Kind::OwnerMissing => {
            sqlx::query(
                "UPDATE apps SET owner_lost_at = $1 WHERE id = $2 AND owner_lost_at IS NULL",
            )
            .bind(now)
            .bind(&app_id)
            .execute(&mut *tx)
            .await?;
            record_action(&mut tx, action, "governance.owner_missing", details).await?;
            tell_org(
                &mut tx,
                action,
                "Name a new owner for a client",
                &format!(
                    "{}.\n\nEvery client needs a named owner. Name one on the client's page: {}\n",
                    for_people(&action.description),
                    state.settings.link(&client_page(action))
                ),
            )
            .await?;
        }
        Kind::SuspendOwnerless => {
            changed = super::suspension::suspend_for_rule(
                &mut tx,
                &app_id,
                "ownerless",
                "no owner: name a new owner to lift",
                now,
            )
            .await?;
            record_action(
                &mut tx,
                action,
                "governance.suspended",
                json!({ "origin": "ownerless", "key": action.key, "client_id": client }),
            )
            .await?;
            tell_org(&mut tx, action, "A client was suspended: it has no owner", &format!(
                "{}.\n\nName a new owner on the client's page and the suspension is lifted at once: {}\n",
                for_people(&action.description), state.settings.link(&client_page(action))
            )).await?;
        }
        Kind::OwnerRestored => {
            sqlx::query("UPDATE apps SET owner_lost_at = NULL WHERE id = $1")
                .bind(&app_id)
                .execute(&mut *tx)
                .await?;
            super::suspension::lift_for_rule(&mut tx, &app_id, "ownerless", now).await?;
            resolve_notices(
                &mut tx,
                &app_id,
                &["owner_missing", "suspend_ownerless"],
                now,
            )
            .await?;
            record_action(&mut tx, action, "governance.owner_restored", details).await?;
        }
        Kind::ExceptionWarning => {
            record_action(&mut tx, action, "governance.exception_warned", details).await?;
            tell_org(
                &mut tx,
                action,
                "An exception ends soon",
                &format!(
                    "{}.\n\nComply with the rule before then, or ask for a new exception. {link}\n",
                    for_people(&action.description)
                ),
            )
            .await?;
        }
        Kind::ExceptionLapsed => {
            let id = action.subject_id.clone().unwrap_or_default();
            sqlx::query("UPDATE policy_exceptions SET status = 'lapsed', version = version + 1 WHERE id = $1 AND status = 'granted'")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            let still_breaks = super::exceptions::breaks_rule(state, &mut tx, &id).await?;
            if still_breaks {
                let _ = super::suspension::suspend_for_rule(
                    &mut tx,
                    &app_id,
                    "exception_lapsed",
                    "out of policy: an exception lapsed",
                    now,
                )
                .await?;
            }
            record_action(
                &mut tx,
                action,
                "governance.exception_lapsed",
                json!({ "exception_id": id, "suspended": still_breaks, "client_id": client }),
            )
            .await?;
            let consequence = if still_breaks {
                "The client still breaks the rule, so it is suspended until it complies."
            } else {
                "The client complies with the rule: nothing else changes."
            };
            tell_org(
                &mut tx,
                action,
                "An exception has lapsed",
                &format!(
                    "{}.\n\n{consequence} {link}\n",
                    for_people(&action.description)
                ),
            )
            .await?;
        }
        Kind::PolicyRestored => {
            super::suspension::lift_for_rule(&mut tx, &app_id, "exception_lapsed", now).await?;
            record_action(&mut tx, action, "governance.policy_restored", details).await?;
        }
        Kind::EvidenceWarning | Kind::SuspendForEvidence | Kind::EvidenceRestored => {
            changed = super::evidence::apply(state, &mut tx, action, now).await?;
        }
        Kind::AgreementWarning | Kind::SuspendForAgreement | Kind::AgreementRestored => {
            changed = super::agreements::apply(state, &mut tx, action, now).await?;
        }
    }
    if let Some(event) = crate::webhooks::sweep_event(action.kind.as_str()).filter(|_| changed) {
        let data = json!({
            "app_id": action.app_id, "client_id": action.client_id,
            "credential_id": action.credential_id, "subject_id": action.subject_id,
            "description": action.description,
        });
        crate::webhooks::emit(&mut tx, &action.org_id, event, data, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

pub(super) fn client_page(action: &Action) -> String {
    format!(
        "/governance/clients/{}",
        action.app_id.as_deref().unwrap_or_default()
    )
}

pub(super) use crate::platform::format::capitalise;

pub(super) use super::sweep_text::for_people;
