//! The users the server serves: an immutable snapshot of the users file,
//! swapped whole when the file changes. Per-message code (RCPT, AUTH, local
//! delivery) only reads the snapshot, an `Arc` clone behind a read lock; it
//! never opens or stats the file. Two things refresh the snapshot off the
//! session path: `portcullis user …` asks the running server to over the
//! control socket once it has saved (so the change holds for the very next
//! SMTP command), and a background check of the file's identity every
//! [`POLL_INTERVAL`] catches edits made by other means. Both read through
//! the [`Directory`] (its cheap `version`, then `load`), so another backend
//! plugs in here unchanged.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use portcullis_directory::users::UserDb;
use portcullis_directory::{Directory, Version};
use tracing::{info, warn};

use crate::directory::SharedDirectory;

/// How often the background check asks the directory for its version.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The users in force, and what refreshes them.
pub struct Users {
    snapshot: RwLock<Arc<UserDb>>,
    /// Held by whoever refreshes (the poller or a control request), so two
    /// refreshes never interleave their read and their swap.
    watch: Mutex<Watch>,
}

/// What the last refresh saw of the directory.
struct Watch {
    version: Version,
    /// The version last refused, so a bad file is logged once, not per check.
    refused: Option<Version>,
}

impl Users {
    /// Loads the users; a directory that cannot be loaded stops the start.
    pub fn open(directory: &dyn Directory) -> Result<Users, String> {
        let version = directory.version();
        let site = directory.load(None).map_err(|e| e.to_string())?;
        Ok(Users {
            snapshot: RwLock::new(Arc::new(site.users)),
            watch: Mutex::new(Watch {
                version,
                refused: None,
            }),
        })
    }

    /// The users in force: no file access.
    pub fn get(&self) -> Arc<UserDb> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads the directory again if its version changed since the last
    /// refresh and swaps the new users in. Blocking (file I/O): call it off
    /// the async workers.
    pub fn refresh(&self, directory: &dyn Directory) {
        let mut watch = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        let now = directory.version();
        if now == watch.version || watch.refused == Some(now) {
            return;
        }
        match directory.load(Some(&self.get())) {
            Ok(site) => {
                info!(users = site.users.len(), "users file reloaded");
                *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(site.users);
                watch.version = now;
                watch.refused = None;
            }
            // Keep the users we had: a half-edited, truncated or deleted
            // file must not lock everyone out.
            Err(e) => {
                warn!("users file not reloaded: {e}");
                watch.refused = Some(now);
            }
        }
    }

    /// Refreshes on a blocking thread, for async callers.
    pub async fn refresh_async(self: &Arc<Self>, directory: SharedDirectory) {
        let users = self.clone();
        let _ = tokio::task::spawn_blocking(move || users.refresh(directory.as_ref())).await;
    }

    /// Checks the directory every [`POLL_INTERVAL`] until the task is
    /// aborted; `directory` gives the one in force at each check.
    pub fn spawn_poller<F>(self: &Arc<Self>, directory: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn() -> SharedDirectory + Send + 'static,
    {
        let users = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                users.refresh_async(directory()).await;
            }
        })
    }
}
