//! The API catalogue a sandbox app picks its scopes from. The scope names are the UK
//! Open Banking ones (`accounts`, `payments`, `fundsconfirmations`) plus Gatehouse's
//! `reference` for public reference data. The onboarding issue moves this catalogue
//! into the database, where bank admins edit it; until then it is fixed here.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataClass {
    PublicReference,
    AccountInformation,
    PaymentInitiation,
}

#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub name: &'static str,
    pub product: &'static str,
    pub description: &'static str,
    pub data_class: DataClass,
    /// Whether a bank customer must consent (authorization-code flow) before the
    /// scope reaches customer data; `false` means client-credentials tokens suffice.
    pub needs_customer: bool,
}

pub const SCOPES: &[Scope] = &[
    Scope {
        name: "reference",
        product: "Reference data",
        description: "Read public reference data: branches, products and FX rates.",
        data_class: DataClass::PublicReference,
        needs_customer: false,
    },
    Scope {
        name: "accounts",
        product: "Account information (AISP)",
        description: "Read a customer's accounts, balances, transactions, beneficiaries, standing orders, direct debits, statements and parties, with the customer's consent.",
        data_class: DataClass::AccountInformation,
        needs_customer: true,
    },
    Scope {
        name: "fundsconfirmations",
        product: "Confirmation of funds (CBPII)",
        description: "Ask whether a customer's account has enough funds for a payment, with the customer's consent.",
        data_class: DataClass::AccountInformation,
        needs_customer: true,
    },
    Scope {
        name: "payments",
        product: "Payment initiation (PISP)",
        description: "Initiate domestic payments from a customer's account, with the customer's consent.",
        data_class: DataClass::PaymentInitiation,
        needs_customer: true,
    },
];

pub fn find(name: &str) -> Option<&'static Scope> {
    SCOPES.iter().find(|s| s.name == name)
}

/// Splits a space-separated scope string (RFC 6749 §3.3), dropping empty items and duplicates.
pub fn split(scopes: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in scopes.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_string());
        }
    }
    out
}
