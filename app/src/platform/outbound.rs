//! Every request Gatehouse itself sends to an address a partner chose (JWKS URLs of
//! `private_key_jwt` clients, partners' webhook endpoints) goes through `Policy`,
//! which guards against server-side request forgery (OWASP SSRF prevention):
//! - https only;
//! - the host is resolved here, and every address it resolves to must be public: no
//!   loopback, private, carrier-grade NAT, link-local (which holds the cloud metadata
//!   address 169.254.169.254), unique-local, multicast or unspecified address, and no
//!   IPv4 address hidden in an IPv6 one;
//! - the connection goes to the address that was checked (no second lookup an
//!   attacker's DNS could answer differently);
//! - redirects are not followed;
//! - a timeout and a size limit on the body.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Why a fetch was not made or failed.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("only https URLs are fetched")]
    NotHttps,
    #[error("the URL is not valid")]
    BadUrl,
    #[error("{0} resolves to a non-public address ({1})")]
    NotPublic(String, IpAddr),
    #[error("the host name does not resolve")]
    Unresolved,
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the request failed: {0}")]
    Failed(String),
}

/// Whether an address is one a partner's public endpoint may have.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            let first = segments[0];
            let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            // Local-use NAT64, 64:ff9b:1::/48 (RFC 8215).
            let local_nat64 = segments[..3] == [0x64, 0xff9b, 1];
            // IPv4-translated, ::ffff:0:a.b.c.d (RFC 2765).
            let translated = segments[..6] == [0, 0, 0, 0, 0xffff, 0];
            // 6to4, 2002::/16, whose embedded IPv4 address is not public.
            let six_to_four = first == 0x2002
                && !is_public_v4(Ipv4Addr::new(
                    (segments[1] >> 8) as u8,
                    segments[1] as u8,
                    (segments[2] >> 8) as u8,
                    segments[2] as u8,
                ));
            // Teredo, 2001::/32: the client's IPv4 address is embedded inverted.
            let teredo = first == 0x2001 && segments[1] == 0;
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
                || v6.segments()[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
                || nat64
                || local_nat64
                || translated
                || six_to_four
                || teredo
                || first == 0x2001 && segments[1] == 0x0db8) // documentation
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64.0.0/10
        || (a == 192 && b == 0) // IETF protocol assignments, 192.0.0.0/24 and more
        || (a == 198 && (18..20).contains(&b)) // benchmarking, 198.18.0.0/15
        || a >= 240) // reserved
}

/// What this installation may reach besides public addresses, and how names resolve.
/// The default is the strict policy above.
#[derive(Default)]
pub struct Policy {
    /// Exact socket addresses reachable even though they are not public (an operator's
    /// internal relay; the tests' loopback receiver). Nothing else private is.
    pub allow: Vec<SocketAddr>,
    /// Extra root certificates trusted for https (an internal CA), besides the web's.
    pub roots: Vec<reqwest::Certificate>,
    /// Fixed answers for host names, looked up before the system resolver (tests use
    /// it to make a name resolve to a chosen address, as a rebinding DNS server would).
    pub hosts: std::sync::RwLock<std::collections::HashMap<String, Vec<IpAddr>>>,
}

/// A checked destination: the URL, its host, and the addresses that may be dialled.
pub struct Target {
    pub url: url::Url,
    host: String,
    addresses: Vec<SocketAddr>,
}

impl Policy {
    /// The policy for the configured exceptions; `ca_pem` holds extra roots.
    pub fn new(allow: Vec<SocketAddr>, ca_pem: Option<&[u8]>) -> Result<Self, Refused> {
        let roots = match ca_pem {
            Some(pem) => reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Refused::Failed(format!("the outbound CA file: {e}")))?,
            None => Vec::new(),
        };
        Ok(Self {
            allow,
            roots,
            hosts: Default::default(),
        })
    }

    fn permitted(&self, address: SocketAddr) -> bool {
        is_public(address.ip()) || self.allow.contains(&address)
    }

    /// Parses `url` and resolves its host under the rules above, once: the addresses
    /// returned are the ones the request will go to.
    pub async fn check(&self, url: &str, timeout: Duration) -> Result<Target, Refused> {
        let parsed = url::Url::parse(url).map_err(|_| Refused::BadUrl)?;
        if parsed.scheme() != "https" {
            return Err(Refused::NotHttps);
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Refused::BadUrl);
        }
        let host = parsed.host_str().ok_or(Refused::BadUrl)?.to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let fixed = self
            .hosts
            .read()
            .ok()
            .and_then(|hosts| hosts.get(&bare.to_ascii_lowercase()).cloned());
        let addresses: Vec<SocketAddr> = match (bare.parse::<IpAddr>(), fixed) {
            (Ok(ip), _) => vec![SocketAddr::new(ip, port)],
            (Err(_), Some(ips)) => ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
            (Err(_), None) => {
                tokio::time::timeout(timeout, tokio::net::lookup_host((bare.as_str(), port)))
                    .await
                    .map_err(|_| Refused::Unresolved)?
                    .map_err(|_| Refused::Unresolved)?
                    .collect()
            }
        };
        if addresses.is_empty() {
            return Err(Refused::Unresolved);
        }
        if let Some(bad) = addresses.iter().find(|a| !self.permitted(**a)) {
            return Err(Refused::NotPublic(host, bad.ip()));
        }
        Ok(Target {
            url: parsed,
            host: bare,
            addresses,
        })
    }

    /// An HTTP client that reaches `target` at its checked addresses only, follows
    /// no redirects and gives up after `timeout`.
    pub fn client(&self, target: &Target, timeout: Duration) -> Result<reqwest::Client, Refused> {
        // No proxy, whatever the environment says (`HTTPS_PROXY`, `ALL_PROXY`): a
        // proxy would resolve the name again and connect wherever it likes, and the
        // checked address would never be used (review finding N7).
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .resolve_to_addrs(&target.host, &target.addresses);
        for root in &self.roots {
            builder = builder.add_root_certificate(root.clone());
        }
        builder.build().map_err(|e| Refused::Failed(e.to_string()))
    }
}

/// GETs `url` under the strict rules above; returns the body.
pub async fn fetch(url: &str, max_bytes: usize, timeout: Duration) -> Result<Vec<u8>, Refused> {
    let policy = Policy::default();
    let target = policy.check(url, timeout).await?;
    let client = policy.client(&target, timeout)?;
    let mut response = client
        .get(target.url)
        .send()
        .await
        .map_err(|e| Refused::Failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(Refused::Status(response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(Refused::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Refused::Failed(e.to_string()))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(Refused::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        match text.parse() {
            Ok(ip) => ip,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn only_public_addresses_are_fetched_from() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "192.0.0.170",
            // Review finding L9: local-use NAT64, 6to4 and Teredo around a private
            // address, site-local, IPv4-translated.
            "64:ff9b:1::a00:1",
            "2002:a00:1::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "::ffff:0:a00:1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in [
            "8.8.8.8",
            "151.101.1.1",
            "2606:4700::1111",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[tokio::test]
    async fn loopback_private_and_metadata_targets_are_refused_before_connecting() {
        let limit = 64 * 1024;
        let wait = Duration::from_secs(2);
        for url in [
            "https://127.0.0.1/jwks",
            "https://localhost:8443/jwks",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/jwks",
            "https://10.0.0.1/jwks",
        ] {
            assert!(
                matches!(fetch(url, limit, wait).await, Err(Refused::NotPublic(..))),
                "{url}"
            );
        }
        assert!(matches!(
            fetch("http://example.com/jwks", limit, wait).await,
            Err(Refused::NotHttps)
        ));
    }
}
