//! The one validation path. `config check`, `serve --check`, `serve`,
//! `reload` and every config edit put a configuration through
//! [`Runtime::build`](super::runtime::Runtime::build), so they refuse exactly
//! the same files with the same sentence, and report the same warnings.
//! What that build reports is [`LoadNotes`]; this module holds the blocking
//! entry point for the commands that run without a server ([`check`]), and
//! what a reload changes ([`changes`]).

use portcullis_config::{self as config, Config};

pub(crate) use super::load_notes::LoadNotes;
use super::runtime::{BuildOptions, Rejected, Runtime};
use super::site::{self, Loaded};

/// Validates `config` exactly as `serve` would put it in force, without a
/// server and without side effects (no certificate is generated): for
/// `config check`, `serve --check` and config edits. `every_entry`: a report
/// line for every relay entry, not only the skipped and warned ones.
pub(crate) fn check(
    config: Config,
    allow_open_relay: bool,
    every_entry: bool,
) -> Result<LoadNotes, Rejected> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Rejected(format!("cannot start the async runtime: {e}")))?;
    let options = BuildOptions {
        allow_open_relay,
        generate_certificate: false,
        every_entry,
    };
    let loaded = load_site(&config)?;
    rt.block_on(Runtime::build(config, loaded, None, options))
        .map(|(_, notes)| notes)
}

/// The site `config`'s directory holds, for judging `config` as `serve`
/// would. A backend that cannot be opened refuses the configuration; one
/// whose users cannot be read is judged without them (a warning says so),
/// as the server keeps its users when the file breaks.
fn load_site(config: &Config) -> Result<Loaded, Rejected> {
    let directory = crate::directory::open_directory(config).map_err(Rejected)?;
    let version = directory.version();
    Ok(match directory.load(None) {
        Ok(site) => Loaded {
            site,
            version,
            users_unreadable: None,
        },
        Err(e) => Loaded {
            site: site::from_config(config),
            version,
            users_unreadable: Some(e.to_string()),
        },
    })
}

/// Keys whose new value a running server takes only at its next start.
pub(crate) const RESTART_KEYS: &[&str] = &[
    "data_dir",
    "user",
    "log.file",
    "log.format",
    "log.level",
    "limits.password_checks",
    "limits.password_checks_waiting",
    "directory.backend",
    "directory.url_file",
];

/// What a reload from `old` to `new` changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Keys applied now.
    pub applied: Vec<String>,
    /// Keys the running server ignores until it is restarted.
    pub restart: Vec<String>,
}

impl Changes {
    /// The report lines: `changed: ...` and `needs a restart: ...`.
    pub(crate) fn lines(&self) -> Vec<String> {
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
pub(crate) fn changes(old: &Config, new: &Config) -> Changes {
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
