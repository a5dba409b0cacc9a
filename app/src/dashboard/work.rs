//! What waits for the person signed in: read from the same services and tables the
//! queues, registers and inventories read, so a dashboard item and the list it
//! links to always agree. Every partner query is scoped to the caller's organisation.

use crate::oversight::series::{self, Subject};
use crate::platform::error::Result;
use crate::platform::format::capitalise;
use crate::platform::state::AppState;

const DAY: i64 = 86_400;

/// One thing waiting, with how long it has waited against its allowance.
#[derive(Clone, Debug)]
pub struct Waiting {
    pub label: String,
    pub href: String,
    /// When it started waiting.
    pub since: i64,
    /// The allowance (an SLA, a review period), when there is one.
    pub sla_seconds: Option<i64>,
    /// A short second line (a route, a due date).
    pub detail: String,
}

/// A count and the filtered list it counts.
#[derive(Clone, Debug)]
pub struct Count {
    pub label: String,
    pub n: i64,
    pub href: String,
}

/// A partner's client with its last 24 hours.
#[derive(Clone, Debug)]
pub struct AppTraffic {
    pub id: String,
    pub name: String,
    pub environment: String,
    pub calls: i64,
    pub errors: i64,
    /// Calls per 15 minutes, oldest first.
    pub points: Vec<f64>,
}

/// A failed request from the request log.
#[derive(Clone, Debug)]
pub struct Failure {
    pub at: i64,
    pub app_id: String,
    pub app_name: String,
    pub method: String,
    pub endpoint: String,
    pub status: i64,
    pub error: Option<String>,
}

/// An access-review campaign in progress.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub id: String,
    pub title: String,
    pub due_at: i64,
    pub items: i64,
    pub answered: i64,
}

/// The bank's reviewers and approvers: the queues, oldest first.
pub async fn reviewer(state: &AppState, approver: bool) -> Result<(Vec<Waiting>, Vec<Count>)> {
    let mut waiting = Vec::new();
    let applications = crate::onboarding::review::queue(state, &Default::default()).await?;
    let overdue = applications.iter().filter(|i| i.overdue()).count() as i64;
    for item in &applications {
        let app = &item.app;
        waiting.push(Waiting {
            label: format!(
                "{}: tier {} application ({})",
                app.org_name, app.tier, item.tier_name
            ),
            href: format!("/review/applications/{}", app.id),
            since: app.submitted_at.unwrap_or(app.created_at),
            sla_seconds: Some(item.sla_hours * 3_600),
            detail: match &app.assigned_name {
                Some(name) => format!("Onboarding review, assigned to {name}"),
                None => "Onboarding review, not assigned".into(),
            },
        });
    }
    let requests = crate::access_requests::service::queue(state, "open").await?;
    let (mut first, mut second) = (0, 0);
    for item in &requests {
        let r = &item.request;
        let second_stage = r.status == "pending_second_review";
        if second_stage {
            second += 1;
        } else {
            first += 1;
        }
        // The approver sees second approvals; everyone sees first reviews.
        if second_stage && !approver {
            continue;
        }
        waiting.push(Waiting {
            label: format!("{}: production access for {}", r.org_name, r.app_name),
            href: format!("/review/production/{}", r.id),
            since: r.waiting_since,
            sla_seconds: Some(item.sla_hours * 3_600),
            detail: if second_stage {
                "Second approval (four eyes): a different person from the first reviewer".into()
            } else {
                format!(
                    "Production request, {} (risk {} points, {})",
                    r.route.label(),
                    r.score,
                    r.band
                )
            },
        });
    }
    waiting.sort_by_key(|w| (w.since, w.href.clone()));
    let mut counts = vec![
        Count {
            label: format!("Applications waiting ({overdue} past SLA)"),
            n: applications.len() as i64,
            href: "/review?status=submitted".into(),
        },
        Count {
            label: "Production requests to review".into(),
            n: first,
            href: "/review/production?status=pending_review".into(),
        },
    ];
    if approver {
        counts.push(Count {
            label: "Second approvals waiting".into(),
            n: second,
            href: "/review/production?status=pending_second_review".into(),
        });
    }
    Ok((waiting, counts))
}

