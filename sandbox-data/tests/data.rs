//! The dataset's promises: deterministic, consistent, and about nobody.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use sandbox_data::export::{self, Selection};
use sandbox_data::model::AccountKind;
use sandbox_data::{ids, Cursor, Dataset, External, Persona};
use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

const TODAY: Date = date!(2026 - 11 - 21);

fn bytes(seed: u64) -> Vec<u8> {
    let selection = Selection {
        persona: None,
        from: date!(2026 - 08 - 01),
        to: TODAY,
    };
    let mut out = Vec::new();
    export::write_json(&Dataset::generate(seed), &selection, &mut out).unwrap();
    export::write_transactions_csv(&Dataset::generate(seed), &selection, &mut out).unwrap();
    out
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_differs() {
    let first = bytes(42);
    assert_eq!(first, bytes(42));
    assert_ne!(first, bytes(43));
    assert!(first.len() > 100_000, "a real dataset, not an empty one");
}

#[test]
fn eight_personas_with_the_accounts_their_archetype_needs() {
    let dataset = Dataset::generate(7);
    assert_eq!(dataset.customers.len(), 8);
    for persona in Persona::ALL {
        assert!(dataset.by_persona(persona).is_some(), "{persona:?}");
    }
    let kinds = |p| -> Vec<AccountKind> {
        dataset
            .by_persona(p)
            .unwrap()
            .accounts
            .iter()
            .map(|a| a.kind)
            .collect()
    };
    assert!(kinds(Persona::Salaried).contains(&AccountKind::CreditCard));
    assert!(kinds(Persona::Salaried).contains(&AccountKind::Savings));
    assert!(kinds(Persona::Student).contains(&AccountKind::Loan));
    assert_eq!(
        kinds(Persona::SmallBusiness)[0],
        AccountKind::BusinessCurrentAccount
    );
    let currencies: Vec<_> = dataset
        .by_persona(Persona::Traveller)
        .unwrap()
        .accounts
        .iter()
        .map(|a| a.currency)
        .collect();
    assert_eq!(currencies, ["GBP", "EUR", "USD"]);
    // The dormant persona has had no transaction for over a year.
    let dormant = dataset.by_persona(Persona::Dormant).unwrap();
    for account in &dormant.accounts {
        assert!(account
            .transactions_between(TODAY - Duration::days(365), TODAY)
            .is_empty());
    }
    // The KYC-mismatch persona's account records disagree with its profile.
    let sam = dataset.by_persona(Persona::KycMismatch).unwrap();
    assert_ne!(sam.party.name, sam.account_party.name);
    assert_ne!(sam.party.date_of_birth, sam.account_party.date_of_birth);
    let mia = dataset.by_persona(Persona::Salaried).unwrap();
    assert_eq!(mia.party.name, mia.account_party.name);
}

#[test]
fn identifiers_are_valid_and_contacts_are_reserved() {
    for seed in 0..20 {
        let dataset = Dataset::generate(seed);
        for customer in &dataset.customers {
            for party in [&customer.party, &customer.account_party] {
                assert!(party.email.ends_with("@example.com"), "{}", party.email);
                assert!(
                    party.mobile.starts_with("+44-7700900") && party.mobile.len() == 14,
                    "{}",
                    party.mobile
                );
                assert!(
                    party.phone.starts_with("+44-2079460") && party.phone.len() == 14,
                    "{}",
                    party.phone
                );
                assert_eq!(party.synthetic, sandbox_data::SYNTHETIC_MARKER);
            }
            for account in &customer.accounts {
                assert_eq!(account.synthetic, sandbox_data::SYNTHETIC_MARKER);
                let id = &account.identifier.identification;
                match account.identifier.scheme {
                    "UK.OBIE.SortCodeAccountNumber" => {
                        assert!(id.starts_with("00"));
                        assert!(ids::mod11_valid(&id[..6], &id[6..]), "{id}");
                    }
                    "UK.OBIE.IBAN" => assert!(ids::iban_valid(id), "{id}"),
                    "UK.OBIE.PAN" => {
                        assert!(ids::luhn_valid(id) && id.starts_with("400000"), "{id}")
                    }
                    other => panic!("unexpected scheme {other}"),
                }
                for beneficiary in &account.beneficiaries {
                    let b = &beneficiary.account.identification;
                    assert!(ids::mod11_valid(&b[..6], &b[6..]), "{b}");
                }
            }
        }
    }
}

#[test]
fn customers_stay_within_their_arranged_credit() {
    let now = at(TODAY, 43_200);
    let mut worst = Vec::new();
    for seed in 0..20 {
        for customer in &Dataset::generate(seed).customers {
            for account in &customer.accounts {
                let floor = -account.credit_line.unwrap_or(0);
                let balance = account.balance_at(now, TODAY, &[]);
                if balance < floor && account.kind != AccountKind::Loan {
                    worst.push((seed, customer.username, account.nickname.clone(), balance));
                }
            }
        }
    }
    assert!(worst.is_empty(), "{worst:?}");
}

#[test]
fn salary_lands_on_payday_and_bills_recur() {
    let dataset = Dataset::generate(3);
    let current = &dataset.by_persona(Persona::Salaried).unwrap().accounts[0];
    let october = current.transactions_between(date!(2026 - 10 - 01), date!(2026 - 10 - 31));
    let salary: Vec<_> = october
        .iter()
        .filter(|t| current.describe(t, &[]).information.ends_with("SALARY"))
        .collect();
    assert_eq!(salary.len(), 1);
    assert_eq!(
        salary[0].date,
        date!(2026 - 10 - 30),
        "the last working day of October 2026"
    );
    assert_eq!(current.direct_debits.len(), 6);
    for dd in &current.direct_debits {
        let paid = october.iter().filter(|t| {
            t.date.day() == dd.day_of_month
                && current.describe(t, &[]).information.starts_with(&dd.name)
        });
        assert_eq!(paid.count(), 1, "{}", dd.name);
    }
}

#[test]
fn december_spending_beats_march() {
    let dataset = Dataset::generate(11);
    let current = &dataset.by_persona(Persona::Salaried).unwrap().accounts[0];
    let gifts = |from, to| {
        current
            .transactions_between(from, to)
            .iter()
            .filter(|t| {
                matches!(
                    current.category(t),
                    Some("Gifts and shopping" | "Clothing" | "Electronics")
                )
            })
            .count()
    };
    let december = gifts(date!(2024 - 12 - 01), date!(2024 - 12 - 31))
        + gifts(date!(2025 - 12 - 01), date!(2025 - 12 - 31));
    let march = gifts(date!(2025 - 03 - 01), date!(2025 - 03 - 31))
        + gifts(date!(2026 - 03 - 01), date!(2026 - 03 - 31));
    assert!(december > march, "december {december}, march {march}");
}

#[test]
fn paging_covers_the_range_exactly_once() {
    let dataset = Dataset::generate(5);
    let account = &dataset.by_persona(Persona::SmallBusiness).unwrap().accounts[0];
    let range = (
        datetime!(2026 - 11 - 01 00:00 UTC),
        datetime!(2026 - 11 - 10 23:59:59 UTC),
    );
    let now = datetime!(2026 - 11 - 21 12:00 UTC);
    let (all, none) = account.page(range, now, &[], None, usize::MAX);
    assert!(none.is_none());
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = account.page(range, now, &[], cursor, 100);
        assert!(page.len() <= 100);
        paged.extend(page);
        match next {
            Some(c) => cursor = Some(Cursor::decode(&c.encode()).unwrap()),
            None => break,
        }
    }
    assert_eq!(paged.len(), all.len());
    assert!(all.len() > 200);
    for (a, b) in paged.iter().zip(&all) {
        assert_eq!(a.transaction, b.transaction);
        assert_eq!(a.balance, b.balance);
    }
}

