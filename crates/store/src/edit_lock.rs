//! The lock that serialises administrative edits of one file (the
//! configuration, the users file): `portcullis config set` and `portcullis
//! user add` read the file, change it and rename a new copy over it, so two
//! of them running at once would each write a copy missing the other's
//! change. Holding an [`EditLock`] across the whole read-modify-write makes
//! the second one read the first one's result.
//!
//! What is locked is the directory that holds the file, not the file: the
//! file is replaced by rename, so a lock on it would stay on the old inode
//! while the next editor opens the new one. The directory is stable, every
//! editor can open it (it must be able to rename in it), and locking it
//! leaves no lock file behind. The lock is advisory (`flock(2)`): it orders
//! Portcullis commands among themselves; readers such as the server never
//! take it and never need to, since they see the old file or the new one.
//! Limitation: on NFS an exclusive `flock` needs a file open for writing,
//! which a directory never is, so there the lock fails with its reason
//! rather than being silently skipped.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`EditLock::acquire`] waits for another editor: far longer than
/// any edit holds the lock (a read, a rename and two fsyncs), short enough
/// that a stuck command is reported rather than waited on forever.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Between two attempts while another editor holds the lock.
const RETRY_EVERY: Duration = Duration::from_millis(20);

/// An exclusive lock on the directory holding a file being edited; dropping
/// it (closing the directory) releases the lock, also when the process dies.
#[derive(Debug)]
pub struct EditLock {
    _dir: File,
}

/// Why an [`EditLock`] could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum EditLockError {
    /// Another holder kept the lock for the whole wait.
    #[error("another portcullis command is editing {}; try again", .path.display())]
    Busy {
        /// The file the caller wanted to edit.
        path: PathBuf,
    },
    /// The directory could not be opened or locked at all.
    #[error("cannot lock {} to edit {}: {source}", .dir.display(), .path.display())]
    Io {
        /// The directory that would have been locked.
        dir: PathBuf,
        /// The file the caller wanted to edit.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

impl EditLock {
    /// Locks the directory of `path` for editing `path`, waiting up to
    /// [`DEFAULT_WAIT`] for another editor to finish.
    pub fn acquire(path: &Path) -> Result<EditLock, EditLockError> {
        EditLock::acquire_within(path, DEFAULT_WAIT)
    }

    /// [`EditLock::acquire`] with a chosen wait. The directory exists (the
    /// caller creates it first if the edit may create it): a lock cannot be
    /// taken on a directory that is not there.
    pub fn acquire_within(path: &Path, wait: Duration) -> Result<EditLock, EditLockError> {
        let dir = lock_dir(path);
        let io_error = |source| EditLockError::Io {
            dir: dir.clone(),
            path: path.to_path_buf(),
            source,
        };
        let handle = File::open(&dir).map_err(io_error)?;
        let deadline = Instant::now() + wait;
        loop {
            // try_lock and a sleep rather than a blocking lock(): the wait
            // must end, with a message, if a command hangs holding the lock.
            match handle.try_lock() {
                Ok(()) => return Ok(EditLock { _dir: handle }),
                Err(TryLockError::Error(source)) => return Err(io_error(source)),
                Err(TryLockError::WouldBlock) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(EditLockError::Busy {
                            path: path.to_path_buf(),
                        });
                    }
                    thread::sleep(RETRY_EVERY.min(deadline - now));
                }
            }
        }
    }
}

/// The directory an edit of `path` renames into, so the one to lock:
/// symbolic links are followed as `config::write_atomic` follows them, so
/// editing a file through a link and directly take the same lock.
fn lock_dir(path: &Path) -> PathBuf {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};

    #[test]
    fn a_second_editor_waits_until_the_first_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("portcullis.toml");
        let first = EditLock::acquire(&file).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (file2, released2) = (file.clone(), released.clone());
        let second = thread::spawn(move || {
            let lock = EditLock::acquire_within(&file2, Duration::from_secs(5));
            // What matters is the order, not a duration: the lock came only
            // after the first editor let go (a slow thread start under load
            // would make any timing check flaky).
            let after_release = released2.load(Ordering::SeqCst);
            tx.send(()).unwrap();
            (lock, after_release)
        });
        // Still waiting while the first lock is held.
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        released.store(true, Ordering::SeqCst);
        drop(first);
        let (lock, after_release) = second.join().unwrap();
        assert!(lock.is_ok(), "{lock:?}");
        assert!(
            after_release,
            "the second editor got the lock while the first held it"
        );
    }

    #[test]
    fn the_timeout_names_the_file_being_edited() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users");
        let _held = EditLock::acquire(&file).unwrap();
        let started = Instant::now();
        let err = EditLock::acquire_within(&file, Duration::from_millis(150)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(matches!(err, EditLockError::Busy { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "another portcullis command is editing {}; try again",
                file.display()
            )
        );
    }

    #[test]
    fn the_lock_is_free_again_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users");
        drop(EditLock::acquire(&file).unwrap());
        EditLock::acquire_within(&file, Duration::ZERO).unwrap();
    }

    #[test]
    fn a_file_edited_through_a_symbolic_link_takes_the_lock_of_its_target() {
        let real = tempfile::tempdir().unwrap();
        let links = tempfile::tempdir().unwrap();
        let file = real.path().join("portcullis.toml");
        fs::write(&file, "").unwrap();
        let link = links.path().join("portcullis.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let _held = EditLock::acquire(&file).unwrap();
        let err = EditLock::acquire_within(&link, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, EditLockError::Busy { .. }), "{err:?}");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere");
        let file = missing.join("users");
        let err = EditLock::acquire(&file).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, EditLockError::Io { .. }), "{err:?}");
        assert!(
            text.starts_with(&format!("cannot lock {} to edit", missing.display())),
            "{text}"
        );
    }

    #[test]
    fn a_file_that_does_not_exist_yet_can_be_locked() {
        let dir = tempfile::tempdir().unwrap();
        EditLock::acquire_within(&dir.path().join("new.toml"), Duration::ZERO).unwrap();
        // A bare file name (of a file not there) is in the current directory.
        let bare = Path::new("no-such-file-for-the-edit-lock-test.toml");
        assert_eq!(lock_dir(bare), PathBuf::from("."));
    }
}
