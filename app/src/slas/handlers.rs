//! SLA routes: the bank's commitments, the partners' register and a partner's
//! relationship page (the bank's view), the partner's own relationship page with its
//! incidents to acknowledge, and the audited exports of both.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::cases::{cases, Scope};
use super::{export, figures, pages, weekly, Side, PERIOD_DAYS};
use crate::audit::{self, Event};
use crate::platform::authz::{Action, Role};
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::forms::{fields, get_field, outcome, redirect};
use crate::platform::state::AppState;
use crate::platform::ui::Form;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/slas",
            get(commitments_page).post(commitments_submit),
        )
        .route("/relationships", get(register_page))
        .route("/relationships/{org}", get(bank_page))
        .route("/relationships/{org}/export", get(bank_export))
        .route("/relationship", get(partner_page))
        .route("/relationship/export", get(partner_export))
        .route(
            "/relationship/incidents/{id}/acknowledge",
            post(acknowledge_submit),
        )
}

async fn render_commitments(
    state: &AppState,
    ctx: &Ctx,
    editing: Option<(i64, Form)>,
    status: StatusCode,
) -> Result<Response> {
    ctx.require(Action::ManageSlas)?;
    let c = super::commitments(state).await?;
    let body = pages::commitments(&c, editing.as_ref().map(|(t, f)| (*t, f)), &ctx.csrf);
    Ok((status, ctx.render("Service levels", body)).into_response())
}

async fn commitments_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render_commitments(&state, &ctx, None, StatusCode::OK).await
}

async fn commitments_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageSlas)?;
    let values = fields(&body);
    let tier = get_field(&values, "tier");
    let result = super::save(&state, admin, &ctx.client, &tier, &values)
        .await
        .map(|()| format!("Tier {tier}'s commitments are saved."));
    let editing_tier = tier.parse().unwrap_or_default();
    outcome(&ctx, result, "/admin/slas", values, &[], |form, status| {
        render_commitments(&state, &ctx, Some((editing_tier, form)), status)
    })
    .await
}

/// The last [`PERIOD_DAYS`] days, ending now.
fn recent(now: i64) -> (i64, i64) {
    (now - PERIOD_DAYS * 86_400, now)
}

async fn register_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    staff(&ctx)?;
    let now = state.clock.now();
    let (from, to) = recent(now);
    let commitments = super::commitments(&state).await?;
    let all = cases(
        &state,
        &commitments,
        Scope {
            org: None,
            from,
            to,
        },
    )
    .await?;
    let orgs: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, legal_name FROM organisations WHERE status = 'active' ORDER BY legal_name, id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let rows: Vec<(String, String, i64, i64, i64)> = orgs
        .into_iter()
        .map(|(id, name)| {
            let mine = all.iter().filter(|c| c.org_id == id);
            let (mut n, mut bank, mut partner) = (0, 0, 0);
            for c in mine {
                n += 1;
                if c.breached(now) {
                    match c.side() {
                        Side::Bank => bank += 1,
                        Side::Partner => partner += 1,
                    }
                }
            }
            (id, name, n, bank, partner)
        })
        .collect();
    Ok(ctx
        .render("Relationships", pages::register(&rows))
        .into_response())
}

async fn org_name_and_tier(state: &AppState, org: &str) -> Result<(String, i64)> {
    let name: Option<String> =
        sqlx::query_scalar("SELECT legal_name FROM organisations WHERE id = $1")
            .bind(org)
            .fetch_optional(&state.db.pool)
            .await?;
    let name = name.ok_or(Error::NotFound)?;
    let tier = crate::onboarding::service::approved_tier(state, org).await?;
    Ok((name, tier.unwrap_or(1)))
}

async fn relationship(state: &AppState, ctx: &Ctx, org: &str, bank: bool) -> Result<Response> {
    let user = ctx.require(Action::ViewRelationship)?;
    let (name, tier) = org_name_and_tier(state, org).await?;
    let now = state.clock.now();
    let period = recent(now);
    let commitments = super::commitments(state).await?;
    let list = cases(
        state,
        &commitments,
        Scope {
            org: Some(org),
            from: period.0,
            to: period.1,
        },
    )
    .await?;
    let figs = figures(&list, &commitments, tier, now);
    let weeks = weekly(&list, period.0, period.1, now);
    let incidents = if bank {
        Vec::new()
    } else {
        crate::incidents::partner_incidents(state, org).await?
    };
    let body = pages::relationship(&pages::Relationship {
        org_id: org,
        organisation: &name,
        tier,
        figures: &figs,
        cases: &list,
        weekly: &weeks,
        period,
        bank,
        incidents: &incidents,
        can_acknowledge: matches!(user.role, Role::PartnerAdmin | Role::PartnerDeveloper),
        csrf: &ctx.csrf,
        now,
    });
    let title = if bank {
        format!("Relationship: {name}")
    } else {
        "Our relationship with the bank".to_string()
    };
    Ok(ctx.render(&title, body).into_response())
}

