//! Abuse limits that outlive one SMTP session (issue 7 §4): how many
//! connections are open in total and per client, how fast one client may
//! connect, and when a session must end. (Commands outside a mail
//! transaction are counted by the session itself, in `portcullis-smtp`.)
//! Pure counters: the caller passes `now` and the limits, and
//! acts on the answer (`421 4.7.0` and close).
//!
//! A "client" is one IPv4 address, or one IPv6 /64 (a single host usually
//! owns a whole /64, and counting its addresses one by one would let it
//! step around every per-client limit). IPv4-mapped IPv6 counts as IPv4.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use portcullis_smtp::Reply;

use portcullis_relay::range::canonical;

/// Rate buckets tracked at most; past this, full (idle) buckets are swept.
const MAX_TRACKED: usize = 65_536;

/// The connection limits of `[limits]`, as read for each new connection
/// (so that a reload applies to the next one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `limits.connections`: open connections in total.
    pub total: usize,
    /// `limits.connections_reserved`: of `total`, the slots only trusted
    /// clients ([`Trust::RelayAllow`], [`Trust::NeverBan`]) may take.
    pub reserved: usize,
    /// `limits.connections_per_client`: open connections from one client.
    pub per_client: usize,
    /// `limits.connection_rate`: new connections per client per minute.
    pub rate_per_minute: u32,
}

/// How far a connecting client is trusted, from its address alone (no DNS
/// at connect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Anyone else: every limit applies, and the reserved slots are not theirs.
    Untrusted,
    /// Matches `auth.never_ban`: may take the reserved slots.
    NeverBan,
    /// Matches `relay.allow`: may take the reserved slots and skips the
    /// per-client limits.
    RelayAllow,
}

/// Why a connection was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `limits.connections` open already.
    TooManyConnections,
    /// `limits.connections_per_client` open already from this client.
    TooManyFromClient,
    /// Over `limits.connection_rate` for this client.
    TooFast,
}

impl Refusal {
    /// The reply sent before closing: `421 4.7.0` (RFC 5321 §4.2.3: the
    /// service is not available now; RFC 3463 X.7.0: a policy reason).
    pub fn reply(self, hostname: &str) -> Reply {
        let why = match self {
            Refusal::TooManyConnections => "Too many connections, try again later",
            Refusal::TooManyFromClient => "Too many connections from your address",
            Refusal::TooFast => "Too many connections from your address in a short time",
        };
        Reply::new(421, (4, 7, 0), format!("{hostname} {why}"))
    }

    /// A short name for logs and counters.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::TooManyConnections => "connections",
            Refusal::TooManyFromClient => "connections_per_client",
            Refusal::TooFast => "connection_rate",
        }
    }
}

/// The key a client is counted under (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey(u128);

impl ClientKey {
    /// The IPv4 address, or the IPv6 /64 holding `ip`.
    pub fn of(ip: IpAddr) -> ClientKey {
        match canonical(ip) {
            IpAddr::V4(v4) => ClientKey(u128::from(u32::from(v4))),
            // The top bit tells IPv6 keys from IPv4 ones.
            IpAddr::V6(v6) => ClientKey((u128::from(v6) >> 64) | (1 << 127)),
        }
    }
}

/// A token bucket: `tokens` connections may start now; it refills at the
/// configured rate up to one minute's worth.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant, per_minute: u32) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let cap = f64::from(per_minute);
        (self.tokens + elapsed * cap / 60.0).min(cap)
    }
}

/// Open connections and recent connection rates, shared by every listener.
#[derive(Debug, Default)]
pub struct Admission {
    total: usize,
    open: HashMap<ClientKey, usize>,
    buckets: HashMap<ClientKey, Bucket>,
}

impl Admission {
    /// An empty table.
    pub fn new() -> Admission {
        Admission::default()
    }

    /// Counts a new connection from `ip` if the limits allow it; the caller
    /// must call [`Admission::release`] with the same `ip` when it ends.
    /// Trusted clients may take the reserved slots; `relay.allow` ones also
    /// skip the per-client limits. Everyone counts toward the total. A
    /// refused connection is not counted and uses up no rate.
    pub fn admit(
        &mut self,
        ip: IpAddr,
        now: Instant,
        limits: &ConnectionLimits,
        trust: Trust,
    ) -> Result<(), Refusal> {
        // Why: every open connection costs a task, buffers and a file
        // descriptor; a ceiling keeps a flood from starving the machine.
        // Why the reserve: a flood of slow clients from many addresses
        // would otherwise fill every slot and lock the operator out.
        let ceiling = match trust {
            Trust::Untrusted => limits.total.saturating_sub(limits.reserved),
            Trust::NeverBan | Trust::RelayAllow => limits.total,
        };
        if self.total >= ceiling {
            return Err(Refusal::TooManyConnections);
        }
        let key = ClientKey::of(ip);
        if trust != Trust::RelayAllow {
            // Why: one client must not be able to take every slot.
            if self.open.get(&key).copied().unwrap_or(0) >= limits.per_client {
                return Err(Refusal::TooManyFromClient);
            }
            // Why: connecting over and over (dictionary attacks, a broken
            // retry loop) costs a greeting, a DNS lookup and a log line each time.
            self.take_token(key, now, limits.rate_per_minute)?;
        }
        self.total += 1;
        *self.open.entry(key).or_insert(0) += 1;
        Ok(())
    }

