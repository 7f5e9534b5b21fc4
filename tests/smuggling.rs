//! SMTP smuggling (SEC Consult, 2023; CVE-2023-51764 and friends): a `.`
//! line next to a bare LF or bare CR must never end the data, so what
//! follows can never run as a second transaction (docs/reference.md §6: end of data is
//! exactly `<CRLF>.<CRLF>`).
//!
//! Each payload hides `MAIL FROM / RCPT TO:<alice@local.test> / DATA /
//! smuggled` behind a fake end of data. The server must answer the real end
//! of data exactly once, and alice must get at most one message: with a bare
//! LF the whole payload is one message (bare LF normalised to CRLF, the
//! default), with a bare CR it is rejected with `550 5.6.11`.

use portcullis_testkit as common;

use common::{find, has_enhanced, show, Server};

/// What the hidden second transaction looks like, after the fake end.
const HIDDEN: &[u8] = b"MAIL FROM:<x@y>\r\nRCPT TO:<alice@local.test>\r\nDATA\r\nsmuggled\r\n.\r\n";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// One message holding everything (bare LF normalised).
    OneMessage,
    /// `550 5.6.11` and nothing delivered (bare CR).
    RejectedBareCr,
    /// Any 5xx and nothing delivered (`smtp.bare_lf = "reject"`).
    Rejected,
}

fn smuggle(extra_toml: &str, fake_end: &[u8], expect: Expect) {
    let server = Server::with_users(extra_toml, &[("alice", "pw-alice-77")]);
    let mut c = server.ehlo_from(std::net::Ipv4Addr::new(127, 0, 0, 2));
    c.expect("MAIL FROM:<mallory@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    c.expect("DATA", 354);
    let mut payload =
        b"From: mallory@remote.example\r\nSubject: smuggling\r\n\r\nfirst part".to_vec();
    payload.extend_from_slice(fake_end);
    payload.extend_from_slice(HIDDEN);
    c.send(&payload);
    let (code, text) = c.read_reply();
    // Any reply beyond the one to the real end would come before QUIT's 221.
    c.send(b"QUIT\r\n");
    match c.try_read_reply(common::IO_TIMEOUT) {
        Ok((221, _)) => {}
        other => panic!(
            "fake end {:?}: after {text:?} expected only QUIT's 221, got {other:?}",
            show(fake_end)
        ),
    }
    match expect {
        Expect::OneMessage => {
            assert_eq!(code, 250, "fake end {:?}: {text}", show(fake_end));
        }
        Expect::RejectedBareCr => {
            assert_eq!(code, 550, "fake end {:?}: {text}", show(fake_end));
            assert!(
                has_enhanced(&text, "5.6.11"),
                "fake end {:?}: {text}",
                show(fake_end)
            );
        }
        Expect::Rejected => {
            assert!(
                (500..600).contains(&code),
                "fake end {:?}: {text}",
                show(fake_end)
            );
        }
    }
    // A (wrong) second delivery would be stored before its session ends.
    let want = usize::from(expect == Expect::OneMessage);
    if want == 1 {
        server.wait_maildir("alice", 1);
    }
    server.wait_sessions_done();
    let msgs = server.maildir_messages("alice");
    assert_eq!(
        msgs.len(),
        want,
        "fake end {:?}: alice has {} messages: {:?}",
        show(fake_end),
        msgs.len(),
        msgs.iter().map(|m| show(m)).collect::<Vec<_>>()
    );
    if let Some(msg) = msgs.first() {
        // The hidden transaction is data of the one message, not a command.
        assert!(
            find(msg, b"smuggled").is_some(),
            "message lost its tail: {}",
            show(msg)
        );
        assert!(
            find(msg, b"MAIL FROM:<x@y>").is_some(),
            "message lost its tail: {}",
            show(msg)
        );
        assert!(
            find(msg, b"\r\n").is_some() && !has_bare_lf(msg),
            "bare LF stored: {}",
            show(msg)
        );
    }
    assert!(
        server.wait_queue_empty(),
        "queue not empty: {:?}",
        server.queue_listing()
    );
}

fn has_bare_lf(msg: &[u8]) -> bool {
    msg.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || msg[i - 1] != b'\r'))
}

