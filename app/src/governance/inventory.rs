//! The consumer inventory: every non-human identity across all organisations — each
//! sandbox and production client and each of its credentials — with its owner,
//! purpose, scopes, use, expiry, status and open exceptions, judged against the
//! lifecycle policy in force and the open suspensions.
//!
//! The bank's page, the partner's page (scoped to their organisation), the exports
//! and `gatehouse inventory` all read [`list`]; the sweep reads the same rows, so
//! what a page says is what the sweep acts on.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::policy::{Lifecycle, DORMANCY_WARNING_DAYS};
use crate::platform::error::{Error, Result};
use crate::platform::kill_switch::{self, Suspension};
use crate::platform::progress;
use crate::platform::state::AppState;
use crate::platform::time;

pub const STATUSES: [&str; 7] = [
    "active",
    "expiring",
    "dormant",
    "suspended",
    "revoked",
    "expired",
    "out_of_policy",
];

/// One identity: a credential with its client, or a client without a credential yet.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub org_id: String,
    pub organisation: String,
    pub app_id: String,
    pub client_id: String,
    pub client_name: String,
    pub environment: String,
    pub tier: Option<i64>,
    pub owner_id: String,
    /// The owner's name and address, or `None` when that member has left.
    pub owner: Option<String>,
    pub purpose: String,
    pub scopes: Vec<String>,
    pub data_classes: Vec<String>,
    pub auth_method: String,
    pub credential_id: Option<String>,
    /// `client_secret`, `jwks`, `jwks_uri`, `tls_certificate`, `tls_subject`.
    pub credential_kind: Option<String>,
    /// What identifies the credential without revealing it: a secret's hint, the
    /// JWKS URL, the certificate subject or thumbprint.
    pub credential_label: Option<String>,
    pub created_at: i64,
    pub last_token_at: Option<i64>,
    pub last_api_call_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    pub status: String,
    /// Why the client is out of policy, one entry per broken rule.
    pub policy_breaches: Vec<String>,
    /// Granted exceptions in force: `rule until YYYY-MM-DD`.
    pub exceptions: Vec<String>,
    pub suspension: Option<String>,
    /// Since when the client has had no owner (the sweep's flag).
    pub owner_lost_at: Option<i64>,
    #[serde(skip)]
    pub app_active: bool,
    #[serde(skip)]
    pub ip_allowlist_empty: bool,
}

impl Row {
    /// The last successful use of any kind, or when it was created if never used.
    pub fn last_use_or_creation(&self) -> i64 {
        self.last_token_at
            .into_iter()
            .chain(self.last_api_call_at)
            .max()
            .unwrap_or(self.created_at)
            .max(self.created_at)
    }

    pub fn is_usable(&self) -> bool {
        self.status != "revoked" && self.status != "expired"
    }
}

/// The filters of the page, the exports and the CLI (empty = any).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Filter {
    pub org: String,
    pub environment: String,
    pub status: String,
    /// Expiring within this many days (and not yet expired).
    pub expiring_within: String,
    /// No successful use for at least this many days.
    pub dormant_for: String,
    /// `1`: only clients whose owner has left.
    pub no_owner: String,
    pub out_of_policy: String,
    pub has_exception: String,
    /// `organisation`, `client`, `created`, `last_used`, `expires` (default), `status`.
    pub sort: String,
    /// `asc` (default) or `desc`.
    pub order: String,
    pub page: String,
}

impl Filter {
    fn days(value: &str, name: &str) -> Result<Option<i64>> {
        if value.trim().is_empty() {
            return Ok(None);
        }
        match value.trim().parse::<i64>() {
            Ok(n) if (0..=3650).contains(&n) => Ok(Some(n)),
            _ => Err(Error::BadRequest(format!(
                "{name} must be a whole number of days from 0 to 3650."
            ))),
        }
    }

    /// Refuses values that are not one of the choices, rather than ignoring them;
    /// returns the day counts (expiring within, dormant for), read once.
    pub fn check(&self) -> Result<(Option<i64>, Option<i64>)> {
        if !self.environment.is_empty()
            && !["sandbox", "production"].contains(&self.environment.as_str())
        {
            return Err(Error::BadRequest(
                "environment must be sandbox or production.".into(),
            ));
        }
        if !self.status.is_empty() && !STATUSES.contains(&self.status.as_str()) {
            return Err(Error::BadRequest(format!(
                "status must be one of {}.",
                STATUSES.join(", ")
            )));
        }
        if !self.sort.is_empty()
            && ![
                "organisation",
                "client",
                "created",
                "last_used",
                "expires",
                "status",
            ]
            .contains(&self.sort.as_str())
        {
            return Err(Error::BadRequest(
                "sort must be organisation, client, created, last_used, expires or status.".into(),
            ));
        }
        if !self.order.is_empty() && self.order != "asc" && self.order != "desc" {
            return Err(Error::BadRequest("order must be asc or desc.".into()));
        }
        let expiring = Self::days(&self.expiring_within, "expiring_within")?;
        let dormant = Self::days(&self.dormant_for, "dormant_for")?;
        self.page_number()?;
        Ok((expiring, dormant))
    }

