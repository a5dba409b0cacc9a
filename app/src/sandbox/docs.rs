//! The sandbox documentation (`/sandbox/docs`): the issuer and its endpoints, then
//! complete copy-and-paste sequences (a token and a reference call; a consent, the
//! customer's authorisation and the accounts; a payment) with the full base URLs and
//! the reader's own app. A signed-in developer's examples carry their app's client
//! id and its authentication method; the secret is never shown again, so the
//! examples read it from `CLIENT_SECRET` and say where it came from. Anonymous
//! readers see placeholders. The test `sandbox_docs` runs these sequences as written.

use leptos::prelude::*;

use crate::clients::model::App;

/// Whose examples the page shows.
pub struct Reader {
    /// The app the examples use.
    pub app: App,
    /// The demo app's well-known secret, in demo installations only.
    pub demo_secret: Option<String>,
    /// The reader's organisation's active sandbox apps, to choose among: (id, name).
    pub apps: Vec<(String, String)>,
}

pub struct Docs {
    pub issuer: String,
    pub audience: String,
    pub token_lifetime: i64,
    /// A signed-in reader with a sandbox app; `None` shows placeholders.
    pub reader: Option<Reader>,
}

/// The shell sequences of the page, each a block of its own.
pub struct Sequences {
    pub setup: String,
    pub reference: String,
    pub accounts_consent: String,
    pub accounts_exchange: String,
    pub payment_consent: String,
    pub payment_exchange: String,
}

/// `value` as one shell word whatever it holds: single-quoted, with each `'` closed,
/// escaped and reopened. Partners choose their redirect URIs; a pasted command must
/// never run what one of them wrote.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `value` inside a shell comment: on one line (a newline would end the comment).
fn comment(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// How a token request authenticates the app, as curl arguments.
fn client_auth(method: &str) -> &'static str {
    match method {
        "client_secret_post" => "-d client_id=\"$CLIENT_ID\" -d client_secret=\"$CLIENT_SECRET\"",
        "private_key_jwt" => {
            "-d client_id=\"$CLIENT_ID\" \\\n  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \\\n  -d client_assertion=\"$(make_assertion)\""
        }
        "tls_client_auth" | "self_signed_tls_client_auth" => {
            "--cert client.pem --key client-key.pem -d client_id=\"$CLIENT_ID\""
        }
        _ => "-u \"$CLIENT_ID:$CLIENT_SECRET\"",
    }
}

