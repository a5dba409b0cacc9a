//! The single sign-on tests' identity provider: node's certified `oidc-provider`
//! (tests/oidc, pinned in its package-lock.json, installed by `.ci/run`), started per
//! test, and a person's browser at it (its own cookie jar) who signs in on its
//! pages, as the browser test does through Chromium.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::redirect;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{input_value, Client, TestServer};

/// The id Gatehouse knows the test provider by.
pub const ID: &str = "corp";
pub const CLIENT_ID: &str = "gatehouse-staff";
pub const SECRET: &str = "a-long-test-client-secret-for-gatehouse";
pub const MFA: &str = "urn:gatehouse:test:mfa";

pub struct Idp {
    child: Child,
    pub issuer: String,
    control: reqwest::Client,
    /// For a provider on https: its CA (PEM file) and port.
    pub tls: Option<(std::path::PathBuf, u16)>,
    _dir: tempfile::TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oidc_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc");
    if dir.join("node_modules/oidc-provider").is_dir()
        && Command::new("node").arg("--version").output().is_ok()
    {
        return Some(dir);
    }
    assert!(
        std::env::var("GATEHOUSE_REQUIRE_INTEROP").is_err(),
        "oidc-provider is not installed: run npm ci --prefix tests/oidc"
    );
    eprintln!("skipping: oidc-provider is not installed (npm ci --prefix tests/oidc)");
    None
}

/// A staff account at the provider: e-mail, groups, and whether its sign-in proves
/// a second factor.
pub fn person(email: &str, groups: &[&str], mfa: bool) -> Value {
    let (acr, amr) = if mfa {
        (MFA, json!(["pwd", "mfa"]))
    } else {
        ("urn:gatehouse:test:pwd", json!(["pwd"]))
    };
    json!({
        "claims": { "email": email, "email_verified": true, "name": email.split('@').next(), "groups": groups },
        "acr": acr, "amr": amr,
    })
}

/// The `--staff-idp` value for a provider at `issuer`.
pub fn spec(issuer: &str) -> String {
    format!(
        "id={ID};label=Bank SSO;issuer={issuer};client-id={CLIENT_ID};secret={SECRET};\
         scopes=email,profile,groups;role.reviewer=gh-reviewers;role.approver=gh-approvers;\
         role.admin=gh-admins;mfa-acr={MFA};mfa-amr=mfa"
    )
}

impl Idp {
    /// Starts the provider with these accounts (`{"<username>": person(..)}`).
    pub fn start(accounts: Value) -> Option<Self> {
        Self::launch(accounts, false)
    }

    /// The same on https (`https://localhost:<port>`), with a certificate from a CA
    /// of the test's own: as a partner organisation's provider.
    pub fn start_tls(accounts: Value) -> Option<Self> {
        Self::launch(accounts, true)
    }

