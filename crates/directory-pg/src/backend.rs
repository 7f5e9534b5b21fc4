//! The directory backend a node serves from when `directory.backend =
//! "postgres"`. A watcher thread of its own (see [`crate::watch`]) learns
//! of every change as it is announced and writes the node's heartbeat, so
//! `version` and `last_confirmed` answer from memory (the server asks them
//! every 250 ms) and a change made on any node is in force everywhere
//! within a second.
//! Loads and edits run on a fresh thread with their own connection, so the
//! database client never runs inside the server's async runtime.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use portcullis_config::{edit_at, Config, EditOp};
use portcullis_directory::files::edited_key;
use portcullis_directory::users::UserDb;
use portcullis_directory::{
    is_directory_key, Directory, DirectoryError, Judge, SettingEdited, Site, UserEdit, Version,
};

use crate::settings::{settings_text, take_settings, with_site};
use crate::watch::{self, Watcher};
use crate::{snapshot, PgStore};

/// The PostgreSQL directory of one node.
pub struct PgDirectory {
    url: String,
    node: Arc<Config>,
    /// The name of a serving node's heartbeat (None: a command).
    name: Option<String>,
    watcher: Watcher,
}

impl PgDirectory {
    /// The directory at `url`, for the node configured by `node`; starts
    /// the watcher thread, which ends when the directory is dropped. A
    /// serving node passes its `name` for the heartbeat; a command does not,
    /// so `directory status` lists servers only.
    pub fn open(url: String, node: Arc<Config>, name: Option<String>) -> PgDirectory {
        let every = watch::poll_interval(node.directory.max_stale);
        let watcher = watch::spawn(url.clone(), name.clone(), every);
        PgDirectory {
            url,
            node,
            name,
            watcher,
        }
    }

    /// Runs `f` with a fresh connection on a thread of its own.
    fn with_store<T: Send>(
        &self,
        f: impl FnOnce(&mut PgStore) -> Result<T, DirectoryError> + Send,
    ) -> Result<T, DirectoryError> {
        let url = &self.url;
        std::thread::scope(|scope| {
            scope
                .spawn(|| f(&mut PgStore::connect(url)?))
                .join()
                .unwrap_or_else(|_| {
                    Err(DirectoryError::Failed(
                        "the database client panicked".into(),
                    ))
                })
        })
    }

    fn confirm(&self, version: i64, confirmed: SystemTime) {
        let mut w = self
            .watcher
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        w.version = Some(version);
        w.confirmed = Some(confirmed);
        w.applied = Some(version);
    }
}

impl Directory for PgDirectory {
    fn version(&self) -> Version {
        let w = self
            .watcher
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        w.version.map_or(Version::Absent, Version::Counter)
    }

    /// The database's site, kept on disk as a serving node's snapshot. Without
    /// the database, a node that serves nothing yet (it is starting) takes
    /// the snapshot, with the time the database last confirmed it, so the
    /// fail-closed rule runs from that time.
    fn load(&self, in_force: Option<&UserDb>) -> Result<Site, DirectoryError> {
        let snapshots = snapshot::dir(&self.node.data_dir);
        // The heartbeat says at once which version the node now serves, so
        // `directory status` shows every node on a change within a second,
        // not at the next poll; its failure is the watcher's to retry.
        let read = self.with_store(|store| {
            let (site, version) = store.read_site()?;
            if let Some(name) = &self.name {
                let _ = store.heartbeat(name, Some(version));
            }
            Ok((site, version))
        });
        match read {
            Ok((site, version)) => {
                let now = SystemTime::now();
                self.confirm(version, now);
                // Only a serving node keeps the snapshot: a command (often
                // run as root) must not leave files in data_dir that the
                // server's own user can no longer replace.
                if self.name.is_some() {
                    if let Err(e) = snapshot::save(&snapshots, &site, version, now) {
                        tracing::warn!("{e}");
                    }
                }
                Ok(site)
            }
            Err(e) if in_force.is_none() => {
                let (site, version, confirmed) = snapshot::load(&snapshots)
                    .map_err(|s| DirectoryError::Failed(format!("{e}; {s}")))?;
                tracing::warn!(
                    "{e}: serving the directory snapshot of policy version {version} from {}",
                    snapshots.display()
                );
                self.confirm(version, confirmed);
                Ok(site)
            }
            Err(e) => Err(e),
        }
    }

    fn edit_users(&self, edit: UserEdit) -> Result<UserDb, DirectoryError> {
        self.with_store(move |store| {
            store.modify(move |site| {
                edit.apply_to(&mut site.users)
                    .map_err(|e| DirectoryError::Refused(e.to_string()))?;
                Ok(site.users.clone())
            })
        })
    }

    fn edit_setting(&self, op: EditOp, judge: &Judge<'_>) -> Result<SettingEdited, DirectoryError> {
        let key = edited_key(&op).to_string();
        if !is_directory_key(&key) {
            return Err(DirectoryError::Refused(format!(
                "{key:?} is not a directory setting (local_domains, aliases, relay.*, routes)"
            )));
        }
        // The judge is not Send: read, judge here, then write only if the
        // site did not change meanwhile (else try again, a few times).
        for _ in 0..5 {
            let (site, _) = self.with_store(PgStore::read_site)?;
            let before = with_site(&self.node, &site);
            let after = edited(&site, &self.node, op.clone())?;
            let warnings = judge(&after).map_err(DirectoryError::Refused)?;
            let written = self.with_store(|store| {
                store.modify(|now| {
                    if *now != site {
                        return Ok(false); // changed since it was judged
                    }
                    take_settings(now, &after);
                    Ok(true)
                })
            })?;
            if written {
                return Ok(SettingEdited {
                    before: Some(before),
                    after,
                    warnings,
                });
            }
        }
        Err(DirectoryError::Failed(
            "the directory kept changing under this edit; try again".into(),
        ))
    }

    fn last_confirmed(&self) -> Option<SystemTime> {
        self.watcher
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .confirmed
    }
}

/// `node` with the site's settings and `op` applied, validated as
/// `config set` validates.
fn edited(site: &Site, node: &Config, op: EditOp) -> Result<Config, DirectoryError> {
    let refused = |e: String| DirectoryError::Refused(e);
    let path = Path::new("portcullis.toml");
    let text = settings_text(site, path).map_err(|e| refused(e.to_string()))?;
    let text = edit_at(&text, op, path).map_err(|e| refused(e.to_string()))?;
    let fragment = Config::from_str(&text, path).map_err(|e| refused(e.to_string()))?;
    let mut edited_site = site.clone();
    take_settings(&mut edited_site, &fragment);
    Ok(with_site(node, &edited_site))
}
