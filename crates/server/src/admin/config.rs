//! `config read|set|add|remove|unset|check` (docs/reference.md §1). Edits
//! keep comments and layout, are judged first exactly as the server would
//! judge the result (the one validation path, [`crate::check`]), and replace
//! the file atomically under an [`EditLock`]; a refused edit leaves it byte
//! for byte. Aliases, domains and routes are configuration keys: they are
//! read and edited here too.

use std::path::{Path, PathBuf};

use portcullis_config::{self as config, Config, EditOp};
use portcullis_directory::{files, is_directory_key, DirectoryError};
use serde::{Deserialize, Serialize};

use super::Error;
use crate::check::{self, RESTART_KEYS};

/// Loads the configuration at `path`; a file that does not parse or
/// validate is bad input with the loader's sentence.
pub fn load(path: &Path) -> Result<Config, Error> {
    Config::load(path).map_err(|e| Error::bad_input(e.to_string()))
}

/// One `key: value` pair as `config read` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// The key, e.g. `relay.allow`.
    pub key: String,
    /// The effective value, list values separated by single spaces.
    pub value: String,
}

/// `config read [KEY] [--changed]`: every effective key (or only `key`),
/// or only those that differ from the default.
pub fn read(path: &Path, key: Option<&str>, changed_only: bool) -> Result<Vec<Setting>, Error> {
    let cfg = load(path)?;
    let pairs = if changed_only {
        config::changed_from_default(&cfg)
    } else {
        config::read_effective(&cfg)
    };
    let pairs = match key {
        None => pairs,
        Some(key) => config::select(pairs, key).map_err(|e| Error::bad_input(e.to_string()))?,
    };
    Ok(pairs
        .into_iter()
        .map(|(key, value)| Setting { key, value })
        .collect())
}

/// A change written to the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edited {
    /// The key as the admin named it.
    pub key: String,
    /// Its effective value before (None when the old file did not load)
    /// and after, as `config read` shows it.
    pub before: Option<String>,
    /// Its effective value after the edit.
    pub after: String,
    /// Whether a running server takes the new value only at its next start.
    pub needs_restart: bool,
    /// The data directory of the configuration in force (where the running
    /// server's control socket is).
    pub data_dir: PathBuf,
    /// What the server's validation warned of in the new file.
    pub warnings: Vec<String>,
}

impl Edited {
    /// Whether the effective value changed.
    pub fn changed(&self) -> bool {
        self.before.as_deref() != Some(self.after.as_str())
    }
}

/// `config set|add|remove|unset`: one edit of the file at `path`, judged
/// first as `serve` or `reload` would judge the result (so they would refuse
/// nothing this accepts, with the same sentence), then written atomically
/// under the edit lock.
pub fn edit(path: &Path, op: EditOp, allow_open_relay: bool) -> Result<Edited, Error> {
    let key = files::edited_key(&op).to_string();
    let judge = |cfg: &Config| {
        check::check(cfg.clone(), allow_open_relay, false)
            .map(|notes| notes.warning_lines())
            .map_err(|r| r.0)
    };
    // What a site is goes through its directory; how this node runs is the
    // node's own file. With the file backend both are this file, and a
    // file that does not load yet can still be mended key by key.
    let edited = match load(path) {
        Ok(cfg) if is_directory_key(&key) => crate::directory::open_directory(&cfg)
            .map_err(DirectoryError::Failed)
            .and_then(|directory| directory.edit_setting(op, &judge)),
        _ => files::edit_config_file(path, op, &judge),
    }
    .map_err(|e| match e {
        DirectoryError::Refused(e) => Error::bad_input(e),
        DirectoryError::Failed(e) => Error::internal(e),
    })?;
    let value_of = |cfg: &Config| {
        config::read_effective(cfg)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    Ok(Edited {
        needs_restart: RESTART_KEYS.contains(&key.as_str()),
        before: edited.before.as_ref().map(value_of),
        after: value_of(&edited.after),
        data_dir: edited
            .before
            .as_ref()
            .unwrap_or(&edited.after)
            .data_dir
            .clone(),
        warnings: edited.warnings,
        key,
    })
}

/// What `config check` found in a file the server would load.
#[derive(Debug)]
pub struct CheckReport {
    notes: check::LoadNotes,
    /// The one-line summary.
    pub summary: String,
    /// Whether any relay entry was skipped or anything warned about.
    pub has_problems: bool,
}

impl CheckReport {
    /// The relay-list report, then `warning: ...` lines, each formatted as
    /// it is asked for (a long list's report is not held twice).
    pub fn lines(&self) -> impl Iterator<Item = impl std::fmt::Display + '_> + '_ {
        self.notes.each_line()
    }

    /// `--strict`: a file that loads only with skipped entries or warnings
    /// is refused.
    pub fn strict(&self) -> Result<(), Error> {
        if self.has_problems {
            return Err(Error::bad_input(
                "--strict: the configuration loads, but not without skipped entries or warnings",
            ));
        }
        Ok(())
    }
}

/// `config check` and `serve --check`: validates the file at `path` exactly
/// as `serve` would put it in force, without a server and without side
/// effects. A file the server would refuse is bad input with its sentence.
/// The report holds the skipped and warned relay entries, or with
/// `every_entry` (`--verbose`) a line for every entry.
pub fn check(path: &Path, allow_open_relay: bool, every_entry: bool) -> Result<CheckReport, Error> {
    let notes = check::check(load(path)?, allow_open_relay, every_entry)
        .map_err(|r| Error::bad_input(r.0))?;
    Ok(CheckReport {
        summary: notes.summary(),
        has_problems: notes.has_problems(),
        notes,
    })
}
