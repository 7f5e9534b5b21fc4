//! The relay policy (docs/reference.md §3, §4), pure: relay-list entries are parsed,
//! compiled into a first-match interval table, and asked about one client at a
//! time. DNS answers come in as data; nothing here does I/O.
//!
//! - [`entry`]: one `relay.allow` value → [`Entry`] (strict notations).
//! - [`list`]: all values → [`RelayList`] + [`LoadReport`]; lookups.
//! - [`decide`]: [`RelayPolicy::decide`], the per-recipient decision, its
//!   SMTP reply and its log rule.
//!
//! Octet patterns compile to the fewest contiguous ranges; one that would
//! need more than [`MAX_PATTERN_RANGES`] is refused (write CIDR blocks), so a
//! careless `1-254.1-254.1-254.1-254` cannot blow up memory.
#![forbid(unsafe_code)]

mod blocks;
mod compile;
pub mod decide;
pub mod entry;
mod entry_error;
mod exposure;
mod lint;
mod lint_input;
pub mod list;
mod pattern;
pub mod range;
pub mod report;
mod shadow;
mod table;
pub mod warning;

#[cfg(test)]
mod tests;

pub use decide::{Denial, Grant, RelayDecision, RelayPolicy};
pub use entry::{parse_entry, Entry, EntryError, EntryErrorKind, EntryKind};
pub use entry_error::MAX_PATTERN_RANGES;
pub use list::{ListMatch, MatchVia, NameResolution, RelayList, ReverseDns};
pub use range::IpRange;
pub use report::{Compiled, Detail, LoadReport, NameAddresses, Outcome, ReportLine, WarningKind};
pub use warning::WarningLine;
