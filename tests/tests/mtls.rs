//! Mutual TLS (RFC 8705): `tls_client_auth` on the mTLS listener and
//! certificate-bound tokens, with real TLS and real client certificates.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest;

use crate::common::{Backend, TestServer};
use crate::sandbox_helpers::*;

/// A self-signed client certificate with `subject` (CN, O, C): (PEM identity, DER
/// certificate). Anyone can make one with any subject: this is the attacker's tool.
fn client_certificate(cn: &str, o: &str) -> (Vec<u8>, Vec<u8>) {
    let (params, key) = certificate_params(cn, o);
    let certificate = params.self_signed(&key).unwrap();
    let pem = format!("{}{}", certificate.pem(), key.serialize_pem());
    (pem.into_bytes(), certificate.der().to_vec())
}

/// A partner CA: (its certificate PEM, a function issuing client certificates).
struct PartnerCa {
    pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl PartnerCa {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Partner Test CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        Self {
            pem: certificate.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn issue(&self, cn: &str, o: &str) -> Vec<u8> {
        let (mut params, key) = certificate_params(cn, o);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        format!("{}{}", certificate.pem(), key.serialize_pem()).into_bytes()
    }
}

fn certificate_params(cn: &str, o: &str) -> (rcgen::CertificateParams, rcgen::KeyPair) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, o);
    params
        .distinguished_name
        .push(rcgen::DnType::CountryName, "GB");
    (params, rcgen::KeyPair::generate().unwrap())
}

fn tls_client(server: &TestServer, identity: Option<&[u8]>) -> reqwest::Client {
    let (_, server_cert) = server.mtls.as_ref().unwrap();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(server_cert).unwrap());
    if let Some(pem) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(pem).unwrap());
    }
    builder.build().unwrap()
}

