//! Protocol limits and errors with their exact replies (docs/reference.md §6): line
//! length, message size, recipients, command order, syntax, bare CR, the
//! error limit and the command timeout; plus the EHLO keywords and
//! PIPELINING (RFC 2920) ordering.

use portcullis_testkit as common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{has_enhanced, Server};

const LIMITS: &str = "[limits]\nmessage_size = 10000\nrecipients = 3\n";

fn server() -> Server {
    Server::with_users(LIMITS, &[("alice", "pw-alice-limits")])
}

#[test]
fn ehlo_advertises_the_promised_extensions() {
    let server = server();
    let mut c = server.client();
    let (code, text) = c.cmd("EHLO client.test");
    assert_eq!(code, 250, "{text}");
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("250-mx.test") || first.starts_with("250 mx.test"),
        "greeting line: {first}"
    );
    let keywords = c.ehlo("client.test");
    for kw in [
        "PIPELINING",
        "SIZE",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
        "STARTTLS",
    ] {
        assert!(keywords.iter().any(|k| k == kw), "EHLO lacks {kw}: {text}");
    }
    // RFC 1870 §4: SIZE carries the fixed limit.
    assert!(
        text.contains("SIZE 10000"),
        "SIZE does not say 10000: {text}"
    );
}

#[test]
fn overlong_command_line_is_refused_and_its_tail_never_runs() {
    let server = server();
    // Tails that would do harm if the server split the line and ran the rest.
    for prefix_len in [998usize, 999, 1000, 1001, 1024, 4000] {
        let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
        let mut line = b"NOOP ".to_vec();
        line.resize(prefix_len, b'x');
        line.extend_from_slice(b"QUIT\r\n");
        c.send(&line);
        let (code, text) = c.read_reply();
        assert_eq!(code, 500, "line of {} octets: {text}", line.len());
        assert!(
            has_enhanced(&text, "5.5.2"),
            "line of {} octets: {text}",
            line.len()
        );
        // If the tail ran as QUIT we would read 221 here, if it ran as
        // anything else an extra reply would precede the NOOP's 250.
        c.expect("NOOP", 250);
        c.quit_clean();
    }
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    // A line of exactly 1000 octets with its CRLF is within RFC 5321 §4.5.3.1.4.
    let mut line = b"NOOP ".to_vec();
    line.resize(998, b'y');
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    assert_eq!(c.read_reply().0, 250, "a 1000-octet line must be accepted");
    c.quit_clean();
}

