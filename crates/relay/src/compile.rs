//! Compiling `relay.allow` values into a [`RelayList`] and its
//! [`LoadReport`] (docs/reference.md §4): each entry is parsed, names take the
//! caller's DNS answers, the spans become first-match interval tables, and
//! the finished list is linted. A malformed entry is skipped and reported,
//! never fatal.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::entry::{parse_borrowed, parse_quick, EntryError, EntryErrorKind, EntryKind};
use super::lint::lint;
use super::lint_input::LintInput;
use super::list::{NameResolution, RawStore, RelayList};
use super::range::{canonical, IpRange};
use super::report::{
    Compiled, Detail, LoadReport, NameAddresses, Outcome, ReportLine, SHOWN_RANGES,
};
use super::table::{Span, Table, NOBODY};

impl RelayList {
    /// Parses and compiles `entries`, with a report line for every entry
    /// (see [`RelayList::compile_with`]).
    pub fn compile(
        entries: &[String],
        resolved: &HashMap<String, NameResolution>,
        previous: Option<&RelayList>,
    ) -> (RelayList, LoadReport) {
        RelayList::compile_with(entries, resolved, previous, Detail::EveryEntry)
    }

    /// Parses and compiles `entries`. `resolved` holds the caller's DNS
    /// answer per name; on a DNS failure (or a name missing from it) the
    /// addresses that `previous` had for that name are kept. `detail` says
    /// whether the report holds a line for each added entry or only the
    /// skipped entries and the warnings (a million-entry list is then not a
    /// million report lines).
    pub fn compile_with(
        entries: &[String],
        resolved: &HashMap<String, NameResolution>,
        previous: Option<&RelayList>,
        detail: Detail,
    ) -> (RelayList, LoadReport) {
        let mut builder = Builder::new(entries.len(), detail);
        for (index, raw) in entries.iter().enumerate() {
            // Most entries of a long list are an IPv4 address or block: read
            // without the full parser's allocation.
            let quick = match u32::try_from(index) {
                Ok(owner) if owner != NOBODY => parse_quick(raw).map(|q| (owner, q)),
                _ => None,
            };
            if let Some((owner, (raw, negated, range))) = quick {
                builder.add_ranges(index, owner, (raw, negated), &[range]);
                continue;
            }
            match parse_at(index, raw) {
                Ok((owner, parsed)) => builder.add(index, owner, parsed, resolved, previous),
                Err(error) => builder.skip(index, raw, error),
            }
        }
        builder.finish()
    }
}

/// An entry parsed: its trimmed text, `!`, and what it matches.
type Parsed<'a> = (&'a str, bool, EntryKind);

/// Parses entry `index`; its index is its owner number in the tables.
fn parse_at(index: usize, raw: &str) -> Result<(u32, Parsed<'_>), EntryError> {
    match u32::try_from(index) {
        Ok(owner) if owner != NOBODY => parse_borrowed(raw).map(|parsed| (owner, parsed)),
        _ => Err(EntryError {
            raw: raw.trim().to_string(),
            kind: EntryErrorKind::ListTooLong,
        }),
    }
}

/// The list under construction, with what its report and lint need.
struct Builder {
    list: RelayList,
    raws: RawStore,
    spans4: Vec<Span<u32>>,
    spans6: Vec<Span<u128>>,
    lines: Vec<ReportLine>,
    lint_input: LintInput,
    skipped: usize,
    detail: Detail,
}

impl Builder {
    fn new(capacity: usize, detail: Detail) -> Builder {
        Builder {
            list: RelayList {
                v4: Table::build(Vec::new()),
                v6: Table::build(Vec::new()),
                raws: Default::default(),
                negated: Vec::with_capacity(capacity),
                names: HashMap::new(),
                first_allow_name: NOBODY,
                first_except_name: NOBODY,
                resolved: HashMap::new(),
                added: 0,
            },
            raws: RawStore::default(),
            spans4: Vec::with_capacity(capacity),
            spans6: Vec::new(),
            lines: match detail {
                Detail::EveryEntry => Vec::with_capacity(capacity),
                Detail::Problems => Vec::new(),
            },
            lint_input: LintInput::with_capacity(capacity),
            skipped: 0,
            detail,
        }
    }

    /// A malformed entry keeps its index (so later indexes stay true) and
    /// is reported with its one-sentence reason.
    fn skip(&mut self, index: usize, raw: &str, error: EntryError) {
        self.raws.push(raw.trim());
        self.list.negated.push(false);
        self.lint_input.push_skipped();
        self.lines.push(ReportLine {
            index: Some(index),
            raw: error.raw.clone(),
            outcome: Outcome::Skipped(error),
        });
        self.skipped += 1;
    }