    pub fn page_number(&self) -> Result<i64> {
        if self.page.trim().is_empty() {
            return Ok(1);
        }
        self.page
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .ok_or_else(|| Error::BadRequest("page must be a positive whole number.".into()))
    }

    fn flag(value: &str) -> bool {
        matches!(value, "1" | "on" | "true" | "yes")
    }

    /// Whether `row` passes the filters; `days` is what [`Filter::check`] returned.
    fn keeps(&self, row: &Row, now: i64, (expiring, dormant): (Option<i64>, Option<i64>)) -> bool {
        if !self.status.is_empty() && row.status != self.status {
            return false;
        }
        if let Some(days) = expiring {
            match row.expires_at {
                Some(at) if at > now && at <= now + days * 86_400 && row.is_usable() => {}
                _ => return false,
            }
        }
        if let Some(days) = dormant {
            if !row.is_usable() || row.last_use_or_creation() > now - days * 86_400 {
                return false;
            }
        }
        // A revoked client needs no owner: "no owner" lists what someone must take on.
        !(Self::flag(&self.no_owner) && (row.owner.is_some() || row.status == "revoked")
            || Self::flag(&self.out_of_policy) && row.policy_breaches.is_empty()
            || Self::flag(&self.has_exception) && row.exceptions.is_empty())
    }

    /// The query string of these filters without the page (for links and exports).
    pub fn query(&self) -> String {
        serde_urlencoded::to_string(Filter {
            page: String::new(),
            ..self.clone()
        })
        .unwrap_or_default()
    }
}

const SELECT: &str = "SELECT a.id AS app_id, a.org_id, o.legal_name, a.environment, a.client_id, a.name, a.purpose, \
     a.owner_id, u.display_name AS owner_name, u.email AS owner_email, u.status AS owner_status, u.org_id AS owner_org, \
     a.scopes, a.auth_method, a.ip_allowlist, a.status AS app_status, a.created_at AS app_created_at, \
     a.revoked_at AS app_revoked_at, a.revoked_reason AS app_revoked_reason, a.owner_lost_at, \
     CASE WHEN a.environment = 'production' THEN COALESCE(r.tier, (SELECT MAX(t.tier) FROM tier_approvals t WHERE t.org_id = a.org_id)) END AS tier, \
     c.id AS credential_id, c.kind, c.secret_hint, c.material, c.created_at AS credential_created_at, c.expires_at, \
     c.revoked_at, c.revoked_reason, c.last_used_at, c.last_token_at \
     FROM apps a JOIN organisations o ON o.id = a.org_id \
     LEFT JOIN users u ON u.id = a.owner_id \
     LEFT JOIN access_requests r ON r.id = a.access_request_id \
     LEFT JOIN credentials c ON c.app_id = a.id";

/// What the inventory reads once per listing: the policy in force, the open
/// suspensions, granted exceptions, tiers' rules, scopes' data classes.
pub struct Context {
    pub now: i64,
    pub policy: Lifecycle,
    pub suspensions: Vec<Suspension>,
    /// app id → granted exceptions in force: (rule, ends_at).
    pub exceptions: HashMap<String, Vec<(String, i64)>>,
    /// tier level → (allowed client authentication methods, maximum credential days).
    pub tiers: BTreeMap<i64, (Vec<String>, i64)>,
    pub data_classes: HashMap<String, String>,
    pub sandbox_max_days: i64,
}

