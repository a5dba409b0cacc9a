//! Agreement pages: the bank's register and publishing form, a version with who
//! accepted it, a partner's obligations, and a version as the partner reads and
//! accepts it.

use leptos::prelude::*;

use super::{
    kind_label, Acceptance, Obligation, Standing, Version, ENVIRONMENTS, KINDS, MAX_TEXT_CHARS,
};
use crate::platform::time::when;
use crate::platform::ui::{csrf_field, error_summary, field_error, select, Form, Input, TextArea};

fn material_text(version: &Version) -> String {
    if version.is_material() {
        format!("Material: accept again within {} days", version.window_days)
    } else {
        "Not material: no new acceptance needed".into()
    }
}

/// The version's facts, its text as HTML and the download link.
fn version_facts(version: &Version, now: i64) -> AnyView {
    let taking = if version.effective_at > now {
        "Takes effect"
    } else {
        "In effect since"
    };
    view! {
        <dl class="facts" id="agreement-facts">
            <dt>"Document"</dt><dd>{format!("{} ({}, Tier {})", kind_label(&version.kind), version.environment, version.tier)}</dd>
            <dt>"Version"</dt><dd>{version.version}</dd>
            <dt>{taking}</dt><dd>{when(version.effective_at)}</dd>
            <dt>"Change"</dt><dd>{material_text(version)}{(!version.change_note.is_empty()).then(|| format!(". {}", version.change_note))}</dd>
            <dt>"SHA-256 of the text"</dt><dd><code class="wrap-anywhere" id="agreement-sha256">{version.sha256.clone()}</code></dd>
        </dl>
        <p><a href=format!("/agreements/{}/text", version.id)>"Download the exact text (Markdown)"</a></p>
        <article class="agreement-text" id="agreement-text" inner_html=super::markdown::to_html(&version.body)></article>
    }
    .into_any()
}

