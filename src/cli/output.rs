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
    written.map_err(failure)
}

/// Writes each line of `text` (which may end in a newline) to stdout.
pub(crate) fn text(text: &str) -> Result<(), Failure> {
    lines(text.lines())
}

/// Writes many lines to stdout through one buffer, flushed once at the end:
/// a report of a million relay entries is then a few hundred writes, not a
/// million (stdout is line-buffered).
pub(crate) fn lines<I>(items: I) -> Result<(), Failure>
where
    I: IntoIterator,
    I::Item: fmt::Display,
{
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let written = items
        .into_iter()
        .try_for_each(|item| writeln!(out, "{item}"))
        .and_then(|()| out.flush());
    written.map_err(failure)
}

/// A failed write to stdout: a reader that went away ends quietly.
fn failure(e: io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::closed_pipe()
    } else {
        Failure::runtime(format!("cannot write to stdout: {e}"))
    }
}

/// `say!("...", args)`: one line on stdout, `?`-able (see [`line`]).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;
