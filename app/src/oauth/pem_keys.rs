//! Partners' public keys pasted as PEM, converted to JWKs on the server: a
//! `PUBLIC KEY` (SubjectPublicKeyInfo, what `openssl pkey -pubout` writes), an
//! `RSA PUBLIC KEY` (PKCS #1) or a `CERTIFICATE` (its subject's key). Each JWK gets
//! its RFC 7638 thumbprint as `kid`, so a client that names its key in the
//! assertion's header is matched. The keys Gatehouse verifies are checked as
//! pasted JWKs are (`keys::check_client_key`): RSA of 2048 bits or more, EC on
//! P-256, Ed25519; anything else is refused with the reason.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

const RSA: &str = "1.2.840.113549.1.1.1";
const EC: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";
const ED25519: &str = "1.3.101.112";

/// The most keys one paste may hold.
const MAX_KEYS: usize = 10;

/// Whether `text` is PEM rather than JSON.
pub fn is_pem(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN ")
}

/// The JWK set of the PEM blocks in `text`, or why it cannot be one.
pub fn jwks_from_pem(text: &str) -> Result<Value, String> {
    let blocks = pem::parse_many(text).map_err(|_| {
        "The PEM text could not be read: paste each block whole, from its -----BEGIN line to its -----END line."
            .to_string()
    })?;
    if blocks.is_empty() {
        return Err(
            "No whole PEM block was found: paste each block from its -----BEGIN line to its -----END line.".into(),
        );
    }
    if blocks.len() > MAX_KEYS {
        return Err(format!("Paste at most {MAX_KEYS} keys."));
    }
    let mut keys = Vec::with_capacity(blocks.len());
    for block in &blocks {
        let jwk = match block.tag() {
            "PUBLIC KEY" => from_spki(block.contents())?,
            "CERTIFICATE" => {
                let certificate = x509_cert::Certificate::from_der(block.contents())
                    .map_err(|_| "The certificate could not be read.".to_string())?;
                let der = certificate
                    .tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .map_err(|_| "The certificate's public key could not be read.".to_string())?;
                from_spki(&der)?
            }
            "RSA PUBLIC KEY" => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                let key = rsa::RsaPublicKey::from_pkcs1_der(block.contents())
                    .map_err(|_| "The RSA public key could not be read (RSA keys of 2048 to 4096 bits are accepted).".to_string())?;
                rsa_jwk(&key)
            }
            tag if tag.contains("PRIVATE KEY") => {
                return Err(
                    "That is a private key. Paste only the public key (`openssl pkey -in key.pem -pubout` prints it): never share the private one."
                        .into(),
                )
            }
            other => {
                return Err(format!(
                    "A {:?} block is not a public key: paste a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block.",
                    other.chars().take(40).collect::<String>()
                ))
            }
        };
        keys.push(with_kid(jwk)?);
    }
    Ok(json!({ "keys": keys }))
}

/// A JWK of a DER SubjectPublicKeyInfo.
fn from_spki(der: &[u8]) -> Result<Value, String> {
    let spki = SubjectPublicKeyInfoOwned::from_der(der).map_err(|_| {
        "The public key could not be read (its DER inside the PEM is malformed).".to_string()
    })?;
    match spki.algorithm.oid.to_string().as_str() {
        RSA => {
            use rsa::pkcs8::DecodePublicKey;
            let key = rsa::RsaPublicKey::from_public_key_der(der)
                .map_err(|_| "The RSA public key could not be read (RSA keys of 2048 to 4096 bits are accepted).".to_string())?;
            Ok(rsa_jwk(&key))
        }
        EC => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .map(|oid| oid.to_string());
            if curve.as_deref() != Some(P256) {
                return Err(format!(
                    "EC keys must be on the P-256 curve (the only curve ES256 verifies); this one is on {}.",
                    match curve.as_deref() {
                        Some("1.3.132.0.34") => "P-384".to_string(),
                        Some("1.3.132.0.35") => "P-521".to_string(),
                        Some("1.3.132.0.10") => "secp256k1".to_string(),
                        Some(other) => format!("the curve {other}"),
                        None => "an unnamed curve".to_string(),
                    }
                ));
            }
            use p256::pkcs8::DecodePublicKey;
            let key = p256::PublicKey::from_public_key_der(der)
                .map_err(|_| "The P-256 public key could not be read.".to_string())?;
            serde_json::to_value(key.to_jwk()).map_err(|e| e.to_string())
        }
        ED25519 => {
            use ed25519_dalek::pkcs8::DecodePublicKey;
            let key = ed25519_dalek::VerifyingKey::from_public_key_der(der)
                .map_err(|_| "The Ed25519 public key could not be read.".to_string())?;
            Ok(json!({ "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.as_bytes()) }))
        }
        other => Err(format!(
            "Gatehouse verifies RSA (2048 bits or more), EC P-256 and Ed25519 keys; this key's algorithm is {other}."
        )),
    }
}

fn rsa_jwk(key: &rsa::RsaPublicKey) -> Value {
    use rsa::traits::PublicKeyParts;
    json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    })
}

