//! The dataset in the OBIE v3.1.11 shapes, with the fields each permission allows:
//! `Basic` permissions omit what their `Detail` counterparts add (account
//! identification, counterparty accounts, transaction information, running balances,
//! merchant details, statement amounts), and card numbers are masked without `ReadPAN`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sandbox_data::ledger::Entry;
use sandbox_data::model::{Account, Customer, Identifier, Party};
use sandbox_data::{money, External};
use serde::Serialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::clients::intents::Intent;

pub fn format_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(format_at)
        .unwrap_or_default()
}

pub fn format_at(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

fn day_start(date: Date) -> String {
    format_at(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc())
}

/// An ISO 8601 date-time: with an offset (RFC 3339), or without one (taken as UTC),
/// as OBIE query parameters are often sent.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let naive = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(text, &naive)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// A date-time filter in a query (`fromBookingDateTime` and the like), as the
/// specification reads them: `2026-11-01` (the time is optional, 00:00:00 when left
/// out) or `2026-11-01T09:30:00` with optional fractions of a second, and any time
/// zone (`Z`, `+05:00`, `-0300`) ignored: the local date and time are taken as they
/// are written.
pub fn parse_filter_time(text: &str) -> Option<OffsetDateTime> {
    let day = time::macros::format_description!("[year]-[month]-[day]");
    let (date, clock) = match text.split_once(['T', 't']) {
        None => (text, None),
        Some((date, clock)) => (date, Some(clock)),
    };
    let date = Date::parse(date, &day).ok()?;
    let Some(clock) = clock else {
        return Some(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc());
    };
    let local = if let Some(local) = clock.strip_suffix(['Z', 'z']) {
        local
    } else if let Some(at) = clock.rfind(['+', '-']) {
        let zone = &clock[at + 1..];
        let digits: String = zone.chars().filter(|c| *c != ':').collect();
        // RFC 3339 §5.6: time-numoffset is a time-hour (00-23) and a
        // time-minute (00-59); `+99:00` is no offset.
        let in_range = digits
            .get(..2)
            .and_then(|h| h.parse::<u8>().ok())
            .is_some_and(|h| h <= 23)
            && digits
                .get(2..)
                .and_then(|m| m.parse::<u8>().ok())
                .is_some_and(|m| m <= 59);
        let zone_ok = digits.len() == 4
            && digits.bytes().all(|b| b.is_ascii_digit())
            && in_range
            && (zone.len() == 4 || zone.as_bytes().get(2) == Some(&b':'));
        if !zone_ok {
            return None;
        }
        &clock[..at]
    } else {
        clock
    };
    let (whole, fraction) = match local.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (local, None),
    };
    if fraction
        .is_some_and(|f| f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let hms = time::macros::format_description!("[hour]:[minute]:[second]");
    let at = Time::parse(whole, &hms).ok()?;
    Some(PrimitiveDateTime::new(date, at).assume_utc())
}

pub fn meta(total_pages: Option<u32>) -> Value {
    match total_pages {
        Some(pages) => json!({ "TotalPages": pages }),
        None => json!({}),
    }
}

/// The OBIE envelope of a read response.
pub fn envelope(field: &str, items: Value, self_url: &str) -> Value {
    json!({ "Data": { field: items }, "Links": { "Self": self_url }, "Meta": meta(Some(1)) })
}

/// A JSON answer serialised once into a buffer sized for `items` list entries, instead
/// of growing it piece by piece: a page of 100 transactions is about 54 KB.
pub fn json_response<T: Serialize>(body: &T, items: usize) -> Response {
    let mut buffer = Vec::with_capacity(1024 + items * 640);
    match serde_json::to_writer(&mut buffer, body) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], buffer).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "could not serialise an answer");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `OBActiveOrHistoricCurrencyAndAmount`, for the answers built as JSON values.
pub fn amount(minor: i64, currency: &str) -> Value {
    serde_json::to_value(Amount::of(minor, currency)).unwrap_or_default()
}

/// `OBCashAccount`, for the answers built as JSON values.
fn identifier(id: &Identifier) -> Value {
    serde_json::to_value(CashAccount::of(id)).unwrap_or_default()
}

