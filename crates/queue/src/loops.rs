//! Mail loops (docs/reference.md §6): a message that has passed too many
//! hops, and a next hop that is this server itself.
//!
//! RFC 5321 §6.3: a loop is detected by counting `Received:` header fields;
//! 50 is Postfix's `hopcount_limit`. And, as Postfix's "mail for DOMAIN loops
//! back to myself", a destination whose next hop is one of this server's own
//! listening addresses is bounced instead of being sent to itself, where it
//! would be queued again and again.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use portcullis_relay::range::canonical;

/// Whether the header section at the start of `message` holds more than
/// `max` `Received:` fields. Reads the header section only (up to the first
/// empty line, or the end of what is given), and stops counting past `max`.
pub fn too_many_hops(message: &[u8], max: usize) -> bool {
    let mut count = 0;
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break; // RFC 5322 §2.1: the header section ends at the first empty line
        }
        let name = b"received:";
        if line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name) {
            count += 1;
            if count > max {
                return true;
            }
        }
    }
    false
}

/// What this server listens on: to tell whether a next hop is itself.
#[derive(Clone, Debug, Default)]
pub struct OwnListeners {
    /// The bound socket addresses (a wildcard address stands for every local one).
    pub listen: Vec<SocketAddr>,
    /// The machine's interface addresses, loopback included.
    pub interfaces: HashSet<IpAddr>,
}

impl OwnListeners {
    /// Whether connecting to `ip:port` would reach one of our own listeners:
    /// the exact address, or a wildcard listener (0.0.0.0, ::) on that port
    /// when `ip` is one of the machine's addresses.
    pub fn is_self(&self, ip: IpAddr, port: u16) -> bool {
        let ip = canonical(ip);
        self.listen.iter().any(|l| {
            l.port() == port
                && (canonical(l.ip()) == ip
                    || (l.ip().is_unspecified()
                        && (ip.is_loopback() || self.interfaces.contains(&ip))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(n: usize) -> Vec<u8> {
        let mut m = Vec::new();
        for i in 0..n {
            m.extend_from_slice(format!("Received: from hop{i} by mx\r\n\tid {i}\r\n").as_bytes());
        }
        m.extend_from_slice(b"Subject: x\r\n\r\nReceived: in the body\r\n");
        m
    }

    #[test]
    fn more_than_max_received_headers_is_a_loop() {
        assert!(!too_many_hops(&headers(50), 50));
        assert!(too_many_hops(&headers(51), 50));
        assert!(!too_many_hops(b"", 50));
        // Case-insensitive names; bodies and look-alike names do not count.
        assert!(too_many_hops(b"RECEIVED: a\nreceived: b\n\n", 1));
        assert!(!too_many_hops(
            b"X-Received: a\nReceived-SPF: b\n\nReceived: c\n",
            0
        ));
        let mut body_only = b"Subject: x\r\n\r\n".to_vec();
        body_only.extend(headers(60));
        assert!(!too_many_hops(&body_only, 50));
    }

    #[test]
    fn self_is_an_exact_listener_or_a_wildcard_on_a_local_address() {
        let own = OwnListeners {
            listen: vec![
                "127.0.0.1:2525".parse().unwrap(),
                "0.0.0.0:25".parse().unwrap(),
            ],
            interfaces: ["192.0.2.7".parse().unwrap()].into(),
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(own.is_self(ip("127.0.0.1"), 2525));
        assert!(own.is_self(ip("::ffff:127.0.0.1"), 2525));
        assert!(!own.is_self(ip("127.0.0.1"), 2526));
        assert!(!own.is_self(ip("127.0.0.2"), 2525));
        assert!(own.is_self(ip("192.0.2.7"), 25));
        assert!(
            own.is_self(ip("127.0.0.9"), 25),
            "loopback reaches a wildcard listener"
        );
        assert!(!own.is_self(ip("198.51.100.1"), 25));
    }
}