/// The key with `use` and its RFC 7638 thumbprint as `kid`.
fn with_kid(mut jwk: Value) -> Result<Value, String> {
    let kid = super::keys::thumbprint(&jwk).map_err(|e| e.to_string())?;
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    Ok(jwk)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pem_of(tag: &str, der: &[u8]) -> String {
        pem::encode(&pem::Pem::new(tag, der.to_vec()))
    }

    #[test]
    fn p256_rsa_and_ed25519_public_keys_become_checked_jwks() {
        use p256::pkcs8::EncodePublicKey;
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret
            .public_key()
            .to_public_key_pem(Default::default())
            .unwrap();
        let set = jwks_from_pem(&pem).unwrap();
        let jwk = &set["keys"][0];
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        let expected = serde_json::to_value(secret.public_key().to_jwk()).unwrap();
        assert_eq!(jwk["x"], expected["x"]);
        assert_eq!(
            jwk["kid"].as_str().unwrap(),
            super::super::keys::thumbprint(&expected).unwrap()
        );

        let rsa = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let der = rsa::pkcs8::EncodePublicKey::to_public_key_der(&rsa.to_public_key()).unwrap();
        let set = jwks_from_pem(&pem_of("PUBLIC KEY", der.as_bytes())).unwrap();
        assert_eq!(set["keys"][0]["kty"], "RSA");
        assert_eq!(set["keys"][0]["e"], "AQAB");
        let described = crate::clients::model::describe_keys(&set.to_string());
        assert!(described.starts_with("RSA 2048 bits, kid "), "{described}");
        let pkcs1 = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&rsa.to_public_key()).unwrap();
        let again = jwks_from_pem(&pem_of("RSA PUBLIC KEY", pkcs1.as_bytes())).unwrap();
        assert_eq!(again["keys"][0]["n"], set["keys"][0]["n"]);

        let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let der =
            ed25519_dalek::pkcs8::EncodePublicKey::to_public_key_der(&ed.verifying_key()).unwrap();
        let set = jwks_from_pem(&pem_of("PUBLIC KEY", der.as_bytes())).unwrap();
        assert_eq!(set["keys"][0]["crv"], "Ed25519");
    }

    #[test]
    fn private_keys_garbage_and_other_blocks_are_refused_with_the_reason() {
        let private =
            jwks_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        assert!(private.unwrap_err().contains("private key"));
        let garbage = jwks_from_pem(
            "-----BEGIN PUBLIC KEY-----\nnot base64 at all!\n-----END PUBLIC KEY-----\n",
        );
        assert!(garbage.is_err());
        let wrong = jwks_from_pem(&pem_of("PUBLIC KEY", b"\x30\x03\x02\x01\x01"));
        assert!(wrong.unwrap_err().contains("could not be read"));
        let other = jwks_from_pem(&pem_of("X509 CRL", b"\x30\x00"));
        assert!(other.unwrap_err().contains("not a public key"));
        assert!(!is_pem("{\"keys\": []}") && is_pem("  -----BEGIN PUBLIC KEY-----"));
    }
}
