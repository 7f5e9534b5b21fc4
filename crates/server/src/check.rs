//! The one validation path. `config check`, `serve --check`, `serve`,
//! `reload` and every config edit put a configuration through
//! [`Runtime::build`](super::runtime::Runtime::build), so they refuse exactly
//! the same files with the same sentence, and report the same warnings.
//! This module holds what that build reports ([`LoadNotes`]), the blocking
//! entry point for the commands that run without a server ([`check`]), and
//! what a reload changes ([`changes`]).

use portcullis_config::{self as config, Config};
use portcullis_relay::{LoadReport, Outcome};

use super::runtime::{BuildOptions, Rejected, Runtime};

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
        let mut out = self.relay.log_lines();
        out.extend(self.warnings.iter().map(|w| format!("warning: {w}")));
        out
    }

    /// The warnings alone: the relay list's, then the others.
    pub fn warning_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.relay.warnings().map(ToString::to_string).collect();
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
        self.relay.warnings().count() + self.warnings.len()
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

/// Validates `config` exactly as `serve` would put it in force, without a
/// server and without side effects (no certificate is generated): for
/// `config check`, `serve --check` and config edits.
pub fn check(config: Config, allow_open_relay: bool) -> Result<LoadNotes, Rejected> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Rejected(format!("cannot start the async runtime: {e}")))?;
    let options = BuildOptions {
        allow_open_relay,
        generate_certificate: false,
    };
    rt.block_on(Runtime::build(config, None, options))
        .map(|(_, notes)| notes)
}

/// Keys whose new value a running server takes only at its next start.
pub const RESTART_KEYS: &[&str] = &[
    "data_dir",
    "user",
    "log.file",
    "log.format",
    "log.level",
    "limits.password_checks",
    "limits.password_checks_waiting",
];

/// What a reload from `old` to `new` changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Keys applied now.
    pub applied: Vec<String>,
    /// Keys the running server ignores until it is restarted.
    pub restart: Vec<String>,
}

impl Changes {
    /// The report lines: `changed: ...` and `needs a restart: ...`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.applied.is_empty() && self.restart.is_empty() {
            out.push("changed: nothing".to_string());
        }
        if !self.applied.is_empty() {
            out.push(format!("changed: {}", self.applied.join(" ")));
        }
        if !self.restart.is_empty() {
            out.push(format!(
                "needs a restart: {} (the running server keeps the old value until then)",
                self.restart.join(" ")
            ));
        }
        out
    }
}

/// The keys whose effective value differs between `old` and `new`.
pub fn changes(old: &Config, new: &Config) -> Changes {
    let before = config::read_effective(old);
    let after = config::read_effective(new);
    let mut keys: Vec<&String> = Vec::new();
    for (k, v) in &after {
        if before.iter().find(|(bk, _)| bk == k).map(|(_, bv)| bv) != Some(v) {
            keys.push(k);
        }
    }
    for (k, _) in &before {
        if !after.iter().any(|(ak, _)| ak == k) {
            keys.push(k);
        }
    }
    let mut out = Changes::default();
    for k in keys {
        if RESTART_KEYS.contains(&k.as_str()) {
            out.restart.push(k.clone());
        } else {
            out.applied.push(k.clone());
        }
    }
    out
}
