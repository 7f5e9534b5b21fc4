//! The maildrop (as Postfix's postdrop): `sendmail` with the server down
//! writes the message into `<data_dir>/maildrop/` and exits 0; `serve`
//! sends it on at start and while running, exactly once, attributed to the
//! uid that owns the file (never to anything the file says). Files planted
//! there to trick the server (links, FIFOs, strange names) are refused and
//! logged, and a file found again after a crash is not queued twice.
// Signals and the effective uid come from libc: std has no safe form of them.
#![allow(unsafe_code)]

use portcullis_testkit as common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{describe, free_port, Server, Setup, BIN};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn my_uid() -> u32 {
    fs::metadata("/proc/self").unwrap().uid()
}

/// The drop files (not temporary ones) in the maildrop.
fn drops(data: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(data.join("maildrop"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Waits (bounded) for `cond`.
fn wait_for(what: &str, log: impl Fn() -> String, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn users(extra: &str) -> Setup {
    let setup = Setup::new(extra);
    setup.add_user("alice", "pw-alice-maildrop");
    setup
}

/// `portcullis sendmail ARGS` with `input` on stdin, run as `uid` when given
/// (through setpriv, all groups dropped).
fn sendmail(setup: &Setup, uid: Option<u32>, args: &[&str], input: &str) -> Output {
    let config = setup.config_path.to_string_lossy().to_string();
    let mut cmd = match uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                BIN,
            ]);
            c
        }
        None => Command::new(BIN),
    };
    cmd.args(["--config", &config, "sendmail"])
        .args(args)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run sendmail");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn is_root() -> bool {
    my_uid() == 0
}

