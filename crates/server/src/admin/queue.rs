//! `queue list|show|flush|delete|hold|release` (docs/reference.md §1; like
//! `mailq`, `postcat -q`, `postqueue -f`, `postsuper -d/-h/-H`). The running
//! server performs them behind its control socket ([`run_online`]), so a
//! delivery in flight and a delete cannot cross; when no server runs, the
//! command performs the same operations straight on the queue directory
//! ([`run_offline`]). Every change is made under the message's lock.

use std::io;
use std::path::Path;
use std::sync::Arc;

use portcullis_store::spool::{Envelope, RecipientState, Spool};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::Error;
use crate::outbound::lock;
use crate::Shared;

/// A queue id: 1 to 64 characters of `0-9A-Z` (it becomes a file name, so
/// nothing else may pass, whoever sends it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QueueId(String);

impl QueueId {
    /// The id, or a bad-input error naming it.
    pub fn parse(id: &str) -> Result<QueueId, Error> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if valid {
            Ok(QueueId(id.to_string()))
        } else {
            Err(Error::bad_input(format!(
                "\"{id}\" is not a queue id (expected letters A-Z and digits, as `portcullis queue list` shows them)"
            )))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for QueueId {
    type Error = Error;
    fn try_from(id: String) -> Result<QueueId, Error> {
        QueueId::parse(&id)
    }
}

impl From<QueueId> for String {
    fn from(id: QueueId) -> String {
        id.0
    }
}

/// An operation on the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum QueueOp {
    /// Every queued message with its recipients.
    List,
    /// One message: its envelope and content.
    Show {
        /// The message's queue id.
        id: QueueId,
    },
    /// Try every message now, whatever its retry time.
    Flush,
    /// Remove one message without delivering it.
    Delete {
        /// The message's queue id.
        id: QueueId,
    },
    /// Remove every message.
    DeleteAll,
    /// Keep a message until released (survives a restart).
    Hold {
        /// The message's queue id.
        id: QueueId,
    },
    /// Deliver a held message again.
    Release {
        /// The message's queue id.
        id: QueueId,
    },
}

/// A queued message as `queue list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// Its envelope (sender, recipients with their states, held or not).
    pub envelope: Envelope,
    /// The size of the message file in bytes.
    pub size: u64,
}

/// What a queue operation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueOutput {
    /// To [`QueueOp::List`].
    List(Vec<QueuedMessage>),
    /// To [`QueueOp::Show`]: the message and its content (as text; bytes
    /// that are not UTF-8 shown as U+FFFD).
    Show {
        /// The message as `queue list` shows it.
        message: QueuedMessage,
        /// Its content, headers and body.
        content: String,
    },
    /// To [`QueueOp::Flush`].
    Flushed {
        /// Messages made due now.
        due: usize,
        /// Messages held, which a flush leaves alone.
        held: usize,
        /// Messages in the queue.
        queued: usize,
        /// Whether a running server took the flush (otherwise the next start does).
        server_running: bool,
    },
    /// To [`QueueOp::Delete`].
    Deleted(QueueId),
    /// To [`QueueOp::DeleteAll`]: how many were removed.
    DeletedAll(usize),
    /// To [`QueueOp::Hold`] and [`QueueOp::Release`].
    Hold {
        /// The message's queue id.
        id: QueueId,
        /// The state now.
        held: bool,
        /// False when it already was in that state.
        changed: bool,
    },
}

/// Performs `op` in the running server: on the blocking pool, with the
/// runner told of a hold or release and running the flush itself.
pub(crate) async fn run_online(shared: &Arc<Shared>, op: QueueOp) -> Result<QueueOutput, Error> {
    if op == QueueOp::Flush {
        let due = shared.outbound.flush().await.map_err(Error::internal)?;
        let spool = shared.spool.clone();
        let (held, queued) = tokio::task::spawn_blocking(move || counts(&spool))
            .await
            .map_err(|e| Error::internal(format!("internal error: {e}")))?;
        return Ok(QueueOutput::Flushed {
            due,
            held,
            queued,
            server_running: true,
        });
    }
    let spool = shared.spool.clone();
    let outbound = shared.outbound.clone();
    tokio::task::spawn_blocking(move || {
        let out = on_spool(&spool, &op)?;
        if let QueueOutput::Hold { id, .. } = &out {
            // The runner re-reads the envelope: a held message leaves its
            // schedule, a released one joins it.
            outbound.kick(id.as_str());
        }
        Ok(out)
    })
    .await
    .map_err(|e| Error::internal(format!("internal error: {e}")))?
}

/// Performs `op` on the queue directory of `data_dir` while no server runs.
pub fn run_offline(data_dir: &Path, op: QueueOp) -> Result<QueueOutput, Error> {
    if !data_dir.join("queue").is_dir() {
        return match op {
            QueueOp::List => Ok(QueueOutput::List(Vec::new())),
            QueueOp::Flush => Ok(QueueOutput::Flushed {
                due: 0,
                held: 0,
                queued: 0,
                server_running: false,
            }),
            QueueOp::DeleteAll => Ok(QueueOutput::DeletedAll(0)),
            QueueOp::Show { id }
            | QueueOp::Delete { id }
            | QueueOp::Hold { id }
            | QueueOp::Release { id } => Err(Error::not_found(format!(
                "no message {} in the queue",
                id.as_str()
            ))),
        };
    }
    let spool = Spool::open(data_dir).map_err(|e| {
        Error::internal(format!(
            "cannot open the queue in {}: {e}",
            data_dir.display()
        ))
    })?;
    if op == QueueOp::Flush {
        let due = flush_offline(&spool)?;
        let (held, queued) = counts(&spool);
        return Ok(QueueOutput::Flushed {
            due,
            held,
            queued,
            server_running: false,
        });
    }
    on_spool(&spool, &op)
}

