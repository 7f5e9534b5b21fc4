//! The brute-force defence in the driver (issue 4 §4): refuses banned
//! addresses at connect, and turns each AUTH outcome the session reports
//! into a delay or a `421` close through the pure
//! [`portcullis_limits::auth_throttle`]. Every ban is logged with its reason
//! and expiry; `portcullis status` lists the bans in force.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use portcullis_limits::auth_throttle::{self, AuthThrottle, Ban, Exemption, Settings, Verdict};
use portcullis_relay::ReverseDns;
use portcullis_smtp::session::AuthOutcome;
use portcullis_smtp::Reply;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use super::admin::status::AuthBan;
use super::headers::rfc5322_date;
use super::runtime::Runtime;

/// How long writing the refusal to a banned client may take.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The server-wide failure counts and bans.
pub(crate) type SharedThrottle = Mutex<AuthThrottle>;

/// A new, empty throttle for the server.
pub(crate) fn new_throttle() -> SharedThrottle {
    Mutex::new(AuthThrottle::default())
}

/// `421 4.7.0 Too many authentication failures, try again later`.
pub(crate) fn refusal() -> Reply {
    Reply::new(
        421,
        (4, 7, 0),
        "Too many authentication failures, try again later",
    )
}

/// The ban in force against `ip`, if any.
pub(crate) fn banned(throttle: &SharedThrottle, ip: IpAddr) -> Option<Ban> {
    lock(throttle).banned(ip, Instant::now())
}

/// Sends the refusal to a banned client (before any greeting) and logs it.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, ban: &Ban) {
    info!(
        ban = %ban.client,
        remaining_secs = ban.remaining(Instant::now()).as_secs(),
        "refused: address banned after too many AUTH failures"
    );
    let bytes = refusal().to_bytes();
    let write = async {
        stream.write_all(&bytes).await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, write).await;
}

/// What the driver does with the replies that carried AUTH outcomes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct After {
    /// Wait this long before sending them.
    pub delay: Duration,
    /// Send [`refusal`] after them and close.
    pub close: bool,
}

/// One connection's view of the defence: its address, whether it is exempt,
/// and the settings of the runtime it started with.
pub(crate) struct AuthGuard {
    ip: IpAddr,
    exempt: Option<Exemption>,
    settings: Settings,
}

impl AuthGuard {
    /// The guard of a connection from `ip`, whose reverse DNS is `rdns`.
    pub(crate) fn new(rt: &Runtime, ip: IpAddr, rdns: &ReverseDns) -> AuthGuard {
        AuthGuard {
            ip,
            exempt: auth_throttle::exemption(ip, rdns, &rt.site.policy.list, &rt.never_ban),
            settings: Settings::from_config(&rt.config.auth),
        }
    }

    /// Counts the outcomes and logs each login; says how to send the
    /// replies they produced.
    pub(crate) fn account<'a>(
        &self,
        throttle: &SharedThrottle,
        outcomes: impl Iterator<Item = &'a AuthOutcome>,
    ) -> After {
        let mut after = After::default();
        let mut outcomes = outcomes.peekable();
        if outcomes.peek().is_none() {
            return after;
        }
        let now = Instant::now();
        let mut table = lock(throttle);
        for outcome in outcomes {
            match outcome {
                AuthOutcome::Succeeded { user } => {
                    // Why no delay: a legitimate user is never slowed, and the
                    // address starts afresh.
                    table.success(self.ip);
                    info!(user = %user, "AUTH succeeded");
                }
                AuthOutcome::Failed { user } => {
                    let shown = user.as_deref().unwrap_or("");
                    let verdict = table.failure(
                        &self.settings,
                        self.ip,
                        self.exempt.is_some(),
                        user.as_deref(),
                        now,
                    );
                    // An exempt client is delayed like anyone (to a lower cap), never
                    // closed or banned.
                    let note = self
                        .exempt
                        .as_ref()
                        .map(|e| format!(" (exempt from bans: {e})"))
                        .unwrap_or_default();
                    match verdict {
                        Verdict::Answer => info!(user = %shown, "AUTH failed{note}"),
                        Verdict::Delay(d) => {
                            let delay_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                            info!(user = %shown, delay_ms, "AUTH failed{note}; reply delayed");
                            after.delay = after.delay.max(d);
                        }
                        Verdict::Close { reason, ban, delay } => {
                            after.close = true;
                            // The user name's delay, kept even though the
                            // connection closes: see the throttle's rules.
                            after.delay = after.delay.max(delay);
                            match ban {
                                Some(ban) => warn!(
                                    user = %shown,
                                    ban = %ban.client,
                                    until = %wall_clock(&ban, now),
                                    ban_secs = self.settings.ban_for.as_secs(),
                                    reason = %ban.reason,
                                    "AUTH ban: address refused until the ban expires"
                                ),
                                None => warn!(
                                    user = %shown,
                                    reason = %reason,
                                    "AUTH failed; closing with 421"
                                ),
                            }
                        }
                    }
                }
            }
        }
        after
    }
}

/// The bans in force, for `portcullis status`.
pub(crate) fn bans(throttle: &SharedThrottle) -> Vec<AuthBan> {
    let now = Instant::now();
    let bans = lock(throttle).bans(now);
    bans.into_iter()
        .map(|ban| AuthBan {
            client: ban.client.to_string(),
            until: wall_clock(&ban, now),
            left_secs: ban.remaining(now).as_secs(),
            reason: ban.reason,
        })
        .collect()
}

/// `portcullis unban ADDRESS` (through the control socket): lifts the ban
/// and the failure count of the address; the sentence for the admin.
pub(crate) fn unban(throttle: &SharedThrottle, ip: IpAddr) -> String {
    let key = auth_throttle::ClientKey::of(ip);
    match lock(throttle).unban(ip, Instant::now()) {
        Some(ban) => {
            info!(client = %key, reason = %ban.reason, "auth ban lifted by the administrator");
            format!("ban on {key} lifted")
        }
        None => format!("{key} was not banned (its failure count is reset)"),
    }
}

/// The ban's expiry as a date (the log and status speak wall-clock time).
fn wall_clock(ban: &Ban, now: Instant) -> String {
    rfc5322_date(SystemTime::now() + ban.remaining(now))
}

fn lock(throttle: &SharedThrottle) -> std::sync::MutexGuard<'_, AuthThrottle> {
    // A panic elsewhere while holding the lock leaves counts, not broken
    // invariants: keep using them.
    throttle.lock().unwrap_or_else(|p| p.into_inner())
}
