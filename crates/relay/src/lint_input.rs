//! What the lints need to know of every entry, kept flat: a million-entry
//! list is a few large vectors here, not a million small allocations.

use std::collections::HashMap;

use super::range::IpRange;

/// One added entry, as the lints see it.
pub(crate) struct LintEntry<'a> {
    pub(crate) negated: bool,
    /// The entry's ranges; for a name, its addresses as hosts.
    pub(crate) ranges: &'a [IpRange],
    pub(crate) name: Option<&'a str>,
}

/// Every entry of the list by index, skipped ones as gaps.
#[derive(Default)]
pub(crate) struct LintInput {
    ranges: Vec<IpRange>,
    /// Per entry: where its ranges end in `ranges` (they start where the
    /// previous entry's end).
    ends: Vec<usize>,
    /// Per entry: `None` if skipped, else whether it is an exception.
    negated: Vec<Option<bool>>,
    /// The name entries' names, by index (names are few).
    names: HashMap<usize, String>,
}

impl LintInput {
    pub(crate) fn with_capacity(entries: usize) -> LintInput {
        LintInput {
            ranges: Vec::with_capacity(entries),
            ends: Vec::with_capacity(entries),
            negated: Vec::with_capacity(entries),
            names: HashMap::new(),
        }
    }

    /// A skipped entry: the lints pass over it.
    pub(crate) fn push_skipped(&mut self) {
        self.ends.push(self.ranges.len());
        self.negated.push(None);
    }

    /// An added entry (its ranges; a name entry's addresses as hosts).
    pub(crate) fn push(&mut self, negated: bool, ranges: &[IpRange], name: Option<String>) {
        if let Some(name) = name {
            self.names.insert(self.ends.len(), name);
        }
        self.ranges.extend_from_slice(ranges);
        self.ends.push(self.ranges.len());
        self.negated.push(Some(negated));
    }

    /// How many entries (skipped ones included).
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Entry `index`, `None` if it was skipped (or out of range).
    pub(crate) fn get(&self, index: usize) -> Option<LintEntry<'_>> {
        let negated = (*self.negated.get(index)?)?;
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1],
        };
        Some(LintEntry {
            negated,
            ranges: &self.ranges[start..self.ends[index]],
            // Most lists hold no name: no hashing per entry then.
            name: match self.names.is_empty() {
                true => None,
                false => self.names.get(&index).map(String::as_str),
            },
        })
    }

    /// Every added entry with its index, in list order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, LintEntry<'_>)> + '_ {
        (0..self.len()).filter_map(|index| Some((index, self.get(index)?)))
    }
}
