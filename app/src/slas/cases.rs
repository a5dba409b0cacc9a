//! The cases each commitment is measured on, read from the records the features
//! already keep (applications, production requests and their messages, incidents,
//! access-review items, expiry warnings and credentials). Nothing is recorded twice:
//! a figure can always be traced to its case.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{measure, Commitments, Side};
use crate::platform::error::Result;
use crate::platform::format::duration;
use crate::platform::state::AppState;

/// One measured case: when the clock started, when it stopped (`None`: still
/// running) and the commitment it is held to.
#[derive(Clone, Debug)]
pub struct Case {
    pub measure: &'static str,
    /// The record measured (an application, request, message, incident, review
    /// item or credential id).
    pub case_id: String,
    pub org_id: String,
    pub organisation: String,
    pub subject: String,
    pub bank_href: String,
    pub partner_href: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// The commitment, in seconds.
    pub target: i64,
    /// Never done at all (an access-review item left unanswered, a credential left
    /// to expire): a breach whatever the times say.
    pub missed: bool,
}

impl Case {
    pub fn elapsed(&self, now: i64) -> i64 {
        self.ended_at.unwrap_or(now) - self.started_at
    }
    pub fn breached(&self, now: i64) -> bool {
        self.missed || self.elapsed(now) > self.target
    }
    /// When the commitment ran out.
    pub fn due_at(&self) -> i64 {
        self.started_at + self.target
    }
    pub fn side(&self) -> Side {
        measure(self.measure).map(|m| m.side).unwrap_or(Side::Bank)
    }
    /// "Met", "Breached", "Open" or "Overdue".
    pub fn status(&self, now: i64) -> &'static str {
        match (self.ended_at.is_some(), self.breached(now)) {
            (true, false) => "Met",
            (true, true) => "Breached",
            (false, false) => "Open",
            (false, true) => "Overdue",
        }
    }
    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "measure": self.measure,
            "side": self.side().as_str(),
            "case": self.case_id,
            "organisation": self.organisation,
            "org_id": self.org_id,
            "subject": self.subject,
            "started_at": crate::platform::time::rfc3339(self.started_at),
            "ended_at": self.ended_at.map(crate::platform::time::rfc3339),
            "elapsed_seconds": self.elapsed(now),
            "commitment_seconds": self.target,
            "status": self.status(now).to_lowercase(),
        })
    }
}

/// Which cases to read: one organisation's or all, touching `[from, to)`.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub org: Option<&'a str>,
    pub from: i64,
    pub to: i64,
}

struct Reader<'a> {
    commitments: &'a Commitments,
    org_tiers: HashMap<String, i64>,
    scope: Scope<'a>,
    out: Vec<Case>,
}

impl Reader<'_> {
    fn org_tier(&self, org: &str) -> i64 {
        self.org_tiers.get(org).copied().unwrap_or(1)
    }

    /// Keeps the case when it touches the period.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        measure: &'static str,
        tier: i64,
        (case_id, org_id, organisation): (String, String, String),
        subject: String,
        (bank_href, partner_href): (String, String),
        started_at: i64,
        (ended_at, missed): (Option<i64>, bool),
    ) {
        let Scope { from, to, .. } = self.scope;
        if started_at >= to || ended_at.is_some_and(|e| e < from) {
            return;
        }
        let target = self.commitments.seconds(tier, measure);
        self.out.push(Case {
            measure,
            case_id,
            org_id,
            organisation,
            subject,
            bank_href,
            partner_href,
            started_at,
            ended_at,
            target,
            missed,
        });
    }
}

