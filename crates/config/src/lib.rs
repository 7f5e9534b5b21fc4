//! The configuration model (docs/reference.md §2): raw TOML becomes a validated [`Config`]
//! in one function; a config that fails validation is never loaded.
//!
//! - [`Config::load`] / [`Config::from_str`]: read and validate
//!   (`load.rs` → `raw.rs` → `validate.rs`); unknown keys are refused with a
//!   "did you mean" suggestion from the key registry (`keys.rs`).
//! - [`DEFAULT_CONFIG`], [`ensure_relay_section`]: the file `serve` writes
//!   and the `[relay]` table it adds (`defaults.rs`).
//! - [`read_effective`], [`read_changed`], [`edit`], [`write_atomic`]: the
//!   `portcullis config` commands (`read.rs`, `edit.rs`, `write.rs`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use portcullis_smtp::session::BareLf;

mod arrays;
mod big_arrays;
mod defaults;
mod edit;
mod error;
pub mod keys;
mod load;
mod network;
mod raw;
mod read;
mod validate;
pub mod values;
mod write;

#[cfg(test)]
mod tests;

pub use defaults::{default_list, ensure_relay_section, system_hostname, DEFAULT_CONFIG};
pub use edit::{edit, edit_at, validate_edited, EditError, EditOp};
pub use error::ConfigError;
pub use keys::{KeyInfo, KeyKind, KEYS};
pub use load::data_dir_of_broken_file;
pub use network::Network;
pub use read::{
    changed_from_default, format_line, read_changed, read_effective, select, UnknownKey, FILE_NAME,
};
pub use write::write_atomic;

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where the file was read from (relative paths below are resolved against its directory).
    pub path: PathBuf,
    /// Lower-case domain name for the greeting and Received headers.
    pub hostname: String,
    /// Absolute (resolved against the file's directory).
    pub data_dir: PathBuf,
    /// `user`: the account to switch to after binding when started as root.
    pub user: Option<String>,
    /// Lower-case, no trailing dot.
    pub local_domains: Vec<String>,
    /// `[listen]`
    pub listen: Listen,
    /// `[relay]`
    pub relay: Relay,
    /// `[auth]`
    pub auth: Auth,
    /// `[tls]`
    pub tls: Tls,
    /// `[limits]`
    pub limits: Limits,
    /// `[smtp]`
    pub smtp: Smtp,
    /// `[inbound]`
    pub inbound: Inbound,
    /// `[dns]`
    pub dns: Dns,
    /// `[log]`
    pub log: Log,
    /// `[delivery]`
    pub delivery: Delivery,
    /// `[queue]`: outbound retries and bounces.
    pub queue: Queue,
    /// `[aliases]`: lower-case local name → targets (local names or full addresses).
    pub aliases: BTreeMap<String, Vec<String>>,
    /// `[routes]`: lower-case domain → "host:port" (port made explicit; outbound issue).
    pub routes: BTreeMap<String, String>,
    /// `[metrics]`
    pub metrics: Metrics,
    /// `[admin]`: the HTTPS console and JSON API.
    pub admin: Admin,
    /// `[dovecot]`
    pub dovecot: Dovecot,
    /// `[directory]`: where the site (domains, users, aliases, relay
    /// policy, routes) comes from.
    pub directory: DirectorySettings,
}

/// Which directory backend holds the site, and how stale a snapshot of it
/// may get before the node fails closed.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectorySettings {
    /// The backend.
    pub backend: DirectoryBackend,
    /// The file holding the backend's connection URL (resolved against the
    /// config file's directory); needed by a database backend only.
    pub url_file: Option<PathBuf>,
    /// Seconds a node keeps granting relay and AUTH from a snapshot the
    /// directory has not confirmed; past that both get temporary failures.
    pub max_stale: u64,
    /// The name this node reports in the shared directory's heartbeat
    /// (`directory status`); None: its `hostname`. Nodes sharing one
    /// hostname (e.g. several on one machine) each need their own.
    pub node_name: Option<String>,
}

/// `directory.backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DirectoryBackend {
    /// The users file plus the `[aliases]`, `[relay]` and `[routes]`
    /// sections and `local_domains` of this file.
    #[default]
    Files,
    /// A shared PostgreSQL database (`directory.url_file` names it).
    Postgres,
}

impl DirectoryBackend {
    /// The name as `directory.backend` takes it.
    pub fn name(self) -> &'static str {
        match self {
            DirectoryBackend::Files => "files",
            DirectoryBackend::Postgres => "postgres",
        }
    }
}

