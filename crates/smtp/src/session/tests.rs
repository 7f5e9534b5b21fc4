//! The session as executable specifications: each test is a transcript of
//! client bytes and the exact server bytes they get, with the driver's
//! decisions scripted and the clock under the test's control.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::framing::MAX_LINE;
use super::*;
use crate::address::Domain;
use crate::reply::Enhanced;

pub(super) const HOST: &str = "mx.test";
pub(super) const GREETING: &str = "220 mx.test ESMTP Portcullis\r\n";
/// EHLO without AUTH: `cfg()` configures no mechanism (AUTH has its own
/// tests in `auth_tests.rs`).
pub(super) const EHLO_REPLY: &str =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n\
                          250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
pub(super) const GO_AHEAD: &str = "354 End data with <CR><LF>.<CR><LF>\r\n";

pub(super) fn cfg() -> SessionConfig {
    SessionConfig {
        hostname: HOST.to_string(),
        auth_mechanisms: Vec::new(),
        // Deterministic challenges and nonces.
        random_seed: Secret([7; 32]),
        auth_secret: Secret([9; 32]),
        ..SessionConfig::default()
    }
}

/// A scripted driver: runs the session's actions like the tokio driver does,
/// answering recipient checks (local parts starting with `unknown` are
/// refused), storing messages as `Q1`, `Q2`… and answering AUTH requests
/// from the test users of `auth_tests::answer`.
pub(super) struct Client {
    pub(super) s: Session,
    pub(super) now: Instant,
    /// Every `Send`, one entry per action.
    pub(super) sends: Vec<Vec<u8>>,
    pub(super) checks: Vec<RecipientCheck>,
    pub(super) messages: Vec<Stored>,
    /// Content handed over for the message in progress.
    pub(super) spool: Vec<u8>,
    /// The largest `MessageData` seen.
    pub(super) largest_data: usize,
    /// `DiscardMessage` actions seen.
    pub(super) discards: usize,
    pub(super) store_error: Option<Reply>,
    pub(super) handshakes: usize,
    /// Every `Authenticate` request, in order.
    pub(super) auth_requests: Vec<AuthRequest>,
    /// Answer every AUTH request with this instead of the user database.
    pub(super) auth_override: Option<AuthAnswer>,
    pub(super) closed: bool,
}

impl Client {
    pub(super) fn new(cfg: SessionConfig) -> Client {
        let now = Instant::now();
        Client {
            s: Session::new(cfg, now),
            now,
            sends: Vec::new(),
            checks: Vec::new(),
            messages: Vec::new(),
            spool: Vec::new(),
            largest_data: 0,
            discards: 0,
            store_error: None,
            handshakes: 0,
            auth_requests: Vec::new(),
            auth_override: None,
            closed: false,
        }
    }

    /// A session past its greeting.
    pub(super) fn connected(cfg: SessionConfig) -> Client {
        let mut c = Client::new(cfg);
        assert_eq!(c.run(), GREETING);
        c
    }

    /// A session past EHLO.
    pub(super) fn greeted(cfg: SessionConfig) -> Client {
        let mut c = Client::connected(cfg);
        c.say(b"EHLO client.test\r\n");
        c
    }

    /// Runs actions until the session wants input or closes; returns what
    /// the server sent meanwhile.
    pub(super) fn run(&mut self) -> String {
        let mut sent = Vec::new();
        loop {
            match self.s.next_action(self.now) {
                Action::Send(bytes) => {
                    assert!(!bytes.is_empty(), "an empty Send");
                    sent.extend_from_slice(&bytes);
                    self.sends.push(bytes);
                }
                Action::CheckRecipient(check) => {
                    let decision = if check.mailbox.local.starts_with("unknown") {
                        Err(Reply::new(550, (5, 1, 1), "User unknown"))
                    } else {
                        Ok(())
                    };
                    self.checks.push(check);
                    self.s.recipient_decision(decision);
                }
                Action::MessageData(bytes) => {
                    assert!(!bytes.is_empty(), "an empty MessageData");
                    self.largest_data = self.largest_data.max(bytes.len());
                    self.spool.extend_from_slice(&bytes);
                }
                Action::DiscardMessage => {
                    assert!(!self.spool.is_empty(), "a discard with nothing to discard");
                    self.spool.clear();
                    self.discards += 1;
                }
                Action::StoreMessage(m) => {
                    let body = std::mem::take(&mut self.spool);
                    assert_eq!(m.size, body.len() as u64, "the size is the content's");
                    self.messages.push(Stored { msg: m, body });
                    let result = match &self.store_error {
                        Some(reply) => Err(reply.clone()),
                        None => Ok(format!("Q{}", self.messages.len())),
                    };
                    self.s.message_stored(result);
                }
                Action::StartTls => {
                    self.handshakes += 1;
                    self.s.tls_established();
                }
                Action::Authenticate(request) => {
                    let answer = match &self.auth_override {
                        Some(answer) => answer.clone(),
                        None => super::auth_tests::answer(&request),
                    };
                    self.auth_requests.push(request);
                    self.s.auth_answer(answer);
                }
                Action::NeedInput => break,
                Action::Close => {
                    self.closed = true;
                    break;
                }
            }
        }
        String::from_utf8(sent).expect("replies are ASCII here")
    }

    /// Sends client bytes in one read and returns the server's answer.
    pub(super) fn say(&mut self, bytes: &[u8]) -> String {
        assert!(!self.closed, "the session is closed");
        self.s.feed(bytes, self.now);
        self.run()
    }

    /// Opens a transaction to `r@mx.test` and gets the 354.
    pub(super) fn start_data(&mut self) {
        let out = self.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\n");
        assert_eq!(out, format!("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n{GO_AHEAD}"));
    }
}

/// A message the scripted driver stored: its envelope and its content.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Stored {
    pub(super) msg: Message,
    pub(super) body: Vec<u8>,
}

impl std::ops::Deref for Stored {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.msg
    }
}

pub(super) fn mailbox(local: &str, domain: &str) -> Mailbox {
    Mailbox {
        local: local.to_string(),
        domain: Domain::Name(domain.to_string()),
    }
}

// --- Greeting, EHLO, HELO -------------------------------------------------

