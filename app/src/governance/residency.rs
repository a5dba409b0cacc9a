//! Data residency on a client's page: the countries it may call from (from its
//! production request), whether its token requests from elsewhere are refused, and
//! whether a country database checks either. A bank admin changes both (audited); the
//! partner reads them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use leptos::prelude::*;
use serde_json::json;

use crate::audit::{self, Event};
use crate::clients::model::App;
use crate::platform::authz::Action;
use crate::platform::context::{AuthUser, ClientInfo, Ctx};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::forms::{fields, get_field, outcome};
use crate::platform::state::AppState;
use crate::platform::ui::{csrf_field, field_error, Form};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/governance/bank/clients/{id}/residency",
        post(residency_submit),
    )
}

/// A bank admin sets the client's countries and whether token requests from others
/// are refused. Nothing is written unless the countries are valid.
pub async fn set(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    app_id: &str,
    countries: &str,
    refuse: bool,
) -> Result<()> {
    let app = super::credentials::client(state, None, app_id).await?;
    let allowed = crate::residency::parse_countries(countries)
        .map_err(|m| Error::Invalid(Invalid::field("allowed_countries", m)))?;
    if refuse && allowed.is_empty() {
        return Err(Error::Invalid(Invalid::field(
            "allowed_countries",
            "Name the countries first: refusing other countries needs at least one allowed country.",
        )));
    }
    let mut tx = state.db.begin().await?;
    // Clients registered from it with a software statement (RFC 7591) follow it.
    sqlx::query(
        "UPDATE apps SET allowed_countries = $1, refuse_other_countries = $2, updated_at = $3 \
         WHERE id = $4 OR registered_from = $4",
    )
    .bind(allowed.join(" "))
    .bind(i64::from(refuse))
    .bind(state.clock.now())
    .bind(&app.id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "client.residency_changed")
            .client(client)
            .org(Some(&app.org_id))
            .resource("app", &app.id)
            .details(json!({
                "from": { "countries": app.allowed_countries, "refuse_others": app.refuse_other_countries },
                "to": { "countries": allowed, "refuse_others": refuse },
            })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(())
}

async fn residency_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageResidency)?;
    let values = fields(&body);
    let result = set(
        &state,
        admin,
        &ctx.client,
        &id,
        &get_field(&values, "allowed_countries"),
        get_field(&values, "refuse_other_countries") == "1",
    )
    .await
    .map(|()| "Data residency saved.".to_string());
    let to = format!("/governance/bank/clients/{id}");
    let (state, ctx, id) = (&state, &ctx, &id);
    outcome(ctx, result, &to, values, &[], |form, status| async move {
        let app = super::credentials::client(state, None, id).await?;
        super::handlers::render_client(state, ctx, app, true, &form, status).await
    })
    .await
}

/// The section of the client's page (the bank's form when `can_edit`).
pub fn section(state: &AppState, app: &App, can_edit: bool, form: &Form, csrf: &str) -> AnyView {
    let countries = if app.allowed_countries.is_empty() {
        "Anywhere".to_string()
    } else {
        app.allowed_countries.join(", ")
    };
    let enforcement = match (app.allowed_countries.is_empty(), app.refuse_other_countries) {
        (true, _) => "No constraint.",
        (false, true) => "Token requests from other countries are refused.",
        (false, false) => "Calls from other countries raise an alert; they are not refused.",
    };
    let checked = match state.geo().description.as_deref() {
        Some(db) => format!("Checked against the country database {db}."),
        None => "Not checked: no country database is configured (--geoip-db).".to_string(),
    };
    let edit = can_edit.then(|| {
        let value = if form.value("allowed_countries").is_empty() && form.errors().is_empty() {
            app.allowed_countries.join(" ")
        } else {
            form.value("allowed_countries")
        };
        let error = field_error(form, "allowed_countries");
        let invalid = error.is_some().then_some("true");
        view! {
            <form method="post" action=format!("/governance/bank/clients/{}/residency", app.id)>
                {csrf_field(csrf)}
                <div class="field">
                    <label for="allowed_countries">"Countries it may call from"</label>
                    <p class="hint" id="allowed_countries-hint">"Two-letter ISO 3166 codes, e.g. GB IE; empty means anywhere."</p>
                    {error}
                    <input id="allowed_countries" name="allowed_countries" type="text" value=value aria-describedby="allowed_countries-hint" aria-invalid=invalid/>
                </div>
                <div class="field">
                    <input type="checkbox" id="refuse_other_countries" name="refuse_other_countries" value="1" checked=app.refuse_other_countries/>
                    <label for="refuse_other_countries">"Refuse token requests from other countries"</label>
                </div>
                <button type="submit">"Save data residency"</button>
            </form>
        }
    });
    view! {
        <section class="card" aria-labelledby="residency-heading" id="residency">
            <h2 id="residency-heading">"Data residency"</h2>
            <dl class="facts">
                <dt>"Countries"</dt><dd id="residency-countries">{countries}</dd>
                <dt>"Elsewhere"</dt><dd>{enforcement}</dd>
                <dt>"Country database"</dt><dd>{checked}</dd>
            </dl>
            {edit}
        </section>
    }
    .into_any()
}
