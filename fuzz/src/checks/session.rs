//! The SMTP session state machine fed an arbitrary byte stream.
//!
//! Input: byte 0 picks the configuration (STARTTLS offered, TLS already
//! on, `bare_lf = reject`, AUTH required, small limits, PLAIN/LOGIN in
//! clear, ending by timeout instead of EOF), bytes 1-2 seed the cut points,
//! the rest is what the client sends. A scripted driver answers the
//! session's questions deterministically. Checked:
//! - no panic, and the session never loops (actions bounded by the input);
//! - the output stays bounded: at most one reply per line the client sent
//!   (or per 1000 octets of an over-long line), each reply small;
//! - no stored message is over `max_message_size` or has more recipients
//!   than `max_recipients`;
//! - fed in pieces cut at arbitrary points (or one byte at a time), the
//!   session sends the same bytes, asks the same questions and stores the
//!   same messages as when fed the whole stream at once. STARTTLS is the
//!   one legitimate difference (plaintext pipelined behind it is dropped,
//!   RFC 3207 §4.2), so runs that performed a handshake are not compared.

use std::time::{Duration, Instant};

use portcullis_smtp::session::{
    Action, AuthAnswer, AuthRequest, BareLf, Message, RecipientCheck, Secret, Session,
    SessionConfig, Timeouts,
};
use portcullis_smtp::Reply;

use super::Rng;

/// The largest reply the server sends to one line (the EHLO reply with
/// every extension is about 250 bytes; a SCRAM challenge under 200).
const MAX_REPLY: usize = 1024;

/// Everything a run produced.
#[derive(Debug, PartialEq)]
struct Outcome {
    sent: Vec<u8>,
    checks: Vec<RecipientCheck>,
    auth: Vec<AuthRequest>,
    /// Stored messages with their content (the `MessageData` since the
    /// last store or discard, which may come in different pieces).
    messages: Vec<(Message, Vec<u8>)>,
    closed: bool,
    handshakes: usize,
}

pub fn check(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let flags = data[0];
    let seed = u64::from(u16::from_le_bytes([data[1], data[2]]));
    let input = &data[3..];
    let cfg = config(flags);
    let by_timeout = flags & 0x80 != 0;

    let whole = run(cfg.clone(), input, &[input.len()], by_timeout);
    bounds(&cfg, input, &whole);

    let cuts = cuts(seed, input.len());
    let split = run(cfg.clone(), input, &cuts, by_timeout);
    bounds(&cfg, input, &split);
    if whole.handshakes == 0 && split.handshakes == 0 {
        assert_eq!(
            split, whole,
            "cut at {cuts:?}, the session behaves differently than fed whole"
        );
    }
}

/// The configuration chosen by the flags byte.
fn config(flags: u8) -> SessionConfig {
    let small = flags & 0x10 != 0;
    SessionConfig {
        hostname: "mx.test".to_string(),
        max_message_size: if small { 64 } else { 4096 },
        max_recipients: if small { 2 } else { 100 },
        max_errors: if small { 3 } else { 20 },
        max_commands_before_mail: if small { 4 } else { 50 },
        bare_lf: if flags & 0x04 != 0 {
            BareLf::Reject
        } else {
            BareLf::Normalize
        },
        timeouts: Timeouts {
            command: Duration::from_secs(300),
            data_block: Duration::from_secs(180),
        },
        starttls: flags & 0x01 != 0,
        tls_active: flags & 0x02 != 0,
        require_auth: flags & 0x08 != 0,
        auth_mechanisms: ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]
            .iter()
            .map(|m| m.to_string())
            .collect(),
        plaintext_requires_tls: flags & 0x20 == 0,
        // Fixed secrets: both runs must see the same challenges.
        random_seed: Secret([3; 32]),
        auth_secret: Secret([4; 32]),
    }
}

