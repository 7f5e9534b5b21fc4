//! Warnings for relay entries that look like mistakes (docs/reference.md §4): an open
//! relay, an entry broader than a /8, an entry that can never decide anything
//! because earlier entries match all it matches, and a public range in an
//! otherwise private list (one where entries holding public addresses are
//! no more than the private ones). Warnings never change what the list does.

use super::blocks::{host_mask, NON_PUBLIC_V4, NON_PUBLIC_V6, PRIVATE_V4, PRIVATE_V6};
use super::exposure;
use super::lint_input::LintInput;
use super::list::RelayList;
use super::range::IpRange;
use super::report::WarningKind;
use super::shadow::shadowed_entries;
use super::table::NOBODY;
use super::warning::{Describe, Text, Warning};

/// More IPv4 addresses than this in one entry is "broader than a /8".
const BROAD_V4: u128 = 1 << 24;
/// IPv6 has no /8 habit; the comparable mistake is more than an ISP's /32.
const BROAD_V6: u128 = 1 << 96;
/// From this many entries, the lints use a second core.
const PARALLEL_ENTRIES: usize = 50_000;

/// Runs every check; returns the warnings (in entry order, list-wide last)
/// and whether the list makes an open relay. Linear in the entries and the
/// table (a shadowed entry walks a bounded number of intervals); the
/// warnings that can come by the thousand hold indexes, not sentences.
pub(crate) fn lint(list: &RelayList, entries: &LintInput) -> (Vec<Warning>, bool) {
    lint_on(list, entries, entries.len() >= PARALLEL_ENTRIES)
}

/// [`lint`], on two cores if `parallel`.
fn lint_on(list: &RelayList, entries: &LintInput, parallel: bool) -> (Vec<Warning>, bool) {
    let mut owned = vec![false; entries.len()];
    for &owner in list.v4.owners().iter().chain(list.v6.owners()) {
        if let Some(slot) = owned.get_mut(owner as usize) {
            *slot = true;
        }
    }
    // The per-entry checks and the open-relay measure of the tables are
    // independent: on a long list, the first run on another core.
    let entry_checks = || {
        (
            shadowed_entries(list, entries, &owned),
            mostly_private(entries),
        )
    };
    let ((shadows, first_private), measured) = if parallel {
        std::thread::scope(|scope| {
            let checked = scope.spawn(entry_checks);
            let measured = Measured::of(list);
            let checked = checked
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (checked, measured)
        })
    } else {
        (entry_checks(), Measured::of(list))
    };
    let mut shadows = shadows.into_iter().peekable();
    let mut warnings = Vec::new();
    let mut open_relay = false;
    let mut whole_entry = [false, false]; // an entry covering all of IPv4 / IPv6
    for (index, entry) in entries.iter() {
        let k = index as u32;
        // Named only in a warning: most entries of a long list get none.
        let this = Describe(&list.raws, k);
        let mut warn = |kind, text| {
            warnings.push(Warning {
                index: k,
                kind,
                text,
            })
        };
        if let Some((_, coverers)) = shadows.next_if(|(i, _)| *i == k) {
            warn(WarningKind::Shadowed, Text::Shadowed(coverers));
            continue;
        }
        if entry.negated {
            continue; // an exception only ever denies: broad or public is not a risk
        }
        if let Some(whole) = entry.ranges().iter().find(|r| r.is_whole_family()) {
            let family = family_name(whole);
            whole_entry[usize::from(family == "IPv6")] = true;
            open_relay = true;
            let message = format!("{this} allows every {family} address: this makes an open relay, refused unless --allow-open-relay");
            warn(WarningKind::OpenRelay, Text::Sentence(message));
            continue;
        }
        // Private space is never "broad": fe80::/10 is a legitimate "all link-local".
        let private = entry.ranges().iter().all(is_private);
        let (v4, v6) = if private {
            (0, 0)
        } else {
            sizes(entry.ranges())
        };
        if v4 > BROAD_V4 {
            let message =
                format!("{this} allows {v4} IPv4 addresses, more than a /8: check it is meant");
            warn(WarningKind::Broad, Text::Sentence(message));
        }
        if v6 > BROAD_V6 {
            let message =
                format!("{this} allows {v6} IPv6 addresses, more than a /32: check it is meant");
            warn(WarningKind::Broad, Text::Sentence(message));
        }
        if let Some(name) = entry.name {
            // A one-label name matches by reverse DNS every host under it: if it
            // is a top-level domain, anyone who controls a PTR record under it.
            if !name.contains('.') && name != "localhost" {
                let message = format!("{this} is a single-label name: if it is a top-level domain, every host whose verified reverse DNS is under it may relay");
                warn(WarningKind::Broad, Text::Sentence(message));
            }
            continue;
        }
        if let Some(like) = first_private {
            // Single hosts are exempt: the default list holds the machine's own
            // (possibly public) addresses next to 127.0.0.1.
            if entry.ranges().iter().any(|r| r.size() > 1 && is_public(r)) {
                let like = like as u32;
                warn(
                    WarningKind::PublicInPrivateList,
                    Text::PublicInPrivate { like },
                );
            }
        }
    }
    let (list_wide, open) = list_wide(measured, whole_entry);
    warnings.extend(list_wide);
    (warnings, open_relay || open)
}

