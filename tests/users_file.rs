//! The users file is re-read while the server runs, but a file that vanishes
//! or empties never replaces the users in force: every file `user …` writes
//! starts with its header line, even with no users left, so a missing or
//! header-less empty file is a deletion or a truncation, and is refused with
//! a log line saying why.

use portcullis_testkit as common;

use std::fs;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{describe, Server};

/// The reply to `RCPT TO:<rcpt>` in a fresh transaction.
fn rcpt(server: &Server, rcpt: &str) -> u16 {
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<x@remote.example>", 250);
    let (code, _) = c.cmd(&format!("RCPT TO:<{rcpt}>"));
    c.quit_collect();
    code
}

/// Waits (bounded) until the server log contains `needle`.
fn wait_log(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log();
        if log.contains(needle) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_emptied_or_deleted_users_file_keeps_the_users() {
    let server = Server::with_users("", &[("alice", "pw-alice-users"), ("bob", "pw-bob-users")]);
    let path = server.data_dir.join("users");
    assert_eq!(rcpt(&server, "alice@local.test"), 250);

    // Truncated (`> users`): the old users stay, and the log says why, once.
    fs::File::create(&path).expect("truncate the users file");
    assert_eq!(rcpt(&server, "alice@local.test"), 250, "{}", server.log());
    assert_eq!(rcpt(&server, "bob@local.test"), 250);
    let log = wait_log(&server, "is empty (no header line)");
    let refusal = format!("users file {} is empty (no header line)", path.display());
    assert_eq!(log.matches(&refusal).count(), 1, "{log}");
    assert!(log.contains("keeping the users loaded before (2)"), "{log}");

    // Deleted: the same.
    fs::remove_file(&path).expect("delete the users file");
    assert_eq!(rcpt(&server, "alice@local.test"), 250, "{}", server.log());
    let log = wait_log(&server, "is missing");
    assert!(
        log.contains(&format!("users file {} is missing", path.display())),
        "{log}"
    );

    // A file `user …` writes has the header: it is applied as it is.
    let out = server.cli_stdin(
        &["user", "add", "carol", "--password-stdin"],
        Some("pw-carol-users\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(fs::read_to_string(&path)
        .unwrap()
        .starts_with("# portcullis users v1\n"));
    assert_eq!(rcpt(&server, "carol@local.test"), 250, "{}", server.log());
    assert_eq!(rcpt(&server, "alice@local.test"), 550);

    // Removing the last user leaves the header: no users, on purpose.
    let out = server.cli(&["user", "remove", "carol"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(rcpt(&server, "carol@local.test"), 550, "{}", server.log());
}

#[test]
fn a_recipient_is_stored_as_ruled_at_rcpt_even_if_removed_before_data() {
    let server = Server::with_users("", &[("alice", "pw-alice-users"), ("bob", "pw-bob-users")]);
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<x@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    // Between RCPT and DATA the user goes: the 250 already given stands, and
    // the message goes where RCPT said, not to a bounce decided afresh.
    let out = server.cli(&["user", "remove", "alice"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(rcpt(&server, "alice@local.test"), 550, "{}", server.log());
    c.expect("DATA", 354);
    c.expect("Subject: ruled once\r\n\r\nhello\r\n.", 250);
    c.quit_collect();
    let stored = server.maildir_messages("alice");
    assert_eq!(stored.len(), 1, "{}", server.log());
    assert!(String::from_utf8_lossy(&stored[0]).contains("Subject: ruled once"));
    assert!(
        !server.log().contains("no such local user"),
        "{}",
        server.log()
    );
}

#[test]
fn the_users_file_is_checked_in_the_background_never_per_recipient() {
    let server = Server::with_users("", &[("alice", "pw-alice-users")]);
    let path = server.data_dir.join("users");
    assert_eq!(rcpt(&server, "alice@local.test"), 250);
    // Garbage in place of the users file, and no SMTP traffic at all: the
    // server's own check finds it and says it was not loaded (before, the
    // file was only looked at, with a stat, during a RCPT or an AUTH).
    fs::write(&path, "this is not a users file\n").expect("overwrite the users file");
    let log = wait_log(&server, "users file not reloaded");
    assert!(
        log.contains(&format!(
            "users file {} line 1: expected the header",
            path.display()
        )),
        "{log}"
    );
    // Mail for the users in force still goes through, many times over,
    // and no recipient makes the server look at the file again.
    for _ in 0..5 {
        assert_eq!(rcpt(&server, "alice@local.test"), 250, "{}", server.log());
    }
    assert_eq!(server.log().matches("users file not reloaded").count(), 1);
    // A file `user …` writes is in force for the very next command.
    fs::remove_file(&path).expect("remove the garbage");
    let out = server.cli_stdin(
        &["user", "add", "dave", "--password-stdin"],
        Some("pw-dave-users\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(rcpt(&server, "dave@local.test"), 250, "{}", server.log());
}