    fn launch(accounts: Value, tls: bool) -> Option<Self> {
        let oidc = oidc_dir()?;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("idp.json");
        let mut settings = json!({ "accounts": accounts });
        let mut ca_pem = None;
        if tls {
            let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "Partner IdP Test CA");
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            ca_params.key_usages = vec![
                rcgen::KeyUsagePurpose::KeyCertSign,
                rcgen::KeyUsagePurpose::CrlSign,
            ];
            let ca_key = rcgen::KeyPair::generate().unwrap();
            let ca_cert = ca_params.self_signed(&ca_key).unwrap();
            let issuer = rcgen::Issuer::new(ca_params, ca_key);
            let leaf_key = rcgen::KeyPair::generate().unwrap();
            let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
                .unwrap()
                .signed_by(&leaf_key, &issuer)
                .unwrap();
            std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
            std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
            std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
            settings["tls"] = json!({
                "cert": dir.path().join("cert.pem"), "key": dir.path().join("key.pem"),
            });
            ca_pem = Some(ca_cert.pem());
        }
        std::fs::write(&config, settings.to_string()).unwrap();
        let mut child = Command::new("node")
            .arg(oidc.join("idp.mjs"))
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).unwrap();
        // The rest of its output is drained (a closed pipe would end the process).
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let issuer = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("the provider did not start: {line}"))
            .to_string();
        let port: u16 = issuer.rsplit(':').next().unwrap().parse().unwrap();
        let tls = ca_pem.as_ref().map(|_| (dir.path().join("ca.pem"), port));
        let mut idp = Self {
            child,
            issuer,
            control: reqwest::Client::new(),
            tls,
            _dir: dir,
        };
        idp.control = idp.http_builder().build().unwrap();
        Some(idp)
    }

    /// A client builder that trusts this provider's certificate (and finds it).
    fn http_builder(&self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder();
        if let Some((ca, port)) = &self.tls {
            let pem = std::fs::read(ca).unwrap();
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                .resolve(
                    "localhost",
                    std::net::SocketAddr::from(([127, 0, 0, 1], *port)),
                );
        }
        builder
    }

    /// Settings for a Gatehouse that may reach this provider through its outbound
    /// policy (loopback allowed, the test CA trusted).
    pub fn reachable(&self, settings: &mut app::Settings) {
        if let Some((ca, port)) = &self.tls {
            settings.outbound_allow = vec![
                std::net::SocketAddr::from(([127, 0, 0, 1], *port)),
                std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, *port)),
            ];
            settings.outbound_ca_file = Some(ca.clone());
        }
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let response = self
            .control
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Registers Gatehouse (at `base`) as the provider's client, as a bank's identity
    /// team would: the exact redirect URI and the back-channel logout URI.
    pub async fn register(&self, base: &str) {
        self.control(
            "/_test/clients",
            json!([{
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "redirect_uris": [format!("{base}/sso/{ID}/callback")],
                "backchannel_logout_uri": format!("{base}/sso/{ID}/backchannel-logout"),
                "backchannel_logout_session_required": true,
            }]),
        )
        .await;
    }

    /// Registers Gatehouse as a `private_key_jwt` client with this public JWK.
    pub async fn register_with_key(&self, base: &str, jwk: Value) {
        self.control(
            "/_test/clients",
            json!([{
                "client_id": CLIENT_ID,
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "ES256",
                "jwks": { "keys": [jwk] },
                "redirect_uris": [format!("{base}/sso/{ID}/callback")],
            }]),
        )
        .await;
    }

    /// Registers a partner organisation's Gatehouse client (redirect URI per organisation).
    pub async fn register_partner(&self, base: &str, org_id: &str) {
        self.control(
            "/_test/clients",
            json!([{
                "client_id": "gatehouse-partner",
                "client_secret": SECRET,
                "redirect_uris": [format!("{base}/sso/partner/{org_id}/callback")],
            }]),
        )
        .await;
    }

    /// Replaces accounts (a change at the provider: groups, assurance).
    pub async fn set(&self, accounts: Value) {
        self.control("/_test/accounts", accounts).await;
    }

    /// The last back-channel logout token the provider sent.
    pub async fn last_logout_token(&self) -> String {
        self.control("/_test/last-logout-token", json!({})).await["logout_token"]
            .as_str()
            .expect("a logout token was sent")
            .to_string()
    }

    /// A new signing key, published first; returns its `kid`.
    pub async fn rotate(&self) -> String {
        self.control("/_test/rotate", json!({})).await["kid"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A person's browser at the provider (its own cookies).
    pub fn browser(&self) -> reqwest::Client {
        self.http_builder()
            .cookie_store(true)
            .redirect(redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Follows the provider's pages from `url`, typing `username` into its sign-in
    /// form when it shows one, until it sends the browser back to Gatehouse; returns
    /// that URL (the callback with the code).
    pub async fn authenticate(
        &self,
        browser: &reqwest::Client,
        url: &str,
        username: &str,
    ) -> String {
        let mut url = url.to_string();
        for _ in 0..12 {
            if !url.starts_with(&self.issuer) {
                return url;
            }
            let response = browser.get(&url).send().await.unwrap();
            if response.status().is_redirection() {
                url = absolute(
                    &self.issuer,
                    response.headers()["location"].to_str().unwrap(),
                );
                continue;
            }
            let html = response.text().await.unwrap();
            let action = html
                .split("action=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no sign-in form at {url}: {html}"))
                .to_string();
            let response = browser
                .post(absolute(&self.issuer, &action))
                .form(&[("login", username)])
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_redirection(),
                "sign-in at the provider: {}",
                response.text().await.unwrap()
            );
            url = absolute(
                &self.issuer,
                response.headers()["location"].to_str().unwrap(),
            );
        }
        panic!("the provider never sent the browser back");
    }

    /// RP-initiated logout at the provider (its confirmation form), which makes the
    /// provider send Gatehouse a back-channel logout token.
    pub async fn log_out(&self, browser: &reqwest::Client) {
        let html = browser
            .get(format!("{}/session/end", self.issuer))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let xsrf = input_value(&html, "xsrf").unwrap_or_else(|| panic!("no logout form: {html}"));
        let response = browser
            .post(format!("{}/session/end/confirm", self.issuer))
            .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{}", response.status());
    }
}

fn absolute(issuer: &str, location: &str) -> String {
    if location.starts_with('/') {
        format!("{issuer}{location}")
    } else {
        location.to_string()
    }
}

/// A Gatehouse server (demo data) whose staff sign in through `idp`.
pub async fn server_with(
    backend: crate::common::Backend,
    idp: &Idp,
    configure: impl FnOnce(&mut app::Settings),
) -> Option<TestServer> {
    let spec = spec(&idp.issuer);
    let server = TestServer::start_with(backend, |s| {
        s.demo = true;
        s.staff_idps = vec![spec];
        configure(s);
    })
    .await?;
    idp.register(&server.base).await;
    Some(server)
}

/// Signs in through the provider from Gatehouse's sign-in button: the response to
/// the callback (a redirect when signed in, the refusal page otherwise), and the
/// callback URL (for replays).
pub async fn sign_in(
    client: &Client,
    idp: &Idp,
    browser: &reqwest::Client,
    username: &str,
) -> (reqwest::Response, String) {
    let start = client
        .get(&format!("/sso/{ID}/start?next=/dashboard"))
        .await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER, "start");
    let to_idp = start.headers()["location"].to_str().unwrap().to_string();
    assert!(to_idp.starts_with(&idp.issuer), "{to_idp}");
    let callback = idp.authenticate(browser, &to_idp, username).await;
    assert!(callback.starts_with(&client.base), "{callback}");
    let response = client.http.get(&callback).send().await.unwrap();
    (response, callback)
}
