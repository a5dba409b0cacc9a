//! Partner organisations' single sign-on routes: the partner admin's
//! `/organisation/sso` (connect, change, remove), the bank admin's decision, and the
//! members' way in (`/sso/partner`: the provider that vouches for their e-mail's
//! domain, and its callback).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;

use super::handlers::{begin, complete, CallbackQuery};
use super::partner::{self, Connection};
use crate::platform::authz::Action;
use crate::platform::context::Ctx;
use crate::platform::error::{Error, Result};
use crate::platform::forms::{fields, get_field, outcome, redirect};
use crate::platform::state::AppState;
use crate::platform::ui::{csrf_field, error_summary, select, Form, Input};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/organisation/sso",
            get(connection_page).post(connection_submit),
        )
        .route("/organisation/sso/remove", post(remove))
        .route("/sso/partner", post(discover))
        .route("/sso/partner/{org}/callback", get(callback))
        .route("/admin/sso/partners/{org}/decision", post(decision))
}

async fn render(
    state: &AppState,
    ctx: &Ctx,
    form: Option<Form>,
    status: StatusCode,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageOrgSso)?;
    let org_id = admin.org_id.clone().ok_or(Error::NotFound)?;
    let current = partner::of_org(state, &org_id).await?;
    let form = form.unwrap_or_else(|| match &current {
        Some(c) => Form::new()
            .with("issuer", c.issuer.as_str())
            .with("client_id", c.client_id.as_str())
            .with("domains", c.domains.join(", "))
            .with("member_role", c.member_role.as_str())
            .with("require_sso", if c.require_sso { "1" } else { "" }),
        None => Form::new().with("member_role", "partner_developer"),
    });
    let body = page(state, &org_id, current.as_ref(), &form, &ctx.csrf);
    Ok((status, ctx.render("Single sign-on", body)).into_response())
}

async fn connection_page(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    render(&state, &ctx, None, StatusCode::OK).await
}

async fn connection_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageOrgSso)?;
    let values = fields(&body);
    let get = |name: &str| get_field(&values, name);
    let (issuer, client_id, secret, domains, role) = (
        get("issuer"),
        get("client_id"),
        get("client_secret"),
        get("domains"),
        get("member_role"),
    );
    let input = Connection {
        issuer: &issuer,
        client_id: &client_id,
        client_secret: &secret,
        domains: &domains,
        member_role: &role,
        require_sso: get("require_sso") == "1",
    };
    let result = partner::connect(&state, admin, &ctx.client, &input)
        .await
        .map(|()| {
            "Saved: the bank reviews the connection before your members can use it.".to_string()
        });
    outcome(
        &ctx,
        result,
        "/organisation/sso",
        values,
        &["client_secret"],
        |form, status| render(&state, &ctx, Some(form), status),
    )
    .await
}

async fn remove(State(state): State<AppState>, ctx: Ctx) -> Result<Response> {
    let admin = ctx.require(Action::ManageOrgSso)?;
    partner::disconnect(&state, admin, &ctx.client).await?;
    redirect(
        &ctx,
        "/organisation/sso",
        "Removed: members sign in with their Gatehouse passwords.",
    )
    .await
}

