//! The admin commands as a careful admin meets them (issue 12): which
//! configuration file they read, what they print, and that they never
//! create a site by accident or panic on a closed pipe.

use portcullis_testkit as common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{describe, run_with_timeout, server_with_queued_remote, Setup, BIN};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `portcullis <args>` run as written (no `--config` added), in `dir`, with
/// `$PORTCULLIS_CONFIG` set to `env` or removed.
fn run_in(dir: &Path, env: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    match env {
        Some(v) => cmd.env("PORTCULLIS_CONFIG", v),
        None => cmd.env_remove("PORTCULLIS_CONFIG"),
    };
    let (status, out) = run_with_timeout(&mut cmd, Duration::from_secs(30));
    assert!(status.is_some(), "{args:?} hung: {}", describe(&out));
    out
}

/// Every file and directory under `dir`, for "created nothing" checks.
fn listing(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Every command but `serve`, each on a file that may not exist.
const READERS: &[&[&str]] = &[
    &["user", "add", "zed", "--password-stdin"],
    &["user", "list"],
    &["config", "add", "relay.allow", "10.0.0.1"],
    &["config", "set", "relay.local_only", "true"],
    &["config", "read"],
    &["config", "check"],
    &["queue", "list"],
    &["check-relay", "--client", "127.0.0.1", "bob@example.org"],
    &["reload"],
    &["status"],
    &["serve", "--check"],
];

#[test]
fn a_mistyped_config_path_is_refused_by_every_command_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.toml");
    let typo_arg = typo.to_string_lossy().into_owned();
    for args in READERS {
        let mut full = vec!["--config", typo_arg.as_str()];
        full.extend_from_slice(args);
        let out = run_in(dir.path(), None, &full);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "no configuration file at {typo_arg} (named by --config)"
            )),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
        assert!(
            listing(dir.path()).is_empty(),
            "{args:?} created {:?}",
            listing(dir.path())
        );
    }
    // The same through $PORTCULLIS_CONFIG.
    let out = run_in(dir.path(), Some(&typo_arg), &["user", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("(named by $PORTCULLIS_CONFIG)"),
        "{}",
        describe(&out)
    );
    // sendmail follows the same lookup (with its own sysexits code).
    let out = run_in(
        dir.path(),
        Some(&typo_arg),
        &["sendmail", "bob@example.org"],
    );
    assert!(
        stderr(&out).contains("no configuration file at"),
        "{}",
        describe(&out)
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn without_any_file_the_search_names_the_paths_it_looked_at() {
    if Path::new("/etc/portcullis/portcullis.toml").exists() {
        eprintln!("skipped: this machine has /etc/portcullis/portcullis.toml");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let here = fs::canonicalize(dir.path())
        .unwrap()
        .join("portcullis.toml");
    for args in READERS {
        let out = run_in(dir.path(), None, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "no configuration file: looked at {} and /etc/portcullis/portcullis.toml",
                here.display()
            )),
            "{args:?}: {err}"
        );
        assert!(
            listing(dir.path()).is_empty(),
            "{args:?} created {:?}",
            listing(dir.path())
        );
    }
}

#[test]
fn the_environment_and_the_current_directory_name_the_file() {
    let setup = Setup::new("");
    let other = tempfile::tempdir().unwrap();
    // $PORTCULLIS_CONFIG, from anywhere.
    let env = setup.config_path.to_string_lossy().into_owned();
    let out = run_in(other.path(), Some(&env), &["config", "read", "hostname"]);
    assert_eq!(
        stdout(&out).trim(),
        "hostname: mx.test",
        "{}",
        describe(&out)
    );
    // ./portcullis.toml when nothing names a file.
    let out = run_in(setup.dir(), None, &["config", "read", "hostname"]);
    assert_eq!(
        stdout(&out).trim(),
        "hostname: mx.test",
        "{}",
        describe(&out)
    );
    // --config wins over the environment.
    let out = run_in(
        other.path(),
        Some("/nonexistent/portcullis.toml"),
        &["--config", &env, "config", "read", "hostname"],
    );
    assert_eq!(
        stdout(&out).trim(),
        "hostname: mx.test",
        "{}",
        describe(&out)
    );
}

/// Runs `portcullis <args>` on `setup`'s file with stdout a stream whose
/// reading end is already closed: the first write fails with EPIPE.
fn run_into_closed_pipe(setup: &Setup, args: &[&str]) -> Output {
    let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(reader);
    let writer = std::os::fd::OwnedFd::from(writer);
    let mut cmd = Command::new(BIN);
    cmd.args(common::with_config(&setup.config_path, args))
        .current_dir(setup.dir())
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let out = child.wait_with_output().unwrap();
    drop(cmd);
    out
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let setup = Setup::new("");
    for args in [
        &["config", "read"][..],
        &["queue", "list"],
        &["user", "list"],
    ] {
        let out = run_into_closed_pipe(&setup, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        assert!(stderr(&out).is_empty(), "{args:?}: {}", describe(&out));
    }
    let server = setup.start();
    let out = run_into_closed_pipe(&server, &["queue", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(stderr(&out).is_empty(), "{}", describe(&out));
}

#[test]
fn queue_commands_leave_no_broken_pipe_and_flush_says_when_nothing_is_queued() {
    let (server, id) = server_with_queued_remote(b"Subject: t\r\n\r\nbody\r\n");
    let out = server.cli(&["queue", "list"]);
    assert!(stdout(&out).contains(&id), "{}", describe(&out));
    let out = server.cli(&["queue", "delete", &id]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = server.cli(&["queue", "flush"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        stdout(&out).trim(),
        "The queue is empty.",
        "{}",
        describe(&out)
    );
    let out = server.cli(&["status"]);
    assert!(out.status.success(), "{}", describe(&out));
    // The file backend is its own truth: never stale.
    let status = stdout(&out);
    assert!(
        status.contains("directory: files, version ") && status.contains(", always current"),
        "{status}"
    );
    let log = server.log();
    assert!(!log.contains("control socket write failed"), "{log}");
}

#[test]
fn with_a_log_file_and_no_terminal_the_log_is_written_once() {
    let setup = Setup::new("[log]\nfile = \"portcullis.log\"\n");
    let log_path = setup.dir().join("portcullis.log");
    let server = setup.start();
    let stderr_text = server.log();
    assert!(
        !stderr_text.contains("portcullis ready"),
        "logged twice:\n{stderr_text}"
    );
    let file = fs::read_to_string(&log_path).unwrap();
    assert!(file.contains("portcullis ready"), "{file}");
}
