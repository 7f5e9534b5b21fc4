//! Per-session abuse limits (issue 7 §4): commands before MAIL, errors per
//! session, idle time and total session time, and early talkers. Each test
//! drives one limit over the edge, checks the reply and the close, then
//! checks that a well-behaved client is still served.

use portcullis_testkit as common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use common::{has_enhanced, Server, IO_TIMEOUT};

const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);

/// One message from `CLIENT`, asserted 250, then QUIT.
fn served(server: &Server) {
    let mut c = server.ehlo_from(CLIENT);
    let (code, text) = c.send_mail(
        "a@remote.test",
        &["postmaster@local.test"],
        b"Subject: hi\r\n\r\nhello\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.quit_clean();
}

#[test]
fn too_many_commands_before_mail_get_421_4_7_0() {
    let server = Server::start("[limits]\ncommands_before_mail = 5\n");
    let mut c = server.client_from(CLIENT);
    c.ehlo("client.test");
    for _ in 0..3 {
        c.expect("NOOP", 250);
    }
    c.expect("VRFY postmaster", 252);
    // The sixth command is not answered: the session ends instead.
    let (code, text) = c.cmd("NOOP");
    assert_eq!(code, 421, "{text}");
    assert!(has_enhanced(&text, "4.7.0"), "{text}");
    c.expect_closed(IO_TIMEOUT);

    // MAIL starts over: a client sending mail is never cut off by it.
    let mut c = server.ehlo_from(CLIENT);
    for _ in 0..3 {
        c.expect("NOOP", 250);
        let (code, text) = c.send_mail("a@remote.test", &["postmaster@local.test"], b"x\r\n");
        assert_eq!(code, 250, "{text}");
    }
    c.quit_clean();
    served(&server);
}

#[test]
fn thousands_of_pipelined_commands_are_cut_off_at_the_limit() {
    let server = Server::start("[limits]\ncommands_before_mail = 50\n");
    let mut c = server.client_from(CLIENT);
    let burst = b"NOOP\r\n".repeat(5000);
    c.send_lossy(&burst);
    let mut ok = 0;
    let closing = loop {
        match c.try_read_reply(IO_TIMEOUT) {
            Ok((250, _)) => ok += 1,
            Ok((code, text)) => break (code, text),
            Err(e) => panic!("no 421 after {ok} replies: {e:?}\n{}", server.log()),
        }
    };
    // The greeting was read already; EHLO was never sent: 50 NOOPs answered.
    assert_eq!(ok, 50, "replies before the cut");
    assert_eq!(closing.0, 421, "{}", closing.1);
    assert!(has_enhanced(&closing.1, "4.7.0"), "{}", closing.1);
    served(&server);
}

#[test]
fn a_pipelined_message_to_160_recipients_is_stored_once_and_acknowledged() {
    // Issue 11: the default limits (100 recipients, 50 commands before
    // MAIL). MAIL, 160 RCPTs, BDAT LAST and the body in one write.
    let server = Server::with_users("", &[("alice", "pw-alice-160")]);
    let mut c = server.ehlo_from(CLIENT);
    let body = b"Subject: many\r\n\r\nhello\r\n";
    let transaction = |range: std::ops::Range<u32>| {
        let mut w = b"MAIL FROM:<a@remote.test>\r\n".to_vec();
        for n in range {
            w.extend_from_slice(format!("RCPT TO:<alice+{n}@local.test>\r\n").as_bytes());
        }
        w.extend_from_slice(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
        w.extend_from_slice(body);
        w
    };
    c.send(&transaction(0..160));
    let replies: Vec<(u16, String)> = (0..162).map(|_| c.read_reply()).collect();
    let count = |code: u16| replies.iter().filter(|r| r.0 == code).count();
    assert_eq!(replies[0].0, 250);
    assert_eq!(count(452), 60, "{replies:?}");
    let last = &replies[161];
    assert!(
        last.0 == 250 && last.1.contains("queued as"),
        "the stored message was not acknowledged: {last:?}"
    );
    // RFC 5321 §4.5.3.1.10: the refused ones go in a second transaction.
    c.send(&transaction(100..160));
    let replies: Vec<(u16, String)> = (0..62).map(|_| c.read_reply()).collect();
    assert!(replies.iter().all(|r| r.0 == 250), "{replies:?}");
    c.quit_clean();
    // Stored exactly once per transaction (the recipients share a Maildir).
    assert_eq!(server.wait_maildir("alice", 2).len(), 2);
    server.wait_sessions_done();
    assert_eq!(server.maildir_messages("alice").len(), 2);
}

#[test]
fn too_many_errors_get_421_4_7_0() {
    let server = Server::start("[limits]\nerrors = 3\n");
    let mut c = server.client_from(CLIENT);
    c.expect("FOO", 500);
    c.expect("RCPT TO:<a@local.test>", 503);
    let (code, text) = c.cmd("BAR");
    assert!(code >= 500, "{text}");
    let (code, text) = c.read_reply();
    assert_eq!(code, 421, "{text}");
    assert!(has_enhanced(&text, "4.7.0"), "{text}");
    // The reply names the limit, so the admin knows which knob to turn.
    assert!(text.contains("(limits.errors = 3)"), "{text}");
    c.expect_closed(IO_TIMEOUT);
    served(&server);
}

#[test]
fn an_idle_client_gets_421_4_4_2() {
    let server = Server::start("[limits]\ncommand_timeout = 1\n");
    let mut c = server.ehlo_from(CLIENT);
    let started = Instant::now();
    let (code, text) = c
        .try_read_reply(Duration::from_secs(5))
        .expect("a reply on idle timeout");
    assert_eq!(code, 421, "{text}");
    assert!(has_enhanced(&text, "4.4.2"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    c.expect_closed(IO_TIMEOUT);
    served(&server);
}

#[test]
fn a_busy_session_still_ends_at_the_session_time_limit() {
    let server = Server::start("[limits]\nsession_time = 2\ncommand_timeout = 60\n");
    let mut c = server.ehlo_from(CLIENT);
    let started = Instant::now();
    // Never idle: a command every 200 ms.
    let text = loop {
        let (code, text) = c.cmd("NOOP");
        if code != 250 {
            assert_eq!(code, 421, "{text}");
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "no session time limit"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(has_enhanced(&text, "4.4.2"), "{text}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(4),
        "{took:?}"
    );
    c.expect_closed(IO_TIMEOUT);
    served(&server);
}

#[test]
fn a_client_talking_before_the_greeting_gets_554_and_is_closed() {
    let server = Server::start("[limits]\ngreeting_delay_ms = 300\n");
    let mut raw = TcpStream::connect(server.smtp_addr()).unwrap();
    raw.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // No waiting for the 220: a spam engine's pipelined dialogue.
    raw.write_all(b"EHLO early.test\r\nMAIL FROM:<a@remote.test>\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = raw.read_to_end(&mut got);
    let got = String::from_utf8_lossy(&got).to_string();
    assert!(got.starts_with("554 5.5.1 "), "{got:?}");
    assert!(!got.contains("220"), "greeted an early talker: {got:?}");
    // A client that waits is greeted after the delay and served.
    let started = Instant::now();
    served(&server);
    assert!(started.elapsed() >= Duration::from_millis(300));
}
