//! Synthetic datasets for the Gatehouse sandbox.
//!
//! The generators (personas, accounts, transactions, payments built on the `fake`
//! crate) arrive with the sandbox API issue; the crate exists now so the workspace
//! has the shape of the design card.

/// Marker carried by every synthetic record, so no generated row can be mistaken for
/// a real customer's.
pub const SYNTHETIC_MARKER: &str = "gatehouse-synthetic";
