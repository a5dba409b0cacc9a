//! Public reference data (branches, products, FX rates), with client-credentials
//! tokens that carry the `reference` scope. It is not customer data and needs no
//! consent; it is the same for every partner.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use super::error::ObResult;
use super::{now, obie, Bearer, BASE};
use crate::platform::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/reference/branches"), get(branches))
        .route(&format!("{BASE}/reference/products"), get(products))
        .route(&format!("{BASE}/reference/fx-rates"), get(fx_rates))
}

fn allowed(bearer: &Bearer) -> ObResult<()> {
    bearer.require_scope("reference")?;
    bearer.require_client_token()
}

async fn branches(Extension(bearer): Extension<Bearer>) -> ObResult<Response> {
    allowed(&bearer)?;
    let items: Vec<Value> = sandbox_data::reference::branches()
        .into_iter()
        .map(|b| {
            json!({
                "Identification": b.identification,
                "Name": b.name,
                "PostalAddress": { "BuildingNumber": b.building_number, "StreetName": b.street_name, "TownName": b.town_name, "PostCode": b.post_code, "Country": "GB" },
                "OpeningHours": b.opening_hours,
                "ServiceAndFacility": b.services,
                "SupplementaryData": { "Synthetic": b.synthetic },
            })
        })
        .collect();
    Ok(Json(obie::envelope("Branch", json!(items), &bearer.url)).into_response())
}

async fn products(Extension(bearer): Extension<Bearer>) -> ObResult<Response> {
    allowed(&bearer)?;
    let items: Vec<Value> = sandbox_data::reference::products()
        .into_iter()
        .map(|p| json!({ "ProductId": p.product_id, "ProductName": p.name, "ProductType": p.product_type, "Description": p.description }))
        .collect();
    Ok(Json(obie::envelope("Product", json!(items), &bearer.url)).into_response())
}

async fn fx_rates(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
) -> ObResult<Response> {
    allowed(&bearer)?;
    let today = now(&state).date();
    let items: Vec<Value> = sandbox_data::reference::fx_rates(today)
        .into_iter()
        .map(|r| json!({ "SourceCurrency": r.source_currency, "TargetCurrency": r.target_currency, "UnitCurrency": r.source_currency, "ExchangeRate": r.rate, "RateDate": r.date.to_string() }))
        .collect();
    Ok(Json(obie::envelope("ExchangeRate", json!(items), &bearer.url)).into_response())
}
