//! The outbound queue spool `<data_dir>/queue/`: the writer side used when
//! a message is accepted, and the reading, updating and recovery the
//! delivery side builds on.
//!
//! Layout (docs/reference.md §7):
//! - `queue/<id>.mail`: one file per message, the envelope (JSON) first,
//!   then the exact message bytes (with the headers the server added);
//!   `format.rs` describes it;
//! - `queue/<id>.env`: the [`Envelope`] as JSON, written only when a
//!   message's state changes after it was stored (a deferred recipient, a
//!   hold); when present it supersedes the envelope inside `<id>.mail`;
//! - `queue/<id>.msg` + `queue/<id>.env`: a message queued by a build
//!   before the one-file format, still read, delivered and removed;
//! - `queue/tmp/`: files being written, and the content of messages being
//!   received ([`Spool::incoming`]);
//! - `queue/spare/`: files of delivered messages kept to hold the next ones
//!   (`spare.rs`), so the file system does not allocate an inode per message.
//!
//! Crash safety: a `.mail` is written in `tmp/` (or over a spare), fdatasynced, renamed into
//! `queue/`; then `queue/` is fsynced once for the whole batch, and only
//! then may `250` be sent. That fsync is shared with the other threads
//! storing at the same time ([`crate::group_sync`]): it is one that started
//! after the rename, so it covers it. The rename is the commit point: a `.mail` in
//! `queue/` is complete, a file in `tmp/` is never acknowledged. A later
//! `.env` is written the same way (temp, fsync, rename, directory fsync).
//! Removal needs no fsync: if a crash undoes it, the message (or its older
//! envelope) comes back and is tried again, a duplicate at worst, never a
//! loss; [`Spool::discard`] is the durable removal for a message nobody
//! should get (refused with `451`, deleted by the admin).
//! [`Spool::recover`] empties `tmp/` and removes what no `250` covered: an
//! old-format `.msg` without `.env`, and an `.env` without a message.
//!
//! Concurrency: `store`, `update_envelope` and `remove` may run from many
//! threads at once (temp names are unique); `recover` must run alone, at
//! start, before anything is stored.

mod envelope;
mod format;
mod id;
mod recover;
mod spare;
#[cfg(test)]
mod spare_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upgrade_tests;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use envelope::{BodyType, Envelope, Recipient, RecipientState, ENVELOPE_VERSION};
pub use format::FILE_VERSION;
pub use recover::RecoveryReport;

use crate::content::{Bytes, Content, FileCopy};
use crate::group_sync::{self, DirId};
use crate::maildir::sync_dir;
use spare::Spares;

/// Mode of spool directories: queued mail is private.
const DIR_MODE: u32 = 0o700;

/// Mode of spool files: queued mail is private.
const FILE_MODE: u32 = 0o600;

/// An open spool directory.
#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
    tmp: PathBuf,
    spares: Arc<Spares>,
    queue: Arc<QueueDir>,
}

/// `queue/`, held open, with its share of the process's group commit.
#[derive(Debug)]
struct QueueDir {
    file: File,
    group: group_sync::Handle<'static>,
}

impl QueueDir {
    fn open(dir: &Path) -> io::Result<QueueDir> {
        let file = File::open(dir).map_err(|e| with_path(e, "open directory", dir))?;
        let id = DirId::of(&file).map_err(|e| with_path(e, "stat directory", dir))?;
        Ok(QueueDir {
            file,
            group: group_sync::Registry::shared().get(id),
        })
    }

    /// Makes every rename into `queue/` made before this call durable.
    fn sync(&self, dir: &Path) -> io::Result<()> {
        self.group
            .sync(|| self.file.sync_all())
            .map_err(|e| with_path(e, "fsync directory", dir))
    }
}

/// A queued message's bytes, open for streaming: `len` octets of `file`
/// from `start` (a queue file holds its envelope before them).
#[derive(Debug)]
pub struct MessageFile {
    /// The open queue file.
    pub file: File,
    /// Where the message starts.
    pub start: u64,
    /// The message's length.
    pub len: u64,
}

impl MessageFile {
    /// The message behind `prefix`, as content to copy into another file.
    pub fn copy<'a>(&'a self, prefix: &'a [u8]) -> FileCopy<'a> {
        FileCopy {
            prefix,
            file: &self.file,
            start: self.start,
            len: self.len,
        }
    }
}

/// Which files hold a queued message.
enum Stored {
    /// `<id>.mail` (and maybe a later `<id>.env`).
    OneFile(PathBuf),
    /// The format before it: `<id>.msg` + `<id>.env`.
    TwoFiles(PathBuf),
}