    fn add(
        &mut self,
        index: usize,
        owner: u32,
        (raw, negated, kind): Parsed<'_>,
        resolved: &HashMap<String, NameResolution>,
        previous: Option<&RelayList>,
    ) {
        match kind {
            EntryKind::Ranges(ranges) => self.add_ranges(index, owner, (raw, negated), &ranges),
            EntryKind::Name(name) => {
                let (ranges, compiled) = self.add_name(owner, negated, &name, resolved, previous);
                self.push(owner, (raw, negated), &ranges, Some(name));
                self.report_added(index, raw, compiled);
            }
        }
    }

    /// An address entry (its ranges, ascending).
    fn add_ranges(
        &mut self,
        index: usize,
        owner: u32,
        (raw, negated): (&str, bool),
        ranges: &[IpRange],
    ) {
        self.push(owner, (raw, negated), ranges, None);
        if self.detail == Detail::EveryEntry {
            let compiled = Compiled::Ranges {
                negated,
                shown: ranges.iter().take(SHOWN_RANGES).copied().collect(),
                more: ranges.len().saturating_sub(SHOWN_RANGES),
            };
            self.report_added(index, raw, compiled);
        }
    }

    /// An added entry's text, ranges and lint facts.
    fn push(
        &mut self,
        owner: u32,
        (raw, negated): (&str, bool),
        ranges: &[IpRange],
        name: Option<String>,
    ) {
        self.raws.push(raw);
        self.list.negated.push(negated);
        self.list.added += 1;
        for range in ranges {
            match *range {
                IpRange::V4 { first, last } => self.spans4.push(Span { first, last, owner }),
                IpRange::V6 { first, last } => self.spans6.push(Span { first, last, owner }),
            }
        }
        self.lint_input.push(negated, ranges, name);
    }

    fn report_added(&mut self, index: usize, raw: &str, compiled: Compiled) {
        if self.detail == Detail::EveryEntry {
            self.lines.push(ReportLine {
                index: Some(index),
                raw: raw.to_string(),
                outcome: Outcome::Added(compiled),
            });
        }
    }

    /// A name entry: its addresses now, and where the first allow or
    /// exception name stands (lookups skip reverse DNS before it).
    fn add_name(
        &mut self,
        owner: u32,
        negated: bool,
        name: &str,
        resolved: &HashMap<String, NameResolution>,
        previous: Option<&RelayList>,
    ) -> (Vec<IpRange>, Compiled) {
        let (ips, addresses) = name_addresses(name, resolved, previous);
        self.list.resolved.insert(name.to_string(), ips.clone());
        self.list.names.entry(name.to_string()).or_insert(owner);
        let first = if negated {
            &mut self.list.first_except_name
        } else {
            &mut self.list.first_allow_name
        };
        *first = (*first).min(owner);
        let ranges = ips.iter().map(|ip| IpRange::host(*ip)).collect();
        let compiled = Compiled::Name {
            negated,
            name: name.to_string(),
            addresses,
        };
        (ranges, compiled)
    }

    fn finish(mut self) -> (RelayList, LoadReport) {
        self.list.v4 = Table::build(self.spans4);
        self.list.v6 = Table::build(self.spans6);
        self.list.raws = Arc::new(self.raws);
        let (warnings, open_relay) = lint(&self.list, &self.lint_input);
        let report = LoadReport {
            lines: self.lines,
            added: self.list.added,
            skipped: self.skipped,
            open_relay,
            warnings,
            entries: Arc::clone(&self.list.raws),
        };
        (self.list, report)
    }
}

/// The addresses a name entry stands for now, and how to report them.
fn name_addresses(
    name: &str,
    resolved: &HashMap<String, NameResolution>,
    previous: Option<&RelayList>,
) -> (Vec<IpAddr>, NameAddresses) {
    match resolved.get(name) {
        Some(NameResolution::Addresses(ips)) if !ips.is_empty() => {
            let mut ips: Vec<IpAddr> = ips.iter().map(|ip| canonical(*ip)).collect();
            ips.sort_unstable();
            ips.dedup();
            (ips.clone(), NameAddresses::Resolved(ips))
        }
        Some(NameResolution::Addresses(_)) | Some(NameResolution::NoAddress) => {
            (Vec::new(), NameAddresses::NoAddress)
        }
        // docs/reference.md §4: a DNS failure at reload keeps the addresses last resolved,
        // so a flaky resolver neither locks out a trusted host nor lets the
        // list silently shrink.
        Some(NameResolution::TempFail) | None => {
            let kept = previous
                .and_then(|p| p.resolved.get(name))
                .cloned()
                .unwrap_or_default();
            (kept.clone(), NameAddresses::DnsFailed { kept })
        }
    }
}
