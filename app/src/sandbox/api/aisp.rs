//! Account information (AISP): the accounts a customer authorised, with the fields
//! the consent's permissions allow. An account id outside the consent, or another
//! organisation's, is not found (404), and nothing about it is revealed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use sandbox_data::model::{Account, Customer};
use sandbox_data::{Cursor, Dataset, Entry, External};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use super::consents::{self, Intent, ACCOUNT_ACCESS};
use super::error::{ObError, ObResult};
use super::obie;
use super::{now, Bearer, BASE};
use crate::platform::state::AppState;

/// Transactions per page (`Links.Next` continues).
pub const PAGE_SIZE: usize = 100;

pub fn routes() -> Router<AppState> {
    let p = |path: &str| format!("{BASE}/aisp{path}");
    Router::new()
        .route(&p("/accounts"), get(accounts))
        .route(&p("/accounts/{account_id}"), get(one_account))
        .route(&p("/accounts/{account_id}/balances"), get(account_balances))
        .route(&p("/balances"), get(all_balances))
        .route(
            &p("/accounts/{account_id}/transactions"),
            get(account_transactions),
        )
        .route(&p("/transactions"), get(all_transactions))
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
            get(statement_transactions),
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
struct Reading {
    intent: Intent,
    dataset: Arc<Dataset>,
    customer: usize,
    now: OffsetDateTime,
}

impl Reading {
    async fn start(state: &AppState, bearer: &Bearer, any_of: &[&str]) -> ObResult<Self> {
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
            .datasets
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

    fn accounts(&self) -> Vec<&Account> {
        obie::consented(self.customer(), &self.intent)
    }

    fn account(&self, id: &str) -> ObResult<&Account> {
        self.accounts()
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| ObError::not_found("The account"))
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
    let cache = &state.oauth.cache;
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

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Range {
    from_booking_date_time: Option<String>,
    to_booking_date_time: Option<String>,
    page: Option<String>,
}

fn date_time(text: &Option<String>, name: &str) -> ObResult<Option<OffsetDateTime>> {
    match text {
        None => Ok(None),
        Some(text) => obie::parse_time(text).map(Some).ok_or_else(|| {
            ObError::bad_request(
                "UK.OBIE.Field.InvalidDate",
                format!("{name} must be an ISO 8601 date-time."),
            )
            .at(name.to_string())
        }),
    }
}

/// The booking range a request asks for; either end may be open.
type Asked = (Option<OffsetDateTime>, Option<OffsetDateTime>);

fn asked(range: &Range) -> ObResult<Asked> {
    let from = date_time(&range.from_booking_date_time, "fromBookingDateTime")?;
    let to = date_time(&range.to_booking_date_time, "toBookingDateTime")?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ObError::bad_request(
                "UK.OBIE.Field.InvalidDate",
                "fromBookingDateTime is after toBookingDateTime.",
            )
            .at("fromBookingDateTime"));
        }
    }
    Ok((from, to))
}

