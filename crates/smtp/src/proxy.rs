//! The PROXY protocol header (HAProxy's "PROXY protocol" specification,
//! versions 1 and 2) that a load balancer sends first on a connection, to
//! name the real client. Sans-IO: the driver feeds what it has read and is
//! told how many bytes to read next, so it never reads past the header into
//! the SMTP conversation.
//!
//! ```text
//! let mut buf = Vec::new();
//! let header = loop {
//!     match proxy::parse(&buf)? {
//!         Parsed::Incomplete { at_least } => read_exact(at_least - buf.len()) onto buf,
//!         Parsed::Complete { header, len } => break header, // len == buf.len()
//!     }
//! };
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The version 2 signature (spec §2.2): it cannot start a v1 header nor any
/// text protocol line.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The version 1 prefix (spec §2.1).
const V1_PREFIX: &[u8] = b"PROXY ";
/// Spec §2.1: a v1 header is at most 107 bytes, CRLF included.
pub const V1_MAX_LEN: usize = 107;
/// The shortest valid header of either version (`PROXY UNKNOWN\r\n`), so
/// reading this much first never reads past a header.
const MIN_LEN: usize = 15;
/// The fixed part of a v2 header: signature, version/command, family, length.
const V2_FIXED: usize = 16;

/// What the header says about the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// 1 or 2.
    pub version: u8,
    /// The real client and the address it connected to; `None` for v1
    /// `UNKNOWN` and v2 `LOCAL` or non-IP families (a health check from the
    /// proxy itself: the connection's own addresses apply).
    pub addresses: Option<ProxiedAddresses>,
}

/// The client and server addresses as the proxy saw them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxiedAddresses {
    /// The real client.
    pub source: SocketAddr,
    /// The address the client connected to (the proxy's front end).
    pub destination: SocketAddr,
}

/// The state of a partly read header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Read until the buffer holds at least this many bytes, then parse again.
    /// It never exceeds the length of the header being read.
    Incomplete {
        /// The bytes needed before parsing again.
        at_least: usize,
    },
    /// The header is complete and is the first `len` bytes of the buffer.
    Complete {
        /// What the header says.
        header: ProxyHeader,
        /// The header's length: the session's bytes start after it.
        len: usize,
    },
}

/// Why a header is refused (the connection is then closed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The connection does not start with either signature.
    #[error("the connection does not start with a PROXY protocol header")]
    NoHeader,
    /// A v1 line longer than 107 bytes.
    #[error("the PROXY v1 header is longer than 107 bytes")]
    TooLong,
    /// A v1 line that does not follow the grammar.
    #[error("malformed PROXY v1 header: {0}")]
    V1(&'static str),
    /// A v2 header that does not follow the format.
    #[error("malformed PROXY v2 header: {0}")]
    V2(&'static str),
}

/// Parses the start of a connection.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let v1 = V1_PREFIX.starts_with(&buf[..buf.len().min(V1_PREFIX.len())]);
    let v2 = V2_SIGNATURE.starts_with(&buf[..buf.len().min(V2_SIGNATURE.len())]);
    // Refuse garbage at the first wrong byte instead of waiting for more.
    if !v1 && !v2 {
        return Err(ProxyError::NoHeader);
    }
    if buf.len() < MIN_LEN {
        return Ok(Parsed::Incomplete { at_least: MIN_LEN });
    }
    if v1 {
        parse_v1(buf)
    } else {
        parse_v2(buf)
    }
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX_LEN {
            return Err(ProxyError::TooLong);
        }
        // One byte at a time: the line's end is not known in advance.
        return Ok(Parsed::Incomplete {
            at_least: buf.len() + 1,
        });
    };
    let len = end + 2;
    if len > V1_MAX_LEN {
        return Err(ProxyError::TooLong);
    }
    let line =
        std::str::from_utf8(&buf[V1_PREFIX.len()..end]).map_err(|_| ProxyError::V1("not ASCII"))?;
    let fields: Vec<&str> = line.split(' ').collect();
    let header = match fields.as_slice() {
        // Spec §2.1: "UNKNOWN" may be followed by anything, which is ignored.
        ["UNKNOWN", ..] => ProxyHeader {
            version: 1,
            addresses: None,
        },
        [family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let v4 = *family == "TCP4";
            let source = SocketAddr::new(v1_address(src, v4)?, v1_port(sport)?);
            let destination = SocketAddr::new(v1_address(dst, v4)?, v1_port(dport)?);
            ProxyHeader {
                version: 1,
                addresses: Some(ProxiedAddresses {
                    source,
                    destination,
                }),
            }
        }
        ["TCP4" | "TCP6", ..] => return Err(ProxyError::V1("expected 4 fields after the family")),
        _ => return Err(ProxyError::V1("unknown protocol family")),
    };
    Ok(Parsed::Complete { header, len })
}

