//! Single sign-on pages: the bank admin's configuration and staff list (with a
//! clear "not configured" state that says what to register at the provider), and
//! the page a refused sign-in shows.

use leptos::prelude::*;
use serde_json::Value;

use super::provider::{backchannel_uri, redirect_uri};
use super::staff::SsoStaff;
use crate::platform::state::AppState;
use crate::platform::time::when;
use crate::platform::ui::csrf_field;

/// What a refused sign-in tells the person (the detail is in the audit trail).
pub fn refused(reason: &str) -> AnyView {
    let text = match reason {
        "missing_groups" => "The identity provider did not say which groups you are in, so Gatehouse cannot tell your role. Ask your identity team to release the groups claim to Gatehouse.",
        "no_mapped_group" => "None of your groups at the identity provider gives access to Gatehouse. Ask for the reviewer, approver or admin group if you need it.",
        "email_unverified" => "The identity provider says your e-mail address is not verified.",
        "no_email" => "The identity provider sent no usable e-mail address for you.",
        "email_in_use" => "Your e-mail address belongs to a partner's account in Gatehouse, so it cannot be used for bank staff.",
        "account_deactivated" => "Your Gatehouse account is deactivated. A bank admin can reactivate it.",
        "step_up_other_person" | "step_up_not_fresh" | "step_up_not_mfa" => "The identity provider did not confirm you again with a second factor, so the decision cannot go ahead. Try again, or use your authenticator code.",
        _ => "The answer from the identity provider could not be accepted (it may have expired or been used already). Start again from the sign-in page.",
    };
    view! {
        <p class="lead">{text}</p>
        <p><a href="/signin">"Back to sign-in"</a></p>
    }
    .into_any()
}

/// Beside the code field of a decision: confirm at the identity provider instead.
pub fn step_up_offer(back_to: &str, confirmed: bool) -> AnyView {
    if confirmed {
        return view! { <p class="hint" id="idp-step-up">"Confirmed with your identity provider: leave the code empty to approve."</p> }.into_any();
    }
    let href = format!(
        "/sso/step-up?{}",
        serde_urlencoded::to_string([("next", back_to)]).unwrap_or_default()
    );
    view! { <p class="hint" id="idp-step-up">"Or "<a href=href>"confirm with your identity provider"</a>" (a fresh sign-in with a second factor) and leave the code empty."</p> }.into_any()
}

fn claims_summary(claims: &Value, groups_claim: Option<&str>) -> String {
    let list = |v: Option<&Value>| match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::String(s)) => s.clone(),
        _ => "—".into(),
    };
    let groups = groups_claim.and_then(|g| claims.get(g));
    format!(
        "groups: {}; acr: {}; amr: {}",
        list(groups),
        claims.get("acr").and_then(Value::as_str).unwrap_or("—"),
        list(claims.get("amr")),
    )
}

