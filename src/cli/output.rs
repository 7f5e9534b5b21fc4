//! Standard output for the admin commands. A reader that goes away early
//! (`portcullis queue list | head -1`) ends the command quietly: `println!`
//! would panic on the broken pipe.

use std::fmt;
use std::io::{self, Write};

use super::Failure;

/// Writes one line to stdout; a closed pipe becomes [`Failure::closed_pipe`].
pub(crate) fn line(args: fmt::Arguments<'_>) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Failure::closed_pipe()),
        Err(e) => Err(Failure::runtime(format!("cannot write to stdout: {e}"))),
    }
}

/// Writes each line of `text` (which may end in a newline) to stdout.
pub(crate) fn text(text: &str) -> Result<(), Failure> {
    for l in text.lines() {
        line(format_args!("{l}"))?;
    }
    Ok(())
}

/// `say!("...", args)`: one line on stdout, `?`-able (see [`line`]).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;
