//! `portcullis user add|remove|list|password|admin|dovecot-sync`: the arguments
//! of [`admin::users`] (passwords read from the terminal or stdin here), and
//! its answers as lines.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use clap::Subcommand;
use portcullis_server::admin::{self, users::NewUser};

use super::output::say;
use super::Failure;

#[derive(Subcommand, Debug)]
pub(crate) enum UserCommand {
    /// Add a user (asks for the password).
    Add {
        name: String,
        /// Read the password from the first line of stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
        /// Accept a password shorter than 8 characters.
        #[arg(long)]
        weak: bool,
        /// Give the user the admin right (the console and the JSON API).
        #[arg(long)]
        admin: bool,
    },
    /// Grant (on) or revoke (off) a user's admin right.
    Admin {
        name: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Remove a user (their Maildir is kept).
    Remove { name: String },
    /// List users, one per line (admins marked "(admin)").
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

pub(super) fn run(config: &Path, cmd: UserCommand) -> Result<(), Failure> {
    match cmd {
        UserCommand::DovecotSync => Ok(admin::users::dovecot_sync(config)?),
        UserCommand::List => {
            for user in admin::users::list(config)? {
                let mark = if user.admin { " (admin)" } else { "" };
                say!("{}{mark}", user.name)?;
            }
            Ok(())
        }
        UserCommand::Add {
            name,
            password_stdin,
            weak,
            admin,
        } => {
            // Checked before the password is asked for.
            admin::users::check_new(config, &name)?;
            let password = read_password(password_stdin)?;
            let added = admin::users::add(
                config,
                NewUser {
                    name,
                    password,
                    weak,
                    admin,
                },
            )?;
            let folded = if added.folded {
                format!(" (stored as \"{}\": user names are lower-case)", added.name)
            } else {
                String::new()
            };
            let right = if admin { " with the admin right" } else { "" };
            say!("added user {}{right}{folded}; {NO_RELOAD}", added.name)
        }
        UserCommand::Admin { name, state } => {
            let on = state == "on";
            let name = admin::users::set_admin(config, &name, on)?;
            let done = if on { "granted" } else { "revoked" };
            say!("{done} the admin right of {name}; {NO_RELOAD}")
        }
        UserCommand::Password {
            name,
            password_stdin,
            weak,
        } => {
            admin::users::check_exists(config, &name)?;
            let password = read_password(password_stdin)?;
            let name = admin::users::set_password(config, &name, &password, weak)?;
            say!("changed the password of {name}; {NO_RELOAD}")
        }
        UserCommand::Remove { name } => {
            let removed = admin::users::remove(config, &name)?;
            say!(
                "removed user {} (the Maildir is kept); {NO_RELOAD}",
                removed.name
            )?;
            // An alias still naming the user would now bounce its mail.
            for w in removed.warnings {
                eprintln!("portcullis: warning: {w}");
            }
            Ok(())
        }
    }
}

/// How a user change reaches a running server: told over the control
/// socket, it re-reads the users file before the command ends.
const NO_RELOAD: &str = "a running server uses it at once, no reload needed";

/// The password from stdin (first line) or the terminal (asked twice).
fn read_password(from_stdin: bool) -> Result<String, Failure> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::runtime(format!("cannot read the password from stdin: {e}")))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))?;
    let second = rpassword::prompt_password("Again: ")
        .map_err(|e| Failure::runtime(format!("cannot read the password: {e}")))?;
    if first != second {
        return Err(Failure::input("the two passwords differ"));
    }
    Ok(first)
}
