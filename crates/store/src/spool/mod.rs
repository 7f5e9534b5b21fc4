//! The outbound queue spool `<data_dir>/queue/`: the writer side used when
//! a message is accepted, and the reading, updating and recovery the
//! delivery side builds on.
//!
//! Layout:
//! - `queue/<id>.msg`: the exact message bytes (with the headers the server
//!   added);
//! - `queue/<id>.env`: the [`Envelope`] as JSON;
//! - `queue/tmp/`: files being written, and the content of messages being
//!   received ([`Spool::incoming`]).
//!
//! Crash safety (docs/reference.md §7): both files are written in `tmp/` and fsynced,
//! then the `.msg` is renamed into `queue/`, then the `.env`, then `queue/`
//! is fsynced once; only then may `250` be sent. The `.env` is the commit
//! point: a `.msg` without `.env` is an orphan of a crash before the `250`.
//! An `.env` without `.msg` can only come from a crash before that same
//! directory fsync (POSIX does not order two renames' durability), so it was
//! never acknowledged either. [`Spool::recover`] removes both kinds and
//! empties `tmp/`. Removal runs the other way: `.env` first, then `.msg`.
//!
//! Concurrency: `store`, `update_envelope` and `remove` may run from many
//! threads at once (temp names are unique); `recover` must run alone, at
//! start, before anything is stored.

mod envelope;
mod id;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub use envelope::{BodyType, Envelope, Recipient, RecipientState, ENVELOPE_VERSION};

use crate::content::{Bytes, Content};
use crate::maildir::sync_dir;

/// Mode of spool directories: queued mail is private.
const DIR_MODE: u32 = 0o700;

/// Mode of spool files: queued mail is private.
const FILE_MODE: u32 = 0o600;

/// An open spool directory.
#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
    tmp: PathBuf,
}

/// What [`Spool::recover`] found and cleaned up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Complete queued messages (an `.env` with its `.msg`).
    pub queued: usize,
    /// Ids whose `.msg` had no `.env` (removed).
    pub orphan_messages: Vec<String>,
    /// Ids whose `.env` had no `.msg` (removed).
    pub orphan_envelopes: Vec<String>,
    /// Files removed from `queue/tmp/`.
    pub tmp_files_removed: usize,
    /// Ids whose `.env` cannot be read or parsed (left for the admin).
    pub unreadable: Vec<String>,
}

impl Spool {
    /// Opens (creating with mode 0700 if needed) `<data_dir>/queue` and
    /// `<data_dir>/queue/tmp`.
    pub fn open(data_dir: &Path) -> io::Result<Spool> {
        let dir = data_dir.join("queue");
        let tmp = dir.join("tmp");
        for (path, parent) in [(&dir, data_dir), (&tmp, dir.as_path())] {
            if !path.is_dir() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(DIR_MODE)
                    .create(path)
                    .map_err(|e| with_path(e, "create directory", path))?;
                sync_dir(parent).map_err(|e| with_path(e, "fsync directory", parent))?;
            }
        }
        Ok(Spool { dir, tmp })
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
        let mut ids_in_batch = BTreeSet::new();

