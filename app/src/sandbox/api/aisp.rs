//! Account information (AISP): the accounts a customer authorised, with the fields
//! the consent's permissions allow. An account id outside the consent (another
//! customer's, another organisation's, or none at all) is a 403
//! `UK.OBIE.Resource.ConsentMismatch`, the same answer whatever the id, so nothing
//! about it is revealed; the specification lists no 404 for the mandatory account
//! endpoints, and keeps 404 for an endpoint an ASPSP does not offer. A statement id
//! the account does not have is a 400 `UK.OBIE.Resource.NotFound` (the Read/Write
//! API's "400 (Bad Request) v 404 (Not Found)" rule).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use sandbox_data::model::{Account, Customer};
use sandbox_data::{Dataset, External};
use serde_json::{json, Value};
use sqlx::Row;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use super::consents;
use super::envelope::ObQuery;
use super::error::{ObError, ObResult};
use super::obie;
use super::transactions::{self, asked_range, Asked};
use super::{now, Bearer, BASE};
use crate::clients::intents::{Intent, ACCOUNT_ACCESS};
use crate::platform::state::AppState;

pub fn routes() -> Router<AppState> {
    let p = |path: &str| format!("{BASE}/aisp{path}");
    Router::new()
        .route(&p("/accounts"), get(accounts))
        .route(&p("/accounts/{account_id}"), get(one_account))
        .route(&p("/accounts/{account_id}/balances"), get(account_balances))
        .route(&p("/balances"), get(all_balances))
        .route(
            &p("/accounts/{account_id}/transactions"),
            get(transactions::account_transactions),
        )
        .route(&p("/transactions"), get(transactions::all_transactions))
        .route(
            &p("/accounts/{account_id}/beneficiaries"),
            get(account_list),
        )
        .route(
            &p("/accounts/{account_id}/direct-debits"),
            get(account_list),
        )
        .route(
            &p("/accounts/{account_id}/standing-orders"),
            get(account_list),
        )
        .route(
            &p("/accounts/{account_id}/scheduled-payments"),
            get(account_list),
        )
        .route(&p("/accounts/{account_id}/statements"), get(account_list))
        .route(&p("/accounts/{account_id}/product"), get(account_list))
        .route(&p("/accounts/{account_id}/offers"), get(account_list))
        .route(&p("/accounts/{account_id}/party"), get(account_party))
        .route(&p("/accounts/{account_id}/parties"), get(account_parties))
        .route(
            &p("/accounts/{account_id}/statements/{statement_id}"),
            get(one_statement),
        )
        .route(
            &p("/accounts/{account_id}/statements/{statement_id}/transactions"),
            get(transactions::statement_transactions),
        )
        .route(&p("/beneficiaries"), get(all_list))
        .route(&p("/direct-debits"), get(all_list))
        .route(&p("/standing-orders"), get(all_list))
        .route(&p("/scheduled-payments"), get(all_list))
        .route(&p("/statements"), get(all_list))
        .route(&p("/products"), get(all_list))
        .route(&p("/offers"), get(all_list))
        .route(&p("/party"), get(psu_party))
}

/// An authorised account-access consent and the customer's data it opens.
pub struct Reading {
    pub intent: Intent,
    dataset: Arc<Dataset>,
    customer: usize,
    pub now: OffsetDateTime,
}

impl Reading {
    pub async fn start(state: &AppState, bearer: &Bearer, any_of: &[&str]) -> ObResult<Self> {
        bearer.require_scope("accounts")?;
        let intent = consents::of_grant(state, bearer, ACCOUNT_ACCESS).await?;
        let now = now(state);
        if intent.status != "Authorised" {
            return Err(ObError::forbidden(
                "UK.OBIE.Resource.InvalidConsentStatus",
                format!("The consent is {}.", intent.status),
            ));
        }
        if intent.expired(now.unix_timestamp()) {
            return Err(ObError::forbidden(
                "UK.OBIE.Resource.InvalidConsentStatus",
                "The consent has expired.",
            ));
        }
        if !any_of.iter().any(|p| intent.has(p)) {
            return Err(ObError::forbidden(
                "UK.OBIE.Resource.ConsentMismatch",
                format!("The consent does not grant {}.", any_of.join(" or ")),
            ));
        }
        let dataset = state
            .datasets()
            .for_org(&state.db, &bearer.org_id, now.unix_timestamp())
            .await?;
        let customer = intent
            .customer
            .as_deref()
            .and_then(|username| {
                dataset
                    .customers
                    .iter()
                    .position(|c| c.username == username)
            })
            .ok_or_else(|| {
                ObError::forbidden(
                    "UK.OBIE.Resource.InvalidConsentStatus",
                    "The consent's customer is no longer in this sandbox.",
                )
            })?;
        Ok(Self {
            intent,
            dataset,
            customer,
            now,
        })
    }

