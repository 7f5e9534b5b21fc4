//! The file backend read and edited as the server and the admin API use it.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::users::{cheap_argon2_for_tests, Credentials};

/// A configuration with every directory section set, its data directory
/// inside `dir`.
fn directory(dir: &Path) -> FileDirectory {
    let path = dir.join("portcullis.toml");
    let text = r#"
hostname = "mx.example.test"
data_dir = "data"
local_domains = ["example.test", "other.test"]

[relay]
allow = ["192.0.2.0/24", "!192.0.2.9"]

[aliases]
postmaster = ["alice"]

[routes]
"partner.test" = "192.0.2.25"
"#;
    fs::write(&path, text).unwrap();
    FileDirectory::new(Arc::new(Config::from_str(text, &path).unwrap()))
}

fn creds(password: &str) -> Credentials {
    Credentials::derive_with(password, &cheap_argon2_for_tests(), 4096).unwrap()
}

fn add(name: &str, password: &str) -> UserEdit {
    UserEdit::Add {
        name: name.into(),
        credentials: creds(password),
        admin: false,
    }
}

fn names(db: &UserDb) -> Vec<&str> {
    db.names().collect()
}

#[test]
fn load_reads_the_sections_and_the_users_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = directory(dir.path());
    // No users file yet: no users, and nothing to compare against.
    assert_eq!(d.version(), Version::Absent);
    let site = d.load(None).unwrap();
    assert!(site.users.is_empty());
    assert_eq!(site.local_domains, ["example.test", "other.test"]);
    assert_eq!(*site.relay.allow, ["192.0.2.0/24", "!192.0.2.9"]);
    assert_eq!(site.aliases["postmaster"], ["alice"]);
    assert_eq!(site.routes["partner.test"], "192.0.2.25:25");
    d.edit_users(add("Alice", "pw-alice")).unwrap();
    assert!(matches!(d.version(), Version::File { .. }));
    let site = d.load(None).unwrap();
    assert_eq!(names(&site.users), ["alice"]);
    assert!(site
        .users
        .get("alice")
        .unwrap()
        .verify_password(b"pw-alice"));
}