        // 1. Write and fsync both files of every message in tmp/.
        let mut written: Vec<(usize, &str, PathBuf, PathBuf)> = Vec::new();
        for (index, (envelope, message)) in items.iter().enumerate() {
            let id = envelope.id.as_str();
            let outcome = check_id(id)
                .and_then(|()| {
                    let taken = !ids_in_batch.insert(id)
                        || self.env_path(id).exists()
                        || self.msg_path(id).exists();
                    if taken {
                        Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            format!("queue id {id} is already in use"),
                        ))
                    } else {
                        Ok(())
                    }
                })
                .and_then(|()| self.write_pair(envelope, *message));
            match outcome {
                Ok((msg_tmp, env_tmp)) => written.push((index, id, msg_tmp, env_tmp)),
                Err(e) => results[index] = Some(Err(e)),
            }
        }

        // 2. Rename .msg, then .env (the commit point).
        let mut committed: Vec<(usize, &str)> = Vec::new();
        for (index, id, msg_tmp, env_tmp) in written {
            let msg = self.msg_path(id);
            let outcome = fs::rename(&msg_tmp, &msg)
                .map_err(|e| with_path(e, "rename into", &msg))
                .and_then(|()| {
                    let env = self.env_path(id);
                    fs::rename(&env_tmp, &env).map_err(|e| {
                        let _ = fs::remove_file(&msg);
                        with_path(e, "rename into", &env)
                    })
                });
            match outcome {
                Ok(()) => committed.push((index, id)),
                Err(e) => {
                    let _ = fs::remove_file(&msg_tmp);
                    let _ = fs::remove_file(&env_tmp);
                    results[index] = Some(Err(e));
                }
            }
        }

        // 3. One directory fsync makes the whole batch durable.
        let synced = if committed.is_empty() {
            Ok(())
        } else {
            sync_dir(&self.dir)
                .map_err(|e| with_path(e, "fsync directory", &self.dir))
                .map_err(|e| (e.kind(), e.to_string()))
        };
        for (index, id) in committed {
            results[index] = Some(match &synced {
                Ok(()) => Ok(()),
                Err((kind, text)) => {
                    // Not durable and about to be answered with 451: do not
                    // keep a copy that would be sent although refused.
                    let _ = fs::remove_file(self.env_path(id));
                    let _ = fs::remove_file(self.msg_path(id));
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

    /// Reads and parses `queue/<id>.env`.
    pub fn load_envelope(&self, id: &str) -> io::Result<Envelope> {
        check_id(id)?;
        let path = self.env_path(id);
        let bytes = fs::read(&path).map_err(|e| with_path(e, "read", &path))?;
        parse_envelope(id, &path, &bytes)
    }

    /// Atomically replaces the envelope of an existing queued message (temp
    /// file, fsync, rename over, directory fsync). Fails with `NotFound` if
    /// the message is no longer queued, so a removed message never returns.
    pub fn update_envelope(&self, envelope: &Envelope) -> io::Result<()> {
        let id = envelope.id.as_str();
        check_id(id)?;
        let path = self.env_path(id);
        if !path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("queue id {id} is not in the queue"),
            ));
        }
        let tmp = self.write_tmp(id, "env", &Bytes(&envelope_json(envelope)?))?;
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(with_path(e, "rename into", &path));
        }
        sync_dir(&self.dir).map_err(|e| with_path(e, "fsync directory", &self.dir))
    }

    /// Every readable queued envelope, sorted by id (so by creation time).
    /// An unreadable envelope is logged and skipped, so one bad file cannot
    /// stop the queue.
    pub fn list(&self) -> io::Result<Vec<Envelope>> {
        let mut envelopes = Vec::new();
        for id in self.scan()?.envelopes {
            match self.load_envelope(&id) {
                Ok(env) => envelopes.push(env),
                Err(e) => {
                    tracing::warn!(queue_id = %id, error = %e, "skipping unreadable envelope")
                }
            }
        }
        Ok(envelopes)
    }

    /// Removes a queued message: `.env` first (the commit point), then
    /// `.msg`, then fsyncs `queue/`. `NotFound` if neither exists.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        let env_gone = remove_if_exists(&self.env_path(id))?;
        let msg_gone = remove_if_exists(&self.msg_path(id))?;
        if !env_gone && !msg_gone {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("queue id {id} is not in the queue"),
            ));
        }
        sync_dir(&self.dir).map_err(|e| with_path(e, "fsync directory", &self.dir))
    }

    /// The message bytes of a queued message.
    pub fn read_message(&self, id: &str) -> io::Result<Vec<u8>> {
        let path = self.message_path(id)?;
        fs::read(&path).map_err(|e| with_path(e, "read", &path))
    }

    /// The path of `queue/<id>.msg`, to stream a large message.
    pub fn message_path(&self, id: &str) -> io::Result<PathBuf> {
        check_id(id)?;
        Ok(self.msg_path(id))
    }

    /// Cleans up after a crash; call once at start, before any `store`.
    /// Empties `tmp/`, removes `.msg` without `.env` and `.env` without
    /// `.msg` (neither was ever acknowledged), and fsyncs what it changed.
    pub fn recover(&self) -> io::Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        for entry in fs::read_dir(&self.tmp).map_err(|e| with_path(e, "list", &self.tmp))? {
            let path = entry.map_err(|e| with_path(e, "list", &self.tmp))?.path();
            if path.is_file() {
                fs::remove_file(&path).map_err(|e| with_path(e, "remove", &path))?;
                report.tmp_files_removed += 1;
            }
        }
        let scan = self.scan()?;
        for id in scan.messages.difference(&scan.envelopes) {
            tracing::warn!(queue_id = %id, "removing message without envelope (crash before acceptance)");
            fs::remove_file(self.msg_path(id))
                .map_err(|e| with_path(e, "remove", &self.msg_path(id)))?;
            report.orphan_messages.push(id.clone());
        }
        for id in scan.envelopes.difference(&scan.messages) {
            tracing::warn!(queue_id = %id, "removing envelope without message (crash before acceptance)");
            fs::remove_file(self.env_path(id))
                .map_err(|e| with_path(e, "remove", &self.env_path(id)))?;
            report.orphan_envelopes.push(id.clone());
        }
        for id in scan.envelopes.intersection(&scan.messages) {
            match self.load_envelope(id) {
                Ok(_) => report.queued += 1,
                Err(e) => {
                    tracing::warn!(queue_id = %id, error = %e, "unreadable envelope left in place");
                    report.unreadable.push(id.clone());
                }
            }
        }
        if !report.orphan_messages.is_empty() || !report.orphan_envelopes.is_empty() {
            sync_dir(&self.dir).map_err(|e| with_path(e, "fsync directory", &self.dir))?;
        }
        if report.tmp_files_removed > 0 {
            sync_dir(&self.tmp).map_err(|e| with_path(e, "fsync directory", &self.tmp))?;
        }
        Ok(report)
    }

    fn msg_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.msg"))
    }

    fn env_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.env"))
    }

    /// Writes and fsyncs the `.msg` and `.env` temp files of one message;
    /// on error removes whatever it wrote.
    fn write_pair(
        &self,
        envelope: &Envelope,
        message: &dyn Content,
    ) -> io::Result<(PathBuf, PathBuf)> {
        let json = envelope_json(envelope)?;
        let msg_tmp = self.write_tmp(&envelope.id, "msg", message)?;
        match self.write_tmp(&envelope.id, "env", &Bytes(&json)) {
            Ok(env_tmp) => Ok((msg_tmp, env_tmp)),
            Err(e) => {
                let _ = fs::remove_file(&msg_tmp);
                Err(e)
            }
        }
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
        let result = content.write_to(&mut file).and_then(|()| file.sync_all());
        match result {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(with_path(e, "write", &path))
            }
        }
    }

    /// The ids present in `queue/`, by file kind. Other files are ignored.
    fn scan(&self) -> io::Result<Scan> {
        let mut scan = Scan::default();
        for entry in fs::read_dir(&self.dir).map_err(|e| with_path(e, "list", &self.dir))? {
            let name = entry
                .map_err(|e| with_path(e, "list", &self.dir))?
                .file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = name.strip_suffix(".env").filter(|id| id::is_valid_id(id)) {
                scan.envelopes.insert(id.to_string());
            } else if let Some(id) = name.strip_suffix(".msg").filter(|id| id::is_valid_id(id)) {
                scan.messages.insert(id.to_string());
            }
        }
        Ok(scan)
    }
}

#[derive(Default)]
struct Scan {
    envelopes: BTreeSet<String>,
    messages: BTreeSet<String>,
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