    fn customer(&self) -> &Customer {
        &self.dataset.customers[self.customer]
    }

    pub fn accounts(&self) -> Vec<&Account> {
        obie::consented(self.customer(), &self.intent)
    }

    pub fn account(&self, id: &str) -> ObResult<&Account> {
        self.accounts()
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| {
                ObError::forbidden(
                    "UK.OBIE.Resource.ConsentMismatch",
                    "The account is not one the customer authorised for this consent.",
                )
                .at("AccountId")
            })
    }

    /// One of the account's monthly statements, by id.
    pub fn statement_period(
        &self,
        account: &Account,
        statement_id: &str,
    ) -> ObResult<(String, Date, Date)> {
        obie::statement_periods(account, self.today())
            .into_iter()
            .find(|p| p.0 == statement_id)
            .ok_or_else(|| {
                ObError::bad_request(
                    "UK.OBIE.Resource.NotFound",
                    "The account has no statement with this StatementId.",
                )
                .at("StatementId")
            })
    }

    fn today(&self) -> Date {
        self.now.date()
    }
}

/// The sandbox payments that debited an account (or all the organisation's), by time.
pub async fn payments(
    state: &AppState,
    org_id: &str,
    account_id: Option<&str>,
) -> ObResult<HashMap<String, Vec<External>>> {
    let columns = "SELECT id, account_id, amount, initiation, created_at FROM sandbox_payments WHERE org_id = $1 AND outcome = 'accepted'";
    let rows = match account_id {
        Some(account_id) => {
            sqlx::query(&format!(
                "{columns} AND account_id = $2 ORDER BY created_at, id"
            ))
            .bind(org_id)
            .bind(account_id)
            .fetch_all(&state.db.pool)
            .await?
        }
        None => {
            sqlx::query(&format!("{columns} ORDER BY created_at, id"))
                .bind(org_id)
                .fetch_all(&state.db.pool)
                .await?
        }
    };
    let mut out: HashMap<String, Vec<External>> = HashMap::new();
    for row in rows {
        let initiation: Value =
            serde_json::from_str(&row.try_get::<String, _>("initiation")?).unwrap_or_default();
        let creditor = &initiation["CreditorAccount"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let reference = initiation["RemittanceInformation"]["Reference"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| text(&initiation["EndToEndIdentification"]));
        out.entry(row.try_get("account_id")?)
            .or_default()
            .push(External {
                id: row.try_get("id")?,
                at: OffsetDateTime::from_unix_timestamp(row.try_get("created_at")?)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                amount: -row.try_get::<i64, _>("amount")?,
                information: format!("Payment to {}", text(&creditor["Name"])),
                reference,
                counterparty: Some(sandbox_data::model::Identifier {
                    scheme: if creditor["SchemeName"].as_str() == Some("UK.OBIE.IBAN") {
                        "UK.OBIE.IBAN"
                    } else {
                        "UK.OBIE.SortCodeAccountNumber"
                    },
                    identification: text(&creditor["Identification"]),
                    name: text(&creditor["Name"]),
                }),
            });
    }
    Ok(out)
}

/// The sandbox payments that debited one account, by time.
pub async fn account_payments(
    state: &AppState,
    org_id: &str,
    account_id: &str,
) -> ObResult<Arc<Vec<External>>> {
    let cache = &state.oauth().cache;
    let key = (org_id.to_string(), account_id.to_string());
    cache
        .cached(&cache.payments, key, || async {
            Ok(Arc::new(
                payments(state, org_id, Some(account_id))
                    .await?
                    .remove(account_id)
                    .unwrap_or_default(),
            ))
        })
        .await
}

async fn accounts(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
) -> ObResult<Response> {
    let reading = Reading::start(
        &state,
        &bearer,
        &["ReadAccountsBasic", "ReadAccountsDetail"],
    )
    .await?;
    let items: Vec<Value> = reading
        .accounts()
        .iter()
        .map(|a| obie::account(a, &reading.intent))
        .collect();
    Ok(Json(obie::envelope("Account", json!(items), &bearer.url)).into_response())
}

async fn one_account(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(account_id): Path<String>,
) -> ObResult<Response> {
    let reading = Reading::start(
        &state,
        &bearer,
        &["ReadAccountsBasic", "ReadAccountsDetail"],
    )
    .await?;
    let account = reading.account(&account_id)?;
    Ok(Json(obie::envelope(
        "Account",
        json!([obie::account(account, &reading.intent)]),
        &bearer.url,
    ))
    .into_response())
}

fn balances_of(
    reading: &Reading,
    accounts: &[&Account],
    payments: &HashMap<String, Vec<External>>,
) -> Vec<Value> {
    let mut items = Vec::new();
    for account in accounts {
        let externals = payments
            .get(&account.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let booked = account.balance_at(reading.now, reading.today(), externals);
        if let Value::Array(list) = obie::balances(account, booked, reading.now) {
            items.extend(list);
        }
    }
    items
}

async fn account_balances(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(account_id): Path<String>,
) -> ObResult<Response> {
    let reading = Reading::start(&state, &bearer, &["ReadBalances"]).await?;
    let account = reading.account(&account_id)?;
    let payments = payments(&state, &bearer.org_id, Some(&account.id)).await?;
    Ok(Json(obie::envelope(
        "Balance",
        json!(balances_of(&reading, &[account], &payments)),
        &bearer.url,
    ))
    .into_response())
}

async fn all_balances(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
) -> ObResult<Response> {
    let reading = Reading::start(&state, &bearer, &["ReadBalances"]).await?;
    let payments = payments(&state, &bearer.org_id, None).await?;
    let accounts = reading.accounts();
    Ok(Json(obie::envelope(
        "Balance",
        json!(balances_of(&reading, &accounts, &payments)),
        &bearer.url,
    ))
    .into_response())
}

/// The endpoint a list route serves, from the last segment of its path.
fn list_kind(bearer: &Bearer) -> &str {
    bearer.path_url().rsplit('/').next().unwrap_or_default()
}

/// `fromStatementDateTime` / `toStatementDateTime`: a statement is listed when its
/// period overlaps the range (either end open).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct StatementRange {
    from_statement_date_time: Option<String>,
    to_statement_date_time: Option<String>,
}

impl StatementRange {
    fn asked(&self) -> ObResult<Asked> {
        asked_range(
            &self.from_statement_date_time,
            &self.to_statement_date_time,
            ("fromStatementDateTime", "toStatementDateTime"),
        )
    }
}

fn overlaps((from, to): Asked, first: Date, last: Date) -> bool {
    let start = PrimitiveDateTime::new(first, Time::MIDNIGHT).assume_utc();
    let end = PrimitiveDateTime::new(last, Time::MAX).assume_utc();
    from.is_none_or(|from| end >= from) && to.is_none_or(|to| start <= to)
}

fn list_of(
    reading: &Reading,
    kind: &str,
    account: &Account,
    statements: Asked,
) -> ObResult<(&'static str, Vec<Value>)> {
    let intent = &reading.intent;
    let today = reading.today();
    Ok(match kind {
        "beneficiaries" => ("Beneficiary", obie::beneficiaries(account, intent)),
        "direct-debits" => ("DirectDebit", obie::direct_debits(account, today)),
        "standing-orders" => (
            "StandingOrder",
            obie::standing_orders(account, intent, today),
        ),
        "scheduled-payments" => (
            "ScheduledPayment",
            obie::scheduled_payments(account, intent, today),
        ),
        "statements" => (
            "Statement",
            obie::statement_periods(account, today)
                .iter()
                .filter(|(_, first, last)| overlaps(statements, *first, *last))
                .map(|p| obie::statement(account, intent, p, today))
                .collect(),
        ),
        "product" | "products" => ("Product", vec![obie::product(account)]),
        "offers" => ("Offer", Vec::new()),
        _ => return Err(ObError::not_found("The resource")),
    })
}

fn permissions_for(kind: &str) -> &'static [&'static str] {
    match kind {
        "beneficiaries" => &["ReadBeneficiariesBasic", "ReadBeneficiariesDetail"],
        "direct-debits" => &["ReadDirectDebits"],
        "standing-orders" => &["ReadStandingOrdersBasic", "ReadStandingOrdersDetail"],
        "scheduled-payments" => &["ReadScheduledPaymentsBasic", "ReadScheduledPaymentsDetail"],
        "statements" => &["ReadStatementsBasic", "ReadStatementsDetail"],
        "product" | "products" => &["ReadProducts"],
        "offers" => &["ReadOffers"],
        _ => &[],
    }
}

