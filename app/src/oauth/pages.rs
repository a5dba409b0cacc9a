//! The sandbox bank's customer pages, clearly branded as the sandbox.

use leptos::prelude::*;

use crate::sandbox::catalogue;
use crate::ui::{csrf_field, error_summary, Form, Input};
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

pub fn consent(
    csrf: &str,
    app: &str,
    org: &str,
    customer: &TestCustomer,
    scope: &str,
    redirect_uri: &str,
) -> AnyView {
    let items = catalogue::split(scope)
        .into_iter()
        .map(|name| {
            let description = catalogue::find(&name).map(|s| s.description).unwrap_or("");
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
            <button type="submit" name="decision" value="allow">"Allow"</button>
            " "
            <button type="submit" name="decision" value="deny" class="secondary">"Deny"</button>
        </form>
    }
    .into_any()
}
