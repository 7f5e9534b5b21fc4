//! Maildir delivery: names, modes, links never followed, stale tmp files swept.

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
fn a_taken_tmp_name_is_never_overwritten() {
    let root = tempfile::tempdir().unwrap();
    let md = MaildirPath::at(&root.path().join("erin"));
    let dirs = nofollow::open_maildir(&md).unwrap();
    let taken = md.path().join("tmp").join("taken");
    fs::write(&taken, b"old").unwrap();
    let err = write_tmp(&dirs, &md, "taken", &Bytes(b"new")).unwrap_err();
    assert!(err.to_string().contains("cannot create"), "{err}");
    assert_eq!(fs::read(&taken).unwrap(), b"old");
}

#[test]
fn no_symbolic_link_below_the_root_is_followed() {
    let root = tempfile::tempdir().unwrap();
    let mail = root.path().join("mail");
    let elsewhere = root.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    for link in ["alice", "alice/new", "alice/tmp", "alice/cur"] {
        let _ = fs::remove_dir_all(&mail);
        fs::create_dir_all(mail.join("alice")).unwrap();
        let at = mail.join(link);
        let _ = fs::remove_dir(&at);
        std::os::unix::fs::symlink(&elsewhere, &at).unwrap();
        let err = Maildir::deliver(&mail.join("alice"), b"message").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("{} is a symbolic link", at.display())),
            "{link}: {text}"
        );
        assert!(
            entries(&elsewhere).is_empty(),
            "{link}: written through the link"
        );
    }
    // Below a template's root too: /home/{user}/Maildir with Maildir a link.
    let home = root.path().join("home");
    fs::create_dir_all(home.join("bob")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, home.join("bob/Maildir")).unwrap();
    let md = maildir_path(Some("home/{user}/Maildir"), root.path(), "bob");
    let results = Maildir::deliver_copies(&[md], &Bytes(b"message"));
    assert!(results[0].is_err());
    assert!(entries(&elsewhere).is_empty());
}

#[test]
fn the_root_itself_may_be_a_link() {
    let root = tempfile::tempdir().unwrap();
    let real = root.path().join("real-mail");
    fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, root.path().join("mail")).unwrap();
    let md = maildir_path(None, root.path(), "carol");
    let path = Maildir::deliver_copies(&[md], &Bytes(b"hi"))
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(fs::read(path).unwrap(), b"hi");
    assert_eq!(entries(&real.join("carol/new")).len(), 1);
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
fn opening_reports_the_directories_to_fsync() {
    let root = tempfile::tempdir().unwrap();
    // data/, data/mail/ (the root), dave/ and its subdirectories are
    // created: the temporary dir, data/, mail/ and dave/ gained entries.
    let md = MaildirPath::new(root.path().join("data/mail"), "dave");
    assert_eq!(nofollow::open_maildir(&md).unwrap().changed.len(), 4);
    assert_eq!(entries(&md.path()), ["cur", "new", "tmp"]);
    assert!(
        nofollow::open_maildir(&md).unwrap().changed.is_empty(),
        "nothing to fsync the second time"
    );
}

#[test]
fn maildir_path_uses_the_template_or_the_default() {
    let data = Path::new("/var/lib/portcullis");
    let cases = [
        (None, "alice", "/var/lib/portcullis/mail", "alice"),
        (Some("/home/{user}/Maildir"), "bob", "/home", "bob/Maildir"),
        (
            Some("boxes/{user}"),
            "carol",
            "/var/lib/portcullis/boxes",
            "carol",
        ),
        (
            Some("/var/mail/u-{user}/md"),
            "dave",
            "/var/mail",
            "u-dave/md",
        ),
        (Some("/srv/shared"), "erin", "/srv", "shared"),
    ];
    for (template, user, root, below) in cases {
        let md = maildir_path(template, data, user);
        assert_eq!(md, MaildirPath::new(root, below), "{template:?}");
        assert_eq!(md.path(), Path::new(root).join(below));
    }
}

#[test]
fn the_sweep_never_follows_a_linked_tmp() {
    let root = tempfile::tempdir().unwrap();
    let elsewhere = root.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let dead = format!("1700000000.M1P4294967294Q1.{},S=5", host_name());
    fs::write(elsewhere.join(&dead), b"not ours").unwrap();
    let mail = root.path().join("mail");
    fs::create_dir_all(mail.join("frank")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, mail.join("frank/tmp")).unwrap();
    assert_eq!(remove_stale_tmp_under(&mail), 0);
    assert_eq!(entries(&elsewhere), [dead]);
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

/// Content that says it is already in a durable file.
struct InFile<'a> {
    bytes: &'a [u8],
    file: &'a Path,
}

impl Content for InFile<'_> {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn write_to(&self, file: &mut File) -> io::Result<()> {
        std::io::Write::write_all(file, self.bytes)
    }

    fn durable_file(&self) -> Option<&Path> {
        Some(self.file)
    }
}

#[test]
fn a_durable_file_is_linked_into_each_maildir_and_a_missing_one_is_written() {
    use std::os::unix::fs::MetadataExt;
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("spooled");
    let message = b"Return-Path: <a@b>\r\n\r\nbody\r\n";
    fs::write(&src, message).unwrap();
    let dirs = [
        MaildirPath::new(root.path().join("mail"), "alice"),
        MaildirPath::new(root.path().join("mail"), "bob"),
    ];
    let content = InFile {
        bytes: message,
        file: &src,
    };
    let paths: Vec<PathBuf> = Maildir::deliver_copies(&dirs, &content)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ino = fs::metadata(&src).unwrap().ino();
    for (path, md) in paths.iter().zip(&dirs) {
        assert_eq!(path.parent().unwrap(), md.path().join("new"));
        assert_eq!(fs::metadata(path).unwrap().ino(), ino, "linked, not copied");
        assert!(path
            .to_string_lossy()
            .ends_with(&format!(",S={}", message.len())));
        assert!(entries(&md.path().join("tmp")).is_empty());
    }
    // The file cannot be linked (gone, or on another file system): a copy.
    fs::remove_file(&src).unwrap();
    let path = Maildir::deliver_copies(&dirs[..1], &content)
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(fs::read(&path).unwrap(), message);
    assert_eq!(fs::metadata(&path).unwrap().nlink(), 1);
}

#[test]
fn concurrent_deliveries_into_one_maildir_all_land() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("alice");
    let delivered: Vec<(PathBuf, String)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let dir = &dir;
                s.spawn(move || {
                    (0..20)
                        .map(|i| {
                            let body = format!("thread {t} message {i}");
                            (Maildir::deliver(dir, body.as_bytes()).unwrap(), body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    assert_eq!(entries(&dir.join("new")).len(), 160);
    assert!(entries(&dir.join("tmp")).is_empty());
    for (path, body) in delivered {
        assert_eq!(fs::read(&path).unwrap(), body.as_bytes());
    }
}
