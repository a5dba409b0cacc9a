//! Production access pages: the partner's requests, form (with readiness shown
//! before submitting), outcome and credential; the bank's production queue, the
//! request with its explanation, and the risk policy. Plain HTML forms, no JavaScript.

use leptos::prelude::*;
use serde_json::Value;

use super::model::{status_label, AccessRequest};
use super::policy::{Decision, Reason, Route};
use super::service::{PolicyVersion, QueueItem, Review};
use crate::clients::model::{App, Credential};
use crate::onboarding::catalogue::ScopeRow;
use crate::onboarding::model::{Tier, CLIENT_AUTH_METHODS};
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_line, error_summary, field_class, Form, Input};
use crate::sandbox::readiness::{Readiness, MAX_ERROR_RATE, MIN_SUCCESSES, WINDOW_DAYS};

fn status_tag(status: &str) -> AnyView {
    let class = match status {
        "approved" => "tag tag-green",
        "rejected" => "tag tag-red",
        "more_info" => "tag tag-yellow",
        _ => "tag",
    };
    view! { <strong class=class>{status_label(status)}</strong> }.into_any()
}

fn text_field(form: &Form, name: &str, label: &str, hint: Option<&str>, long: bool) -> AnyView {
    let error = form.error(name);
    let hint_id = format!("{name}-hint");
    let error_id = format!("{name}-error");
    let described = [
        hint.map(|_| hint_id.clone()),
        error.as_ref().map(|_| error_id.clone()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let described = (!described.is_empty()).then_some(described);
    let invalid = error.is_some().then_some("true");
    let value = form.value(name);
    let input = if long {
        crate::platform::ui::TextArea::new(name, 5)
            .described_by(described)
            .invalid(invalid.is_some())
            .render(value)
    } else {
        view! { <input id=name.to_string() name=name.to_string() type="text" value=value aria-describedby=described aria-invalid=invalid/> }.into_any()
    };
    view! {
        <div class=field_class(&error)>
            <label for=name.to_string()>{label.to_string()}</label>
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{h.to_string()}</p> })}
            {error_line(&error, error_id.clone())}
            {input}
        </div>
    }
    .into_any()
}

// ---------------------------------------------------------------- partner

pub struct HomePage<'a> {
    pub approved_tier: Option<i64>,
    pub sandbox_apps: &'a [App],
    pub requests: &'a [AccessRequest],
    pub production: &'a [(App, Vec<Credential>)],
    pub can_request: bool,
}

pub fn home(page: HomePage<'_>) -> AnyView {
    let tier_line = match page.approved_tier {
        Some(level) => format!("Your organisation is approved for tier {level}: you can ask for production access to that tier's scopes."),
        None => "Your organisation has no approved tier yet. Finish onboarding first; the sandbox is yours meanwhile.".into(),
    };
    let start = (page.can_request && page.approved_tier.is_some()).then(|| {
        let options = page
            .sandbox_apps
            .iter()
            .filter(|a| a.is_active())
            .map(|a| view! { <option value=a.id.clone()>{a.name.clone()}</option> })
            .collect_view();
        view! {
            <form method="get" action="/production/requests/new" class="filters">
                <div class="field">
                    <label for="app_id">"Sandbox app"</label>
                    <select id="app_id" name="app_id">{options}</select>
                </div>
                <button type="submit">"Request production access"</button>
            </form>
        }
    });
    let rows = page
        .requests
        .iter()
        .map(|r| {
            view! {
                <tr>
                    <td><a href=format!("/production/requests/{}", r.id)>{r.app_name.clone()}</a></td>
                    <td>{r.scopes.join(" ")}</td>
                    <td>{status_tag(&r.status)}</td>
                    <td>{r.route.label()}</td>
                    <td>{when(r.submitted_at)}</td>
                </tr>
            }
        })
        .collect_view();
    let clients = page
        .production
        .iter()
        .map(|(app, credentials)| credential_summary(app, credentials))
        .collect_view();
    view! {
        <p class="lead">{tier_line}</p>
        <p>"Requests are routed by the bank's published "<a href="/production/policy">"risk policy"</a>": what raises a request's score, what blocks it, and who reviews it."</p>
        {start}
        <h2>"Your requests"</h2>
        {page.requests.is_empty().then(|| view! { <p>"No production requests yet."</p> })}
        <table id="requests">
            <caption class="visually-hidden">"Production access requests, newest first"</caption>
            <thead><tr><th>"App"</th><th>"Scopes"</th><th>"Status"</th><th>"Route"</th><th>"Submitted"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <h2>"Production clients"</h2>
        {page.production.is_empty().then(|| view! { <p>"No production clients yet."</p> })}
        {clients}
        <p><a href="/production/docs">"How production tokens work"</a></p>
    }
    .into_any()
}

