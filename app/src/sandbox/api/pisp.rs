//! Payment initiation (PISP) for domestic payments: a consent the app creates with a
//! client-credentials token, the customer authorises (choosing the account to pay
//! from), funds confirmation, and the payment itself with `x-idempotency-key`. An
//! accepted payment debits the customer's account in the organisation's sandbox at
//! once (a transaction and a lower balance) and settles 30 seconds later.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use sandbox_data::{ids, money};
use serde_json::{json, Value};
use sqlx::Row;

use super::consents;
use super::envelope::ObJson;
use super::error::{ObError, ObResult};
use super::obie::{format_time, meta};
use super::schema;
use super::{idempotency, now, Bearer, BASE};
use crate::audit::{self, Event};
use crate::clients::intents::{Intent, DOMESTIC_PAYMENT};
use crate::platform::ids as gh_ids;
use crate::platform::state::AppState;

/// A payment is `AcceptedSettlementInProcess` for this long, then completed.
pub const SETTLEMENT_SECONDS: i64 = 30;

pub fn routes() -> Router<AppState> {
    let p = |path: &str| format!("{BASE}/pisp{path}");
    Router::new()
        .route(&p("/domestic-payment-consents"), post(create_consent))
        .route(
            &p("/domestic-payment-consents/{consent_id}"),
            get(get_consent),
        )
        .route(
            &p("/domestic-payment-consents/{consent_id}/funds-confirmation"),
            get(funds_confirmation),
        )
        .route(&p("/domestic-payments"), post(create_payment))
        .route(&p("/domestic-payments/{payment_id}"), get(get_payment))
        .route(
            &p("/domestic-payments/{payment_id}/payment-details"),
            get(payment_details),
        )
}

fn text<'a>(value: &'a Value, path: &str, max: usize) -> ObResult<&'a str> {
    let field = path.rsplit('.').next().unwrap_or(path);
    match value.get(field) {
        None | Some(Value::Null) => Err(ObError::field_missing(path)),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s),
        Some(_) => Err(ObError::field_invalid(
            path,
            format!("{path} must be a string of 1 to {max} characters."),
        )),
    }
}

/// Checks an `OBWriteDomestic2DataInitiation`; returns the amount in minor units.
fn check_initiation(initiation: &Value) -> ObResult<i64> {
    if !initiation.is_object() {
        return Err(ObError::field_missing("Data.Initiation"));
    }
    text(initiation, "Data.Initiation.InstructionIdentification", 35)?;
    text(initiation, "Data.Initiation.EndToEndIdentification", 35)?;
    let instructed = initiation
        .get("InstructedAmount")
        .filter(|v| v.is_object())
        .ok_or_else(|| ObError::field_missing("Data.Initiation.InstructedAmount"))?;
    let amount = text(instructed, "Data.Initiation.InstructedAmount.Amount", 19)?;
    let minor = money::parse(amount).ok_or_else(|| {
        ObError::field_invalid(
            "Data.Initiation.InstructedAmount.Amount",
            "The amount must be a positive decimal with at most two significant decimals.",
        )
    })?;
    let currency = text(instructed, "Data.Initiation.InstructedAmount.Currency", 3)?;
    if currency != "GBP" {
        return Err(ObError::bad_request(
            "UK.OBIE.Unsupported.Currency",
            "Domestic payments are in GBP.",
        )
        .at("Data.Initiation.InstructedAmount.Currency"));
    }
    let creditor = initiation
        .get("CreditorAccount")
        .filter(|v| v.is_object())
        .ok_or_else(|| ObError::field_missing("Data.Initiation.CreditorAccount"))?;
    let scheme = text(creditor, "Data.Initiation.CreditorAccount.SchemeName", 40)?;
    let identification = text(
        creditor,
        "Data.Initiation.CreditorAccount.Identification",
        256,
    )?;
    text(creditor, "Data.Initiation.CreditorAccount.Name", 350)?;
    let valid =
        match scheme {
            "UK.OBIE.SortCodeAccountNumber" => {
                identification.len() == 14 && identification.bytes().all(|b| b.is_ascii_digit())
            }
            "UK.OBIE.IBAN" => ids::iban_valid(identification),
            _ => return Err(ObError::bad_request(
                "UK.OBIE.Unsupported.Scheme",
                "CreditorAccount.SchemeName must be UK.OBIE.SortCodeAccountNumber or UK.OBIE.IBAN.",
            )
            .at("Data.Initiation.CreditorAccount.SchemeName")),
        };
    if !valid {
        return Err(ObError::bad_request(
            "UK.OBIE.Unsupported.AccountIdentifier",
            "CreditorAccount.Identification is not a valid account identifier for its scheme.",
        )
        .at("Data.Initiation.CreditorAccount.Identification"));
    }
    Ok(minor)
}

