//! Delivery into a shared mail store by LMTP (`delivery.lmtp`, RFC 2033):
//! a private Dovecot with an LMTP listener on loopback (and a Unix socket)
//! takes the local mail Portcullis has queued, and each test reads it back
//! over IMAP from Dovecot, as a user would. Skipped with a printed reason
//! where Dovecot is not installed, except under CI.

use portcullis_testkit as common;

use std::time::Duration;

use common::dovecot::{unavailable, Dovecot, DovecotUser};
use common::outbound::{queue_cli, send, wait_queue_empty};
use common::{find, Server, Setup};

/// How long a test waits for mail to show in Dovecot.
const WAIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "store-pass-1";

fn skip() -> bool {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return true;
    }
    false
}

fn users(names: &[&str]) -> Vec<DovecotUser> {
    names
        .iter()
        .map(|n| DovecotUser::new(n, PASSWORD))
        .collect()
}

/// Portcullis with `delivery.lmtp = lmtp`, fast retries, the Portcullis
/// users `names` (who decide what is accepted at RCPT), and `extra`.
fn portcullis(lmtp: &str, names: &[&str], extra: &str) -> Server {
    let setup = Setup::new(&format!(
        "[delivery]\nlmtp = {}\n\n[queue]\nretry_min = 1\nretry_max = 2\n\n{extra}",
        common::toml_str(lmtp)
    ));
    for name in names {
        setup.add_user(name, "portcullis-pass-1");
    }
    setup.start()
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn local_mail_reaches_dovecot_by_lmtp_and_reads_back_over_imap() {
    if skip() {
        return;
    }
    let dovecot = Dovecot::start(&users(&["alice", "bob"]));
    let server = portcullis(
        &dovecot.lmtp_tcp(),
        &["alice", "bob"],
        "[aliases]\nteam = [\"alice\", \"bob\"]\n",
    );
    // As sent on the wire (dot-stuffed), and as it must arrive.
    let wire = b"Subject: by LMTP\r\nX-Token: first\r\n\r\nFirst line.\r\n..leading dot\r\n";
    let body = b"Subject: by LMTP\r\nX-Token: first\r\n\r\nFirst line.\r\n.leading dot\r\n";
    send(
        &server,
        "carol@remote.test",
        &["alice@local.test", "team@local.test"],
        wire,
    );
    for user in ["alice", "bob"] {
        let got = dovecot.wait_messages(user, PASSWORD, 1, WAIT);
        assert_eq!(got.len(), 1, "{user}: {got:?}\n{}", server.log());
        let m = &got[0];
        // Return-Path once (RFC 5321 §4.4), added at final delivery as a
        // Maildir delivery adds it; our trace header; the message intact.
        assert_eq!(
            count(m, b"Return-Path:"),
            1,
            "{}",
            String::from_utf8_lossy(m)
        );
        assert!(m.starts_with(b"Return-Path: <carol@remote.test>\r\n"));
        assert!(find(m, b"by mx.test").is_some());
        assert!(m.ends_with(body), "{}", String::from_utf8_lossy(m));
    }
    assert!(
        wait_queue_empty(&server),
        "{}",
        queue_cli(&server, &["list"])
    );
    // Nothing in the node's own Maildirs: the shared store has it.
    assert!(server.maildir_messages("alice").is_empty());
    // Exactly once each, even though alice was named twice (directly and by the alias).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dovecot.messages("alice", PASSWORD).len(), 1);
    let log = server.log();
    assert!(
        log.contains("to=alice@local.test relay=\"127.0.0.1[127.0.0.1]\" status=\"sent\""),
        "{log}"
    );
}