fn credential_summary(app: &App, credentials: &[Credential]) -> AnyView {
    let rows = credentials
        .iter()
        .map(|c| {
            let status = if c.revoked_at.is_some() {
                "Revoked"
            } else {
                "Active"
            };
            view! {
                <tr>
                    <td><code>{c.id.clone()}</code></td>
                    <td>{c.kind.clone()}</td>
                    <td>{when(c.created_at)}</td>
                    <td>{when(c.expires_at)}</td>
                    <td>{c.last_token_at.map(when).unwrap_or_else(|| "Never".into())}</td>
                    <td>{c.last_used_at.map(when).unwrap_or_else(|| "Never".into())}</td>
                    <td>{status}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card production-client">
            <h3>{app.name.clone()}</h3>
            <dl class="summary">
                <dt>"Client id"</dt><dd><code class="client-id">{app.client_id.clone()}</code></dd>
                <dt>"Scopes"</dt><dd class="client-scopes">{app.scopes.join(" ")}</dd>
                <dt>"Authentication"</dt><dd>{app.auth_method.clone()}</dd>
                <dt>"Rate limit"</dt><dd>{format!("{} requests per minute", app.rate_limit_per_minute)}</dd>
                <dt>"Sender-constrained"</dt><dd>{if app.dpop_required { "DPoP required" } else if app.auth_method == "tls_client_auth" { "Certificate-bound (mTLS)" } else { "No" }}</dd>
                <dt>"IP allow-list"</dt><dd>{if app.ip_allowlist.is_empty() { "Any address".to_string() } else { app.ip_allowlist.join(", ") }}</dd>
            </dl>
            {credentials.is_empty().then(|| view! { <p>"No credential yet: collect the client secret on the request page."</p> })}
            <p><a href=format!("/governance/clients/{}", app.id)>"Rotate, revoke or retire; owner and exceptions"</a></p>
            {(!credentials.is_empty()).then(|| view! {
                <table>
                    <caption class="visually-hidden">"Credentials"</caption>
                    <thead><tr><th>"Credential"</th><th>"Kind"</th><th>"Created"</th><th>"Expires"</th><th>"Last token request"</th><th>"Last API call"</th><th>"Status"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            })}
        </section>
    }
    .into_any()
}

pub fn readiness_table(readiness: &Readiness) -> AnyView {
    let rows = readiness
        .scopes
        .iter()
        .map(|s| {
            let state = if !s.testable {
                view! { <span>"No sandbox API: nothing to prove"</span> }.into_any()
            } else if s.ready {
                view! { <strong class="tag tag-green">"Ready"</strong> }.into_any()
            } else {
                view! { <strong class="tag tag-red">"Not ready"</strong> }.into_any()
            };
            view! {
                <tr>
                    <td>{s.scope.clone()}</td>
                    <td>{crate::platform::format::thousands(s.successful_calls)}</td>
                    <td>{format!("{:.0}%", s.error_rate() * 100.0)}</td>
                    <td>{s.last_success.map(when).unwrap_or_else(|| "Never".into())}</td>
                    <td>{state}</td>
                </tr>
            }
        })
        .collect_view();
    let missing = readiness.missing();
    view! {
        <table id="readiness">
            <caption>{format!("Sandbox readiness (last {WINDOW_DAYS} days: at least {MIN_SUCCESSES} successful calls per scope, at most {:.0}% errors)", MAX_ERROR_RATE * 100.0)}</caption>
            <thead><tr><th>"Scope"</th><th>"Successful calls"</th><th>"Error rate"</th><th>"Last success"</th><th>"Readiness"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <p>{format!("Account-access consent completed: {}. Domestic payment with an idempotency key completed: {}.",
            if readiness.account_consent { "yes" } else { "no" },
            if readiness.payment_with_idempotency_key { "yes" } else { "no" })}</p>
        {(!missing.is_empty()).then(|| {
            let items = missing.into_iter().map(|m| view! { <li>{m}</li> }).collect_view();
            view! {
                <div class="notice warning" id="readiness-missing">
                    <h3>"Missing readiness"</h3>
                    <p>"You can still submit; the risk policy weighs what is missing."</p>
                    <ul>{items}</ul>
                </div>
            }
        })}
    }
    .into_any()
}

pub struct RequestFormPage<'a> {
    pub app: &'a App,
    pub tier: &'a Tier,
    pub scopes: &'a [ScopeRow],
    pub readiness: &'a Readiness,
    pub form: &'a Form,
    pub csrf: &'a str,
}

pub fn request_form(page: RequestFormPage<'_>) -> AnyView {
    let form = page.form;
    let chosen: Vec<String> = form
        .value("scopes")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let scope_error = form.error("scopes");
    let scope_boxes = page
        .tier
        .scopes
        .iter()
        .map(|scope| {
            let row = page.scopes.iter().find(|s| &s.scope == scope);
            let id = format!("scope-{scope}");
            let checked = chosen.contains(scope);
            let description = row.map(|r| format!("{} — {} ({}, {} sensitivity)", r.product, r.description, r.data_class.replace('_', " "), r.sensitivity)).unwrap_or_default();
            let name = format!("justification_{scope}");
            let label = format!("Why you need {scope}");
            view! {
                <div class="checkbox">
                    <input type="checkbox" id=id.clone() name="scopes" value=scope.clone() checked=checked/>
                    <label for=id>{scope.clone()}</label>
                    <p class="hint">{description}</p>
                </div>
                {text_field(form, &name, &label, Some(&format!("Required for each scope you tick: what your product does with it, in {} to {} characters.", super::model::MIN_JUSTIFICATION, crate::platform::format::thousands(super::model::MAX_JUSTIFICATION as i64))), true)}
            }
        })
        .collect_view();
    let methods = CLIENT_AUTH_METHODS
        .iter()
        .filter(|(m, _)| page.tier.client_auth.iter().any(|a| a == m))
        .map(|(value, label)| {
            let id = format!("auth-{value}");
            let checked = form.value("auth_method") == *value;
            view! {
                <div class="radio">
                    <input type="radio" id=id.clone() name="auth_method" value=*value checked=checked/>
                    <label for=id>{*label}</label>
                </div>
            }
        })
        .collect_view();
    let auth_error = form.error("auth_method");
    view! {
        {error_summary(form)}
        <p class="lead">{format!("For the sandbox app {}. Your approved tier allows: {}.", page.app.name, page.tier.scopes.join(", "))}</p>
        <p>"The "<a href="/production/policy">"risk policy"</a>" decides who reviews the request; it lists each factor's points and what you can do about it."</p>
        <h2>"What the sandbox shows so far"</h2>
        {readiness_table(page.readiness)}
        <form method="post" action="/production/requests" novalidate>
            {csrf_field(page.csrf)}
            <input type="hidden" name="app_id" value=page.app.id.clone()/>
            <input type="hidden" name="submission_key" value=form.value("submission_key").to_string()/>
            <fieldset class=field_class(&scope_error) id="scopes">
                <legend>"Scopes"</legend>
                {error_line(&scope_error, "scopes-error".into())}
                {scope_boxes}
            </fieldset>
            {text_field(form, "calls_per_day", "Expected calls per day", Some("A whole number from 1 to 100,000,000."), false)}
            {text_field(form, "peak_per_second", "Peak calls per second", Some("A whole number from 1 to 10,000."), false)}
            <fieldset class=field_class(&auth_error) id="auth_method">
                <legend>"Client authentication"</legend>
                {error_line(&auth_error, "auth_method-error".into())}
                {methods}
            </fieldset>
            {text_field(form, "jwks", "Public key set (private_key_jwt)", Some("Your public key as PEM (-----BEGIN PUBLIC KEY----- or a certificate; converted to a JWK for you), or a JWK or JWK set as JSON. RSA 2048 bits or more, EC P-256 or Ed25519. Never the private key."), true)}
            {text_field(form, "jwks_uri", "Or your JWKS URL (private_key_jwt)", Some("An https URL."), false)}
            {text_field(form, "certificate", "Client certificate (mutual TLS)", Some("PEM, -----BEGIN CERTIFICATE----- …; the subject is registered."), true)}
            {text_field(form, "ip_allowlist", "IP allow-list (optional)", Some("Addresses or CIDR ranges your servers call from, separated by commas or new lines. Empty means any address."), true)}
            {text_field(form, "allowed_countries", "Countries your software calls from (optional)", Some("Two-letter ISO 3166 codes, e.g. GB IE, separated by spaces or commas: data residency. Calls from elsewhere raise an alert at the bank, which can also refuse them. Empty means anywhere."), false)}
            {text_field(form, "lifetime_days", "Credential lifetime in days", Some(&format!("At most {} days for this tier.", page.tier.max_credential_days)), false)}
            {Input::text("go_live", "Go-live date").kind("date").hint("From today to a year ahead.").render(form)}
            {conditions(&page)}
            <button type="submit">"Submit the request"</button>
        </form>
    }
    .into_any()
}

/// What the credential will be held to if approved, said before submitting: the
/// sender-constraint the policy sets for customer-data scopes, the lifetime, the
/// rate limit and the allow-list.
fn conditions(page: &RequestFormPage<'_>) -> AnyView {
    let customer_data: Vec<String> = page
        .scopes
        .iter()
        .filter(|s| page.tier.scopes.contains(&s.scope))
        .filter(|s| {
            matches!(
                s.data_class.as_str(),
                "account_information" | "payment_initiation" | "account_mutation"
            )
        })
        .map(|s| s.scope.clone())
        .collect();
    let dpop = if customer_data.is_empty() {
        "Tokens: plain bearer tokens are allowed for this tier's scopes.".to_string()
    } else {
        format!(
            "Tokens must be sender-constrained if you ask for {}: send a DPoP proof (RFC 9449) with every token request and API call, or authenticate with mutual TLS and call over it. A bearer token is refused. The examples in the repository's examples/ folder do this.",
            customer_data.join(", ")
        )
    };
    view! {
        <section class="card" id="conditions" aria-labelledby="conditions-heading">
            <h2 id="conditions-heading">"What an approval will hold you to"</h2>
            <ul>
                <li>{dpop}</li>
                <li>{format!("Credential lifetime: at most {} days ({} if the request scores high risk); rotate before it ends.", page.tier.max_credential_days, page.tier.max_credential_days.min(90))}</li>
                <li>{format!("Rate limit: at most {} requests a minute, and no more than your peak per second × 60 (at least 60).", crate::platform::format::thousands(page.tier.rate_limit_per_minute))}</li>
                <li>"IP allow-list: if you give one, tokens are issued only to calls from those addresses."</li>
            </ul>
            <p class="hint">"These come from the tier and the "<a href="/production/policy">"risk policy"</a>"; the decision names the exact terms."</p>
        </section>
    }
    .into_any()
}

/// Reasons as a list: the reviewer's detail, or the partner's hint.
fn reason_list(reasons: &[Reason], for_partner: bool, id: &'static str) -> AnyView {
    let items = reasons
        .iter()
        .map(|r| {
            let text = if for_partner { r.hint.clone() } else { r.detail.clone() };
            view! {
                <li><strong>{r.factor.replace('_', " ")}</strong>{if r.points == 0 { ": ".to_string() } else { format!(" (+{}): ", r.points) }}{text}</li>
            }
        })
        .collect_view();
    view! { <ul id=id>{items}</ul> }.into_any()
}

fn outcome_for_partner(request: &AccessRequest) -> AnyView {
    let decision: &Decision = &request.decision;
    let summary = match (request.status.as_str(), request.route) {
        ("approved", Route::AutoApprove) => "Approved by the bank's risk policy.",
        ("approved", _) => "Approved by the bank's reviewers.",
        ("rejected", Route::AutoReject) => "Not approved by the bank's risk policy.",
        ("rejected", _) => "Rejected by the bank's reviewers.",
        ("more_info", _) => "The bank needs more information: answer below.",
        (_, Route::FourEyes) => "Two reviewers at the bank will look at it.",
        _ => "A reviewer at the bank will look at it.",
    };
    let changes: Vec<Reason> = decision.what_would_change().cloned().collect();
    view! {
        <section id="outcome">
            <h2>"Outcome"</h2>
            <p>{summary}</p>
            <p>{format!("Risk score {} ({} risk).", decision.score, decision.band)}</p>
            {(!changes.is_empty()).then(|| view! {
                <h3>"What would change this outcome"</h3>
                {reason_list(&changes, true, "what-would-change")}
            })}
        </section>
    }
    .into_any()
}

pub struct PartnerRequestPage<'a> {
    pub request: &'a AccessRequest,
    pub messages: &'a [(bool, String, String, i64)],
    pub production: Option<&'a (App, Vec<Credential>)>,
    pub secret: Option<(String, String)>,
    pub can_manage: bool,
    pub form: &'a Form,
    pub csrf: &'a str,
}

