//! The warnings of a relay-list load, kept small and formatted only when
//! shown: a million-entry list can warn about hundreds of thousands of
//! entries, and a sentence per warning held in memory was most of a long
//! list's load time and memory. A warning keeps the indexes it names; the
//! entries' texts come from the list's shared [`RawStore`] when it is
//! written.

use std::fmt;

use super::list::RawStore;
use super::report::{WarningKind, OPEN_RELAY_SUFFIX};
use super::table::NOBODY;

/// How many covering entries a shadowing warning names.
pub(crate) const NAMED_COVERERS: usize = 3;

/// One warning, as the report stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Warning {
    /// The entry warned about; [`NOBODY`] for a list-wide warning.
    pub(crate) index: u32,
    pub(crate) kind: WarningKind,
    pub(crate) text: Text,
}

/// What a warning says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Text {
    /// The whole sentence, written when the list was linted (the rare kinds).
    Sentence(String),
    /// The entry can never decide anything: these entries match first.
    Shadowed(Coverers),
    /// A public range in an otherwise private list, like this private entry.
    PublicInPrivate { like: u32 },
}

/// One warning of a [`LoadReport`](super::report::LoadReport), written
/// (`relay list warning: ...`) when it is displayed.
#[derive(Clone, Copy, Debug)]
pub struct WarningLine<'a> {
    /// Position in `relay.allow` of the entry warned about; `None` for a
    /// list-wide warning.
    pub index: Option<usize>,
    /// Which check fired.
    pub kind: WarningKind,
    warning: &'a Warning,
    entries: &'a RawStore,
}

impl<'a> WarningLine<'a> {
    pub(crate) fn new(warning: &'a Warning, entries: &'a RawStore) -> WarningLine<'a> {
        WarningLine {
            index: (warning.index != NOBODY).then_some(warning.index as usize),
            kind: warning.kind,
            warning,
            entries,
        }
    }

    /// The entry as written (trimmed); empty for a list-wide warning.
    pub fn raw(&self) -> &'a str {
        self.entries.get(self.warning.index as usize).unwrap_or("")
    }

    /// The sentence, without the `relay list warning: ` in front.
    pub fn message(&self) -> Message<'a> {
        Message(*self)
    }

    /// For an open-relay warning, why the list makes one (the sentence
    /// without its closing clause).
    pub(crate) fn open_relay_reason(&self) -> Option<&'a str> {
        match (&self.warning.text, self.kind) {
            (Text::Sentence(s), WarningKind::OpenRelay) => {
                Some(s.strip_suffix(OPEN_RELAY_SUFFIX).unwrap_or(s))
            }
            _ => None,
        }
    }
}

impl fmt::Display for WarningLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("relay list warning: ")?;
        self.message().fmt(f)
    }
}

/// A warning's sentence, written when displayed.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a>(WarningLine<'a>);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (entries, warning) = (self.0.entries, self.0.warning);
        let this = Describe(entries, warning.index);
        match &warning.text {
            Text::Sentence(s) => f.write_str(s),
            Text::Shadowed(coverers) => {
                this.fmt(f)?;
                f.write_str(
                    " can never decide anything: everything it matches is matched first by ",
                )?;
                coverers.write(entries, f)
            }
            Text::PublicInPrivate { like } => {
                this.fmt(f)?;
                f.write_str(" is a public range in an otherwise private list (like ")?;
                Describe(entries, *like).fmt(f)?;
                f.write_str("): check it is meant")
            }
        }
    }
}

/// An entry's name: `relay.allow[3] "192.168.*.*"`.
pub(crate) struct Describe<'a>(pub(crate) &'a RawStore, pub(crate) u32);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = self.0.get(self.1 as usize).unwrap_or("");
        f.write_str("relay.allow[")?;
        fmt::Display::fmt(&self.1, f)?;
        f.write_str("] ")?;
        // What `{:?}` writes, without its escaping pass when nothing needs
        // escaping (every address notation): a long list names many entries.
        let plain = raw
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
        if plain {
            f.write_str("\"")?;
            f.write_str(raw)?;
            f.write_str("\"")
        } else {
            write!(f, "{raw:?}")
        }
    }
}