async fn account_list(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(account_id): Path<String>,
    ObQuery(range): ObQuery<StatementRange>,
) -> ObResult<Response> {
    let kind = list_kind(&bearer).to_string();
    let reading = Reading::start(&state, &bearer, permissions_for(&kind)).await?;
    let account = reading.account(&account_id)?;
    let (field, items) = list_of(&reading, &kind, account, range.asked()?)?;
    Ok(Json(obie::envelope(field, json!(items), &bearer.url)).into_response())
}

async fn all_list(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    ObQuery(range): ObQuery<StatementRange>,
) -> ObResult<Response> {
    let kind = list_kind(&bearer).to_string();
    let reading = Reading::start(&state, &bearer, permissions_for(&kind)).await?;
    let asked = range.asked()?;
    let mut field = "";
    let mut items = Vec::new();
    for account in reading.accounts() {
        let (name, list) = list_of(&reading, &kind, account, asked)?;
        field = name;
        items.extend(list);
    }
    if field.is_empty() {
        if let Some(account) = reading.customer().accounts.first() {
            field = list_of(&reading, &kind, account, asked)?.0;
        }
    }
    Ok(Json(obie::envelope(field, json!(items), &bearer.url)).into_response())
}

async fn one_statement(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path((account_id, statement_id)): Path<(String, String)>,
) -> ObResult<Response> {
    let reading = Reading::start(
        &state,
        &bearer,
        &["ReadStatementsBasic", "ReadStatementsDetail"],
    )
    .await?;
    let account = reading.account(&account_id)?;
    let period = reading.statement_period(account, &statement_id)?;
    let item = obie::statement(account, &reading.intent, &period, reading.today());
    Ok(Json(obie::envelope("Statement", json!([item]), &bearer.url)).into_response())
}

async fn psu_party(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
) -> ObResult<Response> {
    let reading = Reading::start(&state, &bearer, &["ReadPartyPSU"]).await?;
    let body = json!({ "Data": { "Party": obie::party(&reading.customer().party, None) }, "Links": { "Self": bearer.url }, "Meta": obie::meta(Some(1)) });
    Ok(Json(body).into_response())
}

async fn account_party(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(account_id): Path<String>,
) -> ObResult<Response> {
    let reading = Reading::start(&state, &bearer, &["ReadParty"]).await?;
    let account = reading.account(&account_id)?;
    let party = obie::party(&reading.customer().account_party, Some(&account.id));
    let body = json!({ "Data": { "Party": party }, "Links": { "Self": bearer.url }, "Meta": obie::meta(Some(1)) });
    Ok(Json(body).into_response())
}

async fn account_parties(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(account_id): Path<String>,
) -> ObResult<Response> {
    let reading = Reading::start(&state, &bearer, &["ReadParty"]).await?;
    let account = reading.account(&account_id)?;
    let party = obie::party(&reading.customer().account_party, Some(&account.id));
    Ok(Json(obie::envelope("Party", json!([party]), &bearer.url)).into_response())
}
