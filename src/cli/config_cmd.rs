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
    /// Validate the configuration as the server would load it.
    Check,
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
        ConfigCommand::Check => return check(path),
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

fn check(path: &Path) -> Result<(), Failure> {
    let cfg = load_config(path)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let dns = crate::server::dns::Dns::new(&cfg.dns)
        .map_err(|e| Failure::runtime(format!("cannot set up DNS: {e}")))?;
    let (_list, report) = rt.block_on(crate::server::runtime::compile_relay_list(
        &cfg.relay.allow,
        &dns,
        None,
    ));
    for line in &report.lines {
        say!("{line}")?;
    }
    say!("{}", report.summary())?;
    if !cfg.relay.restricted || report.open_relay {
        return Err(Failure::input(
            "the configuration makes an open relay; the server refuses it without --allow-open-relay",
        ));
    }
    say!("configuration OK")
}
