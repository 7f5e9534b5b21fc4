//! The compiled first-match table of one address family: the whole address
//! space cut into intervals, each owned by the index of the FIRST relay entry
//! covering it (or by nobody). Lookup is one binary search.
//!
//! Building it is a sweep over the entries' ranges sorted by start, with a
//! min-heap of the ranges active at the sweep point keyed by entry index:
//! the heap top is the owner until either it ends or a new range starts.
//! That is O(n log n) for n ranges and yields at most 2n + 1 intervals, so a
//! million-entry list compiles in well under a second and looks up in ~20
//! comparisons.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Debug;

/// Owner value of an interval no entry covers.
pub(crate) const NOBODY: u32 = u32::MAX;

/// An address family's integer form: `u32` for IPv4, `u128` for IPv6.
pub(crate) trait Key: Copy + Ord + Debug {
    const MIN: Self;
    const MAX: Self;
    /// `self - 1`; only called on values above `MIN`.
    fn pred(self) -> Self;
    /// `self + 1`; only called on values below `MAX`.
    fn succ(self) -> Self;
}

impl Key for u32 {
    const MIN: u32 = 0;
    const MAX: u32 = u32::MAX;
    fn pred(self) -> u32 {
        self.saturating_sub(1)
    }
    fn succ(self) -> u32 {
        self.saturating_add(1)
    }
}

impl Key for u128 {
    const MIN: u128 = 0;
    const MAX: u128 = u128::MAX;
    fn pred(self) -> u128 {
        self.saturating_sub(1)
    }
    fn succ(self) -> u128 {
        self.saturating_add(1)
    }
}

/// One entry's range, as fed to [`Table::build`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span<K> {
    pub(crate) first: K,
    pub(crate) last: K,
    pub(crate) owner: u32,
}

/// Sorted interval starts with their owners. Invariant: `starts[0] == MIN`,
/// starts strictly increase, neighbours have different owners; interval `k`
/// runs from `starts[k]` to `starts[k + 1] - 1` (the last one to `MAX`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Table<K> {
    starts: Vec<K>,
    owners: Vec<u32>,
}

impl<K: Key> Table<K> {
    /// Builds the first-match table from the spans of all entries.
    pub(crate) fn build(mut spans: Vec<Span<K>>) -> Table<K> {
        // Sorting on the whole span (not just `first`) keeps the result
        // independent of the input order of equal starts: compile is deterministic.
        spans.sort_unstable();
        let mut table = Table {
            starts: Vec::new(),
            owners: Vec::new(),
        };
        let mut active: BinaryHeap<Reverse<(u32, K)>> = BinaryHeap::new();
        let mut next = 0;
        let mut pos = K::MIN;
        loop {
            while next < spans.len() && spans[next].first <= pos {
                active.push(Reverse((spans[next].owner, spans[next].last)));
                next += 1;
            }
            while matches!(active.peek(), Some(Reverse((_, last))) if *last < pos) {
                active.pop();
            }
            match active.peek() {
                None => {
                    table.push(pos, NOBODY);
                    match spans.get(next) {
                        Some(span) => pos = span.first,
                        None => break,
                    }
                }
                Some(&Reverse((owner, last))) => {
                    table.push(pos, owner);
                    // The owner holds until it ends or a new range starts (which
                    // may have a smaller index). Every span starting at or before
                    // `pos` is in the heap, so a next start is above `pos`.
                    let end = match spans.get(next) {
                        Some(span) if span.first <= last => span.first.pred(),
                        _ => last,
                    };
                    if end == K::MAX {
                        break;
                    }
                    pos = end.succ();
                }
            }
        }
        table
    }

    fn push(&mut self, start: K, owner: u32) {
        if self.owners.last() == Some(&owner) {
            return; // same owner as the interval before: it just extends
        }
        self.starts.push(start);
        self.owners.push(owner);
    }

    /// The owner of `key`'s interval (`NOBODY` when no entry covers it).
    pub(crate) fn owner(&self, key: K) -> u32 {
        // starts[0] == MIN, so partition_point is at least 1 on a built table.
        match self.starts.partition_point(|s| *s <= key).checked_sub(1) {
            Some(k) => self.owners[k],
            None => NOBODY,
        }
    }

