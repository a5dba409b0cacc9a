//! Partner organisations' own identity providers (issue 28): a partner admin
//! connects the organisation's OpenID provider and names the e-mail domains it
//! vouches for (each the organisation's website domain or under it, and claimed by
//! no other organisation); a bank admin approves the connection before it is used
//! (a bank control, audited, and only once discovery works through the outbound
//! policy). Members then sign in through it; people from the vouched domains join
//! just in time with the chosen role; the organisation can require it of everyone.

use std::sync::Arc;

use serde_json::json;

use super::config::IdpConfig;
use super::provider::Idp;
use crate::platform::audit::{self, Event};
use crate::platform::authz::Role;
use crate::platform::context::{AuthUser, ClientInfo};
use crate::platform::error::{Error, Invalid, Result};
use crate::platform::state::AppState;

/// At most this many vouched domains per organisation.
const MAX_DOMAINS: usize = 10;

/// An organisation's provider as stored (the secret stays encrypted in the table).
#[derive(Clone, Debug)]
pub struct OrgIdp {
    pub org_id: String,
    pub org_name: String,
    pub issuer: String,
    pub client_id: String,
    pub domains: Vec<String>,
    pub member_role: Role,
    pub require_sso: bool,
    pub status: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub decided_at: Option<i64>,
    pub decision_reason: Option<String>,
    /// Counts every change of the connection.
    pub version: i64,
}

/// Where the organisation's provider sends its members back.
pub fn redirect_uri(state: &AppState, org_id: &str) -> String {
    state
        .settings
        .link(&format!("/sso/partner/{org_id}/callback"))
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
);

const SELECT: &str = "SELECT p.org_id, o.legal_name, p.issuer, p.client_id, p.domains, p.member_role, p.require_sso, \
     p.status, u.email, p.requested_at, p.decided_at, p.decision_reason, p.version \
     FROM org_idps p JOIN organisations o ON o.id = p.org_id JOIN users u ON u.id = p.requested_by";

fn from_row(r: Row) -> OrgIdp {
    OrgIdp {
        org_id: r.0,
        org_name: r.1,
        issuer: r.2,
        client_id: r.3,
        domains: r
            .4
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect(),
        member_role: Role::parse(&r.5).unwrap_or(Role::PartnerDeveloper),
        require_sso: r.6 != 0,
        status: r.7,
        requested_by: r.8,
        requested_at: r.9,
        decided_at: r.10,
        decision_reason: r.11,
        version: r.12,
    }
}

/// The organisation's provider, if it connected one.
pub async fn of_org(state: &AppState, org_id: &str) -> Result<Option<OrgIdp>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE p.org_id = $1"))
        .bind(org_id)
        .fetch_optional(&state.db.pool)
        .await?;
    Ok(row.map(from_row))
}

/// Every connection, waiting ones first (the bank admin's list).
pub async fn all(state: &AppState) -> Result<Vec<OrgIdp>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} ORDER BY CASE p.status WHEN 'pending' THEN 0 ELSE 1 END, o.legal_name LIMIT 500"
    ))
    .fetch_all(&state.db.pool)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// What a partner admin submits.
pub struct Connection<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub domains: &'a str,
    pub member_role: &'a str,
    pub require_sso: bool,
}

fn host_of_website(website: &str) -> Option<String> {
    let url = url::Url::parse(website).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    Some(host.strip_prefix("www.").unwrap_or(&host).to_string())
}

