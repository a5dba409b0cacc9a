//! The client's address behind a load balancer. Off by default: `X-Forwarded-For`
//! and `Forwarded` (RFC 7239) are believed only when the connection comes from an
//! address the operator listed as a trusted proxy (`--trusted-proxies`), because
//! anyone can send those headers. The client is the right-most address in the chain
//! that is not itself a trusted proxy (each proxy appends what it saw), so a client
//! cannot push a made-up address past the proxies.
//!
//! The sign-in throttle, the production IP allow-list, request logs and the audit
//! trail all read the address from here (through `ClientInfo`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use super::state::AppState;

/// The address a request is taken to come from, set by `client_address`.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

pub async fn client_address(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let client = effective(peer, request.headers(), &state.settings.trusted_proxies);
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

/// The client address for a connection from `peer` with these headers.
pub fn effective(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    let forwarded_for = headers.get_all("x-forwarded-for");
    let mut any = false;
    for value in forwarded_for.iter() {
        any = true;
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for part in text.split(',') {
            match parse_node(part) {
                Some(ip) => chain.push(ip),
                None => return peer,
            }
        }
    }
    if !any {
        for value in headers.get_all("forwarded").iter() {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            for element in text.split(',') {
                for pair in element.split(';') {
                    let Some((key, node)) = pair.trim().split_once('=') else {
                        continue;
                    };
                    if key.trim().eq_ignore_ascii_case("for") {
                        match parse_node(node) {
                            Some(ip) => chain.push(ip),
                            None => return peer,
                        }
                    }
                }
            }
        }
    }
    chain
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(chain.first())
        .copied()
        .unwrap_or(peer)
}

/// One node of a forwarding chain: `203.0.113.7`, `[2001:db8::1]:4711`,
/// `"[2001:db8::1]"` (RFC 7239 §6) or `198.51.100.1:8080`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.rsplit_once(':')
        .and_then(|(host, port)| port.parse::<u16>().ok().and(host.parse().ok()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarded_addresses_only_from_trusted_proxies() {
        let lb: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        let xff = headers(&[("x-forwarded-for", "203.0.113.7")]);
        // Off by default: the header is ignored.
        assert_eq!(effective(lb, &xff, &[]), lb);
        // From a stranger: ignored.
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(effective(stranger, &xff, &trusted), stranger);
        // From the balancer: believed.
        assert_eq!(effective(lb, &xff, &trusted).to_string(), "203.0.113.7");
        // A client's own forged entry sits left of what the proxy saw.
        let forged = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.0.0.9")]);
        assert_eq!(effective(lb, &forged, &trusted).to_string(), "203.0.113.7");
        let rfc7239 = headers(&[("forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https")]);
        assert_eq!(
            effective(lb, &rfc7239, &trusted).to_string(),
            "2001:db8:cafe::17"
        );
        let garbage = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(effective(lb, &garbage, &trusted), lb);
    }
}
