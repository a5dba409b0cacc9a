//! A campaign's report: every item with both decisions, who, when, and the
//! resulting scopes, as CSV and JSON (times in RFC 3339).

use serde_json::{json, Value};

use super::Item;
use crate::platform::error::{Error, Result};
use crate::platform::time;

const HEADER: [&str; 17] = [
    "item_id",
    "organisation",
    "org_id",
    "client_id",
    "client_name",
    "owner",
    "scopes_at_start",
    "unused_scopes",
    "state",
    "still_needed",
    "kept_scopes",
    "attested_by",
    "attested_at",
    "bank_decision",
    "decided_by",
    "decided_at",
    "resulting_scopes",
];

fn when(ts: Option<i64>) -> String {
    ts.map(time::rfc3339).unwrap_or_default()
}

fn joined(list: &Option<Vec<String>>) -> String {
    list.as_ref().map(|l| l.join(" ")).unwrap_or_default()
}

pub fn to_csv(items: &[Item]) -> Result<String> {
    let mut writer = crate::platform::csv::SafeCsvWriter::new(Vec::new());
    writer.write_record(HEADER).map_err(Error::internal)?;
    for i in items {
        writer
            .write_record([
                i.id.clone(),
                i.organisation.clone(),
                i.org_id.clone(),
                i.client_id.clone(),
                i.client_name.clone(),
                i.owner_label.clone(),
                i.scopes.join(" "),
                i.unused_scopes.join(" "),
                i.state.clone(),
                i.still_needed
                    .map(|n| if n { "yes" } else { "no" }.to_string())
                    .unwrap_or_default(),
                joined(&i.kept_scopes),
                i.attested_by.clone().unwrap_or_default(),
                when(i.attested_at),
                i.bank_decision
                    .clone()
                    .or_else(|| i.outcome.clone())
                    .unwrap_or_default(),
                i.decided_by.clone().unwrap_or_default(),
                when(i.decided_at),
                joined(&i.resulting_scopes),
            ])
            .map_err(Error::internal)?;
    }
    let bytes = writer.into_inner().map_err(Error::internal)?;
    String::from_utf8(bytes).map_err(Error::internal)
}

pub fn to_json(campaign: &super::Campaign, items: &[Item]) -> Result<String> {
    let items: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({
                "item_id": i.id, "organisation": i.organisation, "org_id": i.org_id,
                "client_id": i.client_id, "client_name": i.client_name, "owner": i.owner_label,
                "scopes_at_start": i.scopes, "unused_scopes": i.unused_scopes, "last_use": i.last_use,
                "exceptions": i.exceptions, "state": i.state,
                "partner": {
                    "still_needed": i.still_needed, "kept_scopes": i.kept_scopes,
                    "justifications": i.justifications, "by": i.attested_by, "at": when(i.attested_at),
                },
                "bank": {
                    "decision": i.bank_decision, "note": i.bank_note, "by": i.decided_by, "at": when(i.decided_at),
                },
                "outcome": i.outcome,
                "resulting_scopes": i.resulting_scopes,
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({
        "campaign": {
            "id": campaign.id, "title": campaign.title,
            "covers": { "kind": campaign.scope_kind, "value": campaign.scope_value },
            "starts_at": time::rfc3339(campaign.starts_at), "due_at": time::rfc3339(campaign.due_at),
            "on_unanswered": campaign.on_unanswered, "status": campaign.status,
            "evidence_pack": campaign.pack_id,
        },
        "items": items,
    }))
    .map_err(Error::internal)
}