fn plausible_domain(d: &str) -> bool {
    d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

fn visible(value: &str, max: usize) -> bool {
    !value.is_empty() && value.len() <= max && value.chars().all(|c| c.is_ascii_graphic())
}

/// Saves the organisation's connection, waiting for the bank's approval (a change
/// to an approved one waits again). All or nothing: a bad field, a domain outside
/// the organisation's or claimed by another organisation, writes nothing.
pub async fn connect(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    input: &Connection<'_>,
) -> Result<()> {
    let org_id = admin.org_id.as_deref().ok_or(Error::NotFound)?;
    let (website, org_status): (String, String) =
        sqlx::query_as("SELECT website, status FROM organisations WHERE id = $1")
            .bind(org_id)
            .fetch_one(&state.db.pool)
            .await?;
    if org_status != "active" {
        return Err(Error::Forbidden("The organisation is offboarded.".into()));
    }
    let existing = of_org(state, org_id).await?;
    if existing.as_ref().is_some_and(|c| c.status == "approved") {
        return Err(Error::Conflict(
            "The connection is approved and in use: remove it and connect again to change it (the bank reviews it again)."
                .into(),
        ));
    }
    let mut invalid = Invalid::new();
    let issuer = input.issuer.trim();
    match url::Url::parse(issuer) {
        Ok(url) if url.scheme() == "https" && url.host_str().is_some() && visible(issuer, 300) => {}
        _ => invalid.add(
            "issuer",
            "Enter the provider's issuer: an https URL, such as https://login.example.com",
        ),
    }
    let client_id = input.client_id.trim();
    if !visible(client_id, 200) {
        invalid.add(
            "client_id",
            "Enter the client id the provider gave Gatehouse (up to 200 visible characters).",
        );
    }
    let secret = input.client_secret.trim();
    if secret.is_empty() && existing.is_none() {
        invalid.add(
            "client_secret",
            "Enter the client secret the provider gave Gatehouse.",
        );
    } else if !secret.is_empty() && !visible(secret, 500) {
        invalid.add(
            "client_secret",
            "The client secret must be up to 500 visible characters.",
        );
    }
    let website_host = host_of_website(&website).unwrap_or_default();
    let mut domains: Vec<String> = input
        .domains
        .split([',', ' ', '\n'])
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    domains.sort();
    domains.dedup();
    if domains.is_empty() || domains.len() > MAX_DOMAINS {
        invalid.add(
            "domains",
            format!("Name 1 to {MAX_DOMAINS} e-mail domains the provider vouches for."),
        );
    } else if let Some(bad) = domains.iter().find(|d| !plausible_domain(d)) {
        invalid.add("domains", format!("{bad} is not a domain name."));
    } else if let Some(outside) = domains
        .iter()
        .find(|d| !(**d == website_host || d.ends_with(&format!(".{website_host}"))))
    {
        invalid.add(
            "domains",
            format!("{outside} is not your organisation's domain ({website_host}, from its registered website) or under it."),
        );
    }
    let role = match input.member_role {
        "partner_developer" => Some(Role::PartnerDeveloper),
        "partner_admin" => Some(Role::PartnerAdmin),
        _ => None,
    };
    if role.is_none() {
        invalid.add("member_role", "Choose the role new members get.");
    }
    invalid.into_result()?;
    let Some(role) = role else {
        return Err(Error::NotFound);
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let sql = format!(
        "SELECT domain, org_id FROM org_idp_domains WHERE org_id <> $1 AND domain IN ({})",
        (0..domains.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, String)>(&sql).bind(org_id);
    for domain in &domains {
        query = query.bind(domain);
    }
    let claimed = query.fetch_all(&mut *tx).await?;
    // A domain where people outside the organisation (another partner's members, the
    // bank's staff) have accounts is not the organisation's to vouch for.
    for domain in &domains {
        let outsiders: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE (org_id IS NULL OR org_id <> $1) AND (email LIKE $2 OR email LIKE $3)",
        )
        .bind(org_id)
        .bind(format!("%@{domain}"))
        .bind(format!("%.{domain}"))
        .fetch_one(&mut *tx)
        .await?;
        if outsiders > 0 {
            drop(tx);
            audit_refused(
                state,
                admin,
                client,
                org_id,
                &format!("{domain} has accounts outside the organisation"),
            )
            .await?;
            return Err(Error::Invalid(Invalid::field(
                "domains",
                format!("{domain} has Gatehouse accounts outside your organisation: it cannot be vouched for."),
            )));
        }
    }
    if let Some((domain, _)) = claimed.first() {
        drop(tx);
        audit_refused(
            state,
            admin,
            client,
            org_id,
            &format!("{domain} is claimed by another organisation"),
        )
        .await?;
        return Err(Error::Invalid(Invalid::field(
            "domains",
            format!("{domain} is already vouched for by another organisation's provider."),
        )));
    }
    let secret_enc = if secret.is_empty() {
        None
    } else {
        Some(state.keys.encrypt(secret.as_bytes())?)
    };
    sqlx::query(
        "INSERT INTO org_idps (org_id, issuer, client_id, client_secret, domains, member_role, require_sso, status, \
           requested_by, requested_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $9) \
         ON CONFLICT (org_id) DO UPDATE SET issuer = $2, client_id = $3, \
           client_secret = COALESCE($4, org_idps.client_secret), domains = $5, member_role = $6, require_sso = $7, \
           status = 'pending', requested_by = $8, requested_at = $9, decided_by = NULL, decided_at = NULL, \
           decision_reason = NULL, updated_at = $9, version = org_idps.version + 1",
    )
    .bind(org_id)
    .bind(issuer)
    .bind(client_id)
    .bind(secret_enc)
    .bind(domains.join(","))
    .bind(role.as_str())
    .bind(i64::from(input.require_sso))
    .bind(&admin.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM org_idp_domains WHERE org_id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    for domain in &domains {
        let inserted = sqlx::query("INSERT INTO org_idp_domains (domain, org_id) VALUES ($1, $2)")
            .bind(domain)
            .bind(org_id)
            .execute(&mut *tx)
            .await;
        if let Err(err) = inserted {
            // Claimed by another organisation a moment ago.
            if err
                .as_database_error()
                .is_some_and(|e| e.is_unique_violation())
            {
                return Err(Error::Invalid(Invalid::field(
                    "domains",
                    format!("{domain} is already vouched for by another organisation's provider."),
                )));
            }
            return Err(err.into());
        }
    }
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "sso.partner_idp_requested")
            .client(client)
            .org(Some(org_id))
            .resource("organisation", org_id)
            .details(
                json!({ "issuer": issuer, "client_id": client_id, "domains": domains,
                             "member_role": role.as_str(), "require_sso": input.require_sso,
                             "secret_changed": !secret.is_empty() }),
            ),
    )
    .await?;
    let admins: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE role = 'admin' AND status = 'active' AND org_id IS NULL ORDER BY email",
    )
    .fetch_all(&mut *tx)
    .await?;
    let org_name: String = sqlx::query_scalar("SELECT legal_name FROM organisations WHERE id = $1")
        .bind(org_id)
        .fetch_one(&mut *tx)
        .await?;
    let body = format!(
        "{org_name} asks to let its members sign in through its identity provider ({issuer}) for {}.\n\n\
         Review it: {}",
        domains.join(", "),
        state.settings.link("/admin/sso")
    );
    for to in &admins {
        crate::mail::enqueue(
            &mut tx,
            to,
            "A partner's single sign-on waits for approval",
            &body,
        )
        .await?;
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

async fn audit_refused(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    org_id: &str,
    why: &str,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "sso.partner_idp_refused")
            .client(client)
            .outcome("failure")
            .org(Some(org_id))
            .details(json!({ "reason": why })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The partner admin removes the connection: members sign in with passwords again.
pub async fn disconnect(state: &AppState, admin: &AuthUser, client: &ClientInfo) -> Result<()> {
    let org_id = admin.org_id.as_deref().ok_or(Error::NotFound)?;
    let mut tx = state.db.begin().await?;
    let gone = sqlx::query("DELETE FROM org_idps WHERE org_id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    sqlx::query("DELETE FROM org_idp_domains WHERE org_id = $1")
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(admin.actor(), "sso.partner_idp_removed")
            .client(client)
            .org(Some(org_id))
            .resource("organisation", org_id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The bank admin's decision on the version they reviewed: approve or reject a
/// waiting connection, or switch off (`revoke`) an approved one. Approval first
/// checks that the provider can be discovered (through the outbound policy); a
/// rejection or a switch-off needs a reason and frees the domains. Approving a
/// connection that requires single sign-on, and switching one off, end the
/// organisation's members' sessions (password sessions, or the provider's).
pub async fn decide(
    state: &AppState,
    admin: &AuthUser,
    client: &ClientInfo,
    org_id: &str,
    decision: &str,
    version: i64,
    reason: &str,
) -> Result<()> {
    let Some(conn) = of_org(state, org_id).await? else {
        return Err(Error::NotFound);
    };
    let (from, to) = match decision {
        "approve" => ("pending", "approved"),
        "reject" => ("pending", "rejected"),
        "revoke" => ("approved", "rejected"),
        _ => {
            return Err(Error::Invalid(Invalid::field(
                "decision",
                "Choose approve, reject or switch off.",
            )))
        }
    };
    if conn.status != from {
        return Err(Error::NotFound);
    }
    if conn.version != version {
        return Err(Error::Conflict(
            "The partner changed the connection after you opened the page: review it again.".into(),
        ));
    }
    let reason = reason.trim();
    if to == "rejected"
        && (reason.is_empty()
            || reason.chars().count() > 500
            || reason.chars().any(|c| c.is_control()))
    {
        return Err(Error::Invalid(Invalid::field(
            "reason",
            "Say why, in up to 500 characters.",
        )));
    }
    if to == "approved" {
        let idp = build(state, &conn).await?;
        if let Err(err) = idp.start(state, false).await {
            return Err(Error::Invalid(Invalid::field(
                "reason",
                format!("The provider cannot be used: {err}"),
            )));
        }
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let taken = sqlx::query(
        "UPDATE org_idps SET status = $1, decided_by = $2, decided_at = $3, decision_reason = $4, updated_at = $3 \
         WHERE org_id = $5 AND status = $6 AND version = $7",
    )
    .bind(to)
    .bind(&admin.id)
    .bind(now)
    .bind((!reason.is_empty()).then_some(reason))
    .bind(org_id)
    .bind(from)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    if taken.rows_affected() == 0 {
        return Err(Error::Conflict(
            "The partner changed the connection meanwhile: review it again.".into(),
        ));
    }
    if to == "rejected" {
        sqlx::query("DELETE FROM org_idp_domains WHERE org_id = $1")
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
    }
    if (to == "approved" && conn.require_sso) || decision == "revoke" {
        sqlx::query(
            "UPDATE users SET session_epoch = session_epoch + 1, updated_at = $1 WHERE org_id = $2",
        )
        .bind(now)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
    }
    let action = match decision {
        "approve" => "sso.partner_idp_approved",
        "reject" => "sso.partner_idp_rejected",
        _ => "sso.partner_idp_revoked",
    };
    audit::record(
        &mut tx,
        Event::new(admin.actor(), action)
            .client(client)
            .org(Some(org_id))
            .resource("organisation", org_id)
            .details(json!({ "issuer": conn.issuer, "domains": conn.domains, "version": version, "reason": reason })),
    )
    .await?;
    let body = match decision {
        "approve" => format!(
            "The bank approved single sign-on through {} for {}. Members can now choose \"Your organisation's single sign-on\" on the sign-in page.",
            conn.issuer,
            conn.domains.join(", ")
        ),
        "reject" => format!(
            "The bank did not approve single sign-on through {}: {reason}",
            conn.issuer
        ),
        _ => format!(
            "The bank switched off single sign-on through {}: {reason}\n\nMembers sign in with their Gatehouse passwords (or reset them).",
            conn.issuer
        ),
    };
    let partner_admins: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM users WHERE org_id = $1 AND role = 'partner_admin' AND status = 'active' ORDER BY email",
    )
    .bind(org_id)
    .fetch_all(&mut *tx)
    .await?;
    for to in &partner_admins {
        crate::mail::enqueue(&mut tx, to, "Your organisation's single sign-on", &body).await?;
    }
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(())
}

/// The provider object for a connection, made again when the connection changed.
pub async fn build(state: &AppState, conn: &OrgIdp) -> Result<Arc<Idp>> {
    let registry = state.sso();
    if let Ok(cache) = registry.partners.lock() {
        if let Some((at, idp)) = cache.get(&conn.org_id) {
            if *at == conn.version {
                return Ok(idp.clone());
            }
        }
    }
    let secret: Vec<u8> =
        sqlx::query_scalar("SELECT client_secret FROM org_idps WHERE org_id = $1")
            .bind(&conn.org_id)
            .fetch_one(&state.db.pool)
            .await?;
    let secret = String::from_utf8(state.keys.decrypt(&secret)?).map_err(Error::internal)?;
    let config = IdpConfig {
        id: conn.org_id.clone(),
        label: conn.org_name.clone(),
        issuer: conn.issuer.clone(),
        client_id: conn.client_id.clone(),
        client_secret: secret,
        private_key: None,
        scopes: vec!["email".into(), "profile".into()],
        groups_claim: String::new(),
        roles: Vec::new(),
        mfa_acr: Vec::new(),
        mfa_amr: vec!["mfa".into()],
        tenants: Vec::new(),
        trust_email: false,
    };
    let idp = Arc::new(Idp::new(config, true));
    if let Ok(mut cache) = registry.partners.lock() {
        cache.insert(conn.org_id.clone(), (conn.version, idp.clone()));
    }
    Ok(idp)
}
