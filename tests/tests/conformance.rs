//! The sandbox API against the OBIE v3.1.11 specification's own rules (issue 16):
//! bulk paging, request bodies checked against the request schemas, media types,
//! every error an `OBErrorResponse1` with `x-fapi-interaction-id`, the date filters,
//! the statement filters, the status codes the specification lists, the payment
//! details endpoint, and one name per persona. Every body is schema-checked.

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::common::{Backend, TestServer};
use crate::sandbox_api::*;

async fn demo() -> TestServer {
    TestServer::start(Backend::Sqlite, true).await.unwrap()
}

/// A request with exactly these bytes and headers (no `Content-Type` unless given).
async fn raw(
    api: &Api<'_>,
    method: &str,
    path: &str,
    token: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = api
        .http
        .request(
            method.parse().unwrap(),
            format!("{}{BASE}{path}", api.server.base),
        )
        .bearer_auth(token)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
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

/// An OBIE error: this status and code, a valid `OBErrorResponse1`, and an
/// `x-fapi-interaction-id` that is a UUID.
fn obie_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.body["Errors"][0]["ErrorCode"], code,
        "{}",
        answer.body
    );
    assert_error_schema(&answer.body);
    let id = answer
        .headers
        .get("x-fapi-interaction-id")
        .unwrap_or_else(|| panic!("{status}: no x-fapi-interaction-id"))
        .to_str()
        .unwrap();
    assert!(
        id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4,
        "{id} is a UUID"
    );
    assert!(answer.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
}

fn booked_at(transaction: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(transaction["BookingDateTime"].as_str().unwrap(), &Rfc3339).unwrap()
}

/// Every page from `path` on, following `Links.Next`; each page checked against
/// `response` and at most 100 transactions long.
async fn all_pages(api: &Api<'_>, path: &str, token: &str, response: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut page = api.read(path, token, response).await;
    loop {
        let items = page["Data"]["Transaction"].as_array().unwrap();
        assert!(items.len() <= 100, "a page holds at most 100");
        out.extend(items.iter().cloned());
        let Some(next) = page["Links"]["Next"].as_str() else {
            return out;
        };
        page = api.read(next, token, response).await;
        assert!(out.len() < 100_000, "paging ends");
    }
}

const READ_ALL: [&str; 5] = [
    "ReadAccountsDetail",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadStatementsDetail",
];

/// Item 1: the bulk endpoint pages across accounts and returns everything the
/// per-account endpoints return, no more and no less.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_transactions_are_paged_and_complete() {
    let server = demo().await;
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts").await;
    let intent = account_consent(&api, &cc, json!({ "Permissions": READ_ALL })).await;
    let business = ("hollow.oak", "sandbox-hollowoak-2026");
    let token = authorise(&server, &intent, "accounts", business, None).await;
    let accounts = api.read("/aisp/accounts", &token, "200AccountsRead").await;
    let mut expected = Vec::new();
    for account in accounts["Data"]["Account"].as_array().unwrap() {
        let id = account["AccountId"].as_str().unwrap();
        let path = format!("/aisp/accounts/{id}/transactions");
        expected
            .extend(all_pages(&api, &path, &token, "200AccountsAccountIdTransactionsRead").await);
    }
    assert!(expected.len() > 100, "the business has more than a page");
    let bulk = all_pages(&api, "/aisp/transactions", &token, "200TransactionsRead").await;
    let ids = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|t| format!("{}/{}", t["AccountId"], t["TransactionId"]))
            .collect()
    };
    assert_eq!(ids(&bulk), ids(&expected), "bulk = every account's pages");

    // A page token that is not one Links.Next gave out.
    for page in ["99-", "garbage", "0-1.2.3"] {
        let answer = api
            .get(&format!("/aisp/transactions?page={page}"), &token)
            .await;
        obie_error(&answer, StatusCode::BAD_REQUEST, "UK.OBIE.Field.Invalid");
    }
}

