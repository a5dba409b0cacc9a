//! Account pages. Plain functions from data to views; handlers wrap them in the layout.

use leptos::prelude::*;

use crate::platform::authz::Role;
use crate::platform::ui::{action_button, csrf_field, error_summary, select, Form, Input};

/// A form with its error summary, fields and one submit button.
pub fn form(
    action: &'static str,
    csrf: &str,
    data: &Form,
    fields: AnyView,
    button: &'static str,
) -> AnyView {
    view! {
        {error_summary(data)}
        <form method="post" action=action novalidate>
            {csrf_field(csrf)}
            {fields}
            <button type="submit">{button}</button>
        </form>
    }
    .into_any()
}

fn password_field(name: &'static str, label: &'static str, autocomplete: &'static str) -> Input {
    Input::text(name, label)
        .kind("password")
        .autocomplete(autocomplete)
}

const NEW_PASSWORD_HINT: &str = "At least 12 characters. A few unrelated words make a strong password that is easy to remember.";

pub fn signup(data: &Form, csrf: &str) -> AnyView {
    let fields = view! {
        <p class="lead">"Create a Gatehouse account for your organisation. You can use the sandbox as soon as you have confirmed your e-mail address."</p>
        <fieldset>
            <legend><h2>"Your organisation"</h2></legend>
            {Input::text("legal_name", "Legal name").autocomplete("organization").render(data)}
            {Input::text("registration_number", "Company registration number").hint("As on the national company register, for example 12345678").render(data)}
            {Input::text("country", "Country of registration").hint("Two-letter ISO 3166 code, for example GB").autocomplete("country").render(data)}
            {Input::text("website", "Website").kind("url").hint("For example https://example.com").autocomplete("url").render(data)}
            {Input::text("lei", "Legal Entity Identifier (LEI), optional").hint("20 characters, if your organisation has one").render(data)}
        </fieldset>
        <fieldset>
            <legend><h2>"You"</h2></legend>
            <p>"You will be the organisation's first partner admin."</p>
            {Input::text("full_name", "Full name").autocomplete("name").render(data)}
            {Input::text("email", "Work e-mail address").kind("email").autocomplete("email").render(data)}
            {password_field("password", "Password", "new-password").hint(NEW_PASSWORD_HINT).render(data)}
        </fieldset>
    };
    form("/signup", csrf, data, fields.into_any(), "Create account")
}

pub fn signin(
    data: &Form,
    csrf: &str,
    next: &str,
    sso: &[(String, String)],
    partner_sso: bool,
) -> AnyView {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    let next = next.to_string();
    let providers = (!sso.is_empty()).then(|| {
        let links = sso
            .iter()
            .map(|(id, label)| {
                let href = format!("/sso/{id}/start?{query}");
                view! { <li><a class="button" href=href>{format!("Sign in with {label}")}</a></li> }
            })
            .collect_view();
        view! {
            <section aria-labelledby="sso-heading">
                <h2 id="sso-heading">"Bank staff"</h2>
                <ul class="plain">{links}</ul>
            </section>
            <h2>"With a Gatehouse password"</h2>
        }
    });
    let organisation = partner_sso.then(|| {
        let next = next.clone();
        view! {
            <section aria-labelledby="partner-sso-heading">
                <h2 id="partner-sso-heading">"Your organisation's single sign-on"</h2>
                <form method="post" action="/sso/partner">
                    {csrf_field(csrf)}
                    <input type="hidden" name="next" value=next/>
                    <div class="field">
                        <label for="sso_email">"Work e-mail address"</label>
                        <input id="sso_email" name="sso_email" type="email" autocomplete="username"/>
                    </div>
                    <button type="submit" class="secondary">"Continue with single sign-on"</button>
                </form>
            </section>
        }
    });
    view! {
        {providers}
        {organisation}
        {error_summary(data)}
        <form method="post" action="/signin" novalidate>
            {csrf_field(csrf)}
            <input type="hidden" name="next" value=next/>
            {Input::text("email", "E-mail address").kind("email").autocomplete("username").render(data)}
            {password_field("password", "Password", "current-password").render(data)}
            <button type="submit">"Sign in"</button>
        </form>
        <p><a href="/password/forgot">"Forgotten your password?"</a></p>
        <p>"New to Gatehouse? "<a href="/signup">"Create an account"</a></p>
    }
    .into_any()
}

