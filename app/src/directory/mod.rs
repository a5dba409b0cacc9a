//! Gatehouse as the directory of its partners' software (issue 29): every app is a
//! software record; a member downloads a short-lived software statement for
//! one, signed with the directory's own key, to register a client with it; the bank
//! withdraws software, and the directory publishes what it withdrew as a signed
//! list. Partners' software registers its own clients with a statement (RFC 7591)
//! and manages them with their registration access token (RFC 7592).

pub mod configuration;
pub mod demo;
pub mod handlers;
pub mod pages;
pub mod registration;
pub mod registration_handlers;
pub mod software;
pub mod statement;
