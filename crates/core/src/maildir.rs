//! Local delivery into Maildir (<https://cr.yp.to/proto/maildir.html>),
//! readable by Dovecot, mutt and other standard tools.
//!
//! docs/reference.md §7: a message is written to `tmp/`, fsynced, renamed into `new/`,
//! and `new/` is fsynced (with the parents of any directory created on the
//! way) before success is reported, so a `250` is never lost by a crash.
//! On any error nothing half-written stays: the tmp file is removed, and a
//! message already renamed into `new/` whose directory could not be fsynced
//! is removed too, because the client will be told `451` and will retry.
//!
//! [`Maildir::deliver_many`] is the group-commit form: each message file is
//! still fsynced, but every distinct directory is fsynced once per batch, so
//! concurrent sessions share directory fsyncs.
//!
//! The bytes are written exactly as given (the server passes CRLF lines;
//! Dovecot and mutt read those fine).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::content::{Bytes, Content};

/// Mode of directories created for a Maildir: mail is private to its owner.
const DIR_MODE: u32 = 0o700;

/// Mode of message files: mail is private to its owner.
const FILE_MODE: u32 = 0o600;

/// Maildir delivery (associated functions only; a Maildir is just a path).
pub struct Maildir;

impl Maildir {
    /// Delivers one message into the Maildir at `dir`, creating `dir` and
    /// its `tmp/`, `new/`, `cur/` (mode 0700) if missing. Returns the path
    /// of the message in `new/` once it and its directory entry are durable.
    pub fn deliver(dir: &Path, message: &[u8]) -> io::Result<PathBuf> {
        Maildir::deliver_many(&[(dir, message)])
            .pop()
            .unwrap_or_else(|| Err(io::Error::other("internal error: delivery lost its result")))
    }

    /// Delivers a batch: writes and fsyncs every file, renames them all into
    /// `new/`, then fsyncs each distinct directory once (group commit).
    /// Returns one result per item, in order; items fail independently.
    pub fn deliver_many<P: AsRef<Path>, B: AsRef<[u8]>>(
        items: &[(P, B)],
    ) -> Vec<io::Result<PathBuf>> {
        let bytes: Vec<Bytes<'_>> = items.iter().map(|(_, b)| Bytes(b.as_ref())).collect();
        let items: Vec<(&Path, &dyn Content)> = items
            .iter()
            .zip(&bytes)
            .map(|((dir, _), b)| (dir.as_ref(), b as &dyn Content))
            .collect();
        Maildir::deliver_each(&items)
    }

    /// [`Maildir::deliver_many`] of one content (a spooled message, streamed
    /// from its file) into each of `dirs`.
    pub fn deliver_copies<P: AsRef<Path>>(
        dirs: &[P],
        content: &dyn Content,
    ) -> Vec<io::Result<PathBuf>> {
        let items: Vec<(&Path, &dyn Content)> =
            dirs.iter().map(|dir| (dir.as_ref(), content)).collect();
        Maildir::deliver_each(&items)
    }

