//! Queuing replies: errors counted toward `limits.errors`, the close that
//! hands over what is pending, and the events each reply makes.

use std::mem;

use super::{Action, Event, Reading, Session, Waiting};
use crate::reply::Reply;

impl Session {
    /// Queues a reply that is not an error to count (or is counted elsewhere).
    pub(super) fn send(&mut self, reply: Reply) {
        self.events.push(Event::Replied {
            code: reply.code,
            enhanced: reply.enhanced,
        });
        reply.write_to(&mut self.out);
    }

    /// Queues the reply to a client command; a 4xx/5xx counts as an error,
    /// and too many end the session.
    pub(super) fn reply(&mut self, reply: Reply) {
        let negative = reply.code >= 400;
        self.send(reply);
        if negative {
            self.count_error();
        }
    }

    pub(super) fn count_error(&mut self) {
        self.errors += 1;
        // Why: a client that only collects errors (address harvesting,
        // brute force, a confused robot) gets disconnected.
        if self.errors >= self.cfg.max_errors {
            // The reply names the knob, so an admin whose own scan (nmap's
            // relay test) was cut short knows what to raise.
            self.send(Reply::new(
                421,
                (4, 7, 0),
                format!(
                    "Too many errors (limits.errors = {}), closing connection",
                    self.cfg.max_errors
                ),
            ));
            self.close();
        }
    }

    /// Hands over the pending replies, then `Close`; nothing more is read.
    pub(super) fn close(&mut self) {
        if self.closed {
            return;
        }
        if !self.out.is_empty() {
            self.queued
                .push_back(Action::Send(mem::take(&mut self.out)));
        }
        // An unfinished message is dropped: only its real end makes one.
        self.discard_data();
        self.queued.push_back(Action::Close);
        self.closed = true;
        self.input.clear();
        self.reading = Reading::Commands;
        self.transaction = None;
        self.waiting = Waiting::Nothing;
    }

    /// Hands over the pending replies before a pause (STARTTLS).
    pub(super) fn flush(&mut self) {
        if !self.out.is_empty() {
            self.queued
                .push_back(Action::Send(mem::take(&mut self.out)));
        }
    }
}
