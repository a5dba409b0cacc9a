//! Balances and transaction ranges that add up. The balance at any moment is the
//! opening balance plus every transaction booked up to that moment, the sandbox's own
//! payments (passed in as [`External`] entries) included; each listed transaction
//! carries the running balance after it. End-of-day balances are computed once per
//! account (a prefix sum over its history) and then reused.

use std::sync::OnceLock;

use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::activity::{Code, Source, Transaction};
use crate::model::{Account, Identifier};

/// A transaction that is not generated: a payment made through the sandbox API.
#[derive(Clone, Debug)]
pub struct External {
    pub id: String,
    pub at: OffsetDateTime,
    /// Signed minor units.
    pub amount: i64,
    pub information: String,
    pub reference: String,
    pub counterparty: Option<Identifier>,
}

/// Where a page of transactions continues: at the `index`th entry of `date` (the
/// day's generated and external entries merged by time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub date: Date,
    pub index: usize,
}

impl Cursor {
    pub fn encode(self) -> String {
        format!("{}.{}", self.date.to_julian_day(), self.index)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (day, index) = text.split_once('.')?;
        Some(Self {
            date: Date::from_julian_day(day.parse().ok()?).ok()?,
            index: index.parse().ok()?,
        })
    }
}

/// One listed transaction with the balance after it.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub transaction: Transaction,
    pub balance: i64,
}

impl Entry {
    pub fn at(&self) -> OffsetDateTime {
        PrimitiveDateTime::new(self.transaction.date, self.transaction.time).assume_utc()
    }
}

/// End-of-day balances from the opening date to `until`, without external entries.
#[derive(Debug)]
pub(crate) struct DailyBalances {
    until: Date,
    closing: Vec<i64>,
}

/// The cache an account keeps of its end-of-day balances.
#[derive(Debug, Default)]
pub struct BalanceCache(OnceLock<DailyBalances>);

impl Clone for BalanceCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Account {
    fn active_on(&self, date: Date) -> bool {
        date >= self.opened && self.last_activity.is_none_or(|last| date <= last)
    }

    /// The generated transactions of one day, in booking order.
    pub fn day(&self, date: Date, out: &mut Vec<Transaction>) {
        if self.active_on(date) {
            self.activity.day(self.key, date, out);
        }
    }

    /// Every generated transaction from `from` to `to` (inclusive days).
    pub fn transactions_between(&self, from: Date, to: Date) -> Vec<Transaction> {
        let mut out = Vec::new();
        let mut date = from.max(self.opened);
        while date <= to {
            self.day(date, &mut out);
            let Some(next) = date.next_day() else { break };
            date = next;
        }
        out
    }

    fn day_total(&self, date: Date, buffer: &mut Vec<Transaction>) -> i64 {
        buffer.clear();
        self.day(date, buffer);
        buffer.iter().map(|t| t.amount).sum()
    }

    /// The generated balance at the end of `date` (the opening balance before it opened).
    pub fn closing_balance(&self, date: Date, today: Date) -> i64 {
        if date < self.opened {
            return self.opening_balance;
        }
        let cache = self.balances.0.get_or_init(|| {
            let mut buffer = Vec::new();
            let mut closing = Vec::new();
            let mut balance = self.opening_balance;
            let mut day = self.opened;
            while day <= today {
                balance += self.day_total(day, &mut buffer);
                closing.push(balance);
                let Some(next) = day.next_day() else { break };
                day = next;
            }
            DailyBalances {
                until: today,
                closing,
            }
        });
        if date <= cache.until {
            let index = (date.to_julian_day() - self.opened.to_julian_day()) as usize;
            return cache
                .closing
                .get(index)
                .copied()
                .unwrap_or(self.opening_balance);
        }
        let mut balance = cache
            .closing
            .last()
            .copied()
            .unwrap_or(self.opening_balance);
        let mut buffer = Vec::new();
        let mut day = cache.until;
        while day < date {
            let Some(next) = day.next_day() else { break };
            day = next;
            balance += self.day_total(day, &mut buffer);
        }
        balance
    }

    /// The booked balance at `at`, external entries (sorted by time) included.
    /// `today` is the sandbox's current date, up to which end-of-day balances are cached.
    pub fn balance_at(&self, at: OffsetDateTime, today: Date, externals: &[External]) -> i64 {
        let date = at.date();
        let before = date
            .previous_day()
            .map_or(self.opening_balance, |d| self.closing_balance(d, today));
        let mut day = Vec::new();
        self.day(date, &mut day);
        let generated: i64 = day
            .iter()
            .filter(|t| t.time <= at.time())
            .map(|t| t.amount)
            .sum();
        let external: i64 = externals
            .iter()
            .filter(|e| e.at <= at)
            .map(|e| e.amount)
            .sum();
        before + generated + external
    }

