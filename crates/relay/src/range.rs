//! Inclusive address ranges, the unit everything in the relay list compiles
//! to: IPv4 as `u32`, IPv6 as `u128`, so a range is two integers and
//! containment is two comparisons.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An inclusive range of addresses of one family (`first <= last`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpRange {
    /// IPv4 addresses `first..=last` as big-endian integers.
    V4 {
        /// The lowest address.
        first: u32,
        /// The highest address.
        last: u32,
    },
    /// IPv6 addresses `first..=last` as big-endian integers.
    V6 {
        /// The lowest address.
        first: u128,
        /// The highest address.
        last: u128,
    },
}

impl IpRange {
    /// The one-address range holding `ip`. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`) becomes its IPv4 address, as clients are looked up.
    pub fn host(ip: IpAddr) -> IpRange {
        match canonical(ip) {
            IpAddr::V4(v4) => {
                let n = u32::from(v4);
                IpRange::V4 { first: n, last: n }
            }
            IpAddr::V6(v6) => {
                let n = u128::from(v6);
                IpRange::V6 { first: n, last: n }
            }
        }
    }

    /// Whether `ip` lies in this range (IPv4-mapped clients count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, canonical(ip)) {
            (IpRange::V4 { first, last }, IpAddr::V4(v4)) => {
                (*first..=*last).contains(&u32::from(v4))
            }
            (IpRange::V6 { first, last }, IpAddr::V6(v6)) => {
                (*first..=*last).contains(&u128::from(v6))
            }
            _ => false,
        }
    }

    /// How many addresses the range holds (saturating at `u128::MAX` for `::/0`).
    pub fn size(&self) -> u128 {
        match *self {
            IpRange::V4 { first, last } => u128::from(last - first) + 1,
            IpRange::V6 { first, last } => (last - first).saturating_add(1),
        }
    }

    /// Whether this range covers its whole address family (`0.0.0.0/0`, `::/0`).
    pub fn is_whole_family(&self) -> bool {
        matches!(
            *self,
            IpRange::V4 {
                first: 0,
                last: u32::MAX
            } | IpRange::V6 {
                first: 0,
                last: u128::MAX
            }
        )
    }

    /// The prefix length when the range is exactly one CIDR block.
    fn cidr_prefix(&self) -> Option<u32> {
        let (first, last, bits) = match *self {
            IpRange::V4 { first, last } => (u128::from(first), u128::from(last), 32),
            IpRange::V6 { first, last } => (first, last, 128),
        };
        let span = last - first;
        // A block is 2^k addresses aligned on 2^k: span = 2^k - 1 and first has no bits in span.
        if span.wrapping_add(1) & span != 0 || first & span != 0 {
            return None;
        }
        Some(bits - (128 - span.leading_zeros()))
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) are IPv4
/// clients seen through a dual-stack socket: they are matched as IPv4 so that
/// an IPv4 entry applies to them and an attacker cannot step around an IPv4
/// exception by connecting over the mapped form.
/// Every part of the server that compares client addresses goes through
/// this one function.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl fmt::Display for IpRange {
    /// `192.168.40.0-192.168.43.255`, `192.168.123.55`, `2001:db8::/32`, `::1`.
    /// IPv4 is always written first-last (what the seed's octet notations
    /// mean); IPv6 as a CIDR block when it is one, as nobody reads 128-bit
    /// ends comfortably.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpRange::V4 { first, last } if first == last => write!(f, "{}", Ipv4Addr::from(first)),
            IpRange::V4 { first, last } => {
                write!(f, "{}-{}", Ipv4Addr::from(first), Ipv4Addr::from(last))
            }
            IpRange::V6 { first, last } if first == last => write!(f, "{}", Ipv6Addr::from(first)),
            IpRange::V6 { first, last } => match self.cidr_prefix() {
                Some(prefix) => write!(f, "{}/{}", Ipv6Addr::from(first), prefix),
                None => write!(f, "{}-{}", Ipv6Addr::from(first), Ipv6Addr::from(last)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let r = IpRange::V4 {
            first: u32::from(Ipv4Addr::new(192, 168, 40, 0)),
            last: u32::from(Ipv4Addr::new(192, 168, 43, 255)),
        };
        assert_eq!(r.to_string(), "192.168.40.0-192.168.43.255");
        assert_eq!(
            IpRange::host("192.168.123.55".parse().unwrap()).to_string(),
            "192.168.123.55"
        );
        assert_eq!(IpRange::host("::1".parse().unwrap()).to_string(), "::1");
        let first = u128::from("2001:db8::".parse::<Ipv6Addr>().unwrap());
        let r = IpRange::V6 {
            first,
            last: first | ((1u128 << 96) - 1),
        };
        assert_eq!(r.to_string(), "2001:db8::/32");
        let r = IpRange::V6 {
            first: 0,
            last: u128::MAX,
        };
        assert_eq!(r.to_string(), "::/0");
        let r = IpRange::V6 { first: 1, last: 2 };
        assert_eq!(r.to_string(), "::1-::2");
    }

    #[test]
    fn mapped_clients_are_ipv4() {
        let r = IpRange::host("10.0.0.1".parse().unwrap());
        assert!(r.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert_eq!(IpRange::host("::ffff:10.0.0.1".parse().unwrap()), r);
        // IPv4-compatible (deprecated) is not mapped: ::1 stays the IPv6 loopback.
        assert!(!IpRange::host("0.0.0.1".parse().unwrap()).contains("::1".parse().unwrap()));
    }

    #[test]
    fn sizes() {
        assert_eq!(
            IpRange::V4 {
                first: 0,
                last: u32::MAX
            }
            .size(),
            1 << 32
        );
        assert_eq!(
            IpRange::V6 {
                first: 0,
                last: u128::MAX
            }
            .size(),
            u128::MAX
        );
        assert!(IpRange::V6 {
            first: 0,
            last: u128::MAX
        }
        .is_whole_family());
    }
}
