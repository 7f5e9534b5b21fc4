//! Pure Portcullis logic: the configuration model, the relay policy, users
//! and aliases, Maildir delivery and the queue spool. No sockets, no async;
//! DNS answers come in as data.
#![forbid(unsafe_code)]

pub mod config;
pub mod relay;
pub mod aliases;
pub mod maildir;
pub mod spool;
pub mod users;
