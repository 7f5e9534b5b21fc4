//! `listen.proxy_from` entries: one address (`10.0.0.2`, `2001:db8::7`) or a
//! CIDR network (`10.0.0.0/24`), naming the load balancers allowed to send a
//! PROXY protocol header.

use std::fmt;
use std::net::IpAddr;

/// An address or a CIDR network. An address without a prefix is one host
/// (/32 or /128), never a network (docs/reference.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// The prefix length: 0–32 for IPv4, 0–128 for IPv6.
    pub prefix: u8,
}

impl Network {
    /// Parses `10.0.0.2`, `10.0.0.0/24`, `::1` or `2001:db8::/32`. Host bits
    /// set under the prefix are refused (`10.0.0.1/24` is probably a typo).
    pub fn parse(s: &str) -> Result<Network, String> {
        let s = s.trim();
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| {
            "not an IP address or CIDR network (e.g. \"10.0.0.2\" or \"10.0.0.0/24\")".to_string()
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && !p.starts_with('+') => n,
                _ => {
                    return Err(format!(
                        "the prefix length must be a number from 0 to {max}"
                    ))
                }
            },
        };
        let net = Network { addr, prefix };
        if net.masked(addr) != addr {
            return Err(format!(
                "host bits are set under the /{prefix} prefix (the network is {}/{prefix})",
                net.masked(addr)
            ));
        }
        Ok(net)
    }

    /// Whether `ip` is inside this network. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.2`) counts as its IPv4 address, as the kernel reports
    /// IPv4 peers on a dual-stack socket that way.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        self.masked(ip) == self.addr
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == host {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Network;

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_single_address_is_one_host() {
        let n = Network::parse("10.0.0.2").unwrap();
        assert!(n.contains(ip("10.0.0.2")));
        assert!(!n.contains(ip("10.0.0.3")));
        assert_eq!(n.to_string(), "10.0.0.2");
        let v6 = Network::parse("2001:db8::7").unwrap();
        assert!(v6.contains(ip("2001:db8::7")));
        assert!(!v6.contains(ip("2001:db8::8")));
    }

    #[test]
    fn a_cidr_network_contains_its_range_and_mapped_addresses() {
        let n = Network::parse("10.0.0.0/24").unwrap();
        assert!(n.contains(ip("10.0.0.255")));
        assert!(n.contains(ip("::ffff:10.0.0.9")));
        assert!(!n.contains(ip("10.0.1.0")));
        assert!(!n.contains(ip("::1")));
        assert_eq!(n.to_string(), "10.0.0.0/24");
        assert!(Network::parse("0.0.0.0/0")
            .unwrap()
            .contains(ip("192.0.2.1")));
        assert!(Network::parse("2001:db8::/32")
            .unwrap()
            .contains(ip("2001:db8:ffff::1")));
    }

    #[test]
    fn malformed_entries_say_why() {
        assert!(Network::parse("10.0.0.1/24")
            .unwrap_err()
            .contains("host bits are set under the /24 prefix (the network is 10.0.0.0/24)"));
        assert!(Network::parse("10.0.0.0/33")
            .unwrap_err()
            .contains("from 0 to 32"));
        assert!(Network::parse("10.0.0.0/+8").is_err());
        assert!(Network::parse("lb.example.com")
            .unwrap_err()
            .starts_with("not an IP address"));
        assert!(Network::parse("").is_err());
    }
}