/// Items 5 and 6: the booking and statement filters take a date without a time and
/// ignore any time zone; invalid values are refused with `UK.OBIE.Field.InvalidDate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_and_statement_filters_follow_the_specification() {
    let server = demo().await;
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts").await;
    let intent = account_consent(&api, &cc, json!({ "Permissions": READ_ALL })).await;
    let mia = ("mia.salaried", "sandbox-mia-2026");
    let token = authorise(&server, &intent, "accounts", mia, Some(0)).await;
    let accounts = api.read("/aisp/accounts", &token, "200AccountsRead").await;
    let id = accounts["Data"]["Account"][0]["AccountId"]
        .as_str()
        .unwrap()
        .to_string();
    let t = format!("/aisp/accounts/{id}/transactions");
    let list = async |query: &str| {
        all_pages(
            &api,
            &format!("{t}?{query}"),
            &token,
            "200AccountsAccountIdTransactionsRead",
        )
        .await
    };
    let plain =
        list("fromBookingDateTime=2026-09-01T00:00:00&toBookingDateTime=2026-10-01T00:00:00").await;
    assert!(!plain.is_empty());
    let from = OffsetDateTime::parse("2026-09-01T00:00:00Z", &Rfc3339).unwrap();
    let to = OffsetDateTime::parse("2026-10-01T00:00:00Z", &Rfc3339).unwrap();
    assert!(plain.iter().all(|t| (from..=to).contains(&booked_at(t))));
    // The time component is optional (00:00:00)...
    let dates = list("fromBookingDateTime=2026-09-01&toBookingDateTime=2026-10-01").await;
    assert_eq!(dates, plain, "a date alone is that day at 00:00:00");
    // ...and a time zone is ignored, not converted.
    let zoned = list(
        "fromBookingDateTime=2026-09-01T00:00:00%2B05:00&toBookingDateTime=2026-10-01T00:00:00-03:00",
    )
    .await;
    assert_eq!(zoned, plain, "the time zone is ignored");
    let zulu =
        list("fromBookingDateTime=2026-09-01T00:00:00.000Z&toBookingDateTime=2026-10-01T00:00:00Z")
            .await;
    assert_eq!(zulu, plain);
    for bad in [
        "fromBookingDateTime=yesterday",
        "fromBookingDateTime=2026-13-01",
        "toBookingDateTime=2026-09-01T25:00:00",
        "fromBookingDateTime=2026-09-01T00:00:00%2B5",
        // Issue 27: offsets out of RFC 3339's range (hour 00-23, minute 00-59).
        "fromBookingDateTime=2026-11-01T00:00:00%2B99:00",
        "fromBookingDateTime=2026-11-01T00:00:00-12:60",
        "toBookingDateTime=2026-11-01T00:00:00%2B2400",
        "fromBookingDateTime=2026-10-01&toBookingDateTime=2026-09-01",
    ] {
        let answer = api.get(&format!("{t}?{bad}"), &token).await;
        obie_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "UK.OBIE.Field.InvalidDate",
        );
        assert!(answer.body["Errors"][0]["Path"]
            .as_str()
            .unwrap()
            .ends_with("BookingDateTime"));
    }

    // Statements: filtered by their period, on both statement list endpoints.
    for path in [
        format!("/aisp/accounts/{id}/statements"),
        "/aisp/statements".into(),
    ] {
        let response = if path.starts_with("/aisp/accounts") {
            "200AccountsAccountIdStatementsRead"
        } else {
            "200StatementsRead"
        };
        let all = api.read(&path, &token, response).await;
        let all = all["Data"]["Statement"].as_array().unwrap().clone();
        assert!(all.len() >= 3, "a year of monthly statements");
        let oldest = all.last().unwrap();
        let newest = all.first().unwrap();
        let start = |s: &Value| s["StartDateTime"].as_str().unwrap()[..10].to_string();
        let filtered = api
            .read(
                &format!(
                    "{path}?fromStatementDateTime={}&toStatementDateTime={}T12:00:00%2B01:00",
                    start(oldest),
                    start(oldest)
                ),
                &token,
                response,
            )
            .await;
        let filtered = filtered["Data"]["Statement"].as_array().unwrap();
        assert_eq!(filtered.len(), 1, "{path}: only the oldest statement");
        assert_eq!(filtered[0]["StatementId"], oldest["StatementId"]);
        let recent = api
            .read(
                &format!("{path}?fromStatementDateTime={}", start(newest)),
                &token,
                response,
            )
            .await;
        assert_eq!(recent["Data"]["Statement"].as_array().unwrap().len(), 1);
        for bad in [
            "fromStatementDateTime=last-month",
            "toStatementDateTime=2026-02-30",
            "fromStatementDateTime=2026-06-01&toStatementDateTime=2026-05-01",
        ] {
            let answer = api.get(&format!("{path}?{bad}"), &token).await;
            obie_error(
                &answer,
                StatusCode::BAD_REQUEST,
                "UK.OBIE.Field.InvalidDate",
            );
        }
    }

    // Item 8: an unknown statement id is a 400, an account outside the consent a 403.
    let answer = api
        .get(&format!("/aisp/accounts/{id}/statements/stm-nope"), &token)
        .await;
    obie_error(
        &answer,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Resource.NotFound",
    );
    let answer = api
        .get("/aisp/accounts/acc-0000000000000000/transactions", &token)
        .await;
    obie_error(
        &answer,
        StatusCode::FORBIDDEN,
        "UK.OBIE.Resource.ConsentMismatch",
    );
    // A parameter given twice is an OBIE 400, not axum's plain text.
    let answer = api
        .get(
            &format!("{t}?fromBookingDateTime=2026-09-01&fromBookingDateTime=2026-08-01"),
            &token,
        )
        .await;
    obie_error(&answer, StatusCode::BAD_REQUEST, "UK.OBIE.Field.Invalid");
}

