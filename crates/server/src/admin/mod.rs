//! The one admin API: every operation an administrator can run, with typed
//! inputs, typed outputs (plain serde structs) and one typed [`Error`]
//! carrying a one-sentence message. The command line, the control socket
//! and the JSON API (crates/server/src/web/api/) are thin adapters over it: they parse, call
//! and render, and hold no logic of their own.
//!
//! - Operations on files run in whichever process calls them:
//!   [`config`] (read, set/add/remove/unset, check), [`users`],
//!   [`relay::check_relay`], [`dkim::generate`], [`dns_records`] and
//!   [`queue::run_offline`].
//! - Operations that need the running server ([`status`], reload, unban,
//!   the queue while it runs, the latest relay [`decisions`]) are performed by the server behind its control
//!   socket, which speaks the typed [`protocol`]; [`server`] performs
//!   them, for that socket and for the JSON API; [`client`] is the
//!   command line's side of it.
//! - Validation is the one `serve` loads through ([`crate::check`]).

pub mod client;
pub mod config;
pub mod decisions;
pub mod directory;
pub mod dkim;
pub mod dns_records;
mod error;
pub mod protocol;
pub mod queue;
pub mod relay;
pub mod server;
pub mod status;
pub mod users;

pub use error::{Error, ErrorKind};