pub fn account(account: &Account, intent: &Intent) -> Value {
    let mut value = json!({
        "AccountId": account.id,
        "Status": "Enabled",
        "StatusUpdateDateTime": day_start(account.opened),
        "Currency": account.currency,
        "AccountType": account.kind.account_type(),
        "AccountSubType": account.kind.sub_type(),
        "Description": account.description,
        "Nickname": account.nickname,
        "OpeningDate": day_start(account.opened),
    });
    if intent.has("ReadAccountsDetail") {
        let mut id = identifier(&account.identifier);
        if let (Some(masked), false) = (&account.masked_identification, intent.has("ReadPAN")) {
            id["Identification"] = json!(masked);
        }
        value["Account"] = json!([id]);
        value["Servicer"] =
            json!({ "SchemeName": "UK.OBIE.BICFI", "Identification": "GHSBGB2LXXX" });
    }
    value
}

/// The booked and available balances now, with the arranged credit line.
pub fn balances(account: &Account, booked: i64, now: OffsetDateTime) -> Value {
    let at = |kind: &str, minor: i64, now: &str| {
        let mut balance = json!({
            "AccountId": account.id,
            "CreditDebitIndicator": money::indicator(minor),
            "Type": kind,
            "DateTime": now,
            "Amount": amount(minor, account.currency),
        });
        if let Some(limit) = account.credit_line {
            balance["CreditLine"] = json!([{ "Included": kind == "InterimAvailable", "Type": "Pre-Agreed", "Amount": amount(limit, account.currency) }]);
        }
        balance
    };
    let now = format_at(now);
    json!([
        at("InterimBooked", booked, &now),
        at(
            "InterimAvailable",
            booked + account.credit_line.unwrap_or(0),
            &now
        )
    ])
}

/// Whether the intent lets the app see this transaction at all (`Credits`/`Debits`).
pub fn visible(intent: &Intent, minor: i64) -> bool {
    if minor >= 0 {
        intent.has("ReadTransactionsCredits")
    } else {
        intent.has("ReadTransactionsDebits")
    }
}

pub fn transaction<'a>(
    account: &'a Account,
    entry: &Entry,
    externals: &'a [External],
    intent: &Intent,
) -> Transaction<'a> {
    let t = &entry.transaction;
    let described = account.describe(t, externals);
    let at = format_at(entry.at());
    let detail = intent.has("ReadTransactionsDetail");
    Transaction {
        account_id: &account.id,
        transaction_id: described.id,
        transaction_reference: described.reference,
        credit_debit_indicator: money::indicator(t.amount),
        status: "Booked",
        transaction_mutability: "Immutable",
        booking_date_time: at.clone(),
        value_date_time: at,
        amount: Amount::of(t.amount, account.currency),
        proprietary_bank_transaction_code: BankTransactionCode {
            code: described.code,
            issuer: "GatehouseSandboxBank",
        },
        transaction_information: detail.then_some(described.information),
        balance: detail.then(|| Balance {
            credit_debit_indicator: money::indicator(entry.balance),
            kind: "InterimBooked",
            amount: Amount::of(entry.balance, account.currency),
        }),
        merchant_details: described
            .merchant
            .filter(|_| detail)
            .map(|(name, mcc)| Merchant {
                merchant_name: name,
                merchant_category_code: mcc,
            }),
        creditor_account: described
            .counterparty
            .filter(|_| detail)
            .map(CashAccount::of),
    }
}

/// `OBTransaction6`, serialised straight from borrowed data: a page of transactions is
/// the sandbox API's largest and most frequent answer. The detail fields are present
/// only with `ReadTransactionsDetail`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Transaction<'a> {
    account_id: &'a str,
    transaction_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_reference: Option<&'a str>,
    credit_debit_indicator: &'static str,
    status: &'static str,
    transaction_mutability: &'static str,
    booking_date_time: String,
    value_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_information: Option<String>,
    amount: Amount<'a>,
    proprietary_bank_transaction_code: BankTransactionCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    balance: Option<Balance<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_details: Option<Merchant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creditor_account: Option<CashAccount<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Amount<'a> {
    amount: String,
    currency: &'a str,
}

