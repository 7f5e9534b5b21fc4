//! The `portcullis` binary: one command line for the server and its
//! administration (docs/reference.md §1).
// No unsafe code, with one scoped exception: `server/privileges.rs` calls
// libc to look up the mail user and drop root (getpwnam_r, setgroups,
// setgid, setuid), which std does not offer. It says `allow` for itself.
#![deny(unsafe_code)]

mod cli;
mod server;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