/// The first private entry, if the list is "otherwise private": its address
/// entries (exceptions aside) holding public addresses are no more than its
/// private ones. A list mostly of public networks (a host's own, a
/// partner's) is not a private list with a slip in it.
fn mostly_private(entries: &LintInput) -> Option<usize> {
    let mut first_private = None;
    let (mut private, mut public) = (0usize, 0usize);
    for (index, e) in entries.iter() {
        if e.negated || e.name.is_some() {
            continue;
        }
        if e.ranges().iter().all(is_private) {
            private += 1;
            first_private.get_or_insert(index);
        } else if e.ranges().iter().any(is_public) {
            public += 1;
        }
    }
    first_private.filter(|_| public <= private)
}

/// The list-wide checks: the entries together allow a whole family, or
/// nearly all of its public space. `whole_entry` says which family one entry
/// already allowed whole (warned about at that entry).
fn list_wide(measured: Measured, whole_entry: [bool; 2]) -> (Vec<Warning>, bool) {
    let mut warnings = Vec::new();
    let mut open_relay = false;
    let mut family_open = whole_entry;
    for (v6, family) in [(false, "IPv4"), (true, "IPv6")] {
        let f = usize::from(v6);
        if measured.all_allowed[f] && !whole_entry[f] {
            open_relay = true;
            family_open[f] = true;
            warnings.push(Warning {
                index: NOBODY,
                kind: WarningKind::OpenRelay,
                text: Text::Sentence(format!("together the entries allow every {family} address: this makes an open relay, refused unless --allow-open-relay")),
            });
        }
    }
    // Nearly everyone is as open as everyone: `1-255.*.*.*`, `2000::/3`.
    for (v6, (exposure, owners)) in [false, true].into_iter().zip(measured.exposure) {
        let Some(owners) = owners.filter(|_| !family_open[usize::from(v6)]) else {
            continue;
        };
        open_relay = true;
        let (family, limit) = if v6 { ("IPv6", "/32") } else { ("IPv4", "/8") };
        // IPv6 counts are unreadable: add the prefix length of a block about that size.
        let about = if v6 {
            format!(
                " (about a /{})",
                128 - (exposure.public as f64).log2().round() as u32
            )
        } else {
            String::new()
        };
        warnings.push(Warning {
            index: NOBODY,
            kind: WarningKind::OpenRelay,
            text: Text::Sentence(format!(
                "relay.allow admits {} public {family} addresses{about} after its exceptions, more than a {limit}, through {owners}: this makes an open relay, refused unless --allow-open-relay",
                exposure.public,
            )),
        });
    }
    (warnings, open_relay)
}

/// What the list-wide checks need of the tables, per family (IPv4, IPv6):
/// whether every address is allowed, and how much public space is, with
/// the entries that allow most of it named when that makes an open relay.
struct Measured {
    all_allowed: [bool; 2],
    exposure: [(exposure::Exposure, Option<String>); 2],
}

