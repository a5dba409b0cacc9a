//! Synthetic, deterministic Open Banking datasets for the Gatehouse sandbox.
//!
//! A [`Dataset`] holds eight customers, one per [`Persona`], each with parties,
//! accounts, products, beneficiaries, direct debits and standing orders. Transactions
//! are not stored: [`Account::day`] generates any day's on demand from the seed, and
//! [`Account::page`] lists a range with running balances that reconcile with
//! [`Account::balance_at`]. Money is integer minor units. Nothing here is a real
//! person: names come from `fake`'s generated lists, e-mail addresses are on
//! `example.com`, phone numbers are Ofcom's drama ranges, account identifiers are in
//! ranges no bank uses (with valid check digits), and every record carries
//! [`SYNTHETIC_MARKER`].

pub mod activity;
pub mod csv_safe;
pub mod customers;
pub mod export;
pub mod ids;
pub mod ledger;
pub mod model;
pub mod money;
pub mod persona;
pub mod reference;
pub mod rng;

pub use ledger::{Cursor, Entry, External};
pub use model::{Account, Customer, Dataset};
pub use persona::Persona;

/// Marker carried by every synthetic record, so no generated row can be mistaken for
/// a real customer's.
pub const SYNTHETIC_MARKER: &str = "gatehouse-synthetic";

impl Dataset {
    /// The whole dataset for a seed. Cheap (no transactions are generated).
    pub fn generate(seed: u64) -> Dataset {
        let customers = customers::TEST_CUSTOMERS
            .iter()
            .map(|c| persona::build(seed, c))
            .collect();
        Dataset {
            seed,
            synthetic: SYNTHETIC_MARKER,
            customers,
        }
    }

    pub fn customer(&self, username: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| c.username == username)
    }

    pub fn by_persona(&self, persona: Persona) -> Option<&Customer> {
        self.customers.iter().find(|c| c.persona == persona)
    }

    /// An account and its customer.
    pub fn account(&self, id: &str) -> Option<(&Customer, &Account)> {
        self.customers
            .iter()
            .find_map(|c| c.accounts.iter().find(|a| a.id == id).map(|a| (c, a)))
    }
}