/// The sequences for `d`'s reader (or placeholders).
pub fn sequences(d: &Docs) -> Sequences {
    let (client_id, method, redirect, secret_line) = match &d.reader {
        Some(r) => (
            r.app.client_id.clone(),
            r.app.auth_method.clone(),
            r.app
                .redirect_uris
                .first()
                .cloned()
                .unwrap_or_else(|| "YOUR_REDIRECT_URI".into()),
            match (&r.demo_secret, r.app.auth_method.as_str()) {
                (Some(secret), _) => format!("export CLIENT_SECRET='{secret}'   # the demo app's well-known secret (demo installations only)"),
                (None, "client_secret_basic" | "client_secret_post") => format!(
                    "export CLIENT_SECRET='…'   # shown once when you registered or rotated {}; rotate on the app's page if it is lost",
                    comment(&r.app.name)
                ),
                (None, "private_key_jwt") => "make_assertion() { …; }   # a JWT signed with your private key (RFC 7523): iss = sub = $CLIENT_ID, aud = $GATEHOUSE, a new jti, exp within the hour; examples/ has one".to_string(),
                (None, _) => "# client.pem and client-key.pem: the certificate registered on the app and its key".to_string(),
            },
        ),
        None => (
            "YOUR_CLIENT_ID".into(),
            "client_secret_basic".into(),
            "YOUR_REDIRECT_URI".into(),
            "export CLIENT_SECRET='YOUR_CLIENT_SECRET'   # shown once when you register an app".into(),
        ),
    };
    let auth = client_auth(&method);
    let encoded: String = url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect();
    let token = |scope: &str| {
        format!(
            "curl -s {auth} \\\n  -d grant_type=client_credentials -d scope={scope} \\\n  \"$GATEHOUSE/oauth/token\" | jq -r .access_token"
        )
    };
    let authorise = |scope: &str, intent: &str| {
        format!(
            "VERIFIER=$(openssl rand -hex 32)\n\
             CHALLENGE=$(printf %s \"$VERIFIER\" | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=')\n\
             echo \"$GATEHOUSE/oauth/authorize?response_type=code&client_id=$CLIENT_ID&redirect_uri={encoded}&scope={scope}&state=docs&code_challenge=$CHALLENGE&code_challenge_method=S256&openbanking_intent_id=${intent}\""
        )
    };
    let exchange = format!(
        "USER_TOKEN=$(curl -s {auth} \\\n  -d grant_type=authorization_code -d code=\"$CODE\" -d code_verifier=\"$VERIFIER\" \\\n  --data-urlencode redirect_uri={} \\\n  \"$GATEHOUSE/oauth/token\" | jq -r .access_token)",
        quoted(&redirect)
    );
    let payment = r#"{"Data":{"Initiation":{"InstructionIdentification":"DOCS-1","EndToEndIdentification":"DOCS-E2E-1","InstructedAmount":{"Amount":"12.50","Currency":"GBP"},"CreditorAccount":{"SchemeName":"UK.OBIE.SortCodeAccountNumber","Identification":"20000012345678","Name":"Docs Payee Ltd"}}},"Risk":{}}"#;
    Sequences {
        setup: format!(
            "export GATEHOUSE={}\nexport API={}\nexport CLIENT_ID={client_id}\n{secret_line}",
            d.issuer, d.audience
        ),
        reference: format!(
            "TOKEN=$({})\ncurl -s -H \"Authorization: Bearer $TOKEN\" \"$API/reference/branches\"",
            token("reference")
        ),
        accounts_consent: format!(
            "CC_TOKEN=$({})\n\
             CONSENT=$(curl -s -X POST \"$API/aisp/account-access-consents\" \\\n  -H \"Authorization: Bearer $CC_TOKEN\" -H 'Content-Type: application/json' \\\n  -d '{{\"Data\":{{\"Permissions\":[\"ReadAccountsDetail\",\"ReadBalances\",\"ReadTransactionsDetail\",\"ReadTransactionsCredits\",\"ReadTransactionsDebits\"]}},\"Risk\":{{}}}}' \\\n  | jq -r .Data.ConsentId)\n{}",
            token("accounts"),
            authorise("accounts", "CONSENT")
        ),
        accounts_exchange: format!(
            "CODE='…'   # from the address your redirect URI was sent\n{exchange}\ncurl -s -H \"Authorization: Bearer $USER_TOKEN\" \"$API/aisp/accounts\""
        ),
        payment_consent: format!(
            "CC_TOKEN=$({})\n\
             PAYMENT='{payment}'\n\
             PAYMENT_CONSENT=$(curl -s -X POST \"$API/pisp/domestic-payment-consents\" \\\n  -H \"Authorization: Bearer $CC_TOKEN\" -H 'Content-Type: application/json' \\\n  -H \"x-idempotency-key: $(openssl rand -hex 16)\" -d \"$PAYMENT\" | jq -r .Data.ConsentId)\n{}",
            token("payments"),
            authorise("payments", "PAYMENT_CONSENT")
        ),
        payment_exchange: format!(
            "CODE='…'   # from the address your redirect URI was sent\n{exchange}\n\
             echo \"$PAYMENT\" | jq --arg c \"$PAYMENT_CONSENT\" '.Data.ConsentId = $c' > payment.json\n\
             curl -s -X POST \"$API/pisp/domestic-payments\" \\\n  -H \"Authorization: Bearer $USER_TOKEN\" -H 'Content-Type: application/json' \\\n  -H \"x-idempotency-key: $(openssl rand -hex 16)\" -d @payment.json"
        ),
    }
}

