//! The cross-cutting machinery every feature stands on: settings, database,
//! errors, ids, crypto, the request context (session + signed-in user), CSRF,
//! security headers, metrics and the router.

pub mod context;
pub mod crypto;
/// The one CSV writer: every cell neutralised against formula injection.
pub mod csv {
    pub use sandbox_data::csv_safe::{neutralise, SafeCsvWriter};
}
pub mod csrf;
pub mod db;
pub mod error;
pub mod forms;
pub mod headers;
pub mod ids;
pub mod kill_switch;
pub mod metrics;
pub mod object_store;
pub mod outbound;
pub mod proxy;
pub mod repeats;
pub mod router;
pub mod scheduler;
pub mod session_store;
pub mod settings;
pub mod state;
pub mod text_input;
pub mod time;
