//! Concurrent administrative edits (docs/reference.md §1): `portcullis user …` and
//! `portcullis config add|set|…` read a file, change it and rename a new copy
//! over it. Run at the same time (two admins, a provisioning script), each
//! must apply on top of the others: every edit lands, none is lost, and the
//! files still parse.

use portcullis_testkit as common;

use std::fs::{self, File};
use std::process::{Command, Output, Stdio};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use common::{describe, with_config, Setup, BIN};

/// How many commands run at once.
const N: usize = 12;

/// Runs `command(i)` for i in 0..n on n threads released together, so the
/// processes overlap as much as the machine allows.
fn all_at_once(n: usize, command: impl Fn(usize) -> Output + Sync) -> Vec<Output> {
    let start = Barrier::new(n);
    thread::scope(|s| {
        let runs: Vec<_> = (0..n)
            .map(|i| {
                let (start, command) = (&start, &command);
                s.spawn(move || {
                    start.wait();
                    command(i)
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("command thread"))
            .collect()
    })
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn concurrent_user_adds_all_land_in_the_users_file_and_the_dovecot_copy() {
    let setup = Setup::new("");
    let passwd = setup.dir().join("dovecot.passwd");
    let out = setup.cli(&[
        "config",
        "set",
        "dovecot.passwd_file",
        &passwd.to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));

    let outs = all_at_once(N, |i| {
        setup.cli_stdin(
            &["user", "add", &format!("user{i:02}"), "--password-stdin"],
            Some(&format!("secret-{i}\n")),
        )
    });
    for (i, out) in outs.iter().enumerate() {
        assert!(
            out.status.success(),
            "user add user{i:02}: {}",
            describe(out)
        );
    }

    let expected: Vec<String> = (0..N).map(|i| format!("user{i:02}")).collect();
    // `user list` loads (parses) the users file.
    let list = setup.cli(&["user", "list"]);
    assert!(list.status.success(), "{}", describe(&list));
    assert_eq!(lines(&list), expected);
    // Dovecot's copy was rewritten under the same lock: the last writer saw
    // every user, so the copy has them all too.
    let text = fs::read_to_string(&passwd).expect("Dovecot passwd-file");
    let names: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(names, expected, "{text}");
    // No temporary file of any writer is left behind.
    for dir in [setup.data_dir.as_path(), setup.dir()] {
        for entry in fs::read_dir(dir).expect("read dir") {
            let name = entry.expect("dir entry").file_name();
            assert!(
                !name.to_string_lossy().contains(".tmp"),
                "left behind: {}",
                dir.join(name).display()
            );
        }
    }
}

#[test]
fn concurrent_user_removes_and_adds_each_take_effect() {
    let setup = Setup::new("");
    for i in 0..N / 2 {
        setup.add_user(&format!("old{i:02}"), "pw");
    }
    // Half the commands remove the old users while the other half add new ones.
    let outs = all_at_once(N, |i| {
        if i % 2 == 0 {
            setup.cli(&["user", "remove", &format!("old{:02}", i / 2)])
        } else {
            setup.cli_stdin(
                &[
                    "user",
                    "add",
                    &format!("new{:02}", i / 2),
                    "--password-stdin",
                ],
                Some("pw-new-password\n"),
            )
        }
    });
    for out in &outs {
        assert!(out.status.success(), "{}", describe(out));
    }
    let list = setup.cli(&["user", "list"]);
    assert!(list.status.success(), "{}", describe(&list));
    let expected: Vec<String> = (0..N / 2).map(|i| format!("new{i:02}")).collect();
    assert_eq!(lines(&list), expected);
}

#[test]
fn concurrent_config_adds_all_land_and_the_file_still_loads() {
    let setup = Setup::new("[relay]\n# the trusted networks\nallow = [\"127.0.0.1\"]\n");
    let outs = all_at_once(N, |i| {
        setup.cli(&["config", "add", "relay.allow", &format!("10.0.{i}.0/24")])
    });
    for (i, out) in outs.iter().enumerate() {
        assert!(out.status.success(), "10.0.{i}.0/24: {}", describe(out));
    }
    // `config read` loads and validates the whole file.
    let read = setup.cli(&["config", "read", "relay.allow"]);
    assert!(read.status.success(), "{}", describe(&read));
    let text = String::from_utf8_lossy(&read.stdout).into_owned();
    let values: Vec<&str> = text
        .trim()
        .strip_prefix("relay.allow:")
        .unwrap_or_else(|| panic!("not a relay.allow line: {text}"))
        .split_whitespace()
        .collect();
    assert_eq!(values.len(), N + 1, "{text}");
    assert!(values.contains(&"127.0.0.1"), "{text}");
    for i in 0..N {
        let entry = format!("10.0.{i}.0/24");
        assert!(values.contains(&entry.as_str()), "{entry} lost: {text}");
    }
    let file = fs::read_to_string(&setup.config_path).expect("read portcullis.toml");
    assert!(file.contains("# the trusted networks"), "{file}");
}

#[test]
fn an_edit_waits_while_another_command_holds_the_lock() {
    let setup = Setup::new("");
    let before = fs::read(&setup.config_path).expect("read portcullis.toml");
    // Stand in for another `portcullis config …` in the middle of its edit:
    // the lock is on the directory holding the file.
    let dir = File::open(setup.dir()).expect("open the config directory");
    dir.lock().expect("lock the config directory");

    let mut child = Command::new(BIN)
        .args(with_config(
            &setup.config_path,
            &["config", "add", "relay.allow", "10.9.0.0/16"],
        ))
        .current_dir(setup.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portcullis config add");
    // Time passing is the point: the edit must still be waiting for the lock.
    thread::sleep(Duration::from_millis(800));
    let waiting = child.try_wait().expect("poll portcullis config add");
    assert!(
        waiting.is_none(),
        "finished while the lock was held: {waiting:?}"
    );
    assert_eq!(fs::read(&setup.config_path).unwrap(), before);

    dir.unlock().expect("unlock the config directory");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll portcullis config add") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("portcullis config add still waiting after the lock was released");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = child
        .wait_with_output()
        .expect("output of portcullis config add");
    assert!(status.success(), "{}", describe(&out));
    let read = setup.cli(&["config", "read", "relay.allow"]);
    assert!(
        String::from_utf8_lossy(&read.stdout).contains("10.9.0.0/16"),
        "{}",
        describe(&read)
    );
}
