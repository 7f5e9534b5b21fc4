//! One mail transaction as a state machine: MAIL FROM, one RCPT TO per
//! recipient, DATA, the message, and the final reply, turned into one
//! result per recipient (RFC 5321 §3.3, §4.2.5).
//!
//! With PIPELINING (RFC 2920 §3.1) MAIL, every RCPT and DATA go out in one
//! write and the replies are matched to them in order; without it each
//! command waits for its reply. Either way a recipient's result is decided
//! by the first negative reply on its way: MAIL's, else its RCPT's, else
//! DATA's, else the reply to the end of data.
//!
//! In LMTP mode (RFC 2033 §4.2) the end of data gets one reply per
//! recipient whose RCPT was accepted, in RCPT order, and each decides for
//! its own recipient: one mailbox may take the message while another is
//! over quota (4xx) or unknown (5xx).

use std::collections::VecDeque;

use super::command::{mail_from, rcpt_to, MailOptions};
use crate::reply::Reply;

/// Which command a reply answered, for logs and bounces ("in reply to …").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Decided before anything was sent (an address that cannot be sent).
    Local,
    /// `MAIL FROM`.
    MailFrom,
    /// `RCPT TO`.
    RcptTo,
    /// `DATA`.
    Data,
    /// The end of the message data (`.`).
    EndOfData,
    /// The connection failed before the transaction ended.
    Connection,
}

impl Stage {
    /// The command as a bounce names it.
    pub fn command(self) -> &'static str {
        match self {
            Stage::Local => "local check",
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::EndOfData => "end of DATA",
            Stage::Connection => "connection",
        }
    }
}

/// What a recipient's deciding reply means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classified {
    /// Accepted by the next hop: done.
    Delivered,
    /// 4xx, or anything unexpected: try again later.
    Temporary,
    /// 5xx: never retry; bounce.
    Permanent,
}

/// One recipient's result: the deciding reply and what it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RcptResult {
    /// The recipient address, as given.
    pub recipient: String,
    /// The deciding reply (a synthetic one for [`Stage::Local`] and [`Stage::Connection`]).
    pub reply: Reply,
    /// Which command it answered.
    pub stage: Stage,
}

impl RcptResult {
    /// Delivered only on a 2xx to the end of data; 5xx is permanent;
    /// everything else (4xx, a 2xx or 3xx out of place) is temporary.
    pub fn class(&self) -> Classified {
        match self.reply.code / 100 {
            2 if self.stage == Stage::EndOfData => Classified::Delivered,
            5 => Classified::Permanent,
            _ => Classified::Temporary,
        }
    }
}

/// The end of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// One result per recipient, in the order given.
    pub results: Vec<RcptResult>,
    /// MAIL was accepted but the transaction did not complete: send RSET
    /// before the next MAIL on this connection.
    pub reset_needed: bool,
    /// The server answered 421 (it is closing the connection) or the
    /// connection failed: do not reuse it.
    pub connection_unusable: bool,
}

/// What the driver does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes, then read the next reply.
    Send(Vec<u8>),
    /// Write the message, dot-stuffed and ending in `.` ([`super::dot_stuff`]),
    /// then read the next reply.
    SendMessage,
    /// Read the next reply (more pipelined replies are due).
    Read,
    /// The transaction is over.
    Done(Outcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Mail,
    Rcpt(usize),
    Data,
    /// A reply to the end of data.
    EndOfData(EndFor),
}

/// Whom a reply to the end of data decides for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EndFor {
    /// Nobody: the data was an empty message sent only to close a DATA that
    /// should not have been accepted.
    Discarded,
    /// Every recipient (SMTP: one reply for the message).
    All,
    /// This recipient (LMTP: one reply each).
    Recipient(usize),
}

/// One transaction.
#[derive(Debug)]
pub struct Transaction {
    sender: String,
    options: MailOptions,
    pipelining: bool,
    /// LMTP (RFC 2033): one reply per accepted recipient after the data.
    lmtp: bool,
    recipients: Vec<String>,
    /// Results fixed before sending (addresses that cannot be sent).
    local: Vec<Option<Reply>>,
    /// Recipients that go on the wire, as indexes into `recipients`.
    wire: Vec<usize>,
    expect: VecDeque<Expect>,
    mail: Option<Reply>,
    rcpt: Vec<Option<Reply>>,
    data: Option<Reply>,
    /// Each recipient's reply to the end of data.
    end: Vec<Option<Reply>>,
    /// The data phase ended (the end of data was answered, discarded or not).
    ended: bool,
    /// The 421 the server closed with, if it did.
    closing: Option<Reply>,
    /// The connection cannot carry another transaction (see [`Outcome`]).
    unusable: bool,
    finished: bool,
}

