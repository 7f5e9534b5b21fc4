//! `user add|remove|list|password|admin|dovecot-sync`: local users in the users
//! file of the data directory. Passwords are never stored in plain text
//! (see `portcullis_directory::users`). Every change is one read-modify-write
//! under an [`EditLock`] ([`edit`]), so concurrent commands never lose one;
//! a running server is told and re-reads the file, no reload needed.

use std::path::{Path, PathBuf};

use portcullis_config::Config;
use portcullis_directory::users::{
    check_password_length, dovecot, validate_user_name, Credentials, UserDb, UsersError,
};
use portcullis_directory::{DirectoryError, Site, UserEdit};
use portcullis_store::edit_lock::EditLock;
use serde::{Deserialize, Serialize};

use super::Error;

/// A user to add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// The name as typed (stored lower-case).
    pub name: String,
    /// The password, in plain text only until it is derived.
    pub password: String,
    /// Accept a password shorter than 8 characters (false when left out).
    #[serde(default)]
    pub weak: bool,
    /// With the admin right: the console and the JSON API (false when left out).
    #[serde(default)]
    pub admin: bool,
}

/// A user as `user list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The name as stored (lower-case).
    pub name: String,
    /// Whether the user has the admin right.
    pub admin: bool,
}

/// A user added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAdded {
    /// The name as stored (lower-case).
    pub name: String,
    /// Whether it differs from the name as typed.
    pub folded: bool,
}

/// A user removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRemoved {
    /// The name as stored.
    pub name: String,
    /// Aliases that still name the user, whose mail would now bounce.
    pub warnings: Vec<String>,
}

/// Every user, sorted by name. Unlocked: the file is replaced by rename, so
/// this is the list before or after any concurrent edit, never half of one.
pub fn list(config: &Path) -> Result<Vec<UserInfo>, Error> {
    let (_, site) = site(config)?;
    Ok(site
        .users
        .names()
        .map(|name| UserInfo {
            name: name.to_string(),
            admin: site.users.is_admin(name),
        })
        .collect())
}

/// The name `name` would be stored under, or why it cannot be added: for
/// checking before a password is asked for.
pub fn check_new(config: &Path, name: &str) -> Result<String, Error> {
    let (cfg, site) = site(config)?;
    let stored = validate_user_name(name).map_err(|e| Error::bad_input(e.to_string()))?;
    if let Some((_, domain)) = stored.split_once('@') {
        // A user of a domain that is not ours could never get mail.
        let local = domain == cfg.hostname || site.local_domains.iter().any(|d| d == domain);
        if !local {
            return Err(Error::bad_input(format!(
                "cannot add {stored:?}: {domain} is not a local domain (local_domains: {})",
                site.local_domains.join(", ")
            )));
        }
    }
    if site.users.contains(&stored) {
        return Err(Error::bad_input(UsersError::Exists(stored).to_string()));
    }
    Ok(stored)
}

/// Whether `name` is a user (an error naming it if not): for checking
/// before a password is asked for.
pub fn check_exists(config: &Path, name: &str) -> Result<(), Error> {
    let (_, site) = site(config)?;
    if site.users.contains(name) {
        Ok(())
    } else {
        Err(no_such_user(name))
    }
}

/// `user add`.
pub fn add(config: &Path, user: NewUser) -> Result<UserAdded, Error> {
    let stored = check_new(config, &user.name)?;
    let creds = derive(&user.password, user.weak)?;
    edit(
        config,
        UserEdit::Add {
            name: stored.clone(),
            credentials: creds,
            admin: user.admin,
        },
    )?;
    Ok(UserAdded {
        folded: stored != user.name,
        name: stored,
    })
}

/// `user password`: returns the name as stored.
pub fn set_password(
    config: &Path,
    name: &str,
    password: &str,
    weak: bool,
) -> Result<String, Error> {
    check_exists(config, name)?;
    let creds = derive(password, weak)?;
    edit(
        config,
        UserEdit::Password {
            name: name.to_string(),
            credentials: creds,
        },
    )?;
    Ok(name.to_ascii_lowercase())
}

/// `user admin NAME on|off`: grants or revokes the admin right; returns
/// the name as stored.
pub fn set_admin(config: &Path, name: &str, admin: bool) -> Result<String, Error> {
    check_exists(config, name)?;
    edit(
        config,
        UserEdit::Admin {
            name: name.to_string(),
            admin,
        },
    )?;
    Ok(name.to_ascii_lowercase())
}

