//! The SLA figures of a period as CSV (one row per case) or JSON (the figures and
//! the cases), for the bank and for the partner's own organisation.

use serde_json::{json, Value};

use super::{Case, Figure};
use crate::platform::error::{Error, Result};
use crate::platform::time::rfc3339;

const HEADER: [&str; 11] = [
    "measure",
    "side",
    "case",
    "organisation",
    "subject",
    "started_at",
    "ended_at",
    "elapsed_seconds",
    "commitment_seconds",
    "status",
    "link",
];

pub fn to_csv(cases: &[Case], now: i64, bank: bool) -> Result<String> {
    let mut writer = crate::platform::csv::SafeCsvWriter::new(Vec::new());
    writer.write_record(HEADER).map_err(Error::internal)?;
    for c in cases {
        writer
            .write_record([
                c.measure.to_string(),
                c.side().as_str().to_string(),
                c.case_id.clone(),
                c.organisation.clone(),
                c.subject.clone(),
                rfc3339(c.started_at),
                c.ended_at.map(rfc3339).unwrap_or_default(),
                c.elapsed(now).to_string(),
                c.target.to_string(),
                c.status(now).to_lowercase(),
                if bank { &c.bank_href } else { &c.partner_href }.clone(),
            ])
            .map_err(Error::internal)?;
    }
    let bytes = writer.into_inner().map_err(Error::internal)?;
    String::from_utf8(bytes).map_err(Error::internal)
}

pub fn to_json(
    organisation: &str,
    (from, to): (i64, i64),
    figures: &[Figure],
    cases: &[Case],
    now: i64,
) -> Result<String> {
    let figures: Vec<Value> = figures
        .iter()
        .map(|f| {
            json!({
                "measure": f.measure.id,
                "side": f.measure.side.as_str(),
                "label": f.measure.label,
                "commitment_seconds": f.target,
                "cases": f.cases,
                "met": f.met,
                "breached": f.breached,
                "open": f.open,
                "median_seconds": f.median,
                "worst_seconds": f.worst,
            })
        })
        .collect();
    let doc = json!({
        "organisation": organisation,
        "from": rfc3339(from),
        "to": rfc3339(to),
        "generated_at": rfc3339(now),
        "figures": figures,
        "cases": cases.iter().map(|c| c.to_json(now)).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).map_err(Error::internal)
}
