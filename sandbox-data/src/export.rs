//! A dataset as files: `dataset.json` (everything, with the transactions of a date
//! range and running balances) and CSV tables (`accounts.csv`, `parties.csv`,
//! `transactions.csv`). The portal's download and the CLI write the same bytes for
//! the same seed, persona and range.

use std::io::Write;

use serde_json::{json, Value};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::model::{Account, Customer, Dataset, Party};
use crate::money;
use crate::Persona;

/// What to export.
#[derive(Clone, Copy, Debug)]
pub struct Selection {
    pub persona: Option<Persona>,
    pub from: Date,
    pub to: Date,
}

impl Selection {
    fn customers<'a>(&self, dataset: &'a Dataset) -> impl Iterator<Item = &'a Customer> + 'a {
        let persona = self.persona;
        dataset
            .customers
            .iter()
            .filter(move |c| persona.is_none_or(|p| c.persona == p))
    }

    fn range(&self) -> (OffsetDateTime, OffsetDateTime) {
        (
            PrimitiveDateTime::new(self.from, Time::MIDNIGHT).assume_utc(),
            PrimitiveDateTime::new(self.to, Time::MAX).assume_utc(),
        )
    }
}

fn signed(minor: i64) -> String {
    if minor < 0 {
        format!("-{}", money::format(minor))
    } else {
        money::format(minor)
    }
}

fn timestamp(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Every transaction of `account` in the selection, each with its running balance.
fn transactions(account: &Account, selection: &Selection) -> Vec<Value> {
    let (from, to) = selection.range();
    let (entries, _) = account.page((from, to), to, &[], None, usize::MAX);
    entries
        .iter()
        .map(|entry| {
            let described = account.describe(&entry.transaction, &[]);
            json!({
                "transaction_id": described.id,
                "booking_date_time": timestamp(entry.at()),
                "amount": signed(entry.transaction.amount),
                "currency": account.currency,
                "credit_debit": money::indicator(entry.transaction.amount),
                "information": described.information,
                "code": described.code,
                "merchant": described.merchant.map(|m| m.0),
                "merchant_category_code": described.merchant.map(|m| m.1),
                "category": account.category(&entry.transaction),
                "balance": signed(entry.balance),
            })
        })
        .collect()
}

pub fn json(dataset: &Dataset, selection: &Selection) -> Value {
    let (_, to) = selection.range();
    let customers: Vec<Value> = selection
        .customers(dataset)
        .map(|customer| {
            let accounts: Vec<Value> = customer
                .accounts
                .iter()
                .map(|account| {
                    let mut value = serde_json::to_value(account).unwrap_or_default();
                    if let Value::Object(map) = &mut value {
                        map.insert(
                            "balance".into(),
                            json!(signed(account.balance_at(to, selection.to, &[]))),
                        );
                        map.insert(
                            "transactions".into(),
                            Value::Array(transactions(account, selection)),
                        );
                    }
                    value
                })
                .collect();
            json!({
                "username": customer.username,
                "persona": customer.persona,
                "party": customer.party,
                "account_party": customer.account_party,
                "accounts": accounts,
            })
        })
        .collect();
    json!({
        "seed": dataset.seed,
        "synthetic": dataset.synthetic,
        "from": selection.from.to_string(),
        "to": selection.to.to_string(),
        "customers": customers,
    })
}

pub fn write_json(
    dataset: &Dataset,
    selection: &Selection,
    out: impl Write,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(out, &json(dataset, selection)).map_err(std::io::Error::other)
}

fn csv_error(err: csv::Error) -> std::io::Error {
    std::io::Error::other(err)
}

pub fn write_accounts_csv(
    dataset: &Dataset,
    selection: &Selection,
    out: impl Write,
) -> std::io::Result<()> {
    let mut writer = crate::csv_safe::SafeCsvWriter::new(out);
    let (_, to) = selection.range();
    writer
        .write_record([
            "username",
            "account_id",
            "type",
            "currency",
            "nickname",
            "scheme",
            "identification",
            "opened",
            "opening_balance",
            "balance",
            "synthetic",
        ])
        .map_err(csv_error)?;
    for customer in selection.customers(dataset) {
        for a in &customer.accounts {
            let opened = a.opened.to_string();
            let opening = signed(a.opening_balance);
            let balance = signed(a.balance_at(to, selection.to, &[]));
            writer
                .write_record([
                    customer.username,
                    &a.id,
                    a.kind.sub_type(),
                    a.currency,
                    &a.nickname,
                    a.identifier.scheme,
                    &a.identifier.identification,
                    &opened,
                    &opening,
                    &balance,
                    a.synthetic,
                ])
                .map_err(csv_error)?;
        }
    }
    writer.flush()
}

pub fn write_parties_csv(
    dataset: &Dataset,
    selection: &Selection,
    out: impl Write,
) -> std::io::Result<()> {
    let mut writer = crate::csv_safe::SafeCsvWriter::new(out);
    writer
        .write_record([
            "username",
            "record",
            "party_id",
            "name",
            "date_of_birth",
            "email",
            "phone",
            "mobile",
            "address",
            "synthetic",
        ])
        .map_err(csv_error)?;
    let row = |writer: &mut crate::csv_safe::SafeCsvWriter<_>,
               username: &str,
               record: &str,
               p: &Party| {
        let birth = p.date_of_birth.map(|d| d.to_string()).unwrap_or_default();
        let address = format!(
            "{} {}, {} {}",
            p.address.building_number,
            p.address.street_name,
            p.address.town_name,
            p.address.post_code
        );
        writer
            .write_record([
                username,
                record,
                &p.party_id,
                &p.name,
                &birth,
                &p.email,
                &p.phone,
                &p.mobile,
                &address,
                p.synthetic,
            ])
            .map_err(csv_error)
    };
    for customer in selection.customers(dataset) {
        row(&mut writer, customer.username, "customer", &customer.party)?;
        row(
            &mut writer,
            customer.username,
            "account",
            &customer.account_party,
        )?;
    }
    writer.flush()
}

pub fn write_transactions_csv(
    dataset: &Dataset,
    selection: &Selection,
    out: impl Write,
) -> std::io::Result<()> {
    let mut writer = crate::csv_safe::SafeCsvWriter::new(out);
    writer
        .write_record([
            "account_id",
            "transaction_id",
            "booking_date_time",
            "amount",
            "currency",
            "credit_debit",
            "information",
            "merchant",
            "merchant_category_code",
            "category",
            "balance",
        ])
        .map_err(csv_error)?;
    for customer in selection.customers(dataset) {
        for account in &customer.accounts {
            for t in transactions(account, selection) {
                let field = |name: &str| {
                    t.get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                writer
                    .write_record([
                        account.id.clone(),
                        field("transaction_id"),
                        field("booking_date_time"),
                        field("amount"),
                        field("currency"),
                        field("credit_debit"),
                        field("information"),
                        field("merchant"),
                        field("merchant_category_code"),
                        field("category"),
                        field("balance"),
                    ])
                    .map_err(csv_error)?;
            }
        }
    }
    writer.flush()
}
