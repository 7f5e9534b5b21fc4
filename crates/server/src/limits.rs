//! The abuse limits of `[limits]` (issue 7 §4) as the driver applies them,
//! over the pure counters of [`portcullis_limits::limiter`]:
//!
//! - at connect: total and per-client open connections and the per-client
//!   connection rate (`421 4.7.0`, then close);
//! - before the greeting: a client already talking is an early talker
//!   (`554 5.5.1`, then close), after an optional `greeting_delay_ms`;
//! - during the session: the whole-session time (`421 4.4.2`). (Commands
//!   outside a mail transaction are counted by the session itself:
//!   `SessionConfig::max_commands_before_mail`.)
//!
//! The connection table is process-wide: one server runs per process, and
//! every listener shares the same limits.

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use portcullis_config::Config;
use portcullis_limits::limiter::{self, Admission, ConnectionLimits, Trust};
use portcullis_relay::{ListMatch, RelayList, ReverseDns};
use portcullis_smtp::Reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::info;

use super::runtime::Runtime;
use super::stats::Stats;

/// How long a refusal may take to write before the connection is dropped.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

fn table() -> MutexGuard<'static, Admission> {
    static TABLE: OnceLock<Mutex<Admission>> = OnceLock::new();
    let table = TABLE.get_or_init(|| Mutex::new(Admission::new()));
    // A panic while holding the lock leaves counts that are at worst off
    // by one connection: keep serving rather than fail every connection.
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Permit {
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        table().release(self.ip);
    }
}

/// Admits a connection from `ip` under the runtime's limits, or returns the
/// `421 4.7.0` to send before closing. Clients that `relay.allow` lets relay
/// by address skip the per-client limits (not the total); they and the
/// `auth.never_ban` addresses may take the `limits.connections_reserved`
/// slots. By address only: reverse DNS is not looked up before admission.
pub(crate) fn admit(rt: &Runtime, ip: IpAddr, stats: &Stats) -> Result<Permit, Reply> {
    let l = &rt.config.limits;
    let limits = ConnectionLimits {
        total: l.connections,
        reserved: l.connections_reserved,
        per_client: l.connections_per_client,
        rate_per_minute: l.connection_rate,
    };
    let allows = |list: &RelayList| {
        matches!(
            list.lookup(ip, &ReverseDns::NotChecked),
            ListMatch::Allow { .. }
        )
    };
    let trust = if allows(&rt.site.policy.list) {
        Trust::RelayAllow
    } else if allows(&rt.never_ban) {
        Trust::NeverBan
    } else {
        Trust::Untrusted
    };
    match table().admit(ip, Instant::now(), &limits, trust) {
        Ok(()) => Ok(Permit { ip }),
        Err(refusal) => {
            info!(limit = refusal.name(), "connection refused: over a limit");
            count(stats, refusal.name());
            Err(refusal.reply(&rt.config.hostname))
        }
    }
}

/// Counts a client cut off by the `[limits]` key `limit`, for `status`
/// and the metrics: an admin tuning a limit sees how often it bites.
pub(crate) fn count(stats: &Stats, limit: &str) {
    stats.limit_refusals.add(&format!("limit=\"{limit}\""));
}

/// Writes `reply` (bounded in time) and closes.
pub(crate) async fn refuse(mut tcp: TcpStream, reply: &Reply) {
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        tcp.write_all(&reply.to_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}

/// RFC 5321 §4.3.1: the client must wait for the greeting. One that sends
/// before it is a spam engine that does not read replies (or is smuggling
/// commands past a proxy): after `limits.greeting_delay_ms`, a short
/// non-blocking peek decides, at no cost for a client that waits. Returns
/// the stream for a well-behaved client; an early talker gets `554 5.5.1`
/// and the connection is closed.
pub(crate) async fn greet_check(
    tcp: TcpStream,
    config: &Config,
    stats: &Stats,
) -> Option<TcpStream> {
    let delay = config.limits.greeting_delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if !talks_early(&tcp) {
        return Some(tcp);
    }
    info!("client sent data before the greeting");
    count(stats, "greeting_delay_ms");
    let reply = Reply::new(
        554,
        (5, 5, 1),
        format!(
            "{} Protocol error: data sent before the greeting",
            config.hostname
        ),
    );
    refuse_draining(tcp, &reply).await;
    None
}

/// Like [`refuse`], then reads (and drops) what the early talker already
/// sent, for at most a second and 64 KiB: closing a socket with unread
/// input sends a reset, which can destroy the reply before the client reads it.
async fn refuse_draining(mut tcp: TcpStream, reply: &Reply) {
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        tcp.write_all(&reply.to_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total < 64 * 1024 {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

/// Whether bytes are already waiting, by a non-blocking peek on a
/// duplicate of the socket (tokio's own readiness would say "not ready"
/// until the reactor has seen an event for this new socket; the kernel
/// knows). The duplicate shares the non-blocking flag, so the peek returns
/// at once; dropping it closes only the duplicate. EOF (`Ok(0)`) is a
/// client that gave up, not an early talker.
fn talks_early(tcp: &TcpStream) -> bool {
    let Ok(fd) = tcp.as_fd().try_clone_to_owned() else {
        return false;
    };
    let dup = std::net::TcpStream::from(fd);
    let mut byte = [0u8; 1];
    matches!(dup.peek(&mut byte), Ok(n) if n > 0)
}

/// The whole-session time limit.
#[derive(Debug)]
pub(crate) struct SessionWatch {
    deadline: Instant,
}

impl SessionWatch {
    /// Starts watching a session that begins now.
    pub(crate) fn new(config: &Config) -> SessionWatch {
        SessionWatch {
            deadline: limiter::session_deadline(Instant::now(), config.limits.session_time),
        }
    }

    /// When the whole session must end.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the session has lasted `limits.session_time`.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// The reply that ends a session over its time (`421 4.4.2`, RFC 3463:
    /// X.4.2 "bad connection", as for the RFC 5321 §4.5.3.2 timeouts).
    pub(crate) fn expired_reply(config: &Config) -> Reply {
        Reply::new(
            421,
            (4, 4, 2),
            format!(
                "{} Session time limit exceeded, closing connection",
                config.hostname
            ),
        )
    }
}
