//! Gatehouse as the directory of its partners' software (issue 29): every app is a
//! software record; a partner admin downloads a short-lived software statement for
//! one, signed with the directory's own key, to register a client with it; the bank
//! withdraws software, and the directory publishes what it withdrew as a signed
//! list. Dynamic client registration (RFC 7591/7592) reads these statements.

pub mod handlers;
pub mod pages;
pub mod software;
pub mod statement;
