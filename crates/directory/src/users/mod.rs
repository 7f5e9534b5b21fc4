//! Local users: the users file `<data_dir>/users` and what each SASL
//! mechanism needs to check a login, all derived from one enrolment.
//!
//! No plaintext password is ever stored. Per user, the file keeps
//! (the exact format is documented in `users/file.rs`):
//! - an Argon2id hash, for PLAIN and LOGIN;
//! - SCRAM-SHA-256 salted keys (RFC 5802, RFC 7677), for SCRAM-SHA-256;
//! - the HMAC-MD5 inner and outer states, for CRAM-MD5 (RFC 2195), as
//!   Dovecot's `CRAM-MD5` scheme and mox store them.
//!
//! Security trade-off (the one Dovecot documents): the CRAM-MD5 states are
//! still a password equivalent *for CRAM-MD5*. Whoever reads the file can log
//! in with CRAM-MD5 without cracking anything (and the SCRAM keys let them
//! impersonate the server to SCRAM clients). So the file is created with mode
//! 0600, rewritten with at most the permissions it had (never more than
//! 0640), and refused at load if anyone but the owner's group could read it
//! or anyone but the owner could write it.
//!
//! User names become Maildir directory names, so they are restricted to
//! lower-case `[a-z0-9._-]`, 1–64 characters, not starting with `.` or `-`:
//! no `/`, no `..`, nothing a shell or a path would interpret.

mod credentials;
pub mod dovecot;
mod file;
mod md5_state;
mod saslprep;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[cfg(test)]
pub(crate) use credentials::cheap_argon2 as cheap_argon2_for_tests;
pub use credentials::{
    burn_password_check, derive_scram_keys, CramMd5State, Credentials, ScramKeys, SCRAM_ITERATIONS,
    SCRAM_SALT_LEN,
};
pub use saslprep::SaslprepError;

use portcullis_store::maildir::sync_dir;

/// The longest user name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Mode of a newly created users file.
const NEW_FILE_MODE: u32 = 0o600;

/// Everything that can go wrong with users and the users file.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// An I/O operation on a path failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("read", "write"...).
        action: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The error from the system.
        #[source]
        source: io::Error,
    },
    /// The users file is readable or writable by people it must not be.
    #[error(
        "users file {path} has mode {mode:04o}: it must not be writable by group or others, \
         nor readable by others (it holds CRAM-MD5 password equivalents); run chmod 600 on it"
    )]
    InsecurePermissions {
        /// The users file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A line of the users file is malformed.
    #[error("users file {path} line {line}: {reason}")]
    Parse {
        /// The users file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A user name breaks the naming rules.
    #[error("invalid user name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// `add` of a name that exists.
    #[error("user {0:?} already exists")]
    Exists(String),
    /// An operation on a name that does not exist.
    #[error("no such user {0:?}")]
    NoSuchUser(String),
    /// Enrolment with a password shorter than [`MIN_PASSWORD_CHARS`].
    #[error(
        "the password has {chars} characters; use at least 8 (or --weak to accept a shorter one)"
    )]
    WeakPassword {
        /// How many characters it has.
        chars: usize,
    },
    /// Enrolment with an empty password.
    #[error("the password is empty")]
    EmptyPassword,
    /// Enrolment with a password SASLprep (RFC 4013) refuses.
    #[error(transparent)]
    Saslprep(#[from] SaslprepError),
    /// The password hasher failed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
    /// A users file that would replace loaded users is missing or empty
    /// (no header line): truncated or deleted, not written by `user …`.
    #[error(
        "users file {path} {problem}; keeping the users loaded before ({kept}) \
         (restore it, or rewrite it with `portcullis user …`)"
    )]
    Vanished {
        /// The users file.
        path: PathBuf,
        /// "is missing" or "is empty (no header line)".
        problem: &'static str,
        /// How many users stay in force.
        kept: usize,
    },
}

