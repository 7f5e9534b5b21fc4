//! The users the server serves: an immutable snapshot of the users file,
//! swapped whole when the file changes. Per-message code (RCPT, AUTH, local
//! delivery) only reads the snapshot, an `Arc` clone behind a read lock; it
//! never opens or stats the file. Two things refresh the snapshot off the
//! session path: `portcullis user …` asks the running server to over the
//! control socket once it has saved (so the change holds for the very next
//! SMTP command), and a background check of the file's identity every
//! [`POLL_INTERVAL`] catches edits made by other means.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use portcullis_directory::users::UserDb;
use tracing::{info, warn};

/// How often the background check stats the users file.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The users in force, and what refreshes them.
pub struct Users {
    path: PathBuf,
    snapshot: RwLock<Arc<UserDb>>,
    /// Held by whoever refreshes (the poller or a control request), so two
    /// refreshes never interleave their read and their swap.
    watch: Mutex<Watch>,
}

/// What the last refresh saw of the file.
struct Watch {
    version: Option<FileVersion>,
    /// The version last refused, so a bad file is logged once, not per check.
    refused: Option<Option<FileVersion>>,
}

/// What tells one version of the users file from the next: it is replaced
/// by rename (a new inode), and mtime and size change with any edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileVersion {
    inode: u64,
    mtime: Option<SystemTime>,
    len: u64,
}

impl Users {
    /// Loads the users file; a file that cannot be loaded stops the start.
    pub fn open(path: PathBuf) -> Result<Users, String> {
        let version = version(&path);
        let db = UserDb::load(&path).map_err(|e| e.to_string())?;
        Ok(Users {
            path,
            snapshot: RwLock::new(Arc::new(db)),
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

    /// Re-reads the users file if it changed since the last refresh and
    /// swaps the new users in. Blocking (file I/O): call it off the async
    /// workers.
    pub fn refresh(&self) {
        let mut watch = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        let now = version(&self.path);
        if now == watch.version || watch.refused == Some(now) {
            return;
        }
        match UserDb::reload(&self.path, &self.get()) {
            Ok(db) => {
                info!(users = db.len(), "users file reloaded");
                *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(db);
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
    pub async fn refresh_async(self: &Arc<Self>) {
        let users = self.clone();
        let _ = tokio::task::spawn_blocking(move || users.refresh()).await;
    }

    /// Checks the file every [`POLL_INTERVAL`] until the task is dropped.
    pub fn spawn_poller(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let users = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                users.refresh_async().await;
            }
        })
    }
}

fn version(path: &Path) -> Option<FileVersion> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| FileVersion {
        inode: m.ino(),
        mtime: m.modified().ok(),
        len: m.len(),
    })
}