/// The booking window: what was asked, within what the consent allows.
fn window(
    reading: &Reading,
    (asked_from, asked_to): Asked,
    opened: Date,
) -> (OffsetDateTime, OffsetDateTime) {
    let consent_from = reading
        .intent
        .transactions_from
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
    let consent_to = reading
        .intent
        .transactions_to
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
    let opened = PrimitiveDateTime::new(opened, Time::MIDNIGHT).assume_utc();
    let from = [asked_from, consent_from, Some(opened)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(opened);
    let to = [asked_to, consent_to, Some(reading.now)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(reading.now);
    (from, to)
}

/// A page of visible transactions (the consent's Credits/Debits), continuing after the
/// cursor; and where the next page starts.
fn visible_page(
    reading: &Reading,
    account: &Account,
    externals: &[External],
    range: (OffsetDateTime, OffsetDateTime),
    mut cursor: Option<Cursor>,
) -> (Vec<Entry>, Option<Cursor>) {
    let mut out = Vec::new();
    loop {
        let (entries, next) =
            account.page(range, reading.now, externals, cursor, PAGE_SIZE - out.len());
        out.extend(
            entries
                .into_iter()
                .filter(|e| obie::visible(&reading.intent, e.transaction.amount)),
        );
        match next {
            Some(next) if out.len() < PAGE_SIZE => cursor = Some(next),
            other => return (out, other),
        }
    }
}

fn next_link(bearer: &Bearer, cursor: Cursor) -> String {
    let Ok(mut url) = url::Url::parse(&bearer.url) else {
        return bearer.url.clone();
    };
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("page", &cursor.encode());
    url.to_string()
}

fn cursor(
    page: Option<&str>,
    window: (OffsetDateTime, OffsetDateTime),
) -> ObResult<Option<Cursor>> {
    let Some(text) = page else {
        return Ok(None);
    };
    let cursor = Cursor::decode(text).ok_or_else(|| {
        ObError::field_invalid(
            "page",
            "The page parameter is not one this API gave out in Links.Next.",
        )
    })?;
    if cursor.date > window.1.date() || cursor.date < window.0.date() {
        return Err(ObError::field_invalid(
            "page",
            "The page is past the end of the requested range.",
        ));
    }
    Ok(Some(cursor))
}

fn transactions_body<'a>(
    reading: &Reading,
    bearer: &'a Bearer,
    pages: Vec<(&'a Account, Vec<Entry>, &'a [External])>,
    next: Option<Cursor>,
    range: (OffsetDateTime, OffsetDateTime),
) -> TransactionsBody<'a> {
    let transaction = pages
        .iter()
        .flat_map(|(account, entries, externals)| {
            entries
                .iter()
                .map(|e| obie::transaction(account, e, externals, &reading.intent))
        })
        .collect();
    TransactionsBody {
        data: TransactionsData { transaction },
        links: Links {
            this: &bearer.url,
            next: next.map(|cursor| next_link(bearer, cursor)),
        },
        meta: TransactionsMeta {
            first_available_date_time: obie::format_at(range.0),
            last_available_date_time: obie::format_at(range.1),
        },
    }
}

/// `OBReadTransaction6`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TransactionsBody<'a> {
    data: TransactionsData<'a>,
    links: Links<'a>,
    meta: TransactionsMeta,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TransactionsData<'a> {
    transaction: Vec<obie::Transaction<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Links<'a> {
    #[serde(rename = "Self")]
    this: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TransactionsMeta {
    first_available_date_time: String,
    last_available_date_time: String,
}

const TRANSACTIONS: [&str; 2] = ["ReadTransactionsBasic", "ReadTransactionsDetail"];

async fn account_transactions(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(account_id): Path<String>,
    Query(range): Query<Range>,
) -> ObResult<Response> {
    let reading = Reading::start(&state, &bearer, &TRANSACTIONS).await?;
    let account = reading.account(&account_id)?;
    let asked = asked(&range)?;
    transactions_page(
        &state,
        &bearer,
        &reading,
        account,
        asked,
        range.page.as_deref(),
    )
    .await
}

/// One page of an account's transactions in the asked range, with `Links.Next`.
async fn transactions_page(
    state: &AppState,
    bearer: &Bearer,
    reading: &Reading,
    account: &Account,
    asked: Asked,
    page: Option<&str>,
) -> ObResult<Response> {
    let window = window(reading, asked, account.opened);
    let after = cursor(page, window)?;
    let externals = account_payments(state, &bearer.org_id, &account.id).await?;
    let (entries, next) = visible_page(reading, account, &externals, window, after);
    let body = transactions_body(
        reading,
        bearer,
        vec![(account, entries, &externals)],
        next,
        window,
    );
    Ok(obie::json_response(&body, body.data.transaction.len()))
}

