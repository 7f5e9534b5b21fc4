//! The control socket: a Unix socket `<data_dir>/control.sock`, mode 0600, on
//! which the admin commands reach the running server (`portcullis reload`,
//! `status`, `unban`, `queue ...`). It speaks the admin API's typed
//! [`protocol`]: one JSON request line in, one JSON response line out; a
//! request it does not understand gets a bad-input error naming it.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tracing::warn;

use super::admin::protocol::{self, ReloadReport, Reply, Request as AdminRequest, Response};
use super::admin::status::{Listeners, Status};
use super::admin::{client, queue, Error};
use super::Shared;

/// The socket's path for a data dir.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    client::socket_path(data_dir)
}

/// A request the main loop must carry out (reload needs the listeners).
pub enum Request {
    /// Reload; the report comes back on the channel.
    Reload(tokio::sync::oneshot::Sender<Result<Vec<String>, String>>),
}

/// Binds the socket (replacing a stale one) with mode 0600: only the server's
/// own user may reload it or read its status.
pub fn bind(data_dir: &Path) -> io::Result<UnixListener> {
    let path = socket_path(data_dir);
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another server is running on {}", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves control requests until the task is aborted.
pub async fn serve(listener: UnixListener, shared: Arc<Shared>, requests: mpsc::Sender<Request>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let shared = shared.clone();
        let requests = requests.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            // Bounded: a peer sending no newline cannot grow the buffer.
            let limit = u64::try_from(protocol::MAX_REQUEST).unwrap_or(u64::MAX);
            let mut reader = BufReader::new(read.take(limit));
            let mut line = String::new();
            let response: Response = match reader.read_line(&mut line).await {
                Ok(_) => answer(&line, &shared, &requests).await.into(),
                Err(e) => Error::bad_input(format!("the control request is not text: {e}")).into(),
            };
            // A client that left before its answer (killed, or `| head`) is
            // not the server's problem: only other failures are worth a line.
            match write
                .write_all(protocol::encode(&response).as_bytes())
                .await
            {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    warn!("control socket write failed: {e}")
                }
                _ => {}
            }
        });
    }
}

/// The answer to one request line.
async fn answer(
    line: &str,
    shared: &Arc<Shared>,
    requests: &mpsc::Sender<Request>,
) -> Result<Reply, Error> {
    match protocol::decode_request(line)? {
        AdminRequest::Ping => Ok(Reply::Pong),
        AdminRequest::Status => Ok(Reply::Status(status(shared))),
        AdminRequest::Unban { address } => Ok(Reply::Unbanned(super::auth_guard::unban(
            &shared.auth_throttle,
            address,
        ))),
        AdminRequest::Reload => reload(requests).await.map(Reply::Reloaded),
        AdminRequest::Queue(op) => queue::run_online(shared, op).await.map(Reply::Queue),
        AdminRequest::DirectoryChanged => {
            shared.users.refresh_async().await;
            Ok(Reply::DirectoryRefreshed)
        }
    }
}

/// Has the main loop reload (it owns the listeners to rebind).
async fn reload(requests: &mpsc::Sender<Request>) -> Result<ReloadReport, Error> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if requests.send(Request::Reload(tx)).await.is_err() {
        return Err(Error::unavailable("the server is shutting down"));
    }
    match rx.await {
        Ok(Ok(lines)) => Ok(ReloadReport { lines }),
        Ok(Err(e)) => Err(Error::conflict(format!(
            "reload rejected, the previous configuration stays in force: {e}"
        ))),
        Err(_) => Err(Error::internal("the server did not answer")),
    }
}

/// What the server is doing now.
fn status(shared: &Shared) -> Status {
    let rt = shared.current.get();
    let s = &shared.stats;
    let l = &rt.config.listen;
    let listeners = [
        ("smtp", &l.smtp),
        ("submission", &l.submission),
        ("submissions", &l.submissions),
    ]
    .into_iter()
    .map(|(role, addrs)| Listeners {
        role: role.to_string(),
        addresses: addrs.iter().map(|a| a.to_string()).collect(),
    })
    .collect();
    let limit_refusals = s
        .limit_refusals
        .snapshot()
        .into_iter()
        .map(|(labels, n)| {
            let key = labels.trim_start_matches("limit=\"").trim_end_matches('"');
            (key.to_string(), n)
        })
        .collect();
    Status {
        uptime_secs: shared.started.elapsed().as_secs(),
        pid: std::process::id(),
        listeners,
        sessions: s.sessions.load(Ordering::Relaxed),
        connections: s.connections.load(Ordering::Relaxed),
        messages_accepted: s.messages_accepted.load(Ordering::Relaxed),
        relay_grants: s.relay_grants.load(Ordering::Relaxed),
        relay_denials: s.relay_denials.load(Ordering::Relaxed),
        limit_refusals,
        queued: shared.spool.list().map_or(0, |l| l.len()),
        relay_entries: rt.config.relay.allow.len(),
        auth_bans: super::auth_guard::bans(&shared.auth_throttle),
    }
}
