//! The cross-cutting machinery every feature stands on: settings, database,
//! errors, ids, crypto, the request context (session + signed-in user), CSRF,
//! security headers, metrics, roles and permissions, the HTML components, the audit
//! chain, the scheduler and the router. It imports no feature folder: features stand
//! on it, and `server/src/compose.rs` puts them together.

pub mod audit;
pub mod authz;
#[cfg(feature = "ssr")]
pub mod fields;
pub mod format;
pub mod progress;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod context;
#[cfg(feature = "ssr")]
pub mod crypto;
#[cfg(feature = "ssr")]
/// The one CSV writer: every cell neutralised against formula injection.
pub mod csv {
    pub use sandbox_data::csv_safe::{neutralise, SafeCsvWriter};
}
#[cfg(feature = "ssr")]
pub mod csrf;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod error;
#[cfg(feature = "ssr")]
pub mod forms;
#[cfg(feature = "ssr")]
pub mod headers;
#[cfg(feature = "ssr")]
pub mod ids;
#[cfg(feature = "ssr")]
pub mod kill_switch;
#[cfg(feature = "ssr")]
pub mod limiter;
#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod object_store;
#[cfg(feature = "ssr")]
pub mod outbound;
#[cfg(feature = "ssr")]
pub mod proxy;
#[cfg(feature = "ssr")]
pub mod repeats;
#[cfg(feature = "ssr")]
pub mod router;
#[cfg(feature = "ssr")]
pub mod scheduler;
#[cfg(feature = "ssr")]
pub mod session_store;
#[cfg(feature = "ssr")]
pub mod settings;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod text_input;
#[cfg(feature = "ssr")]
pub mod time;
