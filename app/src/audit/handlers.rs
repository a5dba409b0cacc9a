//! Browsing and exporting the audit trail (bank admins).

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::{chain, pages, AuditFilter, AuditRow};
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::time;

const PAGE: i64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/audit", get(trail))
        .route("/admin/audit/export", get(export))
}

async fn trail(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(filter): Query<AuditFilter>,
) -> Result<Html<String>> {
    ctx.require(Action::ViewAuditTrail)?;
    let rows = chain::list(&state.db.pool, &filter, PAGE).await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    // The full check reads every event, so it runs in the background (every few
    // minutes and at start); the page shows its last result.
    let verdict = match chain::last_check(&state.db.pool).await? {
        Some((at, _, text)) => format!(
            "{text} (full check at {})",
            crate::platform::time::display(at)
        ),
        None => "The first full check of the audit chain has not run yet.".to_string(),
    };
    Ok(ctx.render("Audit trail", pages::trail(rows, &filter, verdict, next)))
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    filter: AuditFilter,
}

async fn export(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(query): Query<ExportQuery>,
) -> Result<Response> {
    let admin = ctx.require(Action::ViewAuditTrail)?;
    let rows = chain::list(&state.db.pool, &query.filter, 100_000).await?;
    let (body, content_type, extension) = match query.format.as_str() {
        "csv" => (to_csv(&rows)?, "text/csv; charset=utf-8", "csv"),
        "jsonl" | "" => (
            to_jsonl(&rows)?,
            "application/jsonl; charset=utf-8",
            "jsonl",
        ),
        other => {
            return Err(Error::BadRequest(format!(
                "Unknown export format {other:?}: use csv or jsonl."
            )))
        }
    };
    // Exporting the trail is itself an auditable act.
    let mut tx = state.db.begin().await?;
    chain::record(
        &mut tx,
        chain::Event::new(admin.actor(), "audit.exported")
            .client(&ctx.client)
            .details(serde_json::json!({ "format": extension, "events": rows.len() })),
    )
    .await?;
    tx.commit().await?;
    let disposition = format!("attachment; filename=\"gatehouse-audit.{extension}\"");
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// Oldest first in exports, so a file reads (and re-verifies) in chain order.
fn to_jsonl(rows: &[AuditRow]) -> Result<String> {
    let mut out = String::new();
    for row in rows.iter().rev() {
        let mut value = serde_json::to_value(row).map_err(Error::internal)?;
        value["occurred_at_utc"] = serde_json::Value::String(time::rfc3339(row.occurred_at));
        out.push_str(&value.to_string());
        out.push('\n');
    }
    Ok(out)
}

fn to_csv(rows: &[AuditRow]) -> Result<String> {
    let mut writer = crate::platform::csv::SafeCsvWriter::new(Vec::new());
    writer
        .write_record([
            "seq",
            "id",
            "occurred_at_utc",
            "actor_kind",
            "actor_id",
            "actor_label",
            "action",
            "resource_type",
            "resource_id",
            "org_id",
            "ip",
            "user_agent",
            "outcome",
            "details",
            "prev_hash",
            "hash",
        ])
        .map_err(Error::internal)?;
    for r in rows.iter().rev() {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        writer
            .write_record([
                r.seq.to_string(),
                r.id.clone(),
                time::rfc3339(r.occurred_at),
                r.actor_kind.clone(),
                opt(&r.actor_id),
                opt(&r.actor_label),
                r.action.clone(),
                opt(&r.resource_type),
                opt(&r.resource_id),
                opt(&r.org_id),
                opt(&r.ip),
                opt(&r.user_agent),
                r.outcome.clone(),
                r.details.clone(),
                r.prev_hash.clone(),
                r.hash.clone(),
            ])
            .map_err(Error::internal)?;
    }
    String::from_utf8(writer.into_inner().map_err(Error::internal)?).map_err(Error::internal)
}