/// Checks a user name and returns it lower-cased (names are case-insensitive).
/// A bare name (`alice`) is a mailbox in every local domain; a full address
/// (`alice@example.com`) is a mailbox of that domain only (whether the
/// domain is local is for the caller, who knows the site, to check).
pub fn validate_user_name(name: &str) -> Result<String, UsersError> {
    let invalid = |reason| UsersError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if let Some((local, domain)) = name.split_once('@') {
        let local = validate_user_name(local).map_err(|e| match e {
            UsersError::InvalidName { reason, .. } => invalid(reason),
            other => other,
        })?;
        if domain.is_empty() || domain.ends_with('.') {
            return Err(invalid("the domain after '@' is not a domain name"));
        }
        let domain = portcullis_config::values::parse_domain(domain)
            .map_err(|_| invalid("the domain after '@' is not a domain name"))?;
        return Ok(format!("{local}@{domain}"));
    }
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("it is longer than 64 characters"));
    }
    let lower = name.to_ascii_lowercase();
    // Names become directory names under mail/: only characters that are
    // inert in paths and shells, and no leading '.' (hidden, "..") or '-'
    // (read as an option by tools).
    if !lower
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            "only letters a-z, digits, '.', '_' and '-' are allowed",
        ));
    }
    if lower.starts_with('.') || lower.starts_with('-') {
        return Err(invalid("it must not start with '.' or '-'"));
    }
    Ok(lower)
}

/// The fewest characters a password may have (unless the admin insists,
/// with `user add --weak`): shorter ones fall to a brute-force search
/// within the AUTH throttle's limits.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Refuses a password shorter than [`MIN_PASSWORD_CHARS`] characters.
pub fn check_password_length(password: &str) -> Result<(), UsersError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(UsersError::WeakPassword { chars: n });
    }
    Ok(())
}

/// The set of local users, as loaded from and saved to the users file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserDb {
    users: BTreeMap<String, Credentials>,
    /// The users with the admin right (the console and the JSON API).
    admins: BTreeSet<String>,
}

impl UserDb {
    /// An empty database.
    pub fn new() -> UserDb {
        UserDb::default()
    }

    /// Loads the users file. A missing file is an empty database; a file
    /// writable by group or others, or readable by others, is refused.
    pub fn load(path: &Path) -> Result<UserDb, UsersError> {
        Ok(read(path)?.map_or_else(UserDb::new, |(db, _)| db))
    }

    /// Loads the users file to replace `current`, the users in force. Why:
    /// every file `user …` writes starts with the header line, even with no
    /// users left, so a missing or empty file while users are loaded is a
    /// deletion or a truncation (`> users`, a full disk under an editor),
    /// never the admin's intent, and must not lock every user out.
    pub fn reload(path: &Path, current: &UserDb) -> Result<UserDb, UsersError> {
        let vanished = |problem| UsersError::Vanished {
            path: path.to_path_buf(),
            problem,
            kept: current.len(),
        };
        match read(path)? {
            None if !current.is_empty() => Err(vanished("is missing")),
            None => Ok(UserDb::new()),
            // A file without users is empty or header-only: only the header
            // tells the admin's "no users left" from a truncation.
            Some((db, false)) if db.is_empty() && !current.is_empty() => {
                Err(vanished("is empty (no header line)"))
            }
            Some((db, _)) => Ok(db),
        }
    }

