//! The inventory table (shared by the bank's and the partner's pages) and the
//! partner's client page: credentials, rotation, revocation, retirement, owner,
//! exceptions and notices.

use leptos::prelude::*;

use super::exceptions::{Exception, RULES};
use super::inventory::{Filter, Listing, Row, STATUSES};
use super::suspension::Listed;
use super::Notice;
use crate::clients::model::{App, Credential};
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_summary, Form, Input, TextArea};

fn seen(ts: Option<i64>) -> String {
    ts.map(when).unwrap_or_else(|| "never".into())
}

pub fn status_label(status: &str) -> &'static str {
    match status {
        "active" => "Active",
        "expiring" => "Expiring",
        "dormant" => "Dormant",
        "suspended" => "Suspended",
        "revoked" => "Revoked",
        "expired" => "Expired",
        "out_of_policy" => "Out of policy",
        _ => "Unknown",
    }
}

fn status_tag(status: &str) -> AnyView {
    let class = match status {
        "active" => "tag tag-green",
        "expiring" | "dormant" | "out_of_policy" => "tag tag-amber",
        _ => "tag tag-red",
    };
    view! { <strong class=class>{status_label(status)}</strong> }.into_any()
}

fn option(value: &str, text: &str, current: &str) -> AnyView {
    let selected = value == current;
    view! { <option value=value.to_string() selected=selected>{text.to_string()}</option> }
        .into_any()
}

fn checkbox(name: &'static str, label: &'static str, current: &str) -> AnyView {
    let checked = matches!(current, "1" | "on" | "true" | "yes");
    view! {
        <div class="field checkbox">
            <input type="checkbox" id=name name=name value="1" checked=checked/>
            <label for=name>{label}</label>
        </div>
    }
    .into_any()
}

/// The filters, the counts, the table and the paging of an inventory listing.
/// `base` is the page's path; `orgs` (bank only) the organisations to filter by;
/// `client_base` where a row's client page is.
pub fn inventory(
    listing: &Listing,
    filter: &Filter,
    base: &str,
    orgs: Option<&[(String, String)]>,
    client_base: &str,
) -> AnyView {
    let query = filter.query();
    let csv = format!("{base}/export?format=csv&{query}");
    let json = format!("{base}/export?format=json&{query}");
    let org_filter = orgs.map(|orgs| {
        let options = orgs.iter().map(|(id, name)| option(id, name, &filter.org)).collect_view();
        view! {
            <div class="field">
                <label for="org">"Organisation"</label>
                <select id="org" name="org">{option("", "All organisations", &filter.org)}{options}</select>
            </div>
        }
    });
    let statuses = STATUSES
        .iter()
        .map(|s| option(s, status_label(s), &filter.status))
        .collect_view();
    let sorts = [
        ("expires", "Expiry"),
        ("last_used", "Last used"),
        ("created", "Created"),
        ("organisation", "Organisation"),
        ("client", "Client"),
        ("status", "Status"),
    ]
    .iter()
    .map(|(v, t)| option(v, t, &filter.sort))
    .collect_view();
    let counts = listing
        .by_status
        .iter()
        .map(|(status, n)| view! { <li>{format!("{}: {n}", status_label(status))}</li> })
        .collect_view();
    let show_org = orgs.is_some();
    let rows = listing
        .rows
        .iter()
        .map(|r| row(r, show_org, client_base))
        .collect_view();
    let page = listing.page;
    let prev = (page > 1).then(|| format!("{base}?{query}&page={}", page - 1));
    let next = (page < listing.pages).then(|| format!("{base}?{query}&page={}", page + 1));
    view! {
        <form method="get" action=base.to_string() class="filters" aria-label="Filter the inventory">
            {org_filter}
            <div class="field">
                <label for="environment">"Environment"</label>
                <select id="environment" name="environment">
                    {option("", "Both", &filter.environment)}
                    {option("sandbox", "Sandbox", &filter.environment)}
                    {option("production", "Production", &filter.environment)}
                </select>
            </div>
            <div class="field">
                <label for="status">"Status"</label>
                <select id="status" name="status">{option("", "Any status", &filter.status)}{statuses}</select>
            </div>
            <div class="field">
                <label for="expiring_within">"Expiring within (days)"</label>
                <input id="expiring_within" name="expiring_within" type="number" min="0" max="3650" value=filter.expiring_within.clone()/>
            </div>
            <div class="field">
                <label for="dormant_for">"Unused for at least (days)"</label>
                <input id="dormant_for" name="dormant_for" type="number" min="0" max="3650" value=filter.dormant_for.clone()/>
            </div>
            {checkbox("no_owner", "No owner", &filter.no_owner)}
            {checkbox("out_of_policy", "Out of policy", &filter.out_of_policy)}
            {checkbox("has_exception", "Has an exception", &filter.has_exception)}
            <div class="field">
                <label for="sort">"Sort by"</label>
                <select id="sort" name="sort">{sorts}</select>
            </div>
            <div class="field">
                <label for="order">"Order"</label>
                <select id="order" name="order">
                    {option("asc", "Ascending", &filter.order)}
                    {option("desc", "Descending", &filter.order)}
                </select>
            </div>
            <button type="submit" class="secondary">"Filter"</button>
        </form>
        <p id="inventory-total">{format!("{} match.", crate::platform::format::count(listing.total as i64, "identity", Some("identities")))}</p>
        <ul class="inline-list" aria-label="By status">{counts}</ul>
        <p>"Export exactly these rows: "<a id="export-csv" href=csv>"CSV"</a>" · "<a id="export-json" href=json>"JSON"</a></p>
        <div class="table-scroll">
        <table id="inventory">
            <caption class="visually-hidden">"Clients and credentials"</caption>
            <thead><tr>
                {show_org.then(|| view! { <th scope="col">"Organisation"</th> })}
                <th scope="col">"Client"</th><th scope="col">"Environment"</th><th scope="col">"Owner"</th>
                <th scope="col">"Scopes (data classes)"</th><th scope="col">"Credential"</th><th scope="col">"Created"</th>
                <th scope="col">"Last token request"</th><th scope="col">"Last API call"</th><th scope="col">"Expires"</th>
                <th scope="col">"Status"</th><th scope="col">"Exceptions"</th><th scope="col">"Action"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        </div>
        <nav aria-label="Pages" class="paging">
            {prev.map(|href| view! { <a href=href rel="prev">"Previous page"</a> })}
            <span>{format!(" Page {page} of {} ", listing.pages)}</span>
            {next.map(|href| view! { <a href=href rel="next">"Next page"</a> })}
        </nav>
    }
    .into_any()
}

