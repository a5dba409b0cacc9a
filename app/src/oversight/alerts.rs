//! Alerts: the rules evaluated every minute over the usage buckets (right after the
//! roll-up, in the same scheduler job), repeats grouped into the open alert,
//! e-mail to the bank's on-call roles, escalation to the admins when nobody
//! acknowledges in time, the partner admins told of high-severity alerts, and the
//! acknowledge → resolve life of an alert. Every step is a conditional update
//! (`version`, `state`) and an audit event; notices are sent in the transaction that
//! makes the change, so two instances never send one twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

use super::rules::{self, ClientFacts, Finding, MinuteFacts, RuleConfig, SourceFacts, RULES};
use super::{HOUR, MINUTE};
use crate::audit::{self, Actor, Event};
use crate::platform::context::AuthUser;
use crate::platform::context::ClientInfo;
use crate::platform::db::{Db, Tx};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;

/// Who is told of new alerts and when an alert escalates.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Escalation {
    /// Staff roles told of every new alert.
    pub oncall_roles: Vec<String>,
    /// An alert nobody acknowledged after this long is escalated to the admins.
    pub escalate_after_minutes: i64,
}

impl Default for Escalation {
    fn default() -> Self {
        Self {
            oncall_roles: vec!["reviewer".into(), "admin".into()],
            escalate_after_minutes: 30,
        }
    }
}

const ESCALATION_KEY: &str = "alerts.escalation";
pub const ONCALL_ROLES: [(&str, &str); 3] = [
    ("reviewer", "Reviewers"),
    ("approver", "Approvers"),
    ("admin", "Admins"),
];