#[test]
fn the_greeting_comes_first_without_enhanced_code() {
    let mut c = Client::new(cfg());
    assert_eq!(c.run(), GREETING);
    assert_eq!(c.sends.len(), 1);
}

#[test]
fn ehlo_lists_the_extensions_in_order() {
    let mut c = Client::connected(cfg());
    assert_eq!(c.say(b"EHLO client.test\r\n"), EHLO_REPLY);
    assert_eq!(c.s.helo(), Some("client.test"));
}

#[test]
fn ehlo_offers_starttls_only_when_configured_and_not_yet_tls() {
    let mut c = Client::connected(SessionConfig {
        starttls: true,
        ..cfg()
    });
    assert_eq!(
        c.say(b"EHLO c\r\n"),
        "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n\
         250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 STARTTLS\r\n"
    );
    let mut c = Client::connected(SessionConfig {
        starttls: true,
        tls_active: true,
        ..cfg()
    });
    assert_eq!(c.say(b"EHLO c\r\n"), EHLO_REPLY);
    assert!(c.s.is_tls());
}

#[test]
fn ehlo_advertises_the_configured_size() {
    let mut c = Client::connected(SessionConfig {
        max_message_size: 1000,
        ..cfg()
    });
    assert!(c.say(b"EHLO c\r\n").contains("250-SIZE 1000\r\n"));
}

#[test]
fn helo_answers_with_the_host_name_only() {
    let mut c = Client::connected(cfg());
    assert_eq!(c.say(b"HELO client.test\r\n"), "250 mx.test\r\n");
    c.start_data();
    c.say(b"hi\r\n.\r\n");
    assert!(!c.messages[0].esmtp);
    assert_eq!(c.messages[0].helo, "client.test");
}

