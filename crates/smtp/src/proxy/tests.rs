//! The PROXY protocol header, read as a load balancer sends it: every valid
//! form, every refusal, and the promise that the reader never asks for a
//! byte past the header.

use std::net::SocketAddr;

use super::{parse, v1_header, v2_header, Parsed, ProxyError, ProxyHeader, V2_SIGNATURE};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Feeds `bytes` the way the driver does (exactly as many bytes as asked
/// for) and returns the header and how many bytes it read; panics if the
/// parser ever asks for more than the header.
fn read_like_the_driver(bytes: &[u8]) -> Result<(ProxyHeader, usize), ProxyError> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match parse(&buf)? {
            Parsed::Incomplete { at_least } => {
                assert!(
                    at_least > buf.len(),
                    "asked for nothing more at {}",
                    buf.len()
                );
                assert!(
                    at_least <= bytes.len(),
                    "asked for {at_least} bytes, past the {}-byte input",
                    bytes.len()
                );
                buf.extend_from_slice(&bytes[buf.len()..at_least]);
            }
            Parsed::Complete { header, len } => {
                assert_eq!(len, buf.len(), "read past the header");
                return Ok((header, len));
            }
        }
    }
}

fn source_of(bytes: &[u8]) -> SocketAddr {
    let (h, _) = read_like_the_driver(bytes).unwrap();
    h.addresses.expect("addresses").source
}

#[test]
fn v1_tcp4_names_the_real_client() {
    let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n";
    let (h, len) = read_like_the_driver(line).unwrap();
    assert_eq!(len, line.len());
    assert_eq!(h.version, 1);
    let a = h.addresses.unwrap();
    assert_eq!(a.source, addr("192.0.2.7:56324"));
    assert_eq!(a.destination, addr("198.51.100.1:25"));
}

