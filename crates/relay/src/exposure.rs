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
        let (owners, mut named) = if self.v6 {
            largest(&shares::<_, u128>(&list.v6, list, NON_PUBLIC_V6, 128))
        } else {
            // Fewer than 2^32 IPv4 addresses are public (0/8, 10/8, 224/3 are
            // not), so a u32 holds any entry's share: a quarter of the memory
            // to scatter into.
            largest(&shares::<_, u32>(&list.v4, list, NON_PUBLIC_V4, 32))
        };
        named.sort_unstable();
        let mut text = named
            .iter()
            .map(|&k| format!("relay.allow[{k}] {:?}", list.raw(k)))
            .collect::<Vec<_>>()
            .join(", ");
        if owners > NAMED {
            text.push_str(&format!(" and {} more", owners - NAMED));
        }
        text
    }
}

/// How many entries have a share, and the [`NAMED`] with the largest shares
/// (the lowest index first among equals). Only those few are kept: the
/// list is not collected, let alone sorted.
fn largest<S: Copy + Into<u128>>(shares: &[S]) -> (usize, Vec<u32>) {
    let mut owners = 0;
    // Best first: the largest share, then the lowest index.
    let mut best: Vec<(u128, u32)> = Vec::with_capacity(NAMED + 1);
    for (k, &share) in shares.iter().enumerate() {
        let share: u128 = share.into();
        if share == 0 {
            continue;
        }
        owners += 1;
        let k = k as u32;
        // Indexes ascend, so an equal share never displaces a kept one.
        if best.len() == NAMED && best.last().is_some_and(|&(n, _)| n >= share) {
            continue;
        }
        let at = best.partition_point(|&(n, _)| n >= share);
        best.insert(at, (share, k));
        best.truncate(NAMED);
    }
    (owners, best.into_iter().map(|(_, k)| k).collect())
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

/// Walks the table's intervals (each owned by the first matching entry, so
/// exceptions are already applied) and yields the public part of those owned
/// by an allow entry, with its owner. Linear in the table: the intervals
/// ascend, so the sorted non-public blocks are walked beside them once.
fn allowed<'a, K: Key + Into<u128>>(
    table: &'a Table<K>,
    list: &'a RelayList,
    non_public: &'a [(u128, u32)],
    bits: u32,
) -> impl Iterator<Item = (u32, u128)> + 'a {
    // Blocks before `from` end below every interval still to come.
    let mut from = 0;
    table
        .intervals()
        .filter(move |&(_, _, owner)| owner != NOBODY && !list.is_negated(owner))
        .map(move |(first, last, owner)| {
            let first: u128 = first.into();
            while non_public
                .get(from)
                .is_some_and(|&(base, prefix)| (base | host_mask(prefix, bits)) < first)
            {
                from += 1;
            }
            let public = public_count(first, last.into(), &non_public[from..], bits);
            (owner, public)
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
    fn the_largest_shares_are_named_lowest_index_first_among_equals() {
        let shares: [u64; 9] = [0, 5, 9, 5, 0, 7, 9, 1, 5];
        let (owners, mut named) = largest(&shares);
        named.sort_unstable();
        assert_eq!((owners, named), (7, vec![1, 2, 3, 5, 6]));
        assert_eq!(largest(&[0u64, 3]), (1, vec![1]));
        assert_eq!(largest::<u64>(&[]), (0, vec![]));
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
