//! `portcullis queue list|show ID|flush|delete ID|ALL|hold ID|release ID`,
//! like `mailq`, `postcat -q`, `postqueue -f` and `postsuper -d/-h/-H`: through the control
//! socket when the server runs (so a delivery in flight and a delete cannot
//! cross), straight on the queue directory when it does not.

use std::io::IsTerminal;
use std::path::Path;

use clap::Subcommand;
use portcullis_store::spool::Spool;

use super::output::{self, say};
use super::{load_config, Failure};
use portcullis_server::control;
use portcullis_server::outbound::admin;

/// The `queue` subcommands.
#[derive(Subcommand, Debug)]
pub enum QueueCommand {
    /// List queued messages with each recipient's state and last error (like mailq).
    List,
    /// Show one queued message: its envelope and its content.
    Show {
        /// The queue id (as in the 250 reply and `queue list`).
        id: String,
    },
    /// Try every queued message now, whatever its retry time (like postqueue -f).
    Flush,
    /// Remove a message from the queue without delivering it (like
    /// postsuper -d); `ALL` removes every message.
    Delete {
        /// The queue id, or ALL.
        id: String,
        /// With ALL: do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Keep a message in the queue without delivering it until released
    /// (like postsuper -h); survives a restart.
    Hold {
        /// The queue id.
        id: String,
    },
    /// Deliver a held message again (like postsuper -H).
    Release {
        /// The queue id.
        id: String,
    },
}

/// Runs a `queue` subcommand.
pub fn run(config: &Path, cmd: QueueCommand) -> Result<(), Failure> {
    match &cmd {
        QueueCommand::Delete { id, yes } if id == ALL => confirm_delete_all(*yes)?,
        QueueCommand::Show { id }
        | QueueCommand::Delete { id, .. }
        | QueueCommand::Hold { id }
        | QueueCommand::Release { id } => check_id(id)?,
        QueueCommand::List | QueueCommand::Flush => {}
    }
    let cfg = load_config(config)?;
    let request = match &cmd {
        QueueCommand::List => "QUEUE-LIST".to_string(),
        QueueCommand::Show { id } => format!("QUEUE-SHOW {id}"),
        QueueCommand::Flush => "QUEUE-FLUSH".to_string(),
        QueueCommand::Delete { id, .. } if id == ALL => "QUEUE-DELETE-ALL".to_string(),
        QueueCommand::Delete { id, .. } => format!("QUEUE-DELETE {id}"),
        QueueCommand::Hold { id } => format!("QUEUE-HOLD {id}"),
        QueueCommand::Release { id } => format!("QUEUE-RELEASE {id}"),
    };
    let Some((lines, ok)) =
        control::request_if_running(&cfg.data_dir, &request).map_err(Failure::runtime)?
    else {
        return offline(&cfg.data_dir, cmd);
    };
    if !ok {
        return Err(Failure::runtime(lines.last().cloned().unwrap_or_default()));
    }
    for line in lines {
        // Text lines come behind a `|` (see the server side).
        say!("{}", line.strip_prefix('|').unwrap_or(&line))?;
    }
    Ok(())
}

/// `queue delete ALL`, like `postsuper -d ALL`.
const ALL: &str = "ALL";

/// Deleting every message needs `--yes`, or a "y" typed at a terminal:
/// never by accident from a script.
fn confirm_delete_all(yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::input(
            "queue delete ALL removes every queued message: add --yes to confirm (no terminal to ask on)",
        ));
    }
    eprint!("Delete every queued message? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Failure::runtime(format!("cannot read the answer: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::runtime("nothing deleted"))
    }
}

/// The same, on the queue directory of a server that is not running.
fn offline(data_dir: &Path, cmd: QueueCommand) -> Result<(), Failure> {
    if !data_dir.join("queue").is_dir() {
        return match cmd {
            QueueCommand::List | QueueCommand::Flush => say!("The queue is empty."),
            QueueCommand::Delete { id, .. } if id == ALL => say!("0 message(s) deleted"),
            QueueCommand::Show { id }
            | QueueCommand::Delete { id, .. }
            | QueueCommand::Hold { id }
            | QueueCommand::Release { id } => {
                Err(Failure::runtime(format!("no message {id} in the queue")))
            }
        };
    }
    let spool = Spool::open(data_dir).map_err(|e| {
        Failure::runtime(format!(
            "cannot open the queue in {}: {e}",
            data_dir.display()
        ))
    })?;
    match cmd {
        QueueCommand::List => output::text(&admin::list_text(&spool).map_err(Failure::runtime)?),
        QueueCommand::Show { id } => {
            output::text(&admin::show_text(&spool, &id).map_err(Failure::runtime)?)
        }
        QueueCommand::Delete { id, .. } if id == ALL => {
            let n = admin::delete_all(&spool).map_err(Failure::runtime)?;
            say!("{n} message(s) deleted")
        }
        QueueCommand::Delete { id, .. } => {
            admin::delete(&spool, &id).map_err(Failure::runtime)?;
            say!("message {id} deleted")
        }
        QueueCommand::Hold { id } => {
            output::text(&admin::hold(&spool, &id, true).map_err(Failure::runtime)?)
        }
        QueueCommand::Release { id } => {
            output::text(&admin::hold(&spool, &id, false).map_err(Failure::runtime)?)
        }
        QueueCommand::Flush => match admin::flush_offline(&spool).map_err(Failure::runtime)? {
            0 if spool.list().is_ok_and(|l| !l.is_empty()) => {
                say!("no message is due: every queued message is held")
            }
            0 => say!("The queue is empty."),
            n => {
                say!("the server is not running: {n} message(s) will be tried as soon as it starts")
            }
        },
    }
}

/// A queue id is 1 to 64 characters of `0-9A-Z` (it becomes a file name).
fn check_id(id: &str) -> Result<(), Failure> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    if valid {
        Ok(())
    } else {
        Err(Failure::input(format!(
            "\"{id}\" is not a queue id (expected letters A-Z and digits, as `portcullis queue list` shows them)"
        )))
    }
}
