//! Tests of the parent module.

use super::credentials::cheap_argon2;
use super::*;

fn creds(pw: &str) -> Credentials {
    Credentials::derive_with(pw, &cheap_argon2(), 4096).unwrap()
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn user_names_follow_the_maildir_safe_rules() {
    for good in ["alice", "a", "bob.smith", "x_y-z", "0day", &"n".repeat(64)] {
        assert_eq!(validate_user_name(good).unwrap(), good);
    }
    assert_eq!(validate_user_name("Alice.B").unwrap(), "alice.b");
    for (bad, why) in [
        ("", "empty"),
        (&"n".repeat(65), "longer than 64"),
        (".hidden", "start with"),
        ("..", "start with"),
        ("-rf", "start with"),
        ("a/b", "only letters"),
        ("../etc", "only letters"),
        ("al ice", "only letters"),
        ("a:b", "only letters"),
        ("a+b", "only letters"),
        ("zoë", "only letters"),
    ] {
        let err = validate_user_name(bad).unwrap_err().to_string();
        assert!(err.contains(&format!("{bad:?}")), "{err} names the value");
        assert!(err.contains(why), "{err} says {why}");
    }
}

#[test]
fn a_file_that_vanishes_or_empties_never_replaces_loaded_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    let mut db = UserDb::new();
    db.add("alice", creds("a")).unwrap();
    db.add("bob", creds("b")).unwrap();
    db.save(&path).unwrap();
    let current = UserDb::reload(&path, &UserDb::new()).unwrap();
    assert_eq!(current, db);
    let good = fs::read_to_string(&path).unwrap();
    let first_user_only: String = good.lines().take(3).map(|l| format!("{l}\n")).collect();
    for (text, problem) in [
        (None, "is missing"),
        (Some(""), "is empty (no header line)"),
        (Some("\n \n"), "is empty (no header line)"),
    ] {
        match text {
            None => fs::remove_file(&path).unwrap(),
            Some(text) => write_private(&path, text),
        }
        let err = UserDb::reload(&path, &current).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, UsersError::Vanished { kept: 2, .. }),
            "{message}"
        );
        assert!(message.contains(problem), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        // With no users loaded (first start), nothing is lost: empty is fine.
        assert!(UserDb::reload(&path, &UserDb::new()).unwrap().is_empty());
    }
    // A header without users is `user remove` of the last one: applied.
    write_private(&path, &format!("{}\n", file::HEADER));
    assert!(UserDb::reload(&path, &current).unwrap().is_empty());
    // A header-less file with users is refused whatever is loaded.
    let headless: String = good.lines().skip(2).map(|l| format!("{l}\n")).collect();
    write_private(&path, &headless);
    let err = UserDb::reload(&path, &current).unwrap_err().to_string();
    assert!(err.contains("line 1: expected the header"), "{err}");
    // Fewer users with the header: an edit, applied.
    write_private(&path, &first_user_only);
    let names: Vec<String> = UserDb::reload(&path, &current)
        .unwrap()
        .names()
        .map(String::from)
        .collect();
    assert_eq!(names, ["alice"]);
}

fn write_private(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn missing_file_is_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = UserDb::load(&dir.path().join("users")).unwrap();
    assert!(db.is_empty());
}

#[test]
fn add_get_remove_are_case_insensitive() {
    let mut db = UserDb::new();
    db.add("Alice", creds("pw")).unwrap();
    assert!(db.contains("alice") && db.contains("ALICE"));
    assert!(db.get("aLiCe").unwrap().verify_password(b"pw"));
    assert_eq!(db.names().collect::<Vec<_>>(), ["alice"]);
    assert!(matches!(db.add("ALICE", creds("x")), Err(UsersError::Exists(n)) if n == "alice"));
    assert!(matches!(
        db.add("bad/name", creds("x")),
        Err(UsersError::InvalidName { .. })
    ));
    db.set_password("ALICE", creds("new")).unwrap();
    assert!(db.get("alice").unwrap().verify_password(b"new"));
    assert!(!db.get("alice").unwrap().verify_password(b"pw"));
    assert!(
        matches!(db.set_password("bob", creds("x")), Err(UsersError::NoSuchUser(n)) if n == "bob")
    );
    db.remove("Alice").unwrap();
    assert!(db.is_empty());
    assert!(matches!(db.remove("alice"), Err(UsersError::NoSuchUser(_))));
}

#[test]
fn save_then_load_round_trips_with_mode_0600_and_no_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("users");
    let mut db = UserDb::new();
    db.add("bob", creds("b")).unwrap();
    db.add("alice", creds("a")).unwrap();
    db.save(&path).unwrap();
    assert_eq!(mode_of(&path), 0o600);
    let loaded = UserDb::load(&path).unwrap();
    assert_eq!(loaded, db);
    assert_eq!(loaded.names().collect::<Vec<_>>(), ["alice", "bob"]);
    assert!(loaded.get("alice").unwrap().verify_password(b"a"));
    // Saving again replaces the file; no temporary files stay behind.
    let mut db = loaded;
    db.remove("bob").unwrap();
    db.save(&path).unwrap();
    assert_eq!(
        UserDb::load(&path).unwrap().names().collect::<Vec<_>>(),
        ["alice"]
    );
    let entries: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["users"]);
}

#[test]
fn save_keeps_a_group_readable_mode_but_never_widens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    UserDb::new().save(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    UserDb::new().save(&path).unwrap();
    assert_eq!(mode_of(&path), 0o640);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    UserDb::new().save(&path).unwrap();
    assert_eq!(
        mode_of(&path),
        0o600,
        "owner must still be able to rewrite it"
    );
}

#[test]
fn insecure_permissions_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    UserDb::new().save(&path).unwrap();
    for mode in [0o620, 0o602, 0o604, 0o666] {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let err = UserDb::load(&path).unwrap_err();
        assert!(
            matches!(err, UsersError::InsecurePermissions { .. }),
            "{mode:o}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("{mode:04o}")) && text.contains("chmod 600"),
            "{text}"
        );
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    assert!(UserDb::load(&path).is_ok(), "group-readable is allowed");
}

#[test]
fn parse_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    fs::write(&path, "# portcullis users v1\nbob:plain:hunter2\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let err = UserDb::load(&path).unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn a_user_may_be_a_full_address_of_one_domain() {
    assert_eq!(
        validate_user_name("Alice@Example.COM").unwrap(),
        "alice@example.com"
    );
    for (bad, why) in [
        ("alice@", "not a domain name"),
        ("alice@exa mple.com", "not a domain name"),
        ("alice@a@b.example", "not a domain name"),
        ("@example.com", "it is empty"),
        ("al ice@example.com", "only letters"),
        (".alice@example.com", "must not start"),
    ] {
        let e = validate_user_name(bad).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
        assert!(e.contains(&format!("{bad:?}")), "names the value: {e}");
    }
}
