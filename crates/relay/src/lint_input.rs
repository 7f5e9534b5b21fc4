//! What the lints need to know of every entry, kept flat: a million-entry
//! list is a few large vectors here, not a million small allocations.

use std::collections::HashMap;

use super::range::IpRange;

/// One added entry, as the lints see it.
pub(crate) struct LintEntry<'a> {
    pub(crate) negated: bool,
    pub(crate) name: Option<&'a str>,
    /// The entry's range when it is one IPv4 range (`single`).
    one: [IpRange; 1],
    single: bool,
    /// The entry's ranges otherwise.
    many: &'a [IpRange],
}

impl LintEntry<'_> {
    /// The entry's ranges; for a name, its addresses as hosts.
    pub(crate) fn ranges(&self) -> &[IpRange] {
        if self.single {
            &self.one
        } else {
            self.many
        }
    }
}

/// Per entry: skipped, or added as one IPv4 range or as other ranges.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Skipped,
    OneV4 { negated: bool },
    Other { negated: bool },
}

/// Every entry of the list by index, skipped ones as gaps. Most entries of
/// a long list are one IPv4 range: those take 8 bytes here, not the 48 of
/// an [`IpRange`].
#[derive(Default)]
pub(crate) struct LintInput {
    shapes: Vec<Shape>,
    /// Per entry: its IPv4 range when it is one, else zeros.
    v4: Vec<[u32; 2]>,
    /// The other entries' ranges, one after the other.
    ranges: Vec<IpRange>,
    /// Per entry: where its ranges end in `ranges` (they start where the
    /// previous entry's end).
    ends: Vec<usize>,
    /// The name entries' names, by index (names are few).
    names: HashMap<usize, String>,
}

impl LintInput {
    pub(crate) fn with_capacity(entries: usize) -> LintInput {
        LintInput {
            shapes: Vec::with_capacity(entries),
            v4: Vec::with_capacity(entries),
            ranges: Vec::new(),
            ends: Vec::with_capacity(entries),
            names: HashMap::new(),
        }
    }

    /// A skipped entry: the lints pass over it.
    pub(crate) fn push_skipped(&mut self) {
        self.push_shape(Shape::Skipped, [0, 0]);
    }

    /// An added entry (its ranges; a name entry's addresses as hosts).
    pub(crate) fn push(&mut self, negated: bool, ranges: &[IpRange], name: Option<String>) {
        if let Some(name) = name {
            self.names.insert(self.shapes.len(), name);
            self.ranges.extend_from_slice(ranges);
            return self.push_shape(Shape::Other { negated }, [0, 0]);
        }
        match *ranges {
            [IpRange::V4 { first, last }] => {
                self.push_shape(Shape::OneV4 { negated }, [first, last])
            }
            _ => {
                self.ranges.extend_from_slice(ranges);
                self.push_shape(Shape::Other { negated }, [0, 0]);
            }
        }
    }

    fn push_shape(&mut self, shape: Shape, v4: [u32; 2]) {
        self.shapes.push(shape);
        self.v4.push(v4);
        self.ends.push(self.ranges.len());
    }

    /// How many entries (skipped ones included).
    pub(crate) fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Entry `index`, `None` if it was skipped (or out of range).
    pub(crate) fn get(&self, index: usize) -> Option<LintEntry<'_>> {
        let (negated, single) = match *self.shapes.get(index)? {
            Shape::Skipped => return None,
            Shape::OneV4 { negated } => (negated, true),
            Shape::Other { negated } => (negated, false),
        };
        let [first, last] = self.v4[index];
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1],
        };
        Some(LintEntry {
            negated,
            // Most lists hold no name: no hashing per entry then.
            name: match self.names.is_empty() {
                true => None,
                false => self.names.get(&index).map(String::as_str),
            },
            one: [IpRange::V4 { first, last }],
            single,
            many: &self.ranges[start..self.ends[index]],
        })
    }

    /// Every added entry with its index, in list order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, LintEntry<'_>)> + '_ {
        (0..self.len()).filter_map(|index| Some((index, self.get(index)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_as_pushed() {
        let v4 = IpRange::V4 { first: 1, last: 2 };
        let v6 = IpRange::V6 { first: 3, last: 4 };
        let mut input = LintInput::default();
        input.push(false, &[v4], None);
        input.push_skipped();
        input.push(true, &[v4, v4], None);
        input.push(false, &[v6], None);
        input.push(false, &[v4], Some("example.com".into()));
        input.push(false, &[], Some("a.example".into()));
        let got: Vec<(usize, bool, Vec<IpRange>, Option<&str>)> = input
            .iter()
            .map(|(i, e)| (i, e.negated, e.ranges().to_vec(), e.name))
            .collect();
        assert_eq!(
            got,
            [
                (0, false, vec![v4], None),
                (2, true, vec![v4, v4], None),
                (3, false, vec![v6], None),
                (4, false, vec![v4], Some("example.com")),
                (5, false, vec![], Some("a.example")),
            ]
        );
        assert!(input.get(1).is_none() && input.get(6).is_none());
        assert_eq!(input.len(), 6);
    }
}