#[test]
fn message_over_the_size_limit_is_refused_after_its_end() {
    let server = server();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<big@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    c.expect("DATA", 354);
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..300 {
        body.extend_from_slice(&[b'z'; 78]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    c.send(&body);
    let (code, text) = c.read_reply();
    assert_eq!(code, 552, "{text}");
    assert!(has_enhanced(&text, "5.3.4"), "{text}");
    // The session goes on, and a message under the limit still passes.
    let (code, text) = c.send_mail(
        "small@remote.example",
        &["alice@local.test"],
        b"Subject: small\r\n\r\nok\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.quit_clean();
    let msgs = server.wait_maildir("alice", 1);
    server.wait_sessions_done();
    assert_eq!(
        server.maildir_messages("alice").len(),
        1,
        "only the small message is delivered"
    );
    assert!(common::find(&msgs[0], b"Subject: small").is_some());
}

#[test]
fn size_parameter_over_the_limit_is_refused_at_mail() {
    let server = server();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect_enhanced("MAIL FROM:<a@b.example> SIZE=999999999", 552, "5.3.4");
    c.expect_enhanced("MAIL FROM:<a@b.example> SIZE=10001", 552, "5.3.4");
    c.expect("MAIL FROM:<a@b.example> SIZE=9000", 250);
    c.quit_collect();
}

#[test]
fn recipients_over_the_limit_get_452() {
    let server = server();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<many@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    c.expect("RCPT TO:<postmaster@local.test>", 250);
    c.expect("RCPT TO:<alice+two@local.test>", 250);
    c.expect_enhanced("RCPT TO:<alice+three@local.test>", 452, "4.5.3");
    // RFC 5321 §4.5.3.1.10: the accepted ones still get the message.
    c.expect("DATA", 354);
    c.send(b"Subject: three\r\n\r\nthree recipients\r\n.\r\n");
    assert_eq!(c.read_reply().0, 250);
    c.quit_clean();
}

#[test]
fn commands_out_of_sequence_get_503() {
    let server = server();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect_enhanced("RCPT TO:<alice@local.test>", 503, "5.5.1");
    c.expect_enhanced("DATA", 503, "5.5.1");
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.expect_enhanced("MAIL FROM:<b@remote.example>", 503, "5.5.1");
    c.expect_enhanced("DATA", 503, "5.5.1");
    c.expect("RSET", 250);
    c.expect_enhanced("RCPT TO:<alice@local.test>", 503, "5.5.1");
    c.quit_collect();
}

#[test]
fn bad_syntax_gets_501_and_unknown_commands_500() {
    let server = server();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.cmd("MAIL FROM:alice@local.test");
    assert_eq!(code, 501, "MAIL without angle brackets: {text}");
    let (code, text) = c.cmd("MAIL FROM:<a@b@c>");
    assert_eq!(code, 501, "two @: {text}");
    c.expect("MAIL FROM:<a@remote.example>", 250);
    let (code, text) = c.cmd("RCPT TO:<bob@@remote.example>");
    assert_eq!(code, 501, "double @: {text}");
    let (code, text) = c.cmd("RCPT TO:<>");
    assert!(code == 501 || code == 553, "null forward-path: {text}");
    c.quit_collect();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.cmd("FROBNICATE now");
    assert_eq!(code, 500, "unknown command: {text}");
    c.quit_collect();
}

#[test]
fn data_with_a_cr_inside_the_verb_is_not_data() {
    let server = server();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    c.send(b"DA\rTA\r\n");
    let (code, text) = c.read_reply();
    assert!(
        (500..=501).contains(&code),
        "DA<CR>TA must be a syntax error, got {text}"
    );
    // The transaction is intact: a real DATA still works.
    c.expect("DATA", 354);
    c.send(b"Subject: real\r\n\r\nreal data\r\n.\r\n");
    assert_eq!(c.read_reply().0, 250);
    c.quit_clean();
    assert_eq!(server.wait_maildir("alice", 1).len(), 1);
}

#[test]
fn bare_cr_in_data_is_rejected_with_5_6_11() {
    let server = server();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    c.expect("DATA", 354);
    c.send(b"Subject: cr\r\n\r\nbad\rline\r\nmore\r\n.\r\n");
    let (code, text) = c.read_reply();
    assert_eq!(code, 550, "{text}");
    assert!(has_enhanced(&text, "5.6.11"), "{text}");
    c.expect("NOOP", 250);
    c.quit_clean();
    server.wait_sessions_done();
    assert!(
        server.maildir_messages("alice").is_empty(),
        "a message with a bare CR was delivered"
    );
}

#[test]
fn too_many_errors_end_the_session_with_421() {
    let server = Server::start("[limits]\nerrors = 5\n");
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let mut codes = Vec::new();
    for _ in 0..30 {
        c.send_lossy(b"BOGUS command\r\n");
        match c.try_read_reply(common::IO_TIMEOUT) {
            Ok((code, _)) => {
                codes.push(code);
                if code == 421 {
                    break;
                }
            }
            Err(e) => panic!("connection ended without 421 after {codes:?}: {e:?}"),
        }
    }
    assert_eq!(
        codes.last(),
        Some(&421),
        "no 421 after 30 errors: {codes:?}"
    );
    assert!(
        codes.len() >= 2,
        "closed before the first error was even answered: {codes:?}"
    );
    c.expect_closed(common::IO_TIMEOUT);
}

#[test]
fn idle_client_gets_421_4_4_2_after_command_timeout() {
    let server = Server::start("[limits]\ncommand_timeout = 2\n");
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let started = Instant::now();
    let (code, text) = c
        .try_read_reply(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("no 421 within 10 s of silence: {e:?}"));
    assert_eq!(code, 421, "{text}");
    assert!(has_enhanced(&text, "4.4.2"), "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "timed out too early: {:?}",
        started.elapsed()
    );
    c.expect_closed(common::IO_TIMEOUT);
}

#[test]
fn pipelined_commands_get_their_replies_in_order() {
    let server = server();
    let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 0, 2));
    c.send(
        b"MAIL FROM:<carol@remote.example>\r\n\
          RCPT TO:<alice@local.test>\r\n\
          RCPT TO:<nosuch@local.test>\r\n\
          RCPT TO:<bob@remote.example>\r\n\
          RCPT TO:<postmaster@local.test>\r\n\
          DATA\r\n",
    );
    let replies: Vec<(u16, String)> = (0..6).map(|_| c.read_reply()).collect();
    let codes: Vec<u16> = replies.iter().map(|r| r.0).collect();
    assert_eq!(codes, vec![250, 250, 550, 554, 250, 354], "{replies:?}");
    assert!(has_enhanced(&replies[2].1, "5.1.1"), "{replies:?}");
    assert!(has_enhanced(&replies[3].1, "5.7.1"), "{replies:?}");
    c.send(b"Subject: pipelined\r\n\r\nhello\r\n.\r\nNOOP\r\n");
    assert_eq!(c.read_reply().0, 250);
    assert_eq!(c.read_reply().0, 250);
    c.quit_clean();
    assert_eq!(server.wait_maildir("alice", 1).len(), 1);
}
