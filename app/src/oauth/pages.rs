//! The sandbox bank's customer pages, clearly branded as the sandbox.

use leptos::prelude::*;

use crate::clients::catalogue;
use crate::platform::ui::{csrf_field, error_summary, Form, Input};
use sandbox_data::customers::TestCustomer;

fn sandbox_banner() -> AnyView {
    view! {
        <div class="notice sandbox-banner" role="note">
            <p><strong>"Gatehouse Sandbox Bank. "</strong>"Test customers and synthetic data only: no real account is ever touched."</p>
        </div>
    }
    .into_any()
}

pub fn customer_signin(form: &Form, csrf: &str, app: &str, org: &str) -> AnyView {
    view! {
        {sandbox_banner()}
        {error_summary(form)}
        <p class="lead">{format!("{app} from {org} wants to connect to your bank. Sign in as a sandbox test customer to continue.")}</p>
        <form method="post" action=super::authorize::SIGNIN_PATH novalidate>
            {csrf_field(csrf)}
            {Input::text("username", "Username").autocomplete("username").render(form)}
            {Input::text("password", "Password").kind("password").autocomplete("current-password").render(form)}
            <button type="submit">"Sign in"</button>
        </form>
        <p><a href="/sandbox/docs#test-customers">"The test customers and their passwords"</a></p>
    }
    .into_any()
}

/// An OBIE consent on the consent page: what it asks, and the accounts to choose.
#[derive(Clone, Debug)]
pub struct IntentView {
    pub permissions: Vec<String>,
    /// The amount and the payee, for a payment consent.
    pub payment: Option<(String, String)>,
    /// (account id, label)
    pub accounts: Vec<(String, String)>,
    pub error: Option<String>,
}

fn intent_section(view: &IntentView) -> AnyView {
    let error = view.error.clone().map(|message| {
        view! {
            <div class="error-summary" role="alert" tabindex="-1">
                <h2>"There is a problem"</h2>
                <ul><li><a href="#accounts">{message}</a></li></ul>
            </div>
        }
    });
    let (legend, kind) = match &view.payment {
        Some(_) => ("Pay from", "radio"),
        None => ("Share these accounts", "checkbox"),
    };
    let what = match &view.payment {
        Some((amount, payee)) => {
            view! { <p id="consent-payment">{format!("Pay {amount} to {payee}.")}</p> }.into_any()
        }
        None => {
            let items = view
                .permissions
                .iter()
                .map(|p| view! { <li>{p.clone()}</li> })
                .collect_view();
            view! { <h2>"Data it asks for"</h2><ul id="consent-permissions">{items}</ul> }
                .into_any()
        }
    };
    let choices = view
        .accounts
        .iter()
        .enumerate()
        .map(|(n, (id, label))| {
            let input_id = format!("account-{n}");
            let checked = kind == "checkbox" || n == 0;
            view! {
                <div class="choice">
                    <input type=kind id=input_id.clone() name="accounts" value=id.clone() checked=checked/>
                    <label for=input_id>{label.clone()}</label>
                </div>
            }
        })
        .collect_view();
    view! {
        {error}
        {what}
        <fieldset id="accounts"><legend>{legend}</legend>{choices}</fieldset>
    }
    .into_any()
}

#[allow(clippy::too_many_arguments)]
pub fn consent(
    csrf: &str,
    pending_id: &str,
    app: &str,
    org: &str,
    customer: &TestCustomer,
    (scope, offered): (&str, &[catalogue::Scope]),
    redirect_uri: &str,
    intent: Option<&IntentView>,
) -> AnyView {
    let intent_form = intent.map(intent_section);
    let items = catalogue::split(scope)
        .into_iter()
        .map(|name| {
            let description = catalogue::find(offered, &name)
                .map(|s| s.description.clone())
                .unwrap_or_default();
            view! { <li><strong>{name.clone()}</strong>": "{description}</li> }
        })
        .collect_view();
    let host = url::Url::parse(redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    view! {
        {sandbox_banner()}
        <p class="lead">{format!("{app}, an app of {org}, asks for access as {}.", customer.display_name)}</p>
        <h2>"It will be able to"</h2>
        <ul id="consent-scopes">{items}</ul>
        <p>{format!("After you decide, you go back to {host}. You can withdraw this consent at any time.")}</p>
        <form method="post" action=super::authorize::CONSENT_PATH>
            {csrf_field(csrf)}
            <input type="hidden" name="pending_id" value=pending_id.to_string()/>
            {intent_form}
            <button type="submit" name="decision" value="allow">"Allow"</button>
            " "
            <button type="submit" name="decision" value="deny" class="secondary">"Deny"</button>
        </form>
    }
    .into_any()
}