fn row(r: &Row, show_org: bool, client_base: &str) -> AnyView {
    let org = show_org.then(|| view! { <td>{r.organisation.clone()}</td> });
    let owner = r.owner.clone().unwrap_or_else(|| "No owner".into());
    let scopes = format!("{} ({})", r.scopes.join(" "), r.data_classes.join(", "));
    let credential = match (&r.credential_kind, &r.credential_label) {
        (Some(kind), Some(label)) => format!("{kind}: {label}"),
        (Some(kind), None) => kind.clone(),
        _ => "none yet".into(),
    };
    let tier = r.tier.map(|t| format!(" · Tier {t}")).unwrap_or_default();
    let mut notes = Vec::new();
    if let Some(reason) = &r.suspension {
        notes.push(format!("suspended: {reason}"));
    }
    notes.extend(r.policy_breaches.iter().cloned());
    if let Some(reason) = &r.revoked_reason {
        notes.push(format!("revoked: {reason}"));
    }
    let notes = notes.join("; ");
    let exceptions = if r.exceptions.is_empty() {
        "—".to_string()
    } else {
        r.exceptions.join("; ")
    };
    let link = format!("{client_base}/{}", r.app_id);
    view! {
        <tr class=format!("inventory-row status-{}", r.status)>
            {org}
            <td><code>{r.client_id.clone()}</code>" "{r.client_name.clone()}<br/><small>{r.purpose.clone()}</small></td>
            <td>{format!("{}{tier}", r.environment)}</td>
            <td>{owner}</td>
            <td>{scopes}</td>
            <td>{credential}<br/><small><code>{r.credential_id.clone().unwrap_or_default()}</code></small></td>
            <td>{when(r.created_at)}</td>
            <td>{seen(r.last_token_at)}</td>
            <td>{seen(r.last_api_call_at)}</td>
            <td>{r.expires_at.map(when).unwrap_or_else(|| "—".into())}</td>
            <td>{status_tag(&r.status)}<br/><small>{notes}</small></td>
            <td>{exceptions}</td>
            <td><a href=link>"Revoke, rotate or suspend"</a></td>
        </tr>
    }
    .into_any()
}

