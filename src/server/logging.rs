//! Logging: human-readable lines (or JSON with `log.format = "json"`) on
//! stderr, and to `log.file` when set. The file is reopened on SIGHUP so
//! logrotate can move it away.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use portcullis_core::config::{Log, LogFormat};
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

/// The log file, shared by every writer; `reopen` swaps in a fresh handle.
#[derive(Clone)]
pub struct LogFile {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl LogFile {
    fn open(path: &Path) -> io::Result<LogFile> {
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(open_append(path)?)),
        })
    }

    /// Reopens the file by name (after logrotate moved it).
    pub fn reopen(&self) -> io::Result<()> {
        let fresh = open_append(&self.path)?;
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        *guard = fresh;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// One write to the log file; a poisoned lock still logs.
pub struct LogFileWriter(Arc<Mutex<File>>);

impl Write for LogFileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(self.file.clone())
    }
}

/// Installs the global subscriber. Returns the log file handle, if any, for reopening.
pub fn init(cfg: &Log) -> Result<Option<LogFile>, String> {
    let filter = EnvFilter::try_new(&cfg.level)
        .map_err(|e| format!("log.level \"{}\" is not a valid filter: {e}", cfg.level))?;
    let file = match &cfg.file {
        Some(path) => Some(
            LogFile::open(path)
                .map_err(|e| format!("cannot open log.file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // `try_init` fails only if a subscriber exists already (tests): not an error.
    match (cfg.format, file.clone()) {
        (LogFormat::Text, None) => {
            // Colour only for a person at a terminal: escapes in a log file
            // or a journal are noise, and cost a write each.
            let _ = builder
                .with_writer(io::stderr)
                .with_ansi(io::stderr().is_terminal())
                .try_init();
        }
        (LogFormat::Text, Some(f)) => {
            let _ = builder
                .with_writer(io::stderr.and(f))
                .with_ansi(false)
                .try_init();
        }
        (LogFormat::Json, None) => {
            let _ = builder.json().with_writer(io::stderr).try_init();
        }
        (LogFormat::Json, Some(f)) => {
            let _ = builder.json().with_writer(io::stderr.and(f)).try_init();
        }
    }
    Ok(file)
}
