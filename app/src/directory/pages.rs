//! The directory's pages: a partner's software and its statement, and the bank's
//! register of every partner's software with the withdrawal form.

use leptos::prelude::*;
use serde_json::Value;

use super::software::Software;
use super::statement::{self, STATEMENT_SECONDS};
use crate::platform::state::AppState;
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_summary, field_error, Form, TextArea};

fn environment(software: &Software) -> &'static str {
    if software.app.environment == "production" {
        "Production"
    } else {
        "Sandbox"
    }
}

fn tier(software: &Software) -> String {
    software
        .tier
        .map_or_else(|| "none yet".to_string(), |t| format!("Tier {t}"))
}

fn status(software: &Software) -> String {
    match &software.withdrawn_reason {
        None => "Active".into(),
        Some(reason) => format!(
            "Withdrawn ({}) {}",
            super::software::withdrawal_cause(reason),
            software.app.revoked_at.map(when).unwrap_or_default()
        ),
    }
}

/// Where the directory publishes its keys and its revoked-software list.
fn endpoints(state: &AppState) -> AnyView {
    view! {
        <dl>
            <dt>"Directory (the statements' issuer)"</dt><dd><code>{statement::issuer(state)}</code></dd>
            <dt>"Directory keys"</dt><dd><code>{state.settings.link("/directory/jwks")}</code></dd>
            <dt>"Revoked software (signed list)"</dt><dd><code>{state.settings.link("/directory/revoked")}</code></dd>
        </dl>
    }
    .into_any()
}

/// A table of software; `link` makes the detail page's address of one.
fn table(list: &[Software], bank: bool, link: impl Fn(&Software) -> String) -> AnyView {
    let rows = list
        .iter()
        .map(|s| {
            let href = link(s);
            let org = bank.then(|| view! { <td>{s.org_name.clone()}</td> });
            view! {
                <tr>
                    <td><a href=href>{s.app.name.clone()}</a><br/><small><code>{s.id.clone()}</code></small></td>
                    {org}
                    <td>{environment(s)}</td>
                    <td>{tier(s)}</td>
                    <td>{s.app.scopes.join(" ")}</td>
                    <td>{status(s)}</td>
                </tr>
            }
        })
        .collect_view();
    let org_header = bank.then(|| view! { <th scope="col">"Organisation"</th> });
    view! {
        <table id="software">
            <caption>"Software in the directory"</caption>
            <thead><tr>
                <th scope="col">"Software"</th>{org_header}<th scope="col">"Environment"</th>
                <th scope="col">"Tier"</th><th scope="col">"Scope ceiling"</th><th scope="col">"Status"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        {list.is_empty().then(|| view! { <p>"No software yet: each sandbox app, and each production client an approved request issues, appears here."</p> })}
    }
    .into_any()
}

/// The partner's list.
pub fn partner_list(state: &AppState, list: &[Software]) -> AnyView {
    view! {
        <p class="lede">"Gatehouse is the directory for your software: each sandbox app and each approved production client is a software record, and a software statement is the directory's signed word about it."</p>
        <p>{format!("A software statement (an RFC 7591 signed JWT) says what the directory vouches for: the software's names, redirect URIs, scope ceiling, authentication method and keys, and the organisation and tier behind it. It is good for {} minutes from the moment it is downloaded, and for one registration: your software registers its own client with it (RFC 7591 dynamic client registration) at the issuer's registration endpoint, {} or {}. Anyone can check its signature with the directory's keys below.", STATEMENT_SECONDS / 60, state.settings.link("/oauth/register"), state.settings.link("/production/oauth/register"))}</p>
        {endpoints(state)}
        {table(list, false, |s| format!("/software/{}", s.id))}
    }
    .into_any()
}