/// The bank admin's alerts: counts by severity and the oldest open ones.
pub async fn alerts(state: &AppState) -> Result<(Vec<Count>, Vec<Waiting>)> {
    let by = crate::oversight::alerts::open_by_severity(state).await?;
    let counts = crate::oversight::alerts::SEVERITIES
        .iter()
        .map(|s| Count {
            label: format!("{} severity", capitalise(s)),
            n: by.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n),
            href: format!("/alerts?severity={s}"),
        })
        .collect();
    let oldest: Vec<(String, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT al.id, al.severity, al.summary, al.first_seen_at, o.legal_name FROM alerts al \
         LEFT JOIN organisations o ON o.id = al.org_id WHERE al.state <> 'resolved' \
         ORDER BY CASE al.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, al.first_seen_at, al.id LIMIT 6",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let waiting = oldest
        .into_iter()
        .map(|(id, severity, summary, at, org)| Waiting {
            label: summary,
            href: format!("/alerts/{id}"),
            since: at,
            sla_seconds: None,
            detail: format!(
                "{} severity{}",
                capitalise(&severity),
                org.map(|o| format!(", {o}")).unwrap_or_default()
            ),
        })
        .collect();
    Ok((counts, waiting))
}

/// Access-review campaigns still open, the nearest deadline first.
pub async fn campaigns(state: &AppState) -> Result<Vec<Campaign>> {
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT c.id, c.title, c.due_at, COUNT(i.id), \
         CAST(COALESCE(SUM(CASE WHEN i.state IN ('awaiting_partner', 'awaiting_bank', 'unanswered') THEN 0 ELSE 1 END), 0) AS BIGINT) \
         FROM review_campaigns c LEFT JOIN review_items i ON i.campaign_id = c.id \
         WHERE c.status = 'open' GROUP BY c.id, c.title, c.due_at ORDER BY c.due_at, c.id LIMIT 10",
    )
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, title, due_at, items, answered)| Campaign {
            id,
            title,
            due_at,
            items,
            answered,
        })
        .collect())
}

/// Credentials in force that expire within `days`, soonest first (an organisation's
/// own, or every organisation's), and how many there are.
pub async fn expiring_credentials(
    state: &AppState,
    org: Option<&str>,
    days: i64,
) -> Result<(i64, Vec<Waiting>)> {
    use crate::governance::inventory::{self, Filter};
    let now = state.clock.now();
    // The inventory's own filter: the count is the list its link shows.
    let filter = Filter {
        expiring_within: days.to_string(),
        sort: "expires".into(),
        ..Filter::default()
    };
    let listing = inventory::list(state, org, &filter, 8).await?;
    let base = if org.is_some() {
        "/governance/clients"
    } else {
        "/governance/bank/clients"
    };
    let items = listing
        .rows
        .into_iter()
        .map(|row| {
            let expires = row.expires_at.unwrap_or(now);
            Waiting {
                label: if org.is_some() {
                    format!("Rotate the credential of {}", row.client_name)
                } else {
                    format!("{}: credential of {}", row.organisation, row.client_name)
                },
                href: format!("{base}/{}", row.app_id),
                since: row.created_at,
                sla_seconds: Some(expires - row.created_at),
                detail: format!(
                    "Credential {} expires in {} ({})",
                    row.credential_id.unwrap_or_default(),
                    crate::platform::format::duration(expires - now),
                    crate::platform::time::display(expires)
                ),
            }
        })
        .collect();
    let total = listing.total as i64;
    Ok((total, items))
}

/// The last failed scheduler runs: (job, started at, summary).
pub async fn failed_runs(state: &AppState) -> Result<Vec<(String, i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT job, started_at, summary FROM job_runs WHERE outcome = 'failed' \
         ORDER BY started_at DESC, id DESC LIMIT 5",
    )
    .fetch_all(&state.db.pool)
    .await?)
}

