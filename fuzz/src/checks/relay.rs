//! The relay list: the entry parser and the compiled first-match tables,
//! against a naive reference.
//!
//! Input: one `relay.allow` entry per line (at most 32); the bytes after a
//! NUL, if any, seed extra client addresses. Name entries resolve, through
//! a fake DNS answer, to an address derived from the name. Checked:
//! - the compiled lookup equals a linear first-match scan over the parsed
//!   entries (`IpRange::contains`), for the edges of every range (first,
//!   last, one outside each side, the IPv4-mapped forms) and the seeded
//!   addresses;
//! - where a tiny text reader of the notations (octet patterns, CIDR, plain
//!   addresses) understands an accepted entry, the parser's ranges cover the
//!   same edge addresses as the text says;
//! - compiling twice gives the same list, and the report has a line per entry.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portcullis_relay::range::canonical;
use portcullis_relay::{
    parse_entry, EntryKind, IpRange, ListMatch, MatchVia, NameResolution, RelayList, ReverseDns,
};

use super::Rng;

const MAX_ENTRIES: usize = 32;

pub fn check(data: &[u8]) {
    let (text, seed) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let entries: Vec<String> = text
        .split('\n')
        .take(MAX_ENTRIES)
        .map(str::to_string)
        .collect();

    let parsed: Vec<_> = entries.iter().map(|raw| parse_entry(raw).ok()).collect();
    let mut resolved = HashMap::new();
    for entry in parsed.iter().flatten() {
        if let EntryKind::Name(name) = &entry.kind {
            resolved.insert(
                name.clone(),
                NameResolution::Addresses(vec![fake_address(name)]),
            );
        }
    }
    let (list, report) = RelayList::compile(&entries, &resolved, None);
    let (list2, _) = RelayList::compile(&entries, &resolved, None);
    assert_eq!(list, list2, "compiling is not deterministic");
    assert_eq!(report.added + report.skipped, entries.len());
    assert_eq!(report.added, parsed.iter().flatten().count());

    // The naive reference: each entry's address ranges, in order.
    let naive: Vec<Option<(bool, Vec<IpRange>)>> = parsed
        .iter()
        .map(|p| {
            p.as_ref().map(|entry| {
                let ranges = match &entry.kind {
                    EntryKind::Ranges(r) => r.clone(),
                    EntryKind::Name(name) => vec![IpRange::host(fake_address(name))],
                };
                (entry.negated, ranges)
            })
        })
        .collect();

    let mut clients = Vec::new();
    for (ranges, raw) in naive.iter().zip(&entries) {
        if let Some((_, ranges)) = ranges {
            for r in ranges.iter().take(4) {
                edges(*r, &mut clients);
            }
            if let Some(last) = ranges.last() {
                edges(*last, &mut clients);
            }
        }
        text_edges(raw, &mut clients);
    }
    let mut rng = Rng::new(
        seed.iter()
            .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    );
    for chunk in seed.chunks(4).take(16) {
        let mut octets = [0u8; 4];
        octets[..chunk.len()].copy_from_slice(chunk);
        clients.push(IpAddr::V4(Ipv4Addr::from(octets)));
        clients.push(IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            rng.next() as u16 & 3,
            u16::from(octets[0]),
        )));
    }

    for ip in clients {
        let expected = first_match(&naive, &entries, ip);
        let got = list.lookup(ip, &ReverseDns::NotChecked);
        assert_eq!(got, expected, "client {ip} with entries {entries:?}");
    }

    // The parser against the text reader, where the latter understands the entry.
    for (entry, raw) in parsed.iter().zip(&entries) {
        let Some(entry) = entry else { continue };
        let EntryKind::Ranges(ranges) = &entry.kind else {
            continue;
        };
        let body = raw.trim().trim_start_matches('!');
        let mut probes = Vec::new();
        for r in ranges.iter().take(4) {
            edges(*r, &mut probes);
        }
        text_edges(raw, &mut probes);
        for ip in probes {
            if let Some(covered) = text_covers(body, ip) {
                let parsed_covers = ranges.iter().any(|r| r.contains(ip));
                assert_eq!(
                    parsed_covers, covered,
                    "entry {raw:?} and client {ip}: parser says {parsed_covers}"
                );
            }
        }
    }
}