    /// [`Maildir::deliver_many`] for content of any kind.
    pub fn deliver_each(items: &[(&Path, &dyn Content)]) -> Vec<io::Result<PathBuf>> {
        let mut results: Vec<Option<io::Result<PathBuf>>> = items.iter().map(|_| None).collect();
        // Per Maildir: the outcome of creating it (errors kept as text,
        // since io::Error is not Clone).
        let mut prepared: BTreeMap<PathBuf, Result<(), (io::ErrorKind, String)>> = BTreeMap::new();
        // Directories whose entries changed because we created a child.
        let mut created_parents: BTreeSet<PathBuf> = BTreeSet::new();

        // 1. Create directories and write + fsync every tmp file.
        let mut written: Vec<(usize, PathBuf, PathBuf, PathBuf)> = Vec::new();
        for (index, (dir, message)) in items.iter().enumerate() {
            let dir: &Path = dir;
            let ready = prepared
                .entry(dir.to_path_buf())
                .or_insert_with(|| {
                    sweep_once(dir);
                    ensure_maildir(dir)
                        .map(|parents| created_parents.extend(parents))
                        .map_err(|e| (e.kind(), e.to_string()))
                })
                .clone();
            if let Err((kind, text)) = ready {
                results[index] = Some(Err(io::Error::new(kind, text)));
                continue;
            }
            let name = unique_name(message.size());
            match write_tmp(dir, &name, *message) {
                Ok(tmp) => {
                    written.push((index, dir.to_path_buf(), tmp, dir.join("new").join(&name)))
                }
                Err(e) => results[index] = Some(Err(e)),
            }
        }

        // 2. Rename into new/.
        let mut published: Vec<(usize, PathBuf, PathBuf)> = Vec::new();
        for (index, dir, tmp, new) in written {
            match publish(&tmp, &new) {
                Ok(()) => published.push((index, dir, new)),
                Err(e) => results[index] = Some(Err(e)),
            }
        }

        // 3. fsync each distinct new/ once, and every parent of a created
        // directory once; a failure there fails the messages it covers.
        let parents_synced = created_parents
            .iter()
            .try_for_each(|p| sync_dir(p).map_err(|e| with_path(e, "fsync directory", p)))
            .map_err(|e| (e.kind(), e.to_string()));
        let new_dirs: BTreeSet<&PathBuf> = published.iter().map(|(_, dir, _)| dir).collect();
        let new_synced: BTreeMap<&PathBuf, Result<(), (io::ErrorKind, String)>> = new_dirs
            .into_iter()
            .map(|dir| {
                let new = dir.join("new");
                let outcome = sync_dir(&new)
                    .map_err(|e| with_path(e, "fsync directory", &new))
                    .map_err(|e| (e.kind(), e.to_string()));
                (dir, outcome)
            })
            .collect();
        for (index, dir, new) in &published {
            let outcome = parents_synced.clone().and(new_synced[dir].clone());
            results[*index] = Some(match outcome {
                Ok(()) => Ok(new.clone()),
                Err((kind, text)) => {
                    // Not durable, and the client will retry after our 451:
                    // do not leave a copy that may or may not survive.
                    let _ = fs::remove_file(new);
                    Err(io::Error::new(kind, text))
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
}

/// The Maildir of `user`: `template` with `{user}` substituted (relative
/// templates are taken from `data_dir`), or `<data_dir>/mail/<user>`.
/// `user` must be a validated user name (see [`crate::users::validate_user_name`]).
pub fn maildir_path(template: Option<&str>, data_dir: &Path, user: &str) -> PathBuf {
    match template {
        Some(template) => data_dir.join(template.replace("{user}", user)),
        None => data_dir.join("mail").join(user),
    }
}

/// fsyncs a directory, making the entries created or renamed in it durable.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Creates `dir` (and missing ancestors) and its `tmp/`, `new/`, `cur/`.
/// Returns the directories that gained an entry and so need an fsync.
fn ensure_maildir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let subdirs = ["tmp", "new", "cur"].map(|s| dir.join(s));
    // The common case on the hot path: the Maildir is complete, so there is
    // nothing to check or create (three stats instead of a dozen syscalls).
    if subdirs.iter().all(|p| p.is_dir()) {
        return Ok(Vec::new());
    }
    // Refuse before creating anything if something that is not a directory
    // sits where one must be.
    for path in std::iter::once(dir).chain(subdirs.iter().map(PathBuf::as_path)) {
        if let Ok(meta) = fs::metadata(path) {
            if !meta.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "cannot deliver to Maildir {}: {} is not a directory",
                        dir.display(),
                        path.display()
                    ),
                ));
            }
        }
    }
    let mut missing: Vec<&Path> = Vec::new();
    let mut cursor = Some(dir);
    while let Some(path) = cursor {
        if path.as_os_str().is_empty() || path.exists() {
            break;
        }
        missing.push(path);
        cursor = path.parent();
    }
    let mut changed = Vec::new();
    for path in missing
        .into_iter()
        .rev()
        .chain(subdirs.iter().map(PathBuf::as_path))
    {
        if create_dir(path)? {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            changed.push(parent);
        }
    }
    Ok(changed)
}

