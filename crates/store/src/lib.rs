//! Durable files, the pure-Rust part of the server's disk work: message
//! content as it is written ([`content`]), local delivery into Maildir
//! ([`maildir`]), the outbound queue's spool ([`spool`]), the maildrop that
//! `portcullis sendmail` leaves mail in ([`maildrop`]), and the locks on the
//! configuration ([`edit_lock`]) and on the data directory
//! ([`instance_lock`]). Everything that answers `250` writes through here:
//! a file is fsynced, renamed into place, and its directory fsynced, one
//! directory fsync shared by the writers that finish together
//! ([`group_sync`]).
#![forbid(unsafe_code)]

pub mod clock;
pub mod content;
pub mod edit_lock;
pub mod group_sync;
pub mod instance_lock;
pub mod maildir;
pub mod maildrop;
pub mod spool;
