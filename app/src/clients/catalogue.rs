//! The scopes a sandbox app picks from: the API catalogue the bank admin edits on
//! `/admin/catalogue` (`onboarding::catalogue`), the same one tiers and production
//! requests use. One catalogue everywhere: a scope the admin adds is offered to
//! sandbox apps, published in the metadata, and described on the consent page.

use crate::onboarding::catalogue::{self as bank, ScopeRow};
use crate::platform::error::Result;
use crate::platform::state::AppState;

/// A catalogue scope, as the sandbox uses it.
#[derive(Clone, Debug)]
pub struct Scope {
    pub name: String,
    pub product: String,
    pub description: String,
    pub data_class: String,
}

impl Scope {
    /// Whether a bank customer must consent (authorization-code flow) before the
    /// scope reaches customer data; public reference data needs no customer.
    pub fn needs_customer(&self) -> bool {
        self.data_class != "public_reference"
    }
}

impl From<ScopeRow> for Scope {
    fn from(row: ScopeRow) -> Self {
        Self {
            name: row.scope,
            product: row.product,
            description: row.description,
            data_class: row.data_class,
        }
    }
}

/// Every scope of the catalogue, by name.
pub async fn scopes(state: &AppState) -> Result<Vec<Scope>> {
    Ok(bank::scopes(state)
        .await?
        .into_iter()
        .map(Scope::from)
        .collect())
}

pub fn find<'a>(scopes: &'a [Scope], name: &str) -> Option<&'a Scope> {
    scopes.iter().find(|s| s.name == name)
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
