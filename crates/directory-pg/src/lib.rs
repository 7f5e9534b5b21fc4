//! The shared directory in PostgreSQL (or an engine speaking its protocol):
//! the versioned schema `directory init` creates, and the whole site —
//! local domains, users with the same stored credentials as the users file,
//! aliases, relay policy and routes — written and read in one transaction.
//! Every change bumps one policy version and announces it on
//! [`schema::CHANNEL`], so nodes can tell they are current.
//!
//! This is the storage layer; the server's backend built on it (live
//! updates, heartbeats, the snapshot kept on disk) comes next.

#![forbid(unsafe_code)]

mod rows;
pub mod schema;
mod store;

pub use store::{NodeSeen, PgStore};

#[cfg(test)]
mod tests;
