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
