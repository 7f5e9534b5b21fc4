//! The transaction's rules, one scripted exchange each.

use super::*;

fn r(code: u16) -> Reply {
    let class = u8::try_from(code / 100).unwrap();
    Reply::new(code, (class, 0, 0), format!("reply {code}"))
}

fn rcpts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn classes(o: &Outcome) -> Vec<Classified> {
    o.results.iter().map(RcptResult::class).collect()
}

/// Drives a transaction with scripted replies; returns what was written
/// (the message as `<MSG>`) and the outcome.
fn run(pipelining: bool, to: &[&str], replies: &[u16]) -> (String, Outcome) {
    let mut tx = Transaction::new("a@s.test", rcpts(to), MailOptions::default(), pipelining);
    let mut wire = String::new();
    let mut replies = replies.iter();
    let mut step = tx.start();
    loop {
        match step {
            Step::Send(bytes) => wire.push_str(&String::from_utf8(bytes).unwrap()),
            Step::SendMessage => wire.push_str("<MSG>"),
            Step::Read => {}
            Step::Done(outcome) => return (wire, outcome),
        }
        let code = *replies.next().expect("the transaction wants another reply");
        step = tx.on_reply(r(code));
    }
}

#[test]
fn without_pipelining_each_command_waits_for_its_reply() {
    let (wire, o) = run(false, &["b@r.test", "c@r.test"], &[250, 250, 250, 354, 250]);
    assert_eq!(
        wire,
        "MAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nRCPT TO:<c@r.test>\r\nDATA\r\n<MSG>"
    );
    assert_eq!(classes(&o), [Classified::Delivered; 2]);
    assert!(!o.reset_needed && !o.connection_unusable);
    assert_eq!(o.results[0].stage, Stage::EndOfData);
}

#[test]
fn with_pipelining_the_envelope_goes_in_one_write() {
    let (wire, o) = run(true, &["b@r.test", "c@r.test"], &[250, 250, 250, 354, 250]);
    assert_eq!(
        wire,
        "MAIL FROM:<a@s.test>\r\nRCPT TO:<b@r.test>\r\nRCPT TO:<c@r.test>\r\nDATA\r\n<MSG>"
    );
    assert_eq!(classes(&o), [Classified::Delivered; 2]);
}

#[test]
fn per_recipient_4xx_and_5xx_are_kept_apart() {
    for pipelining in [false, true] {
        let (_, o) = run(
            pipelining,
            &["ok@r.test", "busy@r.test", "gone@r.test"],
            &[250, 250, 450, 550, 354, 250],
        );
        assert_eq!(
            classes(&o),
            [
                Classified::Delivered,
                Classified::Temporary,
                Classified::Permanent
            ],
            "pipelining {pipelining}"
        );
        assert_eq!(o.results[2].stage, Stage::RcptTo);
        assert_eq!(o.results[2].reply.code, 550);
    }
}

#[test]
fn a_refused_mail_from_decides_for_every_recipient() {
    let (wire, o) = run(false, &["b@r.test", "c@r.test"], &[452]);
    assert_eq!(wire, "MAIL FROM:<a@s.test>\r\n");
    assert_eq!(classes(&o), [Classified::Temporary; 2]);
    assert_eq!(o.results[0].stage, Stage::MailFrom);
    assert!(!o.reset_needed);
    // Pipelined: the RCPTs and DATA get 503s, but MAIL's reply decides.
    let (_, o) = run(true, &["b@r.test"], &[550, 503, 503]);
    assert_eq!(classes(&o), [Classified::Permanent]);
    assert_eq!(o.results[0].reply.code, 550);
}

#[test]
fn no_recipient_accepted_means_no_data_and_a_reset() {
    let (wire, o) = run(false, &["b@r.test"], &[250, 550]);
    assert!(!wire.contains("DATA"));
    assert_eq!(classes(&o), [Classified::Permanent]);
    assert!(o.reset_needed);
    // Pipelined: the server refuses the DATA it got anyway.
    let (_, o) = run(true, &["b@r.test"], &[250, 550, 554]);
    assert_eq!(classes(&o), [Classified::Permanent]);
    assert_eq!(o.results[0].reply.code, 550);
    assert!(o.reset_needed);
}

#[test]
fn a_data_accepted_without_recipients_is_closed_with_an_empty_message() {
    // RFC 2920 §3.1.
    let (wire, o) = run(true, &["b@r.test"], &[250, 550, 354, 250]);
    assert!(wire.ends_with("DATA\r\n.\r\n"), "{wire}");
    assert!(!wire.contains("<MSG>"));
    assert_eq!(classes(&o), [Classified::Permanent]);
    assert!(!o.reset_needed);
}

#[test]
fn the_final_reply_decides_for_the_accepted_recipients() {
    let (_, o) = run(true, &["b@r.test", "c@r.test"], &[250, 250, 550, 354, 452]);
    assert_eq!(classes(&o), [Classified::Temporary, Classified::Permanent]);
    assert_eq!(o.results[0].stage, Stage::EndOfData);
    let (_, o) = run(false, &["b@r.test"], &[250, 250, 354, 554]);
    assert_eq!(classes(&o), [Classified::Permanent]);
    let (_, o) = run(false, &["b@r.test"], &[250, 250, 451]);
    assert_eq!(classes(&o), [Classified::Temporary]);
    assert_eq!(o.results[0].stage, Stage::Data);
    assert!(o.reset_needed);
}

#[test]
fn a_421_ends_everything_and_marks_the_connection_unusable() {
    let (_, o) = run(true, &["b@r.test", "c@r.test"], &[250, 250, 421]);
    assert_eq!(classes(&o), [Classified::Temporary; 2]);
    assert!(o.connection_unusable);
    assert_eq!(o.results[1].reply.code, 421);
    assert_eq!(o.results[0].reply.code, 421);
}