#[test]
fn lf_dot_lf_is_data() {
    smuggle("", b"\n.\n", Expect::OneMessage);
}

#[test]
fn crlf_dot_lf_is_data() {
    smuggle("", b"\r\n.\n", Expect::OneMessage);
}

#[test]
fn lf_dot_crlf_is_data() {
    smuggle("", b"\n.\r\n", Expect::OneMessage);
}

#[test]
fn cr_dot_crlf_is_rejected_as_bare_cr() {
    smuggle("", b"\r.\r\n", Expect::RejectedBareCr);
}

#[test]
fn crlf_dot_cr_crlf_is_rejected_as_bare_cr() {
    smuggle("", b"\r\n.\r\r\n", Expect::RejectedBareCr);
}

#[test]
fn crlf_dot_cr_is_rejected_as_bare_cr() {
    smuggle("", b"\r\n.\r", Expect::RejectedBareCr);
}

#[test]
fn bare_lf_reject_mode_rejects_lf_dot_lf() {
    smuggle("[smtp]\nbare_lf = \"reject\"\n", b"\n.\n", Expect::Rejected);
}

#[test]
fn bare_lf_reject_mode_rejects_crlf_dot_lf() {
    smuggle(
        "[smtp]\nbare_lf = \"reject\"\n",
        b"\r\n.\n",
        Expect::Rejected,
    );
}

#[test]
fn pipelined_commands_after_real_end_run_in_order_once() {
    // The honest counterpart: a real end of data followed by a pipelined
    // transaction is two messages, each answered once, in order.
    let server = Server::with_users("", &[("alice", "pw-alice-88")]);
    let mut c = server.ehlo_from(std::net::Ipv4Addr::new(127, 0, 0, 2));
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    c.expect("DATA", 354);
    c.send(b"Subject: one\r\n\r\nfirst\r\n.\r\nMAIL FROM:<b@remote.example>\r\nRCPT TO:<alice@local.test>\r\nDATA\r\n");
    let replies: Vec<u16> = (0..4).map(|_| c.read_reply().0).collect();
    assert_eq!(replies, vec![250, 250, 250, 354]);
    c.send(b"Subject: two\r\n\r\nsecond\r\n.\r\n");
    assert_eq!(c.read_reply().0, 250);
    c.quit_clean();
    assert_eq!(server.wait_maildir("alice", 2).len(), 2);
}

/// The NUL payloads of the public SMTP smuggling scanners (SEC Consult's
/// smtp-smuggling-tools, smtpsmug): a next hop that strips NUL would read
/// `<CRLF>.<CRLF>` there.
const NUL_FAKE_ENDS: &[&[u8]] = &[
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\n\x00.\r\n",
    b"\x00.\r\n",
    b"\r\n\x00.\n",
    b"\r\n\x00.\x00\r\n",
    b"\r\n\x00.\r",
];

/// What the server must answer to `fake_end`: `550 5.6.0` for a NUL, or
/// the bare-CR `550 5.6.11` when the payload also holds one.
fn expect_nul_refusal(fake_end: &[u8], how: &str, (code, text): (u16, String)) {
    let bare_cr =
        fake_end.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n') || fake_end.ends_with(b"\r");
    let wanted = if bare_cr { "5.6.11" } else { "5.6.0" };
    assert!(
        code == 550 && has_enhanced(&text, wanted),
        "{how} with {:?}: wanted 550 {wanted}, got {code} {text}",
        show(fake_end)
    );
}

