//! What happened in a session, as typed events for the driver's limits,
//! metrics and logs ([`Session::take_events`](super::Session::take_events)):
//! nothing outside the session reads the wording of a reply.

use super::auth::AuthOutcome;
use crate::reply::Enhanced;

/// One thing that happened, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A reply was queued for the client: its code and enhanced status.
    Replied {
        /// The reply code (`250`, `554`, ...).
        code: u16,
        /// The enhanced status code (RFC 3463), when the reply has one.
        enhanced: Option<Enhanced>,
    },
    /// An AUTH exchange ended with a verdict on credentials.
    Auth(AuthOutcome),
    /// A session limit ended the session.
    LimitReached(LimitReached),
}

impl Event {
    /// The AUTH verdicts among `events`, oldest first.
    pub fn auth_outcomes(events: &[Event]) -> impl Iterator<Item = &AuthOutcome> {
        events.iter().filter_map(|e| match e {
            Event::Auth(outcome) => Some(outcome),
            _ => None,
        })
    }
}

/// A session limit that ended the session (for the driver's logs and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitReached {
    /// `limits.commands_before_mail`.
    CommandsBeforeMail,
}

impl LimitReached {
    /// The configuration key of the limit.
    pub fn key(self) -> &'static str {
        match self {
            LimitReached::CommandsBeforeMail => "commands_before_mail",
        }
    }
}
