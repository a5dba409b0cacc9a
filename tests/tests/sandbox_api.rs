//! The sandbox API as a partner's software uses it: consents created with a
//! client-credentials token, authorised by a test customer, then every endpoint for
//! every persona, each response validated against the OBIE v3.1.11 OpenAPI schema.

use std::sync::LazyLock;

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, Scope, TokenResponse};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both;
use crate::common::{assert_location, TestServer};
use crate::oauth::query;
use crate::sandbox_helpers::*;

pub const BASE: &str = "/sandbox/open-banking/v3.1";

/// The specification's OpenAPI files, copied unmodified from `../shared/specs`.
const SPECS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/obie-v3.1.11");

fn load(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{SPECS}/{file}"))
        .expect("the OBIE specification is in specs/");
    serde_json::from_str(&text).unwrap()
}

pub static AIS: LazyLock<Value> = LazyLock::new(|| load("account-info-openapi.json"));
pub static PIS: LazyLock<Value> = LazyLock::new(|| load("payment-initiation-openapi.json"));

/// Validates `body` against the schema of the named response in the specification
/// (`200AccountsRead`, `403Error`, …); panics with every violation.
pub fn assert_schema(spec: &Value, response: &str, body: &Value) {
    let content = &spec["components"]["responses"][response]["content"];
    let schema_ref = content
        .as_object()
        .and_then(|c| c.values().next())
        .and_then(|c| c["schema"]["$ref"].as_str())
        .unwrap_or_else(|| panic!("no schema for {response}"));
    assert_schema_ref(spec, schema_ref, body, response);
}

/// Validates an error body against `OBErrorResponse1` (the specification gives 401
/// and 404 no body; Gatehouse sends the same error shape for every status).
pub fn assert_error_schema(body: &Value) {
    assert_schema_ref(
        &AIS,
        "#/components/schemas/OBErrorResponse1",
        body,
        "OBErrorResponse1",
    );
}

fn assert_schema_ref(spec: &Value, schema_ref: &str, body: &Value, name: &str) {
    let root = json!({ "$ref": schema_ref, "components": spec["components"] });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&root)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{body:#}");
}

pub struct Api<'a> {
    pub server: &'a TestServer,
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl<'a> Api<'a> {
    pub fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            http: oauth_http(),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{BASE}{path}", self.server.base)
        };
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .header("authorization", format!("Bearer {token}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, token, None, &[]).await
    }

    /// A GET that must succeed and validate against `response`.
    pub async fn read(&self, path: &str, token: &str, response: &str) -> Value {
        let answer = self.get(path, token).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert_schema(&AIS, response, &answer.body);
        answer.body
    }
}

pub async fn client_token(server: &TestServer, scope: &str) -> String {
    let token = oauth_client(server, DEMO_ID, DEMO_SECRET, DEMO_REDIRECT)
        .exchange_client_credentials()
        .add_scope(Scope::new(scope.into()))
        .request_async(&oauth_http())
        .await
        .unwrap();
    token.access_token().secret().clone()
}

pub const ALL_PERMISSIONS: [&str; 20] = [
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadBeneficiariesDetail",
    "ReadDirectDebits",
    "ReadOffers",
    "ReadPAN",
    "ReadParty",
    "ReadPartyPSU",
    "ReadProducts",
    "ReadScheduledPaymentsDetail",
    "ReadStandingOrdersDetail",
    "ReadStatementsDetail",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadAccountsBasic",
    "ReadTransactionsBasic",
    "ReadStatementsBasic",
    "ReadBeneficiariesBasic",
    "ReadStandingOrdersBasic",
];

