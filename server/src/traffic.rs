//! `gatehouse traffic`: a small traffic generator for a running Gatehouse, so anyone
//! can watch the usage charts fill and each anomaly rule fire. It calls the real
//! token endpoint and sandbox API over HTTP, as a partner's software would.
//!
//! Patterns (`--pattern`):
//! - `normal`: a token, then account-access consents created and read, at `--rate`
//!   calls a minute (default 8: below the traffic-spike floor of 600 an hour, so a
//!   client without a baseline stays quiet), for `--minutes`;
//! - `auth-failures`: 12 token requests with a wrong secret (the authentication-failure
//!   burst of the source address: a failed authentication is not the client's);
//! - `grant-failures`: 12 refresh tokens the client does not hold, sent with its real
//!   secret (the client's own authentication-failure burst);
//! - `enumeration`: 25 reads of accounts that are not the client's (403 for many
//!   distinct ids);
//! - `scope`: payment consents (calls outside the client's scopes, for a client that
//!   does not hold `payments`: the demo app does, so register one with `accounts`
//!   only and pass its id and secret);
//! - `new-endpoint`: a call to an endpoint the client never used (after a day of
//!   history);
//! - `spike`: 300 calls in about a minute (a traffic spike against the baseline);
//! - `rate-limit`: calls as fast as possible for `--minutes` (at least 4), so the
//!   client's rate limit answers 429 minute after minute (rate-limit saturation);
//! - `new-network` and `allow-list`: token requests presenting another source
//!   address in `X-Forwarded-For` (`--forwarded-for`, default a random public
//!   address); the server must trust this machine as a proxy
//!   (`--trusted-proxies 127.0.0.1/32`), and the client must be a production client
//!   (`--token-path /production/oauth/token`).
//!
//! Alerts are evaluated each minute over complete minutes: they appear on `/alerts`
//! a minute or two after the pattern ran.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// What to send, and to whom.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: String,
    pub token_path: String,
    pub api_path: String,
    pub client_id: String,
    pub client_secret: String,
    pub pattern: String,
    pub minutes: u64,
    pub rate: u64,
    pub forwarded_for: Option<String>,
}

pub const PATTERNS: [&str; 10] = [
    "normal",
    "auth-failures",
    "grant-failures",
    "enumeration",
    "scope",
    "new-endpoint",
    "spike",
    "rate-limit",
    "new-network",
    "allow-list",
];

/// Answers by status, for the report.
#[derive(Default)]
struct Tally(std::collections::BTreeMap<u16, u64>);

impl Tally {
    fn add(&mut self, status: u16) {
        *self.0.entry(status).or_insert(0) += 1;
    }
    fn line(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(s, n)| format!("{n}× {s}")).collect();
        parts.join(", ")
    }
}

struct Caller {
    http: reqwest::Client,
    plan: Plan,
    tally: Tally,
}

impl Caller {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.plan.target.trim_end_matches('/'), path)
    }

    async fn token(
        &mut self,
        secret: &str,
        scope: &str,
        forwarded: Option<&str>,
    ) -> Option<String> {
        let mut request = self
            .http
            .post(self.url(&self.plan.token_path))
            .basic_auth(&self.plan.client_id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)]);
        if let Some(address) = forwarded {
            request = request.header("x-forwarded-for", address);
        }
        let response = request.send().await.ok()?;
        self.tally.add(response.status().as_u16());
        let body: Value = response.json().await.ok()?;
        body["access_token"].as_str().map(str::to_string)
    }

    /// A refresh-token grant, with the client's real secret.
    async fn refresh(&mut self, refresh_token: &str) {
        let request = self
            .http
            .post(self.url(&self.plan.token_path))
            .basic_auth(&self.plan.client_id, Some(&self.plan.client_secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ]);
        if let Ok(response) = request.send().await {
            self.tally.add(response.status().as_u16());
        }
    }

    async fn api(
        &mut self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        let url = format!("{}{}", self.url(&self.plan.api_path), path);
        let mut request = self.http.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.ok()?;
        self.tally.add(response.status().as_u16());
        response.json().await.ok()
    }

    /// A token with the `accounts` scope, or why there is none.
    async fn session(&mut self) -> Result<String, String> {
        let secret = self.plan.client_secret.clone();
        self.token(&secret, "accounts", None)
            .await
            .ok_or_else(|| "no token: check the client id and secret".to_string())
    }

    async fn read_consent(&mut self, token: &str, id: &str) {
        let path = format!("/aisp/account-access-consents/{id}");
        self.api(token, reqwest::Method::GET, &path, None).await;
    }

    async fn consent(&mut self, token: &str) -> Option<String> {
        let body = json!({
            "Data": { "Permissions": ["ReadAccountsDetail", "ReadBalances"] },
            "Risk": {}
        });
        let created = self
            .api(
                token,
                reqwest::Method::POST,
                "/aisp/account-access-consents",
                Some(body),
            )
            .await?;
        created["Data"]["ConsentId"].as_str().map(str::to_string)
    }
}

