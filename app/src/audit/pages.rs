//! The audit trail page for bank admins.

use leptos::prelude::*;

use super::{AuditFilter, AuditRow};

pub fn trail(
    rows: Vec<AuditRow>,
    filter: &AuditFilter,
    verdict: String,
    next_before: Option<i64>,
) -> AnyView {
    let query = serde_urlencoded::to_string(AuditFilter {
        before: None,
        ..filter.clone()
    })
    .unwrap_or_default();
    let csv = format!("/admin/audit/export?format=csv&{query}");
    let jsonl = format!("/admin/audit/export?format=jsonl&{query}");
    let next = next_before.map(|before| format!("/admin/audit?{query}&before={before}"));
    let body = rows
        .into_iter()
        .map(|r| {
            let actor = r
                .actor_label
                .clone()
                .or(r.actor_id.clone())
                .unwrap_or_else(|| r.actor_kind.clone());
            let resource = match (&r.resource_type, &r.resource_id) {
                (Some(t), Some(id)) => format!("{t} {id}"),
                _ => String::new(),
            };
            view! {
                <tr>
                    <td>{r.seq}</td>
                    <td>{crate_time(r.occurred_at)}</td>
                    <td>{actor}</td>
                    <td><code>{r.action}</code></td>
                    <td>{resource}</td>
                    <td>{r.outcome}</td>
                    <td>{r.ip.unwrap_or_default()}</td>
                    <td><code>{r.details}</code></td>
                </tr>
            }
        })
        .collect_view();
    let f = filter.clone();
    view! {
        <p class="notice" id="audit-verdict">{verdict}</p>
        <form method="get" action="/admin/audit" class="filters">
            <div class="field"><label for="action">"Action (or prefix, like signin)"</label><input id="action" name="action" value=f.action/></div>
            <div class="field"><label for="actor">"Actor (user id or e-mail)"</label><input id="actor" name="actor" value=f.actor/></div>
            <div class="field"><label for="org">"Organisation id"</label><input id="org" name="org" value=f.org/></div>
            <div class="field"><label for="outcome">"Outcome"</label><input id="outcome" name="outcome" value=f.outcome/></div>
            <div class="field"><label for="from">"From (YYYY-MM-DD)"</label><input id="from" name="from" type="date" value=f.from/></div>
            <div class="field"><label for="to">"To (YYYY-MM-DD)"</label><input id="to" name="to" type="date" value=f.to/></div>
            <button type="submit" class="secondary">"Filter"</button>
        </form>
        <p>"Export these events: "<a href=csv>"CSV"</a>" · "<a href=jsonl>"JSON Lines"</a></p>
        <table>
            <thead><tr><th>"#"</th><th>"When (UTC)"</th><th>"Who"</th><th>"What"</th><th>"Resource"</th><th>"Outcome"</th><th>"From"</th><th>"Details"</th></tr></thead>
            <tbody>{body}</tbody>
        </table>
        {next.map(|href| view! { <p><a href=href>"Older events"</a></p> })}
    }
    .into_any()
}

fn crate_time(ts: i64) -> String {
    #[cfg(feature = "ssr")]
    {
        crate::platform::time::display(ts)
    }
    #[cfg(not(feature = "ssr"))]
    {
        ts.to_string()
    }
}