/// What a statement for `software` says, as labelled fields.
fn claims_view(state: &AppState, software: &Software) -> AnyView {
    let claims = statement::claims(state, software, "(new for each download)", 0);
    let shown = [
        ("software_id", "Software id"),
        ("client_name", "Client name"),
        ("software_environment", "Environment"),
        ("redirect_uris", "Redirect URIs"),
        ("scope", "Scope ceiling"),
        ("token_endpoint_auth_method", "Authentication method"),
        ("grant_types", "Grant types"),
        ("jwks_uri", "JWKS URI"),
        ("tls_client_auth_subject_dn", "Certificate subject"),
        (
            "gatehouse_tls_certificate_s256",
            "Certificate thumbprint (SHA-256)",
        ),
        ("org_name", "Organisation"),
        ("org_tier", "Tier"),
    ];
    let rows = shown
        .into_iter()
        .filter_map(|(name, label)| {
            let value = match claims.get(name)? {
                Value::Null => return None,
                Value::String(s) if s.is_empty() => "—".to_string(),
                Value::String(s) => s.clone(),
                Value::Array(items) if items.is_empty() => "—".to_string(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            Some(view! { <dt>{label}</dt><dd><code>{name}</code>": "{value}</dd> })
        })
        .collect_view();
    view! { <dl id="statement-claims">{rows}</dl> }.into_any()
}

/// The partner's view of one piece of software, with the download button for an
/// admin while it is active.
pub fn partner_detail(
    state: &AppState,
    software: &Software,
    can_download: bool,
    csrf: &str,
) -> AnyView {
    let action = format!("/software/{}/statement", software.id);
    let download = match (software.is_active(), can_download) {
        (false, _) => view! { <p id="statement-refused">"This software is withdrawn: the directory no longer issues statements for it, the clients registered from it are revoked, and, if it ever issued one, its signed revoked-software list names it."</p> }.into_any(),
        (true, false) => view! { <p>"A partner admin with two-step verification can download statements for production software (set it up on "<a href="/account/totp">"Account security"</a>")."</p> }.into_any(),
        (true, true) => view! {
            <form method="post" action=action>
                {csrf_field(csrf)}
                <button type="submit">"Download a software statement"</button>
            </form>
            <p class="hint">{format!("Each download is a new statement with its own id, good for {} minutes, and is recorded in the audit trail.", STATEMENT_SECONDS / 60)}</p>
        }.into_any(),
    };
    view! {
        <p>{format!("{} · {} · {}", environment(software), tier(software), status(software))}</p>
        <h2>"What a statement says"</h2>
        {claims_view(state, software)}
        {download}
        <p><a href="/software">"All software"</a></p>
    }
    .into_any()
}

/// The bank's register.
pub fn bank_list(state: &AppState, list: &[Software]) -> AnyView {
    view! {
        <p class="lede">"Every partner's software as the directory knows it. Withdrawing software revokes its client at once, tells the partner and its webhooks, and, once the directory has issued a statement for it, lists it as revoked in the signed list relying parties read."</p>
        {endpoints(state)}
        {table(list, true, |s| format!("/admin/software/{}", s.id))}
    }
    .into_any()
}

/// The bank's view of one piece of software, with the withdrawal form for admins.
pub fn bank_detail(
    state: &AppState,
    software: &Software,
    can_withdraw: bool,
    form: &Form,
    csrf: &str,
) -> AnyView {
    let action = format!("/admin/software/{}/withdraw", software.id);
    let error = field_error(form, "reason");
    let described = error.is_some().then(|| "reason-error".to_string());
    let withdraw = (software.is_active() && can_withdraw).then(|| {
        view! {
            <h2>"Withdraw"</h2>
            {error_summary(form)}
            <form method="post" action=action>
                {csrf_field(csrf)}
                <label for="reason">"Why (the partner is told)"</label>
                {error}
                {TextArea::new("reason", 3).described_by(described).invalid(form.error("reason").is_some()).render(form.value("reason"))}
                <button type="submit" class="danger">"Withdraw this software"</button>
            </form>
        }
    });
    view! {
        <p>{format!("{} · {} · {} · {}", software.org_name, environment(software), tier(software), status(software))}</p>
        <h2>"What a statement says"</h2>
        {claims_view(state, software)}
        {withdraw}
        <p><a href="/admin/software">"All software"</a></p>
    }
    .into_any()
}
