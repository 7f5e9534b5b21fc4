//! The file backend of the [`Directory`]: the directory sections of the
//! node's configuration (`local_domains`, `[aliases]`, `[relay]`,
//! `[routes]`, already parsed and validated) and the users file
//! `<data_dir>/users` (see [`crate::users`]). User edits are one
//! read-modify-write of the users file under the edit lock, and keep the
//! Dovecot passwd-file (`dovecot.passwd_file`) in step.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_config::{self as config, Config, EditOp};
use portcullis_store::edit_lock::EditLock;

use crate::source::{
    is_directory_key, Directory, DirectoryError, Judge, SettingEdited, Site, UserEdit, Version,
};
use crate::users::{dovecot, UserDb};

/// The configuration file's sections plus the users file.
pub struct FileDirectory {
    config: Arc<Config>,
    users_file: PathBuf,
}

impl FileDirectory {
    /// The directory of `config` (its sections, and the users file in its
    /// data directory).
    pub fn new(config: Arc<Config>) -> FileDirectory {
        let users_file = config.data_dir.join("users");
        FileDirectory { config, users_file }
    }

    /// The users file.
    pub fn users_file(&self) -> &Path {
        &self.users_file
    }

    /// The edit lock on the users file's directory (the data directory,
    /// created first, private, because the lock is taken on it).
    fn lock(&self) -> Result<EditLock, DirectoryError> {
        let dir = &self.config.data_dir;
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
        }
        EditLock::acquire(&self.users_file).map_err(|e| failed(e.to_string()))
    }
}

impl Directory for FileDirectory {
    fn version(&self) -> Version {
        match fs::metadata(&self.users_file) {
            Ok(m) => Version::File {
                inode: m.ino(),
                mtime: m.modified().ok(),
                len: m.len(),
            },
            Err(_) => Version::Absent,
        }
    }

    fn load(&self, in_force: Option<&UserDb>) -> Result<Site, DirectoryError> {
        let users = match in_force {
            Some(current) => UserDb::reload(&self.users_file, current),
            None => UserDb::load(&self.users_file),
        }
        .map_err(|e| failed(e.to_string()))?;
        let c = &self.config;
        Ok(Site {
            local_domains: c.local_domains.clone(),
            users,
            aliases: c.aliases.clone(),
            relay: c.relay.clone(),
            routes: c.routes.clone(),
        })
    }

    fn edit_users(&self, edit: UserEdit) -> Result<UserDb, DirectoryError> {
        let path = &self.users_file;
        // Held from the read to the rename (and the Dovecot copy): each
        // concurrent edit sees the previous one's result, none is lost.
        let _lock = self.lock()?;
        let mut db = UserDb::load(path).map_err(|e| failed(e.to_string()))?;
        edit.apply_to(&mut db)
            .map_err(|e| DirectoryError::Refused(e.to_string()))?;
        db.save(path)
            .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))?;
        // Dovecot checks the same passwords from its own copy.
        if let Some(passwd) = &self.config.dovecot.passwd_file {
            dovecot::write_passwd_file(&db, passwd).map_err(|e| {
                failed(format!(
                    "the users file was saved but the Dovecot passwd-file was not: {e}"
                ))
            })?;
        }
        Ok(db)
    }

    fn edit_setting(&self, op: EditOp, judge: &Judge<'_>) -> Result<SettingEdited, DirectoryError> {
        let key = edited_key(&op);
        if !is_directory_key(key) {
            return Err(DirectoryError::Refused(format!(
                "{key:?} is not a directory setting (local_domains, aliases, relay.*, routes)"
            )));
        }
        edit_config_file(&self.config.path, op, judge)
    }
}

/// The key an edit names.
pub fn edited_key(op: &EditOp) -> &str {
    match op {
        EditOp::Set(k, _) | EditOp::Add(k, _) | EditOp::Remove(k, _) | EditOp::Unset(k) => k,
    }
}

/// One edit of the configuration file at `path`, where this backend keeps
/// its settings next to the node's own: judged first (so `serve` or `reload`
/// would refuse nothing this accepts, with the same sentence), then written
/// atomically with comments and layout kept, under the edit lock. The one
/// implementation of `config set|add|remove|unset`.
pub fn edit_config_file(
    path: &Path,
    op: EditOp,
    judge: &Judge<'_>,
) -> Result<SettingEdited, DirectoryError> {
    let refused = |e: String| DirectoryError::Refused(e);
    // Held from the read to the rename: an edit made meanwhile by another
    // command would otherwise be overwritten by this one's copy.
    let _lock = EditLock::acquire(path).map_err(|e| failed(e.to_string()))?;
    let text = fs::read_to_string(path)
        .map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?;
    let new_text = config::edit_at(&text, op, path).map_err(|e| refused(e.to_string()))?;
    let after = Config::from_str(&new_text, path).map_err(|e| refused(e.to_string()))?;
    let before = Config::from_str(&text, path).ok();
    let warnings = judge(&after).map_err(refused)?;
    config::write_atomic(path, &new_text)
        .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(SettingEdited {
        before,
        after,
        warnings,
    })
}

fn failed(sentence: String) -> DirectoryError {
    DirectoryError::Failed(sentence)
}

#[cfg(test)]
mod tests;
