//! One `serve` per data directory: the first thing `serve` does with its
//! data directory is take an exclusive `flock(2)` on the pid file, and it
//! holds it until it exits (the kernel releases it when the process dies,
//! also on `kill -9`). A second `serve` on the same directory finds the lock
//! taken and exits before it touches anything: no queue recovery, no sweep
//! of `queue/tmp`, whose files may be the first server's messages in flight.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The pid file's name inside the data directory.
pub const PID_FILE: &str = "portcullis.pid";

/// Attempts at locking a pid file that another process keeps removing.
const ATTEMPTS: usize = 5;

/// The held lock; the pid file holds this process's id. Dropping it removes
/// the pid file, then releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    /// Held open for the lock; closed (released) after the file is removed.
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Locks `<data_dir>/portcullis.pid` and writes this process's id into
    /// it, or says which process holds it.
    pub fn acquire(data_dir: &Path) -> Result<InstanceLock, String> {
        let path = data_dir.join(PID_FILE);
        let cannot = |e: io::Error| format!("cannot lock {}: {e}", path.display());
        for _ in 0..ATTEMPTS {
            // Not truncated on open: the running server's pid must stay
            // readable for the message below.
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(&path)
                .map_err(cannot)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let pid = text.trim();
                    let pid = if pid.is_empty() { "unknown" } else { pid };
                    return Err(format!(
                        "another portcullis serve (pid {pid}) is using {}",
                        data_dir.display()
                    ));
                }
                Err(TryLockError::Error(e)) => return Err(cannot(e)),
            }
            // A server that was stopping may have removed the file between
            // our open and our lock: the lock is then on a file nobody else
            // will open. Lock the file that is at the path now.
            if !same_file(&file, &path) {
                continue;
            }
            write_pid(&mut file).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            return Ok(InstanceLock { _file: file, path });
        }
        Err(format!(
            "cannot lock {}: it keeps being removed",
            path.display()
        ))
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Removed while still locked (the lock goes with the file handle,
        // closed right after): a server starting now either locks this file
        // after we release it and sees it gone (and retries), or creates a
        // new one.
        let _ = fs::remove_file(&self.path);
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn write_pid(file: &mut File) -> io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = InstanceLock::acquire(dir.path()).unwrap();
        let pid = fs::read_to_string(dir.path().join(PID_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        let err = InstanceLock::acquire(dir.path()).unwrap_err();
        assert_eq!(
            err,
            format!(
                "another portcullis serve (pid {}) is using {}",
                std::process::id(),
                dir.path().display()
            )
        );
        drop(first);
        assert!(!dir.path().join(PID_FILE).exists());
        let again = InstanceLock::acquire(dir.path()).unwrap();
        drop(again);
    }

    #[test]
    fn a_stale_pid_file_left_by_a_crash_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(PID_FILE), "999999999\nstale\n").unwrap();
        let lock = InstanceLock::acquire(dir.path()).unwrap();
        let pid = fs::read_to_string(dir.path().join(PID_FILE)).unwrap();
        assert_eq!(pid, format!("{}\n", std::process::id()));
        drop(lock);
    }
}
