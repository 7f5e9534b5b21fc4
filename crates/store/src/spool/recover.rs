//! Recovery after a crash, and the scan of `queue/` it and the listing use.

use std::collections::BTreeSet;
use std::fs;
use std::io;

use super::{id, sync_dir, with_path, Spool};

/// What [`Spool::recover`] found and cleaned up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Complete queued messages (a `.mail`, or an old-format `.msg` with
    /// its `.env`).
    pub queued: usize,
    /// Ids whose old-format `.msg` had no `.env` (removed).
    pub orphan_messages: Vec<String>,
    /// Ids whose `.env` had no message (removed).
    pub orphan_envelopes: Vec<String>,
    /// Files removed from `queue/tmp/`.
    pub tmp_files_removed: usize,
    /// Ids whose envelope cannot be read or parsed (left for the admin).
    pub unreadable: Vec<String>,
    /// Spare files ready to hold new messages (`queue/spare/`).
    pub spares: usize,
    /// Spare files removed: not safe to reuse, or past the pool's size.
    pub spares_removed: usize,
}

/// The ids present in `queue/`, by file kind.
#[derive(Default)]
pub(super) struct Scan {
    /// `<id>.mail`: one-file messages.
    mails: BTreeSet<String>,
    /// `<id>.msg`: old-format message bytes.
    messages: BTreeSet<String>,
    /// `<id>.env`: envelopes (old format, or a later state of a `.mail`).
    envelopes: BTreeSet<String>,
}

impl Scan {
    /// The ids of complete messages, sorted: every `.mail`, and every
    /// old-format `.msg` with its `.env`.
    pub(super) fn queued(&self) -> BTreeSet<String> {
        let old = self.messages.intersection(&self.envelopes).cloned();
        self.mails.iter().cloned().chain(old).collect()
    }

    /// Old-format `.msg` files without an `.env`: a crash before the
    /// `.env` rename, never acknowledged.
    fn orphan_messages(&self) -> Vec<String> {
        let orphans = self.messages.difference(&self.envelopes);
        orphans
            .filter(|id| !self.mails.contains(*id))
            .cloned()
            .collect()
    }

    /// `.env` files with no message beside them: left by a removal a crash
    /// cut short, or by an old-format store before its directory fsync.
    fn orphan_envelopes(&self) -> Vec<String> {
        self.envelopes
            .iter()
            .filter(|id| !self.mails.contains(*id) && !self.messages.contains(*id))
            .cloned()
            .collect()
    }
}

impl Spool {
    /// Cleans up after a crash; call once at start, before any `store`.
    /// Empties `tmp/` (nothing there was acknowledged), removes an
    /// old-format `.msg` without `.env` and an `.env` without a message,
    /// and fsyncs what it changed. A `.mail` is complete by construction
    /// (fsynced before its rename) and is never removed here. Then fills the
    /// pool of spare files: from here on this spool writes over them.
    pub fn recover(&self) -> io::Result<RecoveryReport> {
        let spares_removed = self
            .spares
            .load()
            .map_err(|e| with_path(e, "list", &self.dir.join("spare")))?;
        let mut report = RecoveryReport {
            spares: self.spares.ready(),
            spares_removed,
            ..RecoveryReport::default()
        };
        for entry in fs::read_dir(&self.tmp).map_err(|e| with_path(e, "list", &self.tmp))? {
            let path = entry.map_err(|e| with_path(e, "list", &self.tmp))?.path();
            if path.is_file() {
                fs::remove_file(&path).map_err(|e| with_path(e, "remove", &path))?;
                report.tmp_files_removed += 1;
            }
        }
        let scan = self.scan()?;
        for id in scan.orphan_messages() {
            tracing::warn!(queue_id = %id, "removing message without envelope (crash before acceptance)");
            let path = self.msg_path(&id);
            fs::remove_file(&path).map_err(|e| with_path(e, "remove", &path))?;
            report.orphan_messages.push(id);
        }
        for id in scan.orphan_envelopes() {
            tracing::warn!(queue_id = %id, "removing envelope without message (crash during acceptance or removal)");
            let path = self.env_path(&id);
            fs::remove_file(&path).map_err(|e| with_path(e, "remove", &path))?;
            report.orphan_envelopes.push(id);
        }
        for id in scan.queued() {
            match self.load_envelope(&id) {
                Ok(_) => report.queued += 1,
                Err(e) => {
                    tracing::warn!(queue_id = %id, error = %e, "unreadable envelope left in place");
                    report.unreadable.push(id);
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

    /// The ids present in `queue/`, by file kind. Other files are ignored.
    pub(super) fn scan(&self) -> io::Result<Scan> {
        let mut scan = Scan::default();
        for entry in fs::read_dir(&self.dir).map_err(|e| with_path(e, "list", &self.dir))? {
            let name = entry
                .map_err(|e| with_path(e, "list", &self.dir))?
                .file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((id, ext)) = name.rsplit_once('.') else {
                continue;
            };
            if !id::is_valid_id(id) {
                continue;
            }
            let set = match ext {
                "mail" => &mut scan.mails,
                "msg" => &mut scan.messages,
                "env" => &mut scan.envelopes,
                _ => continue,
            };
            set.insert(id.to_string());
        }
        Ok(scan)
    }
}
