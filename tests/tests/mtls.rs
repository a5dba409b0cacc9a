//! Mutual TLS (RFC 8705): `tls_client_auth` on the mTLS listener and
//! certificate-bound tokens, with real TLS and real client certificates.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest;

use crate::common::{Backend, TestServer};
use crate::sandbox_helpers::*;

/// A client certificate with `subject` (CN, O, C): (PEM identity, DER certificate).
fn client_certificate(cn: &str, o: &str) -> (Vec<u8>, Vec<u8>) {
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
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let pem = format!("{}{}", certificate.pem(), key.serialize_pem());
    (pem.into_bytes(), certificate.der().to_vec())
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
    assert!(metadata["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "tls_client_auth"));

    let developer = server.demo_partner().await;
    let owner = user_id(&server, "dev@acme-budgeting.example.com").await;
    let mut fields = app_fields("Certificate app", &owner, "tls_client_auth", "");
    fields.retain(|(k, _)| *k != "tls_subject");
    fields.push((
        "tls_subject",
        "CN=payments.acme.example.com, O=Acme Ltd, C=GB",
    ));
    let (_, client_id, secret) = register_app(&developer, &fields).await;
    assert!(secret.is_none());

    let (identity, der) = client_certificate("payments.acme.example.com", "Acme Ltd");
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
