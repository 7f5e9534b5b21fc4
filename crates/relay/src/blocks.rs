//! The special-purpose address blocks (RFC 6890) that the lints and the
//! open-relay guard measure relay-list entries against.

/// Private, loopback, link-local and shared (CGNAT) IPv4 blocks.
pub(crate) const PRIVATE_V4: &[(u128, u32)] = &[
    (0x0A00_0000, 8),  // 10.0.0.0/8, RFC 1918
    (0x6440_0000, 10), // 100.64.0.0/10, RFC 6598
    (0x7F00_0000, 8),  // 127.0.0.0/8, loopback
    (0xA9FE_0000, 16), // 169.254.0.0/16, link-local (RFC 3927)
    (0xAC10_0000, 12), // 172.16.0.0/12, RFC 1918
    (0xC0A8_0000, 16), // 192.168.0.0/16, RFC 1918
];

/// IPv4 blocks that are not public unicast, sorted (RFC 6890).
pub(crate) const NON_PUBLIC_V4: &[(u128, u32)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0A00_0000, 8),  // 10.0.0.0/8
    (0x6440_0000, 10), // 100.64.0.0/10
    (0x7F00_0000, 8),  // 127.0.0.0/8
    (0xA9FE_0000, 16), // 169.254.0.0/16
    (0xAC10_0000, 12), // 172.16.0.0/12
    (0xC000_0000, 24), // 192.0.0.0/24 protocol assignments
    (0xC000_0200, 24), // 192.0.2.0/24 documentation
    (0xC0A8_0000, 16), // 192.168.0.0/16
    (0xC612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xC633_6400, 24), // 198.51.100.0/24 documentation
    (0xCB00_7100, 24), // 203.0.113.0/24 documentation
    (0xE000_0000, 3),  // 224.0.0.0/3 multicast and reserved
];

/// Loopback, unique-local and link-local IPv6 blocks.
pub(crate) const PRIVATE_V6: &[(u128, u32)] = &[
    (1, 128),                                        // ::1
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7),  // fc00::/7, RFC 4193
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10), // fe80::/10
];

/// Everything but global unicast 2000::/3 (minus documentation), sorted.
pub(crate) const NON_PUBLIC_V6: &[(u128, u32)] = &[
    (0, 3),
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // 2001:db8::/32 documentation
    (0x4000_0000_0000_0000_0000_0000_0000_0000, 2),
    (0x8000_0000_0000_0000_0000_0000_0000_0000, 1),
];

/// The host part of a block of `prefix` bits in a `bits`-bit address.
pub(crate) fn host_mask(prefix: u32, bits: u32) -> u128 {
    match 1u128.checked_shl(bits - prefix) {
        Some(block) => block - 1,
        None => u128::MAX,
    }
}
