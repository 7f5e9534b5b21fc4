//! The outbound queue's rules (`portcullis-queue`), pure. Outbound delivery: when to try again ([`schedule`]),
//! where a domain's mail goes ([`route`]: `[routes]`, smarthost, MX in
//! preference order, implicit MX, null MX), what a failed attempt was
//! ([`failure`]), how results change a queued envelope ([`transition`]),
//! the bounce to the sender ([`dsn`], RFC 3464), and the `queue list|show`
//! text ([`listing`]). No sockets, no clock: DNS answers, replies and `now`
//! come in as data, so every rule here is a plain test. The tokio queue
//! runner in the server drives it. [`loops`] recognises mail that would
//! come back to this server.
#![forbid(unsafe_code)]

pub mod date;
pub mod dsn;
pub mod failure;
pub mod listing;
pub mod loops;
pub mod mta_sts;
pub mod route;
pub mod schedule;
pub mod transition;

pub use failure::{Failure, Status};
pub use route::{domain_of, Hop, HopHost, MxAnswer, Route};
pub use schedule::RetryPolicy;
pub use transition::{apply, Attempt, Changes};
