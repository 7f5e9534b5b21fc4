//! Sans-IO SMTP for Portcullis: replies, RFC 5321 addresses and commands, the
//! DATA reader, the SASL mechanisms of AUTH and the session state machine.
//! Nothing here touches a socket or a clock: the session is fed bytes and
//! `now`, and answers with actions.
#![forbid(unsafe_code)]

pub mod address;
pub mod client;
pub mod command;
pub mod proxy;
pub mod reply;
pub mod sasl;
pub mod session;
pub mod submission;

pub use address::{Domain, Mailbox, ReversePath};
pub use reply::Reply;