    /// The owners of the intervals overlapping `first..=last`, in address
    /// order, at most `limit` intervals.
    pub(crate) fn owners_in(
        &self,
        first: K,
        last: K,
        limit: usize,
    ) -> impl Iterator<Item = u32> + '_ {
        let from = self
            .starts
            .partition_point(|s| *s <= first)
            .saturating_sub(1);
        self.starts[from..]
            .iter()
            .zip(&self.owners[from..])
            .take_while(move |(start, _)| **start <= last)
            .map(|(_, owner)| *owner)
            .take(limit)
    }

    /// Every interval owner, for the "does this entry own anything" pass.
    pub(crate) fn owners(&self) -> &[u32] {
        &self.owners
    }

    /// The intervals as `(first, last, owner)`, in address order.
    pub(crate) fn intervals(&self) -> impl Iterator<Item = (K, K, u32)> + '_ {
        self.starts.iter().enumerate().map(move |(k, start)| {
            let last = match self.starts.get(k + 1) {
                Some(next) => next.pred(),
                None => K::MAX,
            };
            (*start, last, self.owners[k])
        })
    }

    /// Number of intervals (gaps included).
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(first: u32, last: u32, owner: u32) -> Span<u32> {
        Span { first, last, owner }
    }

    fn table(spans: &[Span<u32>]) -> Vec<(u32, u32, u32)> {
        Table::build(spans.to_vec()).intervals().collect()
    }

    #[test]
    fn empty_table_is_one_gap() {
        assert_eq!(table(&[]), [(0, u32::MAX, NOBODY)]);
        assert_eq!(Table::<u32>::build(vec![]).owner(12345), NOBODY);
    }

    #[test]
    fn first_entry_wins_on_overlap() {
        // entry 0 = 10..=20, entry 1 = 0..=100: 1 owns the outside, 0 the middle.
        assert_eq!(
            table(&[span(0, 100, 1), span(10, 20, 0)]),
            [
                (0, 9, 1),
                (10, 20, 0),
                (21, 100, 1),
                (101, u32::MAX, NOBODY)
            ]
        );
        // entry 0 covers everything 1 does: 1 owns nothing.
        assert_eq!(
            table(&[span(10, 20, 1), span(0, 100, 0)]),
            [(0, 100, 0), (101, u32::MAX, NOBODY)]
        );
    }

    #[test]
    fn adjacent_intervals_of_one_owner_merge() {
        assert_eq!(
            table(&[span(0, 9, 3), span(10, 19, 3)]),
            [(0, 19, 3), (20, u32::MAX, NOBODY)]
        );
        // A later entry inside an earlier one does not split it.
        assert_eq!(
            table(&[span(0, 50, 0), span(5, 6, 1)]),
            [(0, 50, 0), (51, u32::MAX, NOBODY)]
        );
    }

    #[test]
    fn whole_space_and_edges() {
        assert_eq!(table(&[span(0, u32::MAX, 0)]), [(0, u32::MAX, 0)]);
        assert_eq!(
            table(&[span(u32::MAX, u32::MAX, 0)]),
            [(0, u32::MAX - 1, NOBODY), (u32::MAX, u32::MAX, 0)]
        );
        let t = Table::build(vec![
            Span {
                first: 0u128,
                last: u128::MAX,
                owner: 0,
            },
            Span {
                first: 5,
                last: 5,
                owner: 1,
            },
        ]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.owner(u128::MAX), 0);
    }

    #[test]
    fn owners_in_walks_overlapping_intervals() {
        let t = Table::build(vec![span(0, 9, 0), span(10, 19, 1), span(30, 39, 2)]);
        assert_eq!(
            t.owners_in(5, 31, 10).collect::<Vec<_>>(),
            [0, 1, NOBODY, 2]
        );
        assert_eq!(t.owners_in(5, 31, 2).collect::<Vec<_>>(), [0, 1]);
    }
}