async fn token(client: &reqwest::Client, url: &str, client_id: &str) -> (StatusCode, Value) {
    let response = client
        .post(url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn tls_client_auth_and_certificate_bound_tokens(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(server) = TestServer::start_mtls(backend, true).await else {
        return;
    };
    let mtls_base = server.mtls.as_ref().unwrap().0.clone();
    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        metadata["mtls_endpoint_aliases"]["token_endpoint"],
        format!("{mtls_base}/oauth/token")
    );
    assert_eq!(metadata["tls_client_certificate_bound_access_tokens"], true);
    let methods = metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .clone();
    assert!(methods.iter().any(|m| m == "self_signed_tls_client_auth"));
    assert!(
        !methods.iter().any(|m| m == "tls_client_auth"),
        "no partner CA is configured, so no subject DN can be trusted"
    );

    // RFC 8705 §2.2: the app registers its certificate.
    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let (identity, der) = client_certificate("payments.acme.example.com", "Acme Ltd");
    let pem = crate::sandbox_helpers::pem("CERTIFICATE", &der);
    let mut fields = app_fields("Certificate app", &owner, "tls_client_auth", "");
    fields.push(("tls_certificate", &pem));
    let (_, client_id, secret) = register_app(&developer, &fields).await;
    assert!(secret.is_none());

    // The attack: a self-signed certificate with exactly the registered subject.
    let (attacker, _) = client_certificate("payments.acme.example.com", "Acme Ltd");
    let (status, body) = token(
        &tls_client(&server, Some(&attacker)),
        &format!("{mtls_base}/oauth/token"),
        &client_id,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "another certificate with the same subject must not authenticate: {body}"
    );

    let client = tls_client(&server, Some(&identity));
    let (status, body) = token(&client, &format!("{mtls_base}/oauth/token"), &client_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                body["access_token"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .nth(1)
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    let thumbprint = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der));
    assert_eq!(
        claims["cnf"]["x5t#S256"], thumbprint,
        "RFC 8705 §3.1 binding"
    );

    // Issue 19 item 13: the listener serves the OAuth endpoints and the APIs only.
    for path in [
        "/",
        "/signin",
        "/dashboard",
        "/admin/audit",
        "/metrics",
        "/oauth/authorize",
    ] {
        let response = client
            .get(format!("{mtls_base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path} on mTLS");
    }
    let response = client
        .get(format!(
            "{mtls_base}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // The sandbox API honours the binding (RFC 8705 §3): the bound token works over
    // the mTLS listener with its certificate, and is refused without it or with
    // another certificate.
    let bound = body["access_token"].as_str().unwrap().to_string();
    let fx_rates = "/sandbox/open-banking/v3.1/reference/fx-rates";
    let call = async |client: &reqwest::Client, base: &str| {
        let response = client
            .get(format!("{base}{fx_rates}"))
            .bearer_auth(&bound)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    let (status, body) = call(&client, &mtls_base).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(&oauth_http(), &server.base).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no certificate: {body}");
    assert_eq!(body["Errors"][0]["ErrorCode"], "UK.OBIE.Reauthenticate");
    assert!(body["Errors"][0]["Message"]
        .as_str()
        .unwrap()
        .contains("client certificate"));
    let (stranger, _) = client_certificate("payments.acme.example.com", "Acme Ltd");
    let (status, _) = call(&tls_client(&server, Some(&stranger)), &mtls_base).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the same subject in another certificate is not the bound certificate"
    );

    // A certificate with another subject, no certificate, or the plain listener: refused.
    let (other, _) = client_certificate("payments.acme.example.com", "Evil Ltd");
    let (status, body) = token(
        &tls_client(&server, Some(&other)),
        &format!("{mtls_base}/oauth/token"),
        &client_id,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, body) = token(
        &tls_client(&server, None),
        &format!("{mtls_base}/oauth/token"),
        &client_id,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, _) = token(
        &oauth_http(),
        &format!("{}/oauth/token", server.base),
        &client_id,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Secret clients may use the aliases too; a certificate binds their tokens.
    let response = client
        .post(format!("{mtls_base}/oauth/token"))
        .basic_auth(DEMO_ID, Some(DEMO_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let introspection = introspect(
        &server,
        DEMO_ID,
        DEMO_SECRET,
        body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(introspection["cnf"]["x5t#S256"], thumbprint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_auth_sqlite() {
    tls_client_auth_and_certificate_bound_tokens(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_auth_postgres() {
    tls_client_auth_and_certificate_bound_tokens(Backend::Postgres).await;
}

/// RFC 8705 §2.1: a registered subject DN is trusted only in a certificate whose chain
/// validates against a partner CA the bank configured. Without one, nobody's
/// certificate can claim it; with one, only that CA's certificates can.
async fn subject_dn_needs_a_partner_ca(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let subject = "CN=payments.acme.example.com, O=Acme Ltd, C=GB";
    let register = async |server: &TestServer| {
        let developer = server.demo_partner().await;
        let owner = user_id(server, "dev@acme-budgeting.example.com").await;
        let mut fields = app_fields("Subject app", &owner, "tls_client_auth", "");
        fields.retain(|(k, _)| *k != "tls_subject");
        fields.push(("tls_subject", subject));
        let (_, client_id, _) = register_app(&developer, &fields).await;
        client_id
    };

    // No partner CA: the attacker's self-signed certificate with the subject fails.
    let Some(server) = TestServer::start_mtls(backend, true).await else {
        return;
    };
    let mtls_token = format!("{}/oauth/token", server.mtls.as_ref().unwrap().0);
    let client_id = register(&server).await;
    let (attacker, _) = client_certificate("payments.acme.example.com", "Acme Ltd");
    let (status, body) = token(
        &tls_client(&server, Some(&attacker)),
        &mtls_token,
        &client_id,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("no partner CA"));
    drop(server);

    // A partner CA configured: its certificate with the subject works, in another
    // spelling of the same DN too; the self-signed one and another subject do not.
    let ca = PartnerCa::new();
    let Some(server) = TestServer::start_mtls_with_partner_ca(backend, &ca.pem).await else {
        return;
    };
    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "tls_client_auth"));
    let mtls_token = format!("{}/oauth/token", server.mtls.as_ref().unwrap().0);
    let client_id = register(&server).await;
    let issued = ca.issue("Payments.Acme.Example.com", "Acme  Ltd");
    let (status, body) = token(&tls_client(&server, Some(&issued)), &mtls_token, &client_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (attacker, _) = client_certificate("payments.acme.example.com", "Acme Ltd");
    let (status, _) = token(
        &tls_client(&server, Some(&attacker)),
        &mtls_token,
        &client_id,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "self-signed, same subject"
    );
    let other = ca.issue("payments.acme.example.com", "Evil Ltd");
    let (status, _) = token(&tls_client(&server, Some(&other)), &mtls_token, &client_id).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the CA's, another subject"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_subject_dn_needs_partner_ca_sqlite() {
    subject_dn_needs_a_partner_ca(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_subject_dn_needs_partner_ca_postgres() {
    subject_dn_needs_a_partner_ca(Backend::Postgres).await;
}