/// The sweep's notices; each links to its client under `client_base`.
pub fn notices(notices: &[Notice], client_base: &str) -> Option<AnyView> {
    if notices.is_empty() {
        return None;
    }
    let items = notices
        .iter()
        .map(|n| {
            let link = n
                .app_id
                .clone()
                .map(|id| view! { " "<a href=format!("{client_base}/{id}")>"Open the client"</a> });
            view! { <li>{format!("{} ({})", n.message, when(n.created_at))}{link}</li> }
        })
        .collect_view();
    Some(
        view! {
            <section class="notice governance-notices" aria-labelledby="governance-notices-title">
                <h2 id="governance-notices-title">"Credential notices"</h2>
                <ul>{items}</ul>
            </section>
        }
        .into_any(),
    )
}

/// Everything the partner's client page shows.
pub struct ClientPage<'a> {
    pub app: &'a App,
    pub tier: Option<i64>,
    pub row_status: Vec<(String, String)>,
    pub credentials: &'a [Credential],
    pub owner: Option<String>,
    pub members: &'a [(String, String)],
    pub exceptions: &'a [Exception],
    pub suspensions: &'a [Listed],
    pub notices: &'a [Notice],
    pub max_overlap_hours: i64,
    pub can_manage: bool,
    /// The bank's view (no partner links, no partner actions).
    pub bank: bool,
    pub csrf: &'a str,
    pub form: &'a Form,
    pub now: i64,
}

fn credential_rows(page: &ClientPage) -> AnyView {
    let app = page.app;
    page.credentials
        .iter()
        .map(|c| {
            let status = c.status(page.now);
            let what = c.what();
            let actions = (page.can_manage && status == "active" && app.is_active() && app.environment == "production").then(|| {
                view! {
                    <form method="post" action=format!("/governance/clients/{}/credentials/{}/revoke", app.id, c.id) class="inline">
                        {csrf_field(page.csrf)}
                        <button type="submit" class="warning">"Revoke"</button>
                    </form>
                }
            });
            view! {
                <tr>
                    <td><code>{c.id.clone()}</code></td>
                    <td>{what}</td>
                    <td>{when(c.created_at)}</td>
                    <td>{seen(c.last_token_at)}</td>
                    <td>{seen(c.last_used_at)}</td>
                    <td>{when(c.expires_at)}</td>
                    <td>{status}</td>
                    <td>{actions}</td>
                </tr>
            }
        })
        .collect_view()
        .into_any()
}

fn rotate_form(page: &ClientPage) -> Option<AnyView> {
    let app = page.app;
    if !page.can_manage || !app.is_active() || app.environment != "production" {
        return None;
    }
    let current = page
        .credentials
        .iter()
        .find(|c| c.status(page.now) == "active")?;
    let material = match app.auth_method.as_str() {
        "private_key_jwt" => view! {
            <div class="field">
                <label for="jwks">"New public key (JWK or JWKS, JSON)"</label>
                {TextArea::new("jwks", 4).render(page.form.value("jwks"))}
            </div>
            {Input::text("jwks_uri", "Or the new JWKS URL (https)").render(page.form)}
        }
        .into_any(),
        "tls_client_auth" => view! {
            <div class="field">
                <label for="tls_certificate">"New client certificate (PEM)"</label>
                {TextArea::new("tls_certificate", 4).render(page.form.value("tls_certificate"))}
            </div>
            {Input::text("tls_subject", "Or the subject DN (under a partner CA the bank trusts)").render(page.form)}
        }
        .into_any(),
        _ => view! { <p>"A new client secret is made and shown once."</p> }.into_any(),
    };
    let hint = format!("From 0 (the old credential stops at once) to {} hours, the policy's maximum for this client.", page.max_overlap_hours);
    Some(
        view! {
            <section class="card">
                <h2 id="rotate">"Rotate the credential"</h2>
                <p>{format!("Replaces {}. The new credential keeps the approved scopes, the expiry ({}) and the sender-constraint. Rotating needs no new review; wider access is a new production request.", current.id, when(current.expires_at))}</p>
                <form method="post" action=format!("/governance/clients/{}/credentials/{}/rotate", app.id, current.id)>
                    {csrf_field(page.csrf)}
                    <div class="field">
                        <label for="overlap_hours">"Overlap (hours the old credential stays valid)"</label>
                        <p class="hint">{hint}</p>
                        {page.form.error("overlap_hours").map(|m| view! { <p class="error-message" id="overlap_hours-error">{m}</p> })}
                        <input id="overlap_hours" name="overlap_hours" type="number" min="0" max=page.max_overlap_hours.to_string() value=page.form.value("overlap_hours")/>
                    </div>
                    {material}
                    <button type="submit">"Rotate"</button>
                </form>
            </section>
        }
        .into_any(),
    )
}