pub fn signin_code(data: &Form, csrf: &str) -> AnyView {
    let fields = view! {
        <p>"Open your authenticator app and enter the code it shows for Gatehouse. Lost your phone? Enter one of your recovery codes instead."</p>
        {Input::text("code", "Code").autocomplete("one-time-code").render(data)}
    };
    form("/signin/code", csrf, data, fields.into_any(), "Continue")
}

/// After sign-up, whatever the address: no page tells whether it already had an account.
pub fn signup_sent(mailbox: bool) -> AnyView {
    view! {
        <p class="lead">"We have sent a message to the address you gave. Open the link in it within 24 hours to confirm the address, then sign in with the password you chose."</p>
        <p>"If the address already has a Gatehouse account, the message says so instead, and nothing was changed."</p>
        {mailbox.then(|| view! { <p>"This installation has no mail server: the message is in the "<a href="/dev/mailbox">"mailbox"</a>"."</p> })}
        <p><a href="/signin">"Sign in"</a></p>
    }
    .into_any()
}

pub fn verify_pending(email: &str, csrf: &str, mailbox: bool) -> AnyView {
    let email = email.to_string();
    view! {
        <p class="lead">"We sent a link to " <strong>{email}</strong> ". Open it to confirm your e-mail address; then you can use Gatehouse."</p>
        {mailbox.then(|| view! { <p>"This installation has no mail server: the message is in the "<a href="/dev/mailbox">"mailbox"</a>"."</p> })}
        <form method="post" action="/verify-email/resend">
            {csrf_field(csrf)}
            <button type="submit" class="secondary">"Send the link again"</button>
        </form>
    }
    .into_any()
}

pub fn forgot(data: &Form, csrf: &str) -> AnyView {
    let fields = view! {
        <p>"Enter the e-mail address of your account and we will send you a link to choose a new password."</p>
        {Input::text("email", "E-mail address").kind("email").autocomplete("username").render(data)}
    };
    form(
        "/password/forgot",
        csrf,
        data,
        fields.into_any(),
        "Send link",
    )
}

pub fn reset(data: &Form, csrf: &str, token: &str) -> AnyView {
    let token = token.to_string();
    let fields = view! {
        <input type="hidden" name="token" value=token/>
        {password_field("password", "New password", "new-password").hint(NEW_PASSWORD_HINT).render(data)}
    };
    form(
        "/password/reset",
        csrf,
        data,
        fields.into_any(),
        "Set password",
    )
}

pub fn accept(data: &Form, csrf: &str, action: &'static str, token: &str, email: &str) -> AnyView {
    let token = token.to_string();
    let email = email.to_string();
    let fields = view! {
        <p>"You are setting up the account for " <strong>{email}</strong> "."</p>
        <input type="hidden" name="token" value=token/>
        {Input::text("display_name", "Full name").autocomplete("name").render(data)}
        {password_field("password", "Choose a password", "new-password").hint(NEW_PASSWORD_HINT).render(data)}
    };
    form(action, csrf, data, fields.into_any(), "Set up account")
}

pub struct SecurityOverview {
    pub email: String,
    pub role: Role,
    pub mfa_enabled: bool,
    pub recovery_codes_left: i64,
}

pub fn account(overview: SecurityOverview) -> AnyView {
    let required = overview.role.is_staff() || overview.role == Role::PartnerAdmin;
    let mfa = if overview.mfa_enabled {
        view! {
            <p><span class="tag">"On"</span>" Two-step verification is on. Recovery codes left: "{overview.recovery_codes_left}"."</p>
            <p><a href="/account/totp/recovery-codes">"Make new recovery codes"</a></p>
            {(!required).then(|| view! { <p><a href="/account/totp/disable">"Turn two-step verification off"</a></p> })}
        }
        .into_any()
    } else {
        let why = if overview.role.is_staff() {
            "Every bank user must have two-step verification."
        } else if overview.role == Role::PartnerAdmin {
            "Partner admins need it before they can request production access."
        } else {
            "It protects your account even if your password leaks."
        };
        view! {
            <p><span class="tag">"Off"</span>" "{why}</p>
            <p><a class="button" href="/account/totp">"Set up two-step verification"</a></p>
        }
        .into_any()
    };
    view! {
        <p>"Signed in as "<strong>{overview.email}</strong>" ("{overview.role.label()}")."</p>
        <h2>"Two-step verification"</h2>
        {mfa}
        <h2>"Password"</h2>
        <p><a href="/account/password">"Change your password"</a>" — this signs out your other sessions."</p>
    }
    .into_any()
}

