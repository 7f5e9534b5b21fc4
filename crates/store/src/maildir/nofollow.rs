//! Opening a Maildir without following any symbolic link below its root.
//!
//! Why: the server writes mail with its own rights (root, on some hosts).
//! If `mail/alice/new` may be a symlink, whoever can write `mail/alice` (the
//! user, a Dovecot process) can make the server write files anywhere. So
//! every directory from the Maildir root down is opened with
//! `O_DIRECTORY|O_NOFOLLOW`, relative to its parent's descriptor (`openat`),
//! and the message is created and renamed through those descriptors: no
//! path is resolved twice, so nothing can be swapped in between. The root
//! itself (`<data_dir>/mail`, or the fixed part of `delivery.maildir`) is
//! the admin's, and may be a link.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{with_path, MaildirPath, DIR_MODE, FILE_MODE};

/// The open directories of one Maildir.
pub(super) struct Dirs {
    pub(super) tmp: OwnedFd,
    pub(super) new: OwnedFd,
    /// Directories that gained an entry because a directory was created in
    /// them: fsynced before any delivery into this Maildir is reported.
    pub(super) changed: Vec<OwnedFd>,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens (creating what is missing, mode 0700) the Maildir `md` and its
/// `tmp/`, `new/` and `cur/`, refusing a symbolic link anywhere below the root.
pub(super) fn open_maildir(md: &MaildirPath) -> io::Result<Dirs> {
    let mut changed = Vec::new();
    let mut dir = open_root(&md.root, &mut changed)?;
    let mut shown = md.root.clone();
    for component in md.below.components() {
        let name = match component {
            Component::Normal(name) => name,
            Component::CurDir => continue,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "cannot deliver to Maildir {md}: {} is not a plain name below {}",
                        md.below.display(),
                        md.root.display()
                    ),
                ))
            }
        };
        shown.push(name);
        let (child, created) = step(&dir, name, &shown, md)?;
        if created {
            changed.push(dir);
        }
        dir = child;
    }
    // In this order, so that a file where `new` should be stops the walk
    // before `cur` is created.
    let sub = |name: &str| step(&dir, OsStr::new(name), &shown.join(name), md);
    let (tmp, made_tmp) = sub("tmp")?;
    let (new, made_new) = sub("new")?;
    let (_, made_cur) = sub("cur")?;
    if made_tmp || made_new || made_cur {
        changed.push(dir);
    }
    Ok(Dirs { tmp, new, changed })
}

/// Opens the root (following links: it is the admin's), creating it and
/// its missing ancestors; the parents of created directories go to `changed`.
fn open_root(root: &Path, changed: &mut Vec<OwnedFd>) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    match rustix::fs::open(root, flags, Mode::empty()) {
        Ok(fd) => return Ok(fd),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(with_path(e.into(), "open directory", root)),
    }
    let mut missing: Vec<&Path> = Vec::new();
    let mut cursor = Some(root);
    while let Some(path) = cursor {
        if path.as_os_str().is_empty() || path.exists() {
            break;
        }
        missing.push(path);
        cursor = path.parent();
    }
    for path in missing.into_iter().rev() {
        match rustix::fs::mkdir(path, Mode::from_raw_mode(DIR_MODE)) {
            Ok(()) => {
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let fd = rustix::fs::open(parent, flags, Mode::empty())
                    .map_err(|e| with_path(e.into(), "open directory", parent))?;
                changed.push(fd);
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(with_path(e.into(), "create directory", path)),
        }
    }
    rustix::fs::open(root, flags, Mode::empty())
        .map_err(|e| with_path(e.into(), "open directory", root))
}

/// Opens directory `name` in `parent` without following a link, creating
/// it if missing; says whether it created it (`parent` then needs an fsync).
fn step(
    parent: &OwnedFd,
    name: &OsStr,
    shown: &Path,
    md: &MaildirPath,
) -> io::Result<(OwnedFd, bool)> {
    match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => return Ok((fd, false)),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(refusal(parent, name, shown, md, e)),
    }
    let created = match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(DIR_MODE)) {
        Ok(()) => true,
        Err(Errno::EXIST) => false, // made meanwhile by another delivery
        Err(e) => return Err(with_path(e.into(), "create directory", shown)),
    };
    let fd = rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty())
        .map_err(|e| refusal(parent, name, shown, md, e))?;
    Ok((fd, created))
}

/// Why `name` could not be opened as a directory: a symbolic link, another
/// kind of file, or an I/O error.
fn refusal(parent: &OwnedFd, name: &OsStr, shown: &Path, md: &MaildirPath, e: Errno) -> io::Error {
    if e != Errno::LOOP && e != Errno::NOTDIR {
        return with_path(e.into(), "open directory", shown);
    }
    let kind = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .map(|st| FileType::from_raw_mode(st.st_mode));
    let what = match kind {
        Ok(FileType::Symlink) => "is a symbolic link (never followed below the Maildir root)",
        _ => "is not a directory",
    };
    io::Error::other(format!(
        "cannot deliver to Maildir {md}: {} {what}",
        shown.display()
    ))
}

/// Creates `name` in `tmp/` exclusively (never through a link) for writing.
pub(super) fn create_file(dir: &OwnedFd, name: &str) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(FILE_MODE))?;
    Ok(File::from(fd))
}

/// Links the file `src` (a path of the server's own, such as its spool's)
/// into `dir` as `name`, never replacing an existing entry.
pub(super) fn link_into(src: &Path, dir: &OwnedFd, name: &str) -> io::Result<()> {
    Ok(rustix::fs::linkat(
        rustix::fs::CWD,
        src,
        dir,
        name,
        AtFlags::empty(),
    )?)
}

/// Removes `name` from `dir` (a file).
pub(super) fn remove(dir: &OwnedFd, name: &str) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
}

/// Renames `name` from `from` into `to`.
pub(super) fn rename(from: &OwnedFd, to: &OwnedFd, name: &str) -> io::Result<()> {
    Ok(rustix::fs::renameat(from, name, to, name)?)
}

/// fsyncs an open directory.
pub(super) fn sync(dir: &OwnedFd) -> io::Result<()> {
    Ok(rustix::fs::fsync(dir)?)
}

/// Opens `<dir>/tmp` for the stale-file sweep, following no link.
pub(super) fn open_tmp(dir: &Path) -> io::Result<OwnedFd> {
    let maildir = rustix::fs::open(dir, DIR_FLAGS, Mode::empty())?;
    Ok(rustix::fs::openat(
        &maildir,
        "tmp",
        DIR_FLAGS,
        Mode::empty(),
    )?)
}

/// The names of the regular files in an open directory.
pub(super) fn file_names(dir: &OwnedFd) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        if entry.file_type() != FileType::RegularFile && entry.file_type() != FileType::Unknown {
            continue;
        }
        if let Ok(name) = std::str::from_utf8(entry.file_name().to_bytes()) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}
