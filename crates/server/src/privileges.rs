//! Privileges and file safety (issue 7 §5): a server started as root binds
//! its listeners (ports below 1024 need root), then runs as `user` for good;
//! and it refuses to start on a data directory or users file that anyone
//! may write to.
//!
//! Nearly all `unsafe` of the binary lives here (the rest is one `mallopt`
//! in `heap.rs`): the libc calls that look up
//! an account and change the process's credentials. Each is a plain
//! syscall wrapper whose arguments are checked right beside it.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::Path;

use tracing::info;

/// An account from the system's user database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Account {
    /// The user id.
    pub uid: u32,
    /// The user's primary group id.
    pub gid: u32,
}

/// Refuses a path anyone may write to: whoever could write the data
/// directory could replace the users file, the queue or the keys; whoever
/// could write the users file could add a login. Returns one sentence
/// naming the path. A path that does not exist (yet) is fine.
pub(crate) fn refuse_world_writable(path: &Path, what: &str) -> Result<(), String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot check {what} {}: {e}", path.display())),
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(format!(
            "{what} {} is world-writable (mode {mode:04o}); refusing to start: run `chmod o-w {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// Takes away what others (and the group, for writing) may do with the
/// data directory: it holds the users file, the keys and every message, so
/// it loses `o+rw` and `g+w` (a group the admin gave read access keeps it).
/// Others keep (or get) `o+x` only, as Postfix's queue directory: local
/// users must reach the maildrop in it, and without read permission they
/// cannot list it; everything else in it is 0700 or 0600. Returns the new
/// mode if it changed.
pub(crate) fn tighten_dir(path: &Path) -> Result<Option<u32>, String> {
    let meta = fs::symlink_metadata(path)
        .map_err(|e| format!("cannot check data_dir {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o7777;
    let tight = (mode & !0o026) | 0o001;
    if tight == mode {
        return Ok(None);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(tight)).map_err(|e| {
        format!(
            "cannot restrict data_dir {} to mode {tight:04o}: {e}",
            path.display()
        )
    })?;
    Ok(Some(tight))
}

/// The effective user id of this process.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// Looks `name` up in the system's user database (NSS: /etc/passwd, LDAP…).
pub(crate) fn lookup(name: &str) -> Result<Account, String> {
    let c_name =
        CString::new(name).map_err(|_| format!("user {name:?} contains a NUL character"))?;
    let mut buf: Vec<libc::c_char> = vec![0; 16 * 1024];
    loop {
        // SAFETY: `passwd` is a plain C struct of integers and pointers, for
        // which all-zero bytes is a valid (if meaningless) value; it is
        // only read after getpwnam_r filled it.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `c_name` is a
        // NUL-terminated string, `pwd` and `result` are live locals, and
        // `buf` is a live buffer of exactly `buf.len()` bytes that outlives
        // the use of the strings `pwd` points into (we copy out integers only).
        let rc = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1024 * 1024 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 {
            return Err(format!(
                "cannot look up user {name:?}: {}",
                io::Error::from_raw_os_error(rc)
            ));
        }
        if result.is_null() {
            return Err(format!(
                "user {name:?} does not exist (create it, or change `user`)"
            ));
        }
        return Ok(Account {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        });
    }
}

/// Switches the whole process to `name` for good, after giving it the data
/// directory (and the log file): supplementary groups dropped, then the
/// group, then the user (in that order: once the user is not root it may
/// no longer change groups). Then checks that root cannot be regained.
pub(crate) fn drop_to(
    name: &str,
    data_dir: &Path,
    log_file: Option<&Path>,
) -> Result<Account, String> {
    let account = lookup(name)?;
    if account.uid == 0 {
        return Err(format!(
            "user {name:?} is root: choose an unprivileged account"
        ));
    }
    chown_tree(data_dir, &account, true)
        .map_err(|e| format!("cannot give {} to user {name:?}: {e}", data_dir.display()))?;
    if let Some(log) = log_file {
        match lchown(log, Some(account.uid), Some(account.gid)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(format!(
                    "cannot give {} to user {name:?}: {e}",
                    log.display()
                ))
            }
        }
    }
    let gid: libc::gid_t = account.gid;
    // SAFETY: setgroups reads exactly one gid from a live local.
    check(unsafe { libc::setgroups(1, &gid) }, "setgroups")?;
    // SAFETY: setgid/setuid take plain integers. glibc applies them to every
    // thread of the process (the tokio workers included), not just this one.
    check(unsafe { libc::setgid(account.gid) }, "setgid")?;
    check(unsafe { libc::setuid(account.uid) }, "setuid")?;
    // Why: a drop that could be undone is no drop at all.
    // SAFETY: as above.
    if unsafe { libc::setuid(0) } == 0 {
        return Err("privileges could be regained after dropping them; refusing to run".into());
    }
    // SAFETY: getuid/getgid/geteuid/getegid take no arguments and cannot fail.
    let ids = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    if ids != (account.uid, account.uid, account.gid, account.gid) {
        return Err(format!(
            "privilege drop to {name:?} did not take effect: {ids:?}"
        ));
    }
    info!(
        user = name,
        uid = account.uid,
        gid = account.gid,
        "dropped root privileges"
    );
    Ok(account)
}

fn check(rc: libc::c_int, what: &str) -> Result<(), String> {
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("{what} failed: {}", io::Error::last_os_error()))
    }
}

/// Gives `path` and what is below it to `account`. Symbolic links are
/// changed themselves, never followed (a link planted in the data directory
/// must not hand a file elsewhere to the mail user). A directory already
/// owned by the account is taken to be done (except the top one, where this
/// run created files as root), so a large mail store is not walked each start.
fn chown_tree(path: &Path, account: &Account, top: bool) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let owned = meta.uid() == account.uid && meta.gid() == account.gid;
    if owned && meta.is_dir() && !top {
        return Ok(());
    }
    if !owned {
        lchown(path, Some(account.uid), Some(account.gid))?;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            // Drop files belong to the users who wrote them: their owner
            // is who sent them. Only the directory itself changes hands.
            if top && entry.file_name() == portcullis_store::maildrop::DIR {
                let m = fs::symlink_metadata(entry.path())?;
                if m.uid() != account.uid || m.gid() != account.gid {
                    lchown(entry.path(), Some(account.uid), Some(account.gid))?;
                }
                continue;
            }
            chown_tree(&entry.path(), account, false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_writable_path_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(refuse_world_writable(dir.path(), "data_dir").is_ok());
        assert!(refuse_world_writable(&dir.path().join("absent"), "users file").is_ok());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let e = refuse_world_writable(dir.path(), "data_dir").unwrap_err();
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
        assert!(e.contains("world-writable") && e.contains("0777"), "{e}");
    }

    #[test]
    fn the_data_dir_loses_other_and_group_write_permissions() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o775)).unwrap();
        assert_eq!(tighten_dir(dir.path()).unwrap(), Some(0o751));
        assert_eq!(tighten_dir(dir.path()).unwrap(), None);
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(tighten_dir(dir.path()).unwrap(), Some(0o701));
    }

    #[test]
    fn accounts_are_looked_up_and_unknown_ones_named() {
        assert_eq!(lookup("root").unwrap().uid, 0);
        let e = lookup("no-such-user-portcullis").unwrap_err();
        assert!(
            e.contains("no-such-user-portcullis") && e.contains("does not exist"),
            "{e}"
        );
    }
}
