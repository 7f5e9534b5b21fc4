//! Keeping the site in force current with the directory. The server serves
//! an immutable snapshot of the site, inside its [`Runtime`]; it never asks
//! the directory anything while it handles mail. Two things bring a new
//! version in, off the session path: `portcullis user …` (and any admin
//! edit) tells the running server over the control socket once it has
//! saved, so the change holds for the very next session, and a background
//! check of the directory's cheap `version` every [`POLL_INTERVAL`] catches
//! changes made by other means (another node, an editor). A new version is
//! loaded whole, compiled as a reload compiles it, and swapped in; a site
//! that cannot be loaded or compiled leaves the one in force, logged once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use portcullis_config::{Config, DirectoryBackend};
use portcullis_directory::Version;
use tracing::{info, warn};

use crate::directory::SharedDirectory;
use crate::runtime::Runtime;
use crate::site::{self, Loaded};
use crate::Shared;

/// How often the background check asks the directory for its version.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What refreshes the site, and when the directory last confirmed it.
pub struct SiteRefresh {
    /// Held by whoever loads and swaps a site (the poller, a control
    /// request, a reload), so two never interleave their read and swap.
    watch: tokio::sync::Mutex<Watch>,
    /// When the directory last confirmed that the site in force is its
    /// current one; None: always (the file backend).
    confirmed: Mutex<Option<SystemTime>>,
}

/// What the last refresh refused.
#[derive(Default)]
pub(crate) struct Watch {
    /// The version last refused, so a bad site is logged once, not per check.
    refused: Option<Version>,
    /// The version a shared database could not give, so its absence is
    /// logged once while every check tries again.
    unreachable: Option<Version>,
}

impl Watch {
    /// A reload loaded the directory: whatever was refused before is moot.
    pub(crate) fn loaded(&mut self) {
        self.refused = None;
        self.unreachable = None;
    }
}

impl SiteRefresh {
    /// A refresher for a site the directory confirmed at `confirmed`.
    pub fn new(confirmed: Option<SystemTime>) -> SiteRefresh {
        SiteRefresh {
            watch: tokio::sync::Mutex::new(Watch::default()),
            confirmed: Mutex::new(confirmed),
        }
    }

    /// When the directory last confirmed the site in force (None: always).
    pub fn confirmed(&self) -> Option<SystemTime> {
        *self.confirmed.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_confirmed(&self, at: Option<SystemTime>) {
        *self.confirmed.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// Taken by a reload for its load and swap of the site.
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, Watch> {
        self.watch.lock().await
    }

    /// Loads the directory again if its version changed since the site in
    /// force was loaded, compiles it and swaps it in.
    pub async fn refresh(&self, shared: &Shared) {
        let mut watch = self.watch.lock().await;
        let rt = shared.current.get();
        match next(&rt, shared.directory(), &mut watch, shared.allow_open_relay).await {
            Refreshed::Unchanged(confirmed) => self.set_confirmed(confirmed),
            Refreshed::Kept => {}
            Refreshed::New(new, confirmed) => {
                shared.current.set(*new);
                self.set_confirmed(confirmed);
            }
        }
    }

    /// Checks the directory every [`POLL_INTERVAL`] until the task is aborted.
    pub fn spawn_poller(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                shared.refresh.refresh(&shared).await;
            }
        })
    }
}

/// What one check of the directory found.
pub(crate) enum Refreshed {
    /// The site in force is the directory's current one, confirmed then.
    Unchanged(Option<SystemTime>),
    /// A new version that could not be loaded or compiled (logged once):
    /// the site in force stays, unconfirmed.
    Kept,
    /// The runtime with the new site, and when the directory confirmed it.
    New(Box<Runtime>, Option<SystemTime>),
}

/// Checks `directory` against the site of `rt`: loads a new version whole
/// and compiles it as a reload does. `watch` remembers a version refused,
/// so that it is logged once, not at every check.
pub(crate) async fn next(
    rt: &Arc<Runtime>,
    directory: SharedDirectory,
    watch: &mut Watch,
    allow_open_relay: bool,
) -> Refreshed {
    let probe = directory.clone();
    let Ok((confirmed, version)) =
        tokio::task::spawn_blocking(move || (probe.last_confirmed(), probe.version())).await
    else {
        return Refreshed::Kept;
    };
    if version == rt.site.version {
        // Only a confirmation of the version in force keeps it fresh: a
        // newer version not loaded yet is not what we serve.
        return Refreshed::Unchanged(confirmed);
    }
    if watch.refused == Some(version) {
        return Refreshed::Kept;
    }
    let what = backend_noun(&rt.config);
    let loaded = match load(directory, Some(rt.clone())).await {
        Ok((loaded, _)) => loaded,
        // Keep the site we have: a half-edited, truncated or deleted users
        // file, or a database gone away, must not lock anyone out.
        Err(e) => {
            if watch.unreachable != Some(version) {
                warn!("{what} not reloaded: {e}");
            }
            // A file that cannot be read stays so until it changes; a
            // shared database (one that confirms) may come back with the
            // same version, so it is tried again at every check.
            if confirmed.is_some() {
                watch.unreachable = Some(version);
            } else {
                watch.refused = Some(version);
            }
            return Refreshed::Kept;
        }
    };
    let users = loaded.site.users.len();
    match site::compile(
        loaded,
        &rt.config,
        &rt.dns,
        Some(&rt.site),
        allow_open_relay,
        site::report_detail(false),
    )
    .await
    {
        Ok((snapshot, _)) => {
            watch.loaded();
            info!(users, version = %snapshot.version, "{what} reloaded");
            Refreshed::New(Box::new(rt.with_site(snapshot)), confirmed)
        }
        Err(e) => {
            warn!("{what} not reloaded, the site in force stays: {}", e.0);
            watch.refused = Some(version);
            Refreshed::Kept
        }
    }
}

/// Reads the whole directory on a blocking thread: the site, the version it
/// was read at, and when the directory last confirmed it (asked first, so
/// the confirmation is never later than the read). `in_force` supplies the
/// users served now, which a backend refuses to drop by mistake.
pub(crate) async fn load(
    directory: SharedDirectory,
    in_force: Option<Arc<Runtime>>,
) -> Result<(Loaded, Option<SystemTime>), String> {
    tokio::task::spawn_blocking(move || {
        let confirmed = directory.last_confirmed();
        let version = directory.version();
        let users = in_force.as_ref().map(|rt| &rt.site.site.users);
        let site = directory.load(users).map_err(|e| e.to_string())?;
        // A backend that had confirmed nothing yet (a node starting) dates
        // the site by this read, or by its snapshot on disk when it is cut
        // off; without that, a node started without its database would
        // never go stale.
        let confirmed = confirmed.or_else(|| directory.last_confirmed());
        Ok((
            Loaded {
                site,
                version,
                users_unreadable: None,
            },
            confirmed,
        ))
    })
    .await
    .map_err(|e| format!("the directory read did not finish: {e}"))?
}

/// What the log calls the directory of `config`.
pub(crate) fn backend_noun(config: &Config) -> &'static str {
    match config.directory.backend {
        DirectoryBackend::Files => "users file",
        DirectoryBackend::Postgres => "directory database",
    }
}

#[cfg(test)]
mod tests;