/// `user remove` (the Maildir is kept).
pub fn remove(config: &Path, name: &str) -> Result<UserRemoved, Error> {
    // Refused before the lock, which would create the data directory.
    check_exists(config, name)?;
    edit(
        config,
        UserEdit::Remove {
            name: name.to_string(),
        },
    )?;
    let (cfg, site) = site(config)?;
    Ok(UserRemoved {
        name: name.to_ascii_lowercase(),
        warnings: portcullis_directory::recipient::alias_warnings(&site, &cfg.hostname),
    })
}

/// `user dovecot-sync`: writes the Dovecot passwd-file now.
pub fn dovecot_sync(config: &Path) -> Result<(), Error> {
    let (cfg, file) = users_file(config)?;
    load(&file)?;
    let Some(passwd) = &cfg.dovecot.passwd_file else {
        return Err(Error::bad_input(format!(
            "dovecot.passwd_file is not set in {}",
            cfg.path.display()
        )));
    };
    // Locked too: a copy made from a list read just before a concurrent
    // `user add` saved would otherwise undo it in Dovecot.
    let _lock = lock(&cfg, &file)?;
    dovecot::write_passwd_file(&load(&file)?, passwd).map_err(|e| Error::internal(e.to_string()))
}

/// The configuration and the site its directory holds.
fn site(config: &Path) -> Result<(Config, Site), Error> {
    let cfg = super::config::load(config)?;
    let site = crate::directory::open_directory(&cfg)
        .map_err(Error::bad_input)?
        .load(None)
        .map_err(|e| Error::internal(e.to_string()))?;
    Ok((cfg, site))
}

/// The configuration and its users file.
fn users_file(config: &Path) -> Result<(Config, PathBuf), Error> {
    let cfg = super::config::load(config)?;
    let file = cfg.data_dir.join("users");
    Ok((cfg, file))
}

/// One change to the users through the directory (one read-modify-write
/// of the users file and the Dovecot copy under the edit lock, so
/// concurrent user commands each see the previous one's result and none is
/// lost); then the running server is told, so the change holds for the next
/// SMTP command rather than after its next check of the file.
fn edit(config: &Path, change: UserEdit) -> Result<(), Error> {
    let (cfg, _) = users_file(config)?;
    let data_dir = cfg.data_dir.clone();
    let directory = crate::directory::open_directory(&cfg).map_err(Error::bad_input)?;
    let result = directory.edit_users(change);
    super::client::directory_changed(&data_dir);
    match result {
        Ok(_) => Ok(()),
        Err(DirectoryError::Refused(e)) => Err(Error::bad_input(e)),
        Err(DirectoryError::Failed(e)) => Err(Error::internal(e)),
    }
}

/// The edit lock on the users file's directory (the data directory, created
/// first because the lock is taken on it).
fn lock(cfg: &Config, file: &Path) -> Result<EditLock, Error> {
    crate::ensure_private_dir(&cfg.data_dir)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", cfg.data_dir.display())))?;
    EditLock::acquire(file).map_err(|e| Error::internal(e.to_string()))
}

fn load(file: &Path) -> Result<UserDb, Error> {
    UserDb::load(file).map_err(|e| Error::internal(e.to_string()))
}

/// The stored credentials for `password` (the slow Argon2 step, done before
/// the lock is taken so other editors are not kept waiting on it). A short
/// password is refused unless `weak`; an empty one always.
fn derive(password: &str, weak: bool) -> Result<Credentials, Error> {
    if password.is_empty() {
        return Err(Error::bad_input("the password is empty"));
    }
    if !weak {
        check_password_length(password).map_err(|e| Error::bad_input(e.to_string()))?;
    }
    Credentials::derive(password).map_err(|e| Error::bad_input(e.to_string()))
}

fn no_such_user(name: &str) -> Error {
    Error::not_found(format!("no such user \"{name}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::ErrorKind;

    #[test]
    fn a_new_user_reads_as_the_json_api_sends_it() {
        let user: NewUser =
            serde_json::from_str(r#"{"name": "Alice", "password": "s3cret-pw"}"#).unwrap();
        assert_eq!(user.name, "Alice");
        assert!(!user.weak && !user.admin);
        let user: NewUser =
            serde_json::from_str(r#"{"name": "root", "password": "s3cret-pw", "admin": true}"#)
                .unwrap();
        assert!(user.admin);
    }

    #[test]
    fn passwords_are_refused_before_anything_is_written() {
        assert_eq!(
            derive("", true).unwrap_err(),
            Error::bad_input("the password is empty")
        );
        assert_eq!(
            derive("short", false).unwrap_err().kind,
            ErrorKind::BadInput
        );
    }
}