pub async fn escalation(db: &Db) -> Result<Escalation> {
    let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(ESCALATION_KEY)
        .fetch_optional(&db.pool)
        .await?;
    Ok(value
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

/// The rules' settings in effect: the stored ones, the defaults for the rest.
pub async fn configs(db: &Db) -> Result<BTreeMap<&'static str, RuleConfig>> {
    let rows: Vec<(String, i64, String, String)> =
        sqlx::query_as("SELECT rule, enabled, severity, params FROM alert_rules")
            .fetch_all(&db.pool)
            .await?;
    let mut out = BTreeMap::new();
    for rule in RULES {
        let mut config = RuleConfig::default_for(rule);
        if let Some((_, enabled, severity, params)) = rows.iter().find(|r| r.0 == rule.id) {
            config.enabled = *enabled == 1;
            config.severity = severity.clone();
            let stored: BTreeMap<String, i64> = serde_json::from_str(params).unwrap_or_default();
            for (name, value) in stored {
                if config.params.contains_key(&name) {
                    config.params.insert(name, value);
                }
            }
        }
        out.insert(rule.id, config);
    }
    Ok(out)
}

/// A bank admin changes a rule (the form's fields: `enabled`, `severity`, and one
/// per parameter).
pub async fn save_rule(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    rule_id: &str,
    form: &BTreeMap<String, String>,
) -> Result<()> {
    let rule = rules::def(rule_id).ok_or(Error::NotFound)?;
    let mut invalid = Invalid::new();
    let severity = form.get("severity").map(String::as_str).unwrap_or_default();
    if !SEVERITIES.contains(&severity) {
        invalid.add("severity", "Choose a severity: low, medium or high.");
    }
    let mut params = BTreeMap::new();
    for p in rule.params {
        let raw = form.get(p.name).map(|v| v.trim()).unwrap_or_default();
        match raw.parse::<i64>() {
            Ok(v) if (p.min..=p.max).contains(&v) => {
                params.insert(p.name.to_string(), v);
            }
            _ => invalid.add(
                p.name,
                format!("{}: a whole number from {} to {}.", p.label, p.min, p.max),
            ),
        }
    }
    invalid.into_result()?;
    let enabled = form.get("enabled").is_some_and(|v| v == "1");
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO alert_rules (rule, enabled, severity, params, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (rule) DO UPDATE SET enabled = excluded.enabled, severity = excluded.severity, \
         params = excluded.params, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(rule.id)
    .bind(i64::from(enabled))
    .bind(severity)
    .bind(json!(params).to_string())
    .bind(&admin.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "alerts.rule_changed")
            .client(client)
            .resource("alert_rule", rule.id)
            .details(json!({ "enabled": enabled, "severity": severity, "params": params })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A bank admin changes who is on call and when alerts escalate.
pub async fn save_escalation(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    roles: &[String],
    minutes: &str,
) -> Result<()> {
    let mut invalid = Invalid::new();
    let roles: Vec<String> = ONCALL_ROLES
        .iter()
        .filter(|(r, _)| roles.iter().any(|x| x == r))
        .map(|(r, _)| r.to_string())
        .collect();
    if roles.is_empty() {
        invalid.add(
            "oncall_roles",
            "Choose at least one role to tell of new alerts.",
        );
    }
    let minutes = match minutes.trim().parse::<i64>() {
        Ok(m) if (5..=1440).contains(&m) => m,
        _ => {
            invalid.add(
                "escalate_after_minutes",
                "Escalate after a whole number of minutes from 5 to 1440.",
            );
            0
        }
    };
    invalid.into_result()?;
    let value = Escalation {
        oncall_roles: roles,
        escalate_after_minutes: minutes,
    };
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(ESCALATION_KEY)
    .bind(json!(value).to_string())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "alerts.escalation_changed")
            .client(client)
            .details(json!(value)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What the rules know of every client that called in the last hour, as of the end
/// of the last rolled-up minute `now`. The minute buckets and their detail are read
/// for the last `span_minutes` only (`rules::span_minutes`: the longest window an
/// enabled rule looks at); sources, first uses and networks for the hour.
pub async fn facts(db: &Db, now: i64, span_minutes: i64) -> Result<Vec<ClientFacts>> {
    let since = now - HOUR;
    let recent = now - span_minutes.clamp(1, 60) * MINUTE;
    let rows = sqlx::query(
        "SELECT a.id, a.org_id, a.name, a.environment, a.scopes, a.ip_allowlist, \
         (SELECT r.peak_per_second FROM access_requests r WHERE r.id = a.access_request_id) AS peak, \
         (SELECT MIN(f.first_seen_at) FROM usage_endpoints f WHERE f.app_id = a.id) AS first_seen, \
         a.allowed_countries \
         FROM apps a WHERE a.id IN (SELECT DISTINCT app_id FROM usage_series WHERE granularity = 60 AND bucket_at >= $1 AND bucket_at < $2)",
    )
    .bind(since)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    let mut clients: BTreeMap<String, ClientFacts> = BTreeMap::new();
    for row in &rows {
        let id: String = row.try_get(0)?;
        let scopes: String = row.try_get(4)?;
        let allowlist: String = row.try_get(5)?;
        clients.insert(
            id.clone(),
            ClientFacts {
                app_id: id,
                org_id: row.try_get(1)?,
                name: row.try_get(2)?,
                environment: row.try_get(3)?,
                scopes: scopes.split_whitespace().map(str::to_string).collect(),
                allowlist: allowlist
                    .split_whitespace()
                    .filter_map(|r| r.parse().ok())
                    .collect(),
                declared_peak_per_second: row.try_get(6)?,
                first_seen_at: row.try_get(7)?,
                allowed_countries: crate::clients::catalogue::split(&row.try_get::<String, _>(8)?),
                ..ClientFacts::default()
            },
        );
    }
    let detail = sqlx::query(
        "SELECT app_id, bucket_at, method, endpoint, status, error, calls FROM usage_detail \
         WHERE granularity = 60 AND bucket_at >= $1 AND bucket_at < $2 ORDER BY bucket_at",
    )
    .bind(recent)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    let mut minutes: BTreeMap<(String, i64), MinuteFacts> = BTreeMap::new();
    for row in &detail {
        let app_id: String = row.try_get(0)?;
        let at: i64 = row.try_get(1)?;
        let method: String = row.try_get(2)?;
        let endpoint: String = row.try_get(3)?;
        let status: i64 = row.try_get(4)?;
        let error: String = row.try_get(5)?;
        let calls: i64 = row.try_get(6)?;
        let Some(client) = clients.get_mut(&app_id) else {
            continue;
        };
        let m = minutes.entry((app_id.clone(), at)).or_insert(MinuteFacts {
            at,
            ..MinuteFacts::default()
        });
        m.calls += calls;
        if super::AUTH_FAILURES.contains(&error.as_str()) {
            m.auth_failures += calls;
        }
        if status == 403 || status == 404 {
            m.not_found_or_forbidden += calls;
        }
        if status == 429 {
            m.rate_limited += calls;
        }
        if error == "unauthorized_client" && endpoint.ends_with("/oauth/token") {
            m.allowlist_refusals += calls;
        }
        if let Some(scope) = crate::clients::reqlog::scope_of(&endpoint) {
            if !client.scopes.iter().any(|s| s == scope) {
                client.outside_scopes.push((
                    at,
                    format!("{method} {endpoint}"),
                    scope.to_string(),
                    calls,
                ));
            }
        }
    }
    let peaks = sqlx::query(
        "SELECT app_id, bucket_at, peak_per_second FROM usage_series WHERE granularity = 60 AND bucket_at >= $1 AND bucket_at < $2",
    )
    .bind(recent)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    for row in &peaks {
        let key: (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if let Some(m) = minutes.get_mut(&key) {
            m.peak_per_second = row.try_get(2)?;
        }
    }
    for ((app_id, _), m) in minutes {
        if let Some(client) = clients.get_mut(&app_id) {
            client.minutes.push(m);
        }
    }
    let sources = sqlx::query(
        "SELECT app_id, bucket_at, source, calls, failures FROM usage_sources WHERE bucket_at >= $1 AND bucket_at < $2",
    )
    .bind(since)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    for row in &sources {
        let app_id: String = row.try_get(0)?;
        if let Some(client) = clients.get_mut(&app_id) {
            client.sources.push(SourceFacts {
                at: row.try_get(1)?,
                source: row.try_get(2)?,
                calls: row.try_get(3)?,
                failures: row.try_get(4)?,
            });
        }
    }
    let firsts: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT app_id, method, endpoint, first_seen_at FROM usage_endpoints WHERE first_seen_at >= $1 AND first_seen_at < $2",
    )
    .bind(since)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    for (app_id, method, endpoint, at) in firsts {
        if let Some(client) = clients.get_mut(&app_id) {
            client
                .new_endpoints
                .push((format!("{method} {endpoint}"), at));
        }
    }
    let networks: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT app_id, network, first_seen_at FROM source_networks WHERE last_seen_at >= $1",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await?;
    for (app_id, network, first) in networks {
        if let Some(client) = clients.get_mut(&app_id) {
            if first >= since {
                client.new_networks.push((network, first));
            }
        }
    }
    let older: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT app_id FROM source_networks WHERE first_seen_at < $1")
            .bind(since)
            .fetch_all(&db.pool)
            .await?;
    for app_id in older {
        if let Some(client) = clients.get_mut(&app_id) {
            client.older_networks = true;
        }
    }
    let missing: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT app_id, at - (at % 60), COUNT(DISTINCT endpoint) FROM request_log \
         WHERE at >= $1 AND at < $2 AND status IN (403, 404) GROUP BY app_id, at - (at % 60)",
    )
    .bind(recent)
    .bind(now)
    .fetch_all(&db.pool)
    .await?;
    for (app_id, at, n) in missing {
        if let Some(client) = clients.get_mut(&app_id) {
            client.distinct_missing_paths.push((at, n));
        }
    }
    // The baseline: the same clock hour on each of the previous 7 days.
    let hour = now.div_euclid(HOUR) * HOUR;
    let marks: Vec<i64> = (1..=7).map(|d| hour - d * 86_400).collect();
    let baseline: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT app_id, bucket_at, calls FROM usage_series WHERE granularity = 3600 AND bucket_at IN ({})",
        marks.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
    ))
    .fetch_all(&db.pool)
    .await?;
    let baseline: std::collections::HashMap<(String, i64), i64> = baseline
        .into_iter()
        .map(|(app, at, calls)| ((app, at), calls))
        .collect();
    for client in clients.values_mut() {
        client.baseline_hours = marks
            .iter()
            .map(|mark| {
                baseline
                    .get(&(client.app_id.clone(), *mark))
                    .copied()
                    .unwrap_or(0)
            })
            .collect();
    }
    Ok(clients.into_values().collect())
}

/// Evaluates every rule at `now` (the end of the last rolled-up minute), records
/// the findings, and escalates what waited too long.
pub async fn evaluate(state: &AppState, now: i64) -> Result<Value> {
    let configs = configs(&state.db).await?;
    let mut clients = facts(&state.db, now, rules::span_minutes(configs.values())).await?;
    // Each source's country, for the clients whose countries are limited (only with
    // a country database: without one nothing is looked up).
    let geo = state.geo();
    if geo.enabled() {
        for client in clients
            .iter_mut()
            .filter(|c| !c.allowed_countries.is_empty())
        {
            for s in &client.sources {
                if !client.source_countries.contains_key(&s.source) {
                    let country = geo.country_of(&s.source);
                    client.source_countries.insert(s.source.clone(), country);
                }
            }
        }
    }
    let mut findings: Vec<(Finding, String)> = Vec::new();
    for (id, config) in &configs {
        for client in &clients {
            for f in rules::evaluate(id, config, client, now) {
                findings.push((f, config.severity.clone()));
            }
        }
        if *id == "auth_failures" {
            for f in rules::auth_failures_by_source(config, &clients, now) {
                findings.push((f, config.severity.clone()));
            }
        }
    }
    let escalation = escalation(&state.db).await?;
    let mut opened = 0;
    let mut grouped = 0;
    for (finding, severity) in &findings {
        match record(state, finding, severity, &escalation).await? {
            Recorded::Opened => opened += 1,
            Recorded::Grouped => grouped += 1,
            Recorded::Skipped => {}
        }
    }
    let escalated = escalate(state, state.clock.now(), &escalation).await?;
    refresh_gauge(state).await?;
    Ok(
        json!({ "clients": clients.len(), "opened": opened, "grouped": grouped, "escalated": escalated }),
    )
}

/// Records a finding that does not come from the request log (an instance's own
/// health, `instances::beat`) under its rule's settings: nothing when the bank turned
/// the rule off. True when it opened or added to an alert.
pub async fn raise(state: &AppState, finding: &Finding) -> Result<bool> {
    let configs = configs(&state.db).await?;
    let Some(config) = configs.get(finding.rule).filter(|c| c.enabled) else {
        return Ok(false);
    };
    let escalation = escalation(&state.db).await?;
    Ok(!matches!(
        record(state, finding, &config.severity, &escalation).await?,
        Recorded::Skipped
    ))
}

enum Recorded {
    Opened,
    Grouped,
    Skipped,
}

/// Records one finding: adds to the alert of its group that is not resolved, or
/// opens one (and tells the on-call roles), unless the group was resolved after
/// the finding's evidence.
async fn record(
    state: &AppState,
    finding: &Finding,
    severity: &str,
    escalation: &Escalation,
) -> Result<Recorded> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let evidence = evidence_json(&mut tx, finding).await?.to_string();
    let grouped = sqlx::query(
        "UPDATE alerts SET occurrences = occurrences + 1, last_seen_at = $1, evidence = $2, summary = $3, version = version + 1 \
         WHERE group_key = $4 AND state <> 'resolved' AND last_seen_at < $1",
    )
    .bind(finding.latest_at)
    .bind(&evidence)
    .bind(&finding.summary)
    .bind(&finding.group_key)
    .execute(&mut *tx)
    .await?;
    if grouped.rows_affected() == 1 {
        tx.commit().await?;
        return Ok(Recorded::Grouped);
    }
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT id FROM alerts WHERE group_key = $1 AND (state <> 'resolved' OR resolved_at >= $2) LIMIT 1",
    )
    .bind(&finding.group_key)
    .bind(finding.latest_at)
    .fetch_optional(&mut *tx)
    .await?;
    if existing.is_some() {
        return Ok(Recorded::Skipped);
    }
    let id = ids::new_id("alr");
    let inserted = sqlx::query(
        "INSERT INTO alerts (id, rule, severity, group_key, app_id, org_id, source, summary, thresholds, evidence, \
         occurrences, state, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, 'open', $11, $12) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(finding.rule)
    .bind(severity)
    .bind(&finding.group_key)
    .bind(&finding.app_id)
    .bind(&finding.org_id)
    .bind(&finding.source)
    .bind(&finding.summary)
    .bind(finding.thresholds.to_string())
    .bind(&evidence)
    .bind(now)
    .bind(finding.latest_at)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(Recorded::Skipped);
    }
    audit::record(
        &mut tx,
        Event::new(Actor::system("alert rules"), "alerts.opened")
            .org(finding.org_id.as_deref())
            .resource("alert", &id)
            .details(json!({ "rule": finding.rule, "severity": severity, "summary": finding.summary, "app_id": finding.app_id, "source": finding.source })),
    )
    .await?;
    let link = state.settings.link(&format!("/alerts/{id}"));
    let subject = format!("[{severity}] Gatehouse alert: {}", title_of(finding.rule));
    let body = format!(
        "{}\n\nSeverity: {severity}\nOpen the alert to acknowledge it, suspend the client or open an incident: {link}\n\
         Unacknowledged after {} minutes, it is escalated to the bank's admins.\n",
        finding.summary, escalation.escalate_after_minutes
    );
    for email in staff_emails(&mut tx, &escalation.oncall_roles).await? {
        crate::mail::enqueue(&mut tx, &email, &subject, &body).await?;
    }
    if severity == "high" {
        if let Some(org) = &finding.org_id {
            crate::onboarding::service::notify_partner_admins(
                &mut tx,
                org,
                &format!("Security alert on your API access: {}", title_of(finding.rule)),
                &format!(
                    "The bank's monitoring raised a high-severity alert about your organisation's API access.\n\n{}\n\n\
                     If this is not your software's doing, rotate the client's credentials and contact the bank. See your usage: {}\n",
                    finding.summary,
                    state.settings.link("/governance/inventory")
                ),
            )
            .await?;
        }
    }
    if let Some(org) = &finding.org_id {
        crate::webhooks::emit(
            &mut tx,
            org,
            "alert.opened",
            json!({ "alert_id": id, "rule": finding.rule, "severity": severity, "summary": finding.summary, "app_id": finding.app_id }),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Recorded::Opened)
}

/// The finding's evidence, with sample request ids from the request log.
async fn evidence_json(tx: &mut Tx, finding: &Finding) -> Result<Value> {
    let mut evidence = finding.evidence.clone();
    let (from, to) = finding.window;
    let samples: Vec<String> = match (&finding.app_id, &finding.source) {
        (Some(app), _) => {
            let condition = match finding.rule {
                "auth_failures" => format!("AND error IN ({})", super::auth_failures_sql()),
                "enumeration" => "AND status IN (403, 404)".to_string(),
                "rate_limit_saturation" => "AND status = 429".to_string(),
                "allowlist_miss" => "AND error = 'unauthorized_client'".to_string(),
                _ => String::new(),
            };
            sqlx::query_scalar(&format!(
                "SELECT id FROM request_log WHERE app_id = $1 AND at >= $2 AND at < $3 {condition} ORDER BY at DESC, id DESC LIMIT 5"
            ))
            .bind(app)
            .bind(from)
            .bind(to.max(from + MINUTE))
            .fetch_all(&mut **tx)
            .await?
        }
        (None, Some(source)) => sqlx::query_scalar(&format!(
            "SELECT id FROM request_log WHERE source = $1 AND at >= $2 AND at < $3 AND error IN ({}) \
             ORDER BY at DESC, id DESC LIMIT 5",
            super::unauthenticated_sql()
        ))
        .bind(source)
        .bind(from)
        .bind(to)
        .fetch_all(&mut **tx)
        .await?,
        _ => Vec::new(),
    };
    if let Some(object) = evidence.as_object_mut() {
        object.insert("window".into(), json!({ "from": from, "to": to }));
        object.insert("sample_requests".into(), json!(samples));
    }
    Ok(evidence)
}

pub fn title_of(rule: &str) -> &'static str {
    rules::def(rule).map(|r| r.title).unwrap_or("Alert")
}

