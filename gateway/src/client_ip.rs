//! The caller's address as the throttle of failed attempts counts it.

use std::net::IpAddr;

use crate::config::IpRange;

/// Built once: a name given as `&str` is parsed and hashed on every lookup.
const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

/// The caller's address: the TCP peer, unless the peer is a trusted proxy; then the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy. Entries further left were written
/// by the caller and prove nothing; an unparsable entry stops the walk at the peer.
pub(crate) fn client_ip(trusted: &[IpRange], peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
    let trusted_ip = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !trusted_ip(peer) {
        return peer;
    }
    let values = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        .filter_map(|v| v.to_str().ok());
    for part in values.flat_map(|v| v.rsplit(',')) {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) if trusted_ip(ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::{client_ip, IpRange};
    use std::net::IpAddr;

    fn h(values: &[&str]) -> http::HeaderMap {
        let mut m = http::HeaderMap::new();
        for v in values {
            m.append("x-forwarded-for", v.parse().unwrap());
        }
        m
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let lb: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let trusted: Vec<IpRange> = ["10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // Untrusted peer: the header is ignored, whatever it says.
        assert_eq!(client_ip(&trusted, client, &h(&["198.51.100.1"])), client);
        assert_eq!(client_ip(&[], lb, &h(&["198.51.100.1"])), lb);
        // Trusted peer: the rightmost untrusted entry; spoofed entries to its left are ignored.
        assert_eq!(
            client_ip(&trusted, lb, &h(&["198.51.100.1, 203.0.113.7"])),
            client
        );
        assert_eq!(
            client_ip(&trusted, lb, &h(&["198.51.100.1", "203.0.113.7, 10.0.0.2"])),
            client
        );
        // Nothing usable: the peer.
        assert_eq!(client_ip(&trusted, lb, &h(&[])), lb);
        assert_eq!(client_ip(&trusted, lb, &h(&["garbage"])), lb);
        assert_eq!(client_ip(&trusted, lb, &h(&["10.0.0.2"])), lb);
    }

    #[test]
    fn ranges_are_cidr() {
        let r = |s: &str| s.parse::<IpRange>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(r("10.42.0.0/16").contains(ip("10.42.7.9")));
        assert!(!r("10.42.0.0/16").contains(ip("10.43.0.1")));
        assert!(r("10.0.0.7").contains(ip("10.0.0.7")));
        assert!(!r("10.0.0.7").contains(ip("10.0.0.8")));
        assert!(r("0.0.0.0/0").contains(ip("203.0.113.7")));
        assert!(r("fd00::/8").contains(ip("fd12::1")));
        assert!(!r("fd00::/8").contains(ip("10.0.0.1")));
        // IPv4 peers seen through a dual-stack socket.
        assert!(r("10.42.0.0/16").contains(ip("::ffff:10.42.0.5")));
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "proxy",
            "10.0.0.1/x",
        ] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
        // Behind a trusted range, the first address left of the proxies is the caller.
        let trusted = vec![r("10.42.0.0/16")];
        assert_eq!(
            client_ip(&trusted, ip("10.42.3.4"), &h(&["198.51.100.9, 10.42.1.1"])),
            ip("198.51.100.9")
        );
    }
}
