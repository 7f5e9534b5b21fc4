//! The end of a message: DATA's `<CRLF>.<CRLF>` or BDAT LAST, its content
//! handed over as it comes, and the envelope the driver stores.

use std::mem;

use super::{Action, Message, Reading, Session, Transaction, Waiting};
use crate::reply::Reply;

impl Session {
    /// The data ended with `<CRLF>.<CRLF>`: store the message or refuse it.
    pub(super) fn end_of_data(&mut self) {
        let Reading::Data(mut reader, t) = mem::replace(&mut self.reading, Reading::Commands)
        else {
            return;
        };
        self.recipient_overshoot = 0;
        let out = reader.take_output();
        self.emit_data(out);
        match reader.finish() {
            Ok(size) => self.store(*t, size),
            Err(reply) => {
                self.discard_data();
                self.reply(reply)
            }
        }
    }

    /// The octets of a BDAT chunk are all read: acknowledge the chunk,
    /// store the message after the last one, or send the refusal.
    pub(super) fn end_of_chunk(&mut self) {
        let Reading::Chunk(chunk) = mem::replace(&mut self.reading, Reading::Commands) else {
            return;
        };
        if let Some(reply) = chunk.refused {
            return self.reply(reply);
        }
        let Some(t) = self.transaction.as_mut() else {
            return;
        };
        let faulty = t.chunks.as_ref().is_some_and(|r| r.has_fault());
        if !chunk.last && !faulty {
            let text = format!("Ok: {} octets received", chunk.size);
            return self.send(Reply::new(250, (2, 0, 0), text));
        }
        // The last chunk, or a message already refused: RFC 3030 §2 ends
        // the transaction either way (a client told 5xx sends no more chunks).
        let Some(mut t) = self.transaction.take() else {
            return;
        };
        self.recipient_overshoot = 0;
        let Some(reader) = t.chunks.take() else {
            return;
        };
        let (rest, outcome) = reader.finish();
        self.emit_data(rest);
        match outcome {
            Ok(size) => self.store(*t, size),
            Err(reply) => {
                self.discard_data();
                self.reply(reply)
            }
        }
    }

    /// Hands message content to the driver, in order with the other actions.
    pub(super) fn emit_data(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.data_emitted = true;
            self.queued.push_back(Action::MessageData(bytes));
        }
    }

    /// The message in progress will not be stored: the driver drops what it
    /// was handed of it.
    pub(super) fn discard_data(&mut self) {
        if mem::take(&mut self.data_emitted) {
            self.queued.push_back(Action::DiscardMessage);
        }
    }

    /// The envelope of the message whose content is being received (or
    /// was, until the driver stores it; its size is 0 until then): what the
    /// driver needs to write trace headers ahead of a large message's
    /// content before its end. `None` outside a message.
    pub fn receiving(&self) -> Option<Message> {
        if let Waiting::Storage(Some(message)) = &self.waiting {
            return Some((**message).clone());
        }
        let t = match &self.reading {
            Reading::Data(_, t) => t,
            _ => self.transaction.as_ref()?,
        };
        Some(Message {
            transaction: t.number,
            helo: t.helo.name.clone(),
            esmtp: t.helo.esmtp,
            tls: self.tls,
            auth_user: self.auth_user.clone(),
            mail_from: t.mail_from.clone(),
            params: t.params.clone(),
            recipients: t.recipients.clone(),
            size: 0,
        })
    }

    /// A complete message: ask the driver to store it.
    pub(super) fn store(&mut self, t: Transaction, size: u64) {
        self.data_emitted = false;
        let message = Message {
            transaction: t.number,
            helo: t.helo.name,
            esmtp: t.helo.esmtp,
            tls: self.tls,
            auth_user: self.auth_user.clone(),
            mail_from: t.mail_from,
            params: t.params,
            recipients: t.recipients,
            size,
        };
        self.waiting = Waiting::Storage(Some(Box::new(message)));
    }
}
