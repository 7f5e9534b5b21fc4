//! The configuration model (SPEC §2): raw TOML becomes a validated [`Config`]
//! in one function; a config that fails validation is never loaded.
//!
//! SKELETON: the types are the contract; loading and editing are filled in by
//! the config work.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use portcullis_proto::session::BareLf;

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where the file was read from (relative paths below are resolved against its directory).
    pub path: PathBuf,
    pub hostname: String,
    pub data_dir: PathBuf,
    /// Lower-case, no trailing dot.
    pub local_domains: Vec<String>,
    pub listen: Listen,
    pub relay: Relay,
    pub auth: Auth,
    pub tls: Tls,
    pub limits: Limits,
    pub smtp: Smtp,
    pub dns: Dns,
    pub log: Log,
    pub delivery: Delivery,
    /// `[aliases]`: lower-case local name → targets (local names or full addresses).
    pub aliases: BTreeMap<String, Vec<String>>,
    /// `[routes]`: domain → "host:port" (outbound issue).
    pub routes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Listen {
    pub smtp: Vec<SocketAddr>,
    pub submission: Vec<SocketAddr>,
    pub submissions: Vec<SocketAddr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Relay {
    pub local_only: bool,
    pub restricted: bool,
    /// Raw entries, in order; parsed and compiled by [`crate::relay`]. A bad
    /// entry does not fail the config: it is skipped and reported at load.
    pub allow: Vec<String>,
    pub authenticated: bool,
    pub smarthost: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Auth {
    pub mechanisms: Vec<String>,
    pub plaintext_requires_tls: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Tls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub message_size: u64,
    pub recipients: usize,
    /// Error replies before the session is closed with 421.
    pub errors: u32,
    /// Seconds waiting for a command (RFC 5321 §4.5.3.2: 300).
    pub command_timeout: u64,
    /// Seconds waiting for a data block (RFC 5321 §4.5.3.2: 180).
    pub data_timeout: u64,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Smtp {
    pub bare_lf: BareLf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dns {
    /// Empty: the system resolver (/etc/resolv.conf).
    pub nameservers: Vec<SocketAddr>,
    /// Per-query timeout in milliseconds.
    pub timeout_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Log {
    pub file: Option<PathBuf>,
    pub format: LogFormat,
    /// A tracing filter such as "info" or "portcullis=debug".
    pub level: String,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Delivery {
    /// Maildir path template with `{user}`; None: `<data_dir>/mail/{user}`.
    pub maildir: Option<String>,
}