fn v1_address(s: &str, v4: bool) -> Result<IpAddr, ProxyError> {
    if v4 {
        s.parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| ProxyError::V1("bad IPv4 address"))
    } else {
        s.parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| ProxyError::V1("bad IPv6 address"))
    }
}

fn v1_port(s: &str) -> Result<u16, ProxyError> {
    // Spec §2.1: plain decimal, no sign, no leading zero.
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !plain || (s.len() > 1 && s.starts_with('0')) {
        return Err(ProxyError::V1("bad port"));
    }
    s.parse().map_err(|_| ProxyError::V1("bad port"))
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.len() < V2_FIXED {
        return Ok(Parsed::Incomplete { at_least: V2_FIXED });
    }
    let version = buf[12] >> 4;
    let command = buf[12] & 0x0f;
    if version != 2 {
        return Err(ProxyError::V2("unsupported version"));
    }
    let family = buf[13] >> 4;
    let transport = buf[13] & 0x0f;
    let body_len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let len = V2_FIXED + body_len;
    if buf.len() < len {
        return Ok(Parsed::Incomplete { at_least: len });
    }
    let body = &buf[V2_FIXED..len];
    let addresses = match command {
        // LOCAL: the proxy's own connection (health check); the address
        // block, if any, is ignored (spec §2.2).
        0x0 => None,
        0x1 => match (family, transport) {
            // AF_INET, STREAM: 4 + 4 + 2 + 2 bytes, then TLVs (ignored).
            (0x1, 0x1) => {
                let b = body
                    .get(..12)
                    .ok_or(ProxyError::V2("address block too short for IPv4"))?;
                let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]));
                let port = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
                Some(ProxiedAddresses {
                    source: SocketAddr::new(ip(0), port(8)),
                    destination: SocketAddr::new(ip(4), port(10)),
                })
            }
            // AF_INET6, STREAM: 16 + 16 + 2 + 2 bytes.
            (0x2, 0x1) => {
                let b = body
                    .get(..36)
                    .ok_or(ProxyError::V2("address block too short for IPv6"))?;
                let ip = |o: usize| {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&b[o..o + 16]);
                    IpAddr::V6(Ipv6Addr::from(a))
                };
                let port = |o: usize| u16::from_be_bytes([b[o], b[o + 1]]);
                Some(ProxiedAddresses {
                    source: SocketAddr::new(ip(0), port(32)),
                    destination: SocketAddr::new(ip(16), port(34)),
                })
            }
            // UNSPEC or a Unix socket: no client address to use (spec §2.2:
            // the receiver uses the connection's own addresses).
            (0x0 | 0x3, _) => None,
            (0x1 | 0x2, _) => return Err(ProxyError::V2("only TCP (STREAM) is supported")),
            _ => return Err(ProxyError::V2("unknown address family")),
        },
        _ => return Err(ProxyError::V2("unknown command")),
    };
    Ok(Parsed::Complete {
        header: ProxyHeader {
            version: 2,
            addresses,
        },
        len,
    })
}

/// A v1 header line for `source` → `destination` (both of one family), as
/// a load balancer writes it. For tests and tools.
pub fn v1_header(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        source.ip(),
        destination.ip(),
        source.port(),
        destination.port()
    )
    .into_bytes()
}

/// A v2 `PROXY` header for `source` → `destination` (both of one family),
/// followed by `tlvs` (raw TLV bytes, ignored by [`parse`]). For tests and tools.
pub fn v2_header(source: SocketAddr, destination: SocketAddr, tlvs: &[u8]) -> Vec<u8> {
    let mut addr = Vec::new();
    let family = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            addr.extend_from_slice(&s.octets());
            addr.extend_from_slice(&d.octets());
            0x11
        }
        (s, d) => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            addr.extend_from_slice(&v6(s).octets());
            addr.extend_from_slice(&v6(d).octets());
            0x21
        }
    };
    addr.extend_from_slice(&source.port().to_be_bytes());
    addr.extend_from_slice(&destination.port().to_be_bytes());
    addr.extend_from_slice(tlvs);
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21);
    out.push(family);
    // A header built here is small: the address block plus the caller's TLVs.
    let len = u16::try_from(addr.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&addr);
    out
}

#[cfg(test)]
mod tests;
