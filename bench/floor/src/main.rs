//! The floors `bench/compare.sh` measures Gatehouse against, in the same run and on
//! the same machine: what any server on this stack must spend, so that a ratio to
//! them stays comparable from one day (and one machine's mood) to the next.
//!
//! - `POST /plain`: a fixed JSON body (bare axum);
//! - `POST /sign`: one ES256 JWT signed per request with `ring`, answered as a token
//!   response (the floor for `client_credentials`);
//! - `POST /verify`: the form's `token` parsed and its ES256 signature verified with
//!   `ring`, answered as an introspection (the floor for introspecting distinct
//!   tokens);
//! - `GET /mint?n=N`: N tokens it signed, one per line, for the verify run.
//!
//! `gatehouse-floor 127.0.0.1:3990`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};

struct Keys {
    pair: EcdsaKeyPair,
    public: Vec<u8>,
    rng: SystemRandom,
    counter: AtomicU64,
}

const JSON: [(header::HeaderName, &str); 2] = [
    (header::CONTENT_TYPE, "application/json"),
    (header::CACHE_CONTROL, "no-store"),
];

impl Keys {
    fn sign(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"at+jwt","kid":"floor"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            serde_json::json!({
                "iss": "http://127.0.0.1/floor",
                "sub": "cli_floor",
                "aud": "http://127.0.0.1/floor",
                "client_id": "cli_floor",
                "scope": "reference",
                "iat": 1_790_000_000u64,
                "exp": 1_790_000_300u64,
                "jti": format!("jti-{n}"),
            })
            .to_string(),
        );
        let input = format!("{head}.{claims}");
        let signature = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
            .unwrap_or_default();
        format!("{input}.{signature}")
    }

    fn verify(&self, token: &str) -> bool {
        let Some((input, signature)) = token.rsplit_once('.') else {
            return false;
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.public)
            .verify(input.as_bytes(), &signature)
            .is_ok()
    }
}

async fn plain() -> impl IntoResponse {
    (JSON, r#"{"ok":true}"#)
}

async fn sign(State(keys): State<Arc<Keys>>) -> impl IntoResponse {
    let body = format!(
        r#"{{"access_token":"{}","token_type":"Bearer","expires_in":300,"scope":"reference"}}"#,
        keys.sign()
    );
    (JSON, body)
}

async fn verify(State(keys): State<Arc<Keys>>, body: String) -> impl IntoResponse {
    let token = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or("");
    let body = if keys.verify(token) {
        r#"{"active":true,"client_id":"cli_floor","scope":"reference","token_type":"Bearer"}"#
    } else {
        r#"{"active":false}"#
    };
    (JSON, body)
}

async fn mint(
    State(keys): State<Arc<Keys>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> String {
    let n: usize = query.get("n").and_then(|n| n.parse().ok()).unwrap_or(1);
    (0..n.min(100_000)).map(|_| keys.sign() + "\n").collect()
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3990".into());
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .unwrap_or_else(|e| panic!("generating a key: {e}"));
    let pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .unwrap_or_else(|e| panic!("loading the key: {e}"));
    let public = pair.public_key().as_ref().to_vec();
    let keys = Arc::new(Keys {
        pair,
        public,
        rng,
        counter: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/plain", post(plain).get(plain))
        .route("/sign", post(sign))
        .route("/verify", post(verify))
        .route("/mint", get(mint))
        .with_state(keys);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
    axum::serve(listener, app)
        .await
        .unwrap_or_else(|e| panic!("serving: {e}"));
}
