//! `portcullis queue list|show ID|flush|delete ID|ALL|hold ID|release ID`,
//! like `mailq`, `postcat -q`, `postqueue -f` and `postsuper -d/-h/-H`: the
//! arguments of the admin API's queue operation ([`client::queue`]) and
//! its answer as lines.

use std::io::IsTerminal;
use std::path::Path;

use clap::Subcommand;
use portcullis_queue::listing::{format_list, format_show, Entry};
use portcullis_server::admin::client;
use portcullis_server::admin::queue::{QueueId, QueueOp, QueueOutput, QueuedMessage};

use super::output::{self, say};
use super::{load_config, Failure};

/// The `queue` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum QueueCommand {
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
pub(super) fn run(config: &Path, cmd: QueueCommand) -> Result<(), Failure> {
    let op = match cmd {
        QueueCommand::List => QueueOp::List,
        QueueCommand::Flush => QueueOp::Flush,
        QueueCommand::Delete { id, yes } if id == ALL => {
            confirm_delete_all(yes)?;
            QueueOp::DeleteAll
        }
        QueueCommand::Show { id } => QueueOp::Show {
            id: QueueId::parse(&id)?,
        },
        QueueCommand::Delete { id, .. } => QueueOp::Delete {
            id: QueueId::parse(&id)?,
        },
        QueueCommand::Hold { id } => QueueOp::Hold {
            id: QueueId::parse(&id)?,
        },
        QueueCommand::Release { id } => QueueOp::Release {
            id: QueueId::parse(&id)?,
        },
    };
    let data_dir = load_config(config)?.data_dir;
    render(client::queue(&data_dir, op)?)
}

/// The answer as `mailq`-like text and sentences.
fn render(out: QueueOutput) -> Result<(), Failure> {
    match out {
        QueueOutput::List(messages) => {
            let entries: Vec<Entry> = messages.into_iter().map(entry).collect();
            output::text(&format_list(&entries))
        }
        QueueOutput::Show { message, content } => {
            output::text(&format_show(&entry(message), content.as_bytes()))
        }
        QueueOutput::Deleted(id) => say!("message {} deleted", id.as_str()),
        QueueOutput::DeletedAll(n) => say!("{n} message(s) deleted"),
        QueueOutput::Hold { id, held, changed } => {
            let id = id.as_str();
            match (held, changed) {
                (true, true) => {
                    say!("message {id} held: it is not delivered until `portcullis queue release`")
                }
                (true, false) => say!("message {id} is already held"),
                (false, true) => say!("message {id} released: it is delivered as scheduled"),
                (false, false) => say!("message {id} is not held"),
            }
        }
        QueueOutput::Flushed {
            due,
            held,
            queued,
            server_running,
        } => say!("{}", flushed(due, held, queued, server_running)),
    }
}

/// The sentence for a flush.
fn flushed(due: usize, held: usize, queued: usize, server_running: bool) -> String {
    match (due, server_running) {
        (0, _) if queued == 0 => "The queue is empty.".to_string(),
        (0, true) if held > 0 => {
            format!("no message is due: {held} held (`portcullis queue release ID` sends one on)")
        }
        (0, true) => "The queue is empty.".to_string(),
        (0, false) => "no message is due: every queued message is held".to_string(),
        (n, true) => format!("{n} message(s) scheduled for delivery now"),
        (n, false) => {
            format!("the server is not running: {n} message(s) will be tried as soon as it starts")
        }
    }
}

fn entry(m: QueuedMessage) -> Entry {
    Entry {
        envelope: m.envelope,
        size: m.size,
    }
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
