//! `portcullis user add|remove|list|password`: local users. Passwords are
//! never stored in plain text (see `portcullis_core::users`).

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use clap::Subcommand;
use portcullis_core::users::{Credentials, UserDb};

use super::{load_config, Failure};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user (asks for the password).
    Add {
        name: String,
        /// Read the password from the first line of stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user (their Maildir is kept).
    Remove { name: String },
    /// List users, one per line.
    List,
    /// Change a user's password.
    Password {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Write the Dovecot passwd-file (dovecot.passwd_file) now; every other
    /// user command rewrites it too.
    DovecotSync,
}

pub fn run(config: &Path, cmd: UserCommand) -> Result<(), Failure> {
    let cfg = load_config(config)?;
    let path = cfg.data_dir.join("users");
    let mut db = UserDb::load(&path).map_err(|e| Failure::runtime(e.to_string()))?;
    match cmd {
        UserCommand::DovecotSync => {
            let Some(file) = &cfg.dovecot.passwd_file else {
                return Err(Failure::input(format!(
                    "dovecot.passwd_file is not set in {}",
                    cfg.path.display()
                )));
            };
            return write_dovecot(&db, file);
        }
        UserCommand::List => {
            for name in db.names() {
                println!("{name}");
            }
            return Ok(());
        }
        UserCommand::Add {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let creds =
                Credentials::derive(&password).map_err(|e| Failure::input(e.to_string()))?;
            db.add(&name, creds)
                .map_err(|e| Failure::input(e.to_string()))?;
        }
        UserCommand::Password {
            name,
            password_stdin,
        } => {
            if !db.contains(&name) {
                return Err(Failure::input(format!("no such user \"{name}\"")));
            }
            let password = read_password(password_stdin)?;
            let creds =
                Credentials::derive(&password).map_err(|e| Failure::input(e.to_string()))?;
            db.set_password(&name, creds)
                .map_err(|e| Failure::input(e.to_string()))?;
        }
        UserCommand::Remove { name } => {
            db.remove(&name)
                .map_err(|e| Failure::input(e.to_string()))?;
        }
    }
    crate::server::ensure_private_dir(&cfg.data_dir)
        .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", cfg.data_dir.display())))?;
    db.save(&path)
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    // Dovecot checks the same passwords from its own copy, kept in step here.
    match &cfg.dovecot.passwd_file {
        Some(file) => write_dovecot(&db, file),
        None => Ok(()),
    }
}

/// Writes the Dovecot passwd-file (`portcullis_core::users::dovecot`).
fn write_dovecot(db: &UserDb, file: &Path) -> Result<(), Failure> {
    portcullis_core::users::dovecot::write_passwd_file(db, file).map_err(|e| {
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