fn at(date: Date, seconds: u32) -> OffsetDateTime {
    PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc()
        + Duration::seconds(i64::from(seconds))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Opening balance + the transactions of a range = the balance at its end, for any
    /// account, any range, with a sandbox payment in the middle.
    #[test]
    fn balances_reconcile_with_transactions(
        seed in 0u64..1_000,
        customer in 0usize..8,
        account in 0usize..3,
        start in 0i64..900,
        length in 0i64..120,
        seconds in 0u32..86_400,
        paid in 1i64..50_000,
    ) {
        let dataset = Dataset::generate(seed);
        let accounts = &dataset.customers[customer].accounts;
        let account = &accounts[account % accounts.len()];
        let from = at(TODAY - Duration::days(start + length), seconds);
        let to = at(TODAY - Duration::days(start), seconds);
        let now = at(TODAY, 43_200);
        let payment = External {
            id: "pay-1".into(),
            at: from + (to - from) / 2,
            amount: -paid,
            information: "Sandbox payment".into(),
            reference: "TEST".into(),
            counterparty: None,
        };
        let externals = [payment];
        let before = account.balance_at(from - Duration::seconds(1), TODAY, &externals);
        let (entries, _) = account.page((from, to), now, &externals, None, usize::MAX);
        let sum: i64 = entries.iter().map(|e| e.transaction.amount).sum();
        prop_assert_eq!(before + sum, account.balance_at(to, TODAY, &externals));
        let mut running = before;
        for entry in &entries {
            running += entry.transaction.amount;
            prop_assert_eq!(running, entry.balance);
        }
    }
}
