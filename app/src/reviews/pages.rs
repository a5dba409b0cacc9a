//! The bank's review pages: campaigns, a campaign's progress, an item's decision.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::campaigns::{COVERAGE, OUTCOMES};
use super::items::DECISIONS;
use super::pages_partner::{facts, scopes_table};
use super::{Campaign, Item, STATES};
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_summary, field_error, select, Form, Input};

fn covers(c: &Campaign) -> String {
    match c.scope_kind.as_str() {
        "tier" => format!("Tier {} production clients", c.scope_value),
        "organisation" => format!("organisation {}", c.scope_value),
        "scope" => format!("holders of {}", c.scope_value),
        _ => "every production client".into(),
    }
}

pub fn campaigns(
    list: &[(Campaign, BTreeMap<String, i64>)],
    cadences: &[(i64, u8)],
    form: &Form,
    csrf: &str,
    can_manage: bool,
    now: i64,
) -> AnyView {
    let rows = list
        .iter()
        .map(|(c, counts)| {
            let total: i64 = counts.values().sum();
            let waiting = counts.get("awaiting_partner").copied().unwrap_or(0);
            let overdue = c.status == "open" && now > c.due_at && waiting > 0;
            view! {
                <tr>
                    <td><a href=format!("/reviews/bank/{}", c.id)>{c.title.clone()}</a></td>
                    <td>{covers(c)}</td>
                    <td>{when(c.due_at)}{overdue.then_some(" (overdue)")}</td>
                    <td>{format!("{}, {} waiting for partners", crate::platform::format::count(total, "item", None), crate::platform::format::thousands(waiting))}</td>
                    <td>{c.status.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let manage = can_manage.then(|| {
        let recurring = [(1, "Tier 1"), (2, "Tier 2"), (3, "Tier 3")]
            .into_iter()
            .map(|(tier, label)| {
                let name = format!("tier_{tier}");
                let current = cadences.iter().find(|(t, _)| *t == tier).map(|(_, m)| *m);
                let options = [(0u8, "Off"), (3, "Every 3 months"), (6, "Every 6 months"), (12, "Every 12 months")]
                    .into_iter()
                    .map(|(months, text)| {
                        let selected = current.unwrap_or(0) == months;
                        view! { <option value=months.to_string() selected=selected>{text}</option> }
                    })
                    .collect_view();
                view! {
                    <div class="field">
                        <label for=name.clone()>{label}</label>
                        <select id=name.clone() name=name>{options}</select>
                    </div>
                }
            })
            .collect_view();
        view! {
            <section class="card">
                <h2>"Start a campaign"</h2>
                {error_summary(form)}
                <form method="post" action="/reviews/bank">
                    {csrf_field(csrf)}
                    {Input::text("title", "Title").render(form)}
                    {select(form, "scope_kind", "What it covers", &COVERAGE)}
                    {Input::text("scope_value", "Which tier (1 to 3), organisation (org_…) or scope; empty for every client").render(form)}
                    {Input::text("due_date", "Due date").kind("date").render(form)}
                    {Input::text("reminders", "Reminders: days before the due date, or half for half-time, comma-separated").render(form)}
                    {select(form, "on_unanswered", "If nobody answers an item by the due date", &OUTCOMES)}
                    {Input::text("grace_days", "Grace period before revoking, in days (suspend, then revoke)").render(form)}
                    {Input::text("period_days", "Review period, in days (a scope unused this long is marked for removal)").render(form)}
                    <button type="submit">"Start the campaign"</button>
                </form>
            </section>
            <section class="card">
                <h2>"Recurring re-certification"</h2>
                <p>"The scheduler starts each tier's campaign once per period (suggested: Tier 3 every 3 months, Tier 2 every 6, Tier 1 every 12), due 30 days later, suspending unanswered items."</p>
                <form method="post" action="/reviews/bank/recurring">
                    {csrf_field(csrf)}
                    {recurring}
                    <button type="submit" class="secondary">"Save the cadence"</button>
                </form>
            </section>
        }
    });
    view! {
        {manage}
        <h2>"Campaigns"</h2>
        {list.is_empty().then(|| view! { <p>"No campaign yet."</p> })}
        <table id="campaigns">
            <caption class="visually-hidden">"Access-review campaigns, newest first"</caption>
            <thead><tr><th scope="col">"Campaign"</th><th scope="col">"Covers"</th><th scope="col">"Due"</th><th scope="col">"Progress"</th><th scope="col">"Status"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub fn campaign(c: &Campaign, items: &[Item], now: i64) -> AnyView {
    let by_state = STATES
        .iter()
        .map(|(state, label)| {
            let n = items.iter().filter(|i| i.state == *state).count();
            view! { <tr><th scope="row">{*label}</th><td>{n}</td></tr> }
        })
        .collect_view();
    let mut orgs: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for i in items {
        let entry = orgs.entry(i.organisation.clone()).or_default();
        entry.0 += 1;
        if matches!(i.state.as_str(), "awaiting_partner" | "awaiting_bank") {
            entry.1 += 1;
        }
    }
    let by_org = orgs
        .into_iter()
        .map(|(org, (total, open))| view! { <tr><th scope="row">{org}</th><td>{crate::platform::format::thousands(total as i64)}</td><td>{crate::platform::format::thousands(open as i64)}</td></tr> })
        .collect_view();
    let overdue = c.status == "open" && now > c.due_at;
    let rows = items
        .iter()
        .map(|i| {
            let late = overdue && i.state == "awaiting_partner";
            view! {
                <tr>
                    <td><a href=format!("/reviews/bank/items/{}", i.id)>{format!("{} / {}", i.organisation, i.client_name)}</a></td>
                    <td>{super::state_label(&i.state)}{late.then_some(" (overdue)")}</td>
                    <td>{i.scopes.join(" ")}</td>
                    <td>{i.unused_scopes.join(" ")}</td>
                    <td>{i.resulting_scopes.clone().map(|s| s.join(" ")).unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <dl class="facts">
            <dt>"Covers"</dt><dd>{covers(c)}</dd>
            <dt>"Due"</dt><dd>{when(c.due_at)}{overdue.then_some(" (past due)")}</dd>
            <dt>"Unanswered items"</dt><dd>{OUTCOMES.iter().find(|(k, _)| *k == c.on_unanswered).map(|(_, l)| *l).unwrap_or_default()}</dd>
            <dt>"Status"</dt><dd>{c.status.clone()}</dd>
            <dt>"Report"</dt><dd><a href=format!("/reviews/bank/{}/report.csv", c.id)>"CSV"</a>" · "<a href=format!("/reviews/bank/{}/report.json", c.id)>"JSON"</a>
                {c.pack_id.clone().map(|p| view! { " · "<a href=format!("/evidence-packs/{p}/download")>"Evidence pack"</a> })}</dd>
        </dl>
        <h2>"By state"</h2>
        <table id="by-state"><caption class="visually-hidden">"Items by state"</caption><tbody>{by_state}</tbody></table>
        <h2>"By organisation"</h2>
        <table id="by-organisation">
            <caption class="visually-hidden">"Items by organisation"</caption>
            <thead><tr><th scope="col">"Organisation"</th><th scope="col">"Items"</th><th scope="col">"Still open"</th></tr></thead>
            <tbody>{by_org}</tbody>
        </table>
        <h2>"Items"</h2>
        <table id="campaign-items">
            <caption class="visually-hidden">"Every item of the campaign"</caption>
            <thead><tr><th scope="col">"Client"</th><th scope="col">"State"</th><th scope="col">"Scopes at start"</th><th scope="col">"Unused"</th><th scope="col">"Scopes after"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub fn item(item: &Item, form: &Form, csrf: &str, can_decide: bool) -> AnyView {
    let decide = (can_decide && item.state == "awaiting_bank").then(|| {
        let kept = item.kept_scopes.clone().unwrap_or_default();
        let boxes = kept
            .iter()
            .map(|scope| {
                let name = format!("keep_{scope}");
                view! {
                    <input type="checkbox" id=name.clone() name=name.clone() value="1" checked=true/>
                    <label for=name>{format!("Keep {scope}")}</label>
                }
            })
            .collect_view();
        view! {
            <section class="card">
                <h2>"Your decision"</h2>
                {error_summary(form)}
                <form method="post" action=format!("/reviews/bank/items/{}/decision", item.id)>
                    {csrf_field(csrf)}
                    <input type="hidden" name="version" value=item.version.to_string()/>
                    {select(form, "decision", "Decision", &DECISIONS)}
                    <fieldset>
                        <legend>"Scopes kept when narrowing"</legend>
                        {field_error(form, "scopes")}
                        {boxes}
                    </fieldset>
                    {Input::text("note", "Note to the partner (needed to narrow or revoke)").render(form)}
                    <button type="submit">"Decide"</button>
                </form>
            </section>
        }
    });
    view! {
        {facts(item)}
        {scopes_table(item, form, false)}
        {decide}
    }
    .into_any()
}
