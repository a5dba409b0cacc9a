//! DPoP proofs (RFC 9449 §4.3): a JWS of type `dpop+jwt`, signed with PS256, ES256 or
//! EdDSA by the public key embedded in its header, for this request's method (`htm`)
//! and URL (`htu`), issued within the last minute (`iat`), never replayed (`jti`),
//! and, at a resource server, bound to the access token (`ath`).

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::{OAuthError, OAuthResult};
use super::keys::{parse_alg, thumbprint};
use super::replay::{self, Kind};
use crate::platform::state::AppState;

/// How old a proof may be (RFC 9449 §11.1 leaves the window to the server).
pub const MAX_AGE: i64 = 60;
/// How far in the future a proof's `iat` may be (clock skew).
pub const FUTURE_SKEW: i64 = 10;

/// Members that only a private JWK has (RFC 7517 §9.2; RFC 7518 §6.2.2, §6.3.2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Checks the request's DPoP proof, if it sent one; returns the key's thumbprint.
pub async fn verify(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    htu: &str,
    access_token: Option<&str>,
) -> OAuthResult<Option<String>> {
    let mut values = headers.get_all("dpop").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OAuthError::invalid_dpop("Send exactly one DPoP header."));
    }
    let proof = value
        .to_str()
        .map_err(|_| OAuthError::invalid_dpop("The DPoP header is not a JWT."))?;
    let jkt = check_proof(state, proof, method, htu, access_token).await?;
    Ok(Some(jkt))
}

async fn check_proof(
    state: &AppState,
    proof: &str,
    method: &str,
    htu: &str,
    access_token: Option<&str>,
) -> OAuthResult<String> {
    let bad = |why: &str| OAuthError::invalid_dpop(why.to_string());
    let header_part = proof.split('.').next().unwrap_or_default();
    let header: Value = URL_SAFE_NO_PAD
        .decode(header_part)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| bad("The DPoP proof is not a JWT."))?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(bad("The DPoP proof's typ must be dpop+jwt."));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(parse_alg)
        .ok_or_else(|| bad("The DPoP proof must be signed with PS256, ES256 or EdDSA."))?;
    let jwk_value = header
        .get("jwk")
        .filter(|j| j.is_object())
        .ok_or_else(|| bad("The DPoP proof has no jwk header."))?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk_value.get(m).is_some()) {
        return Err(bad("The DPoP proof's jwk contains a private key."));
    }
    let jwk: Jwk = serde_json::from_value(jwk_value.clone())
        .map_err(|_| bad("The DPoP proof's jwk is not a public key."))?;
    let key =
        DecodingKey::from_jwk(&jwk).map_err(|_| bad("The DPoP proof's jwk is not usable."))?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(proof, &key, &validation)
        .map_err(|_| bad("The DPoP proof's signature does not verify with its jwk."))?
        .claims;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("The DPoP proof has no jti."))?;
    if claims.get("htm").and_then(Value::as_str) != Some(method) {
        return Err(bad(&format!("The DPoP proof's htm must be {method}.")));
    }
    let sent_htu = claims
        .get("htu")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if without_query(sent_htu) != without_query(htu) {
        return Err(bad(&format!("The DPoP proof's htu must be {htu}.")));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("The DPoP proof has no iat."))?;
    let now = state.clock.now();
    if iat < now - MAX_AGE || iat > now + FUTURE_SKEW {
        return Err(bad("The DPoP proof's iat is outside the accepted window."));
    }
    if let Some(token) = access_token {
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
        if claims.get("ath").and_then(Value::as_str) != Some(expected.as_str()) {
            return Err(bad("The DPoP proof's ath does not match the access token."));
        }
    }
    let jkt = thumbprint(jwk_value)?;
    if !replay::first_use(
        &state.db,
        Kind::Dpop,
        &jkt,
        jti,
        iat + MAX_AGE + FUTURE_SKEW,
    )
    .await?
    {
        return Err(bad("The DPoP proof's jti has been used before."));
    }
    Ok(jkt)
}

/// RFC 9449 §4.3 item 9: `htu` is compared without query and fragment.
fn without_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}
