//! Mutual TLS (RFC 8705): the client certificate a connection to the mTLS listener
//! presented, for client authentication (§2) and for certificate-bound access tokens
//! (§3, `cnf.x5t#S256`).
//!
//! A client authenticates with a certificate in one of two ways, decided by what it
//! registered:
//! - **the certificate itself** (`self_signed_tls_client_auth`, §2.2): the SHA-256
//!   thumbprint of the registered certificate must equal the presented one's. The TLS
//!   handshake proves possession of its private key. No CA is involved.
//! - **a subject DN** (`tls_client_auth`, §2.1): only a certificate whose chain the
//!   listener validated against the partner CAs the bank configured
//!   (`--mtls-client-ca`) is trusted to carry a subject at all; its subject is then
//!   compared with the registered DN as distinguished names (X.501 / RFC 4514), not
//!   as strings. Without configured CAs no subject is ever trusted.

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use x509_cert::der::{Tag, Tagged};
use x509_cert::name::Name;

/// Put on every request that arrived on the mTLS listener.
#[derive(Clone, Debug)]
pub struct MtlsConnection {
    pub certificate: Option<ClientCertificate>,
}

#[derive(Clone, Debug)]
pub struct ClientCertificate {
    /// base64url SHA-256 of the DER certificate: the `x5t#S256` confirmation.
    pub thumbprint: String,
    /// The subject DN, RFC 4514 string form (for messages and the audit trail).
    pub subject: String,
    /// The subject as parsed from the certificate.
    pub name: Name,
    /// Whether the listener validated the chain against a partner CA the bank
    /// configured (RFC 8705 §2.1). Only then may the subject be trusted.
    pub chain_trusted: bool,
}

impl ClientCertificate {
    /// The certificate as presented, its chain not (yet) trusted.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        use x509_cert::der::Decode;
        let certificate = x509_cert::Certificate::from_der(der).ok()?;
        let name = certificate.tbs_certificate.subject;
        Some(Self {
            thumbprint: thumbprint(der),
            subject: name.to_string(),
            name,
            chain_trusted: false,
        })
    }
}

/// base64url(SHA-256(DER)): RFC 8705 §3.1's `x5t#S256`.
pub fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// A PEM certificate a partner pasted: its thumbprint and subject.
pub fn parse_pem_certificate(pem: &str) -> Result<ClientCertificate, String> {
    let pem = pem.trim();
    let body = pem
        .strip_prefix("-----BEGIN CERTIFICATE-----")
        .and_then(|rest| rest.trim_end().strip_suffix("-----END CERTIFICATE-----"))
        .ok_or("Paste the client certificate in PEM form (-----BEGIN CERTIFICATE----- …).")?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| "The certificate's PEM body is not valid base64.".to_string())?;
    ClientCertificate::from_der(&der)
        .ok_or_else(|| "The certificate is not a valid X.509 certificate.".to_string())
}

/// Parses a subject DN written as an RFC 4514 string. Spaces around the separators
/// (`CN=a, O=b`, common in what people paste) are tolerated; attribute names are
/// matched without regard to case.
pub fn parse_dn(text: &str) -> Result<Name, String> {
    let mut parts = Vec::new();
    for part in split_unescaped(text, b',') {
        let part = part.trim();
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("\"{part}\" is not attribute=value"))?;
        let key = key.trim();
        let value = value.trim_start();
        let attempt = |key: &str| {
            x509_cert::name::RelativeDistinguishedName::from_str(&format!("{key}={value}")).ok()
        };
        let rdn = attempt(key)
            .or_else(|| attempt(&key.to_ascii_uppercase()))
            .ok_or_else(|| format!("\"{key}\" is not a known attribute type"))?;
        parts.push(rdn);
    }
    if parts.is_empty() {
        return Err("the DN is empty".into());
    }
    parts.reverse();
    Ok(Name::from(parts))
}

fn split_unescaped(text: &str, separator: u8) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == separator {
            out.push(&text[start..i]);
            start = i + 1;
        }
    }
    out.push(&text[start..]);
    out
}

/// Whether the registered DN names the presented subject: the same RDNs, each with
/// the same attribute types and values, values compared by RFC 4517 caseIgnoreMatch
/// with RFC 4518 insignificant-space handling. The RDNs' order is not compared:
/// partners paste DNs both in RFC 4514 order and in the certificate's own order (as
/// `openssl x509 -subject` prints it), and the chain has already been validated
/// against a partner CA, which vouches for the subject as a whole.
pub fn same_subject(registered: &str, presented: &Name) -> bool {
    let Ok(registered) = parse_dn(registered) else {
        return false;
    };
    let keys = |name: &Name| {
        let mut keys = name.0.iter().map(rdn_key).collect::<Option<Vec<_>>>()?;
        keys.sort();
        Some(keys)
    };
    !registered.0.is_empty() && keys(&registered).is_some_and(|k| Some(k) == keys(presented))
}

/// An RDN as its sorted (type, normalised value) pairs; `None` for a value that is
/// not a directory string (such values never match).
fn rdn_key(rdn: &x509_cert::name::RelativeDistinguishedName) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for atv in rdn.0.iter() {
        let value = &atv.value;
        let text = match value.tag() {
            Tag::PrintableString => PrintableStringRef::try_from(value).ok()?.as_str(),
            Tag::Utf8String => Utf8StringRef::try_from(value).ok()?.as_str(),
            Tag::Ia5String => Ia5StringRef::try_from(value).ok()?.as_str(),
            Tag::TeletexString => TeletexStringRef::try_from(value).ok()?.as_str(),
            _ => return None,
        };
        let normalised = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        out.push((atv.oid.to_string(), normalised));
    }
    out.sort();
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        parse_dn(text).unwrap()
    }

    #[test]
    fn subjects_compare_as_distinguished_names() {
        let presented = name("CN=app.example.com,O=Acme Ltd,C=GB");
        assert!(same_subject(
            "CN=app.example.com, O=Acme Ltd, C=GB",
            &presented
        ));
        assert!(same_subject(
            "cn=APP.example.com,o=Acme  Ltd,c=GB",
            &presented
        ));
        assert!(!same_subject(
            "CN=app.example.com,O=Evil Ltd,C=GB",
            &presented
        ));
        assert!(!same_subject("CN=app.example.com,O=Acme Ltd", &presented));
        // Either order of the RDNs, as partners paste them.
        assert!(same_subject(
            "C=GB,O=Acme Ltd,CN=app.example.com",
            &presented
        ));
        // A value that merely contains another's text is not that value.
        assert!(!same_subject(
            "CN=app.example.com,O=Acme Ltd,C=GB,OU=x",
            &presented
        ));
        // An escaped comma is part of a value, not a separator (RFC 4514 §2.4):
        // naive splitting would read this as the subject above plus junk.
        let tricky = name(r"CN=app.example.com\,O=Acme Ltd,C=GB");
        assert_eq!(tricky.0.len(), 2);
        assert!(!same_subject("CN=app.example.com,O=Acme Ltd,C=GB", &tricky));
        assert!(same_subject(
            r"CN=app.example.com\,O=Acme Ltd,C=GB",
            &tricky
        ));
        assert!(!same_subject("", &presented));
        assert!(!same_subject("garbage", &presented));
    }
}
