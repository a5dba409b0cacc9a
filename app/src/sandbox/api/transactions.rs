//! Transactions (AISP): one account's, a statement's, and the bulk `/transactions`
//! across every account the consent covers, each paged by [`PAGE_SIZE`] with
//! `Links.Next`. The booking filters take a date or a date-time; a time zone in them
//! is ignored, as the specification says (`fromBookingDateTime`: "If the Date Time
//! contains a timezone, the ASPSP must ignore the timezone component").

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use sandbox_data::model::Account;
use sandbox_data::{Cursor, Entry, External};
use serde::Serialize;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use super::aisp::{account_payments, payments, Reading};
use super::envelope::ObQuery;
use super::error::{ObError, ObResult};
use super::obie;
use super::Bearer;
use crate::platform::state::AppState;

/// Transactions per page (`Links.Next` continues).
pub const PAGE_SIZE: usize = 100;

const TRANSACTIONS: [&str; 2] = ["ReadTransactionsBasic", "ReadTransactionsDetail"];

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Range {
    from_booking_date_time: Option<String>,
    to_booking_date_time: Option<String>,
    page: Option<String>,
}

/// A date-time filter parameter (`from…DateTime`, `to…DateTime`), read as the
/// specification says: the time is optional (00:00:00 when left out), and a time
/// zone, if any, is ignored.
pub fn filter_time(text: &Option<String>, name: &str) -> ObResult<Option<OffsetDateTime>> {
    match text {
        None => Ok(None),
        Some(text) => obie::parse_filter_time(text).map(Some).ok_or_else(|| {
            ObError::bad_request(
                "UK.OBIE.Field.InvalidDate",
                format!("{name} must be an ISO 8601 date (2026-11-01) or date-time (2026-11-01T09:30:00)."),
            )
            .at(name.to_string())
        }),
    }
}

/// A requested range, either end open; refused when it ends before it starts.
pub type Asked = (Option<OffsetDateTime>, Option<OffsetDateTime>);

pub fn asked_range(
    from: &Option<String>,
    to: &Option<String>,
    (from_name, to_name): (&str, &str),
) -> ObResult<Asked> {
    let from = filter_time(from, from_name)?;
    let to = filter_time(to, to_name)?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ObError::bad_request(
                "UK.OBIE.Field.InvalidDate",
                format!("{from_name} is after {to_name}."),
            )
            .at(from_name.to_string()));
        }
    }
    Ok((from, to))
}

