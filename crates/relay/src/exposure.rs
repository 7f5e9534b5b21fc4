//! How much of the public Internet a compiled relay list lets relay, after
//! its exceptions: the guard that treats "nearly everyone" like `*.*.*.*`.
//!
//! Why: `1-255.*.*.*`, `0-254.*.*.*` or `2000::/3` miss a few addresses, so
//! they do not "cover every address", yet they make an open relay all the
//! same. More than a /8's worth of public IPv4 addresses, or more public IPv6
//! addresses than a /32 holds (an ISP's whole allocation), is no site's set of
//! trusted clients.

use super::blocks::{host_mask, NON_PUBLIC_V4, NON_PUBLIC_V6};
use super::list::RelayList;
use super::table::{Key, Table, NOBODY};

/// More public IPv4 addresses than a /8 holds.
const MAX_PUBLIC_V4: u128 = 1 << 24;
/// More public IPv6 addresses than a /32 holds.
const MAX_PUBLIC_V6: u128 = 1 << 96;
/// How many entries the message names before "and N more".
const NAMED: usize = 5;

/// What one family of the list admits of the public address space.
pub(crate) struct Exposure {
    /// Public addresses allowed to relay, after exceptions (saturating).
    pub(crate) public: u128,
    v6: bool,
}

impl Exposure {
    /// Whether this much public space makes an open relay.
    pub(crate) fn is_open(&self, v6: bool) -> bool {
        self.public > if v6 { MAX_PUBLIC_V6 } else { MAX_PUBLIC_V4 }
    }

    /// `relay.allow[0] "1-255.*.*.*", relay.allow[3] "8.0.0.0/7"`, the largest
    /// shares first (a few, then "and N more"). Walks the table again: only
    /// an open list is named, so the common case never counts per entry.
    pub(crate) fn name_owners(&self, list: &RelayList) -> String {
        let mut owners: Vec<(u32, u128)> = if self.v6 {
            owners(&shares::<_, u128>(&list.v6, list, NON_PUBLIC_V6, 128))
        } else {
            // An IPv4 entry owns at most 2^32 addresses: half the memory to scatter into.
            owners(&shares::<_, u64>(&list.v4, list, NON_PUBLIC_V4, 32))
        };
        // The largest shares, then the lowest index; only the first few are
        // named, so they are selected, not the whole list sorted.
        let largest = |a: &(u32, u128), b: &(u32, u128)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
        if owners.len() > NAMED {
            owners.select_nth_unstable_by(NAMED, largest);
        }
        let mut named: Vec<u32> = owners.iter().take(NAMED).map(|&(k, _)| k).collect();
        named.sort_unstable();
        let mut text = named
            .iter()
            .map(|&k| format!("relay.allow[{k}] {:?}", list.raw(k)))
            .collect::<Vec<_>>()
            .join(", ");
        if owners.len() > NAMED {
            text.push_str(&format!(" and {} more", owners.len() - NAMED));
        }
        text
    }
}

/// The public IPv4 addresses `list` admits.
pub(crate) fn v4(list: &RelayList) -> Exposure {
    Exposure {
        public: allowed(&list.v4, list, NON_PUBLIC_V4, 32)
            .fold(0, |sum: u128, (_, n)| sum.saturating_add(n)),
        v6: false,
    }
}

/// The public IPv6 addresses `list` admits.
pub(crate) fn v6(list: &RelayList) -> Exposure {
    Exposure {
        public: allowed(&list.v6, list, NON_PUBLIC_V6, 128)
            .fold(0, |sum: u128, (_, n)| sum.saturating_add(n)),
        v6: true,
    }
}

/// The public addresses each allow entry owns in the table, by entry index
/// (saturating at what `S` holds).
fn shares<K, S>(table: &Table<K>, list: &RelayList, non_public: &[(u128, u32)], bits: u32) -> Vec<S>
where
    K: Key + Into<u128>,
    S: Copy + Default + Into<u128> + TryFrom<u128>,
{
    let mut shares = vec![S::default(); list.negated.len()];
    for (owner, public) in allowed(table, list, non_public, bits) {
        if let Some(share) = shares.get_mut(owner as usize) {
            let sum = (*share).into().saturating_add(public);
            if let Ok(sum) = S::try_from(sum) {
                *share = sum;
            }
        }
    }
    shares
}

