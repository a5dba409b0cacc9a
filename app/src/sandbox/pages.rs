//! The sandbox pages: the app list, registration, an app's credentials, consents and
//! request log, and the sandbox docs.

use leptos::prelude::*;

use super::service::{Consent, Issued, OVERLAPS};
use crate::clients::catalogue::Scope;
use crate::clients::model::{App, Credential, AUTH_METHODS};
use crate::clients::reqlog::{Filter, LogRow};
use crate::platform::time::when;
use crate::platform::ui::{action_button, csrf_field, error_summary, select, Form, Input};

pub fn list(apps: &[App]) -> AnyView {
    let rows = apps
        .iter()
        .map(|app| {
            let href = format!("/sandbox/apps/{}", app.id);
            view! {
                <tr>
                    <td><a href=href>{app.name.clone()}</a></td>
                    <td><code>{app.client_id.clone()}</code></td>
                    <td>{app.scopes.join(" ")}</td>
                    <td>{app.auth_method.clone()}</td>
                    <td>{app.status.clone()}</td>
                    <td>{when(app.created_at)}</td>
                </tr>
            }
        })
        .collect_view();
    let empty = apps.is_empty().then(|| view! { <p>"You have no sandbox apps yet. Register one to get credentials at once: no approval is needed for the sandbox."</p> });
    view! {
        <p class="lead">"Sandbox apps are your software's OAuth2 clients for the sandbox: synthetic customers, synthetic data, the production API schema."</p>
        <p><a class="button" href="/sandbox/apps/new">"Register a sandbox app"</a>" "<a href="/sandbox/docs">"Sandbox documentation"</a></p>
        {empty}
        <table id="apps">
            <thead><tr><th>"Name"</th><th>"Client id"</th><th>"Scopes"</th><th>"Authentication"</th><th>"Status"</th><th>"Created"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

fn textarea(form: &Form, name: &'static str, label: &'static str, hint: &'static str) -> AnyView {
    let error = form.error(name);
    let invalid = error.is_some();
    let class = if error.is_some() {
        "field field-error"
    } else {
        "field"
    };
    let hint_id = format!("{name}-hint");
    view! {
        <div class=class>
            <label for=name>{label}</label>
            <p class="hint" id=hint_id.clone()>{hint}</p>
            {error.map(|message| view! { <p class="error-message" id=format!("{name}-error")><span class="visually-hidden">"Error: "</span>{message}</p> })}
            {crate::platform::ui::TextArea::new(name, 4).described_by(Some(hint_id)).invalid(invalid).render(form.value(name))}
        </div>
    }
    .into_any()
}

fn scope_checkboxes(form: &Form, scopes: &[Scope]) -> AnyView {
    let chosen = form.value("scopes");
    let error = form.error("scopes");
    let class = if error.is_some() {
        "field field-error"
    } else {
        "field"
    };
    let boxes = scopes
        .iter()
        .map(|scope| {
            let id = format!("scope-{}", scope.name);
            let checked = chosen.split(' ').any(|s| s == scope.name);
            view! {
                <div class="checkbox">
                    <input type="checkbox" id=id.clone() name="scopes" value=scope.name.clone() checked=checked/>
                    <label for=id>{format!("{} ({})", scope.product, scope.name)}</label>
                    <p class="hint">{scope.description.clone()}</p>
                </div>
            }
        })
        .collect_view();
    view! {
        <fieldset class=class id="scopes">
            <legend>"Scopes from the API catalogue"</legend>
            {error.map(|message| view! { <p class="error-message"><span class="visually-hidden">"Error: "</span>{message}</p> })}
            {boxes}
        </fieldset>
    }
    .into_any()
}

fn key_help() -> AnyView {
    view! {
        <details>
            <summary>"How to make a key pair"</summary>
            <p>"Keep the private key on your side; paste only the public key. With OpenSSL, an ES256 (P-256) key:"</p>
            <pre><code>"openssl ecparam -name prime256v1 -genkey -noout -out private.pem\nopenssl ec -in private.pem -pubout -out public.pem"</code></pre>
            <p>"Paste public.pem as it is (a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block): Gatehouse converts it to a JWK, names it by its RFC 7638 thumbprint (the kid to put in your assertions' header, or leave kid out) and shows both on the app's page. RSA keys need 2048 bits or more; EC keys must be on P-256. Or paste a JWK or JWK set as JSON, or publish a JWKS URL. Your client signs its client assertion (RFC 7523) with the private key: iss and sub = your client id, aud = the issuer, the token endpoint URL or the URL you send it to (a string or an array), a unique jti, exp at most an hour ahead. Common client libraries' defaults work; the production issuer is stricter (aud = its issuer only, exp at most 5 minutes)."</p>
        </details>
    }
    .into_any()
}

pub fn new_app(
    form: &Form,
    csrf: &str,
    members: &[(String, String)],
    max_rate: u32,
    scopes: &[Scope],
) -> AnyView {
    let owner_options = members
        .iter()
        .map(|(id, name)| {
            let selected = form.value("owner_id") == *id;
            view! { <option value=id.clone() selected=selected>{name.clone()}</option> }
        })
        .collect_view();
    let owner_error = form.error("owner_id");
    let owner_class = if owner_error.is_some() {
        "field field-error"
    } else {
        "field"
    };
    let methods: Vec<(&'static str, &'static str)> = AUTH_METHODS.to_vec();
    view! {
        {error_summary(form)}
        <form method="post" action="/sandbox/apps" novalidate>
            {csrf_field(csrf)}
            {Input::text("name", "App name").render(form)}
            {Input::text("purpose", "Purpose").hint("What the app does with the data, in a sentence or two.").render(form)}
            <div class=owner_class>
                <label for="owner_id">"Owner"</label>
                <p class="hint">"The member answerable for this app and its credentials."</p>
                {owner_error.map(|message| view! { <p class="error-message"><span class="visually-hidden">"Error: "</span>{message}</p> })}
                <select id="owner_id" name="owner_id">{owner_options}</select>
            </div>
            {scope_checkboxes(form, scopes)}
            {textarea(form, "redirect_uris", "Redirect URIs", "One per line. https, or http://localhost for development. Needed for scopes that need a customer's consent.")}
            {select(form, "auth_method", "Client authentication", &methods)}
            {textarea(form, "jwks", "Public key (private_key_jwt)", "Your public key as PEM (-----BEGIN PUBLIC KEY-----, converted to a JWK for you), or a JWK or JWK set as JSON. Or give a JWKS URL below.")}
            {key_help()}
            {Input::text("jwks_uri", "JWKS URL (private_key_jwt)").hint("An https URL serving your public JWK set.").render(form)}
            {textarea(form, "tls_certificate", "Client certificate (mutual TLS)", "PEM, -----BEGIN CERTIFICATE----- …. Only this certificate will authenticate the app (RFC 8705 self_signed_tls_client_auth).")}
            {Input::text("tls_subject", "Or: certificate subject DN (mutual TLS, partner CA)").hint("Only for certificates issued by a partner CA the bank trusts, for example CN=app.acme.example.com,O=Acme Ltd,C=GB").render(form)}
            {Input::text("rate_limit_per_minute", "Rate limit").hint("Requests per minute across the token endpoint and the sandbox API. Default 600.").render(form)}
            <p class="hint">{format!("The sandbox allows at most {} requests per minute per app.", crate::platform::format::thousands(max_rate as i64))}</p>
            <div class="checkbox">
                <input type="checkbox" id="dpop_required" name="dpop_required" value="true" checked=form.value("dpop_required") == "true"/>
                <label for="dpop_required">"Require DPoP-bound tokens (RFC 9449)"</label>
            </div>
            <button type="submit">"Register app"</button>
        </form>
    }
    .into_any()
}

fn credential_row(
    credential: &Credential,
    now: i64,
    csrf: &str,
    app_id: &str,
    active: bool,
) -> AnyView {
    let what = credential.what();
    let status = credential.status(now);
    let revoke = (active && status == "active").then(|| {
        action_button(
            csrf,
            format!(
                "/sandbox/apps/{app_id}/credentials/{}/revoke",
                credential.id
            ),
            "Revoke",
            "warning",
        )
    });
    view! {
        <tr>
            <td><code>{credential.id.clone()}</code></td>
            <td>{what}</td>
            <td>{when(credential.created_at)}</td>
            <td>{credential.last_token_at.map(when).unwrap_or_else(|| "never".into())}</td>
            <td>{credential.last_used_at.map(when).unwrap_or_else(|| "never".into())}</td>
            <td>{when(credential.expires_at)}</td>
            <td class=format!("status-{status}")>{status}</td>
            <td>{revoke}</td>
        </tr>
    }
    .into_any()
}

pub struct Detail<'a> {
    pub app: &'a App,
    pub owner: String,
    pub credentials: &'a [Credential],
    pub consents: &'a [Consent],
    pub shown: Option<Issued>,
    pub now: i64,
    pub csrf: &'a str,
    pub form: &'a Form,
    /// The app's readiness for a production request over its own scopes.
    pub readiness: &'a super::readiness::Readiness,
}

/// What the app still needs for a production request, each with the next call to
/// make, or that it has everything.
fn readiness(app: &App, r: &super::readiness::Readiness) -> AnyView {
    let docs = format!("/sandbox/docs?app={}#sequences", app.id);
    let counts = r
        .scopes
        .iter()
        .filter(|s| s.testable)
        .map(|s| {
            format!(
                "{} {}",
                s.scope,
                crate::platform::format::count(s.successful_calls, "successful call", None)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let missing = r.missing_with_next_call();
    let body = if missing.is_empty() {
        view! { <p>"Ready: a production request for these scopes would find what it needs in the sandbox."</p> }.into_any()
    } else {
        let items = missing
            .into_iter()
            .map(|(what, next)| view! { <li>{what}<br/><small>{format!("Next: {next}")}</small></li> })
            .collect_view();
        view! { <ul>{items}</ul><p><a href=docs>"The sequences to run, with this app's client id"</a></p> }.into_any()
    };
    view! {
        <section id="app-readiness" aria-labelledby="app-readiness-heading">
            <h2 id="app-readiness-heading">"Ready for production?"</h2>
            <p class="hint">{format!("Last {} days: {}.", super::readiness::WINDOW_DAYS, if counts.is_empty() { "no scope with a sandbox API".to_string() } else { counts })}</p>
            {body}
        </section>
    }
    .into_any()
}

pub fn detail(d: Detail<'_>) -> AnyView {
    let app = d.app;
    let active = app.is_active();
    let secret = d.shown.and_then(|issued| issued.secret).map(|secret| {
        view! {
            <div class="notice secret" role="alert">
                <h2>"Your client secret"</h2>
                <p>"Copy it now: Gatehouse stores only a keyed hash and will never show it again."</p>
                <p><code id="client-secret">{secret}</code></p>
            </div>
        }
    });
    let credentials = d
        .credentials
        .iter()
        .map(|c| credential_row(c, d.now, d.csrf, &app.id, active))
        .collect_view();
    let consents = d
        .consents
        .iter()
        .map(|consent| {
            let revoke = (consent.status == "granted").then(|| {
                action_button(
                    d.csrf,
                    format!("/sandbox/apps/{}/consents/{}/revoke", app.id, consent.id),
                    "Revoke",
                    "warning",
                )
            });
            view! {
                <tr>
                    <td><code>{consent.id.clone()}</code></td>
                    <td>{consent.customer.clone()}</td>
                    <td>{consent.scopes.clone()}</td>
                    <td>{when(consent.created_at)}</td>
                    <td>{consent.status.clone()}</td>
                    <td>{revoke}</td>
                </tr>
            }
        })
        .collect_view();
    let is_key = !crate::clients::model::is_secret_method(&app.auth_method);
    let rotate = active.then(|| {
        let key_fields = is_key.then(|| match app.auth_method.as_str() {
            "tls_client_auth" => view! {
                {textarea(d.form, "tls_certificate", "New client certificate", "PEM, -----BEGIN CERTIFICATE----- ….")}
                {Input::text("tls_subject", "Or: new certificate subject DN (partner CA)").render(d.form)}
            }
            .into_any(),
            _ => view! {
                {textarea(d.form, "jwks", "New public key", "A public key as PEM, or a JWK or JWK set as JSON; or a JWKS URL below.")}
                {Input::text("jwks_uri", "New JWKS URL").render(d.form)}
            }
            .into_any(),
        });
        view! {
            <h2>"Rotate"</h2>
            {error_summary(d.form)}
            <form method="post" action=format!("/sandbox/apps/{}/rotate", app.id) novalidate>
                {csrf_field(d.csrf)}
                {select(d.form, "overlap", "Keep the current credentials valid for", &OVERLAPS)}
                {key_fields}
                <button type="submit">"Issue a new credential"</button>
            </form>
            <h2>"Revoke the app"</h2>
            <p>"Revoking is immediate: the app can no longer authenticate and every token it holds becomes inactive."</p>
            {action_button(d.csrf, format!("/sandbox/apps/{}/revoke", app.id), "Revoke this app", "warning")}
        }
    });
    view! {
        {secret}
        <dl class="summary">
            <dt>"Client id"</dt><dd><code id="client-id">{app.client_id.clone()}</code></dd>
            <dt>"Status"</dt><dd id="app-status">{app.status.clone()}</dd>
            <dt>"Purpose"</dt><dd>{app.purpose.clone()}</dd>
            <dt>"Owner"</dt><dd>{d.owner}</dd>
            <dt>"Scopes"</dt><dd>{app.scopes.join(" ")}</dd>
            <dt>"Redirect URIs"</dt><dd>{app.redirect_uris.join(", ")}</dd>
            <dt>"Client authentication"</dt><dd>{app.auth_method.clone()}</dd>
            <dt>"DPoP required"</dt><dd>{if app.dpop_required { "yes" } else { "no" }}</dd>
            <dt>"Rate limit"</dt><dd>{format!("{} requests per minute", crate::platform::format::thousands(app.rate_limit_per_minute))}</dd>
        </dl>
        <p><a href=format!("/sandbox/apps/{}/log", app.id)>"Request log"</a>" · "<a href=format!("/usage/apps/{}", app.id)>"Usage"</a>" · "<a href=format!("/sandbox/docs?app={}", app.id)>"How to call the sandbox"</a></p>
        {readiness(app, d.readiness)}
        <h2>"Credentials"</h2>
        <table id="credentials">
            <thead><tr><th>"Id"</th><th>"Credential"</th><th>"Created"</th><th>"Last token request"</th><th>"Last API call"</th><th>"Expires"</th><th>"Status"</th><th></th></tr></thead>
            <tbody>{credentials}</tbody>
        </table>
        {rotate}
        <h2>"Customer consents"</h2>
        <table id="consents">
            <thead><tr><th>"Id"</th><th>"Test customer"</th><th>"Scopes"</th><th>"Granted"</th><th>"Status"</th><th></th></tr></thead>
            <tbody>{consents}</tbody>
        </table>
    }
    .into_any()
}

pub fn request_log(app: &App, rows: &[LogRow], filter: &Filter) -> AnyView {
    let rows_view = rows
        .iter()
        .map(|row| {
            view! {
                <tr>
                    <td>{crate::platform::time::rfc3339(row.at)}</td>
                    <td>{row.method.clone()}</td>
                    <td>{row.endpoint.clone()}</td>
                    <td>{row.status}</td>
                    <td>{format!("{:.1} ms", row.latency_us as f64 / 1000.0)}</td>
                    <td>{row.error.clone().unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    let classes = [
        ("", "All"),
        ("2xx", "Successful (2xx)"),
        ("4xx", "Client errors (4xx)"),
        ("5xx", "Server errors (5xx)"),
    ];
    let form = Form::new()
        .with("status", filter.status_class.clone())
        .with("endpoint", filter.endpoint.clone());
    view! {
        <p class="lead">{format!("Token requests and API calls of {}, newest first (at most 200). No secret or token is ever logged.", app.name)}</p>
        <form method="get" action=format!("/sandbox/apps/{}/log", app.id) class="filters">
            {select(&form, "status", "Status", &classes)}
            {Input::text("endpoint", "Endpoint contains").render(&form)}
            <button type="submit">"Filter"</button>
        </form>
        <table id="request-log">
            <thead><tr><th>"Time (UTC)"</th><th>"Method"</th><th>"Endpoint"</th><th>"Status"</th><th>"Latency"</th><th>"Error"</th></tr></thead>
            <tbody>{rows_view}</tbody>
        </table>
        <p><a href=format!("/sandbox/apps/{}", app.id)>"Back to the app"</a></p>
    }
    .into_any()
}