    /// A connection admitted for `ip` ended.
    pub fn release(&mut self, ip: IpAddr) {
        self.total = self.total.saturating_sub(1);
        let key = ClientKey::of(ip);
        if let Some(n) = self.open.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&key);
            }
        }
    }

    /// Open connections in total.
    pub fn open_total(&self) -> usize {
        self.total
    }

    /// Open connections from the client `ip` belongs to.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        self.open.get(&ClientKey::of(ip)).copied().unwrap_or(0)
    }

    fn take_token(&mut self, key: ClientKey, now: Instant, per_minute: u32) -> Result<(), Refusal> {
        let full = Bucket {
            tokens: f64::from(per_minute),
            at: now,
        };
        if !self.buckets.contains_key(&key) && self.buckets.len() >= MAX_TRACKED {
            self.sweep(now, per_minute);
        }
        let tracked = self.buckets.len() < MAX_TRACKED || self.buckets.contains_key(&key);
        if !tracked {
            // The table is full of clients that connected within the last
            // minute: the rate is not tracked for this one (the total and
            // per-client limits still hold), so memory stays bounded.
            return Ok(());
        }
        let bucket = self.buckets.entry(key).or_insert(full);
        let tokens = bucket.refilled(now, per_minute);
        if tokens < 1.0 {
            return Err(Refusal::TooFast);
        }
        *bucket = Bucket {
            tokens: tokens - 1.0,
            at: now,
        };
        Ok(())
    }

    /// Forgets the buckets that have refilled (their client is idle).
    fn sweep(&mut self, now: Instant, per_minute: u32) {
        let cap = f64::from(per_minute);
        self.buckets
            .retain(|_, b| b.refilled(now, per_minute) < cap);
    }
}

