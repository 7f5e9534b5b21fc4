//! Replacing the configuration file atomically: a reader (the server
//! reloading, an admin's editor) sees the old file or the new one, never half
//! of either, and a crash leaves one of the two on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `text` to `path` through a temporary file in the same directory:
/// write, fsync, rename over `path`, fsync the directory. The file keeps the
/// permissions (and, where allowed, the owner) of the one it replaces. A
/// symbolic link at `path` is followed: its target is replaced, the link stays.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let target = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let original = fs::metadata(&target).ok();

    let (tmp_path, mut tmp) = create_temp(&dir, &name.to_string_lossy())?;
    let result = (|| {
        tmp.write_all(text.as_bytes())?;
        match &original {
            Some(meta) => {
                // Keep the admin's mode: a config they made 0600 stays 0600.
                tmp.set_permissions(meta.permissions())?;
                keep_owner(&tmp, meta);
            }
            None => set_new_file_mode(&tmp)?,
        }
        tmp.sync_all()?;
        fs::rename(&tmp_path, &target)?;
        // The rename is durable only once the directory entry is on disk.
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    result
}

/// Creates `.<name>.tmp.<pid>.<n>` exclusively (never following or reusing
/// an existing file) in `dir`, readable by its owner only until the final
/// mode is set, so the text is never exposed more widely than the old file was.
fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    for attempt in 0..100u32 {
        let candidate = dir.join(format!(".{name}.tmp.{pid}.{attempt}"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "cannot create a temporary file next to {name} in {}",
            dir.display()
        ),
    ))
}

/// Gives the new file the old one's owner and group. Only root may give a
/// file away; for anyone else the new file is theirs, as with any editor, so
/// a refusal is not an error.
#[cfg(unix)]
fn keep_owner(file: &File, original: &fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    if let Ok(current) = file.metadata() {
        if current.uid() != original.uid() || current.gid() != original.gid() {
            let _ = std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid()));
        }
    }
}

#[cfg(not(unix))]
fn keep_owner(_: &File, _: &fs::Metadata) {}

/// A new configuration file is 0644: it holds no secrets (passwords live in
/// the data directory) and the server may read it after dropping privileges.
#[cfg(unix)]
fn set_new_file_mode(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_new_file_mode(_: &File) -> io::Result<()> {
    Ok(())
}
