//! Spare queue files: a delivered message's file is moved to
//! `queue/spare/` instead of being unlinked, and the next message is
//! written into it. Why: otherwise every relayed message allocates an inode
//! and frees it a moment later. ext4 without a journal then scans past every
//! inode freed in the last minutes at each creation (`find_inode_bit`); that
//! was most of the relay path's CPU on such a disk. With a journal, reuse
//! still saves the inode's allocation and release.
//!
//! Safety:
//! - A process writes only over the spares in its own pool: those
//!   [`Spool::recover`](super::Spool::recover) found (the server runs it at
//!   start, alone on its spool) and those it moved there itself. A spare is
//!   handed to one writer at a time. Any process may move a file into
//!   `spare/` (a rename under a fresh name) without another one knowing.
//! - A spare is rewritten from its start, cut to the new length and
//!   fdatasynced before it is renamed into `queue/`, as a new file is. A
//!   crash while it is written leaves it in `spare/`, where nothing reads it.
//! - At start, a file in `spare/` with more than one link (a crash between
//!   the two halves of a rename, repaired by fsck) is removed, never reused:
//!   its other name may be a queued message.
//! - Only small files are kept (a few KiB each, at most [`MAX_FILES`]), so
//!   the pool never holds much disk.

use std::fs::{self, OpenOptions};
use std::io::{self, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::content::Content;

/// The most spare files kept.
pub(super) const MAX_FILES: usize = 4096;

/// A removed message's file larger than this is unlinked, not kept.
pub(super) const MAX_SIZE: u64 = 64 * 1024;

/// The pool of spare files in `queue/spare/`.
#[derive(Debug)]
pub(super) struct Spares {
    dir: PathBuf,
    free: Mutex<Vec<PathBuf>>,
    max_files: usize,
}

impl Spares {
    /// An empty pool over `dir` (created by the caller).
    pub(super) fn new(dir: PathBuf) -> Spares {
        Spares::with_max(dir, MAX_FILES)
    }

    /// A pool that keeps at most `max_files`.
    pub(super) fn with_max(dir: PathBuf, max_files: usize) -> Spares {
        Spares {
            dir,
            free: Mutex::new(Vec::new()),
            max_files,
        }
    }

    /// Fills the pool from `spare/`: at start, before anything is stored.
    /// Files that cannot be reused safely, and those past [`MAX_FILES`], are
    /// removed. Returns how many were removed.
    pub(super) fn load(&self) -> io::Result<usize> {
        let mut kept = Vec::new();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                continue;
            }
            let reusable = meta.is_file() && meta.nlink() == 1 && meta.len() <= MAX_SIZE;
            if reusable && kept.len() < self.max_files {
                kept.push(path);
            } else {
                fs::remove_file(&path)?;
                removed += 1;
            }
        }
        *self.lock() = kept;
        Ok(removed)
    }

    /// How many spares are ready.
    pub(super) fn ready(&self) -> usize {
        self.lock().len()
    }

    /// Writes `content` into a spare file (rewritten from its start, cut to
    /// length, fdatasynced) and returns its path; `None` when there is no
    /// spare. A spare that fails is removed and the error returned.
    pub(super) fn write(&self, content: &dyn Content) -> Option<io::Result<PathBuf>> {
        let path = self.lock().pop()?;
        let result = rewrite(&path, content);
        Some(match result {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(io::Error::new(
                    e.kind(),
                    format!("cannot write {}: {e}", path.display()),
                ))
            }
        })
    }

    /// Keeps the file at `path` (a removed message's) as a spare. `Ok(false)`
    /// when it is not wanted (the pool is full or the file large): the caller
    /// unlinks it. `NotFound` if there is no such file.
    pub(super) fn keep(&self, path: &Path) -> io::Result<bool> {
        let meta = fs::symlink_metadata(path)?;
        if !meta.is_file() || meta.len() > MAX_SIZE || self.ready() >= self.max_files {
            return Ok(false);
        }
        let spare = self.dir.join(format!("{:016x}", rand::random::<u64>()));
        fs::rename(path, &spare)?;
        self.lock().push(spare);
        Ok(true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes `content` over the file at `path` from its start, cuts the file
/// to what was written and makes it durable (the size is data for
/// fdatasync).
fn rewrite(path: &Path, content: &dyn Content) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    content.write_to(&mut file)?;
    let len = file.stream_position()?;
    file.set_len(len)?;
    file.sync_data()
}
