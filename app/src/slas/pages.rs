//! SLA pages: the bank's commitments per tier, the partners' register, one
//! relationship (the bank's or the partner's view), and the breach list the
//! reviewer's dashboard shows.

use leptos::prelude::*;

use super::{Case, Commitments, Figure, Side, MEASURES};
use crate::oversight::chart::{time_chart, Series, TimeChart};
use crate::platform::format::{count, duration, thousands};
use crate::platform::time::{day, display, when};
use crate::platform::ui::{csrf_field, error_summary, field_error, Form};

/// The bank's commitments: a table of every tier and measure, and one form per tier.
pub fn commitments(c: &Commitments, editing: Option<(i64, &Form)>, csrf: &str) -> AnyView {
    let forms = c
        .tiers
        .iter()
        .map(|(tier, name)| {
            let form = editing.filter(|(t, _)| t == tier).map(|(_, f)| f.clone());
            let inputs = MEASURES
                .iter()
                .map(|m| {
                    let field = format!("hours_{}", m.id);
                    let id = format!("sla-{tier}-{}", m.id);
                    let value = form.as_ref().map_or_else(
                        || c.hours.get(&(*tier, m.id)).copied().unwrap_or(0).to_string(),
                        |f| f.value(&field),
                    );
                    let error = form.as_ref().and_then(|f| field_error(f, &field));
                    let invalid = error.is_some().then_some("true");
                    let set = c.set.get(&(*tier, m.id)).copied().unwrap_or(false);
                    view! {
                        <div class="field">
                            <label for=id.clone()>{format!("{} ({}), hours", m.label, m.side.label().to_lowercase())}</label>
                            <p class="hint">{m.how}{(!set).then_some(" Not set yet: this is the default.")}</p>
                            {error}
                            <input id=id type="text" inputmode="numeric" name=field value=value aria-invalid=invalid />
                        </div>
                    }
                })
                .collect_view();
            let summary = form.as_ref().and_then(error_summary);
            let heading = format!("sla-tier-{tier}-heading");
            let labelled_by = heading.clone();
            view! {
                <section class="panel" aria-labelledby=labelled_by>
                    <h2 id=heading>{format!("Tier {tier}: {name}")}</h2>
                    {summary}
                    <form method="post" action="/admin/slas" id=format!("sla-form-{tier}")>
                        {csrf_field(csrf)}
                        <input type="hidden" name="tier" value=tier.to_string() />
                        {inputs}
                        <button type="submit">{format!("Save Tier {tier}'s commitments")}</button>
                    </form>
                </section>
            }
        })
        .collect_view();
    view! {
        <p class="lede">"What each side commits to, per tier. Gatehouse measures every commitment from its own records; the relationship pages show the figures and the breaches. A breach of the bank's commitments appears on the reviewers' dashboards; a breach of the partner's raises an oversight alert."</p>
        <p><a href="/relationships">"Every partner's relationship page"</a></p>
        {forms}
    }
    .into_any()
}

