//! What a dataset holds. Amounts are minor units (`i64`, signed: money in is
//! positive); every record that leaves the crate carries [`crate::SYNTHETIC_MARKER`].

use serde::Serialize;
use time::Date;

use crate::persona::Persona;

#[derive(Clone, Debug, Serialize)]
pub struct Dataset {
    pub seed: u64,
    pub synthetic: &'static str,
    pub customers: Vec<Customer>,
}

/// A bank customer: one per persona, signed in as the persona's test customer.
#[derive(Clone, Debug, Serialize)]
pub struct Customer {
    pub username: &'static str,
    pub persona: Persona,
    /// The party as the customer's own profile has it (`/party`).
    pub party: Party,
    /// The party as the account records have it (`/accounts/{id}/party`); it differs
    /// from `party` only for the KYC-mismatch persona.
    pub account_party: Party,
    pub accounts: Vec<Account>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Party {
    pub party_id: String,
    pub party_number: String,
    /// `Sole`, `Joint` or `Delegate`.
    pub party_type: &'static str,
    pub name: String,
    pub full_legal_name: String,
    /// `UK.OBIE.Individual` or `UK.OBIE.CIC`-style legal structure codes.
    pub legal_structure: &'static str,
    pub email: String,
    pub phone: String,
    pub mobile: String,
    pub date_of_birth: Option<Date>,
    pub address: Address,
    pub synthetic: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Address {
    pub building_number: String,
    pub street_name: String,
    pub town_name: String,
    pub post_code: String,
    pub country: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AccountKind {
    CurrentAccount,
    Savings,
    CreditCard,
    Loan,
    BusinessCurrentAccount,
}

impl AccountKind {
    /// The OBIE `AccountSubType`.
    pub fn sub_type(self) -> &'static str {
        match self {
            Self::CurrentAccount | Self::BusinessCurrentAccount => "CurrentAccount",
            Self::Savings => "Savings",
            Self::CreditCard => "CreditCard",
            Self::Loan => "Loan",
        }
    }

    /// The OBIE `AccountType`.
    pub fn account_type(self) -> &'static str {
        match self {
            Self::BusinessCurrentAccount => "Business",
            _ => "Personal",
        }
    }
}

/// How an account (or a counterparty's account) is identified.
#[derive(Clone, Debug, Serialize)]
pub struct Identifier {
    /// `UK.OBIE.SortCodeAccountNumber`, `UK.OBIE.IBAN` or `UK.OBIE.PAN`.
    pub scheme: &'static str,
    pub identification: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Account {
    pub id: String,
    pub kind: AccountKind,
    pub currency: &'static str,
    pub nickname: String,
    pub description: String,
    pub opened: Date,
    /// The last day with any activity, for dormant accounts.
    pub last_activity: Option<Date>,
    pub identifier: Identifier,
    /// The masked form, for `UK.OBIE.PAN` identifiers read without `ReadPAN`.
    pub masked_identification: Option<String>,
    pub opening_balance: i64,
    /// An arranged overdraft or a card's credit limit, in minor units.
    pub credit_line: Option<i64>,
    pub product: Product,
    pub beneficiaries: Vec<Beneficiary>,
    pub direct_debits: Vec<DirectDebit>,
    pub standing_orders: Vec<StandingOrder>,
    pub synthetic: &'static str,
    /// Where this account's randomness comes from.
    #[serde(skip)]
    pub(crate) key: u64,
    #[serde(skip)]
    pub(crate) activity: crate::activity::Activity,
    #[serde(skip)]
    pub(crate) balances: crate::ledger::BalanceCache,
}

#[derive(Clone, Debug, Serialize)]
pub struct Product {
    pub product_id: String,
    pub name: String,
    /// `PersonalCurrentAccount`, `BusinessCurrentAccount` or `Other`.
    pub product_type: &'static str,
    pub description: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Beneficiary {
    pub beneficiary_id: String,
    pub reference: String,
    pub trusted: bool,
    pub account: Identifier,
}

#[derive(Clone, Debug, Serialize)]
pub struct DirectDebit {
    pub direct_debit_id: String,
    pub mandate: String,
    pub name: String,
    pub amount: i64,
    pub day_of_month: u8,
}

#[derive(Clone, Debug, Serialize)]
pub struct StandingOrder {
    pub standing_order_id: String,
    pub reference: String,
    pub amount: i64,
    pub day_of_month: u8,
    pub first_payment: Date,
    pub payee: Identifier,
}
