//! Privileges and files (issue 7 §5): started as root with `user = "nobody"`,
//! the server binds its listeners, then runs as nobody (every uid and gid,
//! no supplementary groups) and still serves mail; its data directory,
//! keys, users file and control socket are private (0600; the data
//! directory is 0701, `o+x` only so local users reach the maildrop, and an
//! existing one loses o+rw and g+w) and belong to that user. A world-writable data directory or users file stops the
//! start with one sentence naming the path.
//!
//! The drop needs root: without it those tests say why and pass.

use portcullis_testkit as common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use common::Setup;

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The account's uid and gid, from `id`.
fn ids_of(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = std::process::Command::new("id")
            .args([flag, user])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// Puts a top-level `line` into the harness's configuration (its extra
/// text goes after `[dns]`, where a top-level key cannot be).
fn add_top_level(setup: &Setup, line: &str) {
    let text = fs::read_to_string(&setup.config_path).unwrap();
    let text = text.replacen("hostname = ", &format!("{line}\nhostname = "), 1);
    fs::write(&setup.config_path, text).unwrap();
}

/// A `/proc/<pid>/status` line's values.
fn status_field(pid: &str, field: &str) -> Vec<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn started_as_root_it_binds_then_runs_as_the_configured_user() {
    if !is_root() {
        eprintln!("SKIPPED privileges: not running as root");
        return;
    }
    let Some((uid, gid)) = ids_of("nobody") else {
        eprintln!("SKIPPED privileges: no user nobody");
        return;
    };
    let setup = Setup::new("");
    add_top_level(&setup, "user = \"nobody\"");
    // The test's temporary directory is root's 0700: let nobody through to data/.
    fs::set_permissions(setup.dir(), fs::Permissions::from_mode(0o711)).unwrap();
    setup.add_user("alice", "pw-alice-privileges");
    let server = setup.start();
    let pid = fs::read_to_string(server.data_dir.join("portcullis.pid")).unwrap();
    let pid = pid.trim();
    let want = vec![uid.to_string(); 4];
    assert_eq!(
        status_field(pid, "Uid:"),
        want,
        "real, effective, saved, fs uid\n{}",
        server.log()
    );
    assert_eq!(status_field(pid, "Gid:"), vec![gid.to_string(); 4], "gids");
    let groups = status_field(pid, "Groups:");
    assert!(
        groups.iter().all(|g| *g == gid.to_string()),
        "supplementary groups kept: {groups:?}"
    );
    // Every thread dropped, not just the one that called setuid.
    for task in fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let status = fs::read_to_string(task.path().join("status")).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .to_string();
        assert!(
            line.split_whitespace()
                .skip(1)
                .all(|v| v == uid.to_string()),
            "thread {line}"
        );
    }

    // It still serves and delivers, as nobody.
    let mut c = server.ehlo_from(common::DENIED);
    let (code, text) = c.send_mail(
        "a@client.test",
        &["alice@local.test"],
        b"Subject: hi\r\n\r\nhi\r\n",
    );
    assert_eq!(code, 250, "{text}\n{}", server.log());
    c.quit_clean();
    assert_eq!(server.wait_maildir("alice", 1).len(), 1);

    // Private files, owned by the mail user.
    let data = &server.data_dir;
    assert_eq!(
        mode(data) & 0o026,
        0,
        "data_dir open to others: {:o}",
        mode(data)
    );
    for (path, want) in [
        (data.join("users"), 0o600),
        (data.join("control.sock"), 0o600),
    ] {
        assert_eq!(mode(&path), want, "{}", path.display());
        assert_eq!(
            fs::metadata(&path).unwrap().uid(),
            uid,
            "{}",
            path.display()
        );
    }
    for entry in fs::read_dir(data).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".pem") || name.ends_with(".key") {
            assert_eq!(
                mode(&entry.path()) & 0o077,
                0,
                "{name} is readable by others"
            );
        }
        assert_eq!(
            entry.metadata().unwrap().uid(),
            uid,
            "{name} not given to the mail user"
        );
    }
    let maildir = server.maildir("alice");
    assert_eq!(fs::metadata(&maildir).unwrap().uid(), uid);
    assert_eq!(mode(&maildir) & 0o077, 0, "Maildir open to others");
}

#[test]
fn an_unknown_user_stops_the_start_naming_it() {
    if !is_root() {
        eprintln!("SKIPPED privileges: not running as root");
        return;
    }
    let setup = Setup::new("");
    add_top_level(&setup, "user = \"no-such-portcullis-user\"");
    let (status, out) = setup.serve_expecting_exit(&[], Duration::from_secs(10));
    assert!(status.is_some_and(|s| !s.success()), "{status:?} {out}");
    assert!(
        out.contains("no-such-portcullis-user") && out.contains("does not exist"),
        "{out}"
    );
}

#[test]
fn a_world_writable_data_dir_or_users_file_stops_the_start() {
    let setup = Setup::new("");
    fs::set_permissions(&setup.data_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let (status, out) = setup.serve_expecting_exit(&[], Duration::from_secs(10));
    assert!(status.is_some_and(|s| !s.success()), "{status:?} {out}");
    let dir = setup.data_dir.display().to_string();
    assert!(
        out.contains(&dir) && out.contains("world-writable"),
        "{out}"
    );

    fs::set_permissions(&setup.data_dir, fs::Permissions::from_mode(0o700)).unwrap();
    setup.add_user("alice", "pw-alice-privileges");
    let users = setup.data_dir.join("users");
    fs::set_permissions(&users, fs::Permissions::from_mode(0o666)).unwrap();
    let (status, out) = setup.serve_expecting_exit(&[], Duration::from_secs(10));
    assert!(status.is_some_and(|s| !s.success()), "{status:?} {out}");
    assert!(
        out.contains(&users.display().to_string()) && out.contains("world-writable"),
        "{out}"
    );

    // Fixed, it starts.
    fs::set_permissions(&users, fs::Permissions::from_mode(0o600)).unwrap();
    let server = setup.start();
    server.ehlo_from(common::DENIED).quit_clean();
}
