//! `directory init|import|export|status`: the shared directory's database, named
//! by `directory.url_file`. A node still on the file backend uses them to
//! move its site into the database before it switches `directory.backend`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use portcullis_config::{Config, DirectoryBackend};
use portcullis_directory_pg::{schema, NodeSeen, PgStore};
use serde::{Deserialize, Serialize};

use super::Error;

/// What `directory import` copied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// Local domains.
    pub domains: usize,
    /// Users.
    pub users: usize,
    /// Aliases.
    pub aliases: usize,
    /// `relay.allow` entries.
    pub relay_entries: usize,
    /// Routes.
    pub routes: usize,
    /// The database's policy version after the import.
    pub policy_version: i64,
}

/// What `directory status` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryStatus {
    /// The backend this node serves from (`files` or `postgres`).
    pub backend: String,
    /// The database's schema version (0: never initialised).
    pub schema: i32,
    /// The schema version this build writes and reads.
    pub schema_current: i32,
    /// The database's policy version (None before `directory init`).
    pub policy_version: Option<i64>,
    /// Every node that reported: name, applied version, seconds since seen.
    pub nodes: Vec<(String, Option<i64>, u64)>,
}

/// `directory init`: creates or upgrades the schema; returns its version.
pub fn init(config: &Path) -> Result<i32, Error> {
    connect(&super::config::load(config)?)?
        .init()
        .map_err(|e| Error::internal(e.to_string()))
}

/// `directory import`: copies this node's file-backed site into the
/// database, replacing what it held there, in one transaction.
pub fn import(config: &Path) -> Result<Imported, Error> {
    let cfg = super::config::load(config)?;
    if cfg.directory.backend != DirectoryBackend::Files {
        return Err(Error::bad_input(
            "directory import copies the file backend's site: this node's directory.backend is not \"files\"",
        ));
    }
    let site = crate::directory::open_directory(&cfg)
        .map_err(Error::bad_input)?
        .load(None)
        .map_err(|e| Error::bad_input(e.to_string()))?;
    let mut store = connect(&cfg)?;
    if store
        .schema_version()
        .map_err(|e| Error::internal(e.to_string()))?
        != schema::CURRENT
    {
        return Err(Error::bad_input(
            "the directory database has no current schema: run `portcullis directory init` first",
        ));
    }
    let policy_version = store
        .write_site(&site)
        .map_err(|e| Error::internal(e.to_string()))?;
    Ok(Imported {
        domains: site.local_domains.len(),
        users: site.users.len(),
        aliases: site.aliases.len(),
        relay_entries: site.relay.allow.len(),
        routes: site.routes.len(),
        policy_version,
    })
}

/// What `directory export` wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    /// `DIR/site.toml`: `local_domains`, `[relay]`, `[aliases]`, `[routes]`.
    pub settings: PathBuf,
    /// `DIR/users`: the users file.
    pub users: PathBuf,
    /// The policy version exported.
    pub policy_version: i64,
}

/// `directory export DIR`: writes the database's site out as the file
/// backend keeps it: the settings as a configuration fragment (validated
/// as the server loads it) and the users file, which `data_dir` holds.
/// Existing files are never overwritten.
pub fn export(config: &Path, dir: &Path) -> Result<Exported, Error> {
    let cfg = super::config::load(config)?;
    let (site, policy_version) = connect(&cfg)?
        .read_site()
        .map_err(|e| Error::internal(e.to_string()))?;
    let settings = dir.join("site.toml");
    let users = dir.join("users");
    for path in [&settings, &users] {
        if path.exists() {
            return Err(Error::conflict(format!(
                "{} exists already: export into an empty directory",
                path.display()
            )));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::bad_input(format!("cannot create {}: {e}", dir.display())))?;
    let text = portcullis_directory_pg::settings_text(&site, &settings)
        .map_err(|e| Error::bad_input(e.to_string()))?;
    std::fs::write(&settings, text)
        .map_err(|e| Error::internal(format!("cannot write {}: {e}", settings.display())))?;
    site.users
        .save(&users)
        .map_err(|e| Error::internal(e.to_string()))?;
    Ok(Exported {
        settings,
        users,
        policy_version,
    })
}

/// `directory status`.
pub fn status(config: &Path) -> Result<DirectoryStatus, Error> {
    let cfg = super::config::load(config)?;
    let backend = cfg.directory.backend.name();
    let mut store = connect(&cfg)?;
    let internal = |e: portcullis_directory::DirectoryError| Error::internal(e.to_string());
    let schema = store.schema_version().map_err(internal)?;
    let (policy_version, nodes) = if schema > 0 {
        (
            Some(store.policy_version().map_err(internal)?),
            store.nodes().map_err(internal)?,
        )
    } else {
        (None, Vec::new())
    };
    let now = SystemTime::now();
    Ok(DirectoryStatus {
        backend: backend.to_string(),
        schema,
        schema_current: schema::CURRENT,
        policy_version,
        nodes: nodes.into_iter().map(|n| seen(n, now)).collect(),
    })
}

fn seen(node: NodeSeen, now: SystemTime) -> (String, Option<i64>, u64) {
    let ago = now.duration_since(node.seen_at).map_or(0, |d| d.as_secs());
    (node.name, node.applied, ago)
}

/// Connects to the database `directory.url_file` names.
fn connect(cfg: &Config) -> Result<PgStore, Error> {
    let path = cfg.directory.url_file.as_ref().ok_or_else(|| {
        Error::bad_input(
            "directory.url_file is not set: name the file that holds postgres://user:password@host/db",
        )
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::bad_input(format!(
            "cannot read directory.url_file {}: {e}",
            path.display()
        ))
    })?;
    PgStore::connect(text.trim()).map_err(|e| Error::internal(e.to_string()))
}