/// Item 2: unknown members are refused with `UK.OBIE.Field.Unexpected` and the path,
/// nothing is written, and what the schemas allow is kept and echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_checked_against_the_request_schemas() {
    let server = demo().await;
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts payments").await;
    let before = server.count("SELECT COUNT(*) FROM ob_consents").await;
    let post = async |path: &str, body: Value, key: &str| {
        api.call(
            "POST",
            path,
            &cc,
            Some(&body),
            &[("x-idempotency-key", key)],
        )
        .await
    };
    let aac = "/aisp/account-access-consents";
    let answer = post(
        aac,
        json!({ "Data": { "Permissions": ["ReadAccountsBasic"] }, "Risk": { "Injected": "<b>x</b>" } }),
        "k1",
    )
    .await;
    obie_error(&answer, StatusCode::BAD_REQUEST, "UK.OBIE.Field.Unexpected");
    assert_eq!(answer.body["Errors"][0]["Path"], "Risk.Injected");
    let answer = post(
        aac,
        json!({ "Data": { "Permissions": ["ReadAccountsBasic"] }, "Risk": {}, "Extra": 1 }),
        "k2",
    )
    .await;
    obie_error(&answer, StatusCode::BAD_REQUEST, "UK.OBIE.Field.Unexpected");
    assert_eq!(answer.body["Errors"][0]["Path"], "Extra");

    let pdc = "/pisp/domestic-payment-consents";
    let cases = [
        ("Risk", "Risk.Injected"),
        ("Data.Initiation", "Data.Initiation.Injected"),
        (
            "Data.Initiation.CreditorAccount",
            "Data.Initiation.CreditorAccount.Injected",
        ),
        ("", "Injected"),
    ];
    for (n, (at, path)) in cases.into_iter().enumerate() {
        let mut body = payment_initiation("10.00");
        let mut target = &mut body;
        for part in at.split('.').filter(|p| !p.is_empty()) {
            target = &mut target[part];
        }
        target["Injected"] = json!("x");
        let answer = post(pdc, body, &format!("k-case-{n}")).await;
        obie_error(&answer, StatusCode::BAD_REQUEST, "UK.OBIE.Field.Unexpected");
        assert_eq!(answer.body["Errors"][0]["Path"], path);
    }
    // A member of the wrong type, a missing one, an enum value the schema lacks.
    let mut body = payment_initiation("10.00");
    body["Risk"]["PaymentContextCode"] = json!("Gambling");
    obie_error(
        &post(pdc, body, "k-enum").await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Field.Invalid",
    );
    let mut body = payment_initiation("10.00");
    body["Data"]["Initiation"]
        .as_object_mut()
        .unwrap()
        .remove("EndToEndIdentification");
    let answer = post(pdc, body, "k-missing").await;
    obie_error(&answer, StatusCode::BAD_REQUEST, "UK.OBIE.Field.Missing");
    assert_eq!(
        answer.body["Errors"][0]["Path"],
        "Data.Initiation.EndToEndIdentification"
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM ob_consents").await,
        before,
        "nothing written"
    );
    // OBReadConsent1's Data does not forbid other members: they are ignored, never
    // stored or echoed.
    let answer = post(
        aac,
        json!({ "Data": { "Permissions": ["ReadAccountsBasic"], "Extra": 1 }, "Risk": {} }),
        "k3",
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_schema(&AIS, "201AccountAccessConsentsCreated", &answer.body);
    assert!(answer.body["Data"].get("Extra").is_none());

    // What the schema allows is kept, and the response still validates.
    let mut body = payment_initiation("10.00");
    body["Risk"] = json!({ "PaymentContextCode": "EcommerceMerchantInitiatedPayment", "MerchantCategoryCode": "5411", "DeliveryAddress": { "AddressLine": ["1 High Street"], "TownName": "Leeds", "Country": "GB" } });
    let answer = post(pdc, body.clone(), "k-ok").await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_schema(&PIS, "201DomesticPaymentConsentsCreated", &answer.body);
    assert_eq!(answer.body["Risk"], body["Risk"]);
}

