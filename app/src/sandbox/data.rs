//! The organisation's sandbox dataset in the portal: which customers and accounts it
//! holds, downloads of the same files the `sandbox-data` CLI writes (JSON and CSV),
//! and a reset that gives the sandbox a new seed.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use sandbox_data::export::{self, Selection};
use sandbox_data::{money, Dataset, Persona};
use serde::Deserialize;
use serde_json::json;
use time::{Date, Duration};

use crate::audit::{self, Event};
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::state::AppState;
use crate::platform::ui::csrf_field;
use crate::sandbox::api;

/// The longest range one download covers.
pub const MAX_DAYS: i64 = 366;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sandbox/data", get(page))
        .route("/sandbox/data/reset", post(reset))
        .route("/sandbox/data/{file}", get(download))
}

fn org(ctx: &Ctx) -> Result<String> {
    let user = ctx.require(Action::UseSandbox)?;
    user.org_id.clone().ok_or(Error::NotFound)
}

async fn page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let org_id = org(&ctx)?;
    let dataset = state
        .datasets()
        .for_org(&state.db, &org_id, state.clock.now())
        .await?;
    let now = api::now(&state);
    let body = view(&dataset, &ctx.csrf, now);
    Ok(ctx.render("Sandbox data", body).into_response())
}

fn view(dataset: &Dataset, csrf: &str, now: time::OffsetDateTime) -> AnyView {
    let today = now.date();
    let rows = dataset
        .customers
        .iter()
        .flat_map(|c| {
            c.accounts.iter().map(move |a| {
                let balance = a.balance_at(now, today, &[]);
                let sign = if balance < 0 { "-" } else { "" };
                view! {
                    <tr>
                        <td><code>{c.username}</code></td>
                        <td>{c.persona.key()}</td>
                        <td><code>{a.id.clone()}</code></td>
                        <td>{format!("{} ({})", a.kind.sub_type(), a.currency)}</td>
                        <td class="numeric">{format!("{sign}{} {}", money::format(balance), a.currency)}</td>
                    </tr>
                }
            })
        })
        .collect_view();
    let from = (today - Duration::days(90)).to_string();
    let to = today.to_string();
    let link = |file: &str| format!("/sandbox/data/{file}?from={from}&to={to}");
    let personas = Persona::ALL
        .iter()
        .map(|p| view! { <option value=p.key()>{p.key()}</option> })
        .collect_view();
    view! {
        <p class="lead">"Your organisation's sandbox: eight synthetic customers whose transactions are generated on demand from one seed. Nobody in it is real."</p>
        <p>"Seed: "<code id="seed">{dataset.seed.to_string()}</code>". The CLI writes the same files: "<code>{format!("cargo run -p sandbox-data -- generate --seed {} --format json --from {from} --to {to}", dataset.seed)}</code></p>
        <h2>"Download"</h2>
        <ul id="downloads">
            <li><a href=link("dataset.json")>"dataset.json"</a>" (everything, last 90 days of transactions)"</li>
            <li><a href=link("accounts.csv")>"accounts.csv"</a></li>
            <li><a href=link("parties.csv")>"parties.csv"</a></li>
            <li><a href=link("transactions.csv")>"transactions.csv"</a></li>
        </ul>
        <form method="get" action="/sandbox/data/dataset.json" class="inline">
            <label for="from">"From"</label><input type="date" id="from" name="from" value=from.clone()/>
            <label for="to">"To"</label><input type="date" id="to" name="to" value=to.clone()/>
            <label for="persona">"Persona"</label>
            <select id="persona" name="persona"><option value="">"All"</option>{personas}</select>
            <button type="submit" class="secondary">"Download JSON"</button>
        </form>
        <h2>"Customers and accounts"</h2>
        <table id="dataset-accounts">
            <thead><tr><th>"Customer"</th><th>"Persona"</th><th>"Account id"</th><th>"Type"</th><th>"Balance now"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <h2>"Reset"</h2>
        <p>"A reset draws a new seed: new customers' details, accounts and transactions. Payments made through the API are deleted and account-access consents are revoked."</p>
        <form method="post" action="/sandbox/data/reset">
            {csrf_field(csrf)}
            <div class="choice"><input type="checkbox" id="confirm" name="confirm" value="yes"/><label for="confirm">"I understand the current data will be gone"</label></div>
            <button type="submit" class="warning">"Reset the sandbox data"</button>
        </form>
    }
    .into_any()
}

#[derive(Deserialize)]
struct DownloadQuery {
    from: Option<String>,
    to: Option<String>,
    persona: Option<String>,
}

fn date(text: &Option<String>, name: &str) -> Result<Option<Date>> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match text.as_deref().filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => Date::parse(t, &format)
            .map(Some)
            .map_err(|_| Error::BadRequest(format!("{name} must be a date as YYYY-MM-DD."))),
    }
}

async fn download(
    State(state): State<AppState>,
    ctx: Ctx,
    axum::extract::Path(file): axum::extract::Path<String>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response> {
    let org_id = org(&ctx)?;
    let today = api::now(&state).date();
    let to = date(&query.to, "to")?.unwrap_or(today).min(today);
    let from = date(&query.from, "from")?.unwrap_or(to - Duration::days(90));
    if from > to {
        return Err(Error::BadRequest("from must not be after to.".into()));
    }
    if (to - from).whole_days() > MAX_DAYS {
        return Err(Error::BadRequest(format!(
            "One download covers at most {MAX_DAYS} days."
        )));
    }
    let persona = match query.persona.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(key) => Some(
            Persona::parse(key)
                .ok_or_else(|| Error::BadRequest(format!("There is no persona {key}.")))?,
        ),
    };
    let dataset = state
        .datasets()
        .for_org(&state.db, &org_id, state.clock.now())
        .await?;
    let selection = Selection { persona, from, to };
    let mut out = Vec::new();
    let (result, content_type) = match file.as_str() {
        "dataset.json" => (
            export::write_json(&dataset, &selection, &mut out),
            "application/json",
        ),
        "accounts.csv" => (
            export::write_accounts_csv(&dataset, &selection, &mut out),
            "text/csv; charset=utf-8",
        ),
        "parties.csv" => (
            export::write_parties_csv(&dataset, &selection, &mut out),
            "text/csv; charset=utf-8",
        ),
        "transactions.csv" => (
            export::write_transactions_csv(&dataset, &selection, &mut out),
            "text/csv; charset=utf-8",
        ),
        _ => return Err(Error::NotFound),
    };
    result.map_err(Error::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        out,
    )
        .into_response())
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    confirm: String,
}

async fn reset(
    State(state): State<AppState>,
    ctx: Ctx,
    body: axum::body::Bytes,
) -> Result<Response> {
    let org_id = org(&ctx)?;
    let user = ctx.require(Action::UseSandbox)?;
    let input: ResetForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| Error::BadRequest(format!("The form could not be read: {e}")))?;
    if input.confirm != "yes" {
        return Err(Error::BadRequest(
            "Tick the box to confirm the reset.".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let seed = state.datasets().reset(&mut tx, &org_id, now).await?;
    audit::record(
        &mut tx,
        Event::new(user.actor(), "sandbox.dataset_reset")
            .resource("sandbox_dataset", &org_id)
            .org(Some(&org_id))
            .client(&ctx.client)
            .details(json!({ "seed": seed })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    state.datasets().forget(&org_id);
    Ok(Redirect::to("/sandbox/data").into_response())
}
