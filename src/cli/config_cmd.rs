//! `portcullis config read|set|add|remove|unset|check` (docs/reference.md §1): edits keep
//! comments and layout, validate the whole resulting configuration, and
//! replace the file atomically; a refused edit leaves it byte for byte.
//! Edits hold an [`EditLock`] so concurrent ones apply one after the other.

use std::path::Path;

use clap::Subcommand;
use portcullis_config::{self as config, Config, EditOp};
use portcullis_store::edit_lock::EditLock;

use super::output::say;
use super::Failure;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
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

/// Options of every edit.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct EditFlags {
    /// Apply the change to the running server at once (as `portcullis
    /// reload`) and print the reload report.
    #[arg(long)]
    reload: bool,
    /// Accept a change that makes an open relay, as `serve --allow-open-relay` does.
    #[arg(long)]
    allow_open_relay: bool,
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
    let (op, flags) = match cmd {
        ConfigCommand::Read { key, changed } => return read(path, key, changed),
        ConfigCommand::Check {
            strict,
            allow_open_relay,
        } => return check_and_report(load_config(path)?, allow_open_relay, strict),
        ConfigCommand::Set { key, values, flags } => (EditOp::Set(key, values), flags),
        ConfigCommand::Add { key, values, flags } => (EditOp::Add(key, values), flags),
        ConfigCommand::Remove { key, values, flags } => (EditOp::Remove(key, values), flags),
        ConfigCommand::Unset { key, flags } => (EditOp::Unset(key), flags),
    };
    let edited = apply_edit(path, op, flags.allow_open_relay)?;
    for warning in edited.notes.warning_lines() {
        eprintln!("portcullis: warning: {warning}");
    }
    if flags.reload && edited.changed() {
        say!("{}", edited.change())?;
        return super::control_request(path, "RELOAD");
    }
    let running = portcullis_server::control::is_running(&edited.data_dir);
    say!("{}", edited.line(running))
}

/// A change written to the file.
pub struct Edited {
    /// The key as the admin named it.
    key: String,
    /// Its effective value before and after (as `config read` shows it).
    before: Option<String>,
    after: String,
    /// The data directory of the configuration in force (where the
    /// running server's control socket is).
    data_dir: std::path::PathBuf,
    /// What the server's validation said of the new file.
    pub notes: portcullis_server::check::LoadNotes,
}

impl Edited {
    fn changed(&self) -> bool {
        self.before.as_deref() != Some(self.after.as_str())
    }

    /// `KEY: OLD -> NEW`, or `KEY: unchanged (VALUE)`.
    pub fn change(&self) -> String {
        let show = |v: &str| {
            if v.is_empty() {
                "(empty)".to_string()
            } else {
                v.to_string()
            }
        };
        match &self.before {
            Some(b) if *b == self.after => format!("{}: unchanged ({})", self.key, show(b)),
            Some(b) => format!("{}: {} -> {}", self.key, show(b), show(&self.after)),
            None => format!("{}: {}", self.key, show(&self.after)),
        }
    }

    /// The one line an edit prints: what changed, and what it takes for a
    /// server (`running` or not) to apply it.
    pub fn line(&self, running: bool) -> String {
        let change = self.change();
        if !self.changed() {
            return change;
        }
        let restart = portcullis_server::check::RESTART_KEYS.contains(&self.key.as_str());
        match (running, restart) {
            (true, true) => format!("{change}; the running server needs a restart to apply it"),
            (true, false) => {
                format!("{change}; run `portcullis reload` to apply it to the running server")
            }
            (false, _) => {
                format!("{change}; the server is not running: it applies at the next start")
            }
        }
    }
}

/// One edit of the file, judged first as the server would judge the result
/// (so an edit that `serve` or `reload` would refuse is refused now, with
/// the same sentence), then written atomically under the edit lock.
pub fn apply_edit(path: &Path, op: EditOp, allow_open_relay: bool) -> Result<Edited, Failure> {
    let key = match &op {
        EditOp::Set(k, _) | EditOp::Add(k, _) | EditOp::Remove(k, _) | EditOp::Unset(k) => {
            k.clone()
        }
    };
    // Held from the read to the rename: an edit made meanwhile by another
    // command would otherwise be overwritten by this one's copy.
    let _lock = EditLock::acquire(path).map_err(|e| Failure::runtime(e.to_string()))?;
    let text = read_text(path)?;
    let new_text = config::edit_at(&text, op, path).map_err(|e| Failure::input(e.to_string()))?;
    let new = Config::from_str(&new_text, path).map_err(|e| Failure::input(e.to_string()))?;
    let old = Config::from_str(&text, path).ok();
    let value_of = |cfg: &Config| {
        config::read_effective(cfg)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
            .map(|(_, v)| v)
    };
    let before = old.as_ref().map(|o| value_of(o).unwrap_or_default());
    let after = value_of(&new).unwrap_or_default();
    let data_dir = old.as_ref().unwrap_or(&new).data_dir.clone();
    let notes = portcullis_server::check::check(new, allow_open_relay)
        .map_err(|rejected| Failure::input(rejected.0))?;
    config::write_atomic(path, &new_text)
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    Ok(Edited {
        key,
        before,
        after,
        data_dir,
        notes,
    })
}

fn read(path: &Path, key: Option<String>, changed: bool) -> Result<(), Failure> {
    let pairs = if changed {
        config::changed_from_default(&load_config(path)?)
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
/// (`portcullis_server::check`), its report, every warning, and a summary line.
/// Exit 2 when the server would refuse the file, or, with `strict`, when
/// anything was skipped or warned about.
pub fn check_and_report(cfg: Config, allow_open_relay: bool, strict: bool) -> Result<(), Failure> {
    let notes = portcullis_server::check::check(cfg, allow_open_relay)
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
