//! The `portcullis` binary: one command line for the server and its
//! administration (SPEC §1).
#![forbid(unsafe_code)]

mod cli;
mod server;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
