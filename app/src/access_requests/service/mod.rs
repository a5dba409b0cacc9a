//! The business rules of production access: the partner's request (checked, then
//! evaluated by the active risk policy on facts Gatehouse gathers itself), the route
//! the policy picks, the reviews (one reviewer, or four eyes with distinct people,
//! each approval with a fresh TOTP step-up), and issuance under the production
//! issuer. Every state change is a conditional update on (status, version) inside a
//! transaction, recorded in the audit trail with its full input and output.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::model::{self, AccessRequest, Terms};
use super::policy::{self, Compiled, Decision, Route};
use crate::accounts::totp;
use crate::audit::{self, Actor, Event};
use crate::clients::model::App;
use crate::onboarding::model::{freshness, Freshness, Tier};
use crate::onboarding::service::{approved_tier, notify_partner_admins};
use crate::onboarding::{catalogue, evidence};
use crate::platform::authz::Action;
use crate::platform::authz::{self, Role};
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::db::Tx;
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::ids;
use crate::platform::state::AppState;
use crate::sandbox::readiness::{self, Readiness};
use crate::sandbox::service::{self as sandbox, KeyMaterial};

/// Evidence expiring within this many days counts as "expiring" for the policy.
pub const EXPIRING_DAYS: i64 = 30;

mod decisions;
mod issuance;
// One file per sub-capability; each reads the imports above with `use super::*`,
// and the functions every caller uses are re-exported here.
mod policies;
mod reading;
mod submission;

pub use decisions::*;
pub use issuance::*;
pub use policies::*;
pub use reading::*;
pub use submission::*;
