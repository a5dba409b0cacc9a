//! Helpers for the sandbox and OAuth tests: registering apps through the portal's
//! form, keys and assertions a partner's software would make, and the `oauth2` crate.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, IntrospectionUrl, RedirectUrl,
    RevocationUrl, TokenUrl,
};
use p256::pkcs8::EncodePrivateKey;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Digest;

use crate::common::{element_text, Client, TestServer};

pub type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointSet, EndpointSet, EndpointSet>;

pub fn oauth_client(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    redirect: &str,
) -> OAuthClient {
    BasicClient::new(ClientId::new(client_id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth/authorize", server.base)).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth/token", server.base)).unwrap())
        .set_introspection_url(
            IntrospectionUrl::new(format!("{}/oauth/introspect", server.base)).unwrap(),
        )
        .set_revocation_url(RevocationUrl::new(format!("{}/oauth/revoke", server.base)).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap())
}

/// The HTTP client the oauth2 crate should use: no redirects (its docs say so).
pub fn oauth_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub const DEMO_ID: &str = app::accounts::bootstrap::DEMO_CLIENT_ID;
pub const DEMO_SECRET: &str = app::accounts::bootstrap::DEMO_CLIENT_SECRET;
pub const DEMO_REDIRECT: &str = app::accounts::bootstrap::DEMO_REDIRECT_URI;

/// A P-256 key pair as a partner would make one: (signing key, public JWK).
pub struct PartnerKey {
    pub encoding: EncodingKey,
    pub jwk: Value,
    /// The private scalar, to build the "private key inside the jwk" mistake.
    pub d: String,
}

impl PartnerKey {
    pub fn new(kid: &str) -> Self {
        let key = p256::ecdsa::SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        });
        let der = key.to_pkcs8_der().unwrap();
        let d = URL_SAFE_NO_PAD.encode(key.to_bytes());
        Self {
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk,
            d,
        }
    }

    pub fn kid(&self) -> &str {
        self.jwk["kid"].as_str().unwrap()
    }

    pub fn sign(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    /// A client assertion (RFC 7523) with `claims` merged over valid defaults.
    pub fn assertion(&self, server: &TestServer, client_id: &str, overrides: Value) -> String {
        let now = server.state.clock.now();
        let mut claims = json!({
            "iss": client_id, "sub": client_id, "aud": server.base,
            "iat": now, "exp": now + 60, "jti": app::platform::crypto::random_token(),
        });
        merge(&mut claims, overrides);
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid().into());
        self.sign(header, &claims)
    }

    /// A DPoP proof (RFC 9449) for `htm` `htu`, `claims` merged over valid defaults.
    pub fn dpop(
        &self,
        server: &TestServer,
        htm: &str,
        htu: &str,
        overrides: Value,
        header_jwk: Option<Value>,
    ) -> String {
        let now = server.state.clock.now();
        let mut claims = json!({ "jti": app::platform::crypto::random_token(), "htm": htm, "htu": htu, "iat": now });
        merge(&mut claims, overrides);
        // The header is written out as JSON (jsonwebtoken's Jwk type would drop members
        // such as a private `d`, which one negative test must send).
        let jwk = header_jwk.unwrap_or_else(|| self.public_jwk_without_kid());
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk });
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, Algorithm::ES256)
                .unwrap();
        format!("{message}.{signature}")
    }

    pub fn public_jwk_without_kid(&self) -> Value {
        let mut jwk = self.jwk.clone();
        jwk.as_object_mut().unwrap().remove("kid");
        jwk.as_object_mut().unwrap().remove("alg");
        jwk
    }

    pub fn thumbprint(&self) -> String {
        let j = &self.jwk;
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    }
}

pub fn merge(target: &mut Value, overrides: Value) {
    if let (Some(t), Value::Object(o)) = (target.as_object_mut(), overrides) {
        for (k, v) in o {
            if v.is_null() {
                t.remove(&k);
            } else {
                t.insert(k, v);
            }
        }
    }
}

/// Client authentication with a signed assertion (RFC 7523 §2.2), plus `extra`.
pub fn assertion_form(assertion: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    form.push((
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
    ));
    form.push(("client_assertion".into(), assertion.into()));
    form
}

/// Borrowed pairs of an owned form, for `oauth_post`.
pub fn as_refs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

/// A JWS with an arbitrary header and no valid signature (for `alg` none / RS256).
pub fn unsigned_jwt(header: Value, claims: &Value) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        if header["alg"] == "none" {
            String::new()
        } else {
            URL_SAFE_NO_PAD.encode([1u8; 64])
        }
    )
}

/// An app registered through the portal's form: (app id, client id, secret if any).
pub async fn register_app(
    client: &Client,
    fields: &[(&str, &str)],
) -> (String, String, Option<String>) {
    let response = client
        .submit("/sandbox/apps/new", "/sandbox/apps", fields)
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "registering {fields:?}"
    );
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let app_id = location.trim_start_matches("/sandbox/apps/").to_string();
    let (status, html) = client.text(&location).await;
    assert_eq!(status, StatusCode::OK);
    let client_id = element_text(&html, "client-id").unwrap();
    let secret = element_text(&html, "client-secret");
    (app_id, client_id, secret)
}

/// The standard form fields of an app, with `method` and its key material.
pub fn app_fields<'a>(
    name: &'a str,
    owner: &'a str,
    method: &'a str,
    jwks: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("purpose", "Budgeting insights for our customers"),
        ("owner_id", owner),
        ("scopes", "accounts"),
        ("scopes", "reference"),
        (
            "redirect_uris",
            "https://app.example.com/callback\nhttp://localhost:8080/callback",
        ),
        ("auth_method", method),
        ("jwks", jwks),
        ("jwks_uri", ""),
        ("tls_subject", ""),
        ("rate_limit_per_minute", "600"),
    ]
}

pub async fn user_id(server: &TestServer, email: &str) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(server.pool())
        .await
        .unwrap()
}

/// A raw POST to an OAuth endpoint, as a partner's software would send it.
pub async fn oauth_post(
    server: &TestServer,
    path: &str,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
    dpop: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = oauth_http()
        .post(format!("{}{path}", server.base))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    if let Some(proof) = dpop {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, headers, body)
}

pub async fn introspect(server: &TestServer, id: &str, secret: &str, token: &str) -> Value {
    let (status, _, body) = oauth_post(
        server,
        "/oauth/introspect",
        Some((id, secret)),
        &[("token", token)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Waits (up to 30 s, for a loaded machine) until the request-log writer has stored
/// `n` entries for the app.
pub async fn wait_for_log(server: &TestServer, app_id: &str, n: i64) -> i64 {
    let mut count = 0;
    for _ in 0..600 {
        count = sqlx::query_scalar("SELECT COUNT(*) FROM request_log WHERE app_id = $1")
            .bind(app_id)
            .fetch_one(server.pool())
            .await
            .unwrap();
        if count >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    count
}

/// `der` as a PEM block with 64-character lines, as OpenSSL writes it.
pub fn pem(tag: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {tag}-----\n{}\n-----END {tag}-----\n",
        lines.join("\n")
    )
}