async fn bank_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org): Path<String>,
) -> Result<Response> {
    staff(&ctx)?;
    relationship(&state, &ctx, &org, true).await
}

fn staff(ctx: &Ctx) -> Result<()> {
    let user = ctx.require(Action::ViewRelationship)?;
    if user.role.is_staff() {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// The signed-in partner's organisation; bank staff have the register instead.
fn own_org(ctx: &Ctx) -> Result<String> {
    let user = ctx.require(Action::ViewRelationship)?;
    user.org_id.clone().ok_or(Error::NotFound)
}

async fn partner_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let org = own_org(&ctx)?;
    relationship(&state, &ctx, &org, false).await
}

async fn acknowledge_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response> {
    own_org(&ctx)?;
    let user = ctx.require(Action::ViewRelationship)?;
    crate::incidents::acknowledge(&state, user, &ctx.client, &id).await?;
    redirect(
        &ctx,
        &format!("/relationship#incident-{id}"),
        "Acknowledged: the bank can see you are on it.",
    )
    .await
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    format: String,
}

/// The period `[from, to]` (whole days, UTC) the export covers: at most a year,
/// the last 90 days when none is given.
fn period_of(q: &ExportQuery, now: i64) -> Result<(i64, i64)> {
    if q.from.is_empty() && q.to.is_empty() {
        return Ok(recent(now));
    }
    let from = crate::platform::time::parse_date(q.from.trim())
        .ok_or_else(|| Error::BadRequest("from: a date, YYYY-MM-DD.".into()))?;
    let to = crate::platform::time::parse_date(q.to.trim())
        .ok_or_else(|| Error::BadRequest("to: a date, YYYY-MM-DD.".into()))?
        + 86_400;
    if to <= from {
        return Err(Error::BadRequest(
            "The period ends before it starts.".into(),
        ));
    }
    if to - from > 366 * 86_400 {
        return Err(Error::BadRequest("Export at most a year at a time.".into()));
    }
    Ok((from, to))
}

async fn export(
    state: &AppState,
    ctx: &Ctx,
    org: &str,
    q: &ExportQuery,
    bank: bool,
) -> Result<Response> {
    let user = ctx.require(Action::ViewRelationship)?;
    let format = match q.format.as_str() {
        "" | "csv" => "csv",
        "json" => "json",
        _ => return Err(Error::BadRequest("format: csv or json.".into())),
    };
    let (name, tier) = org_name_and_tier(state, org).await?;
    let now = state.clock.now();
    let period = period_of(q, now)?;
    let commitments = super::commitments(state).await?;
    let list = cases(
        state,
        &commitments,
        Scope {
            org: Some(org),
            from: period.0,
            to: period.1,
        },
    )
    .await?;
    let (body, content_type) = if format == "csv" {
        (export::to_csv(&list, now, bank)?, "text/csv; charset=utf-8")
    } else {
        let figs = figures(&list, &commitments, tier, now);
        (
            export::to_json(&name, period, &figs, &list, now)?,
            "application/json",
        )
    };
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "sla.exported")
            .client(&ctx.client)
            .org(Some(org))
            .resource("organisation", org)
            .details(serde_json::json!({
                "format": format,
                "from": crate::platform::time::rfc3339(period.0),
                "to": crate::platform::time::rfc3339(period.1),
                "cases": list.len(),
            })),
    )
    .await?;
    tx.commit().await?;
    let filename = format!(
        "sla-{org}-{}-{}.{format}",
        crate::platform::time::day(period.0),
        crate::platform::time::day(period.1 - 1)
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}

async fn bank_export(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response> {
    staff(&ctx)?;
    export(&state, &ctx, &org, &q, true).await
}

async fn partner_export(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ExportQuery>,
) -> Result<Response> {
    let org = own_org(&ctx)?;
    export(&state, &ctx, &org, &q, false).await
}
