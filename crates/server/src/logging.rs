//! Logging: human-readable lines (or JSON with `log.format = "json"`) on
//! stderr, and to `log.file` when set. The file is reopened on SIGHUP so
//! logrotate can move it away. Records of the `log` crate (rustls) are
//! passed on too, with rustls's warnings about what a peer sent lowered to
//! debug: any client could otherwise fill the log at WARN.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use portcullis_config::{Log, LogFormat};
use tracing::Subscriber;
use tracing_log::{AsLog, LogTracer};
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

/// ClientHellos whose server name (SNI) rustls ignored as illegal: an IP
/// address (RFC 6066 §3 allows only host names), a malformed or a duplicate
/// name. Exposed as `portcullis_tls_illegal_sni_total`.
pub(crate) static ILLEGAL_SNI: AtomicU64 = AtomicU64::new(0);

/// The log file, shared by every writer; `reopen` swaps in a fresh handle.
#[derive(Clone)]
pub(crate) struct LogFile {
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
    pub(crate) fn reopen(&self) -> io::Result<()> {
        let fresh = open_append(&self.path)?;
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        *guard = fresh;
        Ok(())
    }
}

/// The mode of a log file the server creates: it names senders, recipients
/// and the user names of failed logins, so the owner writes it, the group
/// (log readers such as `adm`) reads it, and other accounts see nothing.
const LOG_MODE: u32 = 0o640;

/// Opens `path` for appending; a file it creates (also when reopening after
/// logrotate moved the old one away) gets [`LOG_MODE`] whatever the umask.
fn open_append(path: &Path) -> io::Result<File> {
    let created = OpenOptions::new()
        .create_new(true)
        .append(true)
        .mode(LOG_MODE)
        .open(path);
    match created {
        Ok(file) => {
            // The umask may have taken bits away (or the caller's a wider one
            // none): set the mode itself.
            file.set_permissions(fs::Permissions::from_mode(LOG_MODE))?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // An existing file keeps the mode its owner (or logrotate's
            // `create`) gave it.
            OpenOptions::new().append(true).open(path)
        }
        Err(e) => Err(e),
    }
}

/// One write to the log file; a poisoned lock still logs.
pub(crate) struct LogFileWriter(Arc<Mutex<File>>);

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

/// Whether the server can log as `cfg` says: the filter parses and the log
/// file's directory exists. Part of the one validation path (`check.rs`), so
/// `config check` refuses what `serve` would fail on, with the same sentence.
pub(crate) fn check(cfg: &Log) -> Result<(), String> {
    filter(cfg)?;
    if let Some(path) = &cfg.file {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(format!(
                "cannot open log.file {}: directory {} does not exist",
                path.display(),
                dir.display()
            ));
        }
    }
    Ok(())
}

fn filter(cfg: &Log) -> Result<EnvFilter, String> {
    EnvFilter::try_new(&cfg.level)
        .map_err(|e| format!("log.level \"{}\" is not a valid filter: {e}", cfg.level))
}

/// Installs the global subscriber. Returns the log file handle, if any, for reopening.
pub(crate) fn init(cfg: &Log) -> Result<Option<LogFile>, String> {
    check(cfg)?;
    let filter = filter(cfg)?;
    let file = match &cfg.file {
        Some(path) => Some(
            LogFile::open(path)
                .map_err(|e| format!("cannot open log.file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    // With a log file, stderr is for a person watching: when it is not a
    // terminal (systemd's journal, a pipe) every line would be stored twice.
    let to_stderr = file.is_none() || io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match (cfg.format, file.clone(), to_stderr) {
        (LogFormat::Text, None, _) => {
            // Colour only for a person at a terminal: escapes in a log file
            // or a journal are noise, and cost a write each.
            install(
                builder
                    .with_writer(io::stderr)
                    .with_ansi(io::stderr().is_terminal())
                    .finish(),
            );
        }
        (LogFormat::Text, Some(f), true) => {
            install(
                builder
                    .with_writer(io::stderr.and(f))
                    .with_ansi(false)
                    .finish(),
            );
        }
        (LogFormat::Text, Some(f), false) => {
            install(builder.with_writer(f).with_ansi(false).finish());
        }
        (LogFormat::Json, None, _) => {
            install(builder.json().with_writer(io::stderr).finish());
        }
        (LogFormat::Json, Some(f), true) => {
            install(builder.json().with_writer(io::stderr.and(f)).finish());
        }
        (LogFormat::Json, Some(f), false) => {
            install(builder.json().with_writer(f).finish());
        }
    }
    Ok(file)
}

/// Makes `subscriber` the global one and routes `log` records to it through
/// [`PeerNoise`]. A subscriber set already (tests) is not an error.
fn install(subscriber: impl Subscriber + Send + Sync + 'static) {
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return;
    }
    if log::set_boxed_logger(Box::new(PeerNoise(LogTracer::new()))).is_ok() {
        // At least WARN, so the illegal SNI count moves whatever the level.
        let level = tracing::level_filters::LevelFilter::current().as_log();
        log::set_max_level(level.max(log::LevelFilter::Warn));
    }
}

/// The bridge from `log` to `tracing` that lowers rustls's warnings to
/// debug and counts the illegal-SNI ones.
struct PeerNoise(LogTracer);

impl log::Log for PeerNoise {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.level() != log::Level::Warn || !record.target().starts_with("rustls") {
            return self.0.log(record);
        }
        // Why: rustls warns about what the peer sent ("Illegal SNI
        // extension", unexpected messages, alerts); the server logs and
        // counts each failed handshake itself, so these are debug detail.
        if record.args().to_string().starts_with("Illegal SNI") {
            ILLEGAL_SNI.fetch_add(1, Ordering::Relaxed);
        }
        self.0.log(
            &log::Record::builder()
                .args(*record.args())
                .level(log::Level::Debug)
                .target(record.target())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {}
}