/// The earlier entries a shadowed entry's walk met: the smallest indexes,
/// one more than are named so that "and others" can be told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Coverers {
    /// Ascending, distinct; `len` of them are set.
    smallest: [u32; NAMED_COVERERS + 1],
    len: u8,
    /// More entries (or intervals) than are named.
    pub(crate) more: bool,
}

impl Coverers {
    pub(crate) fn insert(&mut self, index: u32) {
        let len = usize::from(self.len);
        let Err(at) = self.smallest[..len].binary_search(&index) else {
            return; // already there
        };
        if at == self.smallest.len() {
            return; // larger than every kept one, and the set is full
        }
        let len = (len + 1).min(self.smallest.len());
        self.len = len as u8;
        self.smallest[at..len].rotate_right(1);
        self.smallest[at] = index;
    }

    /// More distinct entries met than a warning names.
    pub(crate) fn full(&self) -> bool {
        usize::from(self.len) > NAMED_COVERERS
    }

    /// `relay.allow[0] "10.0.0.0/8", relay.allow[2] "10.1.0.0/16" and others`.
    fn write(&self, entries: &RawStore, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let named = usize::from(self.len).min(NAMED_COVERERS);
        for (i, &j) in self.smallest[..named].iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            fmt::Display::fmt(&Describe(entries, j), f)?;
        }
        if self.more {
            f.write_str(" and others")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(raws: &[&str]) -> RawStore {
        let mut store = RawStore::default();
        for raw in raws {
            store.push(raw);
        }
        store
    }

    fn line(entries: &RawStore, index: u32, text: Text) -> String {
        let warning = Warning {
            index,
            kind: WarningKind::Shadowed,
            text,
        };
        WarningLine::new(&warning, entries).to_string()
    }

    #[test]
    fn coverers_keep_the_smallest_indexes_and_say_when_there_are_more() {
        let entries = store(&["a", "b\"q", "c", "d", "e", "f"]);
        let mut c = Coverers::default();
        for k in [4, 2, 4, 0] {
            c.insert(k);
        }
        assert!(!c.full());
        assert_eq!(
            line(&entries, 5, Text::Shadowed(c)),
            r#"relay list warning: relay.allow[5] "f" can never decide anything: everything it matches is matched first by relay.allow[0] "a", relay.allow[2] "c", relay.allow[4] "e""#
        );
        c.insert(1);
        c.insert(3);
        assert!(c.full());
        c.more = true;
        assert_eq!(
            line(&entries, 5, Text::Shadowed(c)),
            r#"relay list warning: relay.allow[5] "f" can never decide anything: everything it matches is matched first by relay.allow[0] "a", relay.allow[1] "b\"q", relay.allow[2] "c" and others"#
        );
    }

    #[test]
    fn a_list_wide_warning_names_no_entry() {
        let entries = store(&["a"]);
        let warning = Warning {
            index: NOBODY,
            kind: WarningKind::OpenRelay,
            text: Text::Sentence(format!("everything{OPEN_RELAY_SUFFIX}")),
        };
        let line = WarningLine::new(&warning, &entries);
        assert_eq!((line.index, line.raw()), (None, ""));
        assert_eq!(line.open_relay_reason(), Some("everything"));
        assert_eq!(
            line.to_string(),
            format!("relay list warning: everything{OPEN_RELAY_SUFFIX}")
        );
    }

    #[test]
    fn a_public_range_names_a_private_entry() {
        let entries = store(&["192.168.1.*", "8.8.8.0/24"]);
        assert_eq!(
            line(&entries, 1, Text::PublicInPrivate { like: 0 }),
            r#"relay list warning: relay.allow[1] "8.8.8.0/24" is a public range in an otherwise private list (like relay.allow[0] "192.168.1.*"): check it is meant"#
        );
    }
}