#[test]
fn ehlo_resets_the_transaction() {
    let mut c = Client::greeted(cfg());
    c.say(b"MAIL FROM:<a@b.test>\r\n");
    assert_eq!(c.say(b"EHLO again.test\r\n"), EHLO_REPLY);
    assert_eq!(
        c.say(b"RCPT TO:<r@mx.test>\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
    assert_eq!(c.say(b"MAIL FROM:<a@b.test>\r\n"), "250 2.1.0 Ok\r\n");
}

// --- Command sequence (RFC 5321 §4.1.4) -----------------------------------

#[test]
fn mail_needs_ehlo_first() {
    let mut c = Client::connected(cfg());
    assert_eq!(
        c.say(b"MAIL FROM:<a@b.test>\r\n"),
        "503 5.5.1 Error: send HELO/EHLO first\r\n"
    );
}

#[test]
fn rcpt_needs_mail() {
    let mut c = Client::greeted(cfg());
    assert_eq!(
        c.say(b"RCPT TO:<r@mx.test>\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
    assert!(c.checks.is_empty());
}

#[test]
fn data_needs_mail_and_an_accepted_recipient() {
    let mut c = Client::greeted(cfg());
    assert_eq!(c.say(b"DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    c.say(b"MAIL FROM:<a@b.test>\r\n");
    assert_eq!(c.say(b"DATA\r\n"), "503 5.5.1 Error: need RCPT command\r\n");
    assert_eq!(
        c.say(b"RCPT TO:<unknown@mx.test>\r\n"),
        "550 5.1.1 User unknown\r\n"
    );
    assert_eq!(c.say(b"DATA\r\n"), "503 5.5.1 Error: need RCPT command\r\n");
    assert_eq!(c.say(b"RCPT TO:<r@mx.test>\r\n"), "250 2.1.5 Ok\r\n");
    assert_eq!(c.say(b"DATA\r\n"), GO_AHEAD);
}

#[test]
fn nested_mail_is_refused() {
    let mut c = Client::greeted(cfg());
    c.say(b"MAIL FROM:<a@b.test>\r\n");
    assert_eq!(
        c.say(b"MAIL FROM:<c@d.test>\r\n"),
        "503 5.5.1 Error: nested MAIL command\r\n"
    );
}

#[test]
fn rset_aborts_the_transaction_and_keeps_ehlo() {
    let mut c = Client::greeted(cfg());
    c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\n");
    assert_eq!(c.say(b"RSET\r\n"), "250 2.0.0 Ok\r\n");
    assert_eq!(c.say(b"DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    assert_eq!(c.say(b"MAIL FROM:<a@b.test>\r\n"), "250 2.1.0 Ok\r\n");
}

#[test]
fn simple_commands_have_fixed_replies() {
    let mut c = Client::greeted(cfg());
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
    assert_eq!(
        c.say(b"VRFY root\r\n"),
        "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
    );
    assert_eq!(c.say(b"EXPN staff\r\n"), "502 5.5.1 EXPN not supported\r\n");
    assert!(c.say(b"HELP\r\n").starts_with("214 2.0.0 "));
    // BDAT outside a transaction is refused after its chunk is read.
    assert_eq!(
        c.say(b"BDAT 3 LAST\r\nabc"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
    assert_eq!(c.say(b"QUIT\r\n"), "221 2.0.0 Bye\r\n");
    assert!(c.closed);
}

#[test]
fn auth_without_mechanisms_is_not_supported_but_its_sequence_rules_hold() {
    let mut c = Client::connected(cfg());
    assert_eq!(
        c.say(b"AUTH PLAIN\r\n"),
        "503 5.5.1 Error: send EHLO first\r\n"
    );
    assert_eq!(c.say(b"EHLO c\r\n"), EHLO_REPLY, "no AUTH keyword");
    assert_eq!(c.say(b"AUTH PLAIN\r\n"), "502 5.5.1 AUTH not supported\r\n");
    c.say(b"MAIL FROM:<a@b.test>\r\n");
    // RFC 4954 §4: no AUTH during a mail transaction.
    assert_eq!(
        c.say(b"AUTH PLAIN\r\n"),
        "503 5.5.1 Error: MAIL transaction in progress\r\n"
    );
}

#[test]
fn submission_refuses_mail_rcpt_and_data_before_auth() {
    let mut c = Client::greeted(SessionConfig {
        require_auth: true,
        ..cfg()
    });
    assert_eq!(
        c.say(b"MAIL FROM:<a@b.test>\r\n"),
        "530 5.7.0 Authentication required\r\n"
    );
    assert_eq!(
        c.say(b"RCPT TO:<r@mx.test>\r\n"),
        "530 5.7.0 Authentication required\r\n"
    );
    assert_eq!(c.say(b"DATA\r\n"), "530 5.7.0 Authentication required\r\n");
    assert!(c.checks.is_empty());
}

// --- Command lines ----------------------------------------------------------

#[test]
fn a_command_ending_in_bare_lf_is_accepted_by_default() {
    let mut c = Client::greeted(cfg());
    assert_eq!(c.say(b"NOOP\n"), "250 2.0.0 Ok\r\n");
}

#[test]
fn a_command_ending_in_bare_lf_is_refused_under_reject() {
    let mut c = Client::greeted(SessionConfig {
        bare_lf: BareLf::Reject,
        ..cfg()
    });
    assert_eq!(
        c.say(b"NOOP\n"),
        "500 5.5.2 Bare LF not allowed in command\r\n"
    );
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

#[test]
fn a_bare_cr_inside_a_command_is_never_that_command() {
    let mut c = Client::greeted(cfg());
    c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\n");
    let out = c.say(b"DA\rTA\r\n");
    assert!(out.starts_with('5'), "{out:?}");
    assert!(!out.contains("354"));
}

#[test]
fn a_command_line_of_1000_octets_is_not_too_long_but_1001_is() {
    let mut c = Client::greeted(cfg());
    let mut line = b"NOOP ".to_vec();
    line.resize(998, b'x');
    line.extend_from_slice(b"\r\n");
    assert!(!c.say(&line).contains("Line too long"));
    let mut line = b"NOOP ".to_vec();
    line.resize(999, b'x');
    line.extend_from_slice(b"\r\n");
    assert_eq!(c.say(&line), "500 5.5.2 Line too long\r\n");
}

#[test]
fn an_over_long_command_split_across_three_reads_is_dropped_whole() {
    let mut c = Client::greeted(cfg());
    let mut first = b"MAIL FROM:<".to_vec();
    first.resize(700, b'a');
    assert_eq!(c.say(&first), "", "no line yet");
    assert_eq!(c.say(&[b'a'; 700]), "500 5.5.2 Line too long\r\n");
    // The tail of the long line looks like a command: it must not run.
    assert_eq!(c.say(b"\rQUIT\r\n"), "");
    assert!(!c.closed);
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
    assert_eq!(
        c.say(b"MAIL FROM:<a@b.test>\r\n"),
        "250 2.1.0 Ok\r\n",
        "no MAIL ran"
    );
}

#[test]
fn an_over_long_command_in_one_read_is_dropped_up_to_its_lf() {
    let mut c = Client::greeted(cfg());
    let mut input = vec![b'x'; 1500];
    input.extend_from_slice(b"RSET\r\nNOOP\r\n");
    assert_eq!(c.say(&input), "500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n");
}

// --- PIPELINING (RFC 2920) --------------------------------------------------

#[test]
fn pipelined_commands_get_their_replies_in_one_batch() {
    let mut c = Client::greeted(cfg());
    let sends = c.sends.len();
    let out = c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@mx.test>\r\nRCPT TO:<unknown@mx.test>\r\nRCPT TO:<r2@mx.test>\r\nDATA\r\n");
    assert_eq!(
        out,
        format!(
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 User unknown\r\n250 2.1.5 Ok\r\n{GO_AHEAD}"
        )
    );
    assert_eq!(c.sends.len(), sends + 1, "one write for the whole group");
    assert_eq!(c.checks.len(), 3);
    assert_eq!(c.checks[0].mailbox, mailbox("r1", "mx.test"));
    assert_eq!(c.say(b"Hi\r\n.\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
    assert_eq!(
        c.messages[0].recipients,
        [mailbox("r1", "mx.test"), mailbox("r2", "mx.test")]
    );
}

#[test]
fn every_reply_is_an_event_with_its_code_and_status_in_order() {
    let mut c = Client::greeted(cfg());
    c.s.take_events();
    c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<unknown@mx.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\nHi\r\n.\r\n");
    let replied = |code, e: Option<(u8, u16, u16)>| Event::Replied {
        code,
        enhanced: e.map(|(a, b, c)| Enhanced(a, b, c)),
    };
    assert_eq!(
        c.s.take_events(),
        [
            replied(250, Some((2, 1, 0))),
            replied(550, Some((5, 1, 1))),
            replied(250, Some((2, 1, 5))),
            replied(354, None),
            replied(250, Some((2, 0, 0))),
        ]
    );
    assert_eq!(c.s.take_events(), [], "taken once");
}

#[test]
fn the_whole_session_can_arrive_in_one_read() {
    let mut c = Client::connected(cfg());
    let out = c.say(
        b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\nHi\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(
        out,
        format!("{EHLO_REPLY}250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n{GO_AHEAD}250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 Bye\r\n")
    );
    assert!(c.closed);
    assert_eq!(c.messages[0].body, b"Hi\r\n");
}

#[test]
fn no_input_is_asked_for_while_a_recipient_is_being_decided() {
    let mut c = Client::greeted(cfg());
    c.s.feed(
        b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nNOOP\r\n",
        c.now,
    );
    let first = c.s.next_action(c.now);
    assert!(matches!(first, Action::CheckRecipient(_)), "{first:?}");
    // Asked again without an answer, the session repeats the question.
    assert_eq!(c.s.next_action(c.now), first);
    c.s.recipient_decision(Ok(()));
    assert_eq!(c.run(), "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n");
}

#[test]
fn a_driver_asking_again_instead_of_storing_gets_close() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    c.s.feed(b"Hi\r\n.\r\n", c.now);
    assert_eq!(
        c.s.next_action(c.now),
        Action::MessageData(b"Hi\r\n".to_vec())
    );
    assert!(matches!(c.s.next_action(c.now), Action::StoreMessage(_)));
    // The message was handed over and cannot be handed over again; nothing
    // was acknowledged, so closing loses nothing the client was promised.
    assert_eq!(c.s.next_action(c.now), Action::Close);
    c.s.message_stored(Ok("Q9".to_string()));
    assert_eq!(c.s.next_action(c.now), Action::Close);
}

#[test]
fn stray_decisions_change_nothing() {
    let mut c = Client::greeted(cfg());
    c.s.recipient_decision(Ok(()));
    c.s.message_stored(Ok("Q1".to_string()));
    c.s.tls_established();
    assert_eq!(c.run(), "");
    assert!(!c.s.is_tls());
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

// --- Recipients ---------------------------------------------------------------

#[test]
fn the_recipient_check_carries_the_transaction() {
    let mut c = Client::greeted(cfg());
    c.say(b"MAIL FROM:<>\r\nRCPT TO:<r@mx.test>\r\n");
    assert_eq!(
        c.checks,
        [RecipientCheck {
            transaction: 1,
            mailbox: mailbox("r", "mx.test"),
            mail_from: ReversePath::Null,
            auth_user: None,
        }]
    );
}

#[test]
fn a_duplicate_recipient_is_acknowledged_and_stored_once() {
    let mut c = Client::greeted(cfg());
    let out =
        c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\n");
    assert_eq!(
        out,
        format!("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n{GO_AHEAD}")
    );
    c.say(b".\r\n");
    assert_eq!(c.messages[0].recipients, [mailbox("r", "mx.test")]);
}

#[test]
fn recipients_over_the_limit_get_452_without_a_check() {
    let mut c = Client::greeted(SessionConfig {
        max_recipients: 2,
        ..cfg()
    });
    let out = c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@mx.test>\r\nRCPT TO:<r2@mx.test>\r\nRCPT TO:<r3@mx.test>\r\n");
    assert_eq!(
        out,
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n"
    );
    assert_eq!(c.checks.len(), 2);
    c.say(b"DATA\r\n.\r\n");
    assert_eq!(c.messages[0].recipients.len(), 2);
}

#[test]
fn a_pipelining_client_over_the_recipient_limit_is_not_disconnected() {
    let mut c = Client::greeted(SessionConfig {
        max_recipients: 1,
        max_errors: 3,
        ..cfg()
    });
    let mut input = b"MAIL FROM:<a@b.test>\r\n".to_vec();
    for i in 0..10 {
        input.extend_from_slice(format!("RCPT TO:<r{i}@mx.test>\r\n").as_bytes());
    }
    let out = c.say(&input);
    assert_eq!(out.matches("452 4.5.3").count(), 9);
    assert!(!c.closed);
}

#[test]
fn utf8_addresses_need_smtputf8_on_mail() {
    let mut c = Client::greeted(cfg());
    c.say(b"MAIL FROM:<a@b.test>\r\n");
    let out = c.say("RCPT TO:<jos\u{e9}@mx.test>\r\n".as_bytes());
    assert!(out.starts_with('5'), "{out:?}");
    c.say(b"RSET\r\nMAIL FROM:<a@b.test> SMTPUTF8\r\n");
    assert_eq!(
        c.say("RCPT TO:<jos\u{e9}@mx.test>\r\n".as_bytes()),
        "250 2.1.5 Ok\r\n"
    );
}

// --- DATA ---------------------------------------------------------------------

#[test]
fn a_message_is_stored_with_everything_the_driver_needs() {
    let mut c = Client::greeted(cfg());
    c.say(b"MAIL FROM:<a@b.test> SIZE=20\r\nRCPT TO:<r@mx.test>\r\nDATA\r\n");
    assert_eq!(
        c.say(b"Subject: hi\r\n\r\nHello\r\n.\r\n"),
        "250 2.0.0 Ok: queued as Q1\r\n"
    );
    let m = &c.messages[0];
    assert_eq!(m.helo, "client.test");
    assert!(m.esmtp);
    assert!(!m.tls);
    assert_eq!(m.auth_user, None);
    assert_eq!(m.mail_from, ReversePath::Mailbox(mailbox("a", "b.test")));
    assert_eq!(m.params.size, Some(20));
    assert_eq!(m.recipients, [mailbox("r", "mx.test")]);
    assert_eq!(m.body, b"Subject: hi\r\n\r\nHello\r\n");
    // The transaction is over, EHLO is kept.
    assert_eq!(c.say(b"DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
    assert_eq!(c.say(b"MAIL FROM:<a@b.test>\r\n"), "250 2.1.0 Ok\r\n");
}

#[test]
fn a_dot_right_after_354_ends_an_empty_message() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    assert_eq!(c.say(b".\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
    assert_eq!(c.messages[0].body, b"");
}

#[test]
fn dot_stuffing_is_undone_including_on_the_first_line() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    c.say(b"..first\r\nmiddle\r\n..\r\n.x\r\n...\r\n.\r\n");
    assert_eq!(c.messages[0].body, b".first\r\nmiddle\r\n.\r\nx\r\n..\r\n");
}

#[test]
fn the_end_of_data_may_be_split_anywhere() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    for piece in [&b"line\r"[..], b"\n", b".", b"\r", b"\n"] {
        c.say(piece);
    }
    assert_eq!(c.messages.len(), 1);
    assert_eq!(c.messages[0].body, b"line\r\n");
}

/// SMTP smuggling: a `.` next to a bare LF or a bare CR is data. Whatever
/// follows it stays inside the one message; nothing of it runs as a command.
#[test]
fn no_dot_next_to_a_bare_lf_or_cr_ends_the_data() {
    let payloads: [(&[u8], Option<&str>); 5] = [
        (b"\n.\n", None),
        (b"\r\n.\n", None),
        (b"\n.\r\n", None),
        (b"\r.\r\n", Some("550 5.6.11 Bare CR not allowed\r\n")),
        (b"\r\n.\r\r\n", Some("550 5.6.11 Bare CR not allowed\r\n")),
    ];
    for (payload, refusal) in payloads {
        let mut c = Client::greeted(cfg());
        c.start_data();
        let mut input = b"body".to_vec();
        input.extend_from_slice(payload);
        input.extend_from_slice(
            b"MAIL FROM:<x@y.test>\r\nRCPT TO:<z@mx.test>\r\nDATA\r\nsmuggled\r\n",
        );
        assert_eq!(c.say(&input), "", "{payload:?} ended the data");
        let out = c.say(b".\r\n");
        assert_eq!(c.checks.len(), 1, "{payload:?}: a smuggled RCPT ran");
        match refusal {
            None => {
                assert_eq!(out, "250 2.0.0 Ok: queued as Q1\r\n", "{payload:?}");
                assert_eq!(c.messages.len(), 1);
                let body = &c.messages[0].body;
                let smuggled =
                    b"MAIL FROM:<x@y.test>\r\nRCPT TO:<z@mx.test>\r\nDATA\r\nsmuggled\r\n";
                assert!(
                    body.ends_with(smuggled),
                    "{payload:?}: {:?}",
                    String::from_utf8_lossy(body)
                );
            }
            Some(reply) => {
                assert_eq!(out, reply, "{payload:?}");
                assert!(c.messages.is_empty());
            }
        }
        assert_eq!(
            c.say(b"NOOP\r\n"),
            "250 2.0.0 Ok\r\n",
            "{payload:?}: back to commands"
        );
    }
}

#[test]
fn bare_lf_in_data_is_stored_as_crlf_by_default() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    assert_eq!(c.say(b"a\nb\r\n.\r\n"), "250 2.0.0 Ok: queued as Q1\r\n");
    assert_eq!(c.messages[0].body, b"a\r\nb\r\n");
}

#[test]
fn bare_lf_in_data_refuses_the_message_under_reject() {
    let mut c = Client::greeted(SessionConfig {
        bare_lf: BareLf::Reject,
        ..cfg()
    });
    c.start_data();
    assert_eq!(c.say(b"a\n.\nMAIL FROM:<x@y.test>\r\n"), "");
    assert_eq!(c.say(b".\r\n"), "550 5.6.11 Bare LF not allowed\r\n");
    assert!(c.messages.is_empty());
    assert_eq!(
        c.say(b"DATA\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n",
        "the transaction is over"
    );
}

#[test]
fn a_bare_cr_refuses_the_message_only_at_its_real_end() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    assert_eq!(c.say(b"a\rb\r\nmore\r\n"), "");
    assert_eq!(c.say(b".\r\n"), "550 5.6.11 Bare CR not allowed\r\n");
    assert!(c.messages.is_empty());
}

#[test]
fn a_message_over_the_size_limit_is_refused_at_its_real_end() {
    let mut c = Client::greeted(SessionConfig {
        max_message_size: 10,
        ..cfg()
    });
    c.start_data();
    assert_eq!(c.say(b"0123456789abcdef\r\nMAIL FROM:<x@y.test>\r\n"), "");
    assert_eq!(
        c.say(b".\r\n"),
        "552 5.3.4 Message size exceeds fixed limit\r\n"
    );
    assert!(c.messages.is_empty());
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

#[test]
fn a_message_of_exactly_the_size_limit_is_accepted() {
    let mut c = Client::greeted(SessionConfig {
        max_message_size: 10,
        ..cfg()
    });
    c.start_data();
    assert_eq!(
        c.say(b"01234567\r\n.\r\n"),
        "250 2.0.0 Ok: queued as Q1\r\n"
    );
}

#[test]
fn a_declared_size_over_the_limit_is_refused_at_mail() {
    let mut c = Client::greeted(SessionConfig {
        max_message_size: 10,
        ..cfg()
    });
    assert_eq!(
        c.say(b"MAIL FROM:<a@b.test> SIZE=11\r\n"),
        "552 5.3.4 Message size exceeds fixed limit\r\n"
    );
    assert_eq!(
        c.say(b"MAIL FROM:<a@b.test> SIZE=10\r\n"),
        "250 2.1.0 Ok\r\n"
    );
}

#[test]
fn an_over_long_data_line_refuses_the_message_at_its_real_end() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    let mut input = vec![b'x'; 600];
    assert_eq!(c.say(&input), "");
    input = vec![b'y'; 600];
    input.extend_from_slice(b"\r\n.\r\nMAIL FROM:<x@y.test>\r\n");
    // The ".\r\n" after the long line's CRLF is the real end; its tail never
    // became a line of its own.
    assert_eq!(c.say(&input), "500 5.5.2 Line too long\r\n250 2.1.0 Ok\r\n");
    assert!(c.messages.is_empty());
}

#[test]
fn a_storage_failure_is_answered_and_ends_the_transaction() {
    let mut c = Client::greeted(SessionConfig {
        max_errors: 1,
        ..cfg()
    });
    c.store_error = Some(Reply::new(451, (4, 3, 0), "Local error in processing"));
    c.start_data();
    assert_eq!(
        c.say(b"Hi\r\n.\r\n"),
        "451 4.3.0 Local error in processing\r\n"
    );
    assert!(!c.closed, "our failure is not the client's error");
    c.store_error = None;
    assert_eq!(c.say(b"MAIL FROM:<a@b.test>\r\n"), "250 2.1.0 Ok\r\n");
}

#[test]
fn the_client_closing_inside_data_stores_nothing() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    c.say(b"half a message\r\n");
    c.s.peer_closed();
    assert_eq!(c.run(), "");
    assert!(c.closed);
    assert!(c.messages.is_empty());
    assert_eq!(c.discards, 1, "what was handed over is thrown away");
}

#[test]
fn content_is_handed_over_as_it_comes_never_held_whole() {
    // Issue 11: 8 MiB of data, and the same of bare LFs (each grown to
    // CRLF), in 32 KiB reads: the session hands each read's content over
    // at once, so what it holds never grows with the message.
    let read = 32 * 1024;
    for line in [&b"0123456789abcdef0123456789abcdef\r\n"[..], b"\n"] {
        let mut c = Client::greeted(SessionConfig {
            max_message_size: 64 << 20,
            ..cfg()
        });
        c.start_data();
        let chunk = line.repeat(read / line.len());
        let mut sent = 0;
        while sent < 8 << 20 {
            assert_eq!(c.say(&chunk), "");
            sent += chunk.len();
            let Reading::Data(reader, _) = &c.s.reading else {
                panic!("not in DATA")
            };
            assert!(reader.held() == 0 && c.s.input.held() <= read);
            assert!(c.largest_data <= 2 * read, "{}", c.largest_data);
        }
        // After a bare LF, only <CRLF>.<CRLF> ends the data (an empty line more).
        let end: &[u8] = if line == b"\n" {
            b"\r\n.\r\n"
        } else {
            b".\r\n"
        };
        assert!(c.say(end).starts_with("250 2.0.0 Ok: queued as Q1"));
        let stored = (sent / line.len()) as u64 * (line.len() as u64 + u64::from(line == b"\n"))
            + (end.len() as u64 - 3);
        assert_eq!(c.messages[0].size, stored);
        assert_eq!(c.discards, 0);
    }
}

#[test]
fn a_refused_or_abandoned_message_is_discarded_once() {
    // Refused at its real end (a bare CR after content was handed over).
    let mut c = Client::greeted(cfg());
    c.start_data();
    c.say(b"fine\r\n");
    assert_eq!(
        c.say(b"bare\rcr\r\n.\r\n"),
        "550 5.6.11 Bare CR not allowed\r\n"
    );
    assert_eq!((c.discards, c.messages.len()), (1, 0));
    // A BDAT transaction reset between chunks.
    let out = c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nBDAT 4\r\nabc\nRSET\r\n");
    assert!(
        out.ends_with("250 2.0.0 Ok: 4 octets received\r\n250 2.0.0 Ok\r\n"),
        "{out}"
    );
    assert_eq!(c.discards, 2);
    // Nothing handed over, nothing to discard: a refusal before any content.
    c.start_data();
    assert_eq!(
        c.say(b"\x00\r\n.\r\n"),
        "550 5.6.0 NUL not allowed in message data\r\n"
    );
    assert_eq!(c.discards, 2);
    // The next message starts from nothing.
    c.start_data();
    c.say(b"second\r\n.\r\n");
    assert_eq!(c.messages[0].body, b"second\r\n");
}

#[test]
fn memory_stays_bounded_whatever_the_client_sends() {
    let read = 64 * 1024;
    let mut c = Client::greeted(SessionConfig {
        max_message_size: 4096,
        ..cfg()
    });
    // An endless command line.
    for _ in 0..50 {
        c.say(&vec![b'x'; read]);
        assert!(c.s.input.held() <= read + MAX_LINE);
    }
    c.say(b"\r\n");
    c.start_data();
    // Endless lines, then an endless body of short lines.
    for _ in 0..50 {
        c.say(&vec![b'y'; read]);
        assert!(c.s.input.held() <= read + MAX_LINE);
    }
    c.say(b"\r\n");
    for _ in 0..50 {
        c.say(&b"0123456789\r\n".repeat(read / 12));
        assert!(c.s.input.held() <= read + MAX_LINE);
        let Reading::Data(reader, _) = &c.s.reading else {
            panic!("the data ended early");
        };
        assert!(reader.held() <= 2 * 4096);
    }
    assert_eq!(c.say(b".\r\n"), "500 5.5.2 Line too long\r\n");
}

// --- Errors, timeouts, shutdown -----------------------------------------------

#[test]
fn too_many_errors_close_the_session() {
    let mut c = Client::greeted(SessionConfig {
        max_errors: 3,
        ..cfg()
    });
    assert_eq!(
        c.say(b"RCPT TO:<r@mx.test>\r\n"),
        "503 5.5.1 Error: need MAIL command\r\n"
    );
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
    let out = c.say(b"DATA\r\nDATA\r\nNOOP\r\n");
    assert_eq!(
        out,
        "503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need MAIL command\r\n\
         421 4.7.0 Too many errors (limits.errors = 3), closing connection\r\n"
    );
    assert!(c.closed);
}

#[test]
fn refused_recipients_count_as_errors() {
    let mut c = Client::greeted(SessionConfig {
        max_errors: 2,
        ..cfg()
    });
    let out = c.say(
        b"MAIL FROM:<a@b.test>\r\nRCPT TO:<unknown1@mx.test>\r\nRCPT TO:<unknown2@mx.test>\r\n",
    );
    assert!(out.ends_with(
        "550 5.1.1 User unknown\r\n\
         421 4.7.0 Too many errors (limits.errors = 2), closing connection\r\n"
    ));
    assert!(c.closed);
}

#[test]
fn commands_outside_a_transaction_are_cut_at_the_limit() {
    let mut c = Client::connected(SessionConfig {
        max_commands_before_mail: 3,
        ..cfg()
    });
    // EHLO, NOOP and VRFY spend the budget; the fourth command is not run.
    let out = c.say(b"EHLO c\r\nNOOP\r\nVRFY r\r\nNOOP\r\nQUIT\r\n");
    assert!(
        out.ends_with(
            "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n\
             421 4.7.0 Too many commands without a mail transaction, closing connection\r\n"
        ),
        "{out}"
    );
    assert!(c.closed);
    assert_eq!(
        limit_reached(&mut c.s),
        Some(LimitReached::CommandsBeforeMail)
    );
    assert_eq!(limit_reached(&mut c.s), None);
}

#[test]
fn nothing_inside_a_transaction_counts_and_mail_starts_over() {
    let mut c = Client::connected(SessionConfig {
        max_commands_before_mail: 2,
        max_recipients: 3,
        ..cfg()
    });
    c.say(b"EHLO c\r\nNOOP\r\n");
    assert_eq!(c.s.commands_outside_transaction(), 2);
    // Over the budget already, MAIL still opens a transaction, and
    // NOOPs, refused and surplus recipients inside it never count.
    let out = c.say(
        b"MAIL FROM:<a@b.test>\r\nNOOP\r\nNOOP\r\nRCPT TO:<unknown@mx.test>\r\n\
          RCPT TO:<r1@mx.test>\r\nRCPT TO:<r2@mx.test>\r\nRCPT TO:<r3@mx.test>\r\n\
          RCPT TO:<r4@mx.test>\r\nNOOP\r\nDATA\r\nx\r\n.\r\n",
    );
    assert!(out.ends_with("250 2.0.0 Ok: queued as Q1\r\n"), "{out}");
    assert!(out.contains("452 4.5.3 Too many recipients\r\n"), "{out}");
    assert_eq!(c.s.commands_outside_transaction(), 0);
    assert!(!c.closed);
    // After the transaction: counted again from zero.
    c.say(b"NOOP\r\nNOOP\r\n");
    assert_eq!(c.say(b"NOOP\r\n").get(..3), Some("421"));
}

#[test]
fn a_stored_message_is_acknowledged_before_the_limit_closes() {
    let mut c = Client::connected(SessionConfig {
        max_commands_before_mail: 2,
        ..cfg()
    });
    c.say(b"EHLO c\r\n");
    // One write: a message, then more commands than the budget allows.
    let out = c.say(
        b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\nhi\r\n.\r\n\
          NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n",
    );
    assert_eq!(
        out,
        format!(
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n{GO_AHEAD}250 2.0.0 Ok: queued as Q1\r\n\
             250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n\
             421 4.7.0 Too many commands without a mail transaction, closing connection\r\n"
        )
    );
    assert_eq!(c.messages.len(), 1);
}

#[test]
fn a_pipelined_bdat_to_160_recipients_is_stored_once_and_acknowledged() {
    // Issue 11: MAIL, 160 RCPTs and BDAT LAST in one write, with the
    // default limits (100 recipients, 50 commands before MAIL).
    let mut c = Client::greeted(cfg());
    let body = b"Subject: many\r\n\r\nhello\r\n";
    let mut input = b"MAIL FROM:<a@b.test>\r\n".to_vec();
    for n in 0..160 {
        input.extend_from_slice(format!("RCPT TO:<alice+{n}@mx.test>\r\n").as_bytes());
    }
    input.extend_from_slice(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
    input.extend_from_slice(body);
    let out = c.say(&input);
    assert_eq!(out.matches("250 2.1.5 Ok\r\n").count(), 100);
    assert_eq!(out.matches("452 4.5.3 Too many recipients\r\n").count(), 60);
    assert!(out.ends_with("250 2.0.0 Ok: queued as Q1\r\n"), "{out}");
    assert!(!out.contains("421"), "{out}");
    assert_eq!(c.messages.len(), 1);
    assert_eq!(c.messages[0].recipients.len(), 100);
    // RFC 5321 §4.5.3.1.10: the rest go in a second transaction.
    let mut input = b"MAIL FROM:<a@b.test>\r\n".to_vec();
    for n in 100..160 {
        input.extend_from_slice(format!("RCPT TO:<alice+{n}@mx.test>\r\n").as_bytes());
    }
    input.extend_from_slice(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
    input.extend_from_slice(body);
    let out = c.say(&input);
    assert!(out.ends_with("250 2.0.0 Ok: queued as Q2\r\n"), "{out}");
    assert_eq!(c.messages[1].recipients.len(), 60);
}

#[test]
fn the_deadline_follows_the_last_activity() {
    let cfg = SessionConfig {
        timeouts: Timeouts {
            command: Duration::from_secs(300),
            data_block: Duration::from_secs(180),
        },
        ..cfg()
    };
    let mut c = Client::connected(cfg);
    let t0 = c.now;
    assert_eq!(c.s.deadline(), t0 + Duration::from_secs(300));
    c.now = t0 + Duration::from_secs(10);
    c.say(b"EHLO c\r\n");
    assert_eq!(c.s.deadline(), c.now + Duration::from_secs(300));
    c.start_data();
    assert_eq!(
        c.s.deadline(),
        c.now + Duration::from_secs(180),
        "the data block timeout"
    );
}

#[test]
fn a_timeout_gets_421_and_closes() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    c.say(b"unfinished\r\n");
    c.now = c.s.deadline();
    c.s.on_timeout(c.now);
    assert_eq!(c.run(), "421 4.4.2 mx.test Error: timeout exceeded\r\n");
    assert!(c.closed);
    assert!(c.messages.is_empty());
}

#[test]
fn an_idle_session_is_told_at_once_when_the_server_shuts_down() {
    let mut c = Client::greeted(cfg());
    c.s.begin_shutdown();
    assert_eq!(c.run(), "421 4.3.2 Service shutting down\r\n");
    assert!(c.closed);
}

#[test]
fn a_transaction_waiting_for_its_next_command_is_told_at_once() {
    let mut c = Client::greeted(cfg());
    c.say(b"MAIL FROM:<a@b.test>\r\n");
    c.s.begin_shutdown();
    assert_eq!(c.run(), "421 4.3.2 Service shutting down\r\n");
    assert!(c.closed);
    assert!(c.messages.is_empty());
}

#[test]
fn a_shutdown_inside_data_waits_for_the_data_reply() {
    let mut c = Client::greeted(cfg());
    c.start_data();
    c.say(b"Hi\r\n");
    c.s.begin_shutdown();
    assert_eq!(c.run(), "");
    assert_eq!(
        c.say(b".\r\n"),
        "250 2.0.0 Ok: queued as Q1\r\n421 4.3.2 Service shutting down\r\n"
    );
    assert!(c.closed);
}

// --- STARTTLS (RFC 3207) --------------------------------------------------------

#[test]
fn starttls_discards_pipelined_plaintext_and_resets_the_session() {
    let mut c = Client::greeted(SessionConfig {
        starttls: true,
        ..cfg()
    });
    // CVE-2011-0411: the MAIL behind STARTTLS was sent in plaintext.
    assert_eq!(
        c.say(b"STARTTLS\r\nMAIL FROM:<a@b.test>\r\n"),
        "220 2.0.0 Ready to start TLS\r\n"
    );
    assert_eq!(c.handshakes, 1);
    assert!(c.s.is_tls());
    assert_eq!(c.s.helo(), None);
    // Not processed before TLS, not after it either: the client must EHLO.
    assert_eq!(
        c.say(b"MAIL FROM:<a@b.test>\r\n"),
        "503 5.5.1 Error: send HELO/EHLO first\r\n"
    );
    assert_eq!(
        c.say(b"EHLO c\r\n"),
        EHLO_REPLY,
        "STARTTLS is no longer offered"
    );
    assert_eq!(c.say(b"STARTTLS\r\n"), "503 5.5.1 TLS already active\r\n");
    c.start_data();
    c.say(b".\r\n");
    assert!(c.messages[0].tls);
}

#[test]
fn starttls_hands_over_its_220_before_the_handshake() {
    let mut c = Client::greeted(SessionConfig {
        starttls: true,
        ..cfg()
    });
    c.s.feed(b"NOOP\r\nSTARTTLS\r\n", c.now);
    assert_eq!(
        c.s.next_action(c.now),
        Action::Send(b"250 2.0.0 Ok\r\n220 2.0.0 Ready to start TLS\r\n".to_vec())
    );
    assert_eq!(c.s.next_action(c.now), Action::StartTls);
    c.s.tls_established();
    assert_eq!(c.s.next_action(c.now), Action::NeedInput);
}

#[test]
fn starttls_is_refused_when_not_offered_or_inside_a_transaction() {
    let mut c = Client::greeted(cfg());
    assert_eq!(
        c.say(b"STARTTLS\r\n"),
        "502 5.5.1 STARTTLS not supported\r\n"
    );
    let mut c = Client::greeted(SessionConfig {
        starttls: true,
        ..cfg()
    });
    c.say(b"MAIL FROM:<a@b.test>\r\n");
    assert_eq!(
        c.say(b"STARTTLS\r\n"),
        "503 5.5.1 Error: MAIL transaction in progress\r\n"
    );
    assert_eq!(c.handshakes, 0);
}

// --- Splitting the input never changes the outcome -------------------------------

/// Runs `input` through a fresh session, fed in pieces cut at `cuts`; returns
/// every byte sent and every message stored.
fn run_split(input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<Stored>) {
    let cfg = SessionConfig {
        max_message_size: 200,
        max_recipients: 3,
        ..cfg()
    };
    run_split_with(cfg, input, cuts)
}

/// [`run_split`] with any configuration.
pub(super) fn run_split_with(
    cfg: SessionConfig,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, Vec<Stored>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut at = 0;
    for cut in cuts.into_iter().chain([input.len()]) {
        if cut > at {
            pieces.push(&input[at..cut]);
            at = cut;
        }
    }
    let mut c = Client::new(cfg);
    c.run();
    for piece in pieces {
        if c.closed {
            break;
        }
        c.say(piece);
    }
    (c.sends.concat(), c.messages)
}

const SCRIPT: &[u8] = b"EHLO client.test\r\nMAIL FROM:<a@b.test> SIZE=20\r\nRCPT TO:<r1@mx.test>\r\n\
RCPT TO:<unknown@mx.test>\r\nRCPT TO:<r2@mx.test>\r\nRCPT TO:<r1@mx.test>\r\nRCPT TO:<r3@mx.test>\r\nDATA\r\n\
..first\r\nbody\n.\nMAIL FROM:<x@y.test>\r\nsmuggled\r\n.\r\n\
MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\nbare\rcr\r\n.\r\n\
NOOP\nMAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\n.\r\n\
MAIL FROM:<a@b.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\nbig big big big big big big big big big big big\r\n\
big big big big big big big big big big big big big big big big big big big big big big big big\r\n\
big big big big big big big big big big big big big big big big big big big big big big big big\r\n.\r\n\
HELO again.test\r\nFOO\r\nRSET\r\nQUIT\r\nNOOP\r\n";

#[test]
fn the_split_script_reference_run() {
    let (out, messages) = run_split(SCRIPT, &[]);
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("250 2.0.0 Ok: queued as Q1\r\n"), "{out}");
    assert!(out.contains("550 5.6.11 Bare CR not allowed\r\n"), "{out}");
    assert!(
        out.contains("552 5.3.4 Message size exceeds fixed limit\r\n"),
        "{out}"
    );
    assert!(out.ends_with("221 2.0.0 Bye\r\n"), "{out}");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].recipients.len(), 3);
    // The lone `.` behind a bare LF is data, and stays a `.` line.
    assert!(messages[0]
        .body
        .starts_with(b".first\r\nbody\r\n.\r\nMAIL FROM:<x@y.test>\r\n"));
    assert_eq!(messages[1].body, b"");
}

proptest! {
    #[test]
    fn splitting_the_input_never_changes_the_outcome(cuts in prop::collection::vec(0..SCRIPT.len(), 0..40)) {
        let whole = run_split(SCRIPT, &[]);
        prop_assert_eq!(run_split(SCRIPT, &cuts), whole);
    }

    #[test]
    fn splitting_any_input_never_changes_the_outcome(
        parts in prop::collection::vec(
            prop_oneof![
                Just(b"EHLO c\r\n".to_vec()),
                Just(b"MAIL FROM:<a@b.test>\r\n".to_vec()),
                Just(b"RCPT TO:<r@mx.test>\r\n".to_vec()),
                Just(b"DATA\r\n".to_vec()),
                Just(b".\r\n".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"\r".to_vec()),
                Just(b".".to_vec()),
                Just(vec![b'x'; 700]),
                prop::collection::vec(any::<u8>(), 0..40),
            ],
            0..30,
        ),
        cuts in prop::collection::vec(0usize..30_000, 0..40),
    ) {
        let input = parts.concat();
        let whole = run_split(&input, &[]);
        prop_assert_eq!(run_split(&input, &cuts), whole);
    }
}

/// The AUTH verdicts among the events since the last take.
pub(super) fn auth_outcomes(s: &mut Session) -> Vec<AuthOutcome> {
    Event::auth_outcomes(&s.take_events()).cloned().collect()
}

/// The limit that ended the session, among the events since the last take.
pub(super) fn limit_reached(s: &mut Session) -> Option<LimitReached> {
    s.take_events().into_iter().find_map(|e| match e {
        Event::LimitReached(limit) => Some(limit),
        _ => None,
    })
}

#[test]
fn each_transaction_has_its_number_in_its_checks_and_its_message() {
    let mut c = Client::greeted(cfg());
    c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r1@mx.test>\r\nRSET\r\n");
    c.say(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<r2@mx.test>\r\nDATA\r\nHi\r\n.\r\n");
    let numbers: Vec<u64> = c.checks.iter().map(|check| check.transaction).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(c.messages[0].transaction, 2);
}
