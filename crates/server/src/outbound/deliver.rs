//! One queued message's recipients for one destination, over an open
//! session: the checks that decide before sending (SIZE, SMTPUTF8, body
//! type), the transaction with PIPELINING where offered, the message
//! dot-stuffed on the way out, and one result per recipient.

use std::time::Duration;

use portcullis_queue::{Attempt, Failure};
use portcullis_smtp::client::{
    rset, Classified, DotStuffer, MailOptions, Stage, Step, Transaction,
};
use portcullis_smtp::command::Body;
use portcullis_smtp::Reply;
use portcullis_store::spool::BodyType;

use super::conn::ConnError;
use super::session::{Session, COMMAND_TIMEOUT};

/// RFC 5321 §4.5.3.2.2-4: MAIL and RCPT 5 minutes.
const ENVELOPE_TIMEOUT: Duration = Duration::from_secs(300);
/// RFC 5321 §4.5.3.2.4: DATA initiation, 2 minutes.
const DATA_INIT_TIMEOUT: Duration = Duration::from_secs(120);
/// RFC 5321 §4.5.3.2.5: each data block, 3 minutes.
const DATA_BLOCK_TIMEOUT: Duration = Duration::from_secs(180);
/// RFC 5321 §4.5.3.2.6: the reply to the final dot, 10 minutes.
const DATA_END_TIMEOUT: Duration = Duration::from_secs(600);
/// The message goes out in blocks of this size, each with its own deadline.
const BLOCK: usize = 64 * 1024;
/// RFC 5321 §4.5.3.1.8: servers must take at least 100 recipients per
/// transaction; more go in further transactions.
const RECIPIENTS_PER_TRANSACTION: usize = 100;

/// What is delivered: the envelope's sender and options and the bytes.
pub(super) struct Outgoing<'a> {
    /// MAIL FROM (`""`: the null sender).
    pub sender: &'a str,
    /// The stored `BODY=` type.
    pub body: BodyType,
    /// Whether the message needs SMTPUTF8.
    pub smtputf8: bool,
    /// The message (CRLF, not dot-stuffed).
    pub message: &'a [u8],
}

/// Delivers `out` to `recipients` over `session`. Returns one result per
/// recipient and whether the session can carry another message.
pub(super) async fn deliver(
    session: &mut Session,
    out: &Outgoing<'_>,
    recipients: &[String],
) -> (Vec<(String, Attempt)>, bool) {
    let remote = session.conn.remote.clone();
    let all_fail = |f: Failure| {
        recipients
            .iter()
            .map(|r| (r.clone(), Attempt::Failed(f.clone())))
            .collect::<Vec<_>>()
    };
    let caps = &session.caps;

    // RFC 1870 §6: a message larger than the server's fixed limit would be
    // refused; do not send it (permanent: the message will not shrink).
    let size = u64::try_from(out.message.len()).unwrap_or(u64::MAX);
    if let Some(limit) = caps.size_limit {
        if size > limit {
            return (
                all_fail(Failure::local(
                    (5, 3, 4),
                    format!("message of {size} bytes exceeds the fixed maximum of {limit} bytes of {remote}"),
                )),
                true,
            );
        }
    }
    // RFC 6531 §3.2: an SMTPUTF8 message to a server without SMTPUTF8
    // cannot be delivered as it is.
    if out.smtputf8 && !caps.smtputf8 {
        return (
            all_fail(Failure::local(
                (5, 6, 7),
                format!("{remote} does not support SMTPUTF8, which the message needs"),
            )),
            true,
        );
    }
    let body = match out.body {
        BodyType::SevenBit => Body::SevenBit,
        // RFC 6152: declare 8-bit data where the server understands it;
        // elsewhere send it undeclared, as Postfix does (almost every
        // server passes 8-bit text through).
        BodyType::EightBitMime if caps.eightbitmime => Body::EightBitMime,
        BodyType::EightBitMime => Body::SevenBit,
        // RFC 3030: BINARYMIME needs BDAT, which this client does not send.
        BodyType::BinaryMime => {
            return (
                all_fail(Failure::local(
                    (5, 6, 3),
                    "BINARYMIME messages cannot be relayed (no BDAT support)",
                )),
                true,
            )
        }
    };
    let options = MailOptions {
        size: caps.size.then_some(size),
        body,
        smtputf8: out.smtputf8,
    };

    let mut results = Vec::with_capacity(recipients.len());
    let mut usable = true;
    for chunk in recipients.chunks(RECIPIENTS_PER_TRANSACTION) {
        if !usable {
            results.extend(chunk.iter().map(|r| {
                (
                    r.clone(),
                    Attempt::Failed(Failure::local(
                        (4, 4, 2),
                        format!("connection to {remote} lost"),
                    )),
                )
            }));
            continue;
        }
        let (chunk_results, still_usable) = transaction(session, out, options, chunk).await;
        results.extend(chunk_results);
        usable = still_usable;
    }
    session.transactions += 1;
    (results, usable)
}

