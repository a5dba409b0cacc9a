//! The public home page: what Gatehouse is, for a partner arriving for the first time.

use leptos::prelude::*;

pub fn page(signed_in: bool) -> AnyView {
    let start = if signed_in {
        view! { <p><a class="button" href="/dashboard">"Go to your dashboard"</a></p> }.into_any()
    } else {
        view! {
            <p><a class="button" href="/signup">"Create an account"</a>" or "<a href="/signin">"sign in"</a></p>
        }
        .into_any()
    };
    view! {
        <p class="lead">"Gatehouse is where fintech partners get access to the bank's APIs: sign up, build against a realistic sandbox straight away, and reach production through a clear, predictable review."</p>
        {start}
        <div class="cards">
            <section class="card">
                <h2>"1. Sign up and onboard"</h2>
                <p>"Register your organisation and choose a tier by the data you need: reference data, account information, or payment initiation. The due diligence you answer depends on the tier, and every step saves as you go."</p>
            </section>
            <section class="card">
                <h2>"2. Build in the sandbox"</h2>
                <p>"Right after sign-up, create sandbox apps and credentials, and call an API that mirrors UK Open Banking v3.1.11 over synthetic customers. No real person's data is ever in the sandbox."</p>
            </section>
            <section class="card">
                <h2>"3. Go to production"</h2>
                <p>"Request production access per app. A published risk policy routes each request: low-risk requests are approved in seconds, others reach one or two bank reviewers, and every decision is explained."</p>
            </section>
            <section class="card">
                <h2>"4. Stay in control"</h2>
                <p>"Every client has a named owner, a purpose, scopes and credentials that expire, in one inventory with its last use. Access tokens live minutes; partners rotate credentials with an overlap window and revoke them at once. Credentials nobody uses are revoked automatically, clients whose owner left are suspended, exceptions are explicit and temporary, and the bank can suspend any client at once. On a fixed cadence, partners confirm each client still needs its access, and the bank confirms, narrows or revokes it. Ending a partnership revokes everything in one action and leaves a signed evidence pack. The bank watches each client's usage for abuse, and signed webhooks tell your systems about expiring credentials, suspensions and decisions without polling. Every security event is in a hash-chained audit trail."</p>
            </section>
        </div>
        <h2>"Security you can check"</h2>
        <ul>
            <li>"Two-step verification for everyone who can request or approve production access."</li>
            <li>"Secrets are shown once. Client secrets are stored only as hashes; webhook signing secrets, which Gatehouse needs to sign with, are stored encrypted."</li>
            <li>"Every page works without JavaScript, and loads nothing from third parties."</li>
        </ul>
    }
    .into_any()
}

#[cfg(feature = "ssr")]
pub async fn handler(ctx: crate::platform::context::Ctx) -> axum::response::Html<String> {
    ctx.render(
        "Partner access to the bank's APIs",
        page(ctx.user.is_some()),
    )
}
