//! `portcullis config read|set|add|remove|unset|check` (SPEC §1): edits keep
//! comments and layout, validate the whole resulting configuration, and
//! replace the file atomically; a refused edit leaves it byte for byte.
//! Edits hold an [`EditLock`] so concurrent ones apply one after the other.

use std::path::Path;

use clap::Subcommand;
use portcullis_core::config::{self, Config, EditOp};
use portcullis_core::edit_lock::EditLock;

use super::output::say;
use super::Failure;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration as `key: value` lines.
    Read {
        /// Only this key.
        key: Option<String>,
        /// Only the keys the file sets.
        #[arg(long)]
        changed: bool,
    },
    /// Set a key (replaces all its values).
    Set {
        key: String,
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Append values to a list key.
    Add {
        key: String,
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Remove values from a list key.
    Remove {
        key: String,
        #[arg(required = true)]
        values: Vec<String>,
    },
    /// Remove a key from the file (back to its default).
    Unset { key: String },
    /// Validate the configuration as the server would load it, and print
    /// the relay-list report, every warning and a summary.
    Check {
        /// Exit 2 when any relay entry is skipped or anything is warned about.
        #[arg(long)]
        strict: bool,
        /// Judge as `serve --allow-open-relay` would.
        #[arg(long)]
        allow_open_relay: bool,
    },
}

/// Loads the configuration (found by [`super::locate`], so it exists).
pub fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| Failure::input(e.to_string()))
}

fn read_text(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::runtime(format!("cannot read {}: {e}", path.display())))
}

pub fn run(path: &Path, cmd: ConfigCommand) -> Result<(), Failure> {
    let op = match cmd {
        ConfigCommand::Read { key, changed } => return read(path, key, changed),
        ConfigCommand::Check {
            strict,
            allow_open_relay,
        } => return check_and_report(load_config(path)?, allow_open_relay, strict),
        ConfigCommand::Set { key, values } => EditOp::Set(key, values),
        ConfigCommand::Add { key, values } => EditOp::Add(key, values),
        ConfigCommand::Remove { key, values } => EditOp::Remove(key, values),
        ConfigCommand::Unset { key } => EditOp::Unset(key),
    };
    // Held from the read to the rename: an edit made meanwhile by another
    // command would otherwise be overwritten by this one's copy.
    let _lock = EditLock::acquire(path).map_err(|e| Failure::runtime(e.to_string()))?;
    let text = read_text(path)?;
    let new_text = config::edit_at(&text, op, path).map_err(|e| Failure::input(e.to_string()))?;
    config::write_atomic(path, &new_text)
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
}

fn read(path: &Path, key: Option<String>, changed: bool) -> Result<(), Failure> {
    let pairs = if changed {
        config::read_changed(&read_text(path)?).map_err(|e| Failure::input(e.to_string()))?
    } else {
        config::read_effective(&load_config(path)?)
    };
    let pairs = match key {
        None => pairs,
        Some(key) => config::select(pairs, &key).map_err(|e| Failure::input(e.to_string()))?,
    };
    for (k, v) in pairs {
        say!("{}", config::format_line(&k, &v))?;
    }
    Ok(())
}

/// `config check` and `serve --check`: the server's own validation
/// (`crate::server::check`), its report, every warning, and a summary line.
/// Exit 2 when the server would refuse the file, or, with `strict`, when
/// anything was skipped or warned about.
pub fn check_and_report(cfg: Config, allow_open_relay: bool, strict: bool) -> Result<(), Failure> {
    let notes = crate::server::check::check(cfg, allow_open_relay)
        .map_err(|rejected| Failure::input(rejected.0))?;
    for line in notes.lines() {
        say!("{line}")?;
    }
    say!("{}", notes.summary())?;
    if strict && notes.has_problems() {
        return Err(Failure::input(
            "--strict: the configuration loads, but not without skipped entries or warnings",
        ));
    }
    Ok(())
}