fn conversation(messages: &[(bool, String, String, i64)]) -> AnyView {
    let items = messages
        .iter()
        .map(|(bank, author, body, at)| {
            let who = if *bank { format!("{author} (bank)") } else { author.clone() };
            view! { <li class="message"><p class="hint">{format!("{who}, {}", when(*at))}</p><p class="message-body">{body.clone()}</p></li> }
        })
        .collect_view();
    view! { <ul class="messages plain">{items}</ul> }.into_any()
}

fn request_summary(request: &AccessRequest) -> AnyView {
    let justifications = request
        .justifications
        .iter()
        .map(|(scope, text)| view! { <dt>{format!("Why {scope}")}</dt><dd>{text.clone()}</dd> })
        .collect_view();
    view! {
        <dl class="summary" id="request-summary">
            <dt>"Status"</dt><dd id="request-status">{status_tag(&request.status)}</dd>
            <dt>"App"</dt><dd>{request.app_name.clone()}</dd>
            <dt>"Scopes asked for"</dt><dd>{request.scopes.join(" ")}</dd>
            {justifications}
            <dt>"Volume"</dt><dd>{format!("{} calls a day, peak {} per second", crate::platform::format::thousands(request.calls_per_day), crate::platform::format::thousands(request.peak_per_second))}</dd>
            <dt>"Client authentication"</dt><dd>{request.auth_method.clone()}</dd>
            <dt>"IP allow-list"</dt><dd>{if request.ip_allowlist.is_empty() { "None".to_string() } else { request.ip_allowlist.join(", ") }}</dd>
            <dt>"Countries it calls from"</dt><dd>{if request.allowed_countries.is_empty() { "Anywhere".to_string() } else { request.allowed_countries.join(", ") }}</dd>
            <dt>"Lifetime asked for"</dt><dd>{format!("{} days", request.lifetime_days)}</dd>
            <dt>"Go-live"</dt><dd>{request.go_live.clone()}</dd>
            <dt>"Submitted"</dt><dd>{when(request.submitted_at)}</dd>
        </dl>
    }
    .into_any()
}

