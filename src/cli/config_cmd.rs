//! `portcullis config read|set|add|remove|unset|check` (docs/reference.md §1):
//! the arguments of [`admin::config`], and its answers as lines.

use std::path::Path;

use clap::Subcommand;
use portcullis_config::{self as config, Config, EditOp};
use portcullis_server::admin::{self, client, config::Edited};

use super::output::{self, say};
use super::Failure;

#[derive(Subcommand, Debug)]
pub(crate) enum ConfigCommand {
    /// Print the effective configuration as `key: value` lines.
    Read {
        /// Only this key.
        key: Option<String>,
        /// Only the keys whose value differs from the default.
        #[arg(long)]
        changed: bool,
    },
    /// Set a key (replaces all its values).
    Set {
        key: String,
        #[arg(required = true)]
        values: Vec<String>,
        #[command(flatten)]
        flags: EditFlags,
    },
    /// Append values to a list key.
    Add {
        key: String,
        #[arg(required = true)]
        values: Vec<String>,
        #[command(flatten)]
        flags: EditFlags,
    },
    /// Remove values from a list key.
    Remove {
        key: String,
        #[arg(required = true)]
        values: Vec<String>,
        #[command(flatten)]
        flags: EditFlags,
    },
    /// Remove a key from the file (back to its default).
    Unset {
        key: String,
        #[command(flatten)]
        flags: EditFlags,
    },
    /// Validate the configuration as the server would load it, and print
    /// the skipped relay entries, every warning and a summary.
    Check {
        /// Exit 2 when any relay entry is skipped or anything is warned about.
        #[arg(long)]
        strict: bool,
        /// Judge as `serve --allow-open-relay` would.
        #[arg(long)]
        allow_open_relay: bool,
        /// Print a line for every relay entry (what it compiled to), not
        /// only the skipped and warned ones.
        #[arg(long, short)]
        verbose: bool,
    },
}

/// Options of every edit.
#[derive(clap::Args, Debug, Clone, Copy)]
pub(crate) struct EditFlags {
    /// Apply the change to the running server at once (as `portcullis
    /// reload`) and print the reload report.
    #[arg(long)]
    reload: bool,
    /// Accept a change that makes an open relay, as `serve --allow-open-relay` does.
    #[arg(long)]
    allow_open_relay: bool,
}

/// Loads the configuration (found by [`super::locate`], so it exists).
pub(crate) fn load_config(path: &Path) -> Result<Config, Failure> {
    Ok(admin::config::load(path)?)
}

pub(super) fn run(path: &Path, cmd: ConfigCommand) -> Result<(), Failure> {
    let (op, flags) = match cmd {
        ConfigCommand::Read { key, changed } => return read(path, key, changed),
        ConfigCommand::Check {
            strict,
            allow_open_relay,
            verbose,
        } => {
            let options = CheckOptions {
                allow_open_relay,
                strict,
                verbose,
            };
            return check_and_report(path, options);
        }
        ConfigCommand::Set { key, values, flags } => (EditOp::Set(key, values), flags),
        ConfigCommand::Add { key, values, flags } => (EditOp::Add(key, values), flags),
        ConfigCommand::Remove { key, values, flags } => (EditOp::Remove(key, values), flags),
        ConfigCommand::Unset { key, flags } => (EditOp::Unset(key), flags),
    };
    let edited = admin::config::edit(path, op, flags.allow_open_relay)?;
    for warning in &edited.warnings {
        eprintln!("portcullis: warning: {warning}");
    }
    if flags.reload && edited.changed() {
        say!("{}", change(&edited))?;
        return super::server_cmd::reload(path);
    }
    let running = client::is_running(&edited.data_dir);
    say!("{}", line(&edited, running))
}

/// `KEY: OLD -> NEW`, or `KEY: unchanged (VALUE)`.
fn change(edited: &Edited) -> String {
    let show = |v: &str| {
        if v.is_empty() {
            "(empty)".to_string()
        } else {
            v.to_string()
        }
    };
    let key = &edited.key;
    match &edited.before {
        Some(b) if *b == edited.after => format!("{key}: unchanged ({})", show(b)),
        Some(b) => format!("{key}: {} -> {}", show(b), show(&edited.after)),
        None => format!("{key}: {}", show(&edited.after)),
    }
}

/// The one line an edit prints: what changed, and what it takes for a
/// server (`running` or not) to apply it.
fn line(edited: &Edited, running: bool) -> String {
    let change = change(edited);
    if !edited.changed() {
        return change;
    }
    match (running, edited.needs_restart) {
        (true, true) => format!("{change}; the running server needs a restart to apply it"),
        (true, false) => {
            format!("{change}; run `portcullis reload` to apply it to the running server")
        }
        (false, _) => format!("{change}; the server is not running: it applies at the next start"),
    }
}

fn read(path: &Path, key: Option<String>, changed: bool) -> Result<(), Failure> {
    for setting in admin::config::read(path, key.as_deref(), changed)? {
        say!("{}", config::format_line(&setting.key, &setting.value))?;
    }
    Ok(())
}

/// The flags of `config check` (`serve --check` has `allow_open_relay` alone).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CheckOptions {
    pub(super) allow_open_relay: bool,
    pub(super) strict: bool,
    pub(super) verbose: bool,
}

/// `config check` and `serve --check`: the server's own validation, its
/// report (the skipped and warned relay entries; every entry with
/// `verbose`), every warning, and a summary line. Exit 2 when the server
/// would refuse the file, or, with `strict`, when anything was skipped or
/// warned about.
pub(super) fn check_and_report(path: &Path, options: CheckOptions) -> Result<(), Failure> {
    let report = admin::config::check(path, options.allow_open_relay, options.verbose)?;
    // A long list can warn about hundreds of thousands of entries.
    output::many_lines(report.lines())?;
    output::lines([&report.summary])?;
    let strict = if options.strict {
        report.strict()
    } else {
        Ok(())
    };
    // The process ends next: freeing a long list's report one allocation
    // at a time would only delay the exit.
    std::mem::forget(report);
    Ok(strict?)
}