impl Context {
    pub async fn load(state: &AppState, now: i64) -> Result<Self> {
        let policy = super::policy::in_force(state).await?.policy;
        let suspensions = kill_switch::open(&state.db).await?;
        let mut exceptions: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT app_id, rule, ends_at FROM policy_exceptions WHERE status = 'granted' AND ends_at > $1",
        )
        .bind(now)
        .fetch_all(&state.db.pool)
        .await?;
        for (app_id, rule, ends_at) in rows {
            exceptions.entry(app_id).or_default().push((rule, ends_at));
        }
        let tiers = crate::onboarding::catalogue::tiers(state)
            .await?
            .into_iter()
            .map(|t| (t.level, (t.client_auth, t.max_credential_days)))
            .collect();
        let data_classes = crate::onboarding::catalogue::scopes(state)
            .await?
            .into_iter()
            .map(|s| (s.scope, s.data_class))
            .collect();
        Ok(Self {
            now,
            policy,
            suspensions,
            exceptions,
            tiers,
            data_classes,
            sandbox_max_days: state.settings.sandbox_credential_days,
        })
    }

    fn excepted(&self, app_id: &str, rule: &str) -> bool {
        self.exceptions
            .get(app_id)
            .is_some_and(|e| e.iter().any(|(r, _)| r == rule))
    }

    /// The tier rules a production client breaks, unless an exception covers them.
    fn breaches(&self, row: &Row) -> Vec<String> {
        let mut out = Vec::new();
        if row.environment != "production" || !row.app_active {
            return out;
        }
        let rules = self.policy.for_client(&row.environment, row.tier);
        if let Some((methods, max_days)) = row.tier.and_then(|t| self.tiers.get(&t)) {
            if !methods.contains(&row.auth_method) && !self.excepted(&row.app_id, "client_secret") {
                out.push(format!(
                    "{} is not allowed on Tier {}",
                    row.auth_method,
                    row.tier.unwrap_or_default()
                ));
            }
            if let (Some(expires_at), None) = (row.expires_at, row.revoked_at) {
                if expires_at - row.created_at > max_days * 86_400 + 3_600
                    && !self.excepted(&row.app_id, "credential_lifetime")
                {
                    out.push(format!("lifetime above the tier's {max_days} days"));
                }
            }
        }
        if rules.require_ip_allowlist
            && row.ip_allowlist_empty
            && !self.excepted(&row.app_id, "ip_allowlist")
        {
            out.push("no IP allow-list".into());
        }
        out
    }

    fn status(&self, row: &Row) -> &'static str {
        let now = self.now;
        if !row.app_active || row.revoked_at.is_some() {
            return "revoked";
        }
        if row.expires_at.is_some_and(|at| at <= now) {
            return "expired";
        }
        if row.suspension.is_some() {
            return "suspended";
        }
        if !row.policy_breaches.is_empty() {
            return "out_of_policy";
        }
        let rules = self.policy.for_client(&row.environment, row.tier);
        let idle_limit = (rules.dormancy_days - DORMANCY_WARNING_DAYS) * 86_400;
        if row.credential_id.is_some() && now - row.last_use_or_creation() >= idle_limit {
            return "dormant";
        }
        let lead = rules.warning_days.iter().copied().max().unwrap_or(30);
        if row.expires_at.is_some_and(|at| at - now <= lead * 86_400) {
            return "expiring";
        }
        "active"
    }

    fn finish(&self, mut row: Row) -> Row {
        row.data_classes = row
            .scopes
            .iter()
            .filter_map(|s| self.data_classes.get(s).cloned())
            .collect();
        row.data_classes.dedup();
        row.suspension = kill_switch::find(
            &self.suspensions,
            &row.app_id,
            &row.org_id,
            &row.environment,
            row.scopes.iter().map(String::as_str),
        )
        .map(|s| s.reason.clone());
        row.exceptions = self
            .exceptions
            .get(&row.app_id)
            .map(|e| {
                e.iter()
                    .map(|(rule, ends)| format!("{rule} until {}", time::day(*ends)))
                    .collect()
            })
            .unwrap_or_default();
        row.policy_breaches = self.breaches(&row);
        row.status = self.status(&row).to_string();
        row
    }
}