/// `/transactions` across the consented accounts: the first page of each (bulk
/// endpoints are not paged across accounts; use the per-account endpoint to page).
async fn all_transactions(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Query(range): Query<Range>,
) -> ObResult<Response> {
    let reading = Reading::start(&state, &bearer, &TRANSACTIONS).await?;
    if range.page.is_some() {
        return Err(ObError::field_invalid("page", "The bulk /transactions endpoint is not paged: page each account's transactions instead."));
    }
    let asked = asked(&range)?;
    let payments = payments(&state, &bearer.org_id, None).await?;
    let mut pages = Vec::new();
    let mut window_all = None;
    for account in reading.accounts() {
        let window = window(&reading, asked, account.opened);
        window_all.get_or_insert(window);
        let externals = payments
            .get(&account.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (entries, _) = visible_page(&reading, account, externals, window, None);
        pages.push((account, entries, externals));
    }
    let window = window_all.unwrap_or((reading.now, reading.now));
    let body = transactions_body(&reading, &bearer, pages, None, window);
    Ok(obie::json_response(&body, body.data.transaction.len()))
}

/// The endpoint a list route serves, from the last segment of its path.
fn list_kind(bearer: &Bearer) -> &str {
    bearer.path_url().rsplit('/').next().unwrap_or_default()
}

fn list_of(
    reading: &Reading,
    kind: &str,
    account: &Account,
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
) -> ObResult<Response> {
    let kind = list_kind(&bearer).to_string();
    let reading = Reading::start(&state, &bearer, permissions_for(&kind)).await?;
    let account = reading.account(&account_id)?;
    let (field, items) = list_of(&reading, &kind, account)?;
    Ok(Json(obie::envelope(field, json!(items), &bearer.url)).into_response())
}

async fn all_list(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
) -> ObResult<Response> {
    let kind = list_kind(&bearer).to_string();
    let reading = Reading::start(&state, &bearer, permissions_for(&kind)).await?;
    let mut field = "";
    let mut items = Vec::new();
    for account in reading.accounts() {
        let (name, list) = list_of(&reading, &kind, account)?;
        field = name;
        items.extend(list);
    }
    if field.is_empty() {
        field = list_of(
            &reading,
            &kind,
            reading
                .customer()
                .accounts
                .first()
                .ok_or_else(|| ObError::not_found("The account"))?,
        )?
        .0;
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
    let period = obie::statement_periods(account, reading.today())
        .into_iter()
        .find(|p| p.0 == statement_id)
        .ok_or_else(|| ObError::not_found("The statement"))?;
    let item = obie::statement(account, &reading.intent, &period, reading.today());
    Ok(Json(obie::envelope("Statement", json!([item]), &bearer.url)).into_response())
}

async fn statement_transactions(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path((account_id, statement_id)): Path<(String, String)>,
    Query(range): Query<Range>,
) -> ObResult<Response> {
    let reading = Reading::start(&state, &bearer, &TRANSACTIONS).await?;
    if !["ReadStatementsBasic", "ReadStatementsDetail"]
        .iter()
        .any(|p| reading.intent.has(p))
    {
        return Err(ObError::forbidden(
            "UK.OBIE.Resource.ConsentMismatch",
            "The consent does not grant ReadStatementsBasic or ReadStatementsDetail.",
        ));
    }
    let account = reading.account(&account_id)?;
    let (_, first, last) = obie::statement_periods(account, reading.today())
        .into_iter()
        .find(|p| p.0 == statement_id)
        .ok_or_else(|| ObError::not_found("The statement"))?;
    let asked = (
        Some(PrimitiveDateTime::new(first, Time::MIDNIGHT).assume_utc()),
        Some(PrimitiveDateTime::new(last, Time::MAX).assume_utc()),
    );
    transactions_page(
        &state,
        &bearer,
        &reading,
        account,
        asked,
        range.page.as_deref(),
    )
    .await
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