impl Measured {
    fn of(list: &RelayList) -> Measured {
        let named = |exposure: exposure::Exposure, v6: bool| {
            let owners = exposure.is_open(v6).then(|| exposure.name_owners(list));
            (exposure, owners)
        };
        Measured {
            all_allowed: [
                all_allowed(list.v4.owners(), list),
                all_allowed(list.v6.owners(), list),
            ],
            exposure: [
                named(exposure::v4(list), false),
                named(exposure::v6(list), true),
            ],
        }
    }
}

fn family_name(range: &IpRange) -> &'static str {
    match range {
        IpRange::V4 { .. } => "IPv4",
        IpRange::V6 { .. } => "IPv6",
    }
}

/// Whether every interval of a family's table is owned by an allow entry.
fn all_allowed(owners: &[u32], list: &RelayList) -> bool {
    owners
        .iter()
        .all(|&owner| owner != NOBODY && !list.is_negated(owner))
}

/// Total addresses per family (IPv6 saturating).
fn sizes(ranges: &[IpRange]) -> (u128, u128) {
    ranges.iter().fold((0, 0), |(v4, v6), r| match r {
        IpRange::V4 { .. } => (v4 + r.size(), v6),
        IpRange::V6 { .. } => (v4, v6.saturating_add(r.size())),
    })
}

fn within(first: u128, last: u128, (base, prefix): (u128, u32), bits: u32) -> bool {
    let block_last = base | host_mask(prefix, bits);
    base <= first && last <= block_last
}

fn bounds(range: &IpRange) -> (u128, u128, u32) {
    match *range {
        IpRange::V4 { first, last } => (u128::from(first), u128::from(last), 32),
        IpRange::V6 { first, last } => (first, last, 128),
    }
}

/// An IPv4 block's first and last address (its prefix is never 0 here).
fn v4_block(&(base, prefix): &(u128, u32)) -> (u32, u32) {
    let base = base as u32;
    (base, base | u32::MAX.checked_shr(prefix).unwrap_or(0))
}

/// Whether the whole range lies in one private, loopback or link-local block.
fn is_private(range: &IpRange) -> bool {
    // Asked of every entry of a long list: IPv4 in 32-bit arithmetic.
    if let IpRange::V4 { first, last } = *range {
        return PRIVATE_V4
            .iter()
            .map(v4_block)
            .any(|(lo, hi)| lo <= first && last <= hi);
    }
    let (first, last, bits) = bounds(range);
    let blocks = match range {
        IpRange::V4 { .. } => PRIVATE_V4,
        IpRange::V6 { .. } => PRIVATE_V6,
    };
    blocks.iter().any(|&block| within(first, last, block, bits))
}

/// Whether the range holds at least one public unicast address.
fn is_public(range: &IpRange) -> bool {
    if let IpRange::V4 { first, last } = *range {
        // Asked of every entry of a long list: IPv4 in 32-bit arithmetic.
        let blocks = NON_PUBLIC_V4.iter().map(v4_block);
        return has_gap(first, last, blocks, |hi: u32| hi.checked_add(1));
    }
    let (first, last, bits) = bounds(range);
    let blocks = match range {
        IpRange::V4 { .. } => NON_PUBLIC_V4,
        IpRange::V6 { .. } => NON_PUBLIC_V6,
    };
    let blocks = blocks
        .iter()
        .map(|&(base, prefix)| (base, base | host_mask(prefix, bits)));
    has_gap(first, last, blocks, |hi: u128| hi.checked_add(1))
}

