//! The control socket: a Unix socket `<data_dir>/control.sock`, mode 0600, on
//! which the admin commands reach the running server (`portcullis reload`,
//! `status`, `unban`, `queue ...`). It speaks the admin API's typed
//! [`protocol`]: one JSON request line in, one JSON response line out; a
//! request it does not understand gets a bad-input error naming it.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tracing::warn;

use super::admin::protocol::{self, Reply, Response};
use super::admin::{client, server, Error};
use super::Shared;

/// The socket's path for a data dir.
pub(crate) fn socket_path(data_dir: &Path) -> PathBuf {
    client::socket_path(data_dir)
}

/// A request the main loop must carry out (reload needs the listeners).
pub(crate) use super::admin::server::MainLoop as Request;

/// Binds the socket (replacing a stale one) with mode 0600: only the server's
/// own user may reload it or read its status.
pub(crate) fn bind(data_dir: &Path) -> io::Result<UnixListener> {
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
pub(crate) async fn serve(
    listener: UnixListener,
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
) {
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
    server::perform(shared, requests, protocol::decode_request(line)?).await
}
