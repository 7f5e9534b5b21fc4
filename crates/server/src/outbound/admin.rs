//! `portcullis queue list|show|flush|delete` (docs/reference.md §1; like `mailq`,
//! `postcat -q`, `postqueue -f`, `postsuper -d`): the answers the running
//! server gives on its control socket, and the same operations straight on
//! the queue directory for when it is not running.
//!
//! On the socket, every line of text is sent behind a `|`, so that no line
//! of a queued message (which anyone can write) can pass for the `OK` or
//! `ERR` line that ends the answer.

use std::io;
use std::sync::Arc;

use portcullis_queue::listing::{format_list, format_show, Entry};
use portcullis_store::spool::{RecipientState, Spool};
use tracing::info;

use super::finish;
use crate::Shared;

/// The control-socket answer to a `QUEUE-…` request.
pub async fn answer(shared: &Arc<Shared>, request: &str) -> String {
    let (verb, arg) = request.split_once(' ').unwrap_or((request, ""));
    let arg = arg.trim().to_string();
    match verb {
        "QUEUE-LIST" => blocking(shared, list_text).await,
        "QUEUE-SHOW" => blocking(shared, move |spool| show_text(spool, &arg)).await,
        "QUEUE-DELETE" => {
            blocking(shared, move |spool| {
                delete(spool, &arg).map(|()| format!("message {arg} deleted\n"))
            })
            .await
        }
        "QUEUE-DELETE-ALL" => {
            blocking(shared, |spool| {
                delete_all(spool).map(|n| format!("{n} message(s) deleted\n"))
            })
            .await
        }
        "QUEUE-HOLD" | "QUEUE-RELEASE" => {
            let held = verb == "QUEUE-HOLD";
            let outbound = shared.outbound.clone();
            blocking(shared, move |spool| {
                let text = hold(spool, &arg, held)?;
                // The runner re-reads the envelope: a held message leaves
                // its schedule, a released one joins it.
                outbound.kick(&arg);
                Ok(text)
            })
            .await
        }
        "QUEUE-FLUSH" => match shared.outbound.flush().await {
            Ok(0) => {
                let held = held_count(&shared.spool);
                if held == 0 {
                    "|The queue is empty.\nOK\n".to_string()
                } else {
                    format!("|no message is due: {held} held (`portcullis queue release ID` sends one on)\nOK\n")
                }
            }
            Ok(n) => format!("|{n} message(s) scheduled for delivery now\nOK\n"),
            Err(e) => format!("ERR {e}\n"),
        },
        other => format!("ERR unknown request \"{other}\"\n"),
    }
}

/// Runs `f` on the blocking pool and frames its text for the socket.
async fn blocking(
    shared: &Arc<Shared>,
    f: impl FnOnce(&Spool) -> Result<String, String> + Send + 'static,
) -> String {
    let spool = shared.spool.clone();
    match tokio::task::spawn_blocking(move || f(&spool)).await {
        Ok(Ok(text)) => {
            let mut out = String::with_capacity(text.len() + 16);
            for line in text.lines() {
                out.push('|');
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("OK\n");
            out
        }
        Ok(Err(e)) => format!("ERR {}\n", e.replace('\n', " ")),
        Err(e) => format!("ERR internal error: {e}\n"),
    }
}

/// `queue list`.
pub fn list_text(spool: &Spool) -> Result<String, String> {
    let mut entries = Vec::new();
    for envelope in spool.list().map_err(|e| e.to_string())? {
        let size = message_size(spool, &envelope.id);
        entries.push(Entry { envelope, size });
    }
    Ok(format_list(&entries))
}

/// `queue show ID`.
pub fn show_text(spool: &Spool, id: &str) -> Result<String, String> {
    let envelope = spool.load_envelope(id).map_err(|e| not_queued(id, e))?;
    let message = spool.read_message(id).map_err(|e| not_queued(id, e))?;
    let size = u64::try_from(message.len()).unwrap_or(u64::MAX);
    Ok(format_show(&Entry { envelope, size }, &message))
}

/// `queue delete ID`: removed at once (under the message's lock, so a
/// delivery finishing at the same moment cannot bring it back).
pub fn delete(spool: &Spool, id: &str) -> Result<(), String> {
    let _guard = finish::lock(id);
    spool.remove(id).map_err(|e| not_queued(id, e))?;
    info!(queue_id = %id, "deleted from the queue by the administrator");
    Ok(())
}

/// `queue delete ALL` (like `postsuper -d ALL`): every message, each under
/// its lock as [`delete`] does. Returns how many were removed.
pub fn delete_all(spool: &Spool) -> Result<usize, String> {
    let mut n = 0;
    for env in spool.list().map_err(|e| e.to_string())? {
        let _guard = finish::lock(&env.id);
        match spool.remove(&env.id) {
            Ok(()) => n += 1,
            // Delivered or deleted meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    info!(messages = n, "queue emptied by the administrator");
    Ok(n)
}

/// `queue hold ID` (`held`) / `queue release ID`, like `postsuper -h/-H`:
/// recorded in the envelope, so it survives a restart; under the message's
/// lock, so a delivery finishing meanwhile keeps it. Returns the sentence
/// for the admin.
pub fn hold(spool: &Spool, id: &str, held: bool) -> Result<String, String> {
    let _guard = finish::lock(id);
    let mut env = spool.load_envelope(id).map_err(|e| not_queued(id, e))?;
    let (done, already) = if held {
        (
            "held: it is not delivered until `portcullis queue release`",
            "already held",
        )
    } else {
        ("released: it is delivered as scheduled", "not held")
    };
    if env.held == held {
        return Ok(format!("message {id} is {already}\n"));
    }
    env.held = held;
    spool.update_envelope(&env).map_err(|e| not_queued(id, e))?;
    info!(queue_id = %id, held, "queue hold changed by the administrator");
    Ok(format!("message {id} {done}\n"))
}

/// `queue flush` while the server is down: every pending recipient is made
/// due now, so the next start tries them at once. Returns the message count.
pub fn flush_offline(spool: &Spool) -> Result<usize, String> {
    let now = portcullis_store::clock::unix_now();
    let mut n = 0;
    for mut env in spool.list().map_err(|e| e.to_string())? {
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
            spool.update_envelope(&env).map_err(|e| e.to_string())?;
        }
        if !env.is_done() {
            n += 1;
        }
    }
    Ok(n)
}

/// How many queued messages are held.
fn held_count(spool: &Spool) -> usize {
    spool
        .list()
        .map_or(0, |list| list.iter().filter(|e| e.held).count())
}

fn message_size(spool: &Spool, id: &str) -> u64 {
    spool
        .message_path(id)
        .and_then(std::fs::metadata)
        .map_or(0, |m| m.len())
}

fn not_queued(id: &str, e: io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound {
        format!("no message {id} in the queue")
    } else {
        e.to_string()
    }
}
