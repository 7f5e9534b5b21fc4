//! The command line's side of the control socket: sends one typed
//! [`Request`] to the server of a data directory and returns its typed
//! answer. Blocking: the admin commands have no async runtime.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{decode_response, encode, ReloadReport, Reply, Request};
use super::queue::{QueueOp, QueueOutput};
use super::status::Status;
use super::Error;

/// The socket's path for a data dir: `<data_dir>/control.sock`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// The data directory whose server a command talks to: the one of the file
/// at `config`, even a file broken since the server started, so that
/// `reload` can still report why the server rejects it.
pub fn data_dir_of(config: &Path) -> Result<PathBuf, Error> {
    match super::config::load(config) {
        Ok(cfg) => Ok(cfg.data_dir),
        Err(e) => portcullis_config::data_dir_of_broken_file(config).ok_or(e),
    }
}

/// Whether a server answers on the control socket of `data_dir`.
pub fn is_running(data_dir: &Path) -> bool {
    matches!(call_if_running(data_dir, &Request::Ping), Ok(Some(_)))
}

/// `status`.
pub fn status(data_dir: &Path) -> Result<Status, Error> {
    match call(data_dir, &Request::Status)? {
        Reply::Status(status) => Ok(status),
        other => Err(unexpected(&other)),
    }
}

/// `reload`: the report of an applied reload; a rejected one is a
/// [`Conflict`](super::ErrorKind::Conflict) saying why.
pub fn reload(data_dir: &Path) -> Result<ReloadReport, Error> {
    match call(data_dir, &Request::Reload)? {
        Reply::Reloaded(report) => Ok(report),
        other => Err(unexpected(&other)),
    }
}

/// `unban ADDRESS`: the sentence saying what was lifted.
pub fn unban(data_dir: &Path, address: std::net::IpAddr) -> Result<String, Error> {
    match call(data_dir, &Request::Unban { address })? {
        Reply::Unbanned(sentence) => Ok(sentence),
        other => Err(unexpected(&other)),
    }
}

/// A queue operation: by the running server (so a delivery in flight and a
/// delete cannot cross), or straight on the queue directory when none runs.
pub fn queue(data_dir: &Path, op: QueueOp) -> Result<QueueOutput, Error> {
    match call_if_running(data_dir, &Request::Queue(op.clone()))? {
        None => super::queue::run_offline(data_dir, op),
        Some(Reply::Queue(out)) => Ok(out),
        Some(other) => Err(unexpected(&other)),
    }
}

/// Tells a running server that the directory changed, so the snapshot it
/// serves is rebuilt before this returns. Best effort: with no server (or
/// no right to its socket) there is nothing to tell, and the server's own
/// check of the users file, every 250 ms, would pick the change up anyway.
pub fn directory_changed(data_dir: &Path) {
    let _ = call_if_running(data_dir, &Request::DirectoryChanged);
}

/// Sends `request`; no server is an [`Unavailable`](super::ErrorKind::Unavailable) error.
pub fn call(data_dir: &Path, request: &Request) -> Result<Reply, Error> {
    call_if_running(data_dir, request)?.ok_or_else(|| {
        Error::unavailable(format!(
            "no running server found (nothing listens on {})",
            socket_path(data_dir).display()
        ))
    })
}

/// Like [`call`], but None when no server listens on the socket (no socket
/// file, or a stale one), so a command can work offline instead. The
/// request itself is the only connection: a separate probe would leave a
/// broken pipe in the server's log for every command.
pub fn call_if_running(data_dir: &Path, request: &Request) -> Result<Option<Reply>, Error> {
    let path = socket_path(data_dir);
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => {
            return Err(Error::unavailable(format!(
                "no running server found (cannot connect to {}: {e})",
                path.display()
            )))
        }
    };
    // A reload may take a while (DNS lookups of the relay list).
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    stream
        .write_all(encode(request).as_bytes())
        .map_err(|e| Error::unavailable(format!("cannot talk to the server: {e}")))?;
    let mut line = String::new();
    let n = BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| Error::unavailable(format!("the server's answer was cut off: {e}")))?;
    if n == 0 {
        return Err(Error::unavailable(
            "the server closed the control socket without an answer",
        ));
    }
    let reply: Result<Reply, Error> = decode_response(&line)?.into();
    reply.map(Some)
}

fn unexpected(reply: &Reply) -> Error {
    Error::internal(format!("the server gave an unexpected answer: {reply:?}"))
}