pub fn register(
    versions: &[Version],
    counts: &[i64],
    tiers: &[i64],
    form: &Form,
    csrf: &str,
    now: i64,
) -> AnyView {
    let rows = versions
        .iter()
        .zip(counts)
        .map(|(v, count)| {
            view! {
                <tr>
                    <td><a href=format!("/admin/agreements/{}", v.id)>{v.name()}</a></td>
                    <td>{kind_label(&v.kind)}</td>
                    <td>{v.environment.clone()}</td>
                    <td>{v.tier}</td>
                    <td>{when(v.effective_at)}{(v.effective_at > now).then_some(" (upcoming)")}</td>
                    <td>{if v.is_material() { format!("Yes, {} days", v.window_days) } else { "No".into() }}</td>
                    <td class="num">{*count}</td>
                </tr>
            }
        })
        .collect_view();
    let list = if versions.is_empty() {
        view! { <p id="agreements-empty">"No agreement is published yet: partners are bound by none, and nothing waits on one."</p> }.into_any()
    } else {
        view! {
            <table id="agreements">
                <caption>"Published versions"</caption>
                <thead><tr><th>"Version"</th><th>"Kind"</th><th>"Environment"</th><th>"Tier"</th><th>"Effective"</th><th>"Material"</th><th class="num">"Accepted by"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    let current_tier = form.value("tier");
    let tier_options = tiers
        .iter()
        .map(|t| {
            let value = t.to_string();
            let selected = current_tier == value;
            view! { <option value=value selected=selected>{format!("Tier {t}")}</option> }
        })
        .collect_view();
    let material = form.value("material") == "yes";
    view! {
        <h1>"Agreements"</h1>
        <p>"The terms partners are bound by, per tier and environment. A partner admin with two-step verification accepts the version in force; an onboarding application cannot be submitted, nor a production request approved, until its tier's agreements are accepted. A material version must be accepted again within its window, or the partner's production clients are suspended until it is."</p>
        {list}
        <section class="card">
            <h2>"Publish a version"</h2>
            {error_summary(form)}
            <form method="post" action="/admin/agreements" novalidate>
                {csrf_field(csrf)}
                {select(form, "kind", "Kind of document", &KINDS)}
                {select(form, "environment", "Environment", &ENVIRONMENTS)}
                <div class="field">
                    <label for="tier">"Tier"</label>
                    {field_error(form, "tier")}
                    <select id="tier" name="tier">{tier_options}</select>
                </div>
                {Input::text("title", "Title").hint("For example: Data-sharing agreement, Tier 2. A new version of an existing document keeps its place.").render(form)}
                <div class="field">
                    <label for="body">"Text"</label>
                    <p class="hint" id="body-hint">{format!("Markdown: headings, lists, emphasis, tables and links. HTML in the text is shown as text. At most {MAX_TEXT_CHARS} characters. Its SHA-256 is recorded; a published version is never edited: publish a new one.")}</p>
                    {field_error(form, "body")}
                    {TextArea::new("body", 14).described_by(Some("body-hint".into())).invalid(form.error("body").is_some()).render(form.value("body"))}
                </div>
                {Input::text("effective_on", "Takes effect on").kind("date").hint("Today or later, at most a year ahead.").render(form)}
                <div class="field">
                    {field_error(form, "material")}
                    <input type="checkbox" id="material" name="material" value="yes" checked=material/>
                    <label for="material">"Material change: partners that accepted an earlier version must accept this one"</label>
                </div>
                {Input::text("window_days", "Days to accept a material version").hint("After it takes effect; then the partner's production clients are suspended until it is accepted.").render(form)}
                <div class="field">
                    <label for="change_note">"What changed (optional)"</label>
                    {field_error(form, "change_note")}
                    {TextArea::new("change_note", 3).invalid(form.error("change_note").is_some()).render(form.value("change_note"))}
                </div>
                <button type="submit">"Publish"</button>
            </form>
        </section>
    }
    .into_any()
}

pub fn bank_version(version: &Version, acceptances: &[Acceptance], now: i64) -> AnyView {
    let rows = acceptances
        .iter()
        .map(|a| {
            view! {
                <tr>
                    <td>{a.organisation.clone()}</td>
                    <td>{a.email.clone()}</td>
                    <td>{when(a.accepted_at)}</td>
                    <td>{a.ip.clone()}</td>
                    <td><code>{a.sha256.chars().take(16).collect::<String>()}"…"</code></td>
                </tr>
            }
        })
        .collect_view();
    let accepted = if acceptances.is_empty() {
        view! { <p id="acceptances-empty">"No organisation has accepted this version yet."</p> }
            .into_any()
    } else {
        view! {
            <table id="acceptances">
                <caption>"Accepted by"</caption>
                <thead><tr><th>"Organisation"</th><th>"Signatory"</th><th>"When"</th><th>"From"</th><th>"SHA-256 accepted"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <p><a href="/admin/agreements">"All agreements"</a></p>
        <h1>{version.name()}</h1>
        {version_facts(version, now)}
        <h2>"Acceptances"</h2>
        {accepted}
    }
    .into_any()
}

fn standing_text(obligation: &Obligation, now: i64) -> String {
    match &obligation.standing {
        Standing::Accepted => match obligation.accepted {
            Some((number, _)) if number == obligation.current.version => "Accepted".into(),
            Some((number, _)) => format!("Accepted (version {number}; the changes since are not material)"),
            None => "Accepted".into(),
        },
        Standing::Due { deadline } => format!(
            "A material new version: accept it by {} or your production clients are suspended",
            when(*deadline)
        ),
        Standing::Required { deadline } if *deadline <= now => format!(
            "Overdue since {}: until it is accepted, production clients of this tier are suspended and no production access is approved",
            when(*deadline)
        ),
        Standing::Required { .. } => {
            "To accept: until it is, an application for this tier cannot be submitted, nor production access approved".into()
        }
    }
}

/// The agreements in force for a decision (the reviewer's production request page):
/// each version, its hash and where the partner stands.
pub fn in_force(owed: &[Obligation], now: i64) -> AnyView {
    let items = owed
        .iter()
        .map(|o| {
            view! {
                <li>
                    <a href=format!("/admin/agreements/{}", o.current.id)>{o.current.name()}</a>
                    {format!(" (SHA-256 {}…): {}", &o.current.sha256[..12], standing_text(o, now))}
                </li>
            }
        })
        .collect_view();
    view! {
        <section id="agreements-in-force">
            <h2>"Agreements in force"</h2>
            {if owed.is_empty() {
                view! { <p>"No agreement is published for this tier's production access."</p> }.into_any()
            } else {
                view! { <ul>{items}</ul> }.into_any()
            }}
        </section>
    }
    .into_any()
}

pub fn partner(
    owed: &[Obligation],
    accepted: &[Acceptance],
    can_accept: bool,
    now: i64,
) -> AnyView {
    let rows = owed
        .iter()
        .map(|o| {
            let met = o.is_met();
            view! {
                <tr>
                    <td><a href=format!("/agreements/{}", o.current.id)>{o.current.name()}</a></td>
                    <td>{format!("Tier {}, {}", o.current.tier, o.current.environment)}</td>
                    <td class=(!met).then_some("attention")>{standing_text(o, now)}</td>
                    <td>{o.upcoming.as_ref().map(|u| view! {
                        <a href=format!("/agreements/{}", u.id)>{format!("{} from {}", u.name(), when(u.effective_at))}</a>
                    })}</td>
                </tr>
            }
        })
        .collect_view();
    let owed_view = if owed.is_empty() {
        view! { <p id="obligations-empty">"No agreement applies to your organisation yet: they come with the tier you apply for."</p> }.into_any()
    } else {
        view! {
            <table id="obligations">
                <caption>"Agreements in force for your tiers"</caption>
                <thead><tr><th>"Agreement"</th><th>"Applies to"</th><th>"Status"</th><th>"Next version"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    let history = accepted
        .iter()
        .map(|a| {
            view! {
                <tr>
                    <td><a href=format!("/agreements/{}", a.version_id)>{a.name()}</a></td>
                    <td>{a.email.clone()}</td>
                    <td>{when(a.accepted_at)}</td>
                    <td><a href=format!("/agreements/{}/text", a.version_id)>"Exact text"</a></td>
                </tr>
            }
        })
        .collect_view();
    let history_view = if accepted.is_empty() {
        view! { <p id="accepted-empty">"Your organisation has not accepted any agreement yet."</p> }
            .into_any()
    } else {
        view! {
            <table id="accepted">
                <caption>"What your organisation accepted"</caption>
                <thead><tr><th>"Agreement"</th><th>"Signatory"</th><th>"When"</th><th>"Download"</th></tr></thead>
                <tbody>{history}</tbody>
            </table>
        }
        .into_any()
    };
    let who = if can_accept {
        "As a partner admin you are an authorised signatory: open an agreement to read and accept it with a code from your authenticator app."
    } else {
        "A partner admin of your organisation accepts agreements; you can read and download them."
    };
    view! {
        <h1>"Agreements"</h1>
        <p>{who}</p>
        {owed_view}
        <h2>"Accepted"</h2>
        {history_view}
    }
    .into_any()
}

/// A version as a partner sees it.
pub struct VersionPage<'a> {
    pub version: &'a Version,
    /// Who accepted it for the organisation, and when.
    pub accepted: Option<(String, i64)>,
    pub can_accept: bool,
    pub mfa: bool,
    pub now: i64,
}

pub fn partner_version(page: &VersionPage<'_>, form: &Form, csrf: &str) -> AnyView {
    let version = page.version;
    let action = match (&page.accepted, page.can_accept, page.mfa) {
        (Some((email, at)), _, _) => view! {
            <p class="notice" id="accepted-by">{format!("Accepted for your organisation by {email} on {}.", when(*at))}</p>
        }
        .into_any(),
        (None, false, _) => view! {
            <p id="accept-who">"A partner admin of your organisation accepts this agreement."</p>
        }
        .into_any(),
        (None, true, false) => view! {
            <p id="accept-who">"Accepting an agreement binds your organisation: set up two-step verification first on the "<a href="/account/totp">"Account security"</a>" page."</p>
        }
        .into_any(),
        (None, true, true) => view! {
            <section class="card">
                <h2>"Accept for your organisation"</h2>
                {error_summary(form)}
                <p>{format!("You accept {} (SHA-256 {}) on behalf of your organisation. The record keeps your name, the time, your address and this hash.", version.name(), version.sha256)}</p>
                <form method="post" action=format!("/agreements/{}/accept", version.id) novalidate>
                    {csrf_field(csrf)}
                    {Input::text("code", "Code from your authenticator app").autocomplete("one-time-code").render(form)}
                    <button type="submit">"Accept"</button>
                </form>
            </section>
        }
        .into_any(),
    };
    view! {
        <p><a href="/agreements">"All agreements"</a></p>
        <h1>{version.name()}</h1>
        {action}
        {version_facts(version, page.now)}
    }
    .into_any()
}
