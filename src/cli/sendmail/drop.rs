//! Writing a message into the maildrop when the server cannot take it now
//! (as Postfix's `postdrop`): `serve` sends it on when it runs again.
//!
//! Why this is safe for every local user: the directory is mode 3733 (each
//! user may create files, nobody but the server may list or read them, and
//! the sticky bit stops users from removing or renaming each other's); the
//! file is created with `O_EXCL` under a random temporary name, so nothing
//! planted there is followed or overwritten; it is mode 0640 with the
//! directory's group (the server's: the directory is set-group-id), so
//! only its writer and the server may read it. Who sent it is never
//! written into it: the server reads the file's owner.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use portcullis_store::maildrop::{self, Drop};

/// Tries this many names before giving up (each clash is a 2^-65 event,
/// or someone filling the directory with guesses).
const ATTEMPTS: usize = 8;

/// Writes `drop` durably into `<data_dir>/maildrop/`; returns its path.
pub(super) fn write(data_dir: &Path, drop: &Drop) -> Result<PathBuf, String> {
    let dir = data_dir.join(maildrop::DIR);
    let bytes = maildrop::encode(drop);
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let name = maildrop::new_name();
        let tmp = dir.join(format!(".{name}.tmp"));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(failed(&dir, &e)),
        };
        let done = |file: &mut fs::File| -> io::Result<PathBuf> {
            // Whatever the umask: readable by the server's group, never others.
            file.set_permissions(fs::Permissions::from_mode(0o640))?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            let path = dir.join(&name);
            if fs::symlink_metadata(&path).is_ok() {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            fs::rename(&tmp, &path)?;
            // The rename changed the file's ctime: this fsync commits the
            // journal holding the new name on ext4 and XFS. Only the owner
            // may open the directory itself to fsync it (Postfix's postdrop
            // cannot either), so that is best effort.
            file.sync_all()?;
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(path)
        };
        match done(&mut file) {
            Ok(path) => return Ok(path),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                if e.kind() == io::ErrorKind::AlreadyExists {
                    last = Some(e);
                    continue;
                }
                return Err(failed(&dir, &e));
            }
        }
    }
    let e = last.unwrap_or_else(|| io::ErrorKind::AlreadyExists.into());
    Err(failed(&dir, &e))
}

fn failed(dir: &Path, e: &io::Error) -> String {
    format!(
        "cannot write the message into the maildrop {}: {e}",
        dir.display()
    )
}
