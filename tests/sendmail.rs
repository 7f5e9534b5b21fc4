//! `portcullis sendmail` and the binary invoked as `sendmail`, as cron, git
//! and PHP's `mail()` call it: the message on stdin reaches the Maildir
//! through the running server. With the server stopped the message waits
//! in the maildrop: see tests/maildrop.rs.

use portcullis_testkit as common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{describe, run_with_timeout, Server, BIN};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn users() -> Server {
    Server::with_users("", &[("alice", "pw-alice-sm"), ("bob", "pw-bob-sm")])
}

#[test]
fn a_message_on_stdin_reaches_the_maildir_with_the_missing_headers_added() {
    let server = users();
    let out = server.cli_stdin(&["sendmail", "alice@localhost"], Some("Subject: t\n\nhi\n"));
    assert!(out.status.success(), "{}", describe(&out));
    let msgs = server.wait_maildir("alice", 1);
    assert_eq!(msgs.len(), 1, "{}", server.log());
    let m = text(&msgs[0]);
    assert!(m.contains("\r\nSubject: t\r\n"), "{m}");
    for header in ["\r\nFrom: ", "\r\nDate: ", "\r\nMessage-ID: <"] {
        assert!(m.contains(header), "no {header:?} added: {m}");
    }
    // RFC 6409 §8.3: the Message-ID names this host.
    let id_line = m.lines().find(|l| l.starts_with("Message-ID: <")).unwrap();
    assert!(id_line.ends_with("@mx.test>"), "{id_line}");
    assert_eq!(m.matches("\r\nDate: ").count(), 1, "{m}");
    assert!(m.ends_with("\r\n\r\nhi\r\n"), "{m}");
    // It came in over loopback SMTP, so the trace says so.
    assert!(m.contains("[127.0.0.1]"), "{m}");
}

#[test]
fn dash_t_reads_to_cc_bcc_and_removes_bcc() {
    let server = users();
    let input = "To: Alice <alice@local.test>\nBcc: bob@local.test\nSubject: cron\n\nreport\n";
    let out = server.cli_stdin(&["sendmail", "-t", "-oi"], Some(input));
    assert!(out.status.success(), "{}", describe(&out));
    let alice = server.wait_maildir("alice", 1);
    let bob = server.wait_maildir("bob", 1);
    assert_eq!((alice.len(), bob.len()), (1, 1), "{}", server.log());
    for m in [text(&alice[0]), text(&bob[0])] {
        assert!(!m.to_ascii_lowercase().contains("\nbcc:"), "Bcc kept: {m}");
        assert!(m.contains("\r\nTo: Alice <alice@local.test>\r\n"), "{m}");
    }
}

#[test]
fn dash_f_sets_the_envelope_sender_and_a_lone_dot_ends_the_input() {
    let server = users();
    let out = server.cli_stdin(
        &[
            "sendmail",
            "-fcron@example.org",
            "-F",
            "Cron Daemon",
            "alice",
        ],
        Some("Subject: dots\n\nbefore\n..two\n.\nnever read\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let m = text(&server.wait_maildir("alice", 1)[0]);
    assert!(m.starts_with("Return-Path: <cron@example.org>\r\n"), "{m}");
    assert!(
        m.contains("\r\nFrom: Cron Daemon <cron@example.org>\r\n"),
        "{m}"
    );
    // The message ends at the "." line (no -i); "..two" stays as written.
    assert!(m.ends_with("\r\n\r\nbefore\r\n..two\r\n"), "{m}");
}

#[test]
fn the_binary_named_sendmail_behaves_the_same() {
    let server = users();
    let link = server.dir().join("sendmail");
    std::os::unix::fs::symlink(BIN, &link).expect("symlink sendmail");
    let mut child = Command::new(&link)
        .args(["-i", "bob@local.test"])
        .env("PORTCULLIS_CONFIG", &server.config_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sendmail");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"Subject: via symlink\n\nhello\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for sendmail");
    assert!(out.status.success(), "{}", describe(&out));
    let m = text(&server.wait_maildir("bob", 1)[0]);
    assert!(m.contains("Subject: via symlink"), "{m}");
    // -C names the configuration too.
    let (status, out) = run_with_timeout(
        Command::new(&link).args(["-C", &server.config_path.to_string_lossy(), "-bx", "bob"]),
        Duration::from_secs(30),
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(64),
        "{}",
        describe(&out)
    );
    assert!(
        text(&out.stderr).contains("-bx is not supported"),
        "{}",
        describe(&out)
    );
}

#[test]
fn refused_recipients_are_named_and_the_exit_code_says_why() {
    let server = users();
    let out = server.cli_stdin(
        &["sendmail", "nobody@local.test", "alice@local.test"],
        Some("Subject: t\n\nhi\n"),
    );
    // EX_NOUSER: an unknown local user (550 5.1.1).
    assert_eq!(out.status.code(), Some(67), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("nobody@local.test: NOT sent: 550 5.1.1"),
        "{err}"
    );
    assert!(err.contains("alice@local.test: sent"), "{err}");
    assert_eq!(server.wait_maildir("alice", 1).len(), 1);
    // Bad usage: EX_USAGE with a sentence.
    let out = server.cli_stdin(&["sendmail", "-x", "alice"], Some("x\n"));
    assert_eq!(out.status.code(), Some(64), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("unknown option -x"),
        "{}",
        describe(&out)
    );
    let out = server.cli_stdin(&["sendmail"], Some("Subject: t\n\nhi\n"));
    assert_eq!(out.status.code(), Some(64), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("no recipients"),
        "{}",
        describe(&out)
    );
}