/// The whole-session deadline (`limits.session_time`): however active the
/// client, a session ends `421 4.4.2` once it has lasted this long.
pub fn session_deadline(start: Instant, session_time_secs: u64) -> Instant {
    start + Duration::from_secs(session_time_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_client: usize, rate: u32) -> ConnectionLimits {
        ConnectionLimits {
            total,
            reserved: 0,
            per_client,
            rate_per_minute: rate,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_total_is_shared_by_every_client_and_freed_on_release() {
        let mut a = Admission::new();
        let now = Instant::now();
        let l = limits(2, 10, 100);
        assert_eq!(a.admit(ip("192.0.2.1"), now, &l, Trust::Untrusted), Ok(()));
        assert_eq!(a.admit(ip("192.0.2.2"), now, &l, Trust::RelayAllow), Ok(()));
        assert_eq!(
            a.admit(ip("192.0.2.3"), now, &l, Trust::RelayAllow),
            Err(Refusal::TooManyConnections)
        );
        a.release(ip("192.0.2.1"));
        assert_eq!(a.admit(ip("192.0.2.3"), now, &l, Trust::Untrusted), Ok(()));
        assert_eq!(a.open_total(), 2);
    }

    #[test]
    fn the_reserved_slots_are_kept_for_trusted_clients() {
        let mut a = Admission::new();
        let now = Instant::now();
        let l = ConnectionLimits {
            reserved: 2,
            ..limits(5, 10, 100)
        };
        // A flood from many addresses fills the unreserved three…
        for i in 1..=3 {
            let flood = ip(&format!("198.51.100.{i}"));
            assert_eq!(a.admit(flood, now, &l, Trust::Untrusted), Ok(()));
        }
        assert_eq!(
            a.admit(ip("198.51.100.9"), now, &l, Trust::Untrusted),
            Err(Refusal::TooManyConnections)
        );
        // …and the operator still gets in, by relay.allow or auth.never_ban.
        assert_eq!(a.admit(ip("127.0.0.1"), now, &l, Trust::RelayAllow), Ok(()));
        assert_eq!(a.admit(ip("203.0.113.5"), now, &l, Trust::NeverBan), Ok(()));
        // The total still holds for them too.
        assert_eq!(
            a.admit(ip("127.0.0.1"), now, &l, Trust::RelayAllow),
            Err(Refusal::TooManyConnections)
        );
        // A never_ban client is held to the per-client limits.
        let l = ConnectionLimits {
            reserved: 2,
            ..limits(100, 1, 100)
        };
        let mut a = Admission::new();
        assert_eq!(a.admit(ip("203.0.113.5"), now, &l, Trust::NeverBan), Ok(()));
        assert_eq!(
            a.admit(ip("203.0.113.5"), now, &l, Trust::NeverBan),
            Err(Refusal::TooManyFromClient)
        );
    }

    #[test]
    fn one_client_gets_at_most_its_share_and_exempt_clients_skip_it() {
        let mut a = Admission::new();
        let now = Instant::now();
        let l = limits(100, 2, 100);
        let c = ip("198.51.100.7");
        assert!(a.admit(c, now, &l, Trust::Untrusted).is_ok());
        assert!(a.admit(c, now, &l, Trust::Untrusted).is_ok());
        assert_eq!(
            a.admit(c, now, &l, Trust::Untrusted),
            Err(Refusal::TooManyFromClient)
        );
        assert!(a
            .admit(ip("198.51.100.8"), now, &l, Trust::Untrusted)
            .is_ok());
        assert!(a.admit(c, now, &l, Trust::RelayAllow).is_ok(), "exempt");
        a.release(c);
        a.release(c);
        a.release(c);
        assert_eq!(a.open_from(c), 0);
        assert!(a.admit(c, now, &l, Trust::Untrusted).is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_by_64_and_mapped_ipv4_as_ipv4() {
        let mut a = Admission::new();
        let now = Instant::now();
        let l = limits(100, 1, 100);
        assert!(a
            .admit(ip("2001:db8:1:2::1"), now, &l, Trust::Untrusted)
            .is_ok());
        assert_eq!(
            a.admit(ip("2001:db8:1:2:ffff::9"), now, &l, Trust::Untrusted),
            Err(Refusal::TooManyFromClient)
        );
        assert!(a
            .admit(ip("2001:db8:1:3::1"), now, &l, Trust::Untrusted)
            .is_ok());
        assert!(a.admit(ip("192.0.2.9"), now, &l, Trust::Untrusted).is_ok());
        assert_eq!(
            a.admit(ip("::ffff:192.0.2.9"), now, &l, Trust::Untrusted),
            Err(Refusal::TooManyFromClient)
        );
        // An IPv4 key never collides with an IPv6 /64.
        assert_ne!(ClientKey::of(ip("0.0.0.1")), ClientKey::of(ip("::1")));
    }

    #[test]
    fn the_rate_refills_over_a_minute_and_refusals_cost_nothing() {
        let mut a = Admission::new();
        let t0 = Instant::now();
        let l = limits(100, 100, 3);
        let c = ip("203.0.113.5");
        for _ in 0..3 {
            assert!(a.admit(c, t0, &l, Trust::Untrusted).is_ok());
            a.release(c);
        }
        assert_eq!(a.admit(c, t0, &l, Trust::Untrusted), Err(Refusal::TooFast));
        assert_eq!(
            a.admit(c, t0 + Duration::from_secs(5), &l, Trust::Untrusted),
            Err(Refusal::TooFast)
        );
        // 3 per minute: one token every 20 s.
        assert!(a
            .admit(c, t0 + Duration::from_secs(20), &l, Trust::Untrusted)
            .is_ok());
        assert_eq!(
            a.admit(c, t0 + Duration::from_secs(21), &l, Trust::Untrusted),
            Err(Refusal::TooFast)
        );
        assert!(
            a.admit(ip("203.0.113.6"), t0, &l, Trust::Untrusted).is_ok(),
            "others unaffected"
        );
        assert!(
            a.admit(c, t0, &l, Trust::RelayAllow).is_ok(),
            "exempt clients have no rate"
        );
    }

    #[test]
    fn the_rate_table_stays_bounded() {
        let mut a = Admission::new();
        let t0 = Instant::now();
        let l = limits(usize::MAX, 100, 10);
        for n in 0..(MAX_TRACKED as u32 + 10) {
            let c = IpAddr::from(n.to_be_bytes());
            assert!(a.admit(c, t0, &l, Trust::Untrusted).is_ok());
            a.release(c);
        }
        assert!(a.buckets.len() <= MAX_TRACKED);
        // A minute later every bucket has refilled and is swept for a new one.
        let later = t0 + Duration::from_secs(61);
        assert!(a.admit(ip("10.9.9.9"), later, &l, Trust::Untrusted).is_ok());
        assert!(a.buckets.len() <= 2);
    }

    #[test]
    fn refusals_are_421_4_7_0_naming_the_host() {
        let r = Refusal::TooFast.reply("mx.test");
        assert_eq!(r.code, 421);
        assert!(String::from_utf8(r.to_bytes())
            .unwrap()
            .starts_with("421 4.7.0 mx.test "));
    }
}
