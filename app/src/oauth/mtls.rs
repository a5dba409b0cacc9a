//! Mutual TLS (RFC 8705): the client certificate a connection to the mTLS listener
//! presented, for `tls_client_auth` (§2.1, the subject DN the app registered) and for
//! certificate-bound access tokens (§3, `cnf.x5t#S256`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Put on every request that arrived on the mTLS listener.
#[derive(Clone, Debug)]
pub struct MtlsConnection {
    pub certificate: Option<ClientCertificate>,
}

#[derive(Clone, Debug)]
pub struct ClientCertificate {
    /// base64url SHA-256 of the DER certificate: the `x5t#S256` confirmation.
    pub thumbprint: String,
    /// The subject DN, RFC 4514 string form.
    pub subject: String,
}

impl ClientCertificate {
    pub fn from_der(der: &[u8]) -> Option<Self> {
        use x509_cert::der::Decode;
        let certificate = x509_cert::Certificate::from_der(der).ok()?;
        Some(Self {
            thumbprint: URL_SAFE_NO_PAD.encode(Sha256::digest(der)),
            subject: certificate.tbs_certificate.subject.to_string(),
        })
    }
}

/// Whether two subject DNs name the same subject: the same attribute=value pairs,
/// whatever their order and spacing (RFC 8705 §2.1.2 leaves the comparison to the AS;
/// RFC 4514 strings of one DN can differ in both).
pub fn same_subject(a: &str, b: &str) -> bool {
    let pairs = |dn: &str| {
        let mut out: Vec<(String, String)> = dn
            .split(',')
            .filter_map(|part| {
                let (key, value) = part.split_once('=')?;
                Some((key.trim().to_ascii_uppercase(), value.trim().to_string()))
            })
            .collect();
        out.sort();
        out
    };
    let left = pairs(a);
    !left.is_empty() && left == pairs(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn subjects_compare_by_their_attributes() {
        assert!(super::same_subject(
            "CN=app.example.com, O=Acme Ltd, C=GB",
            "C=GB,O=Acme Ltd,CN=app.example.com"
        ));
        assert!(super::same_subject(
            "cn=app.example.com,O=Acme Ltd",
            "CN=app.example.com,O=Acme Ltd"
        ));
        assert!(!super::same_subject(
            "CN=app.example.com,O=Acme Ltd",
            "CN=app.example.com,O=Evil Ltd"
        ));
        assert!(!super::same_subject(
            "CN=app.example.com",
            "CN=app.example.com,O=Acme Ltd"
        ));
        assert!(!super::same_subject("", ""));
    }
}
