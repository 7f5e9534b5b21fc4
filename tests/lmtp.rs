//! Delivery into a shared mail store by LMTP (`delivery.lmtp`, RFC 2033):
//! a private Dovecot with an LMTP listener on loopback (and a Unix socket)
//! takes the local mail Portcullis has queued, and each test reads it back
//! over IMAP from Dovecot, as a user would. Skipped with a printed reason
//! where Dovecot is not installed, except under CI.

use portcullis_testkit as common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::dovecot::{unavailable, Dovecot, DovecotUser};
use common::outbound::{kill_9, queue_cli, send, wait_queue_empty, wait_queue_list};
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

#[test]
fn a_recipient_the_store_refuses_bounces_alone_and_the_bounce_reaches_the_store() {
    if skip() {
        return;
    }
    // Portcullis knows ghost (so RCPT is accepted) but the store does not:
    // Dovecot answers its RCPT with 550 5.1.1.
    let dovecot = Dovecot::start(&users(&["alice", "bob"]));
    let server = portcullis(&dovecot.lmtp_tcp(), &["alice", "bob", "ghost"], "");
    send(
        &server,
        "alice@local.test",
        &["bob@local.test", "ghost@local.test"],
        b"Subject: half of it\r\nX-Token: half\r\n\r\nFor bob and ghost.\r\n",
    );
    let bob = dovecot.wait_messages("bob", PASSWORD, 1, WAIT);
    assert_eq!(bob.len(), 1, "{}", server.log());
    assert!(find(&bob[0], b"X-Token: half").is_some());
    // The sender is local too: her DSN is queued and goes by LMTP as well.
    let alice = dovecot.wait_messages("alice", PASSWORD, 1, WAIT);
    assert_eq!(alice.len(), 1, "{}", server.log());
    let dsn = String::from_utf8_lossy(&alice[0]);
    assert!(dsn.contains("Return-Path: <>"), "{dsn}");
    assert!(
        dsn.contains("Final-Recipient: rfc822; ghost@local.test"),
        "{dsn}"
    );
    assert!(dsn.contains("Status: 5.1.1"), "{dsn}");
    assert!(
        !dsn.contains("Final-Recipient: rfc822; bob@local.test"),
        "{dsn}"
    );
    assert!(
        wait_queue_empty(&server),
        "{}",
        queue_cli(&server, &["list"])
    );
    assert_eq!(dovecot.messages("bob", PASSWORD).len(), 1);
}

#[test]
fn a_4xx_after_the_data_for_one_recipient_is_retried_and_delivered_once() {
    if skip() {
        return;
    }
    // full's quota (1 KiB) is too small for the message: with
    // quota_full_tempfail Dovecot answers 452 4.2.2 for full alone, after
    // the data, while alice's reply is 250.
    let mut people = users(&["alice", "full"]);
    people[1].extra = "userdb_quota_rule=*:storage=1k".into();
    let dovecot = Dovecot::start(&people);
    let server = portcullis(&dovecot.lmtp_tcp(), &["alice", "full"], "");
    let mut body = b"Subject: big\r\nX-Token: big\r\n\r\n".to_vec();
    for _ in 0..80 {
        body.extend_from_slice(
            b"0123456789012345678901234567890123456789012345678901234567890123\r\n",
        );
    }
    send(
        &server,
        "carol@remote.test",
        &["alice@local.test", "full@local.test"],
        &body,
    );
    assert_eq!(dovecot.wait_messages("alice", PASSWORD, 1, WAIT).len(), 1);
    let listing = wait_queue_list(&server, |l| l.contains("4.2.2"));
    assert!(
        listing.contains("full@local.test"),
        "{listing}\n{}",
        server.log()
    );
    let alice_line = listing.lines().find(|l| l.contains("alice@local.test"));
    assert!(
        alice_line.is_some_and(|l| l.contains("delivered")),
        "{listing}"
    );
    // The quota is raised: the next retry delivers to full, and only to full.
    people[1].extra = "userdb_quota_rule=*:storage=100M".into();
    dovecot.set_users(&people);
    let full = dovecot.wait_messages("full", PASSWORD, 1, WAIT);
    assert_eq!(full.len(), 1, "{}", server.log());
    assert!(
        wait_queue_empty(&server),
        "{}",
        queue_cli(&server, &["list"])
    );
    assert_eq!(dovecot.messages("alice", PASSWORD).len(), 1);
    assert_eq!(dovecot.messages("full", PASSWORD).len(), 1);
}

