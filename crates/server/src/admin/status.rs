//! `status`: what the running server is doing, as data. The server fills
//! it in (control.rs); the command line renders it as `key: value` lines.

use serde::{Deserialize, Serialize};

/// The running server's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// The server's process id.
    pub pid: u32,
    /// The addresses listened on, per role (smtp, submission, submissions).
    pub listeners: Vec<Listeners>,
    /// Sessions open now.
    pub sessions: u64,
    /// Connections accepted since the start.
    pub connections: u64,
    /// Messages accepted since the start.
    pub messages_accepted: u64,
    /// Relay grants since the start.
    pub relay_grants: u64,
    /// Relay denials since the start.
    pub relay_denials: u64,
    /// Refusals by limit name, since the start.
    pub limit_refusals: Vec<(String, u64)>,
    /// Messages in the outbound queue.
    pub queued: usize,
    /// Entries in `relay.allow`.
    pub relay_entries: usize,
    /// The AUTH bans in force.
    pub auth_bans: Vec<AuthBan>,
    /// Where the site comes from, and how current it is.
    pub directory: DirectoryStatus,
}

/// The directory the site in force was loaded from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryStatus {
    /// `directory.backend`.
    pub backend: String,
    /// The directory version the site in force was loaded at.
    pub version: String,
    /// Seconds since the directory last confirmed the site in force; None:
    /// the backend is its own truth (the files), always current.
    pub confirmed_secs_ago: Option<u64>,
    /// `directory.max_stale`.
    pub max_stale_secs: u64,
    /// Past `max_stale`: relay gets 451 4.3.0 and AUTH 454 4.7.0.
    pub stale: bool,
}

/// The addresses of one listener role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listeners {
    /// smtp, submission or submissions.
    pub role: String,
    /// `IP:PORT` each.
    pub addresses: Vec<String>,
}

/// One AUTH ban.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthBan {
    /// The banned client (an address, or an IPv6 /64).
    pub client: String,
    /// When it ends, as an RFC 5322 date.
    pub until: String,
    /// Seconds left.
    pub left_secs: u64,
    /// Why it was banned.
    pub reason: String,
}