    /// Writes the database atomically: a temporary file in the same
    /// directory (mode 0600, or the old file's mode if stricter-or-equal
    /// to 0640, and the old file's owner), fsynced, renamed over `path`, and
    /// the directory fsynced. The directory is created (0700) if missing.
    pub fn save(&self, path: &Path) -> Result<(), UsersError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|source| io_error("create directory", &dir, source))?;
        }
        let old = fs::metadata(path).ok();
        // Keep what the admin chose (e.g. 0640 for a service group), but
        // never widen beyond owner read-write plus group read.
        let mode = old
            .as_ref()
            .map_or(NEW_FILE_MODE, |m| (m.permissions().mode() & 0o640) | 0o600);
        let file_name = path
            .file_name()
            .map_or_else(|| "users".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(
            ".{file_name}.tmp.{}.{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let text = self.to_text();
        let result = write_new_file(&tmp, mode, text.as_bytes(), old.as_ref())
            .and_then(|()| fs::rename(&tmp, path).map_err(|e| ("rename", e)));
        if let Err((action, source)) = result {
            // A failed exclusive create means the name belongs to someone else.
            if action != "create" {
                let _ = fs::remove_file(&tmp);
            }
            return Err(io_error(action, &tmp, source));
        }
        sync_dir(&dir).map_err(|source| io_error("fsync directory", &dir, source))
    }

    /// The users in the users file's format (header, then one line per
    /// user): what a shared directory stores, so both backends hold the
    /// very same credentials.
    pub fn to_text(&self) -> String {
        file::render(
            self.users
                .iter()
                .map(|(n, c)| (n.as_str(), c, self.admins.contains(n))),
        )
    }

    /// Reads users in the users file's format; `origin` names the source
    /// in errors.
    pub fn from_text(text: &str, origin: &Path) -> Result<UserDb, UsersError> {
        let users = file::parse(text).map_err(|(line, reason)| UsersError::Parse {
            path: origin.to_path_buf(),
            line,
            reason,
        })?;
        let admins = users
            .iter()
            .filter(|(_, _, admin)| *admin)
            .map(|(name, _, _)| name.clone())
            .collect();
        Ok(UserDb {
            users: users
                .into_iter()
                .map(|(name, creds, _)| (name, creds))
                .collect(),
            admins,
        })
    }

    /// The credentials of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Credentials> {
        self.users.get(&name.to_ascii_lowercase())
    }

    /// Whether `name` (case-insensitive) is a user.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The user names, lower-case, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.users.keys().map(String::as_str)
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Adds a user; the name is validated and lower-cased. Fails if it exists.
    pub fn add(&mut self, name: &str, credentials: Credentials) -> Result<(), UsersError> {
        let name = validate_user_name(name)?;
        if self.users.contains_key(&name) {
            return Err(UsersError::Exists(name));
        }
        self.users.insert(name, credentials);
        Ok(())
    }

    /// Replaces the credentials of an existing user.
    pub fn set_password(&mut self, name: &str, credentials: Credentials) -> Result<(), UsersError> {
        let key = name.to_ascii_lowercase();
        match self.users.get_mut(&key) {
            Some(slot) => {
                *slot = credentials;
                Ok(())
            }
            None => Err(UsersError::NoSuchUser(key)),
        }
    }

    /// Removes a user (and their admin right) and returns its credentials.
    pub fn remove(&mut self, name: &str) -> Result<Credentials, UsersError> {
        let key = name.to_ascii_lowercase();
        self.admins.remove(&key);
        self.users.remove(&key).ok_or(UsersError::NoSuchUser(key))
    }

    /// Whether `name` (case-insensitive) is a user with the admin right.
    pub fn is_admin(&self, name: &str) -> bool {
        self.admins.contains(&name.to_ascii_lowercase())
    }

    /// Grants (`true`) or revokes the admin right of an existing user.
    pub fn set_admin(&mut self, name: &str, admin: bool) -> Result<(), UsersError> {
        let key = name.to_ascii_lowercase();
        if !self.users.contains_key(&key) {
            return Err(UsersError::NoSuchUser(key));
        }
        if admin {
            self.admins.insert(key);
        } else {
            self.admins.remove(&key);
        }
        Ok(())
    }
}

/// Reads and parses the users file: `None` if it does not exist, else the
/// users and whether the file has its header line.
fn read(path: &Path) -> Result<Option<(UserDb, bool)>, UsersError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error("open", path, source)),
    };
    let meta = file
        .metadata()
        .map_err(|source| io_error("stat", path, source))?;
    let mode = meta.permissions().mode() & 0o7777;
    // Why: a writable file lets anyone add themselves as a user; a
    // world-readable one hands out CRAM-MD5 password equivalents and
    // Argon2 hashes to crack. Group read is allowed for a service group.
    if mode & 0o026 != 0 {
        return Err(UsersError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = io::read_to_string(file).map_err(|source| io_error("read", path, source))?;
    let db = UserDb::from_text(&text, path)?;
    Ok(Some((db, file::has_header(&text))))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> UsersError {
    UsersError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `path` exclusively with `mode`, gives it the owner of `old` (so a
/// root-run CLI does not take the file away from the server's user), writes
/// `bytes` and fsyncs it.
fn write_new_file(
    path: &Path,
    mode: u32,
    bytes: &[u8],
    old: Option<&fs::Metadata>,
) -> Result<(), (&'static str, io::Error)> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| ("create", e))?;
    // The umask may have removed bits from `mode`; set it exactly.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| ("chmod", e))?;
    if let Some(old) = old {
        let new = file.metadata().map_err(|e| ("stat", e))?;
        if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
            std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))
                .map_err(|e| ("give the old owner to", e))?;
        }
    }
    file.write_all(bytes).map_err(|e| ("write", e))?;
    file.sync_all().map_err(|e| ("fsync", e))
}

#[cfg(test)]
mod tests;