fn consent_body(intent: &Intent, self_url: &str) -> Value {
    json!({
        "Data": {
            "ConsentId": intent.id,
            "CreationDateTime": format_time(intent.created_at),
            "Status": intent.status,
            "StatusUpdateDateTime": format_time(intent.status_updated_at),
            "Initiation": intent.initiation,
        },
        "Risk": intent.risk,
        "Links": { "Self": self_url },
        "Meta": meta(None),
    })
}

async fn create_consent(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    headers: HeaderMap,
    ObJson {
        bytes: body,
        value: request,
    }: ObJson,
) -> ObResult<Response> {
    bearer.require_scope("payments")?;
    bearer.require_client_token()?;
    let key = idempotency::key(&headers)?;
    schema::check(schema::Request::DomesticPaymentConsent, &request)?;
    let data = request
        .get("Data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ObError::field_missing("Data"))?;
    let initiation = data.get("Initiation").cloned().unwrap_or(Value::Null);
    check_initiation(&initiation)?;
    let risk = request
        .get("Risk")
        .filter(|r| r.is_object())
        .ok_or_else(|| ObError::field_missing("Risk"))?;
    let at = now(&state).unix_timestamp();
    let mut tx = state.db.begin().await?;
    if let Some(replay) = idempotency::claim(
        &mut tx,
        &bearer.app_id,
        "domestic-payment-consents",
        &key,
        &body,
        at,
    )
    .await?
    {
        return Ok(replay);
    }
    let id = gh_ids::new_id("pdc");
    sqlx::query(
        "INSERT INTO ob_consents (id, kind, app_id, org_id, status, initiation, risk, created_at, status_updated_at) \
         VALUES ($1, 'domestic-payment', $2, $3, 'AwaitingAuthorisation', $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(&bearer.app_id)
    .bind(&bearer.org_id)
    .bind(initiation.to_string())
    .bind(risk.to_string())
    .bind(at)
    .execute(&mut *tx)
    .await?;
    let intent = Intent {
        id: id.clone(),
        kind: DOMESTIC_PAYMENT.into(),
        app_id: bearer.app_id.clone(),
        org_id: bearer.org_id.clone(),
        status: "AwaitingAuthorisation".into(),
        permissions: Vec::new(),
        expires_at: None,
        transactions_from: None,
        transactions_to: None,
        initiation: Some(initiation),
        risk: risk.clone(),
        customer: None,
        accounts: Vec::new(),
        created_at: at,
        status_updated_at: at,
    };
    let response = consent_body(&intent, &bearer.link_to(&id));
    idempotency::remember(
        &mut tx,
        &bearer.app_id,
        "domestic-payment-consents",
        &key,
        StatusCode::CREATED,
        &response,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(
            consents::app_actor(&bearer),
            "sandbox.payment_consent_created",
        )
        .resource("ob_consent", &id)
        .org(Some(&bearer.org_id))
        .details(json!({ "app_id": bearer.app_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(super::created(response))
}

async fn get_consent(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(consent_id): Path<String>,
) -> ObResult<Response> {
    bearer.require_scope("payments")?;
    let intent = consents::of_app(&state, &consent_id, &bearer.app_id, DOMESTIC_PAYMENT).await?;
    Ok(Json(consent_body(&intent, &bearer.url)).into_response())
}

/// The payment consent the customer authorised for this token, which must be the one
/// the request names.
async fn authorised(state: &AppState, bearer: &Bearer, consent_id: &str) -> ObResult<Intent> {
    bearer.require_scope("payments")?;
    let intent = consents::of_grant(state, bearer, DOMESTIC_PAYMENT).await?;
    if intent.id != consent_id {
        return Err(ObError::bad_request(
            "UK.OBIE.Resource.ConsentMismatch",
            "The access token was issued for another payment consent.",
        )
        .at("ConsentId"));
    }
    Ok(intent)
}

/// The customer's balance plus arranged credit on the account the consent pays from.
/// The debtor account and its available funds, from `dataset` (loaded by the caller
/// before any transaction: loading it inside one could wait on SQLite's write lock
/// the caller holds, review finding L10).
async fn available(
    state: &AppState,
    bearer: &Bearer,
    intent: &Intent,
    dataset: &sandbox_data::Dataset,
) -> ObResult<(String, i64)> {
    let account_id = intent.accounts.first().cloned().ok_or_else(|| {
        ObError::forbidden(
            "UK.OBIE.Resource.InvalidConsentStatus",
            "The consent names no debtor account.",
        )
    })?;
    let now = now(state);
    let (_, account) = dataset.account(&account_id).ok_or_else(|| {
        ObError::forbidden(
            "UK.OBIE.Resource.InvalidConsentStatus",
            "The debtor account is no longer in this sandbox.",
        )
    })?;
    let externals = super::aisp::account_payments(state, &bearer.org_id, &account_id).await?;
    let balance = account.balance_at(now, now.date(), &externals);
    Ok((account_id, balance + account.credit_line.unwrap_or(0)))
}

fn amount_of(intent: &Intent) -> i64 {
    intent
        .initiation
        .as_ref()
        .and_then(|i| i["InstructedAmount"]["Amount"].as_str())
        .and_then(money::parse)
        .unwrap_or(i64::MAX)
}

async fn funds_confirmation(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(consent_id): Path<String>,
) -> ObResult<Response> {
    let intent = authorised(&state, &bearer, &consent_id).await?;
    if intent.status != "Authorised" {
        return Err(ObError::bad_request(
            "UK.OBIE.Resource.InvalidConsentStatus",
            format!("The consent is {}.", intent.status),
        ));
    }
    let dataset = state
        .datasets()
        .for_org(&state.db, &bearer.org_id, now(&state).unix_timestamp())
        .await?;
    let (_, available) = available(&state, &bearer, &intent, &dataset).await?;
    let body = json!({
        "Data": { "FundsAvailableResult": { "FundsAvailableDateTime": format_time(state.clock.now()), "FundsAvailable": available >= amount_of(&intent) } },
        "Links": { "Self": bearer.url },
        "Meta": meta(None),
    });
    Ok(Json(body).into_response())
}

fn payment_body(row: &PaymentRow, now: i64, self_url: &str) -> Value {
    let (status, updated) = match (
        row.outcome.as_str(),
        now - row.created_at >= SETTLEMENT_SECONDS,
    ) {
        ("rejected", _) => ("Rejected", row.created_at),
        (_, true) => (
            "AcceptedSettlementCompleted",
            row.created_at + SETTLEMENT_SECONDS,
        ),
        (_, false) => ("AcceptedSettlementInProcess", row.created_at),
    };
    json!({
        "Data": {
            "DomesticPaymentId": row.id,
            "ConsentId": row.consent_id,
            "CreationDateTime": format_time(row.created_at),
            "Status": status,
            "StatusUpdateDateTime": format_time(updated),
            "Initiation": row.initiation,
        },
        "Links": { "Self": self_url },
        "Meta": meta(None),
    })
}

struct PaymentRow {
    id: String,
    consent_id: String,
    initiation: Value,
    outcome: String,
    created_at: i64,
}

async fn create_payment(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    headers: HeaderMap,
    ObJson {
        bytes: body,
        value: request,
    }: ObJson,
) -> ObResult<Response> {
    bearer.require_scope("payments")?;
    let key = idempotency::key(&headers)?;
    schema::check(schema::Request::DomesticPayment, &request)?;
    let data = request
        .get("Data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ObError::field_missing("Data"))?;
    let consent_id = text(data, "Data.ConsentId", 128)?.to_string();
    let initiation = data.get("Initiation").cloned().unwrap_or(Value::Null);
    check_initiation(&initiation)?;
    let risk = request
        .get("Risk")
        .filter(|r| r.is_object())
        .ok_or_else(|| ObError::field_missing("Risk"))?;
    let intent = authorised(&state, &bearer, &consent_id).await?;
    let at = now(&state).unix_timestamp();
    // The dataset is loaded (and, after a restart or an eviction, its row written)
    // before the transaction takes SQLite's write lock: loading it inside would wait,
    // on another pooled connection, for the lock this request holds (issue 18 item 7).
    let dataset = state
        .datasets()
        .for_org(&state.db, &bearer.org_id, at)
        .await?;
    let mut tx = state.db.begin().await?;
    if let Some(replay) = idempotency::claim(
        &mut tx,
        &bearer.app_id,
        "domestic-payments",
        &key,
        &body,
        at,
    )
    .await?
    {
        return Ok(replay);
    }
    if intent.initiation.as_ref() != Some(&initiation) || &intent.risk != risk {
        return Err(ObError::bad_request(
            "UK.OBIE.Resource.ConsentMismatch",
            "The Initiation and Risk must be exactly those of the consent.",
        )
        .at("Data.Initiation"));
    }
    let (account_id, available) = available(&state, &bearer, &intent, &dataset).await?;
    let amount = amount_of(&intent);
    let outcome = if available >= amount {
        "accepted"
    } else {
        "rejected"
    };
    let consumed = sqlx::query("UPDATE ob_consents SET status = 'Consumed', status_updated_at = $2 WHERE id = $1 AND status = 'Authorised'")
        .bind(&intent.id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    if consumed.rows_affected() != 1 {
        return Err(ObError::bad_request(
            "UK.OBIE.Resource.InvalidConsentStatus",
            format!(
                "The consent is {}: a payment consent pays once.",
                intent.status
            ),
        ));
    }
    let id = gh_ids::new_id("pay");
    sqlx::query(
        "INSERT INTO sandbox_payments (id, org_id, app_id, consent_id, account_id, amount, currency, initiation, outcome, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'GBP', $7, $8, $9)",
    )
    .bind(&id)
    .bind(&bearer.org_id)
    .bind(&bearer.app_id)
    .bind(&intent.id)
    .bind(&account_id)
    .bind(amount)
    .bind(initiation.to_string())
    .bind(outcome)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    let row = PaymentRow {
        id: id.clone(),
        consent_id: intent.id.clone(),
        initiation,
        outcome: outcome.into(),
        created_at: at,
    };
    let response = payment_body(&row, at, &bearer.link_to(&id));
    idempotency::remember(
        &mut tx,
        &bearer.app_id,
        "domestic-payments",
        &key,
        StatusCode::CREATED,
        &response,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(consents::app_actor(&bearer), "sandbox.payment_created")
            .resource("sandbox_payment", &id)
            .org(Some(&bearer.org_id))
            .details(json!({ "app_id": bearer.app_id, "consent_id": intent.id, "outcome": outcome, "amount": money::format(amount) })),
    )
    .await?;
    tx.commit().await?;
    state.oauth().cache.changed();
    Ok(super::created(response))
}

/// A payment of this app; another app's, or none, is a 400 `UK.OBIE.Resource.NotFound`
/// (the specification lists no 404 for this endpoint).
async fn payment_of_app(
    state: &AppState,
    bearer: &Bearer,
    payment_id: &str,
) -> ObResult<PaymentRow> {
    bearer.require_scope("payments")?;
    let row = sqlx::query("SELECT id, consent_id, initiation, outcome, created_at FROM sandbox_payments WHERE id = $1 AND app_id = $2")
        .bind(payment_id)
        .bind(&bearer.app_id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| {
            ObError::bad_request(
                "UK.OBIE.Resource.NotFound",
                "No payment of this app has this DomesticPaymentId.",
            )
            .at("DomesticPaymentId")
        })?;
    Ok(PaymentRow {
        id: row.try_get("id")?,
        consent_id: row.try_get("consent_id")?,
        initiation: serde_json::from_str(&row.try_get::<String, _>("initiation")?)
            .unwrap_or_default(),
        outcome: row.try_get("outcome")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn get_payment(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(payment_id): Path<String>,
) -> ObResult<Response> {
    let payment = payment_of_app(&state, &bearer, &payment_id).await?;
    Ok(Json(payment_body(&payment, state.clock.now(), &bearer.url)).into_response())
}

/// `OBWritePaymentDetailsResponse1`: every status the payment has been through, in
/// order (accepted and in settlement, then settled; or rejected).
async fn payment_details(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(payment_id): Path<String>,
) -> ObResult<Response> {
    let payment = payment_of_app(&state, &bearer, &payment_id).await?;
    let now = state.clock.now();
    let mut statuses = Vec::new();
    if payment.outcome == "rejected" {
        statuses.push((
            "Rejected",
            payment.created_at,
            "Insufficient funds on the debtor account.",
        ));
    } else {
        statuses.push((
            "AcceptedSettlementInProcess",
            payment.created_at,
            "Accepted; settlement in process.",
        ));
        if now - payment.created_at >= SETTLEMENT_SECONDS {
            statuses.push((
                "AcceptedSettlementCompleted",
                payment.created_at + SETTLEMENT_SECONDS,
                "Settled.",
            ));
        }
    }
    let items: Vec<Value> = statuses
        .into_iter()
        .map(|(status, at, description)| {
            json!({
                "PaymentTransactionId": payment.id,
                "Status": status,
                "StatusUpdateDateTime": format_time(at),
                "StatusDetail": { "Status": status, "StatusReasonDescription": description },
            })
        })
        .collect();
    let body = json!({
        "Data": { "PaymentStatus": items },
        "Links": { "Self": bearer.url },
        "Meta": meta(None),
    });
    Ok(Json(body).into_response())
}