#[test]
fn nul_in_data_or_bdat_is_refused_and_never_stored_or_relayed() {
    use common::outbound::{routed_config, wait_maildir, DELIVERY_TIMEOUT, LO};
    use common::sink::{Script, Sink};
    let sink = Sink::start(LO, Script::default());
    let setup = common::Setup::new(&routed_config(sink.addr, 1, ""));
    setup.add_user("alice", "pw-alice-99");
    let server = setup.start();
    let rcpts = ["alice@local.test", "bob@remote.test"];
    for fake_end in NUL_FAKE_ENDS {
        let mut content = b"From: mallory@remote.example\r\n\r\nfirst part".to_vec();
        content.extend_from_slice(fake_end);
        content.extend_from_slice(HIDDEN);
        // DATA: refused once the real end has been read, nothing runs after.
        let mut c = server.ehlo_from(std::net::Ipv4Addr::LOCALHOST);
        c.expect("MAIL FROM:<mallory@remote.example>", 250);
        for r in rcpts {
            c.expect(&format!("RCPT TO:<{r}>"), 250);
        }
        c.expect("DATA", 354);
        // HIDDEN ends in the real end of data.
        c.send(&content);
        expect_nul_refusal(fake_end, "DATA", c.read_reply());
        c.quit_clean();
        // BDAT: the same content as one last chunk.
        let mut c = server.ehlo_from(std::net::Ipv4Addr::LOCALHOST);
        c.expect("MAIL FROM:<mallory@remote.example>", 250);
        for r in rcpts {
            c.expect(&format!("RCPT TO:<{r}>"), 250);
        }
        let mut wire = format!("BDAT {} LAST\r\n", content.len()).into_bytes();
        wire.extend_from_slice(&content);
        c.send(&wire);
        expect_nul_refusal(fake_end, "BDAT", c.read_reply());
        c.quit_clean();
    }
    // A clean message after them: once it has arrived, anything wrongly
    // accepted before it would have too.
    let mut c = server.ehlo_from(std::net::Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail("a@remote.example", &rcpts, b"Subject: clean\r\n\r\nok\r\n");
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    let local = wait_maildir(&server, "alice", 1);
    let relayed = sink.wait_for(1, DELIVERY_TIMEOUT);
    server.wait_sessions_done();
    let local_now = server.maildir_messages("alice");
    assert_eq!(
        local_now.len(),
        1,
        "stored: {:?}",
        local.iter().map(|m| show(m)).collect::<Vec<_>>()
    );
    assert_eq!(sink.received().len(), 1, "relayed: {relayed:?}");
    assert!(!local_now[0].contains(&0) && !relayed[0].data.contains(&0));
    assert!(find(&relayed[0].data, b"Subject: clean").is_some());
}

#[test]
fn a_lone_dot_before_a_bare_lf_is_stored_as_a_dot_line_and_stuffed_on_relay() {
    use common::outbound::{routed_config, wait_maildir, DELIVERY_TIMEOUT, LO};
    use common::sink::{Script, Sink};
    let sink = Sink::start(LO, Script::default());
    let setup = common::Setup::new(&routed_config(sink.addr, 1, ""));
    setup.add_user("alice", "pw-alice-98");
    let server = setup.start();
    let mut c = server.ehlo_from(std::net::Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    c.expect("RCPT TO:<bob@remote.test>", 250);
    c.expect("DATA", 354);
    // `.` then a bare LF: data (not the end), and never stuffed.
    c.send(b"Subject: dot\r\n\r\nbefore\r\n.\nafter\r\n.\r\n");
    assert_eq!(c.read_reply().0, 250);
    c.quit_clean();
    let local = wait_maildir(&server, "alice", 1);
    assert_eq!(local.len(), 1);
    assert!(
        find(&local[0], b"\r\nbefore\r\n.\r\nafter\r\n").is_some(),
        "stored as {}",
        show(&local[0])
    );
    let relayed = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(relayed.len(), 1, "{}", server.log());
    assert!(
        find(&relayed[0].wire, b"\r\nbefore\r\n..\r\nafter\r\n").is_some(),
        "relayed as {}",
        show(&relayed[0].wire)
    );
}