pub async fn account_consent(api: &Api<'_>, cc: &str, data: Value) -> String {
    let answer = api
        .call(
            "POST",
            "/aisp/account-access-consents",
            cc,
            Some(&json!({ "Data": data, "Risk": {} })),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_schema(&AIS, "201AccountAccessConsentsCreated", &answer.body);
    assert_eq!(answer.body["Data"]["Status"], "AwaitingAuthorisation");
    answer.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The authorization-code flow for an OBIE consent: the customer signs in, keeps the
/// accounts `choose` picks (all when `None`), and allows. Returns the access token.
pub async fn authorise(
    server: &TestServer,
    intent: &str,
    scope: &str,
    customer: (&str, &str),
    choose: Option<usize>,
) -> String {
    authorise_tokens(server, intent, scope, customer, choose)
        .await
        .access_token()
        .secret()
        .clone()
}

/// As [`authorise`], returning the whole token response (with the refresh token).
pub async fn authorise_tokens(
    server: &TestServer,
    intent: &str,
    scope: &str,
    customer: (&str, &str),
    choose: Option<usize>,
) -> oauth2::basic::BasicTokenResponse {
    authorise_with(
        server,
        (DEMO_ID, DEMO_SECRET, DEMO_REDIRECT),
        intent,
        scope,
        customer,
        choose,
    )
    .await
}

/// As [`authorise_tokens`], for the app with `client` = (client id, secret, redirect URI).
pub async fn authorise_with(
    server: &TestServer,
    client: (&str, &str, &str),
    intent: &str,
    scope: &str,
    customer: (&str, &str),
    choose: Option<usize>,
) -> oauth2::basic::BasicTokenResponse {
    let oauth = oauth_client(server, client.0, client.1, client.2);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = oauth
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new(scope.into()))
        .add_extra_param("openbanking_intent_id", intent)
        .set_pkce_challenge(challenge)
        .url();
    let back = customer_approves(server, url.as_str(), customer, choose).await;
    let code = query(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&oauth_http())
        .await
        .unwrap()
}

/// A test customer signs in at an authorization URL, keeps the accounts `choose`
/// picks (all when `None`) and allows; returns where the browser is sent back to.
pub async fn customer_approves(
    server: &TestServer,
    url: &str,
    customer: (&str, &str),
    choose: Option<usize>,
) -> url::Url {
    let browser = server.client();
    let response = browser.get(url.strip_prefix(&server.base).unwrap()).await;
    assert_location(&response, "/oauth/authorize/signin");
    let response = browser
        .submit(
            "/oauth/authorize/signin",
            "/oauth/authorize/signin",
            &[("username", customer.0), ("password", customer.1)],
        )
        .await;
    assert_location(&response, "/oauth/authorize/consent");
    let (_, page) = browser.text("/oauth/authorize/consent").await;
    let accounts: Vec<String> = page
        .split("name=\"accounts\" value=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect();
    assert!(
        !accounts.is_empty(),
        "the consent page offers the customer's accounts"
    );
    let chosen: Vec<&String> = match choose {
        Some(n) => vec![&accounts[n]],
        None => accounts.iter().collect(),
    };
    let pending =
        crate::common::input_value(&page, "pending_id").expect("the form names its request");
    let mut fields = vec![("decision", "allow"), ("pending_id", pending.as_str())];
    fields.extend(chosen.iter().map(|a| ("accounts", a.as_str())));
    let response = browser
        .submit(
            "/oauth/authorize/consent",
            "/oauth/authorize/consent",
            &fields,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

pub fn customers() -> Vec<(&'static str, &'static str)> {
    sandbox_data::customers::TEST_CUSTOMERS
        .iter()
        .map(|c| (c.username, c.password))
        .collect()
}

/// The signed minor units of an OBIE balance or transaction (`Amount.Amount` with
/// `CreditDebitIndicator`).
pub fn amount(value: &Value) -> i64 {
    let minor =
        sandbox_data::money::parse(value["Amount"]["Amount"].as_str().unwrap()).unwrap_or(0);
    if value["CreditDebitIndicator"] == "Debit" {
        -minor
    } else {
        minor
    }
}

async fn every_endpoint_for_every_persona(server: TestServer) {
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts").await;
    let interaction = "0b0e1d7c-2b36-4cf1-9d6a-1c3f0d9e8a11";
    for customer in customers() {
        let intent = account_consent(&api, &cc, json!({ "Permissions": ALL_PERMISSIONS })).await;
        let token = authorise(&server, &intent, "accounts", customer, None).await;
        let consent = api
            .get(&format!("/aisp/account-access-consents/{intent}"), &cc)
            .await;
        assert_schema(&AIS, "200AccountAccessConsentsConsentIdRead", &consent.body);
        assert_eq!(consent.body["Data"]["Status"], "Authorised");

        let answer = api
            .call(
                "GET",
                "/aisp/accounts",
                &token,
                None,
                &[("x-fapi-interaction-id", interaction)],
            )
            .await;
        assert_eq!(
            answer.headers["x-fapi-interaction-id"], interaction,
            "the interaction id is echoed"
        );
        assert_schema(&AIS, "200AccountsRead", &answer.body);
        let accounts = answer.body["Data"]["Account"].as_array().unwrap().clone();
        assert!(!accounts.is_empty(), "{}", customer.0);
        for account in &accounts {
            let id = account["AccountId"].as_str().unwrap();
            let a = format!("/aisp/accounts/{id}");
            api.read(&a, &token, "200AccountsAccountIdRead").await;
            let balances = api
                .read(
                    &format!("{a}/balances"),
                    &token,
                    "200AccountsAccountIdBalancesRead",
                )
                .await;
            let booked = balances["Data"]["Balance"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["Type"] == "InterimBooked")
                .unwrap()
                .clone();
            let transactions = api
                .read(
                    &format!("{a}/transactions"),
                    &token,
                    "200AccountsAccountIdTransactionsRead",
                )
                .await;
            // Following Links.Next reaches the end, and the last running balance is the
            // balance the balances endpoint returns.
            let mut page = transactions;
            let mut pages = 1;
            let mut last_balance = None;
            loop {
                if let Some(last) = page["Data"]["Transaction"].as_array().unwrap().last() {
                    last_balance = Some(amount(&last["Balance"]));
                }
                let Some(next) = page["Links"]["Next"].as_str() else {
                    break;
                };
                page = api
                    .read(next, &token, "200AccountsAccountIdTransactionsRead")
                    .await;
                pages += 1;
                assert!(pages < 2_000, "paging ends");
            }
            if let Some(last) = last_balance {
                assert_eq!(
                    last,
                    amount(&booked),
                    "{} {id}: the last running balance is the booked balance",
                    customer.0
                );
            }
            for (path, response) in [
                ("beneficiaries", "200AccountsAccountIdBeneficiariesRead"),
                ("direct-debits", "200AccountsAccountIdDirectDebitsRead"),
                ("standing-orders", "200AccountsAccountIdStandingOrdersRead"),
                (
                    "scheduled-payments",
                    "200AccountsAccountIdScheduledPaymentsRead",
                ),
                ("product", "200AccountsAccountIdProductRead"),
                ("party", "200AccountsAccountIdPartyRead"),
                ("parties", "200AccountsAccountIdPartiesRead"),
                ("offers", "200AccountsAccountIdOffersRead"),
            ] {
                api.read(&format!("{a}/{path}"), &token, response).await;
            }
            let statements = api
                .read(
                    &format!("{a}/statements"),
                    &token,
                    "200AccountsAccountIdStatementsRead",
                )
                .await;
            if let Some(statement) = statements["Data"]["Statement"].as_array().unwrap().first() {
                let s = statement["StatementId"].as_str().unwrap();
                api.read(
                    &format!("{a}/statements/{s}"),
                    &token,
                    "200AccountsAccountIdStatementsStatementIdRead",
                )
                .await;
                api.read(
                    &format!("{a}/statements/{s}/transactions"),
                    &token,
                    "200AccountsAccountIdStatementsStatementIdTransactionsRead",
                )
                .await;
            }
        }
        for (path, response) in [
            ("/aisp/balances", "200BalancesRead"),
            ("/aisp/transactions", "200TransactionsRead"),
            ("/aisp/beneficiaries", "200BeneficiariesRead"),
            ("/aisp/direct-debits", "200DirectDebitsRead"),
            ("/aisp/standing-orders", "200StandingOrdersRead"),
            ("/aisp/scheduled-payments", "200ScheduledPaymentsRead"),
            ("/aisp/statements", "200StatementsRead"),
            ("/aisp/products", "200ProductsRead"),
            ("/aisp/offers", "200OffersRead"),
            ("/aisp/party", "200PartyRead"),
        ] {
            api.read(path, &token, response).await;
        }
    }
    // Every call is in the demo app's request log.
    let app_id: String = sqlx::query_scalar("SELECT id FROM apps WHERE client_id = $1")
        .bind(DEMO_ID)
        .fetch_one(server.pool())
        .await
        .unwrap();
    assert!(wait_for_log(&server, &app_id, 150).await >= 150);
    let logged = server.count(&format!("SELECT COUNT(*) FROM request_log WHERE app_id = '{app_id}' AND endpoint LIKE '{BASE}/aisp/accounts/%/balances' AND status = 200")).await;
    assert!(logged >= 8, "API calls land in the request log ({logged})");
}
both!(every_endpoint_for_every_persona, demo);

async fn permissions_filter_fields(server: TestServer) {
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts").await;
    let intent = account_consent(&api, &cc, json!({ "Permissions": ["ReadAccountsBasic", "ReadTransactionsBasic", "ReadTransactionsCredits"] })).await;
    let token = authorise(
        &server,
        &intent,
        "accounts",
        ("mia.salaried", "sandbox-mia-2026"),
        Some(0),
    )
    .await;
    let accounts = api.read("/aisp/accounts", &token, "200AccountsRead").await;
    let list = accounts["Data"]["Account"].as_array().unwrap();
    assert_eq!(list.len(), 1, "only the account the customer picked");
    assert!(
        list[0].get("Account").is_none(),
        "Basic omits the account identification"
    );
    let id = list[0]["AccountId"].as_str().unwrap();
    let range = "fromBookingDateTime=2026-01-01T00:00:00&toBookingDateTime=2026-06-30T23:59:59";
    let transactions = api
        .read(
            &format!("/aisp/accounts/{id}/transactions?{range}"),
            &token,
            "200AccountsAccountIdTransactionsRead",
        )
        .await;
    let items = transactions["Data"]["Transaction"].as_array().unwrap();
    assert!(!items.is_empty());
    for t in items {
        assert_eq!(
            t["CreditDebitIndicator"], "Credit",
            "ReadTransactionsCredits alone shows only credits"
        );
        for detail in ["TransactionInformation", "Balance", "MerchantDetails"] {
            assert!(t.get(detail).is_none(), "Basic drops {detail}");
        }
    }
    // No permission, no endpoint.
    for path in [
        format!("/aisp/accounts/{id}/balances"),
        format!("/aisp/accounts/{id}/beneficiaries"),
        "/aisp/party".to_string(),
    ] {
        let answer = api.get(&path, &token).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert_schema(&AIS, "403Error", &answer.body);
        assert_error_schema(&answer.body);
        assert_eq!(
            answer.body["Errors"][0]["ErrorCode"],
            "UK.OBIE.Resource.ConsentMismatch"
        );
    }
    // Detail shows what Basic hides.
    let intent = account_consent(&api, &cc, json!({ "Permissions": ["ReadAccountsDetail", "ReadTransactionsDetail", "ReadTransactionsDebits"] })).await;
    let token = authorise(
        &server,
        &intent,
        "accounts",
        ("mia.salaried", "sandbox-mia-2026"),
        None,
    )
    .await;
    let accounts = api.read("/aisp/accounts", &token, "200AccountsRead").await;
    let card = accounts["Data"]["Account"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["AccountSubType"] == "CreditCard")
        .unwrap()
        .clone();
    let pan = card["Account"][0]["Identification"].as_str().unwrap();
    assert!(
        pan.contains("******"),
        "without ReadPAN the card number is masked: {pan}"
    );
    let transactions = api
        .read(
            &format!("/aisp/accounts/{id}/transactions?{range}"),
            &token,
            "200AccountsAccountIdTransactionsRead",
        )
        .await;
    for t in transactions["Data"]["Transaction"].as_array().unwrap() {
        assert_eq!(t["CreditDebitIndicator"], "Debit");
        assert!(t.get("TransactionInformation").is_some() && t.get("Balance").is_some());
    }
}
both!(permissions_filter_fields, demo);

pub fn payment_initiation(amount: &str) -> Value {
    json!({
        "Data": { "Initiation": {
            "InstructionIdentification": "INSTR-0001",
            "EndToEndIdentification": "E2E-0001",
            "InstructedAmount": { "Amount": amount, "Currency": "GBP" },
            "CreditorAccount": { "SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "00123412345678", "Name": "Test Payee" },
            "RemittanceInformation": { "Reference": "SANDBOX TEST" },
        } },
        "Risk": { "PaymentContextCode": "PartyToParty" },
    })
}

/// A domestic-payment consent for `body`, created with the client-credentials token
/// `cc` under the idempotency key `key`; returns its ConsentId.
pub async fn payment_consent(api: &Api<'_>, cc: &str, body: &Value, key: &str) -> String {
    let created = api
        .call(
            "POST",
            "/pisp/domestic-payment-consents",
            cc,
            Some(body),
            &[("x-idempotency-key", key)],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_schema(&PIS, "201DomesticPaymentConsentsCreated", &created.body);
    created.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Pays the consent `consent_id` (created from `body`) with the customer's token
/// `payer`; returns the DomesticPaymentId.
pub async fn pay(api: &Api<'_>, payer: &str, body: &Value, consent_id: &str, key: &str) -> String {
    let mut payment = body.clone();
    payment["Data"]["ConsentId"] = json!(consent_id);
    let paid = api
        .call(
            "POST",
            "/pisp/domestic-payments",
            payer,
            Some(&payment),
            &[("x-idempotency-key", key)],
        )
        .await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    assert_schema(&PIS, "201DomesticPaymentsCreated", &paid.body);
    paid.body["Data"]["DomesticPaymentId"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn domestic_payment_end_to_end(server: TestServer) {
    let api = Api::new(&server);
    let mia = ("mia.salaried", "sandbox-mia-2026");
    let cc_accounts = client_token(&server, "accounts").await;
    let intent = account_consent(&api, &cc_accounts, json!({ "Permissions": ["ReadAccountsDetail", "ReadBalances", "ReadTransactionsDetail", "ReadTransactionsDebits", "ReadTransactionsCredits"] })).await;
    let reader = authorise(&server, &intent, "accounts", mia, None).await;
    let accounts = api.read("/aisp/accounts", &reader, "200AccountsRead").await;
    let current = accounts["Data"]["Account"][0]["AccountId"]
        .as_str()
        .unwrap()
        .to_string();
    let booked = |body: &Value| -> i64 {
        amount(
            body["Data"]["Balance"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["Type"] == "InterimBooked")
                .unwrap(),
        )
    };
    let before = booked(
        &api.read(
            &format!("/aisp/accounts/{current}/balances"),
            &reader,
            "200AccountsAccountIdBalancesRead",
        )
        .await,
    );

    // The consent, with an idempotency key: the same key and body replay it.
    let cc = client_token(&server, "payments").await;
    let body = payment_initiation("42.50");
    let key = [("x-idempotency-key", "consent-key-1")];
    let created = api
        .call(
            "POST",
            "/pisp/domestic-payment-consents",
            &cc,
            Some(&body),
            &key,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_schema(&PIS, "201DomesticPaymentConsentsCreated", &created.body);
    let consent_id = created.body["Data"]["ConsentId"]
        .as_str()
        .unwrap()
        .to_string();
    let again = api
        .call(
            "POST",
            "/pisp/domestic-payment-consents",
            &cc,
            Some(&body),
            &key,
        )
        .await;
    assert_eq!(
        (again.status, again.body["Data"]["ConsentId"].as_str()),
        (StatusCode::CREATED, Some(consent_id.as_str()))
    );
    let other = api
        .call(
            "POST",
            "/pisp/domestic-payment-consents",
            &cc,
            Some(&payment_initiation("99.00")),
            &key,
        )
        .await;
    assert_eq!(
        other.status,
        StatusCode::BAD_REQUEST,
        "same key, another body"
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM ob_consents WHERE kind = 'domestic-payment'")
            .await,
        1
    );

    let payer = authorise(&server, &consent_id, "payments", mia, Some(0)).await;
    let funds = api
        .get(
            &format!("/pisp/domestic-payment-consents/{consent_id}/funds-confirmation"),
            &payer,
        )
        .await;
    assert_eq!(funds.status, StatusCode::OK, "{}", funds.body);
    assert_schema(
        &PIS,
        "200DomesticPaymentConsentsConsentIdFundsConfirmationRead",
        &funds.body,
    );
    assert_eq!(
        funds.body["Data"]["FundsAvailableResult"]["FundsAvailable"],
        true
    );

    let mut payment = body.clone();
    payment["Data"]["ConsentId"] = json!(consent_id);
    let key = [("x-idempotency-key", "payment-key-1")];
    let paid = api
        .call(
            "POST",
            "/pisp/domestic-payments",
            &payer,
            Some(&payment),
            &key,
        )
        .await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    assert_schema(&PIS, "201DomesticPaymentsCreated", &paid.body);
    assert_eq!(paid.body["Data"]["Status"], "AcceptedSettlementInProcess");
    let payment_id = paid.body["Data"]["DomesticPaymentId"]
        .as_str()
        .unwrap()
        .to_string();
    let replay = api
        .call(
            "POST",
            "/pisp/domestic-payments",
            &payer,
            Some(&payment),
            &key,
        )
        .await;
    assert_eq!(
        replay.body["Data"]["DomesticPaymentId"],
        payment_id.as_str(),
        "a retry replays the payment"
    );
    let second = api
        .call(
            "POST",
            "/pisp/domestic-payments",
            &payer,
            Some(&payment),
            &[("x-idempotency-key", "payment-key-2")],
        )
        .await;
    assert_eq!(
        second.status,
        StatusCode::BAD_REQUEST,
        "a consent pays once"
    );
    assert_eq!(
        second.body["Errors"][0]["ErrorCode"],
        "UK.OBIE.Resource.InvalidConsentStatus"
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM sandbox_payments").await,
        1
    );

    // The payment is in the account's transactions and balance.
    let after = booked(
        &api.read(
            &format!("/aisp/accounts/{current}/balances"),
            &reader,
            "200AccountsAccountIdBalancesRead",
        )
        .await,
    );
    assert_eq!(before - after, 4250);
    let recent = api.read(&format!("/aisp/accounts/{current}/transactions?fromBookingDateTime=2020-01-01T00:00:00&toBookingDateTime=2100-01-01T00:00:00"), &reader, "200AccountsAccountIdTransactionsRead").await;
    let mut page = recent;
    let mut found = false;
    loop {
        found |= page["Data"]["Transaction"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["TransactionId"] == payment_id.as_str() && t["Amount"]["Amount"] == "42.50");
        let Some(next) = page["Links"]["Next"].as_str() else {
            break;
        };
        page = api.get(next, &reader).await.body;
    }
    assert!(found, "the payment shows in the account's transactions");

    // Its status moves on over time.
    server.state.clock.advance(31);
    let read = api
        .get(&format!("/pisp/domestic-payments/{payment_id}"), &cc)
        .await;
    assert_schema(&PIS, "200DomesticPaymentsDomesticPaymentIdRead", &read.body);
    assert_eq!(read.body["Data"]["Status"], "AcceptedSettlementCompleted");
}
both!(domestic_payment_end_to_end, demo);

async fn bad_requests_are_refused_and_write_nothing(server: TestServer) {
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts payments reference").await;
    let consents_before = server.count("SELECT COUNT(*) FROM ob_consents").await;
    let check = |answer: &Answer, status: StatusCode, code: &str| {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(
            answer.body["Errors"][0]["ErrorCode"], code,
            "{}",
            answer.body
        );
        assert_error_schema(&answer.body);
    };
    // Consent bodies.
    let post = async |body: Value| {
        api.call(
            "POST",
            "/aisp/account-access-consents",
            &cc,
            Some(&body),
            &[],
        )
        .await
    };
    check(
        &post(json!({ "Data": {}, "Risk": {} })).await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Field.Missing",
    );
    check(
        &post(json!({ "Data": { "Permissions": ["ReadAccountsBasic"] } })).await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Field.Missing",
    );
    check(
        &post(json!({ "Data": { "Permissions": ["ReadEverything"] }, "Risk": {} })).await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Field.Invalid",
    );
    check(
        &post(json!({ "Data": { "Permissions": ["ReadTransactionsBasic"] }, "Risk": {} })).await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Field.Invalid",
    );
    check(&post(json!({ "Data": { "Permissions": ["ReadAccountsBasic"], "ExpirationDateTime": "2001-01-01T00:00:00+00:00" }, "Risk": {} })).await, StatusCode::BAD_REQUEST, "UK.OBIE.Field.InvalidDate");
    check(&post(json!({ "Data": { "Permissions": ["ReadAccountsBasic"], "TransactionFromDateTime": "yesterday" }, "Risk": {} })).await, StatusCode::BAD_REQUEST, "UK.OBIE.Field.InvalidDate");
    let raw = api
        .http
        .post(format!(
            "{}{BASE}/aisp/account-access-consents",
            server.base
        ))
        .bearer_auth(&cc)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM ob_consents").await,
        consents_before,
        "nothing written"
    );

    // Tokens: none, garbage, the wrong kind.
    let answer = api.get("/aisp/accounts", "not-a-token").await;
    check(&answer, StatusCode::UNAUTHORIZED, "UK.OBIE.Reauthenticate");
    assert!(answer.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    check(
        &api.get("/aisp/accounts", &cc).await,
        StatusCode::FORBIDDEN,
        "UK.OBIE.Resource.ConsentMismatch",
    );
    let bad_interaction = api
        .call(
            "GET",
            "/reference/branches",
            &cc,
            None,
            &[("x-fapi-interaction-id", "not-a-uuid")],
        )
        .await;
    check(
        &bad_interaction,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Header.Invalid",
    );
    let branches = api.get("/reference/branches", &cc).await;
    assert_eq!(branches.status, StatusCode::OK);
    assert!(branches.body["Data"]["Branch"].as_array().unwrap().len() >= 3);
    for path in ["/reference/products", "/reference/fx-rates"] {
        assert_eq!(api.get(path, &cc).await.status, StatusCode::OK, "{path}");
    }

    // Account data: another customer's account, a range that is not one, paging past the end.
    let intent = account_consent(&api, &cc, json!({ "Permissions": ["ReadAccountsBasic", "ReadBalances", "ReadTransactionsBasic", "ReadTransactionsCredits", "ReadTransactionsDebits"] })).await;
    let token = authorise(
        &server,
        &intent,
        "accounts",
        ("mia.salaried", "sandbox-mia-2026"),
        Some(0),
    )
    .await;
    check(
        &api.get("/reference/branches", &token).await,
        StatusCode::FORBIDDEN,
        "UK.OBIE.Resource.ConsentMismatch",
    );
    check(
        &api.call(
            "POST",
            "/aisp/account-access-consents",
            &token,
            Some(&json!({ "Data": { "Permissions": ["ReadAccountsBasic"] }, "Risk": {} })),
            &[],
        )
        .await,
        StatusCode::FORBIDDEN,
        "UK.OBIE.Resource.ConsentMismatch",
    );
    let mine = api.get("/aisp/accounts", &token).await.body["Data"]["Account"][0]["AccountId"]
        .as_str()
        .unwrap()
        .to_string();
    let dataset_seed: i64 = sqlx::query_scalar("SELECT seed FROM sandbox_datasets")
        .fetch_one(server.pool())
        .await
        .unwrap();
    let dataset = sandbox_data::Dataset::generate(dataset_seed as u64);
    let theirs = &dataset.customer("priya.gig").unwrap().accounts[0].id;
    let not_consented = &dataset.customer("mia.salaried").unwrap().accounts[1].id;
    for id in [
        theirs.as_str(),
        not_consented.as_str(),
        "acc-0000000000000000",
    ] {
        let answer = api
            .get(&format!("/aisp/accounts/{id}/balances"), &token)
            .await;
        // The specification lists no 404 for balances: an account outside the
        // consent is a 403, the same for every such id.
        check(
            &answer,
            StatusCode::FORBIDDEN,
            "UK.OBIE.Resource.ConsentMismatch",
        );
        assert!(
            !answer.body.to_string().contains("Amount"),
            "nothing leaked"
        );
    }
    let t = format!("/aisp/accounts/{mine}/transactions");
    check(
        &api.get(
            &format!(
                "{t}?fromBookingDateTime=2026-05-01T00:00:00&toBookingDateTime=2026-04-01T00:00:00"
            ),
            &token,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Field.InvalidDate",
    );
    check(
        &api.get(&format!("{t}?fromBookingDateTime=last-week"), &token)
            .await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Field.InvalidDate",
    );
    check(&api.get(&format!("{t}?fromBookingDateTime=2026-01-01T00:00:00&toBookingDateTime=2026-01-31T00:00:00&page=2470000.0"), &token).await, StatusCode::BAD_REQUEST, "UK.OBIE.Field.Invalid");
    check(
        &api.get(&format!("{t}?page=garbage"), &token).await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Field.Invalid",
    );

    // Payments: idempotency keys missing or malformed, wrong currency, bad account.
    let body = payment_initiation("10.00");
    let pisp = "/pisp/domestic-payment-consents";
    check(
        &api.call("POST", pisp, &cc, Some(&body), &[]).await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Header.Missing",
    );
    let long_key = "k".repeat(41);
    check(
        &api.call(
            "POST",
            pisp,
            &cc,
            Some(&body),
            &[("x-idempotency-key", &long_key)],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Header.Invalid",
    );
    // One field of a valid consent changed at a time: (JSON pointer, value, error code).
    for (n, (pointer, value, code)) in [
        (
            "/Data/Initiation/InstructedAmount/Currency",
            "EUR",
            "UK.OBIE.Unsupported.Currency",
        ),
        (
            "/Data/Initiation/InstructedAmount/Amount",
            "-5",
            "UK.OBIE.Field.Invalid",
        ),
        (
            "/Data/Initiation/CreditorAccount/Identification",
            "12",
            "UK.OBIE.Unsupported.AccountIdentifier",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut changed = body.clone();
        *changed.pointer_mut(pointer).unwrap() = json!(value);
        let key = format!("k-bad-{n}");
        let answer = api
            .call(
                "POST",
                pisp,
                &cc,
                Some(&changed),
                &[("x-idempotency-key", &key)],
            )
            .await;
        check(&answer, StatusCode::BAD_REQUEST, code);
    }
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM ob_consents WHERE kind = 'domestic-payment'")
            .await,
        0
    );

    // Expired, then revoked consents.
    let soon = time::OffsetDateTime::from_unix_timestamp(server.state.clock.now() + 120)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let intent = account_consent(
        &api,
        &cc,
        json!({ "Permissions": ["ReadAccountsBasic"], "ExpirationDateTime": soon }),
    )
    .await;
    let token = authorise(
        &server,
        &intent,
        "accounts",
        ("mia.salaried", "sandbox-mia-2026"),
        None,
    )
    .await;
    assert_eq!(
        api.get("/aisp/accounts", &token).await.status,
        StatusCode::OK
    );
    server.state.clock.advance(150);
    check(
        &api.get("/aisp/accounts", &token).await,
        StatusCode::FORBIDDEN,
        "UK.OBIE.Resource.InvalidConsentStatus",
    );
    let intent = account_consent(&api, &cc, json!({ "Permissions": ["ReadAccountsBasic"] })).await;
    let token = authorise(
        &server,
        &intent,
        "accounts",
        ("mia.salaried", "sandbox-mia-2026"),
        None,
    )
    .await;
    let deleted = api
        .call(
            "DELETE",
            &format!("/aisp/account-access-consents/{intent}"),
            &cc,
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    check(
        &api.get("/aisp/accounts", &token).await,
        StatusCode::UNAUTHORIZED,
        "UK.OBIE.Reauthenticate",
    );
    let read = api
        .get(&format!("/aisp/account-access-consents/{intent}"), &cc)
        .await;
    assert_eq!(read.body["Data"]["Status"], "Revoked");

    // A path that is no endpoint: an OBIE 404 in JSON, with or without a token.
    check(
        &api.get("/aisp/nothing-here", &cc).await,
        StatusCode::NOT_FOUND,
        "UK.OBIE.Resource.NotFound",
    );
    check(
        &api.call("POST", "/pisp/unknown/1", "", Some(&json!({})), &[])
            .await,
        StatusCode::NOT_FOUND,
        "UK.OBIE.Resource.NotFound",
    );
}
both!(bad_requests_are_refused_and_write_nothing, demo);

/// Another organisation's app sees none of this one's consents.
async fn consents_stay_in_their_organisation(server: TestServer) {
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts").await;
    let intent = account_consent(&api, &cc, json!({ "Permissions": ["ReadAccountsBasic"] })).await;
    let other = server
        .partner_admin("other@fintech.example", "12345679")
        .await;
    let owner = user_id(&server, "other@fintech.example").await;
    let fields = app_fields("Other app", &owner, "client_secret_basic", "");
    let (_, client_id, secret) = register_app(&other, &fields).await;
    let secret = secret.unwrap();
    let token = oauth_client(&server, &client_id, &secret, DEMO_REDIRECT)
        .exchange_client_credentials()
        .add_scope(Scope::new("accounts".into()))
        .request_async(&oauth_http())
        .await
        .unwrap();
    let foreign = token.access_token().secret();
    for method in ["GET", "DELETE"] {
        let answer = api
            .call(
                method,
                &format!("/aisp/account-access-consents/{intent}"),
                foreign,
                None,
                &[],
            )
            .await;
        // The specification lists no 404 here: another app's consent is the same
        // 400 as one that does not exist.
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{method}");
        assert_eq!(
            answer.body["Errors"][0]["ErrorCode"], "UK.OBIE.Resource.NotFound",
            "{method}"
        );
        assert_error_schema(&answer.body);
    }
    let read = api
        .get(&format!("/aisp/account-access-consents/{intent}"), &cc)
        .await;
    assert_eq!(
        read.body["Data"]["Status"], "AwaitingAuthorisation",
        "untouched"
    );
}
both!(consents_stay_in_their_organisation, demo);

/// A DPoP-bound token must come with a proof for this very request and token.
async fn dpop_bound_tokens_at_the_resource_server(server: TestServer) {
    let key = PartnerKey::new("dpop-key");
    let token_url = format!("{}/oauth/token", server.base);
    let proof = key.dpop(&server, "POST", &token_url, json!({}), None);
    let (status, _, body) = oauth_post(
        &server,
        "/oauth/token",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("grant_type", "client_credentials"), ("scope", "reference")],
        Some(&proof),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    let url = format!("{}{BASE}/reference/branches", server.base);
    let http = oauth_http();
    let send = |scheme: &str, proof: Option<String>| {
        let mut request = http
            .get(&url)
            .header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    assert_eq!(
        send("Bearer", None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "a bound token is not a bearer token"
    );
    assert_eq!(
        send("DPoP", None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "a proof is required"
    );
    let wrong_ath = key.dpop(&server, "GET", &url, json!({ "ath": "AAAA" }), None);
    assert_eq!(
        send("DPoP", Some(wrong_ath)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let other_key = PartnerKey::new("other");
    let ath = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()),
    );
    let foreign = other_key.dpop(&server, "GET", &url, json!({ "ath": ath }), None);
    assert_eq!(
        send("DPoP", Some(foreign)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "another key's proof"
    );
    let good = key.dpop(&server, "GET", &url, json!({ "ath": ath }), None);
    assert_eq!(
        send("DPoP", Some(good.clone())).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        send("DPoP", Some(good)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "a replayed proof"
    );
}
both!(dpop_bound_tokens_at_the_resource_server, demo);

/// Revoking a token or its credential stops it at the API at once; the API counts
/// against the client's rate limit.
async fn revocation_and_rate_limit_reach_the_api(server: TestServer) {
    let api = Api::new(&server);
    let cc = client_token(&server, "reference").await;
    assert_eq!(
        api.get("/reference/fx-rates", &cc).await.status,
        StatusCode::OK
    );
    let (status, _, _) = oauth_post(
        &server,
        "/oauth/revoke",
        Some((DEMO_ID, DEMO_SECRET)),
        &[("token", &cc)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get("/reference/fx-rates", &cc).await.status,
        StatusCode::UNAUTHORIZED
    );

    let cc = client_token(&server, "reference").await;
    assert_eq!(
        api.get("/reference/fx-rates", &cc).await.status,
        StatusCode::OK
    );
    sqlx::query("UPDATE credentials SET revoked_at = 1 WHERE app_id = (SELECT id FROM apps WHERE client_id = $1)")
        .bind(DEMO_ID)
        .execute(server.pool())
        .await
        .unwrap();
    // Written by another process (nothing tells this one's cache): it takes effect
    // once the cached state expires, within a second.
    tokio::time::sleep(app::oauth::cache::TTL + std::time::Duration::from_millis(100)).await;
    assert_eq!(
        api.get("/reference/fx-rates", &cc).await.status,
        StatusCode::UNAUTHORIZED,
        "a revoked credential's tokens stop"
    );
    sqlx::query("UPDATE credentials SET revoked_at = NULL WHERE app_id = (SELECT id FROM apps WHERE client_id = $1)")
        .bind(DEMO_ID)
        .execute(server.pool())
        .await
        .unwrap();
    server.forget_cached_state();

    sqlx::query("UPDATE apps SET rate_limit_per_minute = 5 WHERE client_id = $1")
        .bind(DEMO_ID)
        .execute(server.pool())
        .await
        .unwrap();
    server.forget_cached_state();
    // A lowered limit applies from the client's next window (on PostgreSQL what it
    // already used in this one counts against the new limit).
    server.state.clock.advance(61);
    let cc = client_token(&server, "reference").await;
    let mut limited = None;
    for _ in 0..10 {
        let answer = api.get("/reference/branches", &cc).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the rate limit applies to API calls");
    assert!(limited.headers.contains_key("retry-after"));
}
both!(revocation_and_rate_limit_reach_the_api, demo);

/// The portal's dataset page: the downloads are the CLI's bytes, a reset draws a new seed.
async fn dataset_downloads_and_reset(server: TestServer) {
    let partner = server.demo_partner().await;
    let (status, html) = partner.text("/sandbox/data").await;
    assert_eq!(status, StatusCode::OK);
    let seed: u64 = crate::common::element_text(&html, "seed")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        html.matches("acc-").count() >= 17,
        "the accounts are listed"
    );

    let range = "from=2026-09-01&to=2026-09-30";
    let response = partner
        .get(&format!(
            "/sandbox/data/dataset.json?{range}&persona=salaried"
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("dataset.json"));
    let bytes = response.bytes().await.unwrap();
    let selection = sandbox_data::export::Selection {
        persona: Some(sandbox_data::Persona::Salaried),
        from: time::macros::date!(2026 - 09 - 01),
        to: time::macros::date!(2026 - 09 - 30),
    };
    let mut expected = Vec::new();
    sandbox_data::export::write_json(
        &sandbox_data::Dataset::generate(seed),
        &selection,
        &mut expected,
    )
    .unwrap();
    assert_eq!(
        bytes.as_ref(),
        expected.as_slice(),
        "the download is what the CLI writes for the same seed"
    );
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["customers"].as_array().unwrap().len(), 1);
    assert_eq!(json["synthetic"], "gatehouse-synthetic");
    let csv = partner
        .get(&format!("/sandbox/data/transactions.csv?{range}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("account_id,transaction_id,booking_date_time,amount"));
    assert!(csv.lines().count() > 100);

    for (query, status) in [
        (
            "dataset.json?from=2026-10-01&to=2026-09-01",
            StatusCode::BAD_REQUEST,
        ),
        (
            "dataset.json?from=2020-01-01&to=2026-09-01",
            StatusCode::BAD_REQUEST,
        ),
        ("dataset.json?from=yesterday", StatusCode::BAD_REQUEST),
        ("dataset.json?persona=astronaut", StatusCode::BAD_REQUEST),
        ("secrets.txt", StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            partner
                .get(&format!("/sandbox/data/{query}"))
                .await
                .status(),
            status,
            "{query}"
        );
    }
    // Signed out: sign in first.
    let anonymous = server.client();
    assert_eq!(
        anonymous.get("/sandbox/data/dataset.json").await.status(),
        StatusCode::SEE_OTHER
    );

    // Reset: confirmation required, then a new seed, and the old payments are gone.
    let response = partner
        .submit("/sandbox/data", "/sandbox/data/reset", &[])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        server
            .count(&format!(
                "SELECT COUNT(*) FROM sandbox_datasets WHERE seed = {seed}"
            ))
            .await,
        1
    );
    let response = partner
        .submit(
            "/sandbox/data",
            "/sandbox/data/reset",
            &[("confirm", "yes")],
        )
        .await;
    assert_location(&response, "/sandbox/data");
    let (_, html) = partner.text("/sandbox/data").await;
    let new_seed: u64 = crate::common::element_text(&html, "seed")
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(new_seed, seed);
    assert!(server
        .audit_actions()
        .await
        .contains(&"sandbox.dataset_reset".to_string()));
}
both!(dataset_downloads_and_reset, demo);