/// The entries with a share, with it.
fn owners<S: Copy + Into<u128>>(shares: &[S]) -> Vec<(u32, u128)> {
    shares
        .iter()
        .enumerate()
        .map(|(k, &n)| (k as u32, n.into()))
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// Walks the table's intervals (each owned by the first matching entry, so
/// exceptions are already applied) and yields the public part of those owned
/// by an allow entry, with its owner. Linear in the table; the block lists
/// are a dozen long.
fn allowed<'a, K: Key + Into<u128>>(
    table: &'a Table<K>,
    list: &'a RelayList,
    non_public: &'a [(u128, u32)],
    bits: u32,
) -> impl Iterator<Item = (u32, u128)> + 'a {
    table
        .intervals()
        .filter(move |&(_, _, owner)| owner != NOBODY && !list.is_negated(owner))
        .map(move |(first, last, owner)| {
            (
                owner,
                public_count(first.into(), last.into(), non_public, bits),
            )
        })
        .filter(|&(_, public)| public > 0)
}

/// Addresses of `first..=last` outside every (disjoint) non-public block
/// (saturating: `::/0` has 2^128 addresses).
fn public_count(first: u128, last: u128, non_public: &[(u128, u32)], bits: u32) -> u128 {
    // The blocks are sorted and disjoint: only those from the first one
    // ending at or after `first` up to the last one starting at or before
    // `last` can overlap (most intervals of a long list overlap none).
    let from =
        non_public.partition_point(|&(base, prefix)| (base | host_mask(prefix, bits)) < first);
    let hidden: u128 = non_public[from..]
        .iter()
        .take_while(|&&(base, _)| base <= last)
        .map(|&(base, prefix)| {
            let block_last = base | host_mask(prefix, bits);
            let (lo, hi) = (first.max(base), last.min(block_last));
            if lo > hi {
                0
            } else {
                hi - lo + 1
            }
        })
        .sum();
    // (last - first + 1) - hidden, without overflowing on the whole space;
    // the blocks are disjoint and clipped to the range, so hidden <= its size.
    match hidden.checked_sub(1) {
        None => (last - first).saturating_add(1),
        Some(h) => last - first - h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block, the way `public_count` did it before it skipped to the
    /// overlapping ones.
    fn naive(first: u128, last: u128, non_public: &[(u128, u32)], bits: u32) -> u128 {
        let hidden: u128 = non_public
            .iter()
            .map(|&(base, prefix)| {
                let (lo, hi) = (first.max(base), last.min(base | host_mask(prefix, bits)));
                if lo > hi {
                    0
                } else {
                    hi - lo + 1
                }
            })
            .sum();
        match hidden.checked_sub(1) {
            None => (last - first).saturating_add(1),
            Some(h) => last - first - h,
        }
    }

    #[test]
    fn the_blocks_are_sorted_and_disjoint_and_counted_as_before() {
        for (blocks, bits) in [(NON_PUBLIC_V4, 32), (NON_PUBLIC_V6, 128)] {
            for pair in blocks.windows(2) {
                let (base, prefix) = pair[0];
                assert!(base | host_mask(prefix, bits) < pair[1].0, "{pair:?}");
            }
        }
        let max4 = u128::from(u32::MAX);
        let mut edges: Vec<u128> = vec![0, 1, max4 - 1, max4];
        for &(base, prefix) in NON_PUBLIC_V4 {
            let last = base | host_mask(prefix, 32);
            edges.extend([
                base.saturating_sub(1),
                base,
                base + 1,
                last - 1,
                last,
                (last + 1).min(max4),
            ]);
        }
        for &a in &edges {
            for &b in edges.iter().filter(|&&b| b >= a) {
                assert_eq!(
                    public_count(a, b, NON_PUBLIC_V4, 32),
                    naive(a, b, NON_PUBLIC_V4, 32),
                    "{a}..{b}"
                );
            }
        }
        for (a, b) in [
            (0, u128::MAX),
            (0x2000 << 112, (0x2000 << 112) + 5),
            (1, 1),
            (5, 0xfc00 << 112),
        ] {
            assert_eq!(
                public_count(a, b, NON_PUBLIC_V6, 128),
                naive(a, b, NON_PUBLIC_V6, 128),
                "{a}..{b}"
            );
        }
    }
}