/// `text` as a QR code in SVG, drawn on the server (no script, no image request):
/// dark modules on white, with the quiet zone the standard asks for.
fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build()
            // Inline in HTML: the XML declaration has no place there.
            .split_once("<svg")
            .map(|(_, svg)| format!("<svg aria-hidden=\"true\"{svg}"))
            .unwrap_or_default(),
        // Too long for a QR code: the key and the address below still work.
        Err(_) => String::new(),
    }
}

pub fn totp_enrol(data: &Form, csrf: &str, secret_base32: &str, otpauth: &str) -> AnyView {
    let grouped = secret_base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let qr = qr_svg(otpauth);
    let otpauth = otpauth.to_string();
    let fields = view! {
        <ol>
            <li>"Open an authenticator app (for example FreeOTP, Aegis or your password manager)."</li>
            <li>"Scan this code with it:"
                <div class="qr" id="totp-qr" role="img" aria-label="QR code of the set-up address below" inner_html=qr></div>
                "or add an account with this key (time-based, 6 digits, 30 seconds):"<p class="secret" id="totp-secret">{grouped}</p>
                <details><summary>"Or paste this set-up address"</summary><p class="secret" id="totp-uri">{otpauth}</p></details></li>
            <li>"Enter the code the app shows."</li>
        </ol>
        {Input::text("code", "Code from the app").autocomplete("one-time-code").render(data)}
    };
    form(
        "/account/totp",
        csrf,
        data,
        fields.into_any(),
        "Turn on two-step verification",
    )
}

pub fn recovery_codes(codes: Vec<String>) -> AnyView {
    let items = codes
        .into_iter()
        .map(|c| view! { <li>{c}</li> })
        .collect_view();
    view! {
        <div class="notice"><p>"Two-step verification is on."</p></div>
        <p class="lead">"Keep these recovery codes somewhere safe. Each works once, if you lose your authenticator. They will not be shown again."</p>
        <ul class="codes" id="recovery-codes">{items}</ul>
        <p><a class="button" href="/dashboard">"I have saved my codes"</a></p>
    }
    .into_any()
}

pub fn code_confirm(
    data: &Form,
    csrf: &str,
    action: &'static str,
    intro: &'static str,
    button: &'static str,
) -> AnyView {
    let fields = view! {
        <p>{intro}</p>
        {Input::text("code", "Code from your authenticator app").autocomplete("one-time-code").render(data)}
    };
    form(action, csrf, data, fields.into_any(), button)
}

pub fn change_password(data: &Form, csrf: &str) -> AnyView {
    let fields = view! {
        {password_field("current_password", "Current password", "current-password").render(data)}
        {password_field("new_password", "New password", "new-password").hint(NEW_PASSWORD_HINT).render(data)}
    };
    form(
        "/account/password",
        csrf,
        data,
        fields.into_any(),
        "Change password",
    )
}

pub struct MemberRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub status: String,
    pub mfa: bool,
    pub is_self: bool,
    /// The active clients the member owns.
    pub owns: Vec<String>,
}

const PARTNER_ROLES: [(&str, &str); 2] = [
    ("partner_developer", "Partner developer"),
    ("partner_admin", "Partner admin"),
];

/// Removing a member who owns clients: who owns them next (or nobody, explicitly).
fn remove_with_owner(csrf: &str, m: &MemberRow, candidates: &[(String, String)]) -> AnyView {
    let field = format!("new-owner-{}", m.id);
    let options = candidates
        .iter()
        .filter(|(id, _)| *id != m.id)
        .map(|(id, name)| view! { <option value=id.clone()>{name.clone()}</option> })
        .collect_view();
    view! {
        <form method="post" action=format!("/org/members/{}/remove", m.id) class="inline">
            {csrf_field(csrf)}
            <label for=field.clone()>{format!("Owns {}; new owner", m.owns.join(", "))}</label>
            <select id=field name="new_owner_id">
                {options}
                <option value=crate::accounts::LEAVE_OWNERLESS>"Nobody: leave them without an owner"</option>
            </select>
            <button type="submit" class="danger">"Remove"</button>
        </form>
    }
    .into_any()
}