fn label(kind: &str, hint: Option<String>, material: Option<String>) -> Option<String> {
    match kind {
        "client_secret" => hint.map(|h| format!("secret …{h}")),
        "jwks_uri" | "tls_subject" | "tls_certificate" => material,
        "jwks" => material
            .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok())
            .map(|v| {
                let kids: Vec<String> = v["keys"]
                    .as_array()
                    .map(|keys| {
                        keys.iter()
                            .filter_map(|k| k["kid"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if kids.is_empty() {
                    "JWKS".to_string()
                } else {
                    format!("JWKS kid {}", kids.join(", "))
                }
            }),
        _ => None,
    }
}

fn row_of(r: &AnyRow) -> Result<Row> {
    let owner_status: Option<String> = r.try_get("owner_status")?;
    let owner_org: Option<String> = r.try_get("owner_org")?;
    let org_id: String = r.try_get("org_id")?;
    let owner = match (owner_status.as_deref(), owner_org) {
        (Some("active" | "invited"), Some(owner_org)) if owner_org == org_id => {
            let name: Option<String> = r.try_get("owner_name")?;
            let email: Option<String> = r.try_get("owner_email")?;
            Some(format!(
                "{} <{}>",
                name.unwrap_or_default(),
                email.unwrap_or_default()
            ))
        }
        _ => None,
    };
    let credential_id: Option<String> = r.try_get("credential_id")?;
    let kind: Option<String> = r.try_get("kind")?;
    let app_revoked_reason: Option<String> = r.try_get("app_revoked_reason")?;
    let revoked_reason: Option<String> = r.try_get("revoked_reason")?;
    let app_created_at: i64 = r.try_get("app_created_at")?;
    let credential_created_at: Option<i64> = r.try_get("credential_created_at")?;
    let app_revoked_at: Option<i64> = r.try_get("app_revoked_at")?;
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    Ok(Row {
        organisation: r.try_get("legal_name")?,
        app_id: r.try_get("app_id")?,
        client_id: r.try_get("client_id")?,
        client_name: r.try_get("name")?,
        environment: r.try_get("environment")?,
        tier: r.try_get("tier")?,
        owner_id: r.try_get("owner_id")?,
        owner,
        purpose: r.try_get("purpose")?,
        scopes: crate::clients::catalogue::split(&r.try_get::<String, _>("scopes")?),
        data_classes: Vec::new(),
        auth_method: r.try_get("auth_method")?,
        credential_label: kind.as_deref().and_then(|k| {
            label(
                k,
                r.try_get("secret_hint").ok().flatten(),
                r.try_get("material").ok().flatten(),
            )
        }),
        credential_kind: kind,
        credential_id,
        created_at: credential_created_at.unwrap_or(app_created_at),
        last_token_at: r.try_get("last_token_at")?,
        last_api_call_at: r.try_get("last_used_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: revoked_at.or(app_revoked_at),
        revoked_reason: revoked_reason.or(app_revoked_reason),
        status: String::new(),
        policy_breaches: Vec::new(),
        exceptions: Vec::new(),
        suspension: None,
        owner_lost_at: r.try_get("owner_lost_at")?,
        app_active: r.try_get::<String, _>("app_status")? == "active",
        ip_allowlist_empty: r.try_get::<String, _>("ip_allowlist")?.trim().is_empty(),
        org_id,
    })
}

/// Every identity (of one organisation when `org` is given), judged at `now`.
pub async fn all(
    state: &AppState,
    ctx: &Context,
    org: Option<&str>,
    environment: &str,
) -> Result<Vec<Row>> {
    rows(state, ctx, org.unwrap_or_default(), environment, "").await
}

/// The identities of one client (its page).
pub async fn of_client(state: &AppState, ctx: &Context, app_id: &str) -> Result<Vec<Row>> {
    rows(state, ctx, "", "", app_id).await
}

async fn rows(
    state: &AppState,
    ctx: &Context,
    org: &str,
    environment: &str,
    app_id: &str,
) -> Result<Vec<Row>> {
    let sql = format!(
        "{SELECT} WHERE ($1 = '' OR a.org_id = $1) AND ($2 = '' OR a.environment = $2) AND ($3 = '' OR a.id = $3) \
         ORDER BY a.created_at, a.id, c.created_at, c.id"
    );
    let rows = sqlx::query(&sql)
        .bind(org)
        .bind(environment)
        .bind(app_id)
        .fetch_all(&state.db.pool)
        .await?;
    progress::begin("Judging identities", Some(rows.len() as u64));
    rows.iter()
        .map(|r| {
            let row = row_of(r).map(|row| ctx.finish(row));
            progress::advance(1);
            row
        })
        .collect()
}

/// One page of the inventory.
pub struct Listing {
    pub rows: Vec<Row>,
    /// How many rows match the filters in all.
    pub total: usize,
    pub page: i64,
    pub pages: i64,
    /// Counts by status over the matching rows.
    pub by_status: BTreeMap<String, usize>,
}

pub const PAGE_SIZE: usize = 50;

/// The rows matching `filter`, sorted; `page_size` of them from the filter's page
/// (`usize::MAX` for every row: the exports). `org` scopes a partner's view.
pub async fn list(
    state: &AppState,
    org: Option<&str>,
    filter: &Filter,
    page_size: usize,
) -> Result<Listing> {
    let days = filter.check()?;
    let now = state.clock.now();
    let ctx = Context::load(state, now).await?;
    let org = org.or((!filter.org.is_empty()).then_some(filter.org.as_str()));
    let mut rows = Vec::new();
    for row in all(state, &ctx, org, &filter.environment).await? {
        if filter.keeps(&row, now, days) {
            rows.push(row);
        }
    }
    let key = |r: &Row| -> (String, i64) {
        match filter.sort.as_str() {
            "organisation" => (
                format!("{}\u{0}{}", r.organisation, r.client_name),
                r.created_at,
            ),
            "client" => (r.client_name.clone(), r.created_at),
            "created" => (String::new(), r.created_at),
            "last_used" => (String::new(), r.last_use_or_creation()),
            "status" => (r.status.clone(), r.expires_at.unwrap_or(i64::MAX)),
            _ => (String::new(), r.expires_at.unwrap_or(i64::MAX)),
        }
    };
    rows.sort_by_cached_key(key);
    if filter.order == "desc" {
        rows.reverse();
    }
    let mut by_status = BTreeMap::new();
    for row in &rows {
        *by_status.entry(row.status.clone()).or_insert(0) += 1;
    }
    let total = rows.len();
    let page = filter.page_number()?;
    let pages = if page_size == usize::MAX {
        1
    } else {
        i64::try_from(total.div_ceil(page_size).max(1)).unwrap_or(1)
    };
    let rows = if page_size == usize::MAX {
        rows
    } else {
        let skip = usize::try_from(page - 1)
            .unwrap_or(0)
            .saturating_mul(page_size);
        rows.into_iter().skip(skip).take(page_size).collect()
    };
    Ok(Listing {
        rows,
        total,
        page,
        pages,
        by_status,
    })
}

pub const CSV_HEADER: [&str; 24] = [
    "organisation_id",
    "organisation",
    "client_id",
    "client_name",
    "environment",
    "tier",
    "owner",
    "purpose",
    "scopes",
    "data_classes",
    "auth_method",
    "credential_id",
    "credential_kind",
    "credential",
    "created_at",
    "last_token_at",
    "last_api_call_at",
    "expires_at",
    "status",
    "revoked_reason",
    "policy_breaches",
    "exceptions",
    "suspension",
    "app_id",
];

fn when(ts: Option<i64>) -> String {
    ts.map(time::rfc3339).unwrap_or_default()
}

/// The rows as CSV, every cell neutralised against formula injection.
pub fn to_csv(rows: &[Row]) -> Result<String> {
    let mut writer = crate::platform::csv::SafeCsvWriter::new(Vec::new());
    writer.write_record(CSV_HEADER).map_err(Error::internal)?;
    for r in rows {
        writer
            .write_record([
                r.org_id.clone(),
                r.organisation.clone(),
                r.client_id.clone(),
                r.client_name.clone(),
                r.environment.clone(),
                r.tier.map(|t| t.to_string()).unwrap_or_default(),
                r.owner.clone().unwrap_or_else(|| "no owner".into()),
                r.purpose.clone(),
                r.scopes.join(" "),
                r.data_classes.join(" "),
                r.auth_method.clone(),
                r.credential_id.clone().unwrap_or_default(),
                r.credential_kind.clone().unwrap_or_default(),
                r.credential_label.clone().unwrap_or_default(),
                time::rfc3339(r.created_at),
                when(r.last_token_at),
                when(r.last_api_call_at),
                when(r.expires_at),
                r.status.clone(),
                r.revoked_reason.clone().unwrap_or_default(),
                r.policy_breaches.join("; "),
                r.exceptions.join("; "),
                r.suspension.clone().unwrap_or_default(),
                r.app_id.clone(),
            ])
            .map_err(Error::internal)?;
    }
    let bytes = writer.into_inner().map_err(Error::internal)?;
    String::from_utf8(bytes).map_err(Error::internal)
}

/// The rows as a JSON array, times in RFC 3339.
pub fn to_json(rows: &[Row]) -> Result<String> {
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            for field in [
                "created_at",
                "last_token_at",
                "last_api_call_at",
                "expires_at",
                "revoked_at",
                "owner_lost_at",
            ] {
                if let Some(ts) = v[field].as_i64() {
                    v[field] = serde_json::Value::String(time::rfc3339(ts));
                }
            }
            v
        })
        .collect();
    serde_json::to_string_pretty(&values).map_err(Error::internal)
}
