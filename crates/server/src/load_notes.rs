//! What loading a configuration found besides refusing it: the relay-list
//! report and every other warning, as `config check`, `serve` and `reload` print them.

use std::fmt;

use portcullis_relay::{LoadReport, Outcome, ReportLine, WarningLine};

/// Why a configuration could not be put in force.
#[derive(Debug)]
pub struct Rejected(pub String);

/// What loading a configuration found, besides refusing it: the relay-list
/// report and every other warning, for the admin to read.
#[derive(Debug)]
pub struct LoadNotes {
    /// The relay-list report (one line per entry, its warnings, counts).
    pub relay: LoadReport,
    /// Warnings outside the relay list (load balancer in the allow list,
    /// TLS off, an open relay allowed on purpose, ...), one sentence each.
    pub warnings: Vec<String>,
}

impl LoadNotes {
    /// Every line for the admin: the relay report with its summary, then
    /// `warning: ...` lines.
    pub fn lines(&self) -> Vec<String> {
        self.each_line().map(|line| line.to_string()).collect()
    }

    /// [`LoadNotes::lines`], each formatted only when it is written: a long
    /// list's report is then never held twice.
    pub fn each_line(&self) -> impl Iterator<Item = NoteLine<'_>> + '_ {
        let relay = &self.relay;
        relay
            .lines
            .iter()
            .map(NoteLine::Relay)
            .chain(relay.warnings().map(NoteLine::RelayWarning))
            .chain(std::iter::once_with(|| NoteLine::Summary(relay.summary())))
            .chain(self.warnings.iter().map(|w| NoteLine::Warning(w)))
    }

    /// The warnings alone: the relay list's, then the others.
    pub fn warning_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.relay.warnings().map(|w| w.to_string()).collect();
        out.extend(self.warnings.iter().cloned());
        out
    }

    /// Entries left out of the relay list.
    pub fn skipped(&self) -> usize {
        self.relay
            .lines
            .iter()
            .filter(|l| matches!(l.outcome, Outcome::Skipped(_)))
            .count()
    }

    /// Warnings, relay-list ones included.
    pub fn warning_count(&self) -> usize {
        self.relay.warnings().len() + self.warnings.len()
    }

    /// `configuration OK`, or `configuration OK with 3 entries skipped and 1 warning`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        match self.skipped() {
            0 => {}
            1 => parts.push("1 entry skipped".to_string()),
            n => parts.push(format!("{n} entries skipped")),
        }
        match self.warning_count() {
            0 => {}
            1 => parts.push("1 warning".to_string()),
            n => parts.push(format!("{n} warnings")),
        }
        if parts.is_empty() {
            "configuration OK".to_string()
        } else {
            format!("configuration OK with {}", parts.join(" and "))
        }
    }

    /// Whether anything was skipped or warned about (`config check --strict`).
    pub fn has_problems(&self) -> bool {
        self.skipped() > 0 || self.warning_count() > 0
    }
}

/// One line of [`LoadNotes::lines`], formatted when it is displayed.
#[derive(Debug)]
pub enum NoteLine<'a> {
    /// A line of the relay-list report.
    Relay(&'a ReportLine),
    /// A relay-list warning, written as it is displayed.
    RelayWarning(WarningLine<'a>),
    /// `relay list: 12 entries added, 2 skipped`.
    Summary(String),
    /// A warning outside the relay list.
    Warning(&'a str),
}

impl fmt::Display for NoteLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteLine::Relay(line) => line.fmt(f),
            NoteLine::RelayWarning(warning) => warning.fmt(f),
            NoteLine::Summary(summary) => f.write_str(summary),
            NoteLine::Warning(w) => write!(f, "warning: {w}"),
        }
    }
}