impl<'a> Amount<'a> {
    fn of(minor: i64, currency: &'a str) -> Self {
        Self {
            amount: money::format(minor),
            currency,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BankTransactionCode {
    code: &'static str,
    issuer: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Balance<'a> {
    credit_debit_indicator: &'static str,
    #[serde(rename = "Type")]
    kind: &'static str,
    amount: Amount<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Merchant {
    merchant_name: &'static str,
    merchant_category_code: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CashAccount<'a> {
    scheme_name: &'static str,
    identification: &'a str,
    name: &'a str,
}

impl<'a> CashAccount<'a> {
    fn of(id: &'a Identifier) -> Self {
        Self {
            scheme_name: id.scheme,
            identification: &id.identification,
            name: &id.name,
        }
    }
}

pub fn beneficiaries(account: &Account, intent: &Intent) -> Vec<Value> {
    account
        .beneficiaries
        .iter()
        .map(|b| {
            let mut value = json!({
                "AccountId": account.id,
                "BeneficiaryId": b.beneficiary_id,
                "BeneficiaryType": if b.trusted { "Trusted" } else { "Ordinary" },
                "Reference": b.reference,
            });
            if intent.has("ReadBeneficiariesDetail") {
                value["CreditorAccount"] = identifier(&b.account);
            }
            value
        })
        .collect()
}

/// The most recent day `day_of_month` on or before `today`, and the next one after it.
fn around(today: Date, day_of_month: u8) -> (Date, Date) {
    let this_month =
        Date::from_calendar_date(today.year(), today.month(), day_of_month).unwrap_or(today);
    let shift = |date: Date, forward: bool| {
        let (year, month) = match (forward, date.month()) {
            (true, time::Month::December) => (date.year() + 1, time::Month::January),
            (true, m) => (date.year(), m.next()),
            (false, time::Month::January) => (date.year() - 1, time::Month::December),
            (false, m) => (date.year(), m.previous()),
        };
        Date::from_calendar_date(year, month, day_of_month).unwrap_or(date)
    };
    if this_month <= today {
        (this_month, shift(this_month, true))
    } else {
        (shift(this_month, false), this_month)
    }
}

pub fn direct_debits(account: &Account, today: Date) -> Vec<Value> {
    account
        .direct_debits
        .iter()
        .map(|dd| {
            let (previous, _) = around(today, dd.day_of_month);
            json!({
                "AccountId": account.id,
                "DirectDebitId": dd.direct_debit_id,
                "MandateIdentification": dd.mandate,
                "DirectDebitStatusCode": "Active",
                "Name": dd.name,
                "PreviousPaymentDateTime": day_start(previous),
                "Frequency": "UK.OBIE.Monthly",
                "PreviousPaymentAmount": amount(dd.amount, account.currency),
            })
        })
        .collect()
}

pub fn standing_orders(account: &Account, intent: &Intent, today: Date) -> Vec<Value> {
    account
        .standing_orders
        .iter()
        .map(|so| {
            let (_, next) = around(today, so.day_of_month);
            let mut value = json!({
                "AccountId": account.id,
                "StandingOrderId": so.standing_order_id,
                "Frequency": format!("IntrvlMnthDay:01:{:02}", so.day_of_month),
                "Reference": so.reference,
                "FirstPaymentDateTime": day_start(so.first_payment),
                "NextPaymentDateTime": day_start(next),
                "StandingOrderStatusCode": "Active",
                "FirstPaymentAmount": amount(so.amount, account.currency),
                "NextPaymentAmount": amount(so.amount, account.currency),
            });
            if intent.has("ReadStandingOrdersDetail") {
                value["CreditorAccount"] = identifier(&so.payee);
            }
            value
        })
        .collect()
}

/// One-off payments booked for the coming weeks: to the account's ordinary
/// beneficiaries, on the 14th of next month.
pub fn scheduled_payments(account: &Account, intent: &Intent, today: Date) -> Vec<Value> {
    let (_, next) = around(today, 14);
    account
        .beneficiaries
        .iter()
        .filter(|b| !b.trusted)
        .take(1)
        .map(|b| {
            let mut value = json!({
                "AccountId": account.id,
                "ScheduledPaymentId": format!("sp-{}", &b.beneficiary_id[4..]),
                "ScheduledPaymentDateTime": day_start(next),
                "ScheduledType": "Execution",
                "Reference": b.reference,
                "InstructedAmount": amount(25_00 + (b.reference.len() as i64) * 100, account.currency),
            });
            if intent.has("ReadScheduledPaymentsDetail") {
                value["CreditorAccount"] = identifier(&b.account);
            }
            value
        })
        .collect()
}

/// Monthly statements: the last twelve full months the account was open.
pub fn statement_periods(account: &Account, today: Date) -> Vec<(String, Date, Date)> {
    let mut periods = Vec::new();
    let mut end = Date::from_calendar_date(today.year(), today.month(), 1)
        .ok()
        .and_then(|d| d.previous_day());
    while let Some(last) = end {
        let first = Date::from_calendar_date(last.year(), last.month(), 1).unwrap_or(last);
        if first < account.opened || periods.len() == 12 {
            break;
        }
        periods.push((
            format!(
                "stm-{}-{}{:02}",
                &account.id[4..],
                first.year(),
                u8::from(first.month())
            ),
            first,
            last,
        ));
        end = first.previous_day();
    }
    periods
}

pub fn statement(
    account: &Account,
    intent: &Intent,
    period: &(String, Date, Date),
    today: Date,
) -> Value {
    let (id, first, last) = period;
    let end = last.next_day().map_or(String::new(), day_start);
    let mut value = json!({
        "AccountId": account.id,
        "StatementId": id,
        "StatementReference": id.chars().rev().take(6).collect::<String>().chars().rev().collect::<String>(),
        "Type": "RegularPeriodic",
        "StartDateTime": day_start(*first),
        "EndDateTime": end,
        "CreationDateTime": end,
    });
    if intent.has("ReadStatementsDetail") {
        let opening = first.previous_day().map_or(account.opening_balance, |d| {
            account.closing_balance(d, today)
        });
        let closing = account.closing_balance(*last, today);
        let entry = |kind: &str, minor: i64| json!({ "CreditDebitIndicator": money::indicator(minor), "Type": kind, "Amount": amount(minor, account.currency) });
        value["StatementAmount"] = json!([
            entry("UK.OBIE.PreviousClosingBalance", opening),
            entry("UK.OBIE.ClosingBalance", closing)
        ]);
    }
    value
}

pub fn party(party: &Party, account_id: Option<&str>) -> Value {
    let mut value = json!({
        "PartyId": party.party_id,
        "PartyNumber": party.party_number,
        "PartyType": party.party_type,
        "Name": party.name,
        "FullLegalName": party.full_legal_name,
        "LegalStructure": party.legal_structure,
        "EmailAddress": party.email,
        "Phone": party.phone,
        "Mobile": party.mobile,
        "Address": [{
            "AddressType": "Residential",
            "StreetName": party.address.street_name,
            "BuildingNumber": party.address.building_number,
            "PostCode": party.address.post_code,
            "TownName": party.address.town_name,
            "Country": party.address.country,
        }],
    });
    if account_id.is_some() {
        value["AccountRole"] = json!("UK.OBIE.Owner");
    }
    value
}

pub fn product(account: &Account) -> Value {
    let p = &account.product;
    let mut value = json!({
        "AccountId": account.id,
        "ProductId": p.product_id,
        "ProductName": p.name,
        "ProductType": p.product_type,
    });
    if p.product_type == "Other" {
        value["OtherProductType"] = json!({ "Name": p.name, "Description": p.description });
    }
    value
}

/// The customer's accounts the intent covers, in the dataset's order.
pub fn consented<'a>(customer: &'a Customer, intent: &Intent) -> Vec<&'a Account> {
    customer
        .accounts
        .iter()
        .filter(|a| intent.accounts.contains(&a.id))
        .collect()
}