pub fn members(rows: Vec<MemberRow>, can_manage: bool, data: &Form, csrf: &str) -> AnyView {
    let csrf_owned = csrf.to_string();
    let candidates: Vec<(String, String)> = rows
        .iter()
        .filter(|m| m.status == "active")
        .map(|m| (m.id.clone(), format!("{} ({})", m.name, m.email)))
        .collect();
    let body = rows
        .into_iter()
        .map(|m| {
            let actions = (can_manage && !m.is_self).then(|| {
                let role_form = Form::new().with("role", m.role.as_str());
                let role_action = format!("/org/members/{}/role", m.id);
                view! {
                    <form method="post" action=role_action class="inline">
                        {csrf_field(&csrf_owned)}
                        {select(&role_form, "role", "Role", &PARTNER_ROLES)}
                        <button type="submit" class="secondary">"Change role"</button>
                    </form>
                    {if m.owns.is_empty() {
                        action_button(&csrf_owned, format!("/org/members/{}/remove", m.id), if m.status == "invited" { "Withdraw invitation" } else { "Remove" }, "danger")
                    } else {
                        remove_with_owner(&csrf_owned, &m, &candidates)
                    }}
                }
            });
            let status = if m.status == "invited" { "Invited".to_string() } else if m.mfa { "Active, two-step on".into() } else { "Active".into() };
            view! {
                <tr id=format!("member-{}", m.id)>
                    <td>{m.name}{m.is_self.then_some(" (you)")}</td>
                    <td>{m.email}</td>
                    <td>{m.role.label()}</td>
                    <td>{status}</td>
                    <td>{actions}</td>
                </tr>
            }
        })
        .collect_view();
    let invite = can_manage.then(|| {
        let fields = view! {
            {Input::text("display_name", "Name").autocomplete("off").render(data)}
            {Input::text("email", "E-mail address").kind("email").autocomplete("off").render(data)}
            {select(data, "role", "Role", &PARTNER_ROLES)}
        };
        view! {
            <h2 id="invite">"Invite a colleague"</h2>
            <p>"They get an e-mail with a link to join. Developers can build and test in the sandbox; admins also manage the team and request production access."</p>
            {form("/org/members/invite", csrf, data, fields.into_any(), "Send invitation")}
            <h2 id="close">"Leaving the bank"</h2>
            <p><a href="/org/close">"Close the organisation"</a>": ask the bank to end every account, client and consent of your organisation."</p>
        }
    });
    view! {
        <table>
            <thead><tr><th>"Name"</th><th>"E‑mail"</th><th>"Role"</th><th>"Status"</th><th>"Actions"</th></tr></thead>
            <tbody>{body}</tbody>
        </table>
        {invite}
    }
    .into_any()
}

pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub organisation: Option<String>,
    pub status: String,
    pub mfa: bool,
}

const STAFF_ROLES: [(&str, &str); 3] = [
    ("reviewer", "Reviewer"),
    ("approver", "Approver"),
    ("admin", "Bank admin"),
];

pub fn users(rows: Vec<UserRow>, self_id: &str, data: &Form, csrf: &str) -> AnyView {
    let csrf_owned = csrf.to_string();
    let body = rows
        .into_iter()
        .map(|u| {
            let action = (u.id != self_id).then(|| match u.status.as_str() {
                "active" => Some(action_button(
                    &csrf_owned,
                    format!("/admin/users/{}/disable", u.id),
                    "Disable",
                    "danger",
                )),
                "disabled" => Some(action_button(
                    &csrf_owned,
                    format!("/admin/users/{}/enable", u.id),
                    "Enable",
                    "secondary",
                )),
                _ => None,
            });
            view! {
                <tr id=format!("user-{}", u.id)>
                    <td>{u.name}</td>
                    <td>{u.email}</td>
                    <td>{u.role.label()}</td>
                    <td>{u.organisation.unwrap_or_else(|| "The bank".into())}</td>
                    <td>{u.status}{u.mfa.then_some(", two-step on")}</td>
                    <td>{action}</td>
                </tr>
            }
        })
        .collect_view();
    let fields = view! {
        {Input::text("display_name", "Name").autocomplete("off").render(data)}
        {Input::text("email", "E-mail address").kind("email").autocomplete("off").render(data)}
        {select(data, "role", "Role", &STAFF_ROLES)}
    };
    view! {
        <table>
            <thead><tr><th>"Name"</th><th>"E‑mail"</th><th>"Role"</th><th>"Organisation"</th><th>"Status"</th><th>"Actions"</th></tr></thead>
            <tbody>{body}</tbody>
        </table>
        <h2 id="create-staff">"Add a bank user"</h2>
        <p>"They receive a one-time link to choose a password, then must set up two-step verification."</p>
        {form("/admin/users", csrf, data, fields.into_any(), "Create bank user")}
    }
    .into_any()
}
