//! The watcher thread of a node: one connection that LISTENs for announced
//! changes and re-reads the policy version when one comes, polls it every
//! [`POLL`] anyway (for engines without LISTEN/NOTIFY, or a lost
//! notification) and writes the node's heartbeat each time. What it learns
//! is kept in memory, where `version` and `last_confirmed` answer from.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::listener::{Listener, Woken};

/// How often the version is asked and the heartbeat written without an
/// announcement.
pub(crate) const POLL: Duration = Duration::from_secs(5);
/// The shortest poll: however small `max_stale` is.
const POLL_MIN: Duration = Duration::from_millis(250);
/// How long to wait before connecting again after a failure.
const RETRY: Duration = Duration::from_millis(500);

/// What the watcher thread learnt last.
#[derive(Default)]
pub(crate) struct Watched {
    pub(crate) version: Option<i64>,
    pub(crate) confirmed: Option<SystemTime>,
    /// The version this node serves, for its heartbeat.
    pub(crate) applied: Option<i64>,
}

/// The poll interval for a node that serves its snapshot for `max_stale`
/// seconds without the database: [`POLL`], or a quarter of `max_stale` if
/// that is shorter, so a database that answers never lets the node's
/// confirmation grow old enough to fail closed.
pub(crate) fn poll_interval(max_stale: u64) -> Duration {
    (Duration::from_secs(max_stale) / 4).clamp(POLL_MIN, POLL)
}

/// The watcher thread, as its owner holds it.
pub(crate) struct Watcher {
    pub(crate) watched: Arc<Mutex<Watched>>,
    stop: Arc<Notify>,
}

impl Drop for Watcher {
    /// Ends the thread now, not at its next poll: it holds a connection.
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

/// Starts the watcher thread; it ends once the [`Watcher`] is dropped.
pub(crate) fn spawn(url: String, name: Option<String>, every: Duration) -> Watcher {
    let watched = Arc::new(Mutex::new(Watched::default()));
    let stop = Arc::new(Notify::new());
    let weak = Arc::downgrade(&watched);
    let stopped = stop.clone();
    let _ = std::thread::Builder::new()
        .name("directory-watch".into())
        .spawn(move || watch(&url, name.as_deref(), every, &weak, &stopped));
    Watcher { watched, stop }
}

/// The watcher's loop: connect and LISTEN, then read the version (changes
/// announced while it was away are lost), then wait for an announcement or
/// `every`, read it again, and so on; after any failure, connect again.
fn watch(
    url: &str,
    name: Option<&str>,
    every: Duration,
    watched: &Weak<Mutex<Watched>>,
    stop: &Notify,
) {
    let mut listener: Option<Listener> = None;
    // Whether the loss of the database was logged: once per outage.
    let mut down = false;
    while let Some(shared) = watched.upgrade() {
        let checked = match listener.take() {
            Some(l) => Ok(l),
            None => Listener::connect(url),
        }
        .and_then(|mut l| check(&mut l, name, &shared).map(|()| l));
        drop(shared);
        match checked {
            Ok(l) if down => {
                tracing::info!("directory database: listening for changes again");
                down = false;
                listener = Some(l);
            }
            Ok(l) => listener = Some(l),
            Err(e) => {
                if !down {
                    tracing::warn!("{e}; connecting again");
                    down = true;
                }
                std::thread::sleep(RETRY);
                continue;
            }
        }
        if let Some(l) = listener.as_mut() {
            match l.wait(every, stop) {
                Woken::Announced => tracing::debug!("directory database: a change was announced"),
                Woken::TimedOut => {}
                Woken::Lost => listener = None,
                Woken::Stopped => return,
            }
        }
    }
}

/// Reads the version, writes the heartbeat of a serving node, and records
/// both as confirmed now.
fn check(
    listener: &mut Listener,
    name: Option<&str>,
    shared: &Mutex<Watched>,
) -> Result<(), portcullis_directory::DirectoryError> {
    let store = listener.store();
    let version = store.policy_version()?;
    if let Some(name) = name {
        let applied = shared.lock().unwrap_or_else(|p| p.into_inner()).applied;
        store.heartbeat(name, applied)?;
    }
    let mut w = shared.lock().unwrap_or_else(|p| p.into_inner());
    w.version = Some(version);
    w.confirmed = Some(SystemTime::now());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_is_slow_unless_max_stale_is_short() {
        assert_eq!(poll_interval(120), POLL);
        assert_eq!(poll_interval(3), Duration::from_millis(750));
        assert_eq!(poll_interval(1), POLL_MIN);
    }
}