/// Cut points: every byte, or up to 15 random cuts.
fn cuts(seed: u64, len: usize) -> Vec<usize> {
    if len == 0 {
        return vec![0];
    }
    let mut cuts: Vec<usize> = if seed % 16 == 15 {
        (1..=len).collect()
    } else {
        let mut rng = Rng::new(seed);
        (0..seed % 16).map(|_| rng.below(len + 1)).collect()
    };
    cuts.push(len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Runs one session over `input`, delivered in the pieces ending at `cuts`
/// (ascending, the last one `input.len()`), one piece per `NeedInput`.
fn run(cfg: SessionConfig, input: &[u8], cuts: &[usize], by_timeout: bool) -> Outcome {
    let now = Instant::now();
    let mut s = Session::new(cfg, now);
    let mut out = Outcome {
        sent: Vec::new(),
        checks: Vec::new(),
        auth: Vec::new(),
        messages: Vec::new(),
        closed: false,
        handshakes: 0,
    };
    let mut spool = Vec::new();
    let mut pieces = cuts.iter().scan(0usize, |at, &cut| {
        let piece = &input[*at..cut];
        *at = cut;
        Some(piece)
    });
    let mut ended = false;
    let limit = 64 + 8 * input.len();
    let mut actions = 0usize;
    loop {
        actions += 1;
        assert!(
            actions <= limit,
            "more than {limit} actions for {} bytes",
            input.len()
        );
        match s.next_action(now) {
            Action::Send(bytes) => {
                assert!(!bytes.is_empty(), "an empty Send");
                out.sent.extend_from_slice(&bytes);
            }
            Action::CheckRecipient(check) => {
                let ruling = if check.mailbox.local.starts_with('u') {
                    Err(Reply::new(550, (5, 1, 1), "User unknown"))
                } else if check.mailbox.local.starts_with('t') {
                    Err(Reply::new(451, (4, 4, 3), "Try again later"))
                } else {
                    Ok(())
                };
                out.checks.push(check);
                s.recipient_decision(ruling);
            }
            Action::MessageData(bytes) => {
                assert!(!bytes.is_empty(), "an empty MessageData");
                spool.extend_from_slice(&bytes);
            }
            Action::DiscardMessage => spool.clear(),
            Action::StoreMessage(m) => {
                let body = std::mem::take(&mut spool);
                assert_eq!(m.size, body.len() as u64, "size and content differ");
                let failed = body.windows(4).any(|w| w == b"FAIL");
                out.messages.push((m, body));
                s.message_stored(if failed {
                    Err(Reply::new(451, (4, 3, 0), "Local error"))
                } else {
                    Ok(format!("Q{}", out.messages.len()))
                });
            }
            Action::StartTls => {
                out.handshakes += 1;
                s.tls_established();
            }
            Action::Authenticate(request) => {
                let answer = match &request {
                    AuthRequest::Password { password, .. } => {
                        AuthAnswer::Verified(password == "pw")
                    }
                    AuthRequest::CramMd5 { user, .. } if user == "down" => AuthAnswer::Unavailable,
                    AuthRequest::CramMd5 { .. } => AuthAnswer::CramMd5Digest(None),
                    AuthRequest::ScramKeys { .. } => AuthAnswer::ScramKeys(None),
                };
                out.auth.push(request);
                s.auth_answer(answer);
            }
            Action::NeedInput => match pieces.next() {
                Some(piece) => s.feed(piece, now),
                None if ended => panic!("NeedInput after the end of input was signalled"),
                None => {
                    ended = true;
                    if by_timeout {
                        s.on_timeout(now + Duration::from_secs(3600));
                    } else {
                        s.peer_closed();
                    }
                }
            },
            Action::Close => {
                out.closed = true;
                break;
            }
        }
    }
    out
}

fn bounds(cfg: &SessionConfig, input: &[u8], out: &Outcome) {
    let lines = input.iter().filter(|&&b| b == b'\n').count() + input.len() / 1000 + 3;
    assert!(
        out.sent.len() <= lines * MAX_REPLY,
        "{} bytes of replies for {} lines",
        out.sent.len(),
        lines
    );
    for (m, body) in &out.messages {
        assert!(
            body.len() as u64 <= cfg.max_message_size,
            "message over the size limit"
        );
        assert!(
            m.recipients.len() <= cfg.max_recipients,
            "too many recipients"
        );
        assert!(!m.recipients.is_empty(), "a message without recipients");
    }
    assert!(out.closed, "the session did not close at the end of input");
}