#[test]
fn a_store_that_is_down_is_retried_and_gets_the_message_once() {
    if skip() {
        return;
    }
    let mut dovecot = Dovecot::prepare(&users(&["alice"]));
    let server = portcullis(&dovecot.lmtp_tcp(), &["alice"], "");
    // Accepted while the store is down: queued, never bounced.
    send(
        &server,
        "carol@remote.test",
        &["alice@local.test"],
        b"Subject: later\r\nX-Token: later\r\n\r\nWhen the store is back.\r\n",
    );
    let listing = wait_queue_list(&server, |l| l.contains("4.4.1"));
    assert!(
        listing.contains("alice@local.test"),
        "{listing}\n{}",
        server.log()
    );
    dovecot.run();
    let got = dovecot.wait_messages("alice", PASSWORD, 1, WAIT);
    assert_eq!(got.len(), 1, "{}", server.log());
    assert!(
        wait_queue_empty(&server),
        "{}",
        queue_cli(&server, &["list"])
    );
    assert_eq!(dovecot.messages("alice", PASSWORD).len(), 1);
}

#[test]
fn a_unix_socket_works_as_well() {
    if skip() {
        return;
    }
    let dovecot = Dovecot::start(&users(&["alice"]));
    let lmtp = format!("unix:{}", dovecot.lmtp_socket().display());
    let server = portcullis(&lmtp, &["alice"], "");
    send(
        &server,
        "carol@remote.test",
        &["alice@local.test"],
        b"Subject: by socket\r\nX-Token: socket\r\n\r\nOver a Unix socket.\r\n",
    );
    let got = dovecot.wait_messages("alice", PASSWORD, 1, WAIT);
    assert_eq!(got.len(), 1, "{}", server.log());
    assert!(find(&got[0], b"X-Token: socket").is_some());
    assert!(
        wait_queue_empty(&server),
        "{}",
        queue_cli(&server, &["list"])
    );
}

/// A scripted LMTP peer that takes every transaction up to the end of the
/// data and then never answers it: Portcullis is caught in the middle of
/// an LMTP delivery. Tells `seen` each time a message's data has ended.
struct StallingPeer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StallingPeer {
    fn start(port: u16, seen: mpsc::Sender<()>) -> StallingPeer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the peer");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { return };
                let seen = seen.clone();
                std::thread::spawn(move || stall(conn, seen));
            }
        });
        StallingPeer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Closes its listener (the connections it holds end with their client).
    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            t.join().expect("the peer's thread");
        }
    }
}

fn stall(conn: TcpStream, seen: mpsc::Sender<()>) {
    let mut out = conn.try_clone().expect("clone the peer's stream");
    let mut lines = BufReader::new(conn);
    let _ = out.write_all(b"220 stalling LMTP\r\n");
    let mut in_data = false;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let upper = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if in_data {
            if upper == "." {
                // The end of the data: no reply, ever.
                in_data = false;
                let _ = seen.send(());
            }
            continue;
        } else if upper.starts_with("LHLO") {
            b"250-stalling\r\n250 PIPELINING\r\n"
        } else if upper == "DATA" {
            in_data = true;
            b"354 go on\r\n"
        } else {
            b"250 ok\r\n"
        };
        let _ = out.write_all(reply);
    }
}

#[test]
fn kill_9_during_lmtp_delivery_then_restart_delivers_each_message_once() {
    if skip() {
        return;
    }
    // The store's port is first held by the stalling peer, then by Dovecot.
    let mut dovecot = Dovecot::prepare(&users(&["alice"]));
    let (seen_tx, seen) = mpsc::channel();
    let peer = StallingPeer::start(dovecot.lmtp_port, seen_tx);
    let server = portcullis(&dovecot.lmtp_tcp(), &["alice"], "");
    let tokens: Vec<String> = (0..3).map(|i| format!("crash-{i}")).collect();
    for token in &tokens {
        send(
            &server,
            "carol@remote.test",
            &["alice@local.test"],
            format!("Subject: {token}\r\nX-Token: {token}\r\n\r\nAcknowledged.\r\n").as_bytes(),
        );
    }
    // Portcullis has sent a whole message and waits for its reply: kill it there.
    seen.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("no LMTP delivery started\n{}", server.log()));
    kill_9(&server);
    // The peer goes, Dovecot comes.
    peer.stop();
    dovecot.run();
    let server = server.restart();
    dovecot.wait_messages("alice", PASSWORD, tokens.len(), WAIT);
    assert!(
        wait_queue_empty(&server),
        "{}",
        queue_cli(&server, &["list"])
    );
    let got = dovecot.messages("alice", PASSWORD);
    for token in &tokens {
        let n = got
            .iter()
            .filter(|m| find(m, format!("X-Token: {token}\r\n").as_bytes()).is_some())
            .count();
        assert_eq!(n, 1, "{token} delivered {n} times\n{}", server.log());
    }
    assert_eq!(got.len(), tokens.len());
}