/// Every case in scope, oldest first.
pub async fn cases(
    state: &AppState,
    commitments: &Commitments,
    scope: Scope<'_>,
) -> Result<Vec<Case>> {
    let org_tiers: HashMap<String, i64> =
        sqlx::query_as("SELECT org_id, MAX(tier) FROM tier_approvals GROUP BY org_id")
            .fetch_all(&state.db.pool)
            .await?
            .into_iter()
            .collect();
    let mut r = Reader {
        commitments,
        org_tiers,
        scope,
        out: Vec::new(),
    };
    let org = scope.org.unwrap_or_default();
    let pool = &state.db.pool;

    // The bank's decisions on onboarding applications.
    let rows: Vec<(String, String, String, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT a.id, a.org_id, o.legal_name, a.tier, a.submitted_at, a.decided_at FROM applications a \
         JOIN organisations o ON o.id = a.org_id \
         WHERE a.submitted_at IS NOT NULL AND a.status IN ('submitted', 'approved', 'rejected') AND ($1 = '' OR a.org_id = $1) \
         AND a.submitted_at < $3 AND (a.decided_at IS NULL OR a.decided_at >= $2)",
    )
    .bind(org)
    .bind(scope.from)
    .bind(scope.to)
    .fetch_all(pool)
    .await?;
    for (id, org_id, name, tier, submitted, decided) in rows {
        r.push(
            "application_decision",
            tier,
            (id.clone(), org_id, name),
            format!("Tier {tier} onboarding application"),
            (
                format!("/review/applications/{id}"),
                format!("/onboarding/{id}"),
            ),
            submitted,
            (decided, false),
        );
    }

    // The bank's decisions on production requests a person decides.
    type RequestRow = (
        String,
        String,
        String,
        i64,
        String,
        i64,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<RequestRow> = sqlx::query_as(
        "SELECT r.id, r.org_id, o.legal_name, r.tier, a.name, r.submitted_at, r.decided_at, \
         (SELECT MAX(m.created_at) FROM access_request_messages m WHERE m.request_id = r.id AND m.from_bank = 0) \
         FROM access_requests r JOIN organisations o ON o.id = r.org_id JOIN apps a ON a.id = r.app_id \
         WHERE r.route IN ('one_reviewer', 'four_eyes') AND r.status IN ('pending_review', 'pending_second_review', 'approved', 'rejected') \
         AND r.submitted_at < $3 AND (r.decided_at IS NULL OR r.decided_at >= $2) \
         AND ($1 = '' OR r.org_id = $1)",
    )
    .bind(org)
    .bind(scope.from)
    .bind(scope.to)
    .fetch_all(pool)
    .await?;
    for (id, org_id, name, tier, app, submitted, decided, answered) in rows {
        let started = answered
            .filter(|a| decided.is_none_or(|d| *a <= d))
            .map_or(submitted, |a| a.max(submitted));
        r.push(
            "request_decision",
            tier,
            (id.clone(), org_id, name),
            format!("Production request for {app}"),
            (
                format!("/review/production/{id}"),
                format!("/production/requests/{id}"),
            ),
            started,
            (decided, false),
        );
    }

    // The bank's answers to partners' messages on applications and requests. A
    // message is answered by the bank's next message or its decision; one left
    // while the case no longer waits for the bank is not counted.
    type MessageRow = (
        String,
        String,
        String,
        String,
        String,
        i64,
        i64,
        Option<i64>,
        String,
    );
    let rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT 'application', m.id, a.id, a.org_id, o.legal_name, a.tier, m.created_at, \
         (SELECT MIN(b.created_at) FROM application_messages b WHERE b.application_id = a.id AND b.author_side = 'bank' AND b.created_at >= m.created_at), \
         a.status \
         FROM application_messages m JOIN applications a ON a.id = m.application_id JOIN organisations o ON o.id = a.org_id \
         WHERE m.author_side = 'partner' AND ($1 = '' OR a.org_id = $1) AND m.created_at < $2 \
         UNION ALL \
         SELECT 'request', m.id, r.id, r.org_id, o.legal_name, r.tier, m.created_at, \
         (SELECT MIN(b.created_at) FROM access_request_messages b WHERE b.request_id = r.id AND b.from_bank = 1 AND b.created_at >= m.created_at), \
         r.status \
         FROM access_request_messages m JOIN access_requests r ON r.id = m.request_id JOIN organisations o ON o.id = r.org_id \
         WHERE m.from_bank = 0 AND ($1 = '' OR r.org_id = $1) AND m.created_at < $2",
    )
    .bind(org)
    .bind(scope.to)
    .fetch_all(pool)
    .await?;
    for (kind, message, case, org_id, name, tier, at, next, status) in rows {
        // Ended by the bank's next message only: a decision that follows is measured
        // as the decision (not twice).
        let ended = next;
        let waits_for_bank = matches!(
            status.as_str(),
            "submitted" | "pending_review" | "pending_second_review"
        );
        if ended.is_none() && !waits_for_bank {
            continue;
        }
        let (subject, hrefs) = if kind == "application" {
            (
                "Partner's answer on an onboarding application".to_string(),
                (
                    format!("/review/applications/{case}"),
                    format!("/onboarding/{case}"),
                ),
            )
        } else {
            (
                "Partner's answer on a production request".to_string(),
                (
                    format!("/review/production/{case}"),
                    format!("/production/requests/{case}"),
                ),
            )
        };
        r.push(
            "message_answer",
            tier,
            (message, org_id, name),
            subject,
            hrefs,
            at,
            (ended, false),
        );
    }

    // The partner's acknowledgement of incidents the bank opened.
    type IncidentRow = (
        String,
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<IncidentRow> = sqlx::query_as(
        "SELECT i.id, i.org_id, o.legal_name, i.title, i.opened_at, i.acknowledged_at, i.closed_at FROM incidents i \
         JOIN organisations o ON o.id = i.org_id WHERE ($1 = '' OR i.org_id = $1) \
         AND i.opened_at < $3 AND (i.acknowledged_at IS NULL OR i.acknowledged_at >= $2)",
    )
    .bind(org)
    .bind(scope.from)
    .bind(scope.to)
    .fetch_all(pool)
    .await?;
    for (id, org_id, name, title, opened, acknowledged, closed) in rows {
        let tier = r.org_tier(&org_id);
        // The bank closing it stops the partner's clock: not measured when that came
        // within the commitment, a breach when after it.
        let acknowledged = match (acknowledged, closed) {
            (None, Some(c))
                if c - opened <= commitments.seconds(tier, "incident_acknowledgement") =>
            {
                continue
            }
            (Some(a), Some(c)) => Some(a.min(c)),
            (a, c) => a.or(c),
        };
        r.push(
            "incident_acknowledgement",
            tier,
            (id.clone(), org_id, name),
            format!("Incident: {title}"),
            (
                format!("/incidents/{id}"),
                format!("/relationship#incident-{id}"),
            ),
            opened,
            (acknowledged, false),
        );
    }

    // The partner's answers to access reviews (an item never answered is judged at
    // its campaign's due date).
    type ItemRow = (
        String,
        String,
        String,
        String,
        String,
        i64,
        Option<i64>,
        String,
        i64,
    );
    let rows: Vec<ItemRow> = sqlx::query_as(
        "SELECT i.id, i.org_id, o.legal_name, a.name, c.title, c.starts_at, i.attested_at, i.state, c.due_at \
         FROM review_items i JOIN review_campaigns c ON c.id = i.campaign_id JOIN apps a ON a.id = i.app_id \
         JOIN organisations o ON o.id = i.org_id WHERE ($1 = '' OR i.org_id = $1) AND c.starts_at < $2",
    )
    .bind(org)
    .bind(scope.to)
    .fetch_all(pool)
    .await?;
    for (id, org_id, name, app, campaign, starts, attested, item_state, due) in rows {
        // Never attested and no longer waiting (left unanswered, then perhaps
        // revoked): missed, judged at the campaign's due date.
        let (ended, missed) = match (attested, item_state.as_str()) {
            (Some(at), _) => (Some(at), false),
            (None, "awaiting_partner") => (None, false),
            (None, _) => (Some(due.max(starts)), true),
        };
        let tier = r.org_tier(&org_id);
        r.push(
            "review_answer",
            tier,
            (id.clone(), org_id, name),
            format!("{campaign}: {app}"),
            (
                format!("/reviews/bank/items/{id}"),
                format!("/reviews/items/{id}"),
            ),
            starts,
            (ended, missed),
        );
    }

    // The partner's rotation of a credential after its first expiry warning: a new
    // credential on the client, or the old one revoked.
    type WarningRow = (
        String,
        i64,
        String,
        String,
        String,
        String,
        Option<i64>,
        i64,
        Option<i64>,
    );
    let rows: Vec<WarningRow> = sqlx::query_as(
        "SELECT w.credential_id, w.warned_at, c.app_id, a.name, a.org_id, o.legal_name, c.revoked_at, c.expires_at, \
         (SELECT MIN(k.created_at) FROM credentials k WHERE k.app_id = c.app_id AND k.created_at > w.warned_at) \
         FROM (SELECT credential_id, MIN(created_at) AS warned_at FROM governance_notices \
               WHERE kind = 'expiry_warning' AND credential_id IS NOT NULL GROUP BY credential_id) w \
         JOIN credentials c ON c.id = w.credential_id JOIN apps a ON a.id = c.app_id \
         JOIN organisations o ON o.id = a.org_id WHERE ($1 = '' OR a.org_id = $1) AND w.warned_at < $2",
    )
    .bind(org)
    .bind(scope.to)
    .fetch_all(pool)
    .await?;
    let now = state.clock.now();
    for (credential, warned, app_id, app, org_id, name, revoked, expires, replaced) in rows {
        // Rotated (replaced or revoked) before it expired; left to expire: missed.
        let (ended, missed) = match (revoked, replaced) {
            (Some(a), Some(b)) => (Some(a.min(b)), false),
            (None, None) if expires <= now => (Some(expires), true),
            (a, b) => (a.or(b), false),
        };
        let tier = r.org_tier(&org_id);
        r.push(
            "rotation_after_warning",
            tier,
            (credential, org_id, name),
            format!("Credential of {app}"),
            (
                format!("/governance/bank/clients/{app_id}"),
                format!("/governance/clients/{app_id}"),
            ),
            warned,
            (ended, missed),
        );
    }

    let mut out = r.out;
    out.sort_by(|a, b| (a.started_at, &a.case_id).cmp(&(b.started_at, &b.case_id)));
    Ok(out)
}

/// The bank's breaches over the last 30 days, for the reviewers' dashboard, newest
/// first.
pub async fn recent_bank_breaches(state: &AppState) -> Result<Vec<Case>> {
    let now = state.clock.now();
    let commitments = super::commitments(state).await?;
    let scope = Scope {
        org: None,
        from: now - 30 * 86_400,
        to: now,
    };
    let mut list: Vec<Case> = cases(state, &commitments, scope)
        .await?
        .into_iter()
        .filter(|c| c.side() == Side::Bank && c.breached(now))
        .collect();
    list.reverse();
    Ok(list)
}

/// The scheduler's job: each breach of a partner's commitment in the last 90 days
/// becomes an oversight alert (one per case: a resolved alert is not raised again).
pub async fn alert_partner_breaches(state: &AppState, now: i64) -> Result<Value> {
    let scope = Scope {
        org: None,
        from: now - super::PERIOD_DAYS * 86_400,
        to: now,
    };
    let mut raised = 0;
    let mut breaches = 0;
    let commitments = super::commitments(state).await?;
    for case in cases(state, &commitments, scope).await? {
        if case.side() != Side::Partner || !case.breached(now) {
            continue;
        }
        breaches += 1;
        let label = measure(case.measure).map(|m| m.label).unwrap_or_default();
        let summary = match case.ended_at {
            Some(_) => format!(
                "{} took {} against a commitment of {} ({}: {}).",
                case.organisation,
                duration(case.elapsed(now)),
                duration(case.target),
                label,
                case.subject
            ),
            None => format!(
                "{} has not answered in {}, against a commitment of {} ({}: {}).",
                case.organisation,
                duration(case.elapsed(now)),
                duration(case.target),
                label,
                case.subject
            ),
        };
        let finding = crate::oversight::rules::Finding {
            rule: "sla_breach",
            group_key: format!("sla_breach:{}:{}", case.measure, case.case_id),
            app_id: None,
            org_id: Some(case.org_id.clone()),
            source: None,
            summary,
            thresholds: json!({ "measure": case.measure, "commitment_seconds": case.target }),
            evidence: json!({ "case": case.to_json(now), "link": case.bank_href }),
            latest_at: case.due_at(),
            window: (case.started_at, case.due_at()),
        };
        if crate::oversight::alerts::raise(state, &finding).await? {
            raised += 1;
        }
    }
    Ok(json!({ "breaches": breaches, "raised": raised }))
}
