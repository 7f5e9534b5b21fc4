//! The operations only the running server can perform (status, reload,
//! unban, the queue while it runs, a directory refresh), in one handler for
//! every front end inside the server: the control socket (control.rs)
//! today, the JSON API next. A front end only decodes a [`Request`] and
//! encodes the answer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::protocol::{ReloadReport, Reply, Request};
use super::queue;
use super::status::{DirectoryStatus, Listeners, Status};
use super::Error;
use crate::Shared;

/// What only the main loop can carry out (reload needs the listeners).
pub enum MainLoop {
    /// Reload; the report lines (or why it was rejected) come back on the channel.
    Reload(oneshot::Sender<Result<Vec<String>, String>>),
}

/// Performs `request` in the running server.
pub(crate) async fn perform(
    shared: &Arc<Shared>,
    main_loop: &mpsc::Sender<MainLoop>,
    request: Request,
) -> Result<Reply, Error> {
    match request {
        Request::Ping => Ok(Reply::Pong),
        Request::Status => Ok(Reply::Status(status(shared))),
        Request::Unban { address } => Ok(Reply::Unbanned(crate::auth_guard::unban(
            &shared.auth_throttle,
            address,
        ))),
        Request::Reload => reload(main_loop).await.map(Reply::Reloaded),
        Request::Queue(op) => queue::run_online(shared, op).await.map(Reply::Queue),
        Request::DirectoryChanged => {
            shared.refresh.refresh(shared).await;
            Ok(Reply::DirectoryRefreshed)
        }
    }
}

/// Has the main loop reload (it owns the listeners to rebind).
async fn reload(main_loop: &mpsc::Sender<MainLoop>) -> Result<ReloadReport, Error> {
    let (tx, rx) = oneshot::channel();
    if main_loop.send(MainLoop::Reload(tx)).await.is_err() {
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
        relay_entries: rt.site.site.relay.allow.len(),
        auth_bans: crate::auth_guard::bans(&shared.auth_throttle),
        directory: directory_status(shared, &rt),
    }
}

/// The directory the site in force came from, and how current it is now.
fn directory_status(shared: &Shared, rt: &crate::runtime::Runtime) -> DirectoryStatus {
    let freshness = shared.freshness(std::time::SystemTime::now());
    DirectoryStatus {
        backend: rt.config.directory.backend.name().to_string(),
        version: rt.site.version.to_string(),
        confirmed_secs_ago: freshness.age().map(|a| a.as_secs()),
        max_stale_secs: rt.config.directory.max_stale,
        stale: freshness.is_stale(),
    }
}