#[test]
fn the_awaited_reply_is_known_for_its_timeout() {
    let mut tx = Transaction::new("a@s", rcpts(&["b@r"]), MailOptions::default(), true);
    assert_eq!(tx.waiting_for(), None);
    let _ = tx.start();
    assert_eq!(tx.waiting_for(), Some(Stage::MailFrom));
    let _ = tx.on_reply(r(250));
    assert_eq!(tx.waiting_for(), Some(Stage::RcptTo));
    let _ = tx.on_reply(r(250));
    assert_eq!(tx.waiting_for(), Some(Stage::Data));
    assert_eq!(tx.on_reply(r(354)), Step::SendMessage);
    assert_eq!(tx.waiting_for(), Some(Stage::EndOfData));
}

#[test]
fn an_aborted_transaction_is_temporary_for_the_undecided() {
    let mut tx = Transaction::new("a@s", rcpts(&["b@r", "c@r"]), MailOptions::default(), true);
    let _ = tx.start();
    assert_eq!(tx.on_reply(r(250)), Step::Read);
    assert_eq!(tx.on_reply(r(550)), Step::Read);
    let o = tx.abort(Reply::new(451, (4, 4, 2), "connection lost"));
    assert_eq!(classes(&o), [Classified::Permanent, Classified::Temporary]);
    assert_eq!(o.results[1].stage, Stage::Connection);
    assert!(o.connection_unusable);
}

#[test]
fn unsendable_addresses_are_decided_locally() {
    let (wire, o) = run(false, &["bad\r\n@x", "b@r.test"], &[250, 250, 354, 250]);
    assert!(!wire.contains("bad"));
    assert_eq!(classes(&o), [Classified::Permanent, Classified::Delivered]);
    assert_eq!(o.results[0].stage, Stage::Local);
    let mut tx = Transaction::new("x\ny", rcpts(&["b@r"]), MailOptions::default(), false);
    let Step::Done(o) = tx.start() else {
        panic!("a bad sender sends nothing")
    };
    assert_eq!(classes(&o), [Classified::Permanent]);
}

#[test]
fn a_2xx_before_the_end_of_data_is_not_a_delivery() {
    let res = RcptResult {
        recipient: "b@r".into(),
        reply: r(250),
        stage: Stage::Data,
    };
    assert_eq!(res.class(), Classified::Temporary);
}

/// Drives an LMTP transaction with scripted replies.
fn run_lmtp(pipelining: bool, to: &[&str], replies: &[u16]) -> (String, Outcome) {
    let mut tx = Transaction::new("a@s.test", rcpts(to), MailOptions::default(), pipelining).lmtp();
    let mut wire = String::new();
    let mut replies = replies.iter();
    let mut step = tx.start();
    loop {
        match step {
            Step::Send(bytes) => wire.push_str(&String::from_utf8(bytes).unwrap()),
            Step::SendMessage => wire.push_str("<MSG>"),
            Step::Read => {}
            Step::Done(outcome) => return (wire, outcome),
        }
        let code = *replies.next().expect("the transaction wants another reply");
        step = tx.on_reply(r(code));
    }
}

#[test]
fn lmtp_reads_one_reply_per_accepted_recipient_after_the_data() {
    // RFC 2033 §4.2: "b" is refused at RCPT, so the data gets two replies,
    // for "a" and "c" in RCPT order, and each decides for its own.
    for pipelining in [false, true] {
        let (wire, o) = run_lmtp(
            pipelining,
            &["a@l.test", "b@l.test", "c@l.test", "d@l.test"],
            &[250, 250, 550, 250, 250, 354, 250, 452, 552],
        );
        assert!(wire.ends_with("DATA\r\n<MSG>"), "{wire}");
        assert_eq!(
            classes(&o),
            [
                Classified::Delivered,
                Classified::Permanent,
                Classified::Temporary,
                Classified::Permanent
            ],
            "pipelining {pipelining}"
        );
        assert_eq!(o.results[1].stage, Stage::RcptTo);
        assert_eq!(o.results[2].stage, Stage::EndOfData);
        assert_eq!(o.results[3].reply.code, 552);
        assert!(!o.reset_needed && !o.connection_unusable);
    }
}

#[test]
fn lmtp_waits_for_every_reply_and_a_lost_connection_defers_the_unanswered() {
    let mut tx =
        Transaction::new("a@s", rcpts(&["a@l", "b@l"]), MailOptions::default(), true).lmtp();
    let _ = tx.start();
    for code in [250, 250, 250] {
        assert_eq!(tx.on_reply(r(code)), Step::Read);
    }
    assert_eq!(tx.on_reply(r(354)), Step::SendMessage);
    assert_eq!(tx.on_reply(r(250)), Step::Read, "b's reply is still due");
    assert_eq!(tx.waiting_for(), Some(Stage::EndOfData));
    let o = tx.abort(Reply::new(451, (4, 4, 2), "connection lost"));
    assert_eq!(classes(&o), [Classified::Delivered, Classified::Temporary]);
    assert_eq!(o.results[1].stage, Stage::Connection);
}

#[test]
fn lmtp_drops_a_connection_whose_data_has_no_recipient() {
    let (wire, o) = run_lmtp(true, &["a@l.test"], &[250, 550, 354]);
    assert!(!wire.contains("<MSG>"));
    assert_eq!(classes(&o), [Classified::Permanent]);
    assert!(o.connection_unusable);
}

#[test]
fn lhlo_is_lmtps_greeting() {
    assert_eq!(
        crate::client::lhlo("mx.example").unwrap(),
        b"LHLO mx.example\r\n"
    );
    assert!(crate::client::lhlo("a\r\nRSET").is_err());
}
