//! `portcullis user add|remove|list|password`: local users. Passwords are
//! never stored in plain text (see `portcullis_directory::users`). Every change
//! is made under an [`EditLock`], so concurrent commands never lose one.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use clap::Subcommand;
use portcullis_config::Config;
use portcullis_directory::users::{
    check_password_length, validate_user_name, Credentials, UserDb, UsersError,
};
use portcullis_store::edit_lock::EditLock;

use super::output::say;
use super::{load_config, Failure};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user (asks for the password).
    Add {
        name: String,
        /// Read the password from the first line of stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
        /// Accept a password shorter than 8 characters.
        #[arg(long)]
        weak: bool,
    },
    /// Remove a user (their Maildir is kept).
    Remove { name: String },
    /// List users, one per line.
    List,
    /// Change a user's password.
    Password {
        name: String,
        /// Read the password from the first line of stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
        /// Accept a password shorter than 8 characters.
        #[arg(long)]
        weak: bool,
    },
    /// Write the Dovecot passwd-file (dovecot.passwd_file) now; every other
    /// user command rewrites it too.
    DovecotSync,
}

pub fn run(config: &Path, cmd: UserCommand) -> Result<(), Failure> {
    let cfg = load_config(config)?;
    let path = cfg.data_dir.join("users");
    // Read before any password is asked, so a broken users file (or an
    // unknown user) is reported first; edits read it again under the lock.
    let db = load(&path)?;
    match cmd {
        UserCommand::DovecotSync => {
            let Some(file) = &cfg.dovecot.passwd_file else {
                return Err(Failure::input(format!(
                    "dovecot.passwd_file is not set in {}",
                    cfg.path.display()
                )));
            };
            // Locked too: a copy made from a list read just before a
            // concurrent `user add` saved would otherwise undo it in Dovecot.
            let _lock = lock(&cfg, &path)?;
            portcullis_directory::users::dovecot::write_passwd_file(&load(&path)?, file)
                .map_err(|e| Failure::runtime(e.to_string()))
        }
        UserCommand::List => {
            // Unlocked: the file is replaced by rename, so this is the list
            // before or after any concurrent edit, never half of one.
            for name in db.names() {
                say!("{name}")?;
            }
            Ok(())
        }
        UserCommand::Add {
            name,
            password_stdin,
            weak,
        } => {
            // Checked before the password is asked for.
            let stored = validate_user_name(&name).map_err(|e| Failure::input(e.to_string()))?;
            if db.contains(&stored) {
                return Err(Failure::input(UsersError::Exists(stored).to_string()));
            }
            let creds = derive(read_password(password_stdin)?, weak)?;
            edit(&cfg, &path, |db| db.add(&stored, creds))?;
            let folded = if stored == name {
                String::new()
            } else {
                format!(" (stored as \"{stored}\": user names are lower-case)")
            };
            say!("added user {stored}{folded}; {NO_RELOAD}")
        }
        UserCommand::Password {
            name,
            password_stdin,
            weak,
        } => {
            if !db.contains(&name) {
                return Err(Failure::input(format!("no such user \"{name}\"")));
            }
            let creds = derive(read_password(password_stdin)?, weak)?;
            edit(&cfg, &path, |db| db.set_password(&name, creds))?;
            say!(
                "changed the password of {}; {NO_RELOAD}",
                name.to_ascii_lowercase()
            )
        }
        UserCommand::Remove { name } => {
            // Refused before the lock, which would create the data directory.
            if !db.contains(&name) {
                return Err(Failure::input(format!("no such user \"{name}\"")));
            }
            edit(&cfg, &path, |db| db.remove(&name).map(drop))?;
            say!(
                "removed user {} (the Maildir is kept); {NO_RELOAD}",
                name.to_ascii_lowercase()
            )?;
            // An alias still naming the user would now bounce its mail.
            let users = load(&path)?;
            for w in portcullis_directory::recipient::alias_warnings(&cfg, &users) {
                eprintln!("portcullis: warning: {w}");
            }
            Ok(())
        }
    }
}

/// How a user change reaches a running server: it re-reads the users file
/// when it changes.
const NO_RELOAD: &str = "a running server uses it at once, no reload needed";

/// One read-modify-write of the users file (and the Dovecot copy) under the
/// edit lock, so concurrent user commands each see the previous one's
/// result and none is lost.
fn edit(
    cfg: &Config,
    path: &Path,
    change: impl FnOnce(&mut UserDb) -> Result<(), UsersError>,
) -> Result<(), Failure> {
    let _lock = lock(cfg, path)?;
    let mut db = load(path)?;
    change(&mut db).map_err(|e| Failure::input(e.to_string()))?;
    db.save(path)
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    // Dovecot checks the same passwords from its own copy, kept in step here.
    match &cfg.dovecot.passwd_file {
        Some(file) => write_dovecot(&db, file),
        None => Ok(()),
    }
}

/// The edit lock on the users file's directory (the data directory, created
/// first because the lock is taken on it).
fn lock(cfg: &Config, path: &Path) -> Result<EditLock, Failure> {
    portcullis_server::ensure_private_dir(&cfg.data_dir)
        .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", cfg.data_dir.display())))?;
    EditLock::acquire(path).map_err(|e| Failure::runtime(e.to_string()))
}

fn load(path: &Path) -> Result<UserDb, Failure> {
    UserDb::load(path).map_err(|e| Failure::runtime(e.to_string()))
}

/// The stored credentials for `password` (the slow Argon2 step, done before
/// the lock is taken so other editors are not kept waiting on it). A short
/// password is refused unless `weak`.
fn derive(password: String, weak: bool) -> Result<Credentials, Failure> {
    if !weak {
        check_password_length(&password).map_err(|e| Failure::input(e.to_string()))?;
    }
    Credentials::derive(&password).map_err(|e| Failure::input(e.to_string()))
}

/// Writes the Dovecot passwd-file (`portcullis_directory::users::dovecot`) after
/// the users file was saved.
fn write_dovecot(db: &UserDb, file: &Path) -> Result<(), Failure> {
    portcullis_directory::users::dovecot::write_passwd_file(db, file).map_err(|e| {
        Failure::runtime(format!(
            "the users file was saved but the Dovecot passwd-file was not: {e}"
        ))
    })
}

/// The password from stdin (first line) or the terminal (asked twice).
fn read_password(from_stdin: bool) -> Result<String, Failure> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::runtime(format!("cannot read the password from stdin: {e}")))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))?;
        let second = rpassword::prompt_password("Again: ")
            .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))?;
        if first != second {
            return Err(Failure::input("the two passwords differ"));
        }
        first
    };
    if password.is_empty() {
        return Err(Failure::input("the password is empty"));
    }
    Ok(password)
}