impl Transaction {
    /// A transaction from `sender` (`""`: the null sender) to `recipients`.
    pub fn new(
        sender: &str,
        recipients: Vec<String>,
        options: MailOptions,
        pipelining: bool,
    ) -> Transaction {
        let n = recipients.len();
        Transaction {
            sender: sender.to_string(),
            options,
            pipelining,
            lmtp: false,
            recipients,
            local: vec![None; n],
            wire: Vec::new(),
            expect: VecDeque::new(),
            mail: None,
            rcpt: vec![None; n],
            data: None,
            end: vec![None; n],
            ended: false,
            closing: None,
            unusable: false,
            finished: false,
        }
    }

    /// The same transaction spoken as LMTP (RFC 2033): after the data, one
    /// reply per accepted recipient, each deciding for its recipient.
    pub fn lmtp(mut self) -> Transaction {
        self.lmtp = true;
        self
    }

    /// The first step: the commands to write, or `Done` at once when nothing
    /// can be sent (a sender or every recipient that cannot go on a command line).
    pub fn start(&mut self) -> Step {
        let mail = match mail_from(&self.sender, &self.options) {
            Ok(line) => line,
            Err(e) => {
                let reply = Reply::new(553, (5, 1, 7), e.to_string());
                for slot in &mut self.local {
                    *slot = Some(reply.clone());
                }
                return self.finish();
            }
        };
        let mut rcpt_lines = Vec::new();
        for (i, address) in self.recipients.iter().enumerate() {
            match rcpt_to(address) {
                Ok(line) => {
                    self.wire.push(i);
                    rcpt_lines.push(line);
                }
                Err(e) => self.local[i] = Some(Reply::new(553, (5, 1, 3), e.to_string())),
            }
        }
        if self.wire.is_empty() {
            return self.finish();
        }
        self.expect.push_back(Expect::Mail);
        if !self.pipelining {
            return Step::Send(mail);
        }
        // RFC 2920 §3.1: MAIL and RCPT may be grouped, DATA last in the group.
        let mut out = mail;
        for (line, &i) in rcpt_lines.iter().zip(&self.wire) {
            out.extend_from_slice(line);
            self.expect.push_back(Expect::Rcpt(i));
        }
        out.extend_from_slice(b"DATA\r\n");
        self.expect.push_back(Expect::Data);
        Step::Send(out)
    }

    /// Feeds the next reply read from the server.
    pub fn on_reply(&mut self, reply: Reply) -> Step {
        if self.finished {
            return Step::Read;
        }
        let Some(expect) = self.expect.pop_front() else {
            return self.finish();
        };
        if reply.code == 421 {
            // RFC 5321 §3.8: the server is closing; nothing more will come.
            self.closing = Some(reply.clone());
            self.record(expect, reply);
            return self.finish();
        }
        let positive = reply.code / 100 == 2;
        self.record(expect, reply);
        match expect {
            Expect::Mail => {
                if self.pipelining {
                    Step::Read
                } else if positive {
                    self.send_rcpt(0)
                } else {
                    self.finish()
                }
            }
            Expect::Rcpt(i) => {
                if self.pipelining {
                    return Step::Read;
                }
                let position = self.wire.iter().position(|&w| w == i).unwrap_or(0);
                if position + 1 < self.wire.len() {
                    self.send_rcpt(position + 1)
                } else if self.any_recipient_accepted() {
                    self.expect.push_back(Expect::Data);
                    Step::Send(b"DATA\r\n".to_vec())
                } else {
                    self.finish()
                }
            }
            Expect::Data => {
                let go_ahead = self.data.as_ref().is_some_and(|r| r.code == 354);
                if !go_ahead {
                    return self.finish();
                }
                if self.mail_accepted() && self.any_recipient_accepted() {
                    if self.lmtp {
                        // RFC 2033 §4.2: one reply per accepted RCPT, in order.
                        let accepted: Vec<usize> = self.accepted_recipients().collect();
                        self.expect.extend(
                            accepted
                                .into_iter()
                                .map(|i| Expect::EndOfData(EndFor::Recipient(i))),
                        );
                    } else {
                        self.expect.push_back(Expect::EndOfData(EndFor::All));
                    }
                    Step::SendMessage
                } else if self.lmtp {
                    // An LMTP server owes no reply at all to a message
                    // without recipients (RFC 2033 §4.2): rather than guess
                    // what comes after a lone dot, drop the connection.
                    self.unusable = true;
                    self.finish()
                } else {
                    // RFC 2920 §3.1: DATA accepted although no recipient
                    // was: send an empty message (a lone dot) to close it.
                    self.expect.push_back(Expect::EndOfData(EndFor::Discarded));
                    Step::Send(b".\r\n".to_vec())
                }
            }
            Expect::EndOfData(_) if self.expect.is_empty() => self.finish(),
            Expect::EndOfData(_) => Step::Read,
        }
    }

