//! The bank's governance pages: the kill switch, the exception register and its
//! decisions, the re-attestation queue, the scheduler's runs and the lifecycle
//! policy.

use leptos::prelude::*;

use super::exceptions::Exception;
use super::inventory::{Filter, Listing};
use super::policy::{field, prefixes, Version};
use super::suspension::{Listed, TARGET_KINDS};
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_summary, field_error, select, Form, Input, TextArea};

pub fn suspensions(
    list: &[Listed],
    form: &Form,
    csrf: &str,
    viewer_id: &str,
    can_act: bool,
) -> AnyView {
    let rows = list
        .iter()
        .map(|s| {
            let lift = (can_act && s.lifted_at.is_none() && s.origin == "manual").then(|| {
                if s.created_by == viewer_id {
                    view! { <em>"A second bank user lifts it"</em> }.into_any()
                } else {
                    let reason_id = format!("lift-{}", s.id);
                    view! {
                        <form method="post" action=format!("/governance/bank/suspensions/{}/lift", s.id) class="inline">
                            {csrf_field(csrf)}
                            <label for=reason_id.clone()>"Reason to lift"</label>
                            <input id=reason_id name="lift_reason" type="text" required=true/>
                            <button type="submit" class="secondary">"Lift"</button>
                        </form>
                    }
                    .into_any()
                }
            });
            let state = match s.lifted_at {
                Some(at) => format!("lifted {} by {}: {}", when(at), s.lifted_by.clone().unwrap_or_default(), s.lift_reason.clone().unwrap_or_default()),
                None => "in force".to_string(),
            };
            view! {
                <tr>
                    <td><code>{s.id.clone()}</code></td>
                    <td>{format!("{}: {}", s.target_kind, s.target_label)}</td>
                    <td>{s.origin.clone()}</td>
                    <td>{s.reason.clone()}</td>
                    <td>{format!("{} by {}", when(s.created_at), s.created_by)}</td>
                    <td>{state}</td>
                    <td>{lift}</td>
                </tr>
            }
        })
        .collect_view();
    let new_form = can_act.then(|| view! {
        <section class="card">
            <h2>"Suspend"</h2>
            <p>"Takes effect at once on every instance: the token endpoint refuses, issued tokens introspect inactive and the sandbox API refuses them. A second bank user lifts it."</p>
            {error_summary(form)}
            <form method="post" action="/governance/bank/suspensions">
                {csrf_field(csrf)}
                {select(form, "target_kind", "What to suspend", &TARGET_KINDS)}
                {Input::text("target", "Its id: an app id (app_…), an organisation id (org_…), a scope, or sandbox / production").render(form)}
                {Input::text("reason", "Reason (the partner sees it)").render(form)}
                <button type="submit" class="warning">"Suspend now"</button>
            </form>
        </section>
    });
    view! {
        {new_form}
        <h2>"Suspensions"</h2>
        <table id="suspensions">
            <caption class="visually-hidden">"Suspensions, those in force first"</caption>
            <thead><tr><th scope="col">"Id"</th><th scope="col">"Covers"</th><th scope="col">"Taken by"</th><th scope="col">"Reason"</th><th scope="col">"Since"</th><th scope="col">"State"</th><th scope="col">"Action"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub fn exceptions(list: &[Exception]) -> AnyView {
    let rows = list
        .iter()
        .map(|e| {
            view! {
                <tr>
                    <td><a href=format!("/governance/bank/exceptions/{}", e.id)><code>{e.id.clone()}</code></a></td>
                    <td>{e.organisation.clone()}</td>
                    <td>{e.client_name.clone()}</td>
                    <td>{e.rule.clone()}</td>
                    <td>{when(e.ends_at)}</td>
                    <td>{e.status.clone()}</td>
                    <td>{e.requested_by.clone()}</td>
                    <td>{e.decided_by.clone().unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        {list.is_empty().then(|| view! { <p>"No exceptions have been asked for."</p> })}
        <table id="exceptions">
            <caption class="visually-hidden">"The exception register, newest first"</caption>
            <thead><tr><th scope="col">"Id"</th><th scope="col">"Organisation"</th><th scope="col">"Client"</th><th scope="col">"Rule"</th><th scope="col">"Ends"</th><th scope="col">"Status"</th><th scope="col">"Asked by"</th><th scope="col">"Decided by"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub fn exception(e: &Exception, form: &Form, csrf: &str, can_decide: bool) -> AnyView {
    let decide = (can_decide && e.status == "pending").then(|| view! {
        <section class="card">
            <h2>"Decide"</h2>
            {error_summary(form)}
            <form method="post" action=format!("/governance/bank/exceptions/{}/decision", e.id)>
                {csrf_field(csrf)}
                <input type="hidden" name="version" value=e.version.to_string()/>
                {select(form, "decision", "Decision", &[("grant", "Grant until the end date"), ("refuse", "Refuse")])}
                <div class="field">
                    <label for="decision_reason">"Reason (the partner sees it)"</label>
                    {field_error(form, "decision_reason")}
                    {TextArea::new("decision_reason", 3).render(form.value("decision_reason"))}
                </div>
                {Input::text("code", "Code from your authenticator app").autocomplete("one-time-code").render(form)}
                <button type="submit">"Record the decision"</button>
            </form>
        </section>
    });
    view! {
        <dl class="summary">
            <dt>"Organisation"</dt><dd>{e.organisation.clone()}</dd>
            <dt>"Client"</dt><dd><a href=format!("/governance/bank/clients/{}", e.app_id)>{e.client_name.clone()}</a></dd>
            <dt>"Rule"</dt><dd>{e.rule.clone()}</dd>
            <dt>"Reason"</dt><dd>{e.reason.clone()}</dd>
            <dt>"Ends"</dt><dd>{when(e.ends_at)}</dd>
            <dt>"Status"</dt><dd id="exception-status">{e.status.clone()}</dd>
            <dt>"Asked by"</dt><dd>{format!("{} on {}", e.requested_by, when(e.requested_at))}</dd>
            <dt>"Decision"</dt><dd>{e.decided_by.clone().map(|by| format!("{by}: {}", e.decision_reason.clone().unwrap_or_default())).unwrap_or_else(|| "waiting".into())}</dd>
        </dl>
        {decide}
    }
    .into_any()
}

pub type Awaiting = (String, String, String, String, String, String, i64);

pub fn evidence(
    expiring: &[super::evidence::Expiring],
    list: &[Awaiting],
    csrf: &str,
    can_accept: bool,
) -> AnyView {
    let soon = expiring
        .iter()
        .map(|e| {
            view! {
                <tr id=format!("evidence-{}", e.id)>
                    <td>{e.organisation.clone()}</td>
                    <td>{e.kind.replace('_', " ")}</td>
                    <td>{e.expires_on.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let rows = list
        .iter()
        .map(|(id, _org, organisation, kind, filename, expires_on, uploaded_at)| {
            view! {
                <tr>
                    <td>{organisation.clone()}</td>
                    <td>{kind.clone()}</td>
                    <td>{filename.clone()}</td>
                    <td>{expires_on.clone()}</td>
                    <td>{when(*uploaded_at)}</td>
                    <td>{can_accept.then(|| view! {
                        <form method="post" action=format!("/governance/bank/evidence/{id}/accept") class="inline">
                            {csrf_field(csrf)}
                            <button type="submit">"Accept"</button>
                        </form>
                    })}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2 id="expiring">"Expiring or just expired"</h2>
        <p>"The accepted evidence of active partners whose validity ends within 30 days or ended in the last 30, soonest first. The governance sweep warns the partner before the day and suspends its production clients after it, until renewed evidence is accepted."</p>
        {expiring.is_empty().then(|| view! { <p>"No partner's evidence expires in the next 30 days."</p> })}
        <table id="evidence-expiring">
            <caption class="visually-hidden">"Evidence expiring or just expired"</caption>
            <thead><tr><th scope="col">"Organisation"</th><th scope="col">"Kind"</th><th scope="col">"Valid until"</th></tr></thead>
            <tbody>{soon}</tbody>
        </table>
        <h2 id="renewed">"Renewed, awaiting acceptance"</h2>
        <p>"Documents partners uploaded after their tier was approved, to replace expiring evidence. Accepting one (reviewers and approvers) lifts the suspensions its expiry caused."</p>
        {list.is_empty().then(|| view! { <p>"Nothing waits for acceptance."</p> })}
        <table id="evidence-awaiting">
            <caption class="visually-hidden">"Renewed evidence awaiting acceptance"</caption>
            <thead><tr><th scope="col">"Organisation"</th><th scope="col">"Kind"</th><th scope="col">"File"</th><th scope="col">"Valid until"</th><th scope="col">"Uploaded"</th><th scope="col">"Action"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub type Run = (String, String, i64, i64, String, String);

pub fn runs(list: &[Run]) -> AnyView {
    let rows = list
        .iter()
        .map(|(job, instance, started, finished, outcome, summary)| {
            view! {
                <tr>
                    <td>{job.clone()}</td>
                    <td><code>{instance.clone()}</code></td>
                    <td>{when(*started)}</td>
                    <td>{format!("{} s", finished - started)}</td>
                    <td>{outcome.clone()}</td>
                    <td><code>{summary.clone()}</code></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p>"Every periodic job runs on one instance at a time, under a lease taken in the database. The newest runs:"</p>
        <table id="job-runs">
            <caption class="visually-hidden">"Scheduler runs, newest first"</caption>
            <thead><tr><th scope="col">"Job"</th><th scope="col">"Instance"</th><th scope="col">"Started"</th><th scope="col">"Took"</th><th scope="col">"Outcome"</th><th scope="col">"What it did"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

pub fn lifecycle(
    current: &Version,
    history: &[(i64, String, String, i64)],
    tiers: &[(i64, i64)],
    sandbox_days: i64,
    form: &Form,
    csrf: &str,
    can_edit: bool,
) -> AnyView {
    let value = |key: String, fallback: String| {
        let v = form.value(&key);
        if v.is_empty() {
            fallback
        } else {
            v
        }
    };
    let sets = prefixes(&current.policy)
        .into_iter()
        .map(|(prefix, title)| {
            let rules = if prefix == "sandbox" {
                &current.policy.sandbox
            } else {
                prefix
                    .trim_start_matches("tier")
                    .parse::<i64>()
                    .ok()
                    .and_then(|l| current.policy.tiers.get(&l))
                    .unwrap_or(&current.policy.sandbox)
            };
            let lifetime = if prefix == "sandbox" {
                sandbox_days
            } else {
                prefix.trim_start_matches("tier").parse::<i64>().ok().and_then(|l| tiers.iter().find(|(t, _)| *t == l)).map(|(_, d)| *d).unwrap_or_default()
            };
            let number = |name: &str, label: &'static str, current: i64| {
                let key = field(&prefix, name);
                let v = value(key.clone(), current.to_string());
                view! {
                    <div class="field">
                        <label for=key.clone()>{label}</label>
                        {field_error(form, &key)}
                        <input id=key.clone() name=key type="number" value=v disabled=!can_edit/>
                    </div>
                }
            };
            let warnings_key = field(&prefix, "warning_days");
            let warnings = value(warnings_key.clone(), rules.warning_days.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
            let allowlist_key = field(&prefix, "require_ip_allowlist");
            view! {
                <fieldset>
                    <legend>{title}</legend>
                    <p class="hint">{format!("Maximum credential lifetime: {lifetime} days (set on the tier in the catalogue, or --sandbox-credential-days).")}</p>
                    {number("dormancy_days", "Dormancy threshold (days without use before revocation)", rules.dormancy_days)}
                    <div class="field">
                        <label for=warnings_key.clone()>"Expiry warnings (days before, comma-separated)"</label>
                        {field_error(form, &warnings_key)}
                        <input id=warnings_key.clone() name=warnings_key type="text" value=warnings disabled=!can_edit/>
                    </div>
                    {number("max_overlap_hours", "Longest rotation overlap (hours)", rules.max_overlap_hours)}
                    {number("owner_grace_days", "Grace after the owner leaves (days)", rules.owner_grace_days)}
                    {number("evidence_grace_days", "Grace after evidence expires (days)", rules.evidence_grace_days)}
                    <div class="field checkbox">
                        <input type="checkbox" id=allowlist_key.clone() name=allowlist_key.clone() value="1" checked=rules.require_ip_allowlist disabled=!can_edit/>
                        <label for=allowlist_key>"Production clients must have an IP allow-list"</label>
                    </div>
                </fieldset>
            }
        })
        .collect_view();
    let history = history
        .iter()
        .map(|(v, note, by, at)| view! { <tr><td>{*v}</td><td>{note.clone()}</td><td>{by.clone()}</td><td>{when(*at)}</td></tr> })
        .collect_view();
    view! {
        <p class="lead">{format!("Version {} is in force, saved {} by {}.", current.version, when(current.created_at), current.created_by)}</p>
        {error_summary(form)}
        <form method="post" action="/admin/lifecycle">
            {csrf_field(csrf)}
            {sets}
            {can_edit.then(|| view! {
                {Input::text("note", "Why the policy changes").render(form)}
                <button type="submit">"Save as a new version"</button>
            })}
        </form>
        <h2>"Versions"</h2>
        <table id="lifecycle-versions">
            <caption class="visually-hidden">"Lifecycle policy versions, newest first"</caption>
            <thead><tr><th scope="col">"Version"</th><th scope="col">"Note"</th><th scope="col">"By"</th><th scope="col">"Saved"</th></tr></thead>
            <tbody>{history}</tbody>
        </table>
    }
    .into_any()
}

pub fn inventory(listing: &Listing, filter: &Filter, orgs: &[(String, String)]) -> AnyView {
    view! {
        <p class="lead">"Every non-human identity across all organisations: each sandbox and production client and each of its credentials."</p>
        <p>
            <a href="/governance/bank/suspensions">"Suspensions"</a>" · "
            <a href="/governance/bank/exceptions">"Exception register"</a>" · "
            <a href="/governance/bank/evidence">"Partners' evidence"</a>" · "
            <a href="/governance/bank/runs">"Scheduler runs"</a>" · "
            <a href="/admin/lifecycle">"Lifecycle policy"</a>
        </p>
        {super::pages::inventory(listing, filter, "/governance/bank/inventory", Some(orgs), "/governance/bank/clients")}
    }
    .into_any()
}

/// The client page as the bank sees it, with the kill switch for admins.
pub fn with_suspend_form(body: AnyView, app_id: Option<&str>, form: &Form, csrf: &str) -> AnyView {
    let suspend = app_id.map(|id| {
        view! {
            <section class="card">
                <h2>"Suspend this client"</h2>
                <form method="post" action="/governance/bank/suspensions">
                    {csrf_field(csrf)}
                    <input type="hidden" name="target_kind" value="client"/>
                    <input type="hidden" name="target" value=id.to_string()/>
                    {Input::text("reason", "Reason (the partner sees it)").render(form)}
                    <button type="submit" class="warning">"Suspend now"</button>
                </form>
            </section>
        }
    });
    view! { {body} {suspend} }.into_any()
}
