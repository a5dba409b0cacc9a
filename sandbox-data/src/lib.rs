//! Synthetic datasets for the Gatehouse sandbox.
//!
//! Today it holds the sandbox's test customers (one per persona), who sign in during
//! the authorization-code flow. The generators (accounts, transactions, payments built
//! on the `fake` crate) arrive with the sandbox API issue.

pub mod customers;

/// Marker carried by every synthetic record, so no generated row can be mistaken for
/// a real customer's.
pub const SYNTHETIC_MARKER: &str = "gatehouse-synthetic";