fn block(id: &'static str, text: String) -> impl IntoView {
    view! { <pre><code id=id>{text}</code></pre> }
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
    let s = sequences(&d);
    let whose = match &d.reader {
        Some(r) => {
            let choose = (r.apps.len() > 1).then(|| {
                let options = r
                    .apps
                    .iter()
                    .map(|(id, name)| view! { <option value=id.clone() selected={*id == r.app.id}>{name.clone()}</option> })
                    .collect_view();
                view! {
                    <form method="get" action="/sandbox/docs" class="filters">
                        <div class="field"><label for="app">"Examples for"</label><select id="app" name="app">{options}</select></div>
                        <button type="submit" class="secondary">"Show"</button>
                    </form>
                }
            });
            view! {
                <p id="docs-reader">{format!("These examples use your app {} (client id {}, {}). ", r.app.name, r.app.client_id, r.app.auth_method)}<a href=format!("/sandbox/apps/{}", r.app.id)>"The app's page"</a>" shows its calls and what it still needs for production."</p>
                {choose}
            }
            .into_any()
        }
        None => view! {
            <p id="docs-reader">"Sign in and register a sandbox app to see these examples with your own client id. Until then they show placeholders."</p>
        }
        .into_any(),
    };
    let customers = sandbox_data::customers::TEST_CUSTOMERS
        .iter()
        .map(|c| view! { <tr><td><code>{c.username}</code></td><td><code>{c.password}</code></td><td>{c.display_name}</td><td>{c.summary}</td></tr> })
        .collect_view();
    view! {
        <p class="lead">"Gatehouse is the OAuth2 authorization server of its sandbox. Register an app, then get tokens with its credentials and call the API."</p>
        <h2 id="readiness">"Before you ask for production"</h2>
        <p>{format!(
            "A production request needs the app to be ready in the sandbox: for each scope you ask for, at least {} successful calls in the last {} days with at most 20% failing; for accounts, an account-access consent a customer authorised; for payments, a domestic payment made with an idempotency key. The sequences below make each of these. Your app's page shows what is still missing and the next call to make.",
            super::readiness::MIN_SUCCESSES, super::readiness::WINDOW_DAYS
        )}</p>
        <h2>"Issuer and endpoints"</h2>
        <p>"Issuer: "<code id="issuer">{d.issuer.clone()}</code>". Access tokens are RFC 9068 JWTs for the audience "<code>{d.audience.clone()}</code>{format!(", valid for {} seconds, signed ES256 (PS256 and EdDSA keys are supported).", d.token_lifetime)}</p>
        <table id="endpoints"><tbody>{endpoints}</tbody></table>
        <h2 id="sequences">"Copy, paste, run"</h2>
        {whose}
        <p>"In a shell with curl, jq and openssl. First, once:"</p>
        {block("seq-setup", s.setup)}
        <h3>"A token, then reference data"</h3>
        {block("seq-reference", s.reference)}
        <h3>"A customer's accounts"</h3>
        <p>"Create a consent with a client-credentials token, then send the customer to the address printed (sign in as a test customer below and choose the accounts):"</p>
        {block("seq-accounts-consent", s.accounts_consent)}
        <p>"The browser returns to your redirect URI with "<code>"code"</code>" in the address; exchange it within 60 seconds, in the same shell, and read the accounts:"</p>
        {block("seq-accounts-exchange", s.accounts_exchange)}
        <h3>"A payment"</h3>
        {block("seq-payment-consent", s.payment_consent)}
        <p>"After the customer authorises it, in the same shell:"</p>
        {block("seq-payment-exchange", s.payment_exchange)}
        <h2>"Grants and client authentication"</h2>
        <ul>
            <li>"client_credentials for reference data and for creating consents;"</li>
            <li>"authorization_code with PKCE (S256 only), directly or through a pushed authorization request; codes live 60 seconds and work once;"</li>
            <li>"refresh_token with rotation: each refresh token works once, and reusing one revokes its whole grant;"</li>
            <li>"client authentication with private_key_jwt (recommended), or client_secret_basic / client_secret_post in the sandbox only;"</li>
            <li>"DPoP (RFC 9449): send a DPoP proof to get a token bound to your key (token_type DPoP)."</li>
        </ul>
        <p>"Then ask whether a token is active (client-secret apps):"</p>
        <pre><code>{format!("curl -s -u \"$CLIENT_ID:$CLIENT_SECRET\" -d token=\"$TOKEN\" {}", link("/oauth/introspect"))}</code></pre>
        <h2 id="api">"The sandbox API"</h2>
        <p>"The UK Open Banking Read/Write API v3.1.11 over your organisation's synthetic data (see "<a href="/sandbox/data">"Sandbox data"</a>"), at "<code id="api-base">{d.audience.clone()}</code>". Responses follow the OBIE schemas, with "<code>"Data"</code>", "<code>"Links"</code>" and "<code>"Meta"</code>"; errors are "<code>"OBErrorResponse1"</code>"; "<code>"x-fapi-interaction-id"</code>" is echoed or generated. Every call is checked like production: token signature, expiry, revocation, audience, scope, and the DPoP proof or client certificate when the token is bound. Calls count against your app's rate limit and appear in its request log, a mistyped path's 404 included."</p>
        <ol>
            <li>"Accounts (scope accounts, after the consent above): "<code>"/aisp/accounts"</code>", "<code>"/aisp/accounts/{AccountId}/balances"</code>", "<code>"/transactions"</code>" (with "<code>"fromBookingDateTime"</code>"/"<code>"toBookingDateTime"</code>"; 100 per page, follow "<code>"Links.Next"</code>"), "<code>"/beneficiaries"</code>", "<code>"/direct-debits"</code>", "<code>"/standing-orders"</code>", "<code>"/scheduled-payments"</code>", "<code>"/statements"</code>", "<code>"/party"</code>", "<code>"/parties"</code>", "<code>"/product"</code>" and the bulk endpoints. Fields follow the permissions: Basic omits what Detail adds; ReadTransactionsCredits alone shows only credits; a missing permission is a 403."</li>
            <li>"Payments (scope payments): the consent with "<code>"x-idempotency-key"</code>", the customer's authorisation (they pick the account to pay from), "<code>"/funds-confirmation"</code>" on the consent, then "<code>"/pisp/domestic-payments"</code>" with the same Initiation and Risk. The same key and body replay the answer; another body is refused. The payment debits the account at once (a transaction and a lower balance), is AcceptedSettlementInProcess, and AcceptedSettlementCompleted 30 seconds later."</li>
            <li>"Reference data (scope reference, client credentials): "<code>"/reference/branches"</code>", "<code>"/reference/products"</code>", "<code>"/reference/fx-rates"</code>"."</li>
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

#[cfg(test)]
mod tests {
    #[test]
    fn partner_values_stay_one_shell_word() {
        assert_eq!(
            super::quoted("https://a.example/cb"),
            "'https://a.example/cb'"
        );
        assert_eq!(
            super::quoted("https://x/cb'$(id)'"),
            r"'https://x/cb'\''$(id)'\'''"
        );
        assert_eq!(super::comment("App\nrm -rf /"), "App rm -rf /");
    }
}