async fn staff_emails(tx: &mut Tx, roles: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for role in roles {
        if !ONCALL_ROLES.iter().any(|(r, _)| r == role) {
            continue;
        }
        let emails: Vec<String> = sqlx::query_scalar(
            "SELECT email FROM users WHERE role = $1 AND status = 'active' ORDER BY email",
        )
        .bind(role)
        .fetch_all(&mut **tx)
        .await?;
        out.extend(emails);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Alerts still open (not acknowledged) past the escalation time go to the admins,
/// once each.
pub async fn escalate(state: &AppState, now: i64, escalation: &Escalation) -> Result<u64> {
    let due: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT id, rule, severity, summary FROM alerts WHERE state = 'open' AND escalated_at IS NULL AND first_seen_at <= $1",
    )
    .bind(now - escalation.escalate_after_minutes * 60)
    .fetch_all(&state.db.pool)
    .await?;
    let mut escalated = 0;
    for (id, rule, severity, summary) in due {
        let mut tx = state.db.begin().await?;
        let taken = sqlx::query(
            "UPDATE alerts SET escalated_at = $1, version = version + 1 WHERE id = $2 AND state = 'open' AND escalated_at IS NULL",
        )
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 0 {
            continue;
        }
        audit::record(
            &mut tx,
            Event::new(Actor::system("alert escalation"), "alerts.escalated")
                .resource("alert", &id)
                .details(json!({ "after_minutes": escalation.escalate_after_minutes })),
        )
        .await?;
        let body = format!(
            "Nobody acknowledged this {severity} alert within {} minutes.\n\n{summary}\n\nAcknowledge it: {}\n",
            escalation.escalate_after_minutes,
            state.settings.link(&format!("/alerts/{id}"))
        );
        for email in staff_emails(&mut tx, &["admin".to_string()]).await? {
            crate::mail::enqueue(
                &mut tx,
                &email,
                &format!("Escalated: unacknowledged alert: {}", title_of(&rule)),
                &body,
            )
            .await?;
        }
        tx.commit().await?;
        escalated += 1;
    }
    Ok(escalated)
}

/// The alert severities, the most severe first.
pub const SEVERITIES: [&str; 3] = ["high", "medium", "low"];

/// How many alerts are open (not resolved) at each severity that has any.
pub async fn open_by_severity(state: &AppState) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT severity, COUNT(*) FROM alerts WHERE state <> 'resolved' GROUP BY severity",
    )
    .fetch_all(&state.db.pool)
    .await?)
}

async fn refresh_gauge(state: &AppState) -> Result<()> {
    let counts = open_by_severity(state).await?;
    for severity in SEVERITIES {
        let n = counts
            .iter()
            .find(|(s, _)| s == severity)
            .map(|c| c.1)
            .unwrap_or(0);
        state
            .metrics
            .alerts_open
            .get_or_create(&crate::platform::metrics::SeverityLabels {
                severity: severity.into(),
            })
            .set(n);
    }
    Ok(())
}