    /// The command whose reply is awaited next (for its RFC 5321 §4.5.3.2
    /// timeout); None when no reply is due.
    pub fn waiting_for(&self) -> Option<Stage> {
        self.expect.front().map(|e| match e {
            Expect::Mail => Stage::MailFrom,
            Expect::Rcpt(_) => Stage::RcptTo,
            Expect::Data => Stage::Data,
            Expect::EndOfData(_) => Stage::EndOfData,
        })
    }

    /// The connection failed (I/O error, timeout, unreadable reply): every
    /// recipient without a result gets `reason` (a 4xx: try again later).
    pub fn abort(&mut self, reason: Reply) -> Outcome {
        self.closing = Some(reason);
        self.finished = true;
        self.outcome()
    }

    fn send_rcpt(&mut self, position: usize) -> Step {
        let i = self.wire[position];
        match rcpt_to(&self.recipients[i]) {
            Ok(line) => {
                self.expect.push_back(Expect::Rcpt(i));
                Step::Send(line)
            }
            // Checked in `start`; unreachable in practice, and harmless.
            Err(e) => {
                self.local[i] = Some(Reply::new(553, (5, 1, 3), e.to_string()));
                self.finish()
            }
        }
    }

    fn record(&mut self, expect: Expect, reply: Reply) {
        match expect {
            Expect::Mail => self.mail = Some(reply),
            Expect::Rcpt(i) => self.rcpt[i] = Some(reply),
            Expect::Data => self.data = Some(reply),
            // The reply to a discarded empty message decides nothing.
            Expect::EndOfData(EndFor::Discarded) => self.ended = true,
            Expect::EndOfData(EndFor::All) => {
                self.ended = true;
                self.end.fill(Some(reply));
            }
            Expect::EndOfData(EndFor::Recipient(i)) => {
                self.end[i] = Some(reply);
                self.ended = self.expect.is_empty();
            }
        }
    }

    fn mail_accepted(&self) -> bool {
        self.mail.as_ref().is_some_and(|r| r.code / 100 == 2)
    }

    fn any_recipient_accepted(&self) -> bool {
        self.accepted_recipients().next().is_some()
    }

    /// The recipients whose RCPT was accepted, in RCPT order.
    fn accepted_recipients(&self) -> impl Iterator<Item = usize> + '_ {
        self.wire
            .iter()
            .copied()
            .filter(|&i| self.rcpt[i].as_ref().is_some_and(|r| r.code / 100 == 2))
    }

    fn finish(&mut self) -> Step {
        self.finished = true;
        Step::Done(self.outcome())
    }

    /// The results so far; a recipient without a deciding reply gets the
    /// reply the connection closed with (or a 451 if there is none).
    fn outcome(&self) -> Outcome {
        let fallback = self.closing.clone();
        let missing = || {
            fallback.clone().unwrap_or_else(|| {
                Reply::new(451, (4, 4, 2), "the server ended the transaction early")
            })
        };
        let results = self
            .recipients
            .iter()
            .enumerate()
            .map(|(i, recipient)| {
                let (reply, stage) = self.decide(i).unwrap_or_else(|| {
                    let stage = if fallback.is_some() {
                        Stage::Connection
                    } else {
                        Stage::EndOfData
                    };
                    (missing(), stage)
                });
                RcptResult {
                    recipient: recipient.clone(),
                    reply,
                    stage,
                }
            })
            .collect();
        // A transaction is open from an accepted MAIL until the reply to the
        // end of data; anything in between needs RSET before reuse.
        let reset_needed = self.mail_accepted() && !self.ended;
        Outcome {
            results,
            reset_needed,
            connection_unusable: self.closing.is_some() || self.unusable,
        }
    }

    /// The deciding reply of recipient `i`, if one has come.
    fn decide(&self, i: usize) -> Option<(Reply, Stage)> {
        if let Some(r) = &self.local[i] {
            return Some((r.clone(), Stage::Local));
        }
        let mail = self.mail.as_ref()?;
        if mail.code / 100 != 2 {
            return Some((mail.clone(), Stage::MailFrom));
        }
        let rcpt = self.rcpt[i].as_ref()?;
        if rcpt.code / 100 != 2 {
            return Some((rcpt.clone(), Stage::RcptTo));
        }
        let data = self.data.as_ref()?;
        if data.code != 354 {
            return Some((data.clone(), Stage::Data));
        }
        self.end[i].as_ref().map(|r| (r.clone(), Stage::EndOfData))
    }
}

#[cfg(test)]
mod tests;