#[test]
fn v1_tcp6_and_unknown() {
    assert_eq!(
        source_of(b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 587\r\n"),
        addr("[2001:db8::7]:4000")
    );
    for line in [
        &b"PROXY UNKNOWN\r\n"[..],
        b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
    ] {
        let (h, len) = read_like_the_driver(line).unwrap();
        assert_eq!((h.version, h.addresses, len), (1, None, line.len()));
    }
}

#[test]
fn v1_the_smtp_conversation_after_the_header_is_never_read() {
    let mut bytes = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\n".to_vec();
    let header_len = bytes.len();
    bytes.extend_from_slice(b"EHLO client.example\r\n");
    // The parser is fed only what it asked for, so the EHLO stays unread.
    let mut buf = Vec::new();
    loop {
        match parse(&buf).unwrap() {
            Parsed::Incomplete { at_least } => {
                assert!(at_least <= header_len);
                buf.extend_from_slice(&bytes[buf.len()..at_least]);
            }
            Parsed::Complete { len, .. } => {
                assert_eq!(len, header_len);
                break;
            }
        }
    }
}

#[test]
fn v1_malformed_headers_are_refused() {
    let cases: &[(&[u8], &str)] = &[
        (b"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n", "4 fields"),
        (b"PROXY TCP4 2001:db8::7 198.51.100.1 1 25\r\n", "IPv4"),
        (b"PROXY TCP6 192.0.2.7 2001:db8::1 1 25\r\n", "IPv6"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 25\r\n", "port"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.1 025 25\r\n", "port"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.1 +1 25\r\n", "port"),
        (b"PROXY TCP4  192.0.2.7 198.51.100.1 1 25\r\n", "4 fields"),
        (b"PROXY UDP4 192.0.2.7 198.51.100.1 1 25\r\n", "family"),
        (b"PROXY tcp4 192.0.2.7 198.51.100.1 1 25\r\n", "family"),
    ];
    for (line, why) in cases {
        let err = read_like_the_driver(line).unwrap_err().to_string();
        assert!(
            err.contains(why),
            "{:?}: {err}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn v1_without_crlf_within_107_bytes_is_too_long() {
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(200, b'x');
    assert_eq!(read_like_the_driver(&long), Err(ProxyError::TooLong));
    // Exactly 107 bytes with the CRLF is still fine.
    let mut max = b"PROXY UNKNOWN ".to_vec();
    max.resize(105, b'x');
    max.extend_from_slice(b"\r\n");
    assert!(read_like_the_driver(&max).is_ok());
}

#[test]
fn anything_else_is_refused_at_the_first_wrong_byte() {
    assert_eq!(parse(b"E"), Err(ProxyError::NoHeader));
    assert_eq!(parse(b"EHLO x\r\n"), Err(ProxyError::NoHeader));
    assert_eq!(parse(b"PROXZ"), Err(ProxyError::NoHeader));
    assert_eq!(parse(b"\r\n\r\n\0\r\nQUIZ"), Err(ProxyError::NoHeader));
    // The first bytes of either signature are not yet a verdict.
    assert_eq!(parse(b""), Ok(Parsed::Incomplete { at_least: 15 }));
    assert_eq!(parse(b"PRO"), Ok(Parsed::Incomplete { at_least: 15 }));
    assert_eq!(parse(b"\r\n\r"), Ok(Parsed::Incomplete { at_least: 15 }));
}

#[test]
fn v2_inet_and_inet6_with_tlvs() {
    let h = v2_header(addr("192.0.2.7:56324"), addr("198.51.100.1:25"), &[]);
    assert_eq!(h.len(), 28);
    let (header, len) = read_like_the_driver(&h).unwrap();
    assert_eq!((header.version, len), (2, 28));
    assert_eq!(header.addresses.unwrap().source, addr("192.0.2.7:56324"));
    assert_eq!(
        header.addresses.unwrap().destination,
        addr("198.51.100.1:25")
    );

    // A TLV (type 0x04 NOOP, length 3) after the addresses is skipped.
    let tlv = [0x04, 0x00, 0x03, 1, 2, 3];
    let h6 = v2_header(addr("[2001:db8::7]:4000"), addr("[2001:db8::1]:587"), &tlv);
    let (header, len) = read_like_the_driver(&h6).unwrap();
    assert_eq!(len, 16 + 36 + tlv.len());
    assert_eq!(header.addresses.unwrap().source, addr("[2001:db8::7]:4000"));
}

#[test]
fn v2_local_and_unix_carry_no_client_address() {
    // LOCAL (command 0): a health check from the proxy itself.
    let mut local = V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    let (h, len) = read_like_the_driver(&local).unwrap();
    assert_eq!((h.version, h.addresses, len), (2, None, 16));
    // PROXY over AF_UNIX: 216 bytes of paths, no IP to use.
    let mut unix = V2_SIGNATURE.to_vec();
    unix.extend_from_slice(&[0x21, 0x31, 0x00, 216]);
    unix.extend_from_slice(&[0u8; 216]);
    assert_eq!(read_like_the_driver(&unix).unwrap().0.addresses, None);
}

#[test]
fn v2_malformed_headers_are_refused() {
    let mut bad_version = v2_header(addr("192.0.2.7:1"), addr("198.51.100.1:25"), &[]);
    bad_version[12] = 0x11;
    assert!(read_like_the_driver(&bad_version)
        .unwrap_err()
        .to_string()
        .contains("version"));
    let mut bad_command = v2_header(addr("192.0.2.7:1"), addr("198.51.100.1:25"), &[]);
    bad_command[12] = 0x2f;
    assert!(read_like_the_driver(&bad_command)
        .unwrap_err()
        .to_string()
        .contains("command"));
    let mut udp = v2_header(addr("192.0.2.7:1"), addr("198.51.100.1:25"), &[]);
    udp[13] = 0x12;
    assert!(read_like_the_driver(&udp)
        .unwrap_err()
        .to_string()
        .contains("TCP"));
    // A length too short for the family's address block.
    let mut short = V2_SIGNATURE.to_vec();
    short.extend_from_slice(&[0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]);
    assert!(read_like_the_driver(&short)
        .unwrap_err()
        .to_string()
        .contains("too short"));
}

#[test]
fn v1_header_builder_round_trips() {
    let h = v1_header(addr("127.0.50.1:40000"), addr("127.0.0.1:25"));
    assert_eq!(h, b"PROXY TCP4 127.0.50.1 127.0.0.1 40000 25\r\n");
    assert_eq!(source_of(&h), addr("127.0.50.1:40000"));
}