/// Items 3, 4 and 7: media types, and every error under the prefix in the OBIE shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_types_and_every_error_in_the_obie_shape() {
    let server = demo().await;
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts payments reference").await;
    let before = server.count("SELECT COUNT(*) FROM ob_consents").await;
    let consent = serde_json::to_vec(
        &json!({ "Data": { "Permissions": ["ReadAccountsBasic"] }, "Risk": {} }),
    )
    .unwrap();
    let payment = serde_json::to_vec(&payment_initiation("5.00")).unwrap();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/xml"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=iso-8859-1"),
        Some("application/jose+jwe"),
    ] {
        let mut headers = vec![("x-idempotency-key", "media-1")];
        if let Some(value) = content_type {
            headers.push(("content-type", value));
        }
        for (path, body) in [
            ("/aisp/account-access-consents", &consent),
            ("/pisp/domestic-payment-consents", &payment),
        ] {
            let answer = raw(&api, "POST", path, &cc, body.clone(), &headers).await;
            obie_error(
                &answer,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UK.OBIE.Header.Invalid",
            );
            assert_eq!(answer.body["Errors"][0]["Path"], "Content-Type");
        }
    }
    assert_eq!(
        server.count("SELECT COUNT(*) FROM ob_consents").await,
        before,
        "no consent from a body that is not JSON"
    );
    let ok = raw(
        &api,
        "POST",
        "/aisp/account-access-consents",
        &cc,
        consent.clone(),
        &[("content-type", "application/json; charset=utf-8")],
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);

    // Accept.
    for accept in ["application/xml", "text/html", "application/json;q=0"] {
        let answer = api
            .call(
                "GET",
                "/reference/branches",
                &cc,
                None,
                &[("accept", accept)],
            )
            .await;
        obie_error(
            &answer,
            StatusCode::NOT_ACCEPTABLE,
            "UK.OBIE.Header.Invalid",
        );
    }
    for accept in [
        "application/json",
        "*/*",
        "application/*",
        "text/html, application/json;q=0.1",
    ] {
        let answer = api
            .call(
                "GET",
                "/reference/branches",
                &cc,
                None,
                &[("accept", accept)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{accept}");
    }

    // Too large: a 413 in the OBIE shape, nothing written.
    let mut big = json!({ "Data": { "Permissions": ["ReadAccountsBasic"] }, "Risk": {} });
    big["Risk"]["Padding"] = json!("x".repeat(70 * 1024));
    let answer = raw(
        &api,
        "POST",
        "/aisp/account-access-consents",
        &cc,
        serde_json::to_vec(&big).unwrap(),
        &[("content-type", "application/json")],
    )
    .await;
    obie_error(
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "UK.OBIE.Resource.InvalidFormat",
    );

    // A method the path does not have: 405 with Allow, in the OBIE shape.
    for (method, path) in [
        ("PUT", "/aisp/accounts"),
        ("DELETE", "/pisp/domestic-payments"),
        ("PATCH", "/aisp/account-access-consents"),
    ] {
        let answer = raw(&api, method, path, &cc, Vec::new(), &[]).await;
        obie_error(
            &answer,
            StatusCode::METHOD_NOT_ALLOWED,
            "UK.OBIE.UnexpectedError",
        );
        assert!(answer.headers.contains_key("allow"), "{method} {path}");
    }

    // Unknown paths, with or without a token, and the endpoints not offered.
    for (path, token) in [
        ("/aisp/nothing-here", cc.as_str()),
        ("/aisp/nothing-here", ""),
        ("", ""),
        ("/pisp/international-payments", cc.as_str()),
        ("/pisp/file-payment-consents", cc.as_str()),
        ("/aisp/accounts/acc-1/statements/stm-1/file", cc.as_str()),
    ] {
        let answer = api.get(path, token).await;
        obie_error(&answer, StatusCode::NOT_FOUND, "UK.OBIE.Resource.NotFound");
    }
    let answer = api.get("/pisp/international-payments", &cc).await;
    assert!(answer.body["Message"]
        .as_str()
        .unwrap()
        .contains("does not offer"));
    // Errors from the guard carry the id too.
    obie_error(
        &api.get("/aisp/accounts", "not-a-token").await,
        StatusCode::UNAUTHORIZED,
        "UK.OBIE.Reauthenticate",
    );
    let bad_id = api
        .call(
            "GET",
            "/reference/branches",
            &cc,
            None,
            &[("x-fapi-interaction-id", "12345")],
        )
        .await;
    obie_error(&bad_id, StatusCode::BAD_REQUEST, "UK.OBIE.Header.Invalid");
    // An interaction id the client sends comes back on errors as well.
    let sent = "5f0c3a1e-8d2b-4c6f-9a7e-1b2c3d4e5f60";
    let answer = api
        .call(
            "GET",
            "/aisp/nothing",
            "",
            None,
            &[("x-fapi-interaction-id", sent)],
        )
        .await;
    assert_eq!(answer.headers["x-fapi-interaction-id"], sent);
}

/// Items 8 and 9: unknown payment ids are 400s; the payment-details endpoint exists
/// and follows the payment's life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_details_and_unknown_payment_ids() {
    let server = demo().await;
    let api = Api::new(&server);
    let cc = client_token(&server, "payments").await;
    let body = payment_initiation("12.00");
    let consent_id = payment_consent(&api, &cc, &body, "details-1").await;
    let mia = ("mia.salaried", "sandbox-mia-2026");
    let payer = authorise(&server, &consent_id, "payments", mia, Some(0)).await;
    let id = pay(&api, &payer, &body, &consent_id, "details-2").await;
    let path = format!("/pisp/domestic-payments/{id}/payment-details");
    let details = api.get(&path, &cc).await;
    assert_eq!(details.status, StatusCode::OK, "{}", details.body);
    assert_schema(
        &PIS,
        "200DomesticPaymentsDomesticPaymentIdPaymentDetailsRead",
        &details.body,
    );
    let statuses = |body: &Value| -> Vec<String> {
        body["Data"]["PaymentStatus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(statuses(&details.body), ["AcceptedSettlementInProcess"]);
    server.state.clock.advance(31);
    let details = api.get(&path, &cc).await;
    assert_eq!(
        statuses(&details.body),
        ["AcceptedSettlementInProcess", "AcceptedSettlementCompleted"]
    );

    for path in [
        "/pisp/domestic-payments/pay-doesnotexist",
        "/pisp/domestic-payments/pay-doesnotexist/payment-details",
    ] {
        obie_error(
            &api.get(path, &cc).await,
            StatusCode::BAD_REQUEST,
            "UK.OBIE.Resource.NotFound",
        );
    }
    obie_error(
        &api.get("/pisp/domestic-payment-consents/pdc-nope", &cc)
            .await,
        StatusCode::BAD_REQUEST,
        "UK.OBIE.Resource.NotFound",
    );
}

/// Item 10: each persona has one name: on the docs page, the consent page, its party
/// and its accounts (the KYC-mismatch persona's account records differ on purpose, as
/// the docs page says).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_persona_one_name() {
    let server = demo().await;
    let api = Api::new(&server);
    let cc = client_token(&server, "accounts").await;
    let (_, page) = server.client().text("/sandbox/docs").await;
    for customer in sandbox_data::customers::TEST_CUSTOMERS {
        assert!(
            page.contains(customer.display_name),
            "{}",
            customer.username
        );
        if let Some(records) = customer.records_name {
            assert!(page.contains(records), "the docs name the mismatch");
        }
        let intent = account_consent(
            &api,
            &cc,
            json!({ "Permissions": ["ReadAccountsDetail", "ReadParty", "ReadPartyPSU"] }),
        )
        .await;
        let token = authorise(
            &server,
            &intent,
            "accounts",
            (customer.username, customer.password),
            None,
        )
        .await;
        let psu = api.read("/aisp/party", &token, "200PartyRead").await;
        assert_eq!(psu["Data"]["Party"]["Name"], customer.display_name);
        let accounts = api.read("/aisp/accounts", &token, "200AccountsRead").await;
        for account in accounts["Data"]["Account"].as_array().unwrap() {
            let id = account["AccountId"].as_str().unwrap();
            assert_eq!(
                account["Account"][0]["Name"], customer.display_name,
                "{} holds {id}",
                customer.username
            );
            let party = api
                .read(
                    &format!("/aisp/accounts/{id}/party"),
                    &token,
                    "200AccountsAccountIdPartyRead",
                )
                .await;
            assert_eq!(
                party["Data"]["Party"]["Name"],
                customer.records_name.unwrap_or(customer.display_name)
            );
        }
    }
}