/// Traffic of `subject` over the last 24 whole clock hours (the hour under way
/// would always end the line with a dip), from the hour buckets: calls, errors,
/// and calls per hour for a sparkline.
pub async fn traffic(state: &AppState, subject: &Subject) -> Result<(i64, i64, Vec<f64>)> {
    let hours = series::hourly(&state.db, subject, 24, state.clock.now()).await?;
    Ok((
        hours.iter().map(|(calls, _)| calls).sum(),
        hours.iter().map(|(_, errors)| errors).sum(),
        hours.iter().map(|(calls, _)| *calls as f64).collect(),
    ))
}

/// An organisation's active clients with their last 24 hours.
pub async fn apps(state: &AppState, org: &str) -> Result<Vec<AppTraffic>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, name, environment FROM apps WHERE org_id = $1 AND status = 'active' \
         ORDER BY environment, name, id LIMIT 12",
    )
    .bind(org)
    .fetch_all(&state.db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, name, environment) in rows {
        let (calls, errors, points) = traffic(state, &Subject::App(id.clone())).await?;
        out.push(AppTraffic {
            id,
            name,
            environment,
            calls,
            errors,
            points,
        });
    }
    Ok(out)
}

/// An organisation's last failed requests of the past 7 days, newest first.
pub async fn failures(state: &AppState, org: &str) -> Result<Vec<Failure>> {
    type Row = (i64, String, String, String, String, i64, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.at, a.id, a.name, r.method, r.endpoint, r.status, r.error FROM request_log r \
         JOIN apps a ON a.id = r.app_id \
         WHERE a.org_id = $1 AND r.status >= 400 AND r.at >= $2 ORDER BY r.at DESC, r.id DESC LIMIT 5",
    )
    .bind(org)
    .bind(state.clock.now() - 7 * DAY)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(at, app_id, app_name, method, endpoint, status, error)| Failure {
                at,
                app_id,
                app_name,
                method,
                endpoint,
                status,
                error,
            },
        )
        .collect())
}

/// A partner admin's tasks, oldest first: drafts to finish, questions from the bank,
/// access reviews to answer, credentials to rotate.
pub async fn partner_tasks(state: &AppState, org: &str) -> Result<Vec<Waiting>> {
    let mut tasks = incidents_to_acknowledge(state, org).await?;
    for app in crate::onboarding::service::applications(state, org).await? {
        let (label, detail) = match app.status.as_str() {
            "draft" => {
                // Each section still to do, then the submission itself.
                let tier = crate::onboarding::catalogue::tier(state, app.tier).await?;
                let mut open = 0;
                for task in crate::onboarding::service::tasks(state, &app, &tier).await? {
                    if task.status == crate::onboarding::model::TaskStatus::Completed {
                        continue;
                    }
                    open += 1;
                    tasks.push(Waiting {
                        label: format!("Tier {} application: {}", app.tier, task.step.title()),
                        href: format!("/onboarding/{}/steps/{}", app.id, task.step.slug()),
                        since: app.created_at,
                        sla_seconds: None,
                        detail: match task.notes.first() {
                            Some(note) => format!(
                                "Onboarding, {}: {note}",
                                task.status.label().to_lowercase()
                            ),
                            None => format!("Onboarding, {}", task.status.label().to_lowercase()),
                        },
                    });
                }
                if open > 0 {
                    continue;
                }
                (
                    format!("Submit your tier {} application", app.tier),
                    "Onboarding: every section is complete; submit it for review".to_string(),
                )
            }
            "more_info" => (
                format!(
                    "The bank asked for more information on your tier {} application",
                    app.tier
                ),
                "Onboarding: answer the bank's message and resubmit".to_string(),
            ),
            _ => continue,
        };
        tasks.push(Waiting {
            label,
            href: format!("/onboarding/{}", app.id),
            since: app.submitted_at.unwrap_or(app.created_at),
            sla_seconds: None,
            detail,
        });
    }
    let asked: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT r.id, a.name, r.updated_at FROM access_requests r JOIN apps a ON a.id = r.app_id \
         WHERE r.org_id = $1 AND r.status = 'more_info' AND r.withdrawn_at IS NULL ORDER BY r.updated_at",
    )
    .bind(org)
    .fetch_all(&state.db.pool)
    .await?;
    for (id, app, at) in asked {
        tasks.push(Waiting {
            label: format!("Answer the bank's question on production access for {app}"),
            href: format!("/production/requests/{id}"),
            since: at,
            sla_seconds: None,
            detail: "Production request: the bank is waiting for your answer".into(),
        });
    }
    let due: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT i.id, a.name, c.starts_at, c.due_at FROM review_items i \
         JOIN review_campaigns c ON c.id = i.campaign_id JOIN apps a ON a.id = i.app_id \
         WHERE i.org_id = $1 AND i.state IN ('awaiting_partner', 'unanswered') AND c.status = 'open' ORDER BY c.due_at, i.id",
    )
    .bind(org)
    .fetch_all(&state.db.pool)
    .await?;
    for (id, app, starts, due_at) in due {
        tasks.push(Waiting {
            label: format!("Answer the access review of {app}"),
            href: format!("/reviews/items/{id}"),
            since: starts,
            sla_seconds: Some(due_at - starts),
            detail: format!(
                "Access review: due {}",
                crate::platform::time::display(due_at)
            ),
        });
    }
    tasks.extend(expiring_credentials(state, Some(org), 14).await?.1);
    tasks.extend(agreements_to_accept(state, org).await?);
    tasks.sort_by_key(|t| (t.since, t.href.clone()));
    Ok(tasks)
}

