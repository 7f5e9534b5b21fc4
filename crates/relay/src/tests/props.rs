//! Property tests: the compiled table agrees with a naive first-match
//! reference that reads each entry string directly, a DNS failure never
//! decides differently from what some real DNS answer would, and compiling
//! is deterministic.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

/// Octets drawn from a small universe so that entries overlap a lot.
fn octet(universe: &'static [u8]) -> impl Strategy<Value = u8> {
    prop::sample::select(universe)
}

const A: &[u8] = &[10, 11];
const B: &[u8] = &[0, 1, 2];
const C: &[u8] = &[0, 1, 2, 3];
const D: &[u8] = &[0, 1, 2, 5, 127, 128, 254, 255];

fn octet_pattern(universe: &'static [u8]) -> impl Strategy<Value = String> {
    // `*` in the middle octets makes up to 65,536 ranges: keep it present but rare,
    // so the test stays quick in debug builds.
    prop_oneof![
        4 => octet(universe).prop_map(|n| n.to_string()),
        1 => Just("*".to_string()),
        3 => (octet(universe), octet(universe)).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
    ]
}

fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    (octet(A), octet(B), octet(C), octet(D)).prop_map(|(a, b, c, d)| Ipv4Addr::new(a, b, c, d))
}

fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    (0u16..4, 0u16..3).prop_map(|(x, y)| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, x, y))
}

fn entry() -> impl Strategy<Value = String> {
    let body = prop_oneof![
        3 => v4_addr().prop_map(|a| a.to_string()),
        3 => (octet_pattern(A), octet_pattern(B), octet_pattern(C), octet_pattern(D))
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        3 => (v4_addr(), 8u32..=32).prop_map(|(a, len)| {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            format!("{}/{len}", Ipv4Addr::from(u32::from(a) & mask))
        }),
        1 => v6_addr().prop_map(|a| a.to_string()),
        1 => (v6_addr(), 112u32..=128).prop_map(|(a, len)| {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            format!("{}/{len}", Ipv6Addr::from(u128::from(a) & mask))
        }),
        1 => Just("10.0.300.1".to_string()), // malformed: skipped, keeps its index
    ];
    (prop::bool::weighted(0.3), body)
        .prop_map(|(neg, body)| if neg { format!("!{body}") } else { body })
}

fn client() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        3 => v4_addr().prop_map(IpAddr::V4),
        1 => v4_addr().prop_map(|a| IpAddr::V6(a.to_ipv6_mapped())),
        1 => v6_addr().prop_map(IpAddr::V6),
    ]
}