/// Listener addresses per role; an empty list disables the role.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Listen {
    /// Port 25 role: MX, and relay per [`Relay`].
    pub smtp: Vec<SocketAddr>,
    /// Port 587 role: STARTTLS, AUTH required.
    pub submission: Vec<SocketAddr>,
    /// Port 465 role: implicit TLS, AUTH required.
    pub submissions: Vec<SocketAddr>,
    /// Load balancers allowed to send a PROXY protocol header; empty: the
    /// PROXY protocol is off.
    pub proxy_from: Vec<Network>,
    /// The listener addresses (of the three lists above) that expect the
    /// header; empty while `proxy_from` is set: every listener.
    pub proxied: Vec<SocketAddr>,
}

impl Listen {
    /// Whether a connection accepted on local address `local` came through a
    /// listener that expects a PROXY header from the addresses in
    /// `proxy_from`. A listener bound to the unspecified address (`0.0.0.0:25`,
    /// `[::]:25`) covers every local address on its port.
    pub fn is_proxied(&self, local: SocketAddr) -> bool {
        if self.proxy_from.is_empty() {
            return false;
        }
        self.proxied.is_empty()
            || self.proxied.iter().any(|l| {
                l.port() == local.port() && (l.ip().is_unspecified() || l.ip() == local.ip())
            })
    }

    /// Whether `ip` may send a PROXY header.
    pub fn proxy_allowed(&self, ip: std::net::IpAddr) -> bool {
        self.proxy_from.iter().any(|n| n.contains(ip))
    }
}

/// The HTTPS admin console and JSON API.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Admin {
    /// The addresses it is served on (with the server's certificate);
    /// empty: off.
    pub listen: Vec<SocketAddr>,
}

/// The Prometheus endpoint.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Metrics {
    /// Where `GET /metrics` is served; None: off.
    pub listen: Option<SocketAddr>,
}

/// Interoperation with Dovecot (IMAP/POP3 from the same Maildirs and users).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Dovecot {
    /// A Dovecot passwd-file rewritten by `portcullis user` on every change;
    /// None: not written.
    pub passwd_file: Option<PathBuf>,
}

/// Who may relay (docs/reference.md §3).
#[derive(Clone, Debug, PartialEq)]
pub struct Relay {
    /// Deliver to local addresses only, never relay.
    pub local_only: bool,
    /// False: open relay (refused at start unless `--allow-open-relay`).
    pub restricted: bool,
    /// Raw entries, in order; parsed and compiled by [`portcullis_relay`]. A bad
    /// entry does not fail the config: it is skipped and reported at load.
    /// Shared: a list of a million entries is not copied with the config.
    pub allow: Arc<Vec<String>>,
    /// Authenticated users may relay.
    pub authenticated: bool,
    /// `host:port` (port made explicit) receiving all outbound mail.
    pub smarthost: Option<String>,
    /// The AUTH user at the smarthost; Some only together with
    /// `smarthost` and `smarthost_password_file`.
    pub smarthost_user: Option<String>,
    /// The file holding the smarthost password (read when the queue runner
    /// connects, so the secret stays out of the configuration file).
    pub smarthost_password_file: Option<PathBuf>,
}

/// SMTP AUTH (RFC 4954).
#[derive(Clone, Debug, PartialEq)]
pub struct Auth {
    /// Canonical upper-case names from [`values::MECHANISMS`], in the order offered, no duplicates.
    pub mechanisms: Vec<String>,
    /// PLAIN and LOGIN only under TLS.
    pub plaintext_requires_tls: bool,
    /// Failures (per client address or user name, within `window_seconds`)
    /// before each further failure reply is delayed (issue 4 §4).
    pub delay_after: u32,
    /// Seconds the delay grows by with each failure past `delay_after`.
    pub delay_seconds: u64,
    /// Failures after which the client gets `421 4.7.0` and its address is banned.
    pub ban_after: u32,
    /// How long a ban lasts, in seconds.
    pub ban_seconds: u64,
    /// Failures older than this many seconds no longer count.
    pub window_seconds: u64,
    /// Clients never banned or cut off (their failures are still delayed):
    /// relay-list notations, each checked at load (a bad one refuses the
    /// file), compiled by [`portcullis_relay`].
    pub never_ban: Vec<String>,
}

/// Certificate files, resolved against the file's directory. Both None:
/// a self-signed certificate in the data dir.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// PEM private key; Some whenever `cert` is (the cert file itself when
    /// `tls.key` is not set: one PEM holding both).
    pub key: Option<PathBuf>,
    /// Outbound STARTTLS policy.
    pub outbound: TlsOutbound,
    /// Extra CA certificates (PEM) trusted for outbound TLS.
    pub outbound_ca: Option<PathBuf>,
}