/// Creates one directory with mode 0700; `Ok(false)` if it already exists.
fn create_dir(path: &Path) -> io::Result<bool> {
    match fs::DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(false),
        Err(e) => Err(with_path(e, "create directory", path)),
    }
}

/// Writes `tmp/<name>` exclusively and fsyncs it; removes it on failure.
fn write_tmp(dir: &Path, name: &str, message: &dyn Content) -> io::Result<PathBuf> {
    let tmp = dir.join("tmp").join(name);
    // Only a file this call created may be removed on failure: if the name
    // was taken, the existing file belongs to someone else.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(|e| with_path(e, "create", &tmp))?;
    let result = message
        .write_to(&mut file)
        .map_err(|e| with_path(e, "write", &tmp))
        .and_then(|()| file.sync_all().map_err(|e| with_path(e, "fsync", &tmp)));
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Renames the tmp file into `new/`; removes the tmp file on failure.
fn publish(tmp: &Path, new: &Path) -> io::Result<()> {
    fs::rename(tmp, new).map_err(|e| {
        let _ = fs::remove_file(tmp);
        with_path(e, "rename into", new)
    })
}

fn with_path(e: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {action} {}: {e}", path.display()))
}

/// Removes from `<dir>/tmp/` the files that deliveries of a process that
/// no longer runs left behind (a crash or kill between creating the tmp
/// file and renaming it into `new/`): names of the form this module writes
/// (`<secs>.M<usec>P<pid>Q<n>.<host>,S=<size>`) for this host, whose writer
/// `<pid>` has no `/proc/<pid>`. Nothing of them was acknowledged (the
/// rename comes before any `250`), so they are garbage. Files of a live
/// process (this one, or another MDA such as Dovecot's, which uses the same
/// form) are left alone. Returns how many were removed. Without `/proc`
/// (not Linux) nothing is removed.
pub fn remove_stale_tmp(dir: &Path) -> usize {
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let Ok(entries) = fs::read_dir(dir.join("tmp")) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(writer_pid) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// [`remove_stale_tmp`] for every Maildir directly under `root` (the
/// default `<data_dir>/mail/<user>` layout), for the server's start.
pub fn remove_stale_tmp_under(root: &Path) -> usize {
    let Ok(entries) = fs::read_dir(root) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| remove_stale_tmp(&e.path()))
        .sum()
}

/// The writer's pid in a unique name of this module's form for this host.
fn writer_pid(name: &str) -> Option<u32> {
    let mut parts = name.splitn(3, '.');
    let secs = parts.next()?;
    let middle = parts.next()?;
    let rest = parts.next()?;
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (host, size) = rest.rsplit_once(",S=")?;
    if host != host_name() || size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (usec_pid, counter) = middle.strip_prefix('M')?.split_once('Q')?;
    let (usec, pid) = usec_pid.split_once('P')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(usec) || !digits(counter) {
        return None;
    }
    pid.parse().ok()
}

/// Sweeps each Maildir once per process, at its first delivery, so that a
/// Maildir outside `<data_dir>/mail` (a `delivery.maildir` template) is
/// cleaned too.
fn sweep_once(dir: &Path) {
    static SWEPT: OnceLock<std::sync::Mutex<BTreeSet<PathBuf>>> = OnceLock::new();
    let swept = SWEPT.get_or_init(Default::default);
    let first = swept
        .lock()
        .map(|mut set| set.insert(dir.to_path_buf()))
        .unwrap_or(false);
    if first {
        remove_stale_tmp(dir);
    }
}

/// Deliveries made by this process: the `Q` part of unique names.
static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// A Maildir unique name: `<secs>.M<usec>P<pid>Q<n>.<host>,S=<size>`
/// (the "modern" form of the Maildir spec, with Dovecot's `S=` size).
fn unique_name(size: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let counter = DELIVERIES.fetch_add(1, Ordering::Relaxed) + 1;
    format!(
        "{}.M{}P{}Q{}.{},S={}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        counter,
        host_name(),
        size
    )
}

/// This machine's host name, escaped for a Maildir unique name.
fn host_name() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| fs::read_to_string("/etc/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        escape_host(if raw.is_empty() { "localhost" } else { &raw })
    })
}