fn asked(range: &Range) -> ObResult<Asked> {
    asked_range(
        &range.from_booking_date_time,
        &range.to_booking_date_time,
        ("fromBookingDateTime", "toBookingDateTime"),
    )
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

/// Up to `room` visible transactions (the consent's Credits/Debits), continuing after
/// the cursor; and where the next page starts.
fn visible_page(
    reading: &Reading,
    account: &Account,
    externals: &[External],
    range: (OffsetDateTime, OffsetDateTime),
    mut cursor: Option<Cursor>,
    room: usize,
) -> (Vec<Entry>, Option<Cursor>) {
    let mut out = Vec::new();
    loop {
        let (entries, next) = account.page(range, reading.now, externals, cursor, room - out.len());
        out.extend(
            entries
                .into_iter()
                .filter(|e| obie::visible(&reading.intent, e.transaction.amount)),
        );
        match next {
            Some(next) if out.len() < room => cursor = Some(next),
            other => return (out, other),
        }
    }
}

fn next_link(bearer: &Bearer, page: &str) -> String {
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
        .append_pair("page", page);
    url.to_string()
}

fn foreign_page() -> ObError {
    ObError::field_invalid(
        "page",
        "The page parameter is not one this API gave out in Links.Next.",
    )
}

fn cursor(text: &str, window: (OffsetDateTime, OffsetDateTime)) -> ObResult<Cursor> {
    within(Cursor::decode(text).ok_or_else(foreign_page)?, window)
}

/// A cursor inside the window it pages.
fn within(cursor: Cursor, window: (OffsetDateTime, OffsetDateTime)) -> ObResult<Cursor> {
    if cursor.date > window.1.date() || cursor.date < window.0.date() {
        return Err(ObError::field_invalid(
            "page",
            "The page is past the end of the requested range.",
        ));
    }
    Ok(cursor)
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

fn respond(
    reading: &Reading,
    bearer: &Bearer,
    pages: &[(&Account, Vec<Entry>, &[External])],
    next: Option<String>,
    range: (OffsetDateTime, OffsetDateTime),
) -> Response {
    let transaction: Vec<obie::Transaction> = pages
        .iter()
        .flat_map(|(account, entries, externals)| {
            entries
                .iter()
                .map(|e| obie::transaction(account, e, externals, &reading.intent))
        })
        .collect();
    let items = transaction.len();
    let body = TransactionsBody {
        data: TransactionsData { transaction },
        links: Links {
            this: &bearer.url,
            next: next.map(|page| next_link(bearer, &page)),
        },
        meta: TransactionsMeta {
            first_available_date_time: obie::format_at(range.0),
            last_available_date_time: obie::format_at(range.1),
        },
    };
    obie::json_response(&body, items)
}

pub async fn account_transactions(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path(account_id): Path<String>,
    ObQuery(range): ObQuery<Range>,
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
    let after = page.map(|p| cursor(p, window)).transpose()?;
    let externals = account_payments(state, &bearer.org_id, &account.id).await?;
    let (entries, next) = visible_page(reading, account, &externals, window, after, PAGE_SIZE);
    Ok(respond(
        reading,
        bearer,
        &[(account, entries, &externals)],
        next.map(Cursor::encode),
        window,
    ))
}

/// Where a page of the bulk endpoint starts: the n-th consented account, and the
/// cursor within it (none: its first transaction).
struct BulkCursor {
    account: usize,
    within: Option<Cursor>,
}

impl BulkCursor {
    fn encode(&self) -> String {
        match self.within {
            Some(cursor) => format!("{}-{}", self.account, cursor.encode()),
            None => format!("{}-", self.account),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (account, within) = text.split_once('-')?;
        Some(Self {
            account: account.parse().ok()?,
            within: if within.is_empty() {
                None
            } else {
                Some(Cursor::decode(within)?)
            },
        })
    }
}

/// `/transactions`: every consented account's transactions in the asked range,
/// account after account, [`PAGE_SIZE`] to a page, with `Links.Next` while any remain.
pub async fn all_transactions(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    ObQuery(range): ObQuery<Range>,
) -> ObResult<Response> {
    let reading = Reading::start(&state, &bearer, &TRANSACTIONS).await?;
    let asked = asked(&range)?;
    let accounts = reading.accounts();
    let start = match range.page.as_deref() {
        None => BulkCursor {
            account: 0,
            within: None,
        },
        Some(text) => BulkCursor::decode(text)
            .filter(|c| c.account < accounts.len())
            .ok_or_else(foreign_page)?,
    };
    let payments = payments(&state, &bearer.org_id, None).await?;
    let mut pages = Vec::new();
    let mut next = None;
    let mut taken = 0;
    let mut overall: Option<(OffsetDateTime, OffsetDateTime)> = None;
    for (index, account) in accounts.iter().enumerate() {
        let window = window(&reading, asked, account.opened);
        overall = Some(match overall {
            None => window,
            Some((from, to)) => (from.min(window.0), to.max(window.1)),
        });
        if index < start.account || next.is_some() {
            continue;
        }
        if taken == PAGE_SIZE {
            next = Some(BulkCursor {
                account: index,
                within: None,
            });
            continue;
        }
        let after = match (index == start.account, start.within) {
            (true, Some(after)) => Some(within(after, window)?),
            _ => None,
        };
        let externals = payments
            .get(&account.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (entries, more) = visible_page(
            &reading,
            account,
            externals,
            window,
            after,
            PAGE_SIZE - taken,
        );
        taken += entries.len();
        if let Some(more) = more {
            next = Some(BulkCursor {
                account: index,
                within: Some(more),
            });
        }
        pages.push((*account, entries, externals));
    }
    let window = overall.unwrap_or((reading.now, reading.now));
    Ok(respond(
        &reading,
        &bearer,
        &pages,
        next.map(|c| c.encode()),
        window,
    ))
}

pub async fn statement_transactions(
    State(state): State<AppState>,
    Extension(bearer): Extension<Bearer>,
    Path((account_id, statement_id)): Path<(String, String)>,
    ObQuery(range): ObQuery<Range>,
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
    let (_, first, last) = reading.statement_period(account, &statement_id)?;
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