/// "Sign in with your organisation's single sign-on": the provider vouching for
/// the e-mail's domain, or back to the sign-in page.
async fn discover(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Result<Response> {
    if ctx.user.is_some() {
        return Ok(axum::response::Redirect::to("/dashboard").into_response());
    }
    let values = fields(&body);
    let email = get_field(&values, "sso_email");
    let Some(conn) = super::partner_members::for_email(&state, &email).await? else {
        return redirect(
            &ctx,
            "/signin",
            "No organisation's single sign-on vouches for that address: sign in with your password.",
        )
        .await;
    };
    let idp = partner::build(&state, &conn).await?;
    begin(
        &ctx,
        &idp,
        &format!("partner:{}", conn.org_id),
        &get_field(&values, "next"),
        None,
    )
    .await
}

async fn callback(
    ctx: Ctx,
    Path(org): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> Result<Response> {
    let Some(conn) = partner::of_org(&ctx.state, &org).await? else {
        return Err(Error::NotFound);
    };
    let key = format!("partner:{org}");
    if conn.status != "approved" {
        // Nothing is exchanged with a provider the bank has not approved.
        let refusal = super::provider::Refusal::new(
            "provider_not_approved",
            "the connection is not approved",
        );
        return super::handlers::refusal_page(&ctx, &key, refusal).await;
    }
    let idp = partner::build(&ctx.state, &conn).await?;
    complete(&ctx, &idp, &key, q, Some(&conn)).await
}

async fn decision(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let admin = ctx.require(Action::ManageUsers)?;
    let values = fields(&body);
    let decision = get_field(&values, "decision");
    let version: i64 = get_field(&values, "version").parse().unwrap_or(-1);
    let reason = get_field(&values, "reason");
    match partner::decide(
        &state,
        admin,
        &ctx.client,
        &org,
        &decision,
        version,
        &reason,
    )
    .await
    {
        Ok(()) => {
            let message = match decision.as_str() {
                "approve" => {
                    "Approved: the organisation's members can sign in through its provider."
                }
                "reject" => "Rejected: the partner is told why.",
                _ => "Switched off: the organisation's members sign in with passwords again.",
            };
            redirect(&ctx, "/admin/sso", message).await
        }
        Err(Error::Invalid(invalid)) => {
            let message = invalid
                .fields
                .first()
                .map(|(_, m)| m.clone())
                .unwrap_or_default();
            redirect(&ctx, "/admin/sso", &format!("Not decided: {message}")).await
        }
        Err(err) => Err(err),
    }
}

/// The partner admin's page: what to register at the provider, the connection's
/// state, and the form.
fn page(
    state: &AppState,
    org_id: &str,
    current: Option<&partner::OrgIdp>,
    form: &Form,
    csrf: &str,
) -> AnyView {
    let redirect_uri = partner::redirect_uri(state, org_id);
    let status = current.map(|c| {
        let text = match c.status.as_str() {
            "approved" => {
                "Approved by the bank: your members can sign in through your provider.".to_string()
            }
            "rejected" => format!(
                "Not approved by the bank: {}",
                c.decision_reason.clone().unwrap_or_default()
            ),
            _ => "Waiting for the bank's approval.".to_string(),
        };
        view! { <p class="notice" id="sso-status">{text}</p> }
    });
    let approved = current.is_some_and(|c| c.status == "approved");
    let require = form.value("require_sso") == "1";
    let remove = current.is_some().then(|| {
        view! {
            <form method="post" action="/organisation/sso/remove">
                {csrf_field(csrf)}
                <button type="submit" class="secondary">"Remove the connection"</button>
            </form>
        }
    });
    view! {
        <p class="lede">"Let your team sign in to Gatehouse through your organisation's OpenID Connect provider. The bank approves the connection before it is used."</p>
        {status}
        <h2>"At your provider"</h2>
        <p>"Register Gatehouse as a confidential web application (authorization code flow) with this redirect URI, and release the email claim with email_verified:"</p>
        <p><code id="partner-redirect-uri">{redirect_uri}</code></p>
        <h2>"The connection"</h2>
        {approved.then(|| view! { <p>"An approved connection is not edited: remove it and connect again to change it (the bank reviews it again)."</p> })}
        {(!approved).then(|| view! { <div>
        {error_summary(form)}
        <form method="post" action="/organisation/sso" novalidate>
            {csrf_field(csrf)}
            {Input::text("issuer", "Issuer").kind("url").hint("The provider's issuer URL (https), as in its discovery document.").render(form)}
            {Input::text("client_id", "Client id").render(form)}
            {Input::text("client_secret", "Client secret").kind("password").autocomplete("new-password").hint("Stored encrypted. Leave empty to keep the current one.").render(form)}
            {Input::text("domains", "E-mail domains it vouches for").hint("Your organisation's domain (from its registered website) or domains under it, separated by commas.").render(form)}
            {select(form, "member_role", "Role of new members", &[("partner_developer", "Partner developer"), ("partner_admin", "Partner admin")])}
            <div class="checkbox">
                <input type="checkbox" id="require_sso" name="require_sso" value="1" checked=require/>
                <label for="require_sso">"Require single sign-on: members' Gatehouse passwords stop working"</label>
            </div>
            <button type="submit">"Save and ask the bank"</button>
        </form>
        </div> })}
        {remove}
    }
    .into_any()
}

/// The bank admin's section of `/admin/sso`: each partner's connection, waiting
/// ones with approve and reject.
pub fn bank_section(connections: &[partner::OrgIdp], csrf: &str) -> AnyView {
    let rows = connections
        .iter()
        .map(|c| {
            let action = format!("/admin/sso/partners/{}/decision", c.org_id);
            let reason_id = format!("reason-{}", c.org_id);
            let version = c.version.to_string();
            let decide = match c.status.as_str() {
                "pending" => Some(view! {
                    <form method="post" action=action>
                        {csrf_field(csrf)}
                        <input type="hidden" name="version" value=version/>
                        <label for=reason_id.clone()>"Reason (required to reject)"</label>
                        <input id=reason_id name="reason" type="text"/>
                        <button type="submit" name="decision" value="approve">"Approve"<span class="visually-hidden">{format!(" {}", c.org_name)}</span></button>
                        <button type="submit" name="decision" value="reject" class="secondary">"Reject"<span class="visually-hidden">{format!(" {}", c.org_name)}</span></button>
                    </form>
                }.into_any()),
                "approved" => Some(view! {
                    <form method="post" action=action>
                        {csrf_field(csrf)}
                        <input type="hidden" name="version" value=version/>
                        <label for=reason_id.clone()>"Reason to switch it off"</label>
                        <input id=reason_id name="reason" type="text"/>
                        <button type="submit" name="decision" value="revoke" class="secondary">"Switch off"<span class="visually-hidden">{format!(" {}", c.org_name)}</span></button>
                    </form>
                }.into_any()),
                _ => None,
            };
            let status = match c.status.as_str() {
                "approved" => "Approved",
                "rejected" => "Rejected",
                _ => "Waiting",
            };
            view! {
                <tr>
                    <td>{c.org_name.clone()}<br/><small>{format!("asked by {}", c.requested_by)}</small></td>
                    <td><code>{c.issuer.clone()}</code></td>
                    <td>{c.domains.join(", ")}</td>
                    <td>{c.member_role.label()}{c.require_sso.then_some(", required")}</td>
                    <td>{status}{decide}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table id="sso-partners">
            <caption>"Partner organisations' providers"</caption>
            <thead><tr>
                <th scope="col">"Organisation"</th><th scope="col">"Issuer"</th><th scope="col">"Domains"</th>
                <th scope="col">"New members"</th><th scope="col">"Status"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        {connections.is_empty().then(|| view! { <p>"No partner has connected its provider."</p> })}
    }
    .into_any()
}