/// Session limits (docs/reference.md §6); every value is at least 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Largest message in bytes, advertised with SIZE.
    pub message_size: u64,
    /// Recipients per message.
    pub recipients: usize,
    /// `Received:` headers a message may carry; more is a mail loop (`554 5.4.6`).
    pub max_hops: usize,
    /// Error replies before the session is closed with 421.
    pub errors: u32,
    /// Seconds waiting for a command (RFC 5321 §4.5.3.2: 300).
    pub command_timeout: u64,
    /// Seconds waiting for a data block (RFC 5321 §4.5.3.2: 180).
    pub data_timeout: u64,
    /// Inbound connections open at once, in total.
    pub connections: usize,
    /// Of `connections`, the slots kept for `relay.allow` and
    /// `auth.never_ban` clients (less than `connections`).
    pub connections_reserved: usize,
    /// Inbound connections open at once from one client (IPv6 by /64).
    pub connections_per_client: usize,
    /// New connections per minute from one client.
    pub connection_rate: u32,
    /// Commands outside a mail transaction before `421 4.7.0`.
    pub commands_before_mail: u32,
    /// Seconds a whole session may last before `421 4.4.2`.
    pub session_time: u64,
    /// Milliseconds to wait before the greeting (0: none; early talkers are checked either way).
    pub greeting_delay_ms: u64,
    /// Argon2 password checks running at once; 0: one per CPU core.
    pub password_checks: usize,
    /// Password checks waiting for a turn before `454 4.7.0`.
    pub password_checks_waiting: usize,
    /// Outbound SMTP connections open at once, in total.
    pub outbound_connections: usize,
    /// Outbound SMTP connections open at once to one destination.
    pub outbound_per_destination: usize,
}

/// `[smtp]` protocol choices.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Smtp {
    /// What a bare LF does (docs/reference.md §6).
    pub bare_lf: BareLf,
}

/// Checks of mail from outside (SPF, DKIM, DMARC; docs/deliverability.md).
#[derive(Clone, Debug, PartialEq)]
pub struct Inbound {
    /// Check mail from outside and record the results in an
    /// `Authentication-Results:` header (RFC 8601).
    pub checks: bool,
    /// Refuse (550 5.7.1) mail that fails DMARC from a domain publishing
    /// `p=reject` (RFC 7489 §6.7).
    pub dmarc_reject: bool,
}

/// The resolver.
#[derive(Clone, Debug, PartialEq)]
pub struct Dns {
    /// Empty: the system resolver (/etc/resolv.conf).
    pub nameservers: Vec<SocketAddr>,
    /// Per-query timeout in milliseconds.
    pub timeout_ms: u64,
}

/// `log.format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Clone, Debug, PartialEq)]
pub struct Log {
    /// Resolved against the file's directory; None: stderr.
    pub file: Option<PathBuf>,
    /// Text or JSON lines.
    pub format: LogFormat,
    /// A tracing filter such as "info" or "portcullis=debug".
    pub level: String,
}

/// Local delivery.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Delivery {
    /// Maildir path template with `{user}`; None: `<data_dir>/mail/{user}`.
    pub maildir: Option<String>,
    /// `delivery.lmtp`: local mail goes by LMTP (RFC 2033) to this server
    /// instead of into Maildirs; None: Maildir.
    pub lmtp: Option<Lmtp>,
}

/// Where `delivery.lmtp` points: the mail store's LMTP server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lmtp {
    /// `"HOST:PORT"`, normalised (`127.0.0.1:24`, `store.example:24`, `[::1]:24`).
    Tcp(String),
    /// `"unix:/path"`: a Unix socket (resolved against the file's directory).
    Unix(PathBuf),
}

impl std::fmt::Display for Lmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lmtp::Tcp(hop) => f.write_str(hop),
            Lmtp::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Outbound STARTTLS policy (`tls.outbound`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsOutbound {
    /// STARTTLS whenever the server offers it; towards MX hosts any
    /// certificate is accepted (Postfix's `may` level: encryption against
    /// passive eavesdropping, no authentication), towards a smarthost it is
    /// verified.
    #[default]
    Opportunistic,
    /// Never deliver in plaintext, and verify every certificate.
    Require,
}

/// `[queue]`: how long and how often outbound delivery is retried.
#[derive(Clone, Debug, PartialEq)]
pub struct Queue {
    /// Seconds a message is retried before it is bounced.
    pub lifetime: u64,
    /// Seconds before the first retry (doubling after each failure).
    pub retry_min: u64,
    /// Longest wait between two attempts (at least `retry_min`).
    pub retry_max: u64,
    /// Seconds after arrival when the sender is warned of a delay; 0: never.
    pub delay_warning: u64,
    /// Port of MX hosts (25; tests point it elsewhere).
    pub mx_port: u16,
    /// Port of MTA-STS policy hosts (443; tests point it elsewhere).
    pub mta_sts_port: u16,
}
