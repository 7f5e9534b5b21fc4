//! A Dovecot passwd-file for the same users (`dovecot.passwd_file`), so
//! Dovecot can serve IMAP/POP3 from the Portcullis Maildirs and check the
//! same passwords.
//!
//! Each line is `name:{ARGON2ID}<PHC string>`: the Argon2id hash of the
//! users file, which Dovecot 2.3 verifies natively (`doveadm pw -l` lists
//! ARGON2ID when built with libsodium, as Debian's is). Why Argon2id and not
//! the SCRAM keys or the CRAM-MD5 state, which Dovecot would also read:
//! this copy lives outside the data directory, readable by Dovecot's auth
//! process, and Argon2id is the only one of the three that is expensive to
//! crack (the CRAM-MD5 state is a password equivalent). The cost is that
//! Dovecot can then offer only plaintext mechanisms (PLAIN, LOGIN), which
//! it does under TLS.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{UserDb, UsersError};
use portcullis_store::maildir::sync_dir;

/// Mode of the passwd-file: its group (Dovecot's auth user, through a
/// setgid directory or the group the file already had) may read it.
const MODE: u32 = 0o640;

/// The passwd-file text for `db`: a comment header, then one line per user.
pub fn passwd_file(db: &UserDb) -> String {
    let mut out = String::from(
        "# Dovecot passwd-file written by `portcullis user`; do not edit: changes are overwritten.\n",
    );
    for name in db.names() {
        if let Some(creds) = db.get(name) {
            // Names are [a-z0-9._-], with one '@' and a domain name for a
            // user of one domain, and PHC strings have no ':' or newline
            // (users/mod.rs, users/file.rs): the line cannot be split or forged.
            let _ = writeln!(out, "{name}:{{ARGON2ID}}{}", creds.argon2_phc());
        }
    }
    out
}

/// Writes [`passwd_file`] to `path` atomically (temporary file, fsync,
/// rename, fsync of the directory), mode 0640. The new file keeps the group
/// of the file it replaces, so a `chgrp dovecot` done once lasts.
pub fn write_passwd_file(db: &UserDb, path: &Path) -> Result<(), UsersError> {
    let io_err = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source: io::Error| UsersError::Io {
            action,
            path: p,
            source,
        }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let old_gid = fs::metadata(path).ok().map(|m| m.gid());
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(passwd_file(db).as_bytes())
            .map_err(io_err("write", &tmp))?;
        // The umask may have removed the group bit.
        f.set_permissions(fs::Permissions::from_mode(MODE))
            .map_err(io_err("chmod", &tmp))?;
        if let Some(gid) = old_gid {
            let now = f.metadata().map_err(io_err("stat", &tmp))?.gid();
            if now != gid {
                std::os::unix::fs::fchown(&f, None, Some(gid))
                    .map_err(io_err("keep the group of", path))?;
            }
        }
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        fs::rename(&tmp, path).map_err(io_err("replace", path))?;
        sync_dir(dir).map_err(io_err("fsync the directory of", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::passwd_file;
    use crate::users::{cheap_argon2_for_tests, Credentials, UserDb};

    #[test]
    fn one_argon2id_line_per_user_in_name_order() {
        let mut db = UserDb::default();
        for (name, pw) in [("bob", "pw-b"), ("alice", "pw-a")] {
            let creds = Credentials::derive_with(pw, &cheap_argon2_for_tests(), 4096).unwrap();
            db.add(name, creds).unwrap();
        }
        let text = passwd_file(&db);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("# Dovecot passwd-file"));
        assert_eq!(lines.len(), 3);
        assert!(
            lines[1].starts_with("alice:{ARGON2ID}$argon2id$v=19$"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with("bob:{ARGON2ID}$argon2id$v=19$"),
            "{}",
            lines[2]
        );
        // The hash in the file is the one that verifies the password.
        let phc = lines[1].trim_start_matches("alice:{ARGON2ID}");
        assert_eq!(phc, db.get("alice").unwrap().argon2_phc());
        assert!(db.get("alice").unwrap().verify_password(b"pw-a"));
    }

    #[test]
    fn the_file_is_written_atomically_with_mode_0640() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis.passwd");
        let mut db = UserDb::default();
        let creds = Credentials::derive_with("pw", &cheap_argon2_for_tests(), 4096).unwrap();
        db.add("carol", creds).unwrap();
        super::write_passwd_file(&db, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\ncarol:{ARGON2ID}$argon2id$"), "{text}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        db.remove("carol").unwrap();
        super::write_passwd_file(&db, &path).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("carol"));
        // Nothing is left behind but the file itself.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_empty_database_gives_only_the_header() {
        assert_eq!(passwd_file(&UserDb::default()).lines().count(), 1);
    }
}
