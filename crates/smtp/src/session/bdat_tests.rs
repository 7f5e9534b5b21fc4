//! BDAT (RFC 3030 CHUNKING) transcripts: chunks delimited by their declared
//! sizes, read even when refused, never dot-stuffed, checked like DATA.

use super::tests::{cfg, Client, HOST};
use super::*;

/// A session past EHLO, MAIL and one accepted RCPT.
fn in_transaction() -> Client {
    let mut c = Client::greeted(cfg());
    assert_eq!(
        c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\n"),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
    );
    c
}

#[test]
fn ehlo_advertises_chunking_and_help_lists_bdat() {
    let mut c = Client::connected(cfg());
    assert!(c.say(b"EHLO c\r\n").contains("250 CHUNKING\r\n"));
    assert!(c.say(b"HELP\r\n").contains(" BDAT "));
}

#[test]
fn chunks_make_one_message_with_dots_kept() {
    let mut c = in_transaction();
    assert_eq!(
        c.say(b"BDAT 14\r\nSubject: x\r\n\r\n"),
        "250 2.0.0 Ok: 14 octets received\r\n"
    );
    assert_eq!(
        c.say(b"BDAT 10 LAST\r\n.\r\n..end\r\n"),
        "250 2.0.0 Ok: queued as Q1\r\n"
    );
    assert_eq!(c.messages.len(), 1);
    assert_eq!(c.messages[0].body, b"Subject: x\r\n\r\n.\r\n..end\r\n");
    assert_eq!(c.messages[0].recipients, [super::tests::mailbox("r", HOST)]);
    // The transaction is over: a new one starts with MAIL.
    assert_eq!(
        c.say(b"BDAT 1 LAST\r\nx"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
}

#[test]
fn a_pipelined_transaction_gets_its_replies_in_one_write() {
    let mut c = Client::greeted(cfg());
    c.s.feed(
        b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nBDAT 5\r\nhel\r\nBDAT 0 LAST\r\nQUIT\r\n",
        c.now,
    );
    assert_eq!(
        c.run(),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 5 octets received\r\n\
         250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 Bye\r\n"
    );
    assert_eq!(c.messages[0].body, b"hel\r\n");
}

#[test]
fn chunk_octets_split_across_reads_and_commands_inside_them_never_run() {
    let mut c = in_transaction();
    assert_eq!(c.say(b"BDAT 34 LAST\r\nQUIT\r\n"), "");
    assert_eq!(c.say(b"RSET\r\nMAIL FROM:<e@vil>\r\n"), "");
    assert!(!c.closed);
    assert_eq!(
        c.say(b"x\r\nNOOP\r\n"),
        "250 2.0.0 Ok: queued as Q1\r\n250 2.0.0 Ok\r\n"
    );
    assert_eq!(
        c.messages[0].body,
        b"QUIT\r\nRSET\r\nMAIL FROM:<e@vil>\r\nx\r\n"
    );
}

#[test]
fn a_last_chunk_ending_mid_line_gets_its_crlf() {
    let mut c = in_transaction();
    assert_eq!(
        c.say(b"BDAT 5 LAST\r\nhello"),
        "250 2.0.0 Ok: queued as Q1\r\n"
    );
    assert_eq!(c.messages[0].body, b"hello\r\n");
}

#[test]
fn refused_bdat_still_consumes_its_chunk() {
    let mut c = Client::greeted(cfg());
    // No MAIL: the chunk (which looks like commands) is skipped, then 503.
    assert_eq!(
        c.say(b"BDAT 17\r\nRCPT TO:<x@y.z>\r\nNOOP\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n"
    );
    // MAIL but no recipient.
    c.say(b"MAIL FROM:<a@b.test>\r\n");
    assert_eq!(
        c.say(b"BDAT 4 LAST\r\nDATA"),
        "503 5.5.1 Error: need RCPT command\r\n"
    );
    assert!(c.messages.is_empty());
}

#[test]
fn submission_needs_auth_before_bdat_too() {
    let mut c = Client::greeted(SessionConfig {
        require_auth: true,
        ..cfg()
    });
    assert_eq!(
        c.say(b"BDAT 6 LAST\r\nQUIT\r\n"),
        "530 5.7.0 Authentication required\r\n"
    );
    assert!(!c.closed);
}

#[test]
fn data_and_rcpt_after_bdat_are_out_of_sequence() {
    let mut c = in_transaction();
    c.say(b"BDAT 3\r\nab\n");
    assert_eq!(c.say(b"DATA\r\n"), "503 5.5.1 Error: DATA after BDAT\r\n");
    assert_eq!(
        c.say(b"RCPT TO:<s@mx.test>\r\n"),
        "503 5.5.1 Error: RCPT after BDAT\r\n"
    );
    assert_eq!(
        c.say(b"MAIL FROM:<a@b.test>\r\n"),
        "503 5.5.1 Error: nested MAIL command\r\n"
    );
    // The transaction goes on; RSET would abort it.
    assert_eq!(c.say(b"BDAT 0 LAST\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
    assert_eq!(c.messages[0].body, b"ab\r\n", "bare LF stored as CRLF");
}

#[test]
fn rset_between_chunks_drops_the_message() {
    let mut c = in_transaction();
    c.say(b"BDAT 3\r\nab\n");
    assert_eq!(c.say(b"RSET\r\n"), "250 2.0.0 Ok\r\n");
    assert_eq!(
        c.say(b"BDAT 1 LAST\r\nx"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
    assert!(c.messages.is_empty());
}

#[test]
fn an_oversized_message_is_refused_at_the_chunk_that_overflows() {
    let mut c = Client::greeted(SessionConfig {
        max_message_size: 10,
        ..cfg()
    });
    c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\n");
    assert_eq!(
        c.say(b"BDAT 6\r\n12345\n"),
        "250 2.0.0 Ok: 6 octets received\r\n"
    );
    assert_eq!(
        c.say(b"BDAT 8\r\n1234567\n"),
        "552 5.3.4 Message size exceeds fixed limit\r\n"
    );
    // RFC 3030 §2: after a failed chunk the transaction is over.
    assert_eq!(
        c.say(b"BDAT 2 LAST\r\nab"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
    assert!(c.messages.is_empty());
}

#[test]
fn smuggling_shapes_are_refused_as_in_data() {
    for (content, reply) in [
        (&b"a\r\n.\rMAIL"[..], "550 5.6.11 Bare CR not allowed"),
        (b"a\rb\r\n", "550 5.6.11 Bare CR not allowed"),
    ] {
        let mut c = in_transaction();
        let mut input = format!("BDAT {} LAST\r\n", content.len()).into_bytes();
        input.extend_from_slice(content);
        assert_eq!(c.say(&input), format!("{reply}\r\n"));
        assert!(c.messages.is_empty());
    }
    let mut c = Client::greeted(SessionConfig {
        bare_lf: BareLf::Reject,
        ..cfg()
    });
    c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\n");
    assert_eq!(
        c.say(b"BDAT 9 LAST\r\na\n.\nQUIT\n"),
        "550 5.6.11 Bare LF not allowed\r\n"
    );
}

#[test]
fn a_bdat_without_a_readable_size_closes_the_session() {
    for line in [
        &b"BDAT\r\n"[..],
        b"BDAT x LAST\r\n",
        b"BDAT 99999999999999999999999 LAST\r\n",
        b"bdat 5 LAST extra\r\n",
    ] {
        let mut c = in_transaction();
        let out = c.say(line);
        assert!(out.starts_with("501 5.5.4 "), "{line:?}: {out}");
        assert!(out
            .ends_with("421 4.7.0 Cannot find the end of the BDAT chunk, closing connection\r\n"));
        assert!(c.closed, "{line:?}");
    }
}

#[test]
fn binarymime_is_not_offered_so_it_is_refused() {
    let mut c = Client::greeted(cfg());
    assert_eq!(
        c.say(b"MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n"),
        "555 5.5.4 BODY=BINARYMIME is not supported\r\n"
    );
}

#[test]
fn a_slow_chunk_times_out_on_the_data_timeout() {
    let mut c = in_transaction();
    c.say(b"BDAT 100 LAST\r\nsome");
    let deadline = c.s.deadline();
    assert_eq!(deadline, c.now + c.s.cfg.timeouts.data_block);
    c.s.on_timeout(deadline);
    assert_eq!(c.run(), "421 4.4.2 mx.test Error: timeout exceeded\r\n");
    assert!(c.closed);
    assert!(c.messages.is_empty());
}

#[test]
fn shutdown_waits_for_the_chunk_in_progress() {
    let mut c = in_transaction();
    c.say(b"BDAT 4 LAST\r\nab");
    c.s.begin_shutdown();
    assert_eq!(c.run(), "");
    assert_eq!(
        c.say(b"cd"),
        "250 2.0.0 Ok: queued as Q1\r\n421 4.3.2 Service shutting down\r\n"
    );
    assert!(c.closed);
}

#[test]
fn a_huge_chunk_is_read_in_bounded_memory() {
    let mut c = in_transaction();
    c.say(b"BDAT 1000000000 LAST\r\n");
    let block = [b'z'; 4096];
    for _ in 0..2000 {
        c.s.feed(&block, c.now);
        assert_eq!(c.run(), "");
        assert!(c.s.input.held() <= 4096 + super::framing::MAX_LINE);
        let held =
            c.s.transaction
                .as_ref()
                .unwrap()
                .chunks
                .as_ref()
                .unwrap()
                .held();
        assert!(held <= 4 * 4096, "held {held}");
    }
}
