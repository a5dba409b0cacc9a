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
        <p><a href=format!("/sandbox/apps/{}/log", app.id)>"Request log"</a>" · "<a href=format!("/usage/apps/{}", app.id)>"Usage"</a>" · "<a href="/sandbox/docs">"How to call the sandbox"</a></p>
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

pub struct Docs {
    pub issuer: String,
    pub audience: String,
    pub token_lifetime: i64,
    /// The demo app's client id and secret, in demo mode only.
    pub demo: Option<(String, String)>,
}

pub fn docs(d: Docs) -> AnyView {
    let link = |path: &str| format!("{}{path}", d.issuer);
    let endpoints = [
        (
            "Metadata (RFC 8414)",
            link("/.well-known/oauth-authorization-server"),
        ),
        ("JWKS", link("/oauth/jwks")),
        ("Token", link("/oauth/token")),
        (
            "Pushed authorization requests (RFC 9126)",
            link("/oauth/par"),
        ),
        ("Authorization", link("/oauth/authorize")),
        ("Introspection (RFC 7662)", link("/oauth/introspect")),
        ("Revocation (RFC 7009)", link("/oauth/revoke")),
    ]
    .into_iter()
    .map(|(name, url)| view! { <tr><td>{name}</td><td><code>{url}</code></td></tr> })
    .collect_view();
    let (client_id, secret) = d
        .demo
        .clone()
        .unwrap_or_else(|| ("YOUR_CLIENT_ID".into(), "YOUR_CLIENT_SECRET".into()));
    let curl = format!(
        "curl -s -u {client_id}:{secret} \\\n  -d grant_type=client_credentials -d scope=reference \\\n  {}",
        link("/oauth/token")
    );
    let introspect = format!(
        "curl -s -u {client_id}:{secret} \\\n  -d token=ACCESS_TOKEN {}",
        link("/oauth/introspect")
    );
    let demo_note = d.demo.as_ref().map(|_| view! { <p class="notice">"Demo mode: the example uses the demo partner's sandbox app, whose well-known credentials work only in demo installations."</p> });
    let customers = sandbox_data::customers::TEST_CUSTOMERS
        .iter()
        .map(|c| view! { <tr><td><code>{c.username}</code></td><td><code>{c.password}</code></td><td>{c.display_name}</td><td>{c.summary}</td></tr> })
        .collect_view();
    view! {
        <p class="lead">"Gatehouse is the OAuth2 authorization server of its sandbox. Register an app, then get tokens with its credentials."</p>
        <h2>"Issuer and endpoints"</h2>
        <p>"Issuer: "<code id="issuer">{d.issuer.clone()}</code>". Access tokens are RFC 9068 JWTs for the audience "<code>{d.audience.clone()}</code>{format!(", valid for {} seconds, signed ES256 (PS256 and EdDSA keys are supported).", d.token_lifetime)}</p>
        <table id="endpoints"><tbody>{endpoints}</tbody></table>
        <h2>"A first token"</h2>
        {demo_note}
        <pre><code id="curl-example">{curl}</code></pre>
        <p>"Then ask whether a token is active:"</p>
        <pre><code>{introspect}</code></pre>
        <h2>"Grants and client authentication"</h2>
        <ul>
            <li>"client_credentials for reference data and for creating consents;"</li>
            <li>"authorization_code with PKCE (S256 only), directly or through a pushed authorization request; codes live 60 seconds and work once;"</li>
            <li>"refresh_token with rotation: each refresh token works once, and reusing one revokes its whole grant;"</li>
            <li>"client authentication with private_key_jwt (recommended), or client_secret_basic / client_secret_post in the sandbox only;"</li>
            <li>"DPoP (RFC 9449): send a DPoP proof to get a token bound to your key (token_type DPoP)."</li>
        </ul>
        <h2 id="api">"The sandbox API"</h2>
        <p>"The UK Open Banking Read/Write API v3.1.11 over your organisation's synthetic data (see "<a href="/sandbox/data">"Sandbox data"</a>"), at "<code id="api-base">{d.audience.clone()}</code>". Responses follow the OBIE schemas, with "<code>"Data"</code>", "<code>"Links"</code>" and "<code>"Meta"</code>"; errors are "<code>"OBErrorResponse1"</code>"; "<code>"x-fapi-interaction-id"</code>" is echoed or generated. Every call is checked like production: token signature, expiry, revocation, audience, scope, and the DPoP proof or client certificate when the token is bound. Calls count against your app's rate limit and appear in its request log."</p>
        <ol>
            <li>"Get a client_credentials token with scope accounts and POST "<code>"/aisp/account-access-consents"</code>" with the permissions you need (for example ReadAccountsDetail, ReadBalances, ReadTransactionsDetail, ReadTransactionsCredits, ReadTransactionsDebits)."</li>
            <li>"Send the customer to the authorization endpoint with scope accounts, PKCE and "<code>"openbanking_intent_id=CONSENT_ID"</code>" (directly or pushed). The test customer signs in and picks the accounts to share."</li>
            <li>"Exchange the code; the token reads "<code>"/aisp/accounts"</code>", "<code>"/aisp/accounts/{AccountId}/balances"</code>", "<code>"/transactions"</code>" (with "<code>"fromBookingDateTime"</code>"/"<code>"toBookingDateTime"</code>"; 100 per page, follow "<code>"Links.Next"</code>"), "<code>"/beneficiaries"</code>", "<code>"/direct-debits"</code>", "<code>"/standing-orders"</code>", "<code>"/scheduled-payments"</code>", "<code>"/statements"</code>", "<code>"/party"</code>", "<code>"/parties"</code>", "<code>"/product"</code>" and the bulk endpoints. Fields follow the permissions: Basic omits what Detail adds; ReadTransactionsCredits alone shows only credits; a missing permission is a 403."</li>
            <li>"Payments: POST "<code>"/pisp/domestic-payment-consents"</code>" (client_credentials, scope payments, with "<code>"x-idempotency-key"</code>"), authorise with scope payments (the customer picks the account to pay from), check "<code>"/funds-confirmation"</code>", then POST "<code>"/pisp/domestic-payments"</code>" with the same Initiation and Risk and an idempotency key. The same key and body replay the answer; another body is refused. The payment debits the account at once (a transaction and a lower balance), is AcceptedSettlementInProcess, and AcceptedSettlementCompleted 30 seconds later."</li>
            <li>"Reference data, with a client_credentials token and scope reference: "<code>"/reference/branches"</code>", "<code>"/reference/products"</code>", "<code>"/reference/fx-rates"</code>"."</li>
        </ol>
        <h3 id="api-rules">"How the sandbox reads requests"</h3>
        <ul>
            <li>"Bodies are "<code>"Content-Type: application/json"</code>" (otherwise 415) and are checked against the specification's request schemas: a member the schema does not allow is a 400 "<code>"UK.OBIE.Field.Unexpected"</code>" naming its path. An "<code>"Accept"</code>" without "<code>"application/json"</code>" is a 406."</li>
            <li>"Date filters ("<code>"fromBookingDateTime"</code>", "<code>"toStatementDateTime"</code>", …) take a date or a date-time; a time zone in them is ignored, as the specification says. The bulk "<code>"/transactions"</code>" is paged across accounts like the per-account endpoint."</li>
            <li>"An account outside the consent is a 403; an unknown consent, payment or statement id is a 400 "<code>"UK.OBIE.Resource.NotFound"</code>"; every error is an "<code>"OBErrorResponse1"</code>" with "<code>"x-fapi-interaction-id"</code>"."</li>
            <li>"Not offered (a 404, as the specification says for an endpoint an ASPSP has not implemented): the statement file, domestic scheduled payments, domestic standing orders, file payments and international payments. Message signing ("<code>"x-jws-signature"</code>") is not checked."</li>
        </ul>
        <h2 id="test-customers">"Test customers"</h2>
        <p>"Sign in as one of these synthetic customers when your app sends a customer to the authorization endpoint. None of them is a real person."</p>
        <table id="customers">
            <thead><tr><th>"Username"</th><th>"Password"</th><th>"Name"</th><th>"Persona"</th></tr></thead>
            <tbody>{customers}</tbody>
        </table>
    }
    .into_any()
}