/// The partners' register: breaches over the period per side.
pub fn register(rows: &[(String, String, i64, i64, i64)]) -> AnyView {
    let body = rows
        .iter()
        .map(|(id, name, cases, bank, partner)| {
            view! {
                <tr>
                    <td><a href=format!("/relationships/{id}")>{name.clone()}</a></td>
                    <td class="num">{thousands(*cases)}</td>
                    <td class="num">{thousands(*bank)}</td>
                    <td class="num">{thousands(*partner)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="lede">{format!("Service levels over the last {} days, per partner. ", super::PERIOD_DAYS)}<a href="/admin/slas">"The commitments"</a></p>
        <table id="relationships">
            <caption>"Partners"</caption>
            <thead><tr><th scope="col">"Partner"</th><th scope="col" class="num">"Cases measured"</th><th scope="col" class="num">"Bank breaches"</th><th scope="col" class="num">"Partner breaches"</th></tr></thead>
            <tbody>{body}</tbody>
        </table>
    }
    .into_any()
}

/// A span in hours up to three days (a 30-hour acknowledgement against 24 hours
/// must not read "1 day against 1 day"), in the largest unit beyond.
fn span(seconds: i64) -> String {
    if (3_600..3 * 86_400).contains(&seconds) {
        count(seconds / 3_600, "hour", None)
    } else {
        duration(seconds)
    }
}

fn breach_sentence(c: &Case, now: i64) -> String {
    match c.ended_at {
        Some(_) => format!("took {} against {}", span(c.elapsed(now)), span(c.target)),
        None => format!(
            "waiting {}, {} past its {} commitment",
            span(c.elapsed(now)),
            span(c.elapsed(now) - c.target),
            span(c.target)
        ),
    }
}

/// Breaches, newest first, each leading to its case (the bank's or the partner's
/// page of it).
pub fn breach_list(id: &'static str, cases: &[&Case], now: i64, bank: bool) -> AnyView {
    if cases.is_empty() {
        return view! { <p id=id>"No breach."</p> }.into_any();
    }
    let rows = cases
        .iter()
        .map(|c| {
            let label = super::measure(c.measure).map(|m| m.label).unwrap_or_default();
            let href = if bank { &c.bank_href } else { &c.partner_href }.clone();
            view! {
                <li>
                    <span><a href=href>{format!("{}: {}", c.organisation, c.subject)}</a><br/><small>{format!("{label}, started {}", display(c.started_at))}</small></span>
                    <span class="overdue">{breach_sentence(c, now)}</span>
                </li>
            }
        })
        .collect_view();
    view! { <ol class="waiting" id=id>{rows}</ol> }.into_any()
}

/// What the relationship page shows.
pub struct Relationship<'a> {
    pub org_id: &'a str,
    pub organisation: &'a str,
    pub tier: i64,
    pub figures: &'a [Figure],
    pub cases: &'a [Case],
    pub weekly: &'a [(i64, i64, i64, i64)],
    pub period: (i64, i64),
    /// The bank's view (links to the bank's pages of each case).
    pub bank: bool,
    /// The partner's incidents to acknowledge: (id, title, severity, status, opened
    /// at, acknowledged by and at).
    pub incidents: &'a [crate::incidents::PartnerIncident],
    pub can_acknowledge: bool,
    pub csrf: &'a str,
    pub now: i64,
}

fn figures_table(r: &Relationship) -> AnyView {
    let rows = r
        .figures
        .iter()
        .map(|f| {
            let within = f
                .within_percent()
                .map_or_else(|| "–".to_string(), |p| format!("{p:.0}%"));
            view! {
                <tr>
                    <th scope="row">{f.measure.label}<br/><small>{f.measure.side.label()}</small></th>
                    <td>{span(f.target)}</td>
                    <td class="num">{thousands(f.cases as i64)}</td>
                    <td class="num">{within}</td>
                    <td class="num">{thousands(f.breached as i64)}</td>
                    <td class="num">{thousands(f.open as i64)}</td>
                    <td>{f.median.map_or_else(|| "–".to_string(), span)}</td>
                    <td>{f.worst.map_or_else(|| "–".to_string(), span)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table id="sla-figures">
            <caption>{format!("Commitments and figures, {} to {}", day(r.period.0), day(r.period.1 - 1))}</caption>
            <thead><tr>
                <th scope="col">"Commitment"</th><th scope="col">"Target"</th><th scope="col" class="num">"Cases"</th>
                <th scope="col" class="num">"Within target"</th><th scope="col" class="num">"Breaches"</th><th scope="col" class="num">"Open"</th>
                <th scope="col">"Median"</th><th scope="col">"Longest"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

fn chart(r: &Relationship) -> String {
    let starts: Vec<i64> = r.weekly.iter().map(|w| w.0).collect();
    let series = [
        Series {
            name: "Cases finished",
            values: r.weekly.iter().map(|w| Some(w.1 as f64)).collect(),
        },
        Series {
            name: "Bank breaches",
            values: r.weekly.iter().map(|w| Some(w.2 as f64)).collect(),
        },
        Series {
            name: "Partner breaches",
            values: r.weekly.iter().map(|w| Some(w.3 as f64)).collect(),
        },
    ];
    time_chart(&TimeChart {
        id: "sla-chart",
        title: "Cases and breaches per week",
        description: "Cases finished each week, and the breaches of each side's commitments in the week they happened.",
        y_title: "Cases per week",
        unit: "",
        starts: &starts,
        step: 7 * 86_400,
        series: &series,
        threshold: None,
    })
}

fn incidents(r: &Relationship) -> AnyView {
    if r.incidents.is_empty() {
        return view! { <p id="partner-incidents">"No incident has been opened at your organisation."</p> }.into_any();
    }
    let rows = r
        .incidents
        .iter()
        .map(|i| {
            let acknowledged = match (&i.acknowledged_by, i.acknowledged_at) {
                (Some(by), Some(at)) => view! { <span>{format!("{by}, {}", when(at))}</span> }.into_any(),
                _ if r.can_acknowledge => view! {
                    <form method="post" action=format!("/relationship/incidents/{}/acknowledge", i.id)>
                        {csrf_field(r.csrf)}
                        <button type="submit">"Acknowledge"<span class="visually-hidden">{format!(" {}", i.title)}</span></button>
                    </form>
                }
                .into_any(),
                _ => view! { <span class="overdue">"Not acknowledged"</span> }.into_any(),
            };
            view! {
                <tr id=format!("incident-{}", i.id)>
                    <td>{i.title.clone()}</td>
                    <td>{i.severity.clone()}</td>
                    <td>{i.status.clone()}</td>
                    <td class="when">{when(i.opened_at)}</td>
                    <td>{acknowledged}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table id="partner-incidents">
            <caption>"Incidents the bank opened at your organisation"</caption>
            <thead><tr><th scope="col">"Incident"</th><th scope="col">"Severity"</th><th scope="col">"Status"</th><th scope="col">"Opened"</th><th scope="col">"Acknowledged"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub fn relationship(r: &Relationship) -> AnyView {
    let breaches = |side: Side| -> Vec<&Case> {
        let mut list: Vec<&Case> = r
            .cases
            .iter()
            .filter(|c| c.side() == side && c.breached(r.now))
            .collect();
        list.reverse();
        list
    };
    let export = if r.bank {
        format!("/relationships/{}/export", r.org_id)
    } else {
        "/relationship/export".into()
    };
    let (from, to) = (day(r.period.0), day(r.period.1 - 1));
    let total: usize = r.figures.iter().map(|f| f.cases).sum();
    view! {
        <p class="lede">{format!("{} (Tier {}): what each side committed to and what Gatehouse measured over the last {} days, {}.", r.organisation, r.tier, super::PERIOD_DAYS, count(total as i64, "case", None))}</p>
        {figures_table(r)}
        <section class="panel" aria-labelledby="sla-chart-heading">
            <h2 id="sla-chart-heading">"Week by week"</h2>
            <div inner_html=chart(r)></div>
        </section>
        <section class="panel" aria-labelledby="bank-breaches-heading">
            <h2 id="bank-breaches-heading">"Breaches of the bank's commitments"</h2>
            {breach_list("bank-breaches", &breaches(Side::Bank), r.now, r.bank)}
        </section>
        <section class="panel" aria-labelledby="partner-breaches-heading">
            <h2 id="partner-breaches-heading">"Breaches of the partner's commitments"</h2>
            {breach_list("partner-breaches", &breaches(Side::Partner), r.now, r.bank)}
        </section>
        {(!r.bank).then(|| view! {
            <section class="panel" aria-labelledby="incidents-heading">
                <h2 id="incidents-heading">"Incidents"</h2>
                <p class="hint">"Acknowledging an incident tells the bank you are working on it; the time it takes is one of your commitments."</p>
                {incidents(r)}
            </section>
        })}
        <section class="panel" aria-labelledby="export-heading">
            <h2 id="export-heading">"Export the figures"</h2>
            <form method="get" action=export id="sla-export">
                <div class="field"><label for="export-from">"From"</label><input id="export-from" type="date" name="from" value=from /></div>
                <div class="field"><label for="export-to">"To (inclusive)"</label><input id="export-to" type="date" name="to" value=to /></div>
                <div class="field"><label for="export-format">"Format"</label>
                    <select id="export-format" name="format"><option value="csv">"CSV (one row per case)"</option><option value="json">"JSON (figures and cases)"</option></select>
                </div>
                <button type="submit">"Download"</button>
            </form>
            <p class="hint">"Every export is recorded in the audit trail."</p>
        </section>
    }
    .into_any()
}