/// Runs `sh -c script` as `uid`; true when it succeeded.
fn sh_as(uid: u32, script: &str) -> bool {
    Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// SIGKILL, no drain: what a crash leaves behind.
fn kill9(server: &mut Server) {
    let pid = fs::read_to_string(server.data_dir.join("portcullis.pid")).unwrap();
    let pid: libc::pid_t = pid.trim().parse().unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our
    // child's (from its pid file), not yet reaped.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    server.stop();
}

#[test]
fn with_the_server_stopped_the_message_waits_and_arrives_once_after_start() {
    let mut server = users("").start();
    server.stop();
    let out = sendmail(
        &server,
        None,
        &["alice@local.test"],
        "Subject: cron\n\nreport\n",
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        out.stderr.is_empty(),
        "cron would mail this: {}",
        describe(&out)
    );
    let files = drops(&server.data_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o640);
    assert_eq!(mode(&server.data_dir.join("maildrop")), 0o3733);

    let server = server.restart();
    let msgs = server.wait_maildir("alice", 1);
    assert_eq!(msgs.len(), 1, "{}", server.log());
    let m = text(&msgs[0]);
    let who = format!("(Portcullis, from userid {})", my_uid());
    assert!(m.contains(&who), "{m}");
    assert!(
        m.contains("\r\nSubject: cron\r\n") && m.ends_with("\r\n\r\nreport\r\n"),
        "{m}"
    );
    wait_for(
        "the maildrop to empty",
        || server.log(),
        || drops(&server.data_dir).is_empty(),
    );
    assert!(server.wait_queue_empty(), "{:?}", server.queue_listing());
    // Picked up while running too, and never twice.
    let out = sendmail(&server, None, &["-v", "alice"], "Subject: second\n\nx\n");
    assert!(out.status.success(), "{}", describe(&out));
    let msgs = server.wait_maildir("alice", 2);
    assert_eq!(msgs.len(), 2, "{}", server.log());
    // A drop file is queued before it is removed: once the maildrop is empty
    // and the queue has drained, no second copy can come from it.
    wait_for(
        "the maildrop to empty",
        || server.log(),
        || drops(&server.data_dir).is_empty(),
    );
    assert!(server.wait_queue_empty(), "{:?}", server.queue_listing());
    assert_eq!(
        server.maildir_messages("alice").len(),
        2,
        "{}",
        server.log()
    );
    assert_eq!(server.log().matches("maildrop: message queued").count(), 1);
}

#[test]
fn refused_recipients_of_a_dropped_message_are_bounced_to_the_sender() {
    let mut server = users("").start();
    server.stop();
    let out = sendmail(
        &server,
        None,
        &[
            "-f",
            "alice@local.test",
            "ghost@local.test",
            "alice@local.test",
        ],
        "Subject: two\n\nhi\n",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let server = server.restart();
    // alice gets the message and the bounce for ghost (5.1.1, as RCPT would say).
    let msgs = server.wait_maildir("alice", 2);
    assert_eq!(msgs.len(), 2, "{}", server.log());
    let all: String = msgs.iter().map(|m| text(m)).collect();
    assert!(all.contains("Subject: two"), "{all}");
    assert!(
        all.contains("Final-Recipient: rfc822; ghost@local.test"),
        "{all}"
    );
    assert!(all.contains("Status: 5.1.1"), "{all}");
}

#[test]
fn a_drop_file_is_attributed_to_the_uid_that_owns_it() {
    if !is_root() {
        eprintln!("SKIPPED maildrop uid test: not running as root");
        return;
    }
    let (writer, other) = (47_011, 47_012);
    // The server runs as nobody: it reads the writer's file through the
    // maildrop's group (the directory is set-group-id), not as root.
    let setup = users("");
    let config = fs::read_to_string(&setup.config_path).unwrap();
    let config = config.replacen("hostname = ", "user = \"nobody\"\nhostname = ", 1);
    fs::write(&setup.config_path, config).unwrap();
    // Let other users through the test's private temporary directory.
    fs::set_permissions(setup.dir(), fs::Permissions::from_mode(0o711)).unwrap();
    let mut server = setup.start();
    server.stop();
    let out = sendmail(
        &server,
        Some(writer),
        &["alice@local.test"],
        "Subject: from a user\n\nhi\n",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let files = drops(&server.data_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].to_string_lossy().to_string();
    assert_eq!(fs::metadata(&files[0]).unwrap().uid(), writer);
    // Another user can neither read it, nor list the maildrop, nor remove
    // or replace the file.
    assert!(!sh_as(other, &format!("cat {file}")), "readable by others");
    assert!(!sh_as(
        other,
        &format!("ls {}", server.data_dir.join("maildrop").display())
    ));
    assert!(!sh_as(other, &format!("rm -f {file}")));
    assert!(!sh_as(
        other,
        &format!("echo x > /tmp/md-{other} && mv -f /tmp/md-{other} {file}")
    ));
    assert!(files[0].exists());

    let server = server.restart();
    assert!(
        server.log().contains("dropped root privileges"),
        "{}",
        server.log()
    );
    let msgs = server.wait_maildir("alice", 1);
    assert_eq!(msgs.len(), 1, "{}", server.log());
    let m = text(&msgs[0]);
    assert!(
        m.contains(&format!("(Portcullis, from userid {writer})")),
        "{m}"
    );
    assert!(m.contains("Subject: from a user"), "{m}");
}

#[test]
fn links_fifos_and_strangers_in_the_maildrop_are_refused_and_logged() {
    let server = users("").start();
    let dir = server.data_dir.join("maildrop");
    // A secret the planter may not read, and a valid drop file that would
    // mail it to alice.
    let secret = server.dir().join("secret.txt");
    fs::write(&secret, "TOP SECRET\n").unwrap();
    let valid = "portcullis-maildrop 1\nfrom x@local.test\nto alice@local.test\nbody 7bit\n\nSubject: stolen\r\n\r\nTOP SECRET\r\n";
    let outside = server.dir().join("outside");
    fs::write(&outside, valid).unwrap();
    let name = |c: char| c.to_string().repeat(24);
    std::os::unix::fs::symlink(&secret, dir.join(name('A'))).unwrap();
    fs::hard_link(&outside, dir.join(name('B'))).unwrap();
    let fifo = dir.join(name('C'));
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    fs::write(dir.join("not-a-drop-name"), valid).unwrap();

    wait_for(
        "every planted file to go",
        || server.log(),
        || fs::read_dir(&dir).unwrap().next().is_none(),
    );
    let log = server.log();
    for why in [
        "refused and removed: a symbolic link",
        "refused and removed: it has 2 hard links",
        "refused and removed: not a regular file",
        "refused and removed: not a maildrop file name",
    ] {
        assert!(log.contains(why), "no {why:?} in\n{log}");
    }
    // The link was removed, never followed; nothing was sent.
    assert_eq!(fs::read_to_string(&secret).unwrap(), "TOP SECRET\n");
    assert!(outside.exists());
    assert!(server.maildir_messages("alice").is_empty());
    assert!(!log.contains("maildrop: message queued"), "{log}");
}

#[test]
fn a_drop_file_found_again_after_a_crash_is_queued_once() {
    // remote.test goes to a closed port: the message stays queued, so the
    // queue shows how often it was imported.
    let closed = free_port("127.0.0.1".parse().unwrap());
    let mut server = users(&format!(
        "[routes]\n\"remote.test\" = \"127.0.0.1:{closed}\"\n"
    ))
    .start();
    server.stop();
    let out = sendmail(&server, None, &["bob@remote.test"], "Subject: once\n\nx\n");
    assert!(out.status.success(), "{}", describe(&out));
    let files = drops(&server.data_dir);
    assert_eq!(files.len(), 1);
    let copy = fs::read(&files[0]).unwrap();
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();

    let mut server = server.restart();
    let id = format!("MD{name}");
    wait_for(
        "the message in the queue",
        || server.log(),
        || server.queue_messages().iter().any(|(i, _)| *i == id),
    );
    wait_for(
        "the maildrop to empty",
        || server.log(),
        || drops(&server.data_dir).is_empty(),
    );
    // The state a crash between queueing and removing leaves: both.
    kill9(&mut server);
    let tmp = server.data_dir.join("maildrop").join(".restore");
    fs::write(&tmp, &copy).unwrap();
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o640)).unwrap();
    fs::rename(&tmp, &files[0]).unwrap();

    let server = server.restart();
    wait_for(
        "the maildrop to empty",
        || server.log(),
        || drops(&server.data_dir).is_empty(),
    );
    let log = server.log();
    assert!(log.contains("maildrop: already queued"), "{log}");
    let queued: Vec<String> = server
        .queue_messages()
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(queued, [id], "{log}");
}

#[test]
fn without_server_or_maildrop_sendmail_fails_loudly() {
    let mut server = users("").start();
    server.stop();
    fs::remove_dir_all(server.data_dir.join("maildrop")).unwrap();
    let out = sendmail(&server, None, &["alice@local.test"], "Subject: t\n\nhi\n");
    assert_eq!(out.status.code(), Some(75), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.contains("cannot reach the mail server"), "{err}");
    assert!(
        err.contains("cannot write the message into the maildrop"),
        "{err}"
    );
    assert!(err.contains("NOT sent"), "{err}");
    // A malformed address is refused now: nobody would hear of it later.
    let out = sendmail(&server, None, &["bad address@local.test"], "x\n");
    assert_eq!(out.status.code(), Some(64), "{}", describe(&out));
}

#[test]
fn a_broken_maildrop_is_logged_and_the_server_still_serves() {
    let setup = users("");
    fs::write(setup.data_dir.join("maildrop"), "not a directory").unwrap();
    let server = setup.start();
    assert!(
        server.log().contains("is not a directory; remove it"),
        "{}",
        server.log()
    );
    let out = server.cli_stdin(&["sendmail", "alice"], Some("Subject: up\n\nx\n"));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(server.wait_maildir("alice", 1).len(), 1);
}

#[test]
fn a_dropped_message_is_dkim_signed_as_over_loopback_smtp() {
    let closed = free_port("127.0.0.1".parse().unwrap());
    let setup = users(&format!(
        "[routes]\n\"remote.test\" = \"127.0.0.1:{closed}\"\n"
    ));
    let out = setup.cli(&["dkim", "generate", "local.test", "--selector", "md"]);
    assert!(out.status.success(), "{}", describe(&out));
    let mut server = setup.start();
    server.stop();
    let out = sendmail(
        &server,
        None,
        &["-f", "alice@local.test", "bob@remote.test"],
        "Subject: signed\n\nx\n",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let server = server.restart();
    wait_for(
        "the message in the queue",
        || server.log(),
        || {
            server
                .queue_messages()
                .iter()
                .any(|(i, _)| i.starts_with("MD"))
        },
    );
    let (_, m) = server
        .queue_messages()
        .into_iter()
        .find(|(i, _)| i.starts_with("MD"))
        .unwrap();
    let m = text(&m);
    assert!(m.starts_with("DKIM-Signature:"), "{m}");
    assert!(m.contains("d=local.test") && m.contains("s=md"), "{m}");
    assert!(m.contains("(Portcullis, from userid"), "{m}");
}