/// Whether `body` (no `!`) covers `client`, read straight from the text.
fn naive_covers(body: &str, client: IpAddr) -> bool {
    let client = match client {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    if let Some((addr, len)) = body.split_once('/') {
        let len: u32 = len.parse().unwrap();
        return match (addr.parse::<IpAddr>().unwrap(), client) {
            (IpAddr::V4(net), IpAddr::V4(c)) => {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                u32::from(c) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(c)) => {
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                u128::from(c) & mask == u128::from(net)
            }
            _ => false,
        };
    }
    if body.contains(':') {
        return body.parse::<IpAddr>().unwrap() == client;
    }
    let IpAddr::V4(c) = client else { return false };
    body.split('.')
        .zip(c.octets())
        .all(|(part, value)| match part {
            "*" => true,
            _ => match part.split_once('-') {
                Some((lo, hi)) => {
                    (lo.parse::<u8>().unwrap()..=hi.parse::<u8>().unwrap()).contains(&value)
                }
                None => part.parse::<u8>().unwrap() == value,
            },
        })
}

/// First match over the entries as written.
fn naive_lookup(entries: &[String], client: IpAddr) -> Option<(usize, bool)> {
    entries.iter().enumerate().find_map(|(index, raw)| {
        parse_entry(raw).ok()?;
        let (allow, body) = match raw.strip_prefix('!') {
            Some(body) => (false, body),
            None => (true, raw.as_str()),
        };
        naive_covers(body, client).then_some((index, allow))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn table_agrees_with_naive_first_match(
        entries in prop::collection::vec(entry(), 0..40),
        clients in prop::collection::vec(client(), 1..40),
    ) {
        let (list, _) = RelayList::compile(&entries, &HashMap::new(), None);
        for c in clients {
            let expected = naive_lookup(&entries, c);
            let got = decides(&list, &c.to_string());
            prop_assert_eq!(got, expected, "client {} entries {:?}", c, entries);
            prop_assert!(!list.needs_reverse_dns(c));
        }
    }

    #[test]
    fn tables_are_well_formed(entries in prop::collection::vec(entry(), 0..40)) {
        let (list, _) = RelayList::compile(&entries, &HashMap::new(), None);
        let v4: Vec<_> = list.v4.intervals().collect();
        prop_assert_eq!(v4.first().map(|i| i.0), Some(0));
        prop_assert_eq!(v4.last().map(|i| i.1), Some(u32::MAX));
        for pair in v4.windows(2) {
            prop_assert_eq!(pair[0].1 + 1, pair[1].0);
            prop_assert_ne!(pair[0].2, pair[1].2, "neighbours with one owner must merge");
        }
        let v6: Vec<_> = list.v6.intervals().collect();
        prop_assert_eq!(v6.last().map(|i| i.1), Some(u128::MAX));
        for pair in v6.windows(2) {
            prop_assert_eq!(pair[0].1 + 1, pair[1].0);
            prop_assert_ne!(pair[0].2, pair[1].2);
        }
    }

    #[test]
    fn compile_is_deterministic(entries in prop::collection::vec(entry(), 0..40)) {
        let a = RelayList::compile(&entries, &HashMap::new(), None);
        let b = RelayList::compile(&entries, &HashMap::new(), None);
        prop_assert_eq!(&a.0, &b.0);
        prop_assert_eq!(&a.1, &b.1);
    }

    #[test]
    fn a_definite_answer_under_dns_failure_holds_for_every_real_answer(
        entries in prop::collection::vec(prop_oneof![
            3 => entry(),
            2 => (prop::bool::ANY, prop::sample::select(&["example.com", "mail.example.com", "guest.example.com", "other.org"][..]))
                .prop_map(|(neg, name)| if neg { format!("!{name}") } else { name.to_string() }),
        ], 0..20),
        c in client(),
    ) {
        let (list, _) = RelayList::compile(&entries, &HashMap::new(), None);
        let candidates = ["mail.example.com", "guest.example.com", "x.other.org", "example.com", "unrelated.net"];
        let mut outcomes: Vec<ReverseDns> = vec![ReverseDns::NoName];
        outcomes.extend(candidates.iter().map(|n| verified(&[n])));
        outcomes.push(verified(&["mail.example.com", "guest.example.com"]));
        let allowed = |m: &ListMatch| matches!(m, ListMatch::Allow { .. });
        let under_failure = list.lookup(c, &ReverseDns::TempFail);
        if !matches!(under_failure, ListMatch::TempFail { .. }) {
            // Definite: every real answer agrees on allow vs. not.
            for rdns in &outcomes {
                prop_assert_eq!(allowed(&list.lookup(c, rdns)), allowed(&under_failure), "{:?} vs {:?}", rdns, under_failure);
            }
        }
        if !list.needs_reverse_dns(c) {
            let unchecked = list.lookup(c, &ReverseDns::NotChecked);
            for rdns in &outcomes {
                prop_assert_eq!(&list.lookup(c, rdns), &unchecked);
            }
        }
    }
}

/// Text made of what an IPv4 address or block is written with, and what
/// is often mistyped in one.
fn v4_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => (0u16..300).prop_map(|n| n.to_string()),
        2 => Just(".".to_string()),
        1 => Just("0".to_string()),
        1 => (0u8..40).prop_map(|n| format!("/{n}")),
        1 => prop::sample::select(vec!["/", "!", " ", "*", "-", "00", "/033", ":", "x"])
            .prop_map(str::to_string),
    ];
    prop::collection::vec(piece, 1..10).prop_map(|parts| parts.concat())
}

/// A well-formed address or block (the quick path's own notations).
fn v4_entry() -> impl Strategy<Value = String> {
    (any::<u32>(), 0u32..=32, any::<bool>(), any::<bool>()).prop_map(
        |(addr, prefix, cidr, bang)| {
            let bang = if bang { "!" } else { "" };
            if cidr {
                let net = addr & u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                format!("{bang}{}/{prefix}", Ipv4Addr::from(net))
            } else {
                format!(" {bang}{} ", Ipv4Addr::from(addr))
            }
        },
    )
}

proptest! {
    /// The quick reader never accepts what the full parser reads
    /// differently, and takes every plain address and block.
    #[test]
    fn the_quick_reader_agrees_with_the_parser(raw in v4_like(), plain in v4_entry()) {
        if let Some((trimmed, negated, range)) = crate::entry::parse_quick(&raw) {
            let full = parse_entry(&raw).expect("the full parser accepts it too");
            prop_assert_eq!(full.raw.as_str(), trimmed);
            prop_assert_eq!(full.negated, negated);
            prop_assert_eq!(full.kind, EntryKind::Ranges(vec![range]));
        }
        let (trimmed, negated, range) = crate::entry::parse_quick(&plain).expect("plain notation");
        let full = parse_entry(&plain).unwrap();
        prop_assert_eq!(
            (full.raw.as_str(), full.negated, full.kind),
            (trimmed, negated, EntryKind::Ranges(vec![range]))
        );
    }
}
