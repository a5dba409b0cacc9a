//! The API clients every issuer serves, as a record both the authorization server
//! (`oauth`) and the sandbox API read: the registered apps and their credentials,
//! the catalogue's scopes they pick from, the consent intents customers authorise
//! for them, and the request log of what they did. Neither `oauth` nor `sandbox`
//! is imported from here, so the two never import each other through it.

pub mod catalogue;
pub mod intents;
pub mod model;
pub mod reqlog;

/// The paths the request log tells apart: the sandbox API's base (its calls count as
/// API use, and their scope is read from the path) and the token endpoint (its
/// successes are a credential's last token request). `sandbox::api::BASE` and
/// `oauth::token::PATH` are these.
pub mod paths {
    pub const SANDBOX_API_BASE: &str = "/sandbox/open-banking/v3.1";
    pub const TOKEN: &str = "/oauth/token";
    /// Dynamic client registration (RFC 7591), served by `directory`; the metadata
    /// (`oauth`) names it.
    pub const REGISTER: &str = "/oauth/register";
}