/// The fake DNS answer for a name entry.
fn fake_address(name: &str) -> IpAddr {
    let h = name
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
    IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | (h & 0x00FF_FFFF)))
}

/// First, last and one beyond each side of `r`, and their IPv4-mapped forms.
fn edges(r: IpRange, out: &mut Vec<IpAddr>) {
    match r {
        IpRange::V4 { first, last } => {
            for n in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                let v4 = Ipv4Addr::from(n);
                out.push(IpAddr::V4(v4));
                out.push(IpAddr::V6(v4.to_ipv6_mapped()));
            }
        }
        IpRange::V6 { first, last } => {
            for n in [first.wrapping_sub(1), first, last, last.wrapping_add(1)] {
                out.push(IpAddr::V6(Ipv6Addr::from(n)));
            }
        }
    }
}

/// Addresses the text itself names (a plain address, a CIDR base), so the
/// reference is probed even where the parser refused the entry.
fn text_edges(raw: &str, out: &mut Vec<IpAddr>) {
    let body = raw.trim().trim_start_matches('!');
    let addr = body.split_once('/').map_or(body, |(a, _)| a);
    if let Ok(ip) = addr.parse::<IpAddr>() {
        out.push(ip);
    }
}

/// The first entry covering `ip`, scanning the list as written.
fn first_match(
    naive: &[Option<(bool, Vec<IpRange>)>],
    entries: &[String],
    ip: IpAddr,
) -> ListMatch {
    for (index, item) in naive.iter().enumerate() {
        let Some((negated, ranges)) = item else {
            continue;
        };
        if ranges.iter().any(|r| r.contains(ip)) {
            let entry = entries[index].trim().to_string();
            let via = MatchVia::Address;
            return if *negated {
                ListMatch::Except { index, entry, via }
            } else {
                ListMatch::Allow { index, entry, via }
            };
        }
    }
    ListMatch::NoMatch
}

/// Whether the notation `body` (no `!`) covers `ip`, read straight from the
/// text; `None` when this reader does not understand it.
fn text_covers(body: &str, ip: IpAddr) -> Option<bool> {
    let ip = canonical(ip);
    if let Some((addr, len)) = body.split_once('/') {
        let len: u32 = len.parse().ok()?;
        return match (addr.parse::<IpAddr>().ok()?, ip) {
            (IpAddr::V4(net), IpAddr::V4(c)) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                Some(u32::from(c) & mask == u32::from(net) & mask)
            }
            (IpAddr::V6(net), IpAddr::V6(c)) if len <= 128 && net.to_ipv4_mapped().is_none() => {
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                Some(u128::from(c) & mask == u128::from(net) & mask)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => Some(false),
            (IpAddr::V6(net), IpAddr::V4(_)) if net.to_ipv4_mapped().is_none() => Some(false),
            _ => None,
        };
    }
    if let Ok(addr) = body.parse::<IpAddr>() {
        return Some(canonical(addr) == ip);
    }
    let parts: Vec<&str> = body.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let IpAddr::V4(c) = ip else {
        return Some(false);
    };
    let mut all = true;
    for (part, value) in parts.iter().zip(c.octets()) {
        let (lo, hi) = match *part {
            "*" => (0, 255),
            p => match p.split_once('-') {
                Some((lo, hi)) => (octet(lo)?, octet(hi)?),
                None => {
                    let n = octet(p)?;
                    (n, n)
                }
            },
        };
        if lo > hi {
            return None;
        }
        all &= (lo..=hi).contains(&value);
    }
    Some(all)
}

/// A decimal octet without sign or leading `+`.
fn octet(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
