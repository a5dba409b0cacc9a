//! The sandbox's test customers: one per persona, each with a fixed username and
//! password published on the sandbox docs page, so any partner developer can sign in
//! as a bank customer during the authorization-code flow. They are synthetic: the
//! names are made up and no real person stands behind them.

use crate::persona::Persona;

#[derive(Clone, Copy, Debug)]
pub struct TestCustomer {
    pub username: &'static str,
    pub password: &'static str,
    /// The customer's name everywhere: the party (`/party`), the account holder, the
    /// docs and the consent page.
    pub display_name: &'static str,
    /// Where the account records disagree with the customer (the KYC-mismatch
    /// persona): the name the account's party (`/accounts/{id}/party`) carries.
    pub records_name: Option<&'static str>,
    /// The persona's archetype, what a developer tests with it.
    pub summary: &'static str,
    pub persona: Persona,
}

pub const TEST_CUSTOMERS: &[TestCustomer] = &[
    TestCustomer {
        username: "mia.salaried",
        password: "sandbox-mia-2026",
        display_name: "Mia Thornbury",
        records_name: None,
        summary: "Salaried professional: monthly salary, mortgage, regular bills",
        persona: Persona::Salaried,
    },
    TestCustomer {
        username: "theo.student",
        password: "sandbox-theo-2026",
        display_name: "Theo Brackenridge",
        records_name: None,
        summary: "Student with an arranged overdraft and small irregular spending",
        persona: Persona::Student,
    },
    TestCustomer {
        username: "priya.gig",
        password: "sandbox-priya-2026",
        display_name: "Priya Vellacott",
        records_name: None,
        summary: "Gig worker with irregular income from several platforms",
        persona: Persona::GigWorker,
    },
    TestCustomer {
        username: "arthur.pension",
        password: "sandbox-arthur-2026",
        display_name: "Arthur Quenby",
        records_name: None,
        summary: "Pensioner: pension payments, savings, few card payments",
        persona: Persona::Pensioner,
    },
    TestCustomer {
        username: "hollow.oak",
        password: "sandbox-hollowoak-2026",
        display_name: "Hollow Oak Bakery Ltd",
        records_name: None,
        summary: "Small business with high transaction volume",
        persona: Persona::SmallBusiness,
    },
    TestCustomer {
        username: "lena.traveller",
        password: "sandbox-lena-2026",
        display_name: "Lena Marchetti-Wynn",
        records_name: None,
        summary: "Multi-currency traveller: EUR and USD accounts, FX spending",
        persona: Persona::Traveller,
    },
    TestCustomer {
        username: "gus.dormant",
        password: "sandbox-gus-2026",
        display_name: "Gus Pemberly",
        records_name: None,
        summary: "Dormant account: no activity for over a year",
        persona: Persona::Dormant,
    },
    TestCustomer {
        username: "sam.mismatch",
        password: "sandbox-sam-2026",
        display_name: "Sam Okonkwo-Reyes",
        records_name: Some("Samuel Okonkow Reyes"),
        summary: "KYC mismatch: the account records name Samuel Okonkow Reyes, with another date of birth and postcode (negative-path testing)",
        persona: Persona::KycMismatch,
    },
];

pub fn find(username: &str) -> Option<&'static TestCustomer> {
    TEST_CUSTOMERS.iter().find(|c| c.username == username)
}