    /// Up to `limit` entries booked from `from` to `to` (and not after `now`), oldest
    /// first, continuing after `after`; and the cursor for the next page, if any.
    pub fn page(
        &self,
        range: (OffsetDateTime, OffsetDateTime),
        now: OffsetDateTime,
        externals: &[External],
        after: Option<Cursor>,
        limit: usize,
    ) -> (Vec<Entry>, Option<Cursor>) {
        let (from, to) = (range.0, range.1.min(now));
        let today = now.date();
        let mut entries = Vec::new();
        let mut date = after
            .map_or(from.date(), |c| c.date)
            .max(from.date())
            .max(self.opened);
        let mut buffer = Vec::new();
        while date <= to.date() {
            buffer.clear();
            self.day(date, &mut buffer);
            let first_index = match after {
                Some(cursor) if cursor.date == date => cursor.index,
                _ => 0,
            };
            // The running balance starts from the end of the previous day.
            let midnight = PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc();
            let mut balance = date
                .previous_day()
                .map_or(self.opening_balance, |d| self.closing_balance(d, today))
                + externals
                    .iter()
                    .filter(|e| e.at < midnight)
                    .map(|e| e.amount)
                    .sum::<i64>();
            for (index, transaction) in merge_day(&buffer, externals, date).into_iter().enumerate()
            {
                balance += transaction.amount;
                let entry = Entry {
                    transaction,
                    balance,
                };
                if index < first_index || entry.at() < from || entry.at() > to {
                    continue;
                }
                if entries.len() == limit {
                    return (entries, Some(Cursor { date, index }));
                }
                entries.push(entry);
            }
            let Some(next) = date.next_day() else { break };
            date = next;
        }
        (entries, None)
    }
}

/// A day's generated transactions with the external entries of that day, by time.
fn merge_day(generated: &[Transaction], externals: &[External], date: Date) -> Vec<Transaction> {
    let mut day: Vec<Transaction> = generated.to_vec();
    for (index, external) in externals.iter().enumerate() {
        if external.at.date() == date {
            day.push(Transaction {
                date,
                time: external.at.time(),
                seq: u16::MAX,
                amount: external.amount,
                source: Source::External(index as u32),
            });
        }
    }
    day.sort_by_key(|t| t.time);
    day
}

/// A transaction in words, for display.
pub struct Described<'a> {
    pub id: String,
    pub information: String,
    pub reference: Option<&'a str>,
    pub code: &'static str,
    pub merchant: Option<(&'static str, &'static str)>,
    pub counterparty: Option<&'a Identifier>,
}

impl Account {
    pub fn describe<'a>(
        &'a self,
        transaction: &Transaction,
        externals: &'a [External],
    ) -> Described<'a> {
        let id = format!(
            "{}-{}-{:03}",
            &self.id[4..],
            transaction.date.to_julian_day(),
            transaction.seq
        );
        match transaction.source {
            Source::Flow(index) => {
                let flow = &self.activity.flows[usize::from(index)];
                Described {
                    id,
                    information: format!("{} {}", flow.label, flow.reference),
                    reference: Some(&flow.reference),
                    code: flow.code.as_str(),
                    merchant: None,
                    counterparty: None,
                }
            }
            Source::Random { index, payer } => {
                let random = &self.activity.random[usize::from(index)];
                let payer = random
                    .payers
                    .get(usize::from(payer))
                    .map_or("Payment received", String::as_str);
                Described {
                    id,
                    information: payer.to_string(),
                    reference: None,
                    code: random.code.as_str(),
                    merchant: None,
                    counterparty: None,
                }
            }
            Source::Card {
                category,
                merchant,
                business,
            } => {
                let categories = if business {
                    crate::activity::BUSINESS_CATEGORIES
                } else {
                    crate::activity::CATEGORIES
                };
                let category = &categories[usize::from(category)];
                let name = category.merchants[usize::from(merchant)];
                Described {
                    id,
                    information: format!("{name} card payment"),
                    reference: None,
                    code: Code::CardPayment.as_str(),
                    merchant: Some((name, category.mcc)),
                    counterparty: None,
                }
            }
            Source::External(index) => {
                let external = &externals[index as usize];
                Described {
                    id: external.id.clone(),
                    information: external.information.clone(),
                    reference: Some(&external.reference),
                    code: Code::SandboxPayment.as_str(),
                    merchant: None,
                    counterparty: external.counterparty.as_ref(),
                }
            }
        }
    }

    /// The merchant category's name of a card payment.
    pub fn category(&self, transaction: &Transaction) -> Option<&'static str> {
        match transaction.source {
            Source::Card {
                category, business, ..
            } => {
                let categories = if business {
                    crate::activity::BUSINESS_CATEGORIES
                } else {
                    crate::activity::CATEGORIES
                };
                Some(categories[usize::from(category)].name)
            }
            Source::Flow(index) => Some(match self.activity.flows[usize::from(index)].code {
                Code::Salary | Code::Pension => "Income",
                Code::DirectDebit => "Bills",
                Code::StandingOrder | Code::TransferIn => "Transfers",
                Code::Interest => "Interest",
                _ => "Repayments",
            }),
            Source::Random { .. } => Some("Income"),
            Source::External(_) => Some("Payments"),
        }
    }
}