/// The operations that are the same with or without a server.
fn on_spool(spool: &Spool, op: &QueueOp) -> Result<QueueOutput, Error> {
    match op {
        QueueOp::List => list(spool).map(QueueOutput::List),
        QueueOp::Show { id } => show(spool, id),
        QueueOp::Delete { id } => delete(spool, id).map(|()| QueueOutput::Deleted(id.clone())),
        QueueOp::DeleteAll => delete_all(spool).map(QueueOutput::DeletedAll),
        QueueOp::Hold { id } => hold(spool, id, true),
        QueueOp::Release { id } => hold(spool, id, false),
        // Invariant: both callers take the flush before coming here.
        QueueOp::Flush => Err(Error::internal("a flush is not a spool operation")),
    }
}

fn list(spool: &Spool) -> Result<Vec<QueuedMessage>, Error> {
    let mut out = Vec::new();
    for envelope in spool.list().map_err(|e| Error::internal(e.to_string()))? {
        let size = message_size(spool, &envelope.id);
        out.push(QueuedMessage { envelope, size });
    }
    Ok(out)
}

fn show(spool: &Spool, id: &QueueId) -> Result<QueueOutput, Error> {
    let id = id.as_str();
    let envelope = spool.load_envelope(id).map_err(|e| not_queued(id, e))?;
    let message = spool.read_message(id).map_err(|e| not_queued(id, e))?;
    let size = u64::try_from(message.len()).unwrap_or(u64::MAX);
    Ok(QueueOutput::Show {
        message: QueuedMessage { envelope, size },
        content: String::from_utf8_lossy(&message).into_owned(),
    })
}

/// Removed at once (under the message's lock, so a delivery finishing at
/// the same moment cannot bring it back).
fn delete(spool: &Spool, id: &QueueId) -> Result<(), Error> {
    let id = id.as_str();
    let _guard = lock(id);
    spool.discard(id).map_err(|e| not_queued(id, e))?;
    info!(queue_id = %id, "deleted from the queue by the administrator");
    Ok(())
}

/// Like `postsuper -d ALL`: every message, each under its lock as
/// [`delete`] does. Returns how many were removed.
fn delete_all(spool: &Spool) -> Result<usize, Error> {
    let mut n = 0;
    for env in spool.list().map_err(|e| Error::internal(e.to_string()))? {
        let _guard = lock(&env.id);
        match spool.discard(&env.id) {
            Ok(()) => n += 1,
            // Delivered or deleted meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::internal(e.to_string())),
        }
    }
    info!(messages = n, "queue emptied by the administrator");
    Ok(n)
}

/// Hold (`held`) or release, like `postsuper -h/-H`: recorded in the
/// envelope, so it survives a restart; under the message's lock, so a
/// delivery finishing meanwhile keeps it.
fn hold(spool: &Spool, id: &QueueId, held: bool) -> Result<QueueOutput, Error> {
    let name = id.as_str();
    let _guard = lock(name);
    let mut env = spool.load_envelope(name).map_err(|e| not_queued(name, e))?;
    let changed = env.held != held;
    if changed {
        env.held = held;
        spool
            .update_envelope(&env)
            .map_err(|e| not_queued(name, e))?;
        info!(queue_id = %name, held, "queue hold changed by the administrator");
    }
    Ok(QueueOutput::Hold {
        id: id.clone(),
        held,
        changed,
    })
}

/// The flush while the server is down: every pending recipient is made due
/// now, so the next start tries them at once. Returns the message count.
fn flush_offline(spool: &Spool) -> Result<usize, Error> {
    let now = portcullis_store::clock::unix_now();
    let mut n = 0;
    for mut env in spool.list().map_err(|e| Error::internal(e.to_string()))? {
        if env.held {
            continue;
        }
        let mut changed = false;
        for r in env
            .recipients
            .iter_mut()
            .filter(|r| r.state == RecipientState::Pending)
        {
            if r.next_attempt > now {
                r.next_attempt = now;
                changed = true;
            }
        }
        if changed {
            spool
                .update_envelope(&env)
                .map_err(|e| Error::internal(e.to_string()))?;
        }
        if !env.is_done() {
            n += 1;
        }
    }
    Ok(n)
}

/// How many queued messages are held, and how many there are.
fn counts(spool: &Spool) -> (usize, usize) {
    spool.list().map_or((0, 0), |list| {
        (list.iter().filter(|e| e.held).count(), list.len())
    })
}

fn message_size(spool: &Spool, id: &str) -> u64 {
    spool.open_message(id).map_or(0, |m| m.len)
}

fn not_queued(id: &str, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::not_found(format!("no message {id} in the queue"))
    } else {
        Error::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::ErrorKind;

    #[test]
    fn a_queue_id_is_letters_and_digits_only() {
        assert!(QueueId::parse("1A2B").is_ok());
        for bad in ["", "a1", "../x", "A B", &"A".repeat(65)] {
            let e = QueueId::parse(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadInput, "{bad:?}");
            assert!(e.message.contains(&format!("\"{bad}\"")), "{}", e.message);
        }
    }

    #[test]
    fn without_a_queue_directory_nothing_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let id = QueueId::parse("A1").unwrap();
        assert_eq!(
            run_offline(dir.path(), QueueOp::List),
            Ok(QueueOutput::List(Vec::new()))
        );
        let e = run_offline(dir.path(), QueueOp::Show { id }).unwrap_err();
        assert_eq!(e, Error::not_found("no message A1 in the queue"));
    }
}
