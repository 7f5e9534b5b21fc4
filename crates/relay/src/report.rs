//! What a relay-list load did, for the log (docs/reference.md §4): one line per entry in
//! order (what it compiled to, or why it was skipped), then one line per
//! warning, then `relay list: 12 entries added, 2 skipped`.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::entry::EntryError;
use super::list::RawStore;
use super::range::IpRange;
use super::warning::{Warning, WarningLine};

/// How many ranges of one entry a report line spells out before "and N more".
pub(crate) const SHOWN_RANGES: usize = 4;

/// How every open-relay warning ends.
pub(crate) const OPEN_RELAY_SUFFIX: &str =
    ": this makes an open relay, refused unless --allow-open-relay";

/// How much a [`LoadReport`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// A line for every entry, added or skipped, then the warnings: the
    /// full report (`config check --verbose`, the log at debug level).
    EveryEntry,
    /// The skipped entries and the warnings only: what needs the admin's
    /// attention (`config check`, the log at info level).
    Problems,
}

/// The result of compiling a relay list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadReport {
    /// One line per entry, in list order (with [`Detail::Problems`], the
    /// skipped ones only). Log each, then the [`LoadReport::warnings`].
    pub lines: Vec<ReportLine>,
    /// Entries compiled into the list.
    pub added: usize,
    /// Malformed entries left out.
    pub skipped: usize,
    /// Some address family is open to every client (`*.*.*.*`, `0.0.0.0/0`,
    /// `::/0`, or entries that together cover a family), or to nearly every
    /// one (after exceptions, more public IPv4 addresses than a /8 holds or
    /// public IPv6 than a /32): the server refuses to start with this unless
    /// the admin passed `--allow-open-relay`.
    pub open_relay: bool,
    /// Entries that look like mistakes, in list order; list-wide ones last.
    pub(crate) warnings: Vec<Warning>,
    /// The entries' texts, shared with the list: what warnings name.
    pub(crate) entries: Arc<RawStore>,
}

impl LoadReport {
    /// `relay list: 12 entries added, 2 skipped`.
    pub fn summary(&self) -> String {
        let noun = if self.added == 1 { "entry" } else { "entries" };
        format!(
            "relay list: {} {noun} added, {} skipped",
            self.added, self.skipped
        )
    }

    /// The warnings (entries that look like mistakes, in list order;
    /// list-wide ones last), each written when it is displayed.
    pub fn warnings(&self) -> impl ExactSizeIterator<Item = WarningLine<'_>> + '_ {
        self.warnings
            .iter()
            .map(|w| WarningLine::new(w, &self.entries))
    }

    /// Why the list makes an open relay, naming the entries (empty if it
    /// does not): the open-relay warnings without their closing clause.
    pub fn open_relay_reasons(&self) -> Vec<&str> {
        self.warnings()
            .filter_map(|w| w.open_relay_reason())
            .collect()
    }

    /// Every line to log, in order: the entries, the warnings, the summary.
    pub fn log_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.lines.iter().map(ToString::to_string).collect();
        out.extend(self.warnings().map(|w| w.to_string()));
        out.push(self.summary());
        out
    }
}

/// One line of the report: what became of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportLine {
    /// Position in `relay.allow`, from 0.
    pub index: Option<usize>,
    /// The entry as written (trimmed).
    pub raw: String,
    /// Added (and to what), or skipped (and why).
    pub outcome: Outcome,
}

impl ReportLine {
    /// Whether the line deserves the admin's attention (a skipped entry):
    /// log it at warning level.
    pub fn is_problem(&self) -> bool {
        !matches!(self.outcome, Outcome::Added(_))
    }
}

/// What became of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Compiled into the list.
    Added(Compiled),
    /// Malformed and left out: the error names the value and the problem.
    Skipped(EntryError),
}

/// What an added entry compiled to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compiled {
    /// Address ranges: the first few, and how many more there are.
    Ranges {
        /// An exception (`!`).
        negated: bool,
        /// The first few ranges.
        shown: Vec<IpRange>,
        /// How many ranges are not shown.
        more: usize,
    },
    /// A name: the addresses it stands for now, and its reverse-DNS domain.
    Name {
        /// An exception (`!`).
        negated: bool,
        /// The name, lower-case.
        name: String,
        /// Its addresses after this load.
        addresses: NameAddresses,
    },
}

/// The addresses a name entry stands for after this load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameAddresses {
    /// Freshly resolved.
    Resolved(Vec<IpAddr>),
    /// The name has no A/AAAA record: it matches by verified reverse DNS only.
    NoAddress,
    /// The lookup failed temporarily (or was not made): the addresses of the
    /// previous load are kept (docs/reference.md §4), possibly none.
    DnsFailed {
        /// The addresses kept from the previous load.
        kept: Vec<IpAddr>,
    },
}

/// The checks that produce warnings. A warned entry is still compiled: a
/// warning never changes what the list does; the admin decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WarningKind {
    /// Every address of a family may relay.
    OpenRelay,
    /// More addresses than a /8 (IPv4) or a /32 (IPv6).
    Broad,
    /// Everything the entry matches is matched first by earlier entries.
    Shadowed,
    /// A public range among otherwise private entries.
    PublicInPrivateList,
}

impl fmt::Display for ReportLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = self.index.unwrap_or_default();
        match &self.outcome {
            Outcome::Added(compiled) => {
                write!(f, "relay.allow[{index}] {:?}: added {compiled}", self.raw)
            }
            Outcome::Skipped(error) => write!(f, "relay.allow[{index}] skipped: {error}"),
        }
    }
}

impl fmt::Display for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let negated = match self {
            Compiled::Ranges { negated, .. } | Compiled::Name { negated, .. } => *negated,
        };
        if negated {
            f.write_str("exception ")?;
        }
        match self {
            Compiled::Ranges { shown, more, .. } => {
                write_list(f, shown)?;
                if *more > 0 {
                    write!(f, " and {more} more ranges")?;
                }
                Ok(())
            }
            Compiled::Name {
                name, addresses, ..
            } => {
                write!(f, "name {name}: ")?;
                match addresses {
                    NameAddresses::Resolved(ips) => write_list(f, ips)?,
                    NameAddresses::NoAddress => {
                        f.write_str("no address (matches by verified reverse DNS only)")?
                    }
                    NameAddresses::DnsFailed { kept } if kept.is_empty() => f.write_str(
                        "DNS failed and there are no previous addresses to keep (matches by verified reverse DNS only until a reload resolves it)",
                    )?,
                    NameAddresses::DnsFailed { kept } => {
                        let noun = if kept.len() == 1 { "address" } else { "addresses" };
                        write!(f, "DNS failed, keeping {} previous {noun}: ", kept.len())?;
                        write_list(f, kept)?;
                    }
                }
                write!(f, "; also matches verified reverse DNS {name} and *.{name}")
            }
        }
    }
}

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}
