//! The `portcullis` binary: one command line for the server and its
//! administration (docs/reference.md §1).
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run()
}
