//! The entries of a relay list that can never decide anything: everything
//! they match is matched first by earlier entries. Each is named with the
//! earlier entries that match first (a few of them).

use super::lint_input::LintInput;
use super::list::RelayList;
use super::range::IpRange;
use super::table::NOBODY;
use super::warning::Coverers;

/// How many table intervals a shadowing check walks to name the coverers
/// (bounds the work on pathological lists; the warning then says "and others").
const WALK_BUDGET: usize = 1024;

/// The shadowed entries, in list order, with their coverers. `owned` says
/// which entries own a table interval (those are never shadowed). They are
/// looked up in the table in address order: a million binary searches at
/// random places in a table of millions of intervals would each miss the
/// CPU caches.
pub(crate) fn shadowed_entries(
    list: &RelayList,
    entries: &LintInput,
    owned: &[bool],
) -> Vec<(u32, Coverers)> {
    let owns = |index: usize| owned.get(index).copied().unwrap_or(false);
    // Most entries are one IPv4 range: those carry it along, in 12 bytes,
    // so the walk reads the table alone and the sort moves little.
    let mut v4: Vec<(u32, u32, u32)> = Vec::new();
    // The others (IPv6, patterns of several ranges, names): few.
    let mut others: Vec<(u8, u128, u32)> = Vec::new();
    for (index, e) in entries.iter().filter(|&(index, _)| !owns(index)) {
        let k = index as u32;
        match (e.ranges(), e.name) {
            ([IpRange::V4 { first, last }], None) => v4.push((*first, k, *last)),
            _ => others.push(match e.ranges().first() {
                Some(IpRange::V4 { first, .. }) => (0, u128::from(*first), k),
                Some(IpRange::V6 { first, .. }) => (1, *first, k),
                None => (2, 0, k),
            }),
        }
    }
    v4.sort_unstable_by_key(|&(first, k, _)| u64::from(first) << 32 | u64::from(k));
    others.sort_unstable();
    let mut found: Vec<(u32, Coverers)> = v4
        .into_iter()
        .filter_map(|(first, k, last)| {
            let range = IpRange::V4 { first, last };
            let coverers = shadowed(list, k, (std::slice::from_ref(&range), None), owned)?;
            Some((k, coverers))
        })
        .collect();
    found.extend(others.into_iter().filter_map(|(_, _, k)| {
        let entry = entries.get(k as usize)?;
        Some((k, shadowed(list, k, (entry.ranges(), entry.name), owned)?))
    }));
    found.sort_unstable_by_key(|&(k, _)| k);
    found
}

/// If entry `k` can never decide anything, the earlier entries that match
/// first (named, up to a few). An address entry is shadowed when it owns no
/// table interval; a name entry when, in addition, an earlier name entry
/// equals or contains its name (so its reverse-DNS match comes too late).
fn shadowed(
    list: &RelayList,
    k: u32,
    (ranges, name): (&[IpRange], Option<&str>),
    owned: &[bool],
) -> Option<Coverers> {
    let owns_addresses = owned.get(k as usize).copied().unwrap_or(false);
    let mut coverers = Coverers::default();
    match name {
        None => {
            if owns_addresses || ranges.is_empty() {
                return None;
            }
        }
        Some(name) => {
            if owns_addresses {
                return None;
            }
            let earlier = std::iter::once(name)
                .chain(name.match_indices('.').map(|(dot, _)| &name[dot + 1..]))
                .filter_map(|suffix| list.names.get(suffix).copied())
                .filter(|&j| j < k)
                .min()?;
            coverers.insert(earlier);
        }
    }
    // Name a few coverers; the walk has a budget, as a pattern can have
    // 65,536 ranges each lying over many intervals.
    let mut budget = WALK_BUDGET;
    for range in ranges {
        if budget == 0 || coverers.full() {
            coverers.more = true;
            break;
        }
        let mut walked = 0;
        let mut visit = |owner: u32| {
            walked += 1;
            if owner != NOBODY && owner != k {
                coverers.insert(owner);
            }
        };
        match *range {
            IpRange::V4 { first, last } => {
                list.v4.owners_in(first, last, budget).for_each(&mut visit)
            }
            IpRange::V6 { first, last } => {
                list.v6.owners_in(first, last, budget).for_each(&mut visit)
            }
        }
        budget -= walked;
    }
    coverers.more |= coverers.full();
    Some(coverers)
}
