//! What the session does with each parsed command (RFC 5321 §4.1.1), in
//! which order commands may come (§4.1.4), and what EHLO advertises.

use super::chunk::ChunkReader;
use super::data::DataReader;
use super::{Chunk, Helo, Reading, RecipientCheck, Session, Transaction, Waiting};
use crate::address::{Mailbox, ReversePath};
use crate::command::{Body, Command, MailParams};
use crate::reply::Reply;

/// 452 4.5.3 replies tolerated per transaction before they count as errors
/// (Postfix's `smtpd_recipient_overshoot_limit`): a pipelining client sends
/// all its RCPTs before reading a reply, and must not be disconnected for
/// having more recipients than the limit (RFC 5321 §4.5.3.1.10).
const RECIPIENT_OVERSHOOT_LIMIT: u32 = 1000;

fn ok() -> Reply {
    Reply::new(250, (2, 0, 0), "Ok")
}

fn bad_sequence(text: &str) -> Reply {
    Reply::new(503, (5, 5, 1), text)
}

impl Session {
    /// Runs one parsed command.
    pub(super) fn command(&mut self, command: Command) {
        match command {
            Command::Ehlo(name) => self.hello(name, true),
            Command::Helo(name) => self.hello(name, false),
            Command::Mail(from, params) => self.mail(from, params),
            Command::Rcpt(to) => self.rcpt(to),
            Command::Data => self.data(),
            Command::Bdat(size, last) => self.bdat(size, last),
            Command::Rset => {
                // RFC 5321 §4.1.1.5: abort the transaction, keep EHLO.
                self.reset_transaction();
                self.reply(ok());
            }
            Command::Noop => self.reply(ok()),
            Command::Quit => {
                self.send(Reply::new(221, (2, 0, 0), "Bye"));
                self.close();
            }
            // RFC 5321 §3.5.3: 252 when we will not say. Why: VRFY must not
            // tell a harvester which users exist.
            Command::Vrfy(_) => self.reply(Reply::new(
                252,
                (2, 0, 0),
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            // RFC 5321 §3.5.2: EXPN may be refused; list members stay private.
            Command::Expn(_) => self.reply(Reply::new(502, (5, 5, 1), "EXPN not supported")),
            Command::Help(_) => {
                let mut text =
                    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP".to_string();
                if self.cfg.starttls && !self.tls {
                    text.push_str(" STARTTLS");
                }
                if !self.offered_mechanisms().is_empty() {
                    text.push_str(" AUTH");
                }
                self.reply(Reply::new(214, (2, 0, 0), text));
            }
            Command::StartTls => self.starttls(),
            Command::Auth(mechanism, initial) => self.auth(mechanism, initial),
        }
    }

    /// The EHLO keywords after the host name, in advertising order.
    pub(super) fn ehlo_keywords(&self) -> Vec<String> {
        let mut keywords = vec![
            "PIPELINING".to_string(),
            format!("SIZE {}", self.cfg.max_message_size),
            "8BITMIME".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "SMTPUTF8".to_string(),
            "CHUNKING".to_string(),
        ];
        // RFC 3207 §4.2: not offered again once TLS is active.
        if self.cfg.starttls && !self.tls {
            keywords.push("STARTTLS".to_string());
        }
        // RFC 4954 §3: `AUTH` and the mechanisms usable now; none, no keyword.
        let mechanisms: Vec<&str> = self
            .offered_mechanisms()
            .into_iter()
            .map(|m| m.name())
            .collect();
        if !mechanisms.is_empty() {
            keywords.push(format!("AUTH {}", mechanisms.join(" ")));
        }
        keywords
    }

    fn hello(&mut self, name: String, esmtp: bool) {
        // RFC 5321 §4.1.4: EHLO/HELO also resets the transaction.
        self.reset_transaction();
        let reply = if esmtp {
            let mut lines = vec![self.cfg.hostname.clone()];
            lines.extend(self.ehlo_keywords());
            Reply::multiline(250, lines)
        } else {
            Reply::plain(250, self.cfg.hostname.clone())
        };
        self.helo = Some(Helo { name, esmtp });
        self.reply(reply);
    }

    fn reset_transaction(&mut self) {
        self.transaction = None;
        self.recipient_overshoot = 0;
        // A BDAT transaction may have handed over content already.
        self.discard_data();
    }

    /// docs/reference.md §3.4: submission roles accept nothing before AUTH.
    fn auth_missing(&self) -> bool {
        self.cfg.require_auth && self.auth_user.is_none()
    }

    fn auth_required(&mut self) {
        self.reply(Reply::new(530, (5, 7, 0), "Authentication required"));
    }

    fn mail(&mut self, mail_from: ReversePath, mut params: MailParams) {
        // RFC 5321 §4.1.4: MAIL only after EHLO/HELO.
        let Some(helo) = self.helo.clone() else {
            return self.reply(bad_sequence("Error: send HELO/EHLO first"));
        };
        if self.auth_missing() {
            return self.auth_required();
        }
        if self.transaction.is_some() {
            return self.reply(bad_sequence("Error: nested MAIL command"));
        }
        // RFC 1870 §6: a declared size over the limit is refused up front.
        if params
            .size
            .is_some_and(|size| size > self.cfg.max_message_size)
        {
            return self.reply(Reply::new(
                552,
                (5, 3, 4),
                "Message size exceeds fixed limit",
            ));
        }
        // RFC 3030 §3: BINARYMIME is not offered (the content would have to
        // go on by BDAT to every next hop, and to Maildir readers as is).
        if params.body == Body::BinaryMime {
            return self.reply(Reply::new(
                555,
                (5, 5, 4),
                "BODY=BINARYMIME is not supported",
            ));
        }
        // RFC 4954 §5: an AUTH= claim from a client we have not
        // authenticated is not trusted; it is kept as `AUTH=<>`. Why: the
        // claim would otherwise travel on as if we had vouched for it.
        if self.auth_user.is_none() && params.auth.is_some() {
            params.auth = Some(String::new());
        }
        self.transactions += 1;
        self.transaction = Some(Box::new(Transaction {
            number: self.transactions,
            helo,
            mail_from,
            params,
            recipients: Vec::new(),
            chunks: None,
        }));
        self.reply(Reply::new(250, (2, 1, 0), "Ok"));
    }

    fn rcpt(&mut self, mailbox: Mailbox) {
        if self.auth_missing() {
            return self.auth_required();
        }
        let Some(t) = &self.transaction else {
            return self.reply(bad_sequence("Error: need MAIL command"));
        };
        if t.chunks.is_some() {
            return self.reply(bad_sequence("Error: RCPT after BDAT"));
        }
        // RFC 5321 §4.5.3.1.10: 452 for recipients over the limit; the
        // client sends them in a later transaction.
        if t.recipients.len() >= self.cfg.max_recipients {
            self.send(Reply::new(452, (4, 5, 3), "Too many recipients"));
            self.recipient_overshoot += 1;
            if self.recipient_overshoot > RECIPIENT_OVERSHOOT_LIMIT {
                self.count_error();
            }
            return;
        }
        // Why ask the driver: relay and local-user policy live outside the
        // protocol; until it answers, nothing else is read (no reply can
        // overtake this one).
        self.waiting = Waiting::Recipient(Box::new(RecipientCheck {
            transaction: t.number,
            mailbox,
            mail_from: t.mail_from.clone(),
            auth_user: self.auth_user.clone(),
        }));
    }

    fn data(&mut self) {
        if self.auth_missing() {
            return self.auth_required();
        }
        let Some(t) = self.transaction.take() else {
            return self.reply(bad_sequence("Error: need MAIL command"));
        };
        // RFC 3030 §2: one transaction uses DATA or BDAT, never both.
        if t.chunks.is_some() {
            self.transaction = Some(t);
            return self.reply(bad_sequence("Error: DATA after BDAT"));
        }
        // RFC 5321 §3.3: DATA needs at least one accepted recipient.
        if t.recipients.is_empty() {
            self.transaction = Some(t);
            return self.reply(bad_sequence("Error: need RCPT command"));
        }
        // RFC 2034 §3: a 3xx reply carries no enhanced code.
        self.send(Reply::plain(354, "End data with <CR><LF>.<CR><LF>"));
        let reader = DataReader::new(self.cfg.max_message_size, self.cfg.bare_lf);
        self.reading = Reading::Data(reader, t);
    }

    /// `BDAT size [LAST]` (RFC 3030 §2). The chunk's octets follow the
    /// command line at once (the client does not wait for a reply), so they
    /// are read even when the command is refused; the reply comes after them.
    fn bdat(&mut self, size: u64, last: bool) {
        let refused = if self.auth_missing() {
            Some(Reply::new(530, (5, 7, 0), "Authentication required"))
        } else {
            match &mut self.transaction {
                None => Some(bad_sequence("Error: need MAIL command")),
                Some(t) if t.recipients.is_empty() => {
                    Some(bad_sequence("Error: need RCPT command"))
                }
                Some(t) => {
                    t.chunks.get_or_insert_with(|| {
                        Box::new(ChunkReader::new(
                            self.cfg.max_message_size,
                            self.cfg.bare_lf,
                        ))
                    });
                    None
                }
            }
        };
        self.reading = Reading::Chunk(Chunk {
            size,
            remaining: size,
            last,
            refused,
        });
    }

    fn starttls(&mut self) {
        if self.tls {
            return self.reply(bad_sequence("TLS already active"));
        }
        if !self.cfg.starttls {
            return self.reply(Reply::new(502, (5, 5, 1), "STARTTLS not supported"));
        }
        // Like Postfix: not in the middle of a transaction, which the TLS
        // reset would silently drop.
        if self.transaction.is_some() {
            return self.reply(bad_sequence("Error: MAIL transaction in progress"));
        }
        self.send(Reply::new(220, (2, 0, 0), "Ready to start TLS"));
        // CVE-2011-0411: bytes pipelined behind STARTTLS arrived in
        // plaintext, where anyone on the path could have injected them; they
        // are discarded, never run as commands under TLS.
        self.input.clear();
        self.flush();
        self.waiting = Waiting::Tls;
    }
}
