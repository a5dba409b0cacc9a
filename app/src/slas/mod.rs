//! Service levels both sides are held to. The bank sets, per tier, commitments that
//! Gatehouse measures from its own records (`cases`): its own time to decide an
//! onboarding application and a production request and to answer a partner's
//! message; the partner's time to acknowledge an incident, to answer an access review
//! and to rotate a credential after a warning. A relationship page per partner shows
//! the figures over 90 days with the breaches and their cases; the bank's breaches are
//! on the reviewer's dashboard, the partner's raise an oversight alert (`jobs`).

pub mod cases;
pub mod demo;
mod export;
pub mod handlers;
pub(crate) mod pages;

use std::collections::BTreeMap;

use serde_json::json;

use crate::audit::{self, Event};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;

pub use cases::Case;

/// Whose commitment a measure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Bank,
    Partner,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bank => "bank",
            Self::Partner => "partner",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Bank => "The bank",
            Self::Partner => "The partner",
        }
    }
}

/// A commitment Gatehouse can measure from its own records.
#[derive(Clone, Copy, Debug)]
pub struct Measure {
    pub id: &'static str,
    pub side: Side,
    pub label: &'static str,
    /// How it is measured, in a sentence a partner can check.
    pub how: &'static str,
    /// The commitment when the bank set none; 0: the tier's review SLA.
    pub default_hours: i64,
}

pub const MEASURES: [Measure; 6] = [
    Measure {
        id: "application_decision",
        side: Side::Bank,
        label: "Decision on an onboarding application",
        how: "From the application's last submission to the bank's decision (approval or refusal); time waiting for the partner's answers does not count.",
        default_hours: 0,
    },
    Measure {
        id: "request_decision",
        side: Side::Bank,
        label: "Decision on a production request",
        how: "From the request's submission, or the partner's last answer, to the bank's final decision. Requests the risk policy decided at once are not counted.",
        default_hours: 0,
    },
    Measure {
        id: "message_answer",
        side: Side::Bank,
        label: "Answer to a partner's message",
        how: "From a partner's answer on an application or a production request to the bank's next message or decision on it.",
        default_hours: 48,
    },
    Measure {
        id: "incident_acknowledgement",
        side: Side::Partner,
        label: "Acknowledgement of an incident",
        how: "From the bank opening an incident at the partner to a partner member acknowledging it on the relationship page.",
        default_hours: 24,
    },
    Measure {
        id: "review_answer",
        side: Side::Partner,
        label: "Answer to an access review",
        how: "From the start of an access-review campaign to the partner's attestation of each of its clients.",
        default_hours: 14 * 24,
    },
    Measure {
        id: "rotation_after_warning",
        side: Side::Partner,
        label: "Credential rotation after a warning",
        how: "From the first expiry warning about a credential to a new credential on the same client (or the old one's revocation).",
        default_hours: 7 * 24,
    },
];

pub fn measure(id: &str) -> Option<&'static Measure> {
    MEASURES.iter().find(|m| m.id == id)
}

/// Longest commitment the bank can set: a year.
pub const MAX_HOURS: i64 = 8_760;
/// The period the relationship pages show.
pub const PERIOD_DAYS: i64 = 90;

