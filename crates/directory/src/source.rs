//! The directory: where the server gets what a site *is* (its local
//! domains, users with their stored credentials, aliases, relay policy and
//! routes), as opposed to how one node runs, which stays in the node's own
//! configuration. A backend is read whole into a [`Site`], which the server
//! compiles into the snapshot it serves; edits go through the same backend,
//! so a second one (a shared database) is an addition, not a rewrite.
//! [`crate::files`] is the backend of today: the configuration file's
//! sections plus the users file.

use std::collections::BTreeMap;
use std::time::SystemTime;

use portcullis_config::{Config, EditOp, Relay};

use crate::users::{Credentials, UserDb, UsersError};

/// Everything a directory holds, read at once.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    /// Mail for these domains is delivered here; lower-case.
    pub local_domains: Vec<String>,
    /// The local users with their stored credentials.
    pub users: UserDb,
    /// Local name → targets (local names or full addresses).
    pub aliases: BTreeMap<String, Vec<String>>,
    /// Who may relay (`relay.*`).
    pub relay: Relay,
    /// Domain → `host:port` for outbound mail.
    pub routes: BTreeMap<String, String>,
}

/// What tells one state of a directory from the next, cheap to ask for:
/// the server compares it to decide whether to load again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// The users file: it is replaced by rename (a new inode), and its
    /// modification time and size change with any edit.
    File {
        /// The file's inode number.
        inode: u64,
        /// Its modification time.
        mtime: Option<SystemTime>,
        /// Its size in bytes.
        len: u64,
    },
    /// There is nothing to read yet (no users file).
    Absent,
    /// A shared database's policy version, bumped by every change.
    Counter(i64),
}

impl std::fmt::Display for Version {
    /// `42` for a counter; the users file's identity (inode, size,
    /// modification time) for the file; `none` when there is nothing yet.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Version::Counter(n) => write!(f, "{n}"),
            Version::Absent => f.write_str("none"),
            Version::File { inode, mtime, len } => {
                let secs = mtime
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs());
                write!(f, "users file inode {inode}, {len} bytes, modified {secs}")
            }
        }
    }
}

/// One change to the users.
#[derive(Debug)]
pub enum UserEdit {
    /// A new user; the name is validated and stored lower-case.
    Add {
        /// The name as given.
        name: String,
        /// Derived from the password (the slow step, done by the caller).
        credentials: Credentials,
        /// With the admin right (the console and the JSON API).
        admin: bool,
    },
    /// New credentials for an existing user.
    Password {
        /// The user (case-insensitive).
        name: String,
        /// Derived from the new password.
        credentials: Credentials,
    },
    /// The admin right of an existing user, granted or revoked.
    Admin {
        /// The user (case-insensitive).
        name: String,
        /// Whether they have it after the change.
        admin: bool,
    },
    /// A user goes (their mail stays where it is).
    Remove {
        /// The user (case-insensitive).
        name: String,
    },
}

impl UserEdit {
    /// Applies the edit to `db`: the one meaning of a user edit, whatever
    /// backend stores the result.
    pub fn apply_to(self, db: &mut UserDb) -> Result<(), UsersError> {
        match self {
            UserEdit::Add {
                name,
                credentials,
                admin,
            } => {
                db.add(&name, credentials)?;
                db.set_admin(&name, admin)
            }
            UserEdit::Admin { name, admin } => db.set_admin(&name, admin),
            UserEdit::Password { name, credentials } => db.set_password(&name, credentials),
            UserEdit::Remove { name } => db.remove(&name).map(drop),
        }
    }
}

/// Whether `key` names a directory setting (`local_domains`, `aliases`,
/// `relay.*`, `routes`) rather than one of how this node runs.
pub fn is_directory_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let section = key.split('.').next().unwrap_or_default();
    matches!(section, "local_domains" | "aliases" | "relay" | "routes")
}

/// The server's judgement of a whole configuration, as `serve` and
/// `reload` would judge it: its warnings, or the sentence refusing it.
pub type Judge<'a> = dyn Fn(&Config) -> Result<Vec<String>, String> + 'a;

/// A setting changed.
#[derive(Clone, Debug)]
pub struct SettingEdited {
    /// The configuration before (None when it did not load).
    pub before: Option<Config>,
    /// The configuration after.
    pub after: Config,
    /// What the judge warned of in it.
    pub warnings: Vec<String>,
}

/// Why a directory could not be read or changed: one sentence.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The request itself is wrong (a bad name, no such user): the
    /// directory is unchanged.
    #[error("{0}")]
    Refused(String),
    /// The backend could not be read or written.
    #[error("{0}")]
    Failed(String),
}

/// A directory backend.
pub trait Directory {
    /// The directory's current version, without reading it.
    fn version(&self) -> Version;

    /// Reads the whole directory. `in_force` holds the users served now,
    /// if any: a backend refuses data that would silently drop them (a
    /// users file truncated or deleted by mistake), so they stay in force.
    fn load(&self, in_force: Option<&UserDb>) -> Result<Site, DirectoryError>;

    /// Applies one change to the users atomically, with no concurrent edit
    /// lost, and returns the users after it.
    fn edit_users(&self, edit: UserEdit) -> Result<UserDb, DirectoryError>;

    /// Applies one edit of a directory setting ([`is_directory_key`]) once
    /// `judge` accepted the whole result, so nothing is stored that the
    /// server would refuse; a refused edit changes nothing.
    fn edit_setting(&self, op: EditOp, judge: &Judge<'_>) -> Result<SettingEdited, DirectoryError>;

    /// When the backend last confirmed that what [`Directory::load`] gave
    /// is current. None: always (a local file is its own truth). A shared
    /// database answers the time of its last successful contact, so a node
    /// cut off from it can tell how stale its snapshot is and fail closed.
    fn last_confirmed(&self) -> Option<SystemTime> {
        None
    }
}
