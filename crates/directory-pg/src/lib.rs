//! The shared directory in PostgreSQL (or an engine speaking its protocol):
//! the versioned schema `directory init` creates, and the whole site —
//! local domains, users with the same stored credentials as the users file,
//! aliases, relay policy and routes — written and read in one transaction.
//! Every change bumps one policy version and announces it on
//! [`schema::CHANNEL`], so nodes can tell they are current.
//!
//! [`PgDirectory`] is the server's backend on it: a connection per node
//! that listens for announced changes (and polls every few seconds as a
//! fallback) with a heartbeat per node, whole-site loads, and edits judged
//! as the file backend judges them. Connections use TLS (rustls) as the
//! URL's libpq `sslmode` and `sslrootcert` ask.

#![forbid(unsafe_code)]

mod backend;
mod listener;
mod rows;
pub mod schema;
mod settings;
mod snapshot;
mod store;
mod tls;
mod url;
mod watch;

pub use backend::PgDirectory;
pub use settings::{settings_text, take_settings, with_site};
pub use store::{NodeSeen, PgStore};

#[cfg(test)]
mod tests;
