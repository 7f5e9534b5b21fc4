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

/// Lines per chunk of [`many_lines`]: a few hundred kilobytes of text.
const CHUNK_LINES: usize = 4096;

/// [`lines`] for a long report (hundreds of thousands of warnings): the
/// lines are formatted on two cores, in alternate chunks, and written in
/// order. Formatting, not writing, is what takes the time; at most a few
/// chunks are held at once.
pub(crate) fn many_lines<I>(items: I) -> Result<(), Failure>
where
    I: IntoIterator,
    I::Item: fmt::Display + Send,
{
    let items = items.into_iter();
    if items.size_hint().0 < 4 * CHUNK_LINES {
        return lines(items);
    }
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    write_on_two_cores(&mut out, items)
        .and_then(|()| out.flush())
        .map_err(failure)
}

/// Writes `items` to `out`, a line each, every other chunk formatted by a
/// second thread.
fn write_on_two_cores<W, I>(out: &mut W, mut items: I) -> io::Result<()>
where
    W: Write,
    I: Iterator,
    I::Item: fmt::Display + Send,
{
    std::thread::scope(|scope| {
        let (to_helper, work) = std::sync::mpsc::sync_channel::<Vec<I::Item>>(1);
        let (to_writer, formatted) = std::sync::mpsc::sync_channel::<Vec<u8>>(1);
        scope.spawn(move || {
            for chunk in work {
                let mut text = Vec::with_capacity(64 * CHUNK_LINES);
                // Writing to a Vec cannot fail.
                let _ = chunk.iter().try_for_each(|item| writeln!(text, "{item}"));
                if to_writer.send(text).is_err() {
                    return; // the writer stopped (a closed pipe)
                }
            }
        });
        // On an error both channels close as this returns, which ends the helper.
        loop {
            let mine: Vec<I::Item> = items.by_ref().take(CHUNK_LINES).collect();
            let theirs: Vec<I::Item> = items.by_ref().take(CHUNK_LINES).collect();
            let last = theirs.len() < CHUNK_LINES;
            let handed = !theirs.is_empty();
            if handed && to_helper.send(theirs).is_err() {
                return Err(io::Error::other("the formatting thread stopped"));
            }
            mine.iter().try_for_each(|item| writeln!(out, "{item}"))?;
            if handed {
                let text = formatted
                    .recv()
                    .map_err(|_| io::Error::other("the formatting thread stopped"))?;
                out.write_all(&text)?;
            }
            if last {
                return Ok(());
            }
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cores_write_the_lines_in_order() {
        for n in [0, 1, CHUNK_LINES, 2 * CHUNK_LINES, 5 * CHUNK_LINES + 17] {
            let items: Vec<usize> = (0..n).collect();
            let mut out = Vec::new();
            write_on_two_cores(&mut out, items.iter()).unwrap();
            let expected: String = items.iter().map(|n| format!("{n}\n")).collect();
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{n} lines");
        }
    }

    /// A writer that fails after some bytes, like a pipe whose reader left.
    struct Closes(usize);

    impl Write for Closes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 < buf.len() {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_both_threads() {
        let items: Vec<usize> = (0..20 * CHUNK_LINES).collect();
        for after in [0, 100, 40_000] {
            let e = write_on_two_cores(&mut Closes(after), items.iter()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        }
    }
}