/// The admin page: each provider as configured, what to register at it, and the
/// staff who sign in through it.
pub fn admin(state: &AppState, people: &[SsoStaff], partners: AnyView, csrf: &str) -> AnyView {
    let settings = &state.settings;
    let idps = &state.sso().idps;
    let example_redirect = redirect_uri(state, "<id>");
    let local = if settings.local_staff_passwords {
        "Local staff passwords: allowed (turn them off with --local-staff-passwords=false once single sign-on works)."
    } else {
        "Local staff passwords: off. Bank staff sign in only through an identity provider."
    };
    let policy = format!(
        "Staff sessions end after {} hours at most. Staff who have not signed in through a provider for {} days are deactivated by the scheduler (job sso_dormant_staff).",
        settings.staff_session_hours.min(settings.session_absolute_hours),
        settings.sso_dormant_days
    );
    let configured = idps
        .iter()
        .map(|idp| {
            let c = &idp.config;
            let roles = c
                .roles
                .iter()
                .map(|(role, groups)| format!("{}: {}", role.label(), groups.join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            let mfa = format!(
                "acr {} · amr {}",
                if c.mfa_acr.is_empty() { "—".into() } else { c.mfa_acr.join(", ") },
                if c.mfa_amr.is_empty() { "—".into() } else { c.mfa_amr.join(", ") }
            );
            let heading_id = format!("idp-{}", c.id);
            let labelled_by = heading_id.clone();
            view! {
                <section aria-labelledby=labelled_by>
                    <h2 id=heading_id>{c.label.clone()}</h2>
                    <dl>
                        <dt>"Issuer"</dt><dd><code>{c.issuer.clone()}</code></dd>
                        <dt>"Client id"</dt><dd><code>{c.client_id.clone()}</code></dd>
                        <dt>"Redirect URI to register"</dt><dd><code>{redirect_uri(state, &c.id)}</code></dd>
                        <dt>"Back-channel logout URI"</dt><dd><code>{backchannel_uri(state, &c.id)}</code></dd>
                        <dt>"Groups claim"</dt><dd><code>{c.groups_claim.clone()}</code></dd>
                        <dt>"Roles from groups"</dt><dd>{roles}</dd>
                        <dt>"Accepted as a second factor"</dt><dd>{mfa}</dd>
                    </dl>
                </section>
            }
        })
        .collect_view();
    let not_configured = idps.is_empty().then(|| {
        view! {
            <section aria-labelledby="sso-none">
                <h2 id="sso-none">"Not configured"</h2>
                <p>"No identity provider is configured: bank staff sign in with a Gatehouse password and an authenticator code."</p>
                <p>"To let staff sign in through the bank's identity provider (Entra ID, Okta, Keycloak, Ping or any OpenID provider):"</p>
                <ol>
                    <li>"Register Gatehouse at the provider as a confidential web application with the authorization-code flow, and this redirect URI: "<code>{example_redirect}</code>" (with "<code>"<id>"</code>" the name you give the provider below)."</li>
                    <li>"Release a groups claim in the ID token, and register "<code>{backchannel_uri(state, "<id>")}</code>" as its back-channel logout URI."</li>
                    <li>"Start Gatehouse with "<code>"--staff-idp 'id=corp;issuer=…;client-id=…;secret-file=…;role.reviewer=…;role.approver=…;role.admin=…'"</code>". The README has the details for each provider."</li>
                </ol>
            </section>
        }
    });
    let rows = people
        .iter()
        .map(|p| {
            let groups_claim = idps
                .iter()
                .find(|i| i.config.id == p.idp)
                .map(|i| i.config.groups_claim.as_str());
            let summary = claims_summary(&p.last_claims, groups_claim.or(Some("groups")));
            let action = format!("/admin/sso/staff/{}/reactivate", p.user_id);
            let reactivate = (p.status == "disabled").then(|| {
                view! {
                    <form method="post" action=action>
                        {csrf_field(csrf)}
                        <button type="submit" class="secondary">"Reactivate"<span class="visually-hidden">{format!(" {}", p.email)}</span></button>
                    </form>
                }
            });
            let status = if p.status == "active" { "Active" } else { "Deactivated" };
            view! {
                <tr>
                    <td>{p.name.clone()}<br/><small>{p.email.clone()}</small></td>
                    <td>{crate::platform::authz::Role::parse(&p.role).map_or("—", |r| r.label())}</td>
                    <td>{p.idp.clone()}</td>
                    <td>{when(p.first_seen_at)}</td>
                    <td>{when(p.last_sign_in_at)}</td>
                    <td>{summary}</td>
                    <td>{status}{reactivate}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p class="lede">"Bank staff sign in through the bank's identity provider: their role comes from its groups at every sign-in, and leaving the bank there ends their access here."</p>
        <p>{local}</p>
        <p>{policy}</p>
        {not_configured}
        {configured}
        <table id="sso-staff">
            <caption>"Staff who sign in through an identity provider"</caption>
            <thead><tr>
                <th scope="col">"Person"</th><th scope="col">"Role"</th><th scope="col">"Provider"</th>
                <th scope="col">"First signed in"</th><th scope="col">"Last signed in"</th>
                <th scope="col">"Claims last received"</th><th scope="col">"Status"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        {people.is_empty().then(|| view! { <p>"Nobody has signed in through an identity provider yet."</p> })}
        <h2>"Partner organisations"</h2>
        <p>"A partner admin can connect the organisation's own provider for its members; it is used only once approved here. Approving first checks that the provider can be reached and discovered."</p>
        {partners}
    }
    .into_any()
}