impl Spool {
    /// Opens (creating with mode 0700 if needed) `<data_dir>/queue`,
    /// `<data_dir>/queue/tmp` and `<data_dir>/queue/spare`.
    pub fn open(data_dir: &Path) -> io::Result<Spool> {
        let dir = data_dir.join("queue");
        let tmp = dir.join("tmp");
        let spare = dir.join("spare");
        for (path, parent) in [
            (&dir, data_dir),
            (&tmp, dir.as_path()),
            (&spare, dir.as_path()),
        ] {
            if !path.is_dir() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(path)
                    .map_err(|e| with_path(e, "create directory", path))?;
                sync_dir(parent).map_err(|e| with_path(e, "fsync directory", parent))?;
            }
        }
        Ok(Spool {
            queue: Arc::new(QueueDir::open(&dir)?),
            dir,
            tmp,
            spares: Arc::new(Spares::new(spare)),
        })
    }

    /// The `queue/` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new unique, time-sortable queue id: 16 characters of `[0-9A-Z]`.
    pub fn new_id() -> String {
        id::new_id()
    }

    /// Stores one message durably (see the module doc); on error nothing of
    /// it stays in the queue.
    pub fn store(&self, envelope: &Envelope, message: &[u8]) -> io::Result<()> {
        self.store_content(envelope, &Bytes(message))
    }

    /// [`Spool::store`] of content of any kind (a received message streamed
    /// from its [`Spool::incoming`] file).
    pub fn store_content(&self, envelope: &Envelope, message: &dyn Content) -> io::Result<()> {
        self.store_each(&[(envelope, message)])
            .pop()
            .unwrap_or_else(|| Err(io::Error::other("internal error: store lost its result")))
    }

    /// Stores a batch with one fsync of `queue/` for all (group commit).
    /// One result per item, in order; items fail independently, except that
    /// a failed directory fsync fails (and removes) every item of the batch.
    pub fn store_many(&self, items: &[(&Envelope, &[u8])]) -> Vec<io::Result<()>> {
        let bytes: Vec<Bytes<'_>> = items.iter().map(|(_, m)| Bytes(m)).collect();
        let items: Vec<(&Envelope, &dyn Content)> = items
            .iter()
            .zip(&bytes)
            .map(|((env, _), b)| (*env, b as &dyn Content))
            .collect();
        self.store_each(&items)
    }

    /// A new file in `tmp/` (mode 0600) for the content of a message being
    /// received, and its path. Nothing in `tmp/` is ever acknowledged:
    /// [`Spool::recover`] empties it at start, so a crash leaves no trace.
    pub fn incoming(&self) -> io::Result<(File, PathBuf)> {
        let path = self.tmp.join(format!(
            "incoming.{}.{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|e| with_path(e, "create", &path))?;
        Ok((file, path))
    }

    /// [`Spool::store_many`] for content of any kind.
    pub fn store_each(&self, items: &[(&Envelope, &dyn Content)]) -> Vec<io::Result<()>> {
        let mut results: Vec<Option<io::Result<()>>> = items.iter().map(|_| None).collect();
        let mut ids_in_batch = std::collections::BTreeSet::new();

        // 1. Each message's one file: written and fsynced in tmp/, renamed in.
        let mut committed: Vec<(usize, &str)> = Vec::new();
        for (index, (envelope, message)) in items.iter().enumerate() {
            let id = envelope.id.as_str();
            let outcome = check_id(id)
                .and_then(|()| {
                    if !ids_in_batch.insert(id) || self.id_in_use(id) {
                        return Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!("queue id {id} is already in use"),
                        ));
                    }
                    Ok(())
                })
                .and_then(|()| self.write_queue_file(envelope, *message));
            match outcome {
                Ok(()) => committed.push((index, id)),
                Err(e) => results[index] = Some(Err(e)),
            }
        }

        // 2. One directory fsync makes the whole batch durable.
        let synced = if committed.is_empty() {
            Ok(())
        } else {
            self.queue
                .sync(&self.dir)
                .map_err(|e| (e.kind(), e.to_string()))
        };
        for (index, id) in committed {
            results[index] = Some(match &synced {
                Ok(()) => Ok(()),
                Err((kind, text)) => {
                    // Not durable and about to be answered with 451: do not
                    // keep a copy that would be sent although refused.
                    let _ = fs::remove_file(self.mail_path(id));
                    Err(io::Error::new(*kind, text.clone()))
                }
            });
        }

        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(io::Error::other("internal error: message not processed")))
            })
            .collect()
    }

    /// The envelope of a queued message: its `.env` if it has one (a later
    /// state, or the old format), else the one inside its `.mail`.
    pub fn load_envelope(&self, id: &str) -> io::Result<Envelope> {
        check_id(id)?;
        let env = self.env_path(id);
        match fs::read(&env) {
            Ok(bytes) => {
                // An `.env` counts only beside its message.
                self.stored(id)?;
                parse_envelope(id, &env, &bytes)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let path = self.mail_path(id);
                let file = File::open(&path).map_err(|e| with_path(e, "read", &path))?;
                let head = format::read_header(&file, &path.display().to_string())?;
                parse_envelope(id, &path, &head.json)
            }
            Err(e) => Err(with_path(e, "read", &env)),
        }
    }

    /// Atomically replaces the envelope of an existing queued message by
    /// writing its `.env` (temp file, fsync, rename over, directory fsync).
    /// Fails with `NotFound` if the message is no longer queued, so a
    /// removed message never returns.
    pub fn update_envelope(&self, envelope: &Envelope) -> io::Result<()> {
        let id = envelope.id.as_str();
        check_id(id)?;
        self.stored(id)?;
        let path = self.env_path(id);
        let tmp = self.write_tmp(id, "env", &Bytes(&envelope_json(envelope)?))?;
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(with_path(e, "rename into", &path));
        }
        self.queue.sync(&self.dir)
    }

    /// Every readable queued envelope, sorted by id (so by creation time).
    /// An unreadable envelope is logged and skipped, so one bad file cannot
    /// stop the queue.
    pub fn list(&self) -> io::Result<Vec<Envelope>> {
        let mut envelopes = Vec::new();
        for id in self.scan()?.queued() {
            match self.load_envelope(&id) {
                Ok(env) => envelopes.push(env),
                Err(e) => {
                    tracing::warn!(queue_id = %id, error = %e, "skipping unreadable envelope")
                }
            }
        }
        Ok(envelopes)
    }

    /// Removes a delivered (or bounced) message, without fsync: a crash that
    /// undoes it can only bring the message back to be tried again (a
    /// duplicate at worst, never a loss). The message file goes first, so
    /// a reader never sees a message without its envelope. `NotFound` if
    /// nothing of it exists.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        let mut gone = self.retire(&self.mail_path(id))?;
        for path in [self.msg_path(id), self.env_path(id)] {
            gone |= remove_if_exists(&path)?;
        }
        if gone {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("queue id {id} is not in the queue"),
            ))
        }
    }

    /// [`Spool::remove`], then an fsync of `queue/`: for a message that must
    /// not come back after a crash (deleted by the administrator, or
    /// refused with `451` after it was written).
    pub fn discard(&self, id: &str) -> io::Result<()> {
        self.remove(id)?;
        self.queue.sync(&self.dir)
    }

    /// The message bytes of a queued message (its file read in one go).
    pub fn read_message(&self, id: &str) -> io::Result<Vec<u8>> {
        check_id(id)?;
        match self.stored(id)? {
            Stored::OneFile(path) => {
                let mut bytes = fs::read(&path).map_err(|e| with_path(e, "read", &path))?;
                let (_, message) = format::split(&bytes, &path.display().to_string())?;
                let start = bytes.len() - message.len();
                bytes.drain(..start);
                Ok(bytes)
            }
            Stored::TwoFiles(path) => fs::read(&path).map_err(|e| with_path(e, "read", &path)),
        }
    }

    /// A queued message's bytes, open to stream a large message.
    pub fn open_message(&self, id: &str) -> io::Result<MessageFile> {
        check_id(id)?;
        let (path, one_file) = match self.stored(id)? {
            Stored::OneFile(path) => (path, true),
            Stored::TwoFiles(path) => (path, false),
        };
        let file = File::open(&path).map_err(|e| with_path(e, "read", &path))?;
        let size = file.metadata()?.len();
        let start = if one_file {
            format::read_header(&file, &path.display().to_string())?.message_start
        } else {
            0
        };
        Ok(MessageFile {
            file,
            start,
            len: size.saturating_sub(start),
        })
    }

    /// Whether message `id` is in the queue (one file system lookup; an
    /// old-format message counts too).
    pub fn is_queued(&self, id: &str) -> bool {
        check_id(id).is_ok() && self.stored(id).is_ok()
    }

    /// Which files hold message `id` now; `NotFound` if it is not queued
    /// (an old-format `.msg` counts only with its `.env`).
    fn stored(&self, id: &str) -> io::Result<Stored> {
        let mail = self.mail_path(id);
        if mail.exists() {
            return Ok(Stored::OneFile(mail));
        }
        let msg = self.msg_path(id);
        if msg.exists() && self.env_path(id).exists() {
            return Ok(Stored::TwoFiles(msg));
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("queue id {id} is not in the queue"),
        ))
    }

    /// Whether any file of `id` exists (a stale `.env` would otherwise
    /// supersede a new message's envelope).
    fn id_in_use(&self, id: &str) -> bool {
        [self.mail_path(id), self.env_path(id), self.msg_path(id)]
            .iter()
            .any(|p| p.exists())
    }

    fn mail_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.mail"))
    }

    fn msg_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.msg"))
    }

    fn env_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.env"))
    }

    /// Removes a message's `.mail`, keeping it as a spare if the pool
    /// wants it; `Ok(false)` if it did not exist.
    fn retire(&self, path: &Path) -> io::Result<bool> {
        match self.spares.keep(path) {
            Ok(true) => Ok(true),
            Ok(false) => remove_if_exists(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(with_path(e, "remove", path)),
        }
    }

    /// Writes the one file of a message over a spare or in `tmp/`,
    /// synced, and renames it into `queue/` (not yet durable: the caller
    /// fsyncs the directory).
    fn write_queue_file(&self, envelope: &Envelope, message: &dyn Content) -> io::Result<()> {
        let json = envelope_json(envelope)?;
        let id = envelope.id.as_str();
        let content = format::QueueFile::new(&json, message);
        let tmp = match self.spares.write(&content) {
            Some(Ok(spare)) => spare,
            Some(Err(e)) => {
                tracing::warn!(queue_id = %id, "spare queue file dropped: {e}");
                self.write_tmp(id, "mail", &content)?
            }
            None => self.write_tmp(id, "mail", &content)?,
        };
        let path = self.mail_path(id);
        fs::rename(&tmp, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            with_path(e, "rename into", &path)
        })
    }

    /// Creates a uniquely named file in `tmp/`, writes `content`, fsyncs it;
    /// on error removes it.
    fn write_tmp(&self, id: &str, kind: &str, content: &dyn Content) -> io::Result<PathBuf> {
        let path = self.tmp.join(format!(
            "{id}.{kind}.{}.{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        // Only a file this call created may be removed on failure.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|e| with_path(e, "create", &path))?;
        let result = content.write_to(&mut file).and_then(|()| file.sync_data());
        match result {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(with_path(e, "write", &path))
            }
        }
    }
}