/// Whether `first..=last` holds an address outside every block of
/// `blocks` (sorted, disjoint, as inclusive `(lo, hi)`): walks them from
/// `first`, and a gap before `last` is found. `next` is `hi + 1`, `None`
/// at the top of the address space.
fn has_gap<T: Copy + Ord>(
    first: T,
    last: T,
    blocks: impl Iterator<Item = (T, T)>,
    next: impl Fn(T) -> Option<T>,
) -> bool {
    let mut cursor = first;
    for (lo, hi) in blocks {
        if hi < cursor {
            continue;
        }
        if lo > cursor {
            return true; // cursor..lo-1 is outside and cursor <= last
        }
        match next(hi) {
            Some(after) if hi < last => cursor = after,
            _ => return false,
        }
    }
    cursor <= last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: &str, b: &str) -> IpRange {
        let a: std::net::Ipv4Addr = a.parse().unwrap();
        let b: std::net::Ipv4Addr = b.parse().unwrap();
        IpRange::V4 {
            first: a.into(),
            last: b.into(),
        }
    }

    #[test]
    fn two_cores_find_what_one_finds() {
        let mut entries: Vec<String> = vec!["1-200.*.*.*".into(), "!1.2.3.4".into()];
        entries.extend((0..300u32).map(|n| format!("{}.{}.0.0/16", 1 + n % 250, n / 250)));
        entries.extend(
            [
                "10.0.0.0/8",
                "2001:db8::/32",
                "2001:db8::1",
                "::/0",
                "10.1.2.3",
            ]
            .map(String::from),
        );
        let (list, _) = RelayList::compile(&entries, &Default::default(), None);
        let mut input = LintInput::default();
        for raw in &entries {
            let entry = crate::entry::parse_entry(raw).unwrap();
            match entry.kind {
                crate::entry::EntryKind::Ranges(ranges) => input.push(entry.negated, &ranges, None),
                crate::entry::EntryKind::Name(_) => unreachable!("no names here"),
            }
        }
        let one = lint_on(&list, &input, false);
        assert_eq!(lint_on(&list, &input, true), one);
        assert!(one.1, "an open relay");
        assert!(one.0.len() > 200, "{}", one.0.len());
    }

    #[test]
    fn the_ipv4_shortcuts_agree_with_the_general_walk() {
        // The general walk, as IPv6 takes it, on an IPv4 range.
        fn general(range: &IpRange, blocks: &[(u128, u32)], public: bool) -> bool {
            let (first, last, bits) = bounds(range);
            if !public {
                return blocks.iter().any(|&block| within(first, last, block, bits));
            }
            let blocks = blocks
                .iter()
                .map(|&(base, prefix)| (base, base | host_mask(prefix, bits)));
            has_gap(first, last, blocks, |hi: u128| hi.checked_add(1))
        }
        let mut edges: Vec<u32> = vec![0, 1, u32::MAX - 1, u32::MAX];
        for (lo, hi) in NON_PUBLIC_V4.iter().chain(PRIVATE_V4).map(v4_block) {
            edges.extend([lo.saturating_sub(1), lo, hi, hi.saturating_add(1)]);
        }
        for &first in &edges {
            for &last in edges.iter().filter(|&&l| l >= first) {
                let r = IpRange::V4 { first, last };
                assert_eq!(is_private(&r), general(&r, PRIVATE_V4, false), "{r:?}");
                assert_eq!(is_public(&r), general(&r, NON_PUBLIC_V4, true), "{r:?}");
            }
        }
    }

    #[test]
    fn public_and_private_blocks() {
        assert!(is_private(&v4("192.168.1.0", "192.168.1.255")));
        assert!(is_private(&v4("127.0.0.1", "127.0.0.1")));
        assert!(!is_private(&v4("8.8.8.0", "8.8.8.255")));
        assert!(is_public(&v4("8.8.8.0", "8.8.8.255")));
        assert!(!is_public(&v4("10.0.0.0", "10.255.255.255")));
        assert!(!is_public(&v4("224.0.0.0", "255.255.255.255")));
        assert!(is_public(&v4("9.255.255.255", "10.0.0.5")));
        assert!(is_public(&v4("10.0.0.5", "11.0.0.0")));
        assert!(!is_public(&v4("192.0.2.0", "192.0.2.255")));
        let ula = IpRange::V6 {
            first: 0xfd00 << 112,
            last: (0xfd00 << 112) | 0xffff,
        };
        assert!(is_private(&ula) && !is_public(&ula));
        let global = IpRange::V6 {
            first: 0x2a00 << 112,
            last: (0x2a00 << 112) | 0xffff,
        };
        assert!(is_public(&global) && !is_private(&global));
    }
}