/// The Maildir spec: `/` becomes `\057` and `:` becomes `\072` (`:` starts
/// the info part, `/` would be a path); `,` becomes `\054` so `,S=` stays
/// unambiguous.
fn escape_host(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for c in host.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            ',' => out.push_str("\\054"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn deliver_creates_the_maildir_and_stores_the_bytes_exactly() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("mail").join("alice");
        let message = b"Return-Path: <a@b>\r\nSubject: hi\r\n\r\nbody\r\n.\r\n\x00\xff";
        let path = Maildir::deliver(&dir, message).unwrap();
        assert_eq!(fs::read(&path).unwrap(), message);
        assert_eq!(path.parent().unwrap(), dir.join("new"));
        assert_eq!(entries(&dir), ["cur", "new", "tmp"]);
        assert!(entries(&dir.join("tmp")).is_empty());
        for sub in ["", "tmp", "new", "cur"] {
            let mode = fs::metadata(dir.join(sub)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{sub}");
        }
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn unique_names_follow_the_maildir_spec() {
        let root = tempfile::tempdir().unwrap();
        let a = Maildir::deliver(root.path(), b"12345").unwrap();
        let b = Maildir::deliver(root.path(), b"").unwrap();
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with(",S=5"), "{name}");
        assert!(!name.contains('/') && !name.contains(':'), "{name}");
        let (secs, rest) = name.split_once('.').unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000);
        assert!(
            rest.starts_with('M') && rest.contains(&format!("P{}Q", std::process::id())),
            "{name}"
        );
    }

    #[test]
    fn host_escaping_keeps_slash_colon_and_comma_out() {
        assert_eq!(
            escape_host("a/b:c,d.example"),
            "a\\057b\\072c\\054d.example"
        );
    }

    #[test]
    fn a_file_where_a_directory_should_be_fails_and_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("bob");
        fs::create_dir_all(dir.join("tmp")).unwrap();
        fs::write(dir.join("new"), b"not a directory").unwrap();
        let err = Maildir::deliver(&dir, b"message").unwrap_err();
        assert!(err.to_string().contains("new"), "{err}");
        assert!(entries(&dir.join("tmp")).is_empty());
        assert!(
            !dir.join("cur").exists(),
            "nothing created after the check failed"
        );

        let file_as_maildir = root.path().join("carol");
        fs::write(&file_as_maildir, b"x").unwrap();
        assert!(Maildir::deliver(&file_as_maildir, b"message").is_err());
    }

    #[test]
    fn failed_rename_removes_the_tmp_file() {
        let root = tempfile::tempdir().unwrap();
        ensure_maildir(root.path()).unwrap();
        let tmp = write_tmp(root.path(), "x.M1P1Q1.host,S=3", &Bytes(b"abc")).unwrap();
        assert_eq!(entries(&root.path().join("tmp")), ["x.M1P1Q1.host,S=3"]);
        fs::remove_dir(root.path().join("new")).unwrap();
        let err = publish(&tmp, &root.path().join("new").join("x.M1P1Q1.host,S=3")).unwrap_err();
        assert!(err.to_string().contains("rename into"), "{err}");
        assert!(entries(&root.path().join("tmp")).is_empty());
    }

    #[test]
    fn failed_tmp_write_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        ensure_maildir(root.path()).unwrap();
        // A name that already exists: create_new refuses and nothing is overwritten.
        fs::write(root.path().join("tmp").join("taken"), b"old").unwrap();
        assert!(write_tmp(root.path(), "taken", &Bytes(b"new")).is_err());
        assert_eq!(
            fs::read(root.path().join("tmp").join("taken")).unwrap(),
            b"old"
        );
        // A name with a missing directory component fails cleanly.
        assert!(write_tmp(root.path(), "no/such/dir", &Bytes(b"new")).is_err());
        assert_eq!(entries(&root.path().join("tmp")), ["taken"]);
    }

    #[test]
    fn deliver_many_delivers_each_item_and_reports_failures_separately() {
        let root = tempfile::tempdir().unwrap();
        let alice = root.path().join("alice");
        let bob = root.path().join("bob");
        let broken = root.path().join("broken");
        fs::write(&broken, b"a file").unwrap();
        let items: Vec<(PathBuf, Vec<u8>)> = vec![
            (alice.clone(), b"one".to_vec()),
            (bob.clone(), b"two".to_vec()),
            (broken.clone(), b"three".to_vec()),
            (alice.clone(), b"four".to_vec()),
        ];
        let results = Maildir::deliver_many(&items);
        assert_eq!(results.len(), 4);
        assert_eq!(fs::read(results[0].as_ref().unwrap()).unwrap(), b"one");
        assert_eq!(fs::read(results[1].as_ref().unwrap()).unwrap(), b"two");
        assert!(results[2].is_err());
        assert_eq!(fs::read(results[3].as_ref().unwrap()).unwrap(), b"four");
        assert_eq!(entries(&alice.join("new")).len(), 2);
        assert_eq!(entries(&bob.join("new")).len(), 1);
        assert!(entries(&alice.join("tmp")).is_empty() && entries(&bob.join("tmp")).is_empty());
    }

    #[test]
    fn ensure_reports_the_parents_to_fsync() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("mail").join("dave");
        let changed = ensure_maildir(&dir).unwrap();
        let want: BTreeSet<PathBuf> = [
            root.path().to_path_buf(),
            root.path().join("mail"),
            dir.clone(),
        ]
        .into();
        assert_eq!(changed.into_iter().collect::<BTreeSet<_>>(), want);
        assert!(
            ensure_maildir(&dir).unwrap().is_empty(),
            "nothing to fsync the second time"
        );
    }

    #[test]
    fn maildir_path_uses_the_template_or_the_default() {
        let data = Path::new("/var/lib/portcullis");
        assert_eq!(
            maildir_path(None, data, "alice"),
            Path::new("/var/lib/portcullis/mail/alice")
        );
        assert_eq!(
            maildir_path(Some("/home/{user}/Maildir"), data, "bob"),
            Path::new("/home/bob/Maildir")
        );
        assert_eq!(
            maildir_path(Some("boxes/{user}"), data, "carol"),
            Path::new("/var/lib/portcullis/boxes/carol")
        );
    }

    #[test]
    fn tmp_files_of_a_dead_writer_are_removed_and_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("bob");
        Maildir::deliver(&dir, b"kept\r\n").unwrap();
        let host = host_name();
        // A writer that no longer runs (pid beyond pid_max), this process,
        // another host, and a name of another form.
        let dead = format!("1700000000.M1P4294967294Q1.{host},S=5");
        let live = format!("1700000000.M1P{}Q9.{host},S=5", std::process::id());
        let other_host = "1700000000.M1P4294967294Q1.elsewhere,S=5".to_string();
        let foreign = "1700000000.12345_1.mutt".to_string();
        for name in [&dead, &live, &other_host, &foreign] {
            fs::write(dir.join("tmp").join(name), b"half").unwrap();
        }
        assert_eq!(remove_stale_tmp_under(root.path()), 1);
        let left: BTreeSet<String> = fs::read_dir(dir.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, BTreeSet::from([live, other_host, foreign]));
        assert_eq!(fs::read_dir(dir.join("new")).unwrap().count(), 1);
        assert_eq!(writer_pid(&format!("1.M2P3Q4.{host},S=5")), Some(3));
        assert_eq!(writer_pid(&format!("1.M2P3.{host},S=5")), None);
    }
}
