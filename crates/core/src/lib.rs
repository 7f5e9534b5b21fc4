//! Pure Portcullis logic: the configuration model, the relay policy, users
//! and aliases, Maildir delivery and the queue spool. No sockets, no async;
//! DNS answers come in as data.
#![forbid(unsafe_code)]

pub mod aliases;
pub mod auth_throttle;
pub mod clock;
pub mod config;
pub mod content;
pub mod edit_lock;
pub mod instance_lock;
pub mod limiter;
pub mod loops;
pub mod maildir;
pub mod maildrop;
pub mod outbound;
pub mod recipient;
pub mod relay;
pub mod spool;
pub mod submission;
pub mod users;
