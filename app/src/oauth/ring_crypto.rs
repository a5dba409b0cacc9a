//! The crypto provider behind every JWT Gatehouse signs or checks: ES256 through
//! `ring` (the constant-time, assembly-backed P-256 code rustls already links), the
//! other algorithms through jsonwebtoken's own RustCrypto provider.
//!
//! ES256 is the default signing algorithm and the one most clients use, so every
//! token, introspection and sandbox API call pays for an ECDSA signature or check;
//! `ring` does that several times faster than the pure-Rust `p256` crate.

use std::sync::{Arc, LazyLock, Mutex};

use jsonwebtoken::crypto::{rust_crypto, CryptoProvider, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING,
};

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: rust_crypto::DEFAULT_PROVIDER.jwk_utils.clone(),
});

/// Makes this the process's JWT crypto provider. Idempotent.
pub fn install() {
    // A second call (several servers in one test process) finds it installed.
    let _ = PROVIDER.install_default();
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    match alg {
        Algorithm::ES256 => Ok(Box::new(Es256Signer(key_pair(key.inner())?))),
        _ => (rust_crypto::DEFAULT_PROVIDER.signer_factory)(alg, key),
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match alg {
        Algorithm::ES256 => {
            if key.family() != AlgorithmFamily::Ec {
                return Err(ErrorKind::InvalidKeyFormat.into());
            }
            Ok(Box::new(Es256Verifier(key.as_bytes().to_vec())))
        }
        _ => (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(alg, key),
    }
}

/// The last key pairs parsed from PKCS#8. Parsing checks the pair with a scalar
/// multiplication, as costly as a signature, and the same few signing keys sign
/// every token.
static KEY_PAIRS: LazyLock<Mutex<Vec<Parsed>>> = LazyLock::new(|| Mutex::new(Vec::new()));
/// A PKCS#8 document and the key pair parsed from it.
type Parsed = (Vec<u8>, Arc<EcdsaKeyPair>);
const KEY_PAIRS_KEPT: usize = 8;

fn key_pair(pkcs8: &[u8]) -> Result<Arc<EcdsaKeyPair>> {
    let mut cache = KEY_PAIRS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, pair)) = cache.iter().find(|(der, _)| der == pkcs8) {
        return Ok(pair.clone());
    }
    let pair = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &SystemRandom::new(),
    )
    .map(Arc::new)
    .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?;
    if cache.len() == KEY_PAIRS_KEPT {
        cache.remove(0);
    }
    cache.push((pkcs8.to_vec(), pair.clone()));
    Ok(pair)
}

struct Es256Signer(Arc<EcdsaKeyPair>);

impl signature::Signer<Vec<u8>> for Es256Signer {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let signature = self
            .0
            .sign(&SystemRandom::new(), msg)
            .map_err(|_| signature::Error::new())?;
        Ok(signature.as_ref().to_vec())
    }
}

impl JwtSigner for Es256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

/// The public key as an uncompressed SEC1 point, as jsonwebtoken keeps it.
struct Es256Verifier(Vec<u8>);

impl signature::Verifier<Vec<u8>> for Es256Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(msg, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Es256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

#[cfg(test)]
mod tests {
    use p256::pkcs8::EncodePrivateKey;

    use super::*;

    fn keys() -> (EncodingKey, DecodingKey) {
        let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let der = match key.to_pkcs8_der() {
            Ok(der) => der.as_bytes().to_vec(),
            Err(e) => panic!("{e}"),
        };
        let point = key.verifying_key().to_encoded_point(false);
        (
            EncodingKey::from_ec_der(&der),
            DecodingKey::from_ec_der(point.as_bytes()),
        )
    }

    fn rust_crypto_verifies(key: &DecodingKey, message: &[u8], sig: &Vec<u8>) -> bool {
        (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&Algorithm::ES256, key)
            .is_ok_and(|verifier| verifier.verify(message, sig).is_ok())
    }

    /// ring's signatures verify with the RustCrypto code and the other way round; a
    /// changed message or another key is refused by both.
    #[test]
    fn ring_es256_agrees_with_rust_crypto() -> Result<()> {
        let (encoding, decoding) = keys();
        let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjbGllbnQifQ";
        let by_ring = new_signer(&Algorithm::ES256, &encoding)?.try_sign(message)?;
        assert_eq!(by_ring.len(), 64, "JWS ES256 signatures are r || s");
        assert!(rust_crypto_verifies(&decoding, message, &by_ring));
        let ring_verifier = new_verifier(&Algorithm::ES256, &decoding)?;
        assert!(ring_verifier.verify(message, &by_ring).is_ok());

        let by_p256 = (rust_crypto::DEFAULT_PROVIDER.signer_factory)(&Algorithm::ES256, &encoding)?
            .try_sign(message)?;
        assert!(ring_verifier.verify(message, &by_p256).is_ok());

        let tampered = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9";
        assert!(ring_verifier.verify(tampered, &by_ring).is_err());
        assert!(!rust_crypto_verifies(&decoding, tampered, &by_ring));
        let (_, foreign) = keys();
        assert!(new_verifier(&Algorithm::ES256, &foreign)?
            .verify(message, &by_ring)
            .is_err());
        Ok(())
    }
}
