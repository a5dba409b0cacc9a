//! What a production access request is made of, and the checks on the partner's form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::policy::{Decision, Route};

pub const STATUSES: [(&str, &str); 5] = [
    ("pending_review", "Waiting for review"),
    ("pending_second_review", "Waiting for a second reviewer"),
    ("more_info", "Waiting for the partner"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
];

pub fn status_label(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, label)| *label)
        .unwrap_or("Unknown")
}

/// The terms of an approved credential: the policy's conditions, narrowed by reviewers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Terms {
    pub scopes: Vec<String>,
    pub lifetime_days: i64,
    pub rate_limit_per_minute: i64,
    pub sender_constraint: bool,
}

#[derive(Clone, Debug)]
pub struct AccessRequest {
    pub id: String,
    pub org_id: String,
    pub org_name: String,
    pub app_id: String,
    pub app_name: String,
    pub tier: i64,
    pub scopes: Vec<String>,
    pub justifications: BTreeMap<String, String>,
    pub calls_per_day: i64,
    pub peak_per_second: i64,
    pub auth_method: String,
    pub key_material: Option<String>,
    pub ip_allowlist: Vec<String>,
    /// Countries the software calls from (empty: anywhere).
    pub allowed_countries: Vec<String>,
    pub lifetime_days: i64,
    pub go_live: String,
    pub status: String,
    pub route: Route,
    pub score: i64,
    pub band: String,
    pub policy_id: String,
    pub policy_sha256: String,
    pub facts: Value,
    pub decision: Decision,
    pub evidence_version: Value,
    pub terms: Option<Terms>,
    pub round: i64,
    pub assigned_to: Option<String>,
    pub production_app_id: Option<String>,
    pub secret_collected: bool,
    pub escalated_at: Option<i64>,
    pub version: i64,
    pub submitted_by: String,
    pub submitted_at: i64,
    /// Submission, or the partner's latest answer: what the review SLA is measured from.
    pub waiting_since: i64,
    pub updated_at: i64,
    pub decided_at: Option<i64>,
}

impl AccessRequest {
    pub fn is_open(&self) -> bool {
        matches!(
            self.status.as_str(),
            "pending_review" | "pending_second_review" | "more_info"
        )
    }

    pub fn awaits_review(&self) -> bool {
        matches!(
            self.status.as_str(),
            "pending_review" | "pending_second_review"
        )
    }

    /// The terms the next approval starts from: the first reviewer's, or the policy's
    /// conditions applied to what the partner asked for.
    pub fn proposed_terms(&self) -> Terms {
        if let Some(terms) = &self.terms {
            return terms.clone();
        }
        let c = &self.decision.conditions;
        Terms {
            scopes: self.scopes.clone(),
            lifetime_days: self.lifetime_days.min(c.max_lifetime_days),
            rate_limit_per_minute: c.rate_limit_per_minute,
            sender_constraint: c.sender_constraint,
        }
    }

    pub fn uses_secret(&self) -> bool {
        crate::clients::model::is_secret_method(&self.auth_method)
    }
}

pub const MAX_JUSTIFICATION: usize = 2000;
pub const MIN_JUSTIFICATION: usize = 20;
pub const MAX_ALLOWLIST_ENTRIES: usize = 20;

/// Parses an IP allow-list: addresses or CIDR ranges separated by spaces, commas or
/// new lines. A bare address is a /32 (or /128).
pub fn parse_allowlist(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
    {
        let net = match item.parse::<ipnet::IpNet>() {
            Ok(net) => net.trunc(),
            Err(_) => match item.parse::<std::net::IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip),
                Err(_) => {
                    return Err(format!(
                        "{item} is not an IP address or a CIDR range (e.g. 203.0.113.0/24)."
                    ))
                }
            },
        };
        let text = net.to_string();
        if !out.contains(&text) {
            out.push(text);
        }
    }
    if out.len() > MAX_ALLOWLIST_ENTRIES {
        return Err(format!(
            "At most {MAX_ALLOWLIST_ENTRIES} ranges; use wider ranges."
        ));
    }
    Ok(out)
}

/// The registered certificate of a mutual-TLS client (RFC 8705 §2.2,
/// `self_signed_tls_client_auth`): its `x5t#S256` thumbprint, which the presented
/// certificate must match exactly. Its subject alone is never enough: anyone can make
/// a certificate with any subject.
pub fn certificate_thumbprint(pem: &str) -> Result<String, String> {
    crate::oauth::mtls::parse_pem_certificate(pem).map(|c| c.thumbprint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn allowlists_take_addresses_and_ranges() {
        assert_eq!(
            parse_allowlist("203.0.113.7, 198.51.100.0/24\n2001:db8::/32").unwrap(),
            vec!["203.0.113.7/32", "198.51.100.0/24", "2001:db8::/32"]
        );
        assert_eq!(parse_allowlist("10.1.2.3/8").unwrap(), vec!["10.0.0.0/8"]);
        assert!(parse_allowlist("").unwrap().is_empty());
        assert!(parse_allowlist("300.1.1.1").is_err());
        assert!(parse_allowlist("10.0.0.0/33").is_err());
    }

    #[test]
    fn certificates_must_be_pem_x509() {
        assert!(certificate_thumbprint("CN=x").is_err());
        assert!(certificate_thumbprint(
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----"
        )
        .is_err());
    }
}