/// Every tier's commitments: (tier, measure id) → hours, stored or default.
#[derive(Clone, Debug, Default)]
pub struct Commitments {
    pub hours: BTreeMap<(i64, &'static str), i64>,
    /// Which of them the bank set (the rest are defaults).
    pub set: BTreeMap<(i64, &'static str), bool>,
    pub tiers: Vec<(i64, String)>,
}

impl Commitments {
    /// The commitment for `tier` (or the lowest tier's when the tier is unknown), in
    /// seconds.
    pub fn seconds(&self, tier: i64, measure: &str) -> i64 {
        let hours = self
            .hours
            .iter()
            .find(|((t, m), _)| *t == tier && *m == measure)
            .or_else(|| self.hours.iter().find(|((_, m), _)| *m == measure))
            .map(|(_, h)| *h)
            .unwrap_or(48);
        hours * 3_600
    }
}

pub async fn commitments(state: &AppState) -> Result<Commitments> {
    let tiers: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT level, name, review_sla_hours FROM tiers ORDER BY level")
            .fetch_all(&state.db.pool)
            .await?;
    let stored: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT tier, measure, hours FROM sla_commitments")
            .fetch_all(&state.db.pool)
            .await?;
    let mut out = Commitments::default();
    for (level, name, review_sla) in tiers {
        for m in &MEASURES {
            let found = stored.iter().find(|(t, id, _)| *t == level && id == m.id);
            let hours = match (found, m.default_hours) {
                (Some((_, _, h)), _) => *h,
                (None, 0) => review_sla,
                (None, h) => h,
            };
            out.hours.insert((level, m.id), hours);
            out.set.insert((level, m.id), found.is_some());
        }
        out.tiers.push((level, name));
    }
    Ok(out)
}

/// A bank admin sets a tier's commitments (one field `hours_<measure>` each, whole
/// hours from 1 to a year). Nothing is written unless every field is valid.
pub async fn save(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    tier: &str,
    form: &BTreeMap<String, String>,
) -> Result<()> {
    let before = commitments(state).await?;
    let tier: i64 = tier.parse().map_err(|_| Error::NotFound)?;
    if !before.tiers.iter().any(|(t, _)| *t == tier) {
        return Err(Error::NotFound);
    }
    let mut invalid = Invalid::new();
    let mut hours = Vec::new();
    for m in &MEASURES {
        let name = format!("hours_{}", m.id);
        let raw = form.get(&name).map(|v| v.trim()).unwrap_or_default();
        match raw.parse::<i64>() {
            Ok(h) if (1..=MAX_HOURS).contains(&h) => hours.push((m.id, h)),
            _ => invalid.add(
                &name,
                format!(
                    "{}: a whole number of hours from 1 to {MAX_HOURS}.",
                    m.label
                ),
            ),
        }
    }
    invalid.into_result()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let mut changes = serde_json::Map::new();
    for (id, h) in &hours {
        let old = before.hours.get(&(tier, *id)).copied();
        if old != Some(*h) || !before.set.get(&(tier, *id)).copied().unwrap_or(false) {
            changes.insert((*id).into(), json!({ "from": old, "to": h }));
        }
        sqlx::query(
            "INSERT INTO sla_commitments (tier, measure, hours, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tier, measure) DO UPDATE SET hours = excluded.hours, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(tier)
        .bind(*id)
        .bind(*h)
        .bind(&admin.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "sla.commitments_changed")
            .client(client)
            .resource("tier", &tier.to_string())
            .details(json!({ "tier": tier, "changes": changes })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One measure's figures over a period.
#[derive(Clone, Debug)]
pub struct Figure {
    pub measure: &'static Measure,
    /// The commitment for the organisation's tier, in seconds.
    pub target: i64,
    pub cases: usize,
    pub met: usize,
    pub breached: usize,
    pub open: usize,
    pub median: Option<i64>,
    pub worst: Option<i64>,
}

impl Figure {
    /// Share of the finished or overdue cases that met the commitment, in percent.
    pub fn within_percent(&self) -> Option<f64> {
        let judged = self.met + self.breached;
        (judged > 0).then(|| 100.0 * self.met as f64 / judged as f64)
    }
}

/// Each measure's figures from `cases` (an organisation's, over one period).
pub fn figures(cases: &[Case], commitments: &Commitments, tier: i64, now: i64) -> Vec<Figure> {
    MEASURES
        .iter()
        .map(|m| {
            let mine: Vec<&Case> = cases.iter().filter(|c| c.measure == m.id).collect();
            let mut finished: Vec<i64> = mine
                .iter()
                .filter_map(|c| c.ended_at.map(|e| e - c.started_at))
                .collect();
            finished.sort_unstable();
            Figure {
                measure: m,
                target: commitments.seconds(tier, m.id),
                cases: mine.len(),
                met: mine
                    .iter()
                    .filter(|c| c.ended_at.is_some() && !c.breached(now))
                    .count(),
                breached: mine.iter().filter(|c| c.breached(now)).count(),
                open: mine
                    .iter()
                    .filter(|c| c.ended_at.is_none() && !c.breached(now))
                    .count(),
                median: median(&finished),
                worst: mine.iter().map(|c| c.elapsed(now)).max(),
            }
        })
        .collect()
}

/// The median of sorted values: the middle one, or the mean of the two middle ones.
fn median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

/// Cases per week over the period (oldest first): (week start, cases finished,
/// bank breaches, partner breaches), a breach counted in the week it happened.
pub fn weekly(cases: &[Case], from: i64, to: i64, now: i64) -> Vec<(i64, i64, i64, i64)> {
    const WEEK: i64 = 7 * 86_400;
    let weeks = ((to - from) + WEEK - 1) / WEEK;
    let start = to - weeks * WEEK;
    let mut out: Vec<(i64, i64, i64, i64)> =
        (0..weeks).map(|n| (start + n * WEEK, 0, 0, 0)).collect();
    let index = |at: i64| -> Option<usize> {
        (at >= start && at < to).then(|| ((at - start) / WEEK) as usize)
    };
    for case in cases {
        if let Some(i) = case.ended_at.and_then(index) {
            out[i].1 += 1;
        }
        if case.breached(now) {
            if let Some(i) = index(case.due_at()) {
                match case.side() {
                    Side::Bank => out[i].2 += 1,
                    Side::Partner => out[i].3 += 1,
                }
            }
        }
    }
    out
}

pub fn jobs() -> Vec<crate::platform::scheduler::Job> {
    vec![crate::job!(
        "sla_breaches",
        900,
        |state: AppState, now| async move { cases::alert_partner_breaches(&state, now).await }
    )]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn case(measure: &'static str, started: i64, ended: Option<i64>, target: i64) -> Case {
        Case {
            measure,
            case_id: format!("{measure}-{started}"),
            org_id: "org".into(),
            organisation: "Org".into(),
            subject: String::new(),
            bank_href: String::new(),
            partner_href: String::new(),
            started_at: started,
            ended_at: ended,
            target,
            missed: false,
        }
    }

    #[test]
    fn figures_count_met_breached_and_open_with_the_median() {
        let mut c = Commitments::default();
        c.hours.insert((1, "incident_acknowledgement"), 24);
        let now = 1_000_000;
        let t = 24 * 3_600;
        let cases = vec![
            case("incident_acknowledgement", 0, Some(3_600), t),
            case("incident_acknowledgement", 0, Some(2 * 3_600), t),
            case("incident_acknowledgement", 0, Some(30 * 3_600), t),
            case("incident_acknowledgement", now - 3_600, None, t),
            case("incident_acknowledgement", now - 25 * 3_600, None, t),
        ];
        let f = figures(&cases, &c, 1, now);
        let ack = f
            .iter()
            .find(|f| f.measure.id == "incident_acknowledgement")
            .unwrap();
        assert_eq!((ack.cases, ack.met, ack.breached, ack.open), (5, 2, 2, 1));
        assert_eq!(ack.median, Some(2 * 3_600));
        assert_eq!(median(&[1, 3]), Some(2));
        assert_eq!(median(&[]), None);
        assert_eq!(ack.target, t);
        assert_eq!(ack.within_percent(), Some(50.0));
    }

    #[test]
    fn weekly_counts_a_breach_in_the_week_it_happened() {
        let week = 7 * 86_400;
        let to = 10 * week;
        let from = to - 2 * week;
        let cases = vec![
            case("request_decision", from + 10, Some(from + 20), 100),
            case("review_answer", from + week, Some(from + week + 500), 100),
        ];
        let w = weekly(&cases, from, to, to);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0], (from, 1, 0, 0));
        assert_eq!(w[1], (from + week, 1, 0, 1));
    }
}