fn check_id(id: &str) -> io::Result<()> {
    if id::is_valid_id(id) {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("queue id {id:?} is not valid (expected letters A-Z and digits)"),
        ))
    }
}

fn envelope_json(envelope: &Envelope) -> io::Result<Vec<u8>> {
    let mut json = serde_json::to_vec_pretty(envelope).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot encode envelope {}: {e}", envelope.id),
        )
    })?;
    json.push(b'\n');
    Ok(json)
}

fn parse_envelope(id: &str, path: &Path, bytes: &[u8]) -> io::Result<Envelope> {
    // The common case in one pass; anything else is read again below, to
    // say what is wrong.
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(bytes) {
        if envelope.version == ENVELOPE_VERSION && envelope.id == id {
            return Ok(envelope);
        }
    }
    let invalid = |text: String| io::Error::new(io::ErrorKind::InvalidData, text);
    // Read the version first, so a newer format is reported as such rather
    // than as whatever field happens not to parse.
    let version: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| {
            invalid(format!(
                "envelope {} is not valid JSON: {e}",
                path.display()
            ))
        })?;
    match version.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(ENVELOPE_VERSION) => {}
        other => {
            return Err(invalid(format!(
                "envelope {} has version {}; this build reads version {ENVELOPE_VERSION}",
                path.display(),
                other.map_or_else(|| "(none)".to_string(), |v| v.to_string())
            )))
        }
    }
    let envelope: Envelope = serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("envelope {} is malformed: {e}", path.display())))?;
    if envelope.id != id {
        return Err(invalid(format!(
            "envelope {} names queue id {:?}",
            path.display(),
            envelope.id
        )));
    }
    Ok(envelope)
}

/// Removes a file; `Ok(false)` if it did not exist.
fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(with_path(e, "remove", path)),
    }
}

fn with_path(e: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {action} {}: {e}", path.display()))
}