pub fn partner_request(page: PartnerRequestPage<'_>) -> AnyView {
    let request = page.request;
    let secret = page.secret.map(|(client_id, secret)| {
        view! {
            <div class="notice secret" role="alert">
                <h2>"Your production client secret"</h2>
                <p>"Copy it now: Gatehouse stores only a keyed hash and will never show it again."</p>
                <p>"Client id: "<code id="production-client-id">{client_id}</code></p>
                <p><code id="client-secret">{secret}</code></p>
            </div>
        }
    });
    let collect = (page.can_manage
        && request.status == "approved"
        && request.uses_secret()
        && !request.secret_collected)
        .then(|| {
            view! {
                <form method="post" action=format!("/production/requests/{}/secret", request.id)>
                    {csrf_field(page.csrf)}
                    <p>"Your client secret is made when you collect it and shown once."</p>
                    <button type="submit">"Collect the client secret"</button>
                </form>
            }
        });
    let terms = request.terms.as_ref().filter(|_| request.status == "approved").map(|t| {
        view! {
            <h2>"Approved terms"</h2>
            <dl class="summary" id="approved-terms">
                <dt>"Scopes"</dt><dd>{t.scopes.join(" ")}</dd>
                <dt>"Lifetime"</dt><dd>{format!("{} days", t.lifetime_days)}</dd>
                <dt>"Rate limit"</dt><dd>{format!("{} requests per minute", t.rate_limit_per_minute)}</dd>
                <dt>"Sender-constrained tokens"</dt><dd>{if t.sender_constraint { "Required (DPoP, or mTLS-bound)" } else { "Not required" }}</dd>
            </dl>
        }
    });
    let answer = (page.can_manage && request.status == "more_info").then(|| {
        view! {
            <form method="post" action=format!("/production/requests/{}/answer", request.id) novalidate>
                {csrf_field(page.csrf)}
                <input type="hidden" name="version" value=request.version.to_string()/>
                {text_field(page.form, "answer", "Your answer", Some("Answering sends the request back to the bank; the risk policy looks at it again."), true)}
                <button type="submit">"Send the answer"</button>
            </form>
        }
    });
    view! {
        {error_summary(page.form)}
        {secret}
        {outcome_for_partner(request)}
        {collect}
        {terms}
        {page.production.map(|(app, credentials)| credential_summary(app, credentials))}
        {(!page.messages.is_empty()).then(|| view! { <h2>"Conversation"</h2>{conversation(page.messages)} })}
        {answer}
        <h2>"Your request"</h2>
        {request_summary(request)}
    }
    .into_any()
}

