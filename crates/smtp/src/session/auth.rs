//! AUTH (RFC 4954) in the session: which mechanisms EHLO offers, when AUTH
//! may come, and the SASL exchange itself: `334` challenges, the client's
//! base64 continuation lines, the driver's answers, the final reply.

use super::{BareLf, Event, Reading, Session, Waiting};
use crate::reply::Reply;
use crate::sasl::{
    self, cram_md5, scram, AuthAnswer, CramMd5, Exchange, Failure, Login, Mechanism, Plain,
    ScramSha256, Step,
};

fn bad_sequence(text: &str) -> Reply {
    Reply::new(503, (5, 5, 1), text)
}

/// How one AUTH exchange ended, for the driver's brute-force defence
/// ([`Session::take_events`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// `235 2.7.0` as this user (lower-cased).
    Succeeded {
        /// The authenticated user.
        user: String,
    },
    /// `535 5.7.8`: wrong password, unknown user or refused authorization
    /// identity.
    Failed {
        /// The user name tried (lower-cased), when the exchange got as far
        /// as naming one.
        user: Option<String>,
    },
}

impl Session {
    /// The configured mechanisms we implement, in configured order, without
    /// duplicates. Names we do not know are skipped (config validation
    /// refuses them before a session ever sees them).
    fn configured_mechanisms(&self) -> Vec<Mechanism> {
        let mut mechanisms = Vec::new();
        for m in self
            .cfg
            .auth_mechanisms
            .iter()
            .filter_map(|n| Mechanism::from_name(n))
        {
            if !mechanisms.contains(&m) {
                mechanisms.push(m);
            }
        }
        mechanisms
    }

    /// Whether `m` may be used on this connection now.
    fn usable(&self, m: Mechanism) -> bool {
        // Why: PLAIN and LOGIN put the password itself on the wire; without
        // TLS anyone on the path would read it (RFC 4954 §4, RFC 4616 §4).
        !(m.sends_password() && self.cfg.plaintext_requires_tls && !self.tls)
    }

    /// The mechanisms EHLO advertises now (RFC 4954 §3), in configured order.
    pub(super) fn offered_mechanisms(&self) -> Vec<Mechanism> {
        self.configured_mechanisms()
            .into_iter()
            .filter(|&m| self.usable(m))
            .collect()
    }