async fn transaction(
    session: &mut Session,
    out: &Outgoing<'_>,
    options: MailOptions,
    recipients: &[String],
) -> (Vec<(String, Attempt)>, bool) {
    let remote = session.conn.remote.clone();
    let mut tx = Transaction::new(
        out.sender,
        recipients.to_vec(),
        options,
        session.caps.pipelining,
    );
    if session.lmtp {
        tx = tx.lmtp();
    }
    let mut step = tx.start();
    let outcome = loop {
        let io: Result<(), ConnError> = match step {
            Step::Done(outcome) => break outcome,
            Step::Send(bytes) => {
                session
                    .conn
                    .write_all(&bytes, ENVELOPE_TIMEOUT, "sending commands")
                    .await
            }
            Step::SendMessage => send_message(session, out.message).await,
            Step::Read => Ok(()),
        };
        let next = match io {
            Ok(()) => {
                let (limit, what) = match tx.waiting_for() {
                    Some(Stage::Data) => (DATA_INIT_TIMEOUT, "the reply to DATA"),
                    Some(Stage::EndOfData) => (DATA_END_TIMEOUT, "the reply to the end of data"),
                    _ => (ENVELOPE_TIMEOUT, "the reply to MAIL/RCPT"),
                };
                session.conn.read_reply(limit, what).await
            }
            Err(e) => Err(e),
        };
        step = match next {
            Ok(reply) => tx.on_reply(reply),
            Err(e) => {
                break tx.abort(Reply::new(
                    451,
                    (4, 4, 2),
                    format!("connection to {remote} failed: {e}"),
                ))
            }
        };
    };

    let results = outcome
        .results
        .iter()
        .map(|r| {
            let attempt = match (r.class(), r.stage) {
                (Classified::Delivered, _) => Attempt::Delivered,
                (_, Stage::Local | Stage::Connection) => {
                    let e = r.reply.enhanced;
                    let class = if r.reply.code / 100 == 5 { 5 } else { 4 };
                    let status = e.map_or((class, 0, 0), |e| (class, e.1, e.2));
                    Attempt::Failed(Failure::local(status, r.reply.lines.join(" ")))
                }
                _ => Attempt::Failed(Failure::from_reply(&remote, &r.reply, r.stage.command())),
            };
            (r.recipient.clone(), attempt)
        })
        .collect();

    let mut usable = !outcome.connection_unusable;
    if usable && outcome.reset_needed {
        // RFC 5321 §4.1.1.5: RSET ends the open transaction before the next.
        usable = matches!(
            session.conn.command(&rset(), COMMAND_TIMEOUT, "the reply to RSET").await,
            Ok(r) if r.code == 250
        );
    }
    (results, usable)
}

/// Writes the message dot-stuffed (docs/reference.md §6: redone on relay), block by block.
async fn send_message(session: &mut Session, message: &[u8]) -> Result<(), ConnError> {
    let mut encoder = DotStuffer::new();
    let mut buf = Vec::with_capacity(BLOCK + BLOCK / 8);
    for block in message.chunks(BLOCK) {
        buf.clear();
        encoder.encode(block, &mut buf);
        session
            .conn
            .write_all(&buf, DATA_BLOCK_TIMEOUT, "sending the message")
            .await?;
    }
    buf.clear();
    encoder.finish(&mut buf);
    session
        .conn
        .write_all(&buf, DATA_BLOCK_TIMEOUT, "sending the message")
        .await
}