/// Incidents the bank opened at the organisation, still open and not acknowledged,
/// against the partner's acknowledgement commitment.
async fn incidents_to_acknowledge(state: &AppState, org: &str) -> Result<Vec<Waiting>> {
    let open: Vec<_> = crate::incidents::partner_incidents(state, org)
        .await?
        .into_iter()
        .filter(|i| i.acknowledged_at.is_none() && i.status != "closed")
        .collect();
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let tier = crate::onboarding::service::approved_tier(state, org).await?;
    let target = crate::slas::commitments(state)
        .await?
        .seconds(tier.unwrap_or(1), "incident_acknowledgement");
    Ok(open
        .into_iter()
        .map(|i| Waiting {
            label: format!("Acknowledge the incident: {}", i.title),
            href: format!("/relationship#incident-{}", i.id),
            since: i.opened_at,
            sla_seconds: Some(target),
            detail: format!("Opened by the bank, severity {}", i.severity),
        })
        .collect())
}

/// Agreements of the organisation's tiers with no acceptance that holds, or a
/// material version inside its window: accept by the deadline.
async fn agreements_to_accept(state: &AppState, org: &str) -> Result<Vec<Waiting>> {
    use crate::agreements::{self, Standing};
    let now = state.clock.now();
    let mut out = Vec::new();
    for owed in agreements::obligations_of_org(state, org, now).await? {
        let deadline = match owed.standing {
            Standing::Accepted => continue,
            Standing::Due { deadline } | Standing::Required { deadline } => deadline,
        };
        // A re-acceptance has its window; a first acceptance is due before
        // the tier's application or production access goes ahead.
        let (since, sla_seconds, detail) = match owed.accepted {
            Some(_) => (
                owed.current.effective_at,
                Some(deadline - owed.current.effective_at),
                format!(
                    "Agreement: a partner admin accepts it by {}",
                    crate::platform::time::display(deadline)
                ),
            ),
            None => (
                now,
                None,
                "Agreement: a partner admin accepts it before the application is submitted or production access approved".to_string(),
            ),
        };
        out.push(Waiting {
            label: format!("Accept {}", owed.current.name()),
            href: format!("/agreements/{}", owed.current.id),
            since,
            sla_seconds,
            detail,
        });
    }
    Ok(out)
}