#[test]
fn edits_add_change_and_remove_users_and_change_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let d = directory(dir.path());
    let after = d.edit_users(add("alice", "pw-alice")).unwrap();
    assert_eq!(names(&after), ["alice"]);
    let first = d.version();
    let after = d.edit_users(add("bob", "pw-bob")).unwrap();
    assert_eq!(names(&after), ["alice", "bob"]);
    assert_ne!(d.version(), first, "every save is a new version");
    let after = d
        .edit_users(UserEdit::Password {
            name: "BOB".into(),
            credentials: creds("pw-bob-2"),
        })
        .unwrap();
    assert!(after.get("bob").unwrap().verify_password(b"pw-bob-2"));
    let after = d
        .edit_users(UserEdit::Remove {
            name: "alice".into(),
        })
        .unwrap();
    assert_eq!(names(&after), ["bob"]);
    assert_eq!(names(&d.load(None).unwrap().users), ["bob"]);
    // The admin right: granted with the user or later, kept across a
    // password change, revoked, and stored in the file.
    let root = UserEdit::Add {
        name: "Root".into(),
        credentials: creds("pw-root"),
        admin: true,
    };
    assert!(d.edit_users(root).unwrap().is_admin("root"));
    let grant = UserEdit::Admin {
        name: "bob".into(),
        admin: true,
    };
    assert!(d.edit_users(grant).unwrap().is_admin("BOB"));
    let after = d
        .edit_users(UserEdit::Password {
            name: "bob".into(),
            credentials: creds("pw-bob-3"),
        })
        .unwrap();
    assert!(after.is_admin("bob"));
    let revoke = UserEdit::Admin {
        name: "root".into(),
        admin: false,
    };
    let after = d.edit_users(revoke).unwrap();
    assert!(!after.is_admin("root") && after.is_admin("bob"));
    let site = d.load(None).unwrap();
    assert!(!site.users.is_admin("root") && site.users.is_admin("bob"));
    // The file is private.
    let mode = fs::metadata(d.users_file()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn bad_edits_are_refused_with_one_sentence_naming_the_value_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = directory(dir.path());
    d.edit_users(add("alice", "pw-alice")).unwrap();
    let before = fs::read(d.users_file()).unwrap();
    let cases = [
        (add("ALICE", "x"), "user \"alice\" already exists"),
        (add("../etc", "x"), "invalid user name \"../etc\""),
        (
            UserEdit::Password {
                name: "carol".into(),
                credentials: creds("x"),
            },
            "no such user \"carol\"",
        ),
        (
            UserEdit::Remove {
                name: "carol".into(),
            },
            "no such user \"carol\"",
        ),
        (
            UserEdit::Admin {
                name: "carol".into(),
                admin: true,
            },
            "no such user \"carol\"",
        ),
    ];
    for (edit, sentence) in cases {
        let err = d.edit_users(edit).unwrap_err();
        assert!(matches!(err, DirectoryError::Refused(_)), "{err:?}");
        assert!(err.to_string().contains(sentence), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
    assert_eq!(fs::read(d.users_file()).unwrap(), before, "file untouched");
}

#[test]
fn a_broken_users_file_fails_the_load_and_keeps_the_users_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = directory(dir.path());
    let in_force = d.edit_users(add("alice", "pw-alice")).unwrap();
    // Garbage: refused, naming the file and the line.
    fs::write(d.users_file(), "not a users file\n").unwrap();
    let err = d.load(Some(&in_force)).unwrap_err().to_string();
    let file = d.users_file().display().to_string();
    assert!(err.contains(&format!("users file {file} line 1")), "{err}");
    // Truncated or deleted while users are in force: refused, saying so.
    fs::write(d.users_file(), "").unwrap();
    let err = d.load(Some(&in_force)).unwrap_err().to_string();
    assert!(err.contains("is empty (no header line)"), "{err}");
    fs::remove_file(d.users_file()).unwrap();
    let err = d.load(Some(&in_force)).unwrap_err().to_string();
    assert!(err.contains("is missing"), "{err}");
    assert!(err.contains("keeping the users loaded before (1)"), "{err}");
    // With nothing in force (a first start), a missing file is no users.
    assert!(d.load(None).unwrap().users.is_empty());
    // Anyone may write it: refused, an edit too.
    d.edit_users(add("bob", "pw-bob")).unwrap();
    fs::set_permissions(d.users_file(), fs::Permissions::from_mode(0o666)).unwrap();
    let err = d.edit_users(add("carol", "pw-carol")).unwrap_err();
    assert!(matches!(err, DirectoryError::Failed(_)), "{err:?}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

fn accept(_: &Config) -> Result<Vec<String>, String> {
    Ok(vec!["a warning".into()])
}

#[test]
fn settings_are_edited_in_the_file_once_judged_keeping_its_comments() {
    let dir = tempfile::tempdir().unwrap();
    let d = directory(dir.path());
    let path = d.config.path.clone();
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, format!("# kept\n{text}")).unwrap();
    let op = EditOp::Add("relay.allow".into(), vec!["198.51.100.7".into()]);
    let edited = d.edit_setting(op, &accept).unwrap();
    assert_eq!(edited.before.unwrap().relay.allow.len(), 2);
    assert_eq!(
        *edited.after.relay.allow,
        ["192.0.2.0/24", "!192.0.2.9", "198.51.100.7"]
    );
    assert_eq!(edited.warnings, ["a warning"]);
    let written = fs::read_to_string(&path).unwrap();
    assert!(written.starts_with("# kept\n"), "{written}");
    assert!(written.contains("198.51.100.7"), "{written}");
    let op = EditOp::Set("aliases.abuse".into(), vec!["alice".into()]);
    let after = d.edit_setting(op, &accept).unwrap().after;
    assert_eq!(after.aliases["abuse"], ["alice"]);
}

#[test]
fn bad_settings_are_refused_with_one_sentence_and_the_file_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = directory(dir.path());
    let before = fs::read(&d.config.path).unwrap();
    let refuse = |_: &Config| Err("relay.allow makes an open relay".to_string());
    let cases: Vec<(EditOp, &Judge<'_>, &str)> = vec![
        (
            EditOp::Add("relay.allow".into(), vec!["*.*.*.*".into()]),
            &refuse,
            "makes an open relay",
        ),
        (
            EditOp::Set("listen.smtp".into(), vec!["127.0.0.1:25".into()]),
            &accept,
            "\"listen.smtp\" is not a directory setting",
        ),
        (
            EditOp::Set("relay.restricted".into(), vec!["maybe".into()]),
            &accept,
            "maybe",
        ),
    ];
    for (op, judge, sentence) in cases {
        let err = d.edit_setting(op, judge).unwrap_err();
        assert!(matches!(err, DirectoryError::Refused(_)), "{err:?}");
        assert!(err.to_string().contains(sentence), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
    assert_eq!(fs::read(&d.config.path).unwrap(), before);
}
