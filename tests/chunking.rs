//! BDAT (RFC 3030 CHUNKING) over real loopback SMTP: chunks pipelined
//! behind their commands make one message, delivered to the Maildir byte
//! for byte and relayed with its `.` lines dot-stuffed again; a chunk full
//! of commands never runs them, and a BDAT without a readable size ends the
//! session rather than read its chunk as commands.

use portcullis_testkit as common;

use std::net::Ipv4Addr;

use common::outbound::{routed_config, wait_queue_empty, DELIVERY_TIMEOUT, LO};
use common::sink::{Script, Sink};
use common::{find, has_enhanced, show, split_delivered, Server, Setup, IO_TIMEOUT};

/// `BDAT <len>[ LAST]` followed by the chunk, as one write.
fn chunk(content: &[u8], last: bool) -> Vec<u8> {
    let mut out = format!(
        "BDAT {}{}\r\n",
        content.len(),
        if last { " LAST" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(content);
    out
}

#[test]
fn a_pipelined_chunked_message_reaches_the_maildir_byte_for_byte() {
    let server = Server::with_users("", &[("alice", "pw-alice-77")]);
    let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 0, 2));
    let ehlo = c.ehlo("client.test");
    assert!(ehlo.iter().any(|l| l == "CHUNKING"), "{ehlo:?}");
    // Lines split across chunks, a lone `.` line and a `..` line: BDAT
    // content is never dot-stuffed, so all of it is message text.
    let first = b"From: bob@remote.example\r\nSubject: chunks\r\n\r\nline one\r\n.\r\n..two";
    let second = b" continued\r\nMAIL FROM:<x@y>\r\n";
    let mut batch = b"MAIL FROM:<bob@remote.example>\r\nRCPT TO:<alice@local.test>\r\n".to_vec();
    batch.extend_from_slice(&chunk(first, false));
    batch.extend_from_slice(&chunk(second, true));
    c.send(&batch);
    assert_eq!(c.read_reply().0, 250);
    assert_eq!(c.read_reply().0, 250);
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}");
    assert!(
        text.contains(&format!("{} octets received", first.len())),
        "{text}"
    );
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}\n{}", server.log());
    assert!(text.contains("queued as"), "{text}");
    c.quit_clean();

    let msgs = server.wait_maildir("alice", 1);
    assert_eq!(msgs.len(), 1, "{}", server.log());
    let (_, received, body) = split_delivered(&msgs[0]);
    assert!(received.contains("with ESMTP"), "{received}");
    let mut expected = first.to_vec();
    expected.extend_from_slice(second);
    assert_eq!(body, expected, "{}", show(&body));
}

#[test]
fn a_chunk_of_commands_is_content_and_a_refused_chunk_is_skipped() {
    let server = Server::with_users("", &[("alice", "pw-alice-77")]);
    let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 0, 2));
    // Refused (no MAIL), but its octets are read: the RCPT inside never runs.
    let hidden = b"MAIL FROM:<m@evil.example>\r\nRCPT TO:<alice@local.test>\r\n";
    c.send(&chunk(hidden, true));
    let (code, text) = c.read_reply();
    assert_eq!(code, 503, "{text}");
    assert!(has_enhanced(&text, "5.5.1"), "{text}");
    // The next command is read as one: the session is in step.
    let (code, text) = c.cmd("NOOP");
    assert_eq!(code, 250, "{text}");
    c.quit_clean();
    assert!(server.maildir_messages("alice").is_empty());
}

#[test]
fn a_bdat_with_an_unreadable_size_ends_the_session() {
    let server = Server::start("");
    let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 0, 2));
    c.expect("MAIL FROM:<bob@remote.example>", 250);
    c.expect("RCPT TO:<postmaster@local.test>", 250);
    c.send(b"BDAT 12x LAST\r\nQUIT\r\nNOOP\r\n");
    let (code, _) = c.read_reply();
    assert_eq!(code, 501);
    let (code, text) = c.read_reply();
    assert_eq!(code, 421, "{text}");
    c.expect_closed(IO_TIMEOUT);
}

#[test]
fn a_chunked_message_is_relayed_with_its_dot_lines_stuffed() {
    let sink = Sink::start(LO, Script::default());
    let server = Setup::new(&routed_config(sink.addr, 1, "")).start();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<alice@local.test>", 250);
    c.expect("RCPT TO:<bob@remote.test>", 250);
    // A `.` line inside BDAT content would end DATA at the next hop if it
    // were passed on unstuffed: the rest would run there as commands.
    let content = b"Subject: relay\r\n\r\nbefore\r\n.\r\nMAIL FROM:<x@y>\r\n";
    c.send(&chunk(content, true));
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}\n{}", server.log());
    c.quit_clean();

    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1, "nothing arrived\n{}", server.log());
    assert!(got[0].data.ends_with(content), "{}", show(&got[0].data));
    assert!(
        find(&got[0].wire, b"\r\n..\r\nMAIL FROM:<x@y>\r\n").is_some(),
        "{}",
        show(&got[0].wire)
    );
    assert!(wait_queue_empty(&server), "{}", server.log());
}