    /// `AUTH mechanism [initial-response]`.
    pub(super) fn auth(&mut self, name: String, initial: Option<String>) {
        // RFC 4954 §4: AUTH is an ESMTP command; after HELO it does not exist.
        if !self.helo.as_ref().is_some_and(|h| h.esmtp) {
            return self.reply(bad_sequence("Error: send EHLO first"));
        }
        // RFC 4954 §4: once authenticated, AUTH is refused.
        if self.auth_user.is_some() {
            return self.reply(bad_sequence("Error: already authenticated"));
        }
        // RFC 4954 §4: not during a mail transaction.
        if self.transaction.is_some() {
            return self.reply(bad_sequence("Error: MAIL transaction in progress"));
        }
        let configured = self.configured_mechanisms();
        if configured.is_empty() {
            return self.reply(Reply::new(502, (5, 5, 1), "AUTH not supported"));
        }
        let Some(mechanism) = Mechanism::from_name(&name).filter(|m| configured.contains(m)) else {
            return self.reply(Reply::new(
                504,
                (5, 5, 4),
                "Unrecognized authentication type",
            ));
        };
        // RFC 4954 §6: 538 before anything is exchanged, so a client that
        // would send its password in clear is stopped before it does.
        if !self.usable(mechanism) {
            return self.reply(Reply::new(
                538,
                (5, 7, 11),
                "Encryption required for requested authentication mechanism",
            ));
        }
        let initial = match initial.as_deref().map(sasl::decode_initial) {
            None => None,
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(failure)) => return self.reply(failure.reply()),
        };
        let mut exchange = self.new_exchange(mechanism);
        let step = exchange.start(initial);
        self.reading = Reading::Auth(Box::new(exchange));
        self.auth_step(step);
    }

    fn new_exchange(&mut self, mechanism: Mechanism) -> Exchange {
        let random = self.nonces.next();
        let fixed = self.fixed_challenge();
        match mechanism {
            Mechanism::Plain => Exchange::Plain(Plain::new()),
            Mechanism::Login => Exchange::Login(Login::new()),
            Mechanism::CramMd5 => {
                let challenge = fixed
                    .map(String::into_bytes)
                    .unwrap_or_else(|| cram_md5::challenge(&random, &self.cfg.hostname));
                Exchange::CramMd5(CramMd5::new(challenge))
            }
            Mechanism::ScramSha256 => {
                let nonce = fixed.unwrap_or_else(|| scram::server_nonce(&random));
                Exchange::ScramSha256(ScramSha256::new(nonce, self.cfg.auth_secret.clone()))
            }
        }
    }

    /// Tests replay the RFCs' exchanges with their published challenges.
    #[cfg(test)]
    fn fixed_challenge(&mut self) -> Option<String> {
        self.challenge_override.take()
    }

    /// In production every challenge and nonce is drawn from `nonces`.
    #[cfg(not(test))]
    fn fixed_challenge(&mut self) -> Option<String> {
        None
    }

    /// One continuation line of the exchange, LF included.
    pub(super) fn auth_line(&mut self, raw: &[u8]) {
        let crlf = raw.ends_with(b"\r\n");
        // The same line-ending rule as for commands (RFC 5321 §2.3.8).
        if !crlf && self.cfg.bare_lf == BareLf::Reject {
            self.end_exchange();
            return self.reply(Reply::new(500, (5, 5, 2), "Bare LF not allowed in command"));
        }
        let line = &raw[..raw.len() - if crlf { 2 } else { 1 }];
        let step = match sasl::decode_response(line) {
            Ok(response) => match &mut self.reading {
                Reading::Auth(exchange) => exchange.respond(response),
                _ => return,
            },
            Err(failure) => Step::Failure(failure),
        };
        self.auth_step(step);
    }

    /// A continuation line over the limit: the exchange is aborted.
    pub(super) fn auth_line_too_long(&mut self) {
        self.end_exchange();
        self.reply(Reply::new(500, (5, 5, 2), "Line too long"));
    }

    /// The driver's answer to the pending `Authenticate`.
    pub(super) fn auth_answered(&mut self, answer: AuthAnswer) {
        let Waiting::Auth(_) = self.waiting else {
            // No request is pending: a stray call changes nothing.
            return;
        };
        self.waiting = Waiting::Nothing;
        let step = match &mut self.reading {
            Reading::Auth(exchange) => exchange.answer(answer),
            _ => Step::Failure(Failure::Temporary),
        };
        self.auth_step(step);
    }

    /// Carries out what the mechanism decided.
    fn auth_step(&mut self, step: Step) {
        match step {
            // RFC 4954 §4: challenges are `334 <base64>`, with no enhanced code.
            Step::Challenge(bytes) => self.send(Reply::plain(334, sasl::encode_challenge(&bytes))),
            // Why ask the driver: the secrets live in the user database; until
            // it answers, nothing else is read.
            Step::Ask(request) => {
                self.auth_attempt_user = Some(request.user().to_string());
                self.waiting = Waiting::Auth(Box::new(request));
            }
            Step::Success(user) => {
                self.end_exchange();
                self.events
                    .push(Event::Auth(AuthOutcome::Succeeded { user: user.clone() }));
                self.auth_user = Some(user);
                self.send(Reply::new(235, (2, 7, 0), "Authentication successful"));
            }
            // Each failed AUTH counts as an error: a password guesser is
            // disconnected after `max_errors` tries.
            Step::Failure(failure) => {
                let user = self.auth_attempt_user.take();
                self.end_exchange();
                // Only a rejected password is a guess worth counting.
                if failure == Failure::Credentials {
                    self.events.push(Event::Auth(AuthOutcome::Failed { user }));
                }
                self.reply(failure.reply());
            }
        }
    }

    fn end_exchange(&mut self) {
        self.auth_attempt_user = None;
        if matches!(self.reading, Reading::Auth(_)) {
            self.reading = Reading::Commands;
        }
    }
}