fn random_public_address() -> String {
    let [a, b, c] = app::platform::crypto::random_bytes::<3>();
    // 45.0.0.0/8 and nearby: public unicast, never a private or reserved range.
    format!("{}.{a}.{b}.{}", 45 + (c % 8), 1 + (c % 250))
}

/// Runs the plan; prints what was sent and what came back.
pub async fn run(plan: Plan) -> Result<String, String> {
    if !PATTERNS.contains(&plan.pattern.as_str()) {
        return Err(format!(
            "unknown pattern {}: one of {}",
            plan.pattern,
            PATTERNS.join(", ")
        ));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let mut caller = Caller {
        http,
        plan: plan.clone(),
        tally: Tally::default(),
    };
    let secret = plan.client_secret.clone();
    let started = Instant::now();
    match plan.pattern.as_str() {
        "normal" => {
            let deadline = started + Duration::from_secs(plan.minutes.max(1) * 60);
            // Two calls a round: the consent is created, then read.
            let pause = Duration::from_millis(120_000 / plan.rate.clamp(1, 6000));
            let mut token = None;
            while Instant::now() < deadline {
                if token.is_none() {
                    token = caller.token(&secret, "accounts", None).await;
                }
                if let Some(t) = token.clone() {
                    if let Some(id) = caller.consent(&t).await {
                        caller.read_consent(&t, &id).await;
                    } else {
                        token = None;
                    }
                }
                tokio::time::sleep(pause).await;
            }
        }
        "auth-failures" => {
            for _ in 0..12 {
                caller.token("a-wrong-secret", "accounts", None).await;
            }
        }
        "grant-failures" => {
            for n in 0..12 {
                caller.refresh(&format!("not-this-clients-{n}")).await;
            }
        }
        "enumeration" => {
            let token = caller.session().await?;
            for n in 0..25 {
                let path = format!("/aisp/accounts/acc-guess-{n:04}");
                caller.api(&token, reqwest::Method::GET, &path, None).await;
            }
        }
        "scope" => {
            let token = caller.session().await?;
            for _ in 0..3 {
                let body = json!({ "Data": { "Initiation": {
                    "InstructionIdentification": "traffic", "EndToEndIdentification": "traffic",
                    "InstructedAmount": { "Amount": "1.00", "Currency": "GBP" },
                    "CreditorAccount": { "SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "08080021325698", "Name": "Test" }
                } }, "Risk": {} });
                caller
                    .api(
                        &token,
                        reqwest::Method::POST,
                        "/pisp/domestic-payment-consents",
                        Some(body),
                    )
                    .await;
            }
        }
        "new-endpoint" => {
            let token = caller.session().await?;
            caller
                .api(&token, reqwest::Method::GET, "/aisp/accounts", None)
                .await;
        }
        "spike" => {
            let token = caller.session().await?;
            let id = caller
                .consent(&token)
                .await
                .ok_or("could not create a consent")?;
            for _ in 0..300 {
                caller.read_consent(&token, &id).await;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
        "rate-limit" => {
            let token = caller.session().await?;
            let id = caller
                .consent(&token)
                .await
                .ok_or("could not create a consent")?;
            let deadline = started + Duration::from_secs(plan.minutes.max(4) * 60);
            while Instant::now() < deadline {
                caller.read_consent(&token, &id).await;
            }
        }
        _ => {
            // new-network, allow-list: token requests from another address.
            let address = plan
                .forwarded_for
                .clone()
                .unwrap_or_else(random_public_address);
            for _ in 0..3 {
                caller.token(&secret, "accounts", Some(&address)).await;
            }
        }
    }
    Ok(format!(
        "{}: {} in {} s ({})",
        plan.pattern,
        caller.tally.0.values().sum::<u64>(),
        started.elapsed().as_secs(),
        caller.tally.line()
    ))
}
