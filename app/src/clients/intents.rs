//! The consent intents customers authorise for a client (OBIE account-access and
//! domestic-payment consents), as the authorization server and the sandbox API both
//! read them. The consent endpoints that create and change them are the sandbox's
//! (`sandbox::api::consents`).

use serde_json::{json, Value};
use sqlx::Row;

use crate::platform::state::AppState;

pub const ACCOUNT_ACCESS: &str = "account-access";
pub const DOMESTIC_PAYMENT: &str = "domestic-payment";

#[derive(Clone, Debug)]
pub struct Intent {
    pub id: String,
    pub kind: String,
    pub app_id: String,
    pub org_id: String,
    pub status: String,
    pub permissions: Vec<String>,
    pub expires_at: Option<i64>,
    pub transactions_from: Option<i64>,
    pub transactions_to: Option<i64>,
    pub initiation: Option<Value>,
    pub risk: Value,
    pub customer: Option<String>,
    pub accounts: Vec<String>,
    pub created_at: i64,
    pub status_updated_at: i64,
}

impl Intent {
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

pub const COLUMNS: &str = "o.id, o.kind, o.app_id, o.org_id, o.status, o.permissions, o.expires_at, o.transactions_from, \
     o.transactions_to, o.initiation, o.risk, o.customer, o.accounts, o.created_at, o.status_updated_at";

pub fn from_row(row: &sqlx::any::AnyRow) -> Result<Intent, sqlx::Error> {
    let split = |text: Option<String>| -> Vec<String> {
        text.unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let json = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    Ok(Intent {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        app_id: row.try_get("app_id")?,
        org_id: row.try_get("org_id")?,
        status: row.try_get("status")?,
        permissions: split(row.try_get("permissions")?),
        expires_at: row.try_get("expires_at")?,
        transactions_from: row.try_get("transactions_from")?,
        transactions_to: row.try_get("transactions_to")?,
        initiation: json(row.try_get("initiation")?),
        risk: json(row.try_get("risk")?).unwrap_or_else(|| json!({})),
        customer: row.try_get("customer")?,
        accounts: split(row.try_get("accounts")?),
        created_at: row.try_get("created_at")?,
        status_updated_at: row.try_get("status_updated_at")?,
    })
}

/// Any intent by id, whatever its app (for the authorization pages, which check).
pub async fn find(state: &AppState, id: &str) -> Result<Option<Intent>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ob_consents o WHERE o.id = $1"
    ))
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}
