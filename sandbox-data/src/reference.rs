//! Public reference data of the sandbox bank: branches, products and FX rates. It is
//! the same for every partner (it does not depend on a sandbox's seed) and changes
//! only with the date.

use fake::faker::address::raw::{CityName, StreetName};
use fake::locales::EN;
use fake::Fake;
use rand09::Rng;
use serde::Serialize;
use time::Date;

use crate::model::{AccountKind, Product};
use crate::persona::product;
use crate::{rng, SYNTHETIC_MARKER};

#[derive(Clone, Debug, Serialize)]
pub struct Branch {
    pub identification: String,
    pub name: String,
    pub street_name: String,
    pub building_number: String,
    pub town_name: String,
    pub post_code: String,
    pub opening_hours: &'static str,
    pub services: &'static [&'static str],
    pub synthetic: &'static str,
}

pub fn branches() -> Vec<Branch> {
    let mut rng = rng::stream(&[0xB7A7C4]);
    (0..6)
        .map(|n| {
            let town: String = CityName(EN).fake_with_rng(&mut rng);
            let street: String = StreetName(EN).fake_with_rng(&mut rng);
            Branch {
                identification: format!("GHSB-BR-{:03}", n + 1),
                name: format!("Gatehouse Sandbox Bank, {town}"),
                street_name: street,
                building_number: rng.random_range(1..=200).to_string(),
                town_name: town.chars().take(35).collect(),
                post_code: format!(
                    "QQ{} {}AB",
                    rng.random_range(1..=99),
                    rng.random_range(0..10)
                ),
                opening_hours: if n % 2 == 0 {
                    "Mon-Fri 09:00-17:00, Sat 09:00-12:30"
                } else {
                    "Mon-Fri 09:30-16:30"
                },
                services: if n % 3 == 0 {
                    &[
                        "CounterServices",
                        "BusinessBanking",
                        "CashDeposit",
                        "Mortgages",
                    ]
                } else {
                    &["CounterServices", "CashDeposit"]
                },
                synthetic: SYNTHETIC_MARKER,
            }
        })
        .collect()
}

pub fn products() -> Vec<Product> {
    vec![
        product(AccountKind::CurrentAccount, "GBP"),
        product(AccountKind::CurrentAccount, "EUR"),
        product(AccountKind::BusinessCurrentAccount, "GBP"),
        product(AccountKind::Savings, "GBP"),
        product(AccountKind::CreditCard, "GBP"),
        product(AccountKind::Loan, "GBP"),
    ]
}

#[derive(Clone, Debug, Serialize)]
pub struct FxRate {
    pub source_currency: &'static str,
    pub target_currency: &'static str,
    /// Units of the target currency for one unit of the source, four decimals.
    pub rate: String,
    pub date: Date,
}

/// Mid-market rates from GBP for a day: a base rate moved by up to ±1.5%, the same
/// for everyone on the same day.
pub fn fx_rates(date: Date) -> Vec<FxRate> {
    const BASE: [(&str, i64); 5] = [
        ("EUR", 11_540),
        ("USD", 12_650),
        ("CHF", 11_180),
        ("JPY", 1_905_000),
        ("PLN", 49_800),
    ];
    let mut rng = rng::stream(&[0xF0_2A7E, date.to_julian_day() as u64]);
    BASE.iter()
        .map(|(currency, base)| {
            let moved = base + base * rng.random_range(-150..=150) / 10_000;
            FxRate {
                source_currency: "GBP",
                target_currency: currency,
                rate: format!("{}.{:04}", moved / 10_000, moved % 10_000),
                date,
            }
        })
        .collect()
}