fn owner_form(page: &ClientPage) -> Option<AnyView> {
    if !page.can_manage || !page.app.is_active() {
        return None;
    }
    let options = page
        .members
        .iter()
        .map(|(id, label)| option(id, label, &page.app.owner_id))
        .collect_view();
    Some(
        view! {
            <form method="post" action=format!("/governance/clients/{}/owner", page.app.id)>
                {csrf_field(page.csrf)}
                <div class="field">
                    <label for="owner_id">"Owner"</label>
                    {page.form.error("owner_id").map(|m| view! { <p class="error-message" id="owner_id-error">{m}</p> })}
                    <select id="owner_id" name="owner_id">{options}</select>
                </div>
                <button type="submit" class="secondary">"Name this owner"</button>
            </form>
        }
        .into_any(),
    )
}

fn exceptions_section(page: &ClientPage) -> AnyView {
    let rows = page
        .exceptions
        .iter()
        .map(|e| {
            view! {
                <tr>
                    <td><code>{e.id.clone()}</code></td>
                    <td>{e.rule.clone()}</td>
                    <td>{e.reason.clone()}</td>
                    <td>{when(e.ends_at)}</td>
                    <td>{e.status.clone()}</td>
                    <td>{e.decision_reason.clone().unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    let rules = RULES
        .iter()
        .map(|(v, t)| option(v, t, &page.form.value("rule")))
        .collect_view();
    let request = (page.can_manage && page.app.is_active() && page.app.environment == "production").then(|| view! {
        <h3>"Ask for an exception"</h3>
        <form method="post" action=format!("/governance/clients/{}/exceptions", page.app.id)>
            {csrf_field(page.csrf)}
            <div class="field">
                <label for="rule">"Rule"</label>
                {page.form.error("rule").map(|m| view! { <p class="error-message" id="rule-error">{m}</p> })}
                <select id="rule" name="rule">{rules}</select>
            </div>
            <div class="field">
                <label for="reason">"Why the exception is needed"</label>
                {page.form.error("reason").map(|m| view! { <p class="error-message" id="reason-error">{m}</p> })}
                {TextArea::new("reason", 3).render(page.form.value("reason"))}
            </div>
            {Input::text("ends_on", "Ends on (YYYY-MM-DD, at most 90 days away)").kind("date").render(page.form)}
            <button type="submit" class="secondary">"Ask the bank"</button>
        </form>
    });
    view! {
        <section class="card">
            <h2>"Exceptions"</h2>
            {page.exceptions.is_empty().then(|| view! { <p>"No exceptions."</p> })}
            {(!page.exceptions.is_empty()).then(|| view! {
                <table>
                    <caption class="visually-hidden">"Exceptions of this client"</caption>
                    <thead><tr><th scope="col">"Id"</th><th scope="col">"Rule"</th><th scope="col">"Reason"</th><th scope="col">"Ends"</th><th scope="col">"Status"</th><th scope="col">"Bank's reason"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            })}
            {request}
        </section>
    }
    .into_any()
}

pub fn client(page: ClientPage) -> AnyView {
    let app = page.app;
    let suspended = page
        .suspensions
        .iter()
        .filter(|s| s.lifted_at.is_none())
        .map(|s| view! { <li>{format!("{} (since {})", s.reason, when(s.created_at))}</li> })
        .collect_view();
    let any_suspension = page.suspensions.iter().any(|s| s.lifted_at.is_none());
    let statuses = page
        .row_status
        .iter()
        .map(|(credential, status)| view! { <li>{format!("{credential}: {}", status_label(status))}</li> })
        .collect_view();
    let retire = (page.can_manage && app.is_active() && app.environment == "production").then(|| view! {
        <section class="card">
            <h2>"Retire this client"</h2>
            <p>"Revokes the client, every credential and every refresh token at once. This cannot be undone."</p>
            <form method="post" action=format!("/governance/clients/{}/retire", app.id)>
                {csrf_field(page.csrf)}
                {Input::text("retire_reason", "Why it is retired").render(page.form)}
                <button type="submit" class="warning">"Retire the client"</button>
            </form>
        </section>
    });
    view! {
        {error_summary(page.form)}
        {any_suspension.then(|| view! {
            <div class="notice notice-warning" role="status" id="suspension">
                <h2>"This client is suspended"</h2>
                <ul>{suspended}</ul>
                <p>"Its tokens are refused until the suspension is lifted."</p>
            </div>
        })}
        {notices(page.notices, if page.bank { "/governance/bank/clients" } else { "/governance/clients" })}
        <p><a id="client-usage" href=if page.bank { format!("/oversight/clients/{}", app.id) } else { format!("/usage/apps/{}", app.id) }>"Usage: calls, errors and latency"</a></p>
        <dl class="summary">
            <dt>"Client id"</dt><dd><code>{app.client_id.clone()}</code></dd>
            <dt>"Environment"</dt><dd>{format!("{}{}", app.environment, page.tier.map(|t| format!(" (Tier {t})")).unwrap_or_default())}</dd>
            <dt>"Purpose"</dt><dd>{app.purpose.clone()}</dd>
            <dt>"Owner"</dt><dd id="owner">{page.owner.clone().unwrap_or_else(|| "No owner: name one below".into())}</dd>
            <dt>"Scopes"</dt><dd>{app.scopes.join(" ")}</dd>
            <dt>"Authentication"</dt><dd>{app.auth_method.clone()}</dd>
            <dt>"IP allow-list"</dt><dd>{if app.ip_allowlist.is_empty() { "Any address".to_string() } else { app.ip_allowlist.join(", ") }}</dd>
            <dt>"Status"</dt><dd><ul class="inline-list">{statuses}</ul></dd>
        </dl>
        {owner_form(&page)}
        <h2>"Credentials"</h2>
        <table id="credentials">
            <caption class="visually-hidden">"Credentials of this client, newest first"</caption>
            <thead><tr><th scope="col">"Id"</th><th scope="col">"Credential"</th><th scope="col">"Created"</th><th scope="col">"Last token request"</th><th scope="col">"Last API call"</th><th scope="col">"Expires"</th><th scope="col">"Status"</th><th scope="col">"Action"</th></tr></thead>
            <tbody>{credential_rows(&page)}</tbody>
        </table>
        {(app.environment == "sandbox" && !page.bank).then(|| view! { <p><a href=format!("/sandbox/apps/{}", app.id)>"Rotate or revoke sandbox credentials on the app's page"</a></p> })}
        {rotate_form(&page)}
        {exceptions_section(&page)}
        {retire}
    }
    .into_any()
}

pub fn partner_inventory(listing: &Listing, filter: &Filter, notices: &[Notice]) -> AnyView {
    view! {
        <p class="lead">"Every client and credential of your organisation, with its owner, use, expiry and status. Credentials nobody uses are revoked automatically; the rules are the bank's lifecycle policy for your tier."</p>
        {self::notices(notices, "/governance/clients")}
        <p><a href="/governance/evidence">"Evidence the bank relies on, and renewing it"</a></p>
        {inventory(listing, filter, "/governance/inventory", None, "/governance/clients")}
    }
    .into_any()
}

/// The partner's re-attestation page: the documents the bank relies on, those
/// waiting for a reviewer, and the upload form (partner admins).
pub fn partner_evidence(
    relied: &[(String, String, String, bool)],
    form: &Form,
    csrf: &str,
    can_upload: bool,
    max_mb: usize,
) -> AnyView {
    let rows = relied
        .iter()
        .map(|(kind, filename, expires_on, accepted)| {
            view! {
                <tr>
                    <td>{kind.clone()}</td>
                    <td>{filename.clone()}</td>
                    <td>{expires_on.clone()}</td>
                    <td>{if *accepted { "Relied on by the bank" } else { "Waiting for a reviewer" }}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="lead">"Your approved tier relies on these documents. Before one expires, upload the renewed document here: a reviewer accepts it, and any suspension its expiry caused is lifted."</p>
        <table id="evidence">
            <caption class="visually-hidden">"Your organisation's evidence"</caption>
            <thead><tr><th scope="col">"Kind"</th><th scope="col">"File"</th><th scope="col">"Valid until"</th><th scope="col">"State"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        {can_upload.then(|| crate::onboarding::pages::upload_form("/governance/evidence".into(), form, csrf, max_mb))}
    }
    .into_any()
}
