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
//! still fsynced, but every distinct directory is fsynced once per batch.
//! Deliveries into one `new/` from concurrent threads share its fsync too
//! ([`crate::group_sync`]): each waits for one that started after its
//! rename.
//!
//! The bytes are written exactly as given (the server passes CRLF lines;
//! Dovecot and mutt read those fine).
//!
//! No symbolic link below the Maildir root is ever followed ([`nofollow`]):
//! a delivery that meets one fails, naming the path.

mod nofollow;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::content::{Bytes, Content};
use crate::group_sync::{DirId, Registry};

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
    /// `dir`'s parent is taken as the Maildir root (see [`MaildirPath::at`]).
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
        let paths: Vec<MaildirPath> = items
            .iter()
            .map(|(dir, _)| MaildirPath::at(dir.as_ref()))
            .collect();
        let bytes: Vec<Bytes<'_>> = items.iter().map(|(_, b)| Bytes(b.as_ref())).collect();
        let items: Vec<(&MaildirPath, &dyn Content)> = paths
            .iter()
            .zip(&bytes)
            .map(|(md, b)| (md, b as &dyn Content))
            .collect();
        Maildir::deliver_each(&items)
    }

    /// [`Maildir::deliver_many`] of one content (a spooled message, streamed
    /// from its file) into each of `dirs`.
    pub fn deliver_copies(dirs: &[MaildirPath], content: &dyn Content) -> Vec<io::Result<PathBuf>> {
        let items: Vec<(&MaildirPath, &dyn Content)> =
            dirs.iter().map(|md| (md, content)).collect();
        Maildir::deliver_each(&items)
    }

    /// [`Maildir::deliver_many`] for content of any kind.
    pub fn deliver_each(items: &[(&MaildirPath, &dyn Content)]) -> Vec<io::Result<PathBuf>> {
        let mut results: Vec<Option<io::Result<PathBuf>>> = items.iter().map(|_| None).collect();
        // Per Maildir: its open directories, or why it could not be opened
        // (as text, since io::Error is not Clone).
        let mut opened: BTreeMap<&MaildirPath, Result<nofollow::Dirs, (io::ErrorKind, String)>> =
            BTreeMap::new();

        // 1. Open (or create) each Maildir, write + fsync every tmp file.
        let mut written: Vec<(usize, &MaildirPath, String)> = Vec::new();
        let mut linked: Vec<(usize, &MaildirPath, String)> = Vec::new();
        for (index, (md, message)) in items.iter().enumerate() {
            let md: &MaildirPath = md;
            let dirs = opened.entry(md).or_insert_with(|| {
                let dirs = nofollow::open_maildir(md).map_err(|e| (e.kind(), e.to_string()))?;
                sweep_once(md, &dirs.tmp);
                Ok(dirs)
            });
            let dirs = match dirs {
                Ok(dirs) => dirs,
                Err((kind, text)) => {
                    results[index] = Some(Err(io::Error::new(*kind, text.clone())));
                    continue;
                }
            };
            let name = unique_name(message.size());
            match place(dirs, md, &name, *message) {
                Ok(Placed::Tmp) => written.push((index, md, name)),
                Ok(Placed::New) => linked.push((index, md, name)),
                Err(e) => results[index] = Some(Err(e)),
            }
        }

        // 2. Rename into new/.
        let mut published: Vec<(usize, &MaildirPath, String)> = Vec::new();
        for (index, md, name) in written {
            let Some(Ok(dirs)) = opened.get(md) else {
                continue; // invariant: only opened Maildirs have written files
            };
            match nofollow::rename(&dirs.tmp, &dirs.new, &name) {
                Ok(()) => published.push((index, md, name)),
                Err(e) => {
                    let _ = nofollow::remove(&dirs.tmp, &name);
                    let new = md.path().join("new").join(&name);
                    results[index] = Some(Err(with_path(e, "rename into", &new)));
                }
            }
        }

        published.extend(linked);

        // 3. fsync each distinct new/ once, after the directories that
        // gained a created directory; a failure fails the messages it covers.
        let mut synced: BTreeMap<&MaildirPath, Result<(), (io::ErrorKind, String)>> =
            BTreeMap::new();
        for (index, md, name) in &published {
            let Some(Ok(dirs)) = opened.get(md) else {
                continue; // invariant: as above
            };
            let outcome = synced
                .entry(md)
                .or_insert_with(|| {
                    dirs.changed
                        .iter()
                        .try_for_each(nofollow::sync)
                        .and_then(|()| sync_new(&dirs.new))
                        .map_err(|e| with_path(e, "fsync directory", &md.path().join("new")))
                        .map_err(|e| (e.kind(), e.to_string()))
                })
                .clone();
            results[*index] = Some(match outcome {
                Ok(()) => Ok(md.path().join("new").join(name)),
                Err((kind, text)) => {
                    // Not durable, and the client will retry after our 451:
                    // do not leave a copy that may or may not survive.
                    let _ = nofollow::remove(&dirs.new, name);
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

/// Where a Maildir is: a root, whose own path may hold symbolic links (it
/// is the admin's: `<data_dir>/mail`, or the fixed part of
/// `delivery.maildir`), and the path below it, where none is followed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaildirPath {
    root: PathBuf,
    below: PathBuf,
}

impl MaildirPath {
    /// The Maildir `root/below`.
    pub fn new(root: impl Into<PathBuf>, below: impl Into<PathBuf>) -> MaildirPath {
        MaildirPath {
            root: root.into(),
            below: below.into(),
        }
    }

    /// The Maildir `dir`, with its parent as the root.
    pub fn at(dir: &Path) -> MaildirPath {
        match (dir.parent(), dir.file_name()) {
            (Some(parent), Some(name)) => {
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                MaildirPath::new(parent, name)
            }
            _ => MaildirPath::new(dir, ""),
        }
    }

    /// The root, below which no link is followed.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The Maildir's whole path.
    pub fn path(&self) -> PathBuf {
        self.root.join(&self.below)
    }
}

impl fmt::Display for MaildirPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path().display())
    }
}

/// The Maildir of `user`: `template` with `{user}` substituted (relative
/// templates are taken from `data_dir`), or `<data_dir>/mail/<user>`.
/// The root is the part before the first component holding `{user}` (for
/// a template without it, the parent of its last component).
/// `user` must be a validated user name (see `portcullis_directory::users::validate_user_name`).
pub fn maildir_path(template: Option<&str>, data_dir: &Path, user: &str) -> MaildirPath {
    let Some(template) = template else {
        return MaildirPath::new(data_dir.join("mail"), user);
    };
    let components: Vec<Component<'_>> = Path::new(template).components().collect();
    let split = components
        .iter()
        .position(|c| c.as_os_str().to_string_lossy().contains("{user}"))
        .unwrap_or(components.len().saturating_sub(1));
    let root: PathBuf = components[..split].iter().collect();
    let below: PathBuf = components[split..]
        .iter()
        .map(|c| c.as_os_str().to_string_lossy().replace("{user}", user))
        .collect();
    MaildirPath::new(data_dir.join(root), below)
}

/// fsyncs a directory, making the entries created or renamed in it durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Where [`place`] put a message.
enum Placed {
    /// Written and fsynced in `tmp/`, to be renamed into `new/`.
    Tmp,
    /// Linked into `new/` already.
    New,
}

/// Puts a message in the Maildir: its durable file linked straight into
/// `new/` when it has one (the Maildir spec's own delivery is `link(2)`
/// from a complete file: the name appears with all of its content), else,
/// or when the link fails (another file system: `EXDEV`), a copy written
/// into `tmp/`.
fn place(
    dirs: &nofollow::Dirs,
    md: &MaildirPath,
    name: &str,
    message: &dyn Content,
) -> io::Result<Placed> {
    if let Some(src) = message.durable_file() {
        if nofollow::link_into(src, &dirs.new, name).is_ok() {
            return Ok(Placed::New);
        }
    }
    write_tmp(dirs, md, name, message).map(|()| Placed::Tmp)
}

/// fsyncs an open `new/`, sharing the fsync with the threads delivering
/// into the same directory at the same time.
fn sync_new(new: &std::os::fd::OwnedFd) -> io::Result<()> {
    let id = DirId::of(new)?;
    Registry::shared().get(id).sync(|| nofollow::sync(new))
}

/// Writes `tmp/<name>` exclusively and fsyncs it; removes it on failure.
fn write_tmp(
    dirs: &nofollow::Dirs,
    md: &MaildirPath,
    name: &str,
    message: &dyn Content,
) -> io::Result<()> {
    let tmp = || md.path().join("tmp").join(name);
    // Only a file this call created may be removed on failure: if the name
    // was taken, the existing file belongs to someone else.
    let mut file =
        nofollow::create_file(&dirs.tmp, name).map_err(|e| with_path(e, "create", &tmp()))?;
    let result = message
        .write_to(&mut file)
        .map_err(|e| with_path(e, "write", &tmp()))
        .and_then(|()| file.sync_all().map_err(|e| with_path(e, "fsync", &tmp())));
    if result.is_err() {
        let _ = nofollow::remove(&dirs.tmp, name);
    }
    result
}

pub(crate) fn with_path(e: io::Error, action: &str, path: &Path) -> io::Error {
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
    // Through descriptors, like delivery: a `tmp` that is a link is left alone.
    nofollow::open_tmp(dir).map_or(0, |tmp| sweep(&tmp))
}

/// [`remove_stale_tmp`] of an open `tmp/`.
fn sweep(tmp: &std::os::fd::OwnedFd) -> usize {
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let Ok(names) = nofollow::file_names(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for name in names {
        let Some(pid) = writer_pid(&name) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() && nofollow::remove(tmp, &name).is_ok() {
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
fn sweep_once(md: &MaildirPath, tmp: &std::os::fd::OwnedFd) {
    static SWEPT: OnceLock<std::sync::Mutex<BTreeSet<PathBuf>>> = OnceLock::new();
    let swept = SWEPT.get_or_init(Default::default);
    let first = swept
        .lock()
        .map(|mut set| set.insert(md.path()))
        .unwrap_or(false);
    if first {
        sweep(tmp);
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
mod tests;