// ---------------------------------------------------------------- bank

pub fn queue(items: &[QueueItem], status: &str) -> AnyView {
    let options = [("open", "Waiting for the bank")]
        .iter()
        .chain(super::model::STATUSES.iter())
        .chain([("all", "All")].iter())
        .map(|(value, label)| {
            let selected = status == *value || (status.is_empty() && *value == "open");
            view! { <option value=*value selected=selected>{*label}</option> }
        })
        .collect_view();
    let rows = items
        .iter()
        .map(|item| {
            let r = &item.request;
            let (waited, _) = crate::platform::format::waited(0, item.waiting_secs, Some(item.sla_hours * 3_600));
            let sla = if item.overdue() {
                view! { <strong class="tag tag-red">{if r.escalated_at.is_some() { "Overdue — escalated" } else { "Overdue" }}</strong> }.into_any()
            } else {
                view! { <span>"Within SLA"</span> }.into_any()
            };
            view! {
                <tr>
                    <td><a href=format!("/review/production/{}", r.id)>{r.org_name.clone()}</a></td>
                    <td>{r.app_name.clone()}</td>
                    <td>{r.scopes.join(" ")}</td>
                    <td>{r.route.label()}</td>
                    <td>{format!("{} ({})", r.score, r.band)}</td>
                    <td>{status_tag(&r.status)}</td>
                    <td>{crate::platform::format::capitalise(&waited)}" "{sla}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="lead">"Production access requests. See also the "<a href="/review">"onboarding queue"</a>" and the "<a href="/review/policy">"risk policy"</a>"."</p>
        <form method="get" action="/review/production" class="filters">
            <div class="field"><label for="status">"Status"</label><select id="status" name="status">{options}</select></div>
            <button type="submit" class="secondary">"Filter"</button>
        </form>
        {items.is_empty().then(|| view! { <p>"Nothing in the queue with this filter."</p> })}
        {(items.len() >= super::service::QUEUE_LIMIT).then(|| view! {
            <p class="notice">{format!("Showing the {} longest-waiting requests: choose a status to see the others.", super::service::QUEUE_LIMIT)}</p>
        })}
        <table id="production-queue">
            <caption class="visually-hidden">"Production access requests, longest waiting first"</caption>
            <thead><tr><th>"Organisation"</th><th>"App"</th><th>"Scopes"</th><th>"Route"</th><th>"Score"</th><th>"Status"</th><th>"Waiting"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

fn facts_list(facts: &Value) -> AnyView {
    let pretty = serde_json::to_string_pretty(facts).unwrap_or_default();
    view! { <details><summary>"Policy input (all facts)"</summary><pre class="code">{pretty}</pre></details> }.into_any()
}

fn review_rows(reviews: &[Review]) -> AnyView {
    let rows = reviews
        .iter()
        .map(|r| {
            let who = r.reviewer_email.clone().unwrap_or_else(|| "Risk policy".into());
            let terms = r.terms.as_ref().map(|t| format!("{}; {} days; {}/min", t.scopes.join(" "), t.lifetime_days, t.rate_limit_per_minute)).unwrap_or_default();
            view! {
                <tr>
                    <td>{r.round.to_string()}</td>
                    <td>{match r.stage { 0 => "Policy", 1 => "First review", _ => "Second review" }}</td>
                    <td>{who}</td>
                    <td>{r.decision.clone()}</td>
                    <td>{terms}</td>
                    <td>{r.reason.clone()}</td>
                    <td>{if r.step_up_at.is_some() { "Yes" } else { "—" }}</td>
                    <td>{when(r.created_at)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table id="reviews">
            <caption>"Decisions"</caption>
            <thead><tr><th>"Round"</th><th>"Stage"</th><th>"By"</th><th>"Decision"</th><th>"Terms"</th><th>"Reason"</th><th>"Step‑up"</th><th>"At"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub struct ReviewPage<'a> {
    pub request: &'a AccessRequest,
    pub reviews: &'a [Review],
    pub messages: &'a [(bool, String, String, i64)],
    pub conflict: Option<String>,
    pub blocked: Option<String>,
    pub policy_version: Option<i64>,
    /// The partner's production agreements for the request's tier (issue 32).
    pub agreements: AnyView,
    /// For staff who sign in through an identity provider: confirming there instead
    /// of a code (issue 28).
    pub idp_step_up: Option<AnyView>,
    pub form: &'a Form,
    pub csrf: &'a str,
}

pub fn review(page: ReviewPage<'_>) -> AnyView {
    let r = page.request;
    let d = &r.decision;
    let proposed = r.proposed_terms();
    let form = page.form;
    let scope_boxes = proposed
        .scopes
        .iter()
        .map(|scope| {
            let id = format!("keep-{scope}");
            view! {
                <div class="checkbox">
                    <input type="checkbox" id=id.clone() name="scopes" value=scope.clone() checked=true/>
                    <label for=id>{scope.clone()}</label>
                </div>
            }
        })
        .collect_view();
    let stage_text = match (r.route, r.status.as_str()) {
        (Route::FourEyes, "pending_review") => "First of two reviews (four eyes): your approval sends it to an approver.",
        (Route::FourEyes, "pending_second_review") => "Second review (four eyes): needs the approver role and someone other than the first reviewer.",
        _ => "One review decides this request.",
    };
    let decide = (r.awaits_review() && page.conflict.is_none() && page.blocked.is_none()).then(|| {
        let code_error = form.error("code");
        view! {
            <h2>"Decide"</h2>
            <p>{stage_text}</p>
            <form method="post" action=format!("/review/production/{}/decision", r.id) novalidate id="decision-form">
                {csrf_field(page.csrf)}
                <input type="hidden" name="version" value=r.version.to_string()/>
                <fieldset class="field" id="decision">
                    <legend>"Decision"</legend>
                    {error_line(&form.error("decision"), "decision-error".into())}
                    <div class="radio"><input type="radio" id="decision-approve" name="decision" value="approve"/><label for="decision-approve">"Approve (with the terms below)"</label></div>
                    <div class="radio"><input type="radio" id="decision-reject" name="decision" value="reject"/><label for="decision-reject">"Reject"</label></div>
                    <div class="radio"><input type="radio" id="decision-more" name="decision" value="more_info"/><label for="decision-more">"Ask the partner for more information"</label></div>
                </fieldset>
                <fieldset class=field_class(&form.error("scopes")) id="scopes">
                    <legend>"Scopes to grant (untick to narrow)"</legend>
                    {error_line(&form.error("scopes"), "scopes-error".into())}
                    {scope_boxes}
                </fieldset>
                {text_field(form, "lifetime_days", "Credential lifetime in days", Some(&format!("At most {} (empty keeps it).", proposed.lifetime_days)), false)}
                {text_field(form, "rate_limit_per_minute", "Rate limit per minute", Some(&format!("At most {} (empty keeps it).", proposed.rate_limit_per_minute)), false)}
                {text_field(form, "reason", "Reason or questions", Some("Required to reject or ask for more; the partner reads it."), true)}
                <div class=field_class(&code_error)>
                    <label for="code">"Authenticator code (needed to approve)"</label>
                    <p class="hint" id="code-hint">"A fresh six-digit code: approving is a step-up."</p>
                    {error_line(&code_error, "code-error".into())}
                    <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" aria-describedby="code-hint"/>
                    {page.idp_step_up}
                </div>
                <button type="submit">"Record the decision"</button>
            </form>
        }
    });
    view! {
        {error_summary(form)}
        {page.conflict.map(|m| view! { <div class="notice warning" role="alert" id="conflict">{m}</div> })}
        {page.blocked.map(|m| view! { <div class="notice" id="blocked">{m}</div> })}
        <section id="explanation">
            <h2>"Risk explanation"</h2>
            <dl class="summary">
                <dt>"Route"</dt><dd id="route">{r.route.label()}</dd>
                <dt>"Score"</dt><dd id="score">{format!("{} ({} band)", d.score, d.band)}</dd>
                <dt>"Policy"</dt><dd><code>{r.policy_sha256[..16].to_string()}</code>{page.policy_version.map(|v| format!(" (version {v})"))}</dd>
                <dt>"Conditions"</dt><dd>{format!("at most {} days, {} requests per minute, sender-constrained tokens {}", d.conditions.max_lifetime_days, d.conditions.rate_limit_per_minute, if d.conditions.sender_constraint { "required" } else { "not required" })}</dd>
            </dl>
            {(!d.blockers.is_empty()).then(|| view! { <h3>"Blockers"</h3>{reason_list(&d.blockers, false, "blockers")} })}
            <h3>"Factors"</h3>
            {reason_list(&d.reasons, false, "factors")}
            {facts_list(&r.facts)}
        </section>
        {page.agreements}
        {decide}
        <h2>"The request"</h2>
        <p>{format!("{} — tier {}, round {}", r.org_name, r.tier, r.round)}</p>
        {request_summary(r)}
        {(!page.messages.is_empty()).then(|| view! { <h2>"Conversation"</h2>{conversation(page.messages)} })}
        {review_rows(page.reviews)}
    }
    .into_any()
}

pub struct PolicyPage<'a> {
    pub active: &'a PolicyVersion,
    pub versions: &'a [PolicyVersion],
    pub can_replace: bool,
    pub form: &'a Form,
    pub csrf: &'a str,
}

pub fn policy(page: PolicyPage<'_>) -> AnyView {
    let rows = page
        .versions
        .iter()
        .map(|v| {
            view! {
                <tr>
                    <td>{v.version.to_string()}{v.active.then_some(" (active)")}</td>
                    <td><code>{v.sha256[..16].to_string()}</code></td>
                    <td>{v.note.clone()}</td>
                    <td>{v.created_by.clone()}</td>
                    <td>{when(v.created_at)}</td>
                </tr>
            }
        })
        .collect_view();
    let replace = page.can_replace.then(|| {
        let form = page.form;
        view! {
            <h2>"Replace the policy"</h2>
            <p>"The new policy must compile, define data.gatehouse.access.decision, and pass its own test table, which must cover all four routes. Otherwise it is refused and the active policy stays. The active policy is published to partners at "<a href="/production/policy">"/production/policy"</a>" (its tables and its source, comments included)."</p>
            <form method="post" action="/admin/policy" novalidate>
                {csrf_field(page.csrf)}
                {text_field(form, "source", "Rego policy", None, true)}
                {text_field(form, "tests", "Test table (JSON)", None, true)}
                {text_field(form, "note", "What changed and why", None, false)}
                <button type="submit">"Test and activate"</button>
            </form>
        }
    });
    view! {
        {error_summary(page.form)}
        <p class="lead">{format!("Active: version {}, SHA-256 {}. Every decision records this hash.", page.active.version, page.active.sha256)}</p>
        {super::policy_table::view(&super::policy_table::read(&page.active.source))}
        <h2>"Policy (Rego)"</h2>
        <pre class="code" id="policy-source">{page.active.source.clone()}</pre>
        <h2>"Its test table"</h2>
        <pre class="code" id="policy-tests">{page.active.tests.clone()}</pre>
        <h2>"Versions"</h2>
        <table id="policy-versions">
            <caption class="visually-hidden">"Policy versions, newest first"</caption>
            <thead><tr><th>"Version"</th><th>"SHA‑256"</th><th>"Note"</th><th>"By"</th><th>"At"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        {replace}
    }
    .into_any()
}

pub fn docs(
    issuer: &str,
    metadata: &str,
    token: &str,
    introspect: &str,
    jwks: &str,
    audience: &str,
) -> AnyView {
    // Both run as written (tests: production::auto_approve_end_to_end and
    // production::one_reviewer_with_conditions_and_step_up).
    let curl = format!(
        "curl -s -u \"$CLIENT_ID:$CLIENT_SECRET\" \\\n  -d grant_type=client_credentials -d scope=reference \\\n  {token}"
    );
    let node = format!(
        "GATEHOUSE_ISSUER={issuer} \\\nGATEHOUSE_CLIENT_ID=YOUR_PRODUCTION_CLIENT_ID \\\nGATEHOUSE_PRIVATE_KEY=private.pem \\\nGATEHOUSE_SCOPE=accounts \\\n  node examples/token.mjs"
    );
    view! {
        <p class="lead">"Production credentials are issued only after the bank approves a production request. Production tokens come from a separate issuer with its own keys: sandbox tokens are never valid in production, nor the other way round."</p>
        <dl class="summary">
            <dt>"Issuer"</dt><dd><code>{issuer.to_string()}</code></dd>
            <dt>"Metadata"</dt><dd><code>{metadata.to_string()}</code></dd>
            <dt>"Token endpoint"</dt><dd><code>{token.to_string()}</code></dd>
            <dt>"Introspection"</dt><dd><code>{introspect.to_string()}</code></dd>
            <dt>"JWKS"</dt><dd><code>{jwks.to_string()}</code></dd>
            <dt>"Token audience"</dt><dd><code>{audience.to_string()}</code></dd>
        </dl>
        <h2>"Getting a token"</h2>
        <p>"The client credentials grant, authenticated the way your request registered (a private_key_jwt assertion whose aud is this issuer's identifier alone, as a string or the only member of an array, per FAPI 2.0, with exp at most 5 minutes ahead and a single-use jti; a certificate on the mTLS listener, or the client secret where your tier allows one). Tokens carry only the approved scopes, never outlive the credential, are refused outside your IP allow-list, and count against the approved rate limit. Where the approval requires sender-constrained tokens, send a DPoP proof."</p>
        <h3>"With private_key_jwt and DPoP (Tiers 2 and 3)"</h3>
        <p>"Each token request carries a client assertion (RFC 7523) signed with your private key, addressed to this issuer alone, and a DPoP proof (RFC 9449) signed with a key of your process; every API call then carries a new proof for its method and URL. A JOSE library makes both: the repository's "<code>"examples/"</code>" do it with openid-client. With your production client id and the private key whose public half you registered:"</p>
        <pre class="code"><code id="production-node">{node}</code></pre>
        <p>"It prints the token type (DPoP), the scope and its lifetime."</p>
        <h3>"With a client secret (where your tier allows one)"</h3>
        <pre class="code"><code id="production-curl">{curl}</code></pre>
        <h2>"For the bank's API gateway"</h2>
        <p>"The gateway validates production access tokens locally against the JWKS (typ at+jwt, iss, aud, exp, and cnf when present) and calls introspection, as the bank's registered resource server for this audience, when it must know about revocation at once."</p>
    }
    .into_any()
}

/// `/production/policy`: the active risk policy as partners read it.
pub fn published_policy(active: &super::service::PolicyVersion) -> AnyView {
    view! {
        <p class="lead">"How the bank routes a production request: Gatehouse gathers the facts (your tier, dossier, history and sandbox readiness), this policy scores them, and the score and blockers choose the route. Every decision records the policy version that made it and names the factors that applied, with what you can do about each."</p>
        <p>{format!("Version {} in force since {}, SHA-256 {}.", active.version, crate::platform::time::when(active.created_at), active.sha256)}</p>
        {super::policy_table::view(&super::policy_table::read(&active.source))}
        <details><summary>"The policy's source (Rego)"</summary><pre class="code" id="policy-source">{active.source.clone()}</pre></details>
        <p><a href="/production/requests/new">"Ask for production access"</a></p>
    }
    .into_any()
}
