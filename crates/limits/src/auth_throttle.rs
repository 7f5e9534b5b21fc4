//! Brute-force defence for SMTP AUTH (issue 4 §4), pure: the driver reports
//! how each AUTH exchange ended, with `now`, and gets back what to do with
//! the reply — send it at once, delay it, or follow it with
//! `421 4.7.0 Too many authentication failures, try again later` and close.
//! At connect it asks [`AuthThrottle::banned`]. No clock, no sockets, no
//! logging here: every ban is returned to the caller, who logs it.
//!
//! The rules:
//! - Failed logins (`535 5.7.8`) are counted per client address and per user
//!   name, each within a window that starts at its first counted failure. An
//!   IPv6 client counts by its /64: one site gets a whole /64, so rotating
//!   addresses inside it must not buy fresh attempts.
//! - Past `delay_after` failures (on the address or on the user name) each
//!   further failure reply waits `delay_step` × the failures past it, at most
//!   [`MAX_DELAY`] ([`MAX_EXEMPT_DELAY`] for an exempt client).
//! - At `ban_after` failures from one address it is banned for `ban_for`:
//!   the failing connection is closed and new ones get the 421 before the
//!   greeting. At `ban_after` failures on one user name (a guesser spread
//!   over many addresses) the failing connection is closed, but no address
//!   is banned: the name is the target, not proof that this address attacks.
//!   The user name's delay still applies to every reply, closing ones
//!   included: it grows to the cap and holds there for the name's window,
//!   however many fresh addresses the guesser brings.
//! - A successful login is never slowed and clears its address's count.
//! - Exempt clients (matching `relay.allow` or `auth.never_ban`, see
//!   [`exemption`]) are never banned or cut off: a lock-out of the operator
//!   is worse than the attack it would stop. Their failures still count and
//!   their failure replies are still delayed (at most [`MAX_EXEMPT_DELAY`]
//!   each), which slows a guesser on a trusted machine without ever
//!   shutting anyone out.
//! - Memory is bounded: each table holds at most its capacity; when full,
//!   expired entries go first, then the oldest.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use portcullis_config::Auth;
use portcullis_relay::range::canonical;
use portcullis_relay::{ListMatch, RelayList, ReverseDns};

/// The longest any reply is delayed, whatever the settings: RFC 5321
/// §4.5.3.2 clients wait minutes for a reply, so this stays far inside
/// their patience while costing a guesser dearly.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// The longest a reply to an exempt client (`relay.allow`, `auth.never_ban`)
/// is delayed. Why lower than [`MAX_DELAY`]: anyone else is cut off at
/// `ban_after`, so its delays stop growing there; an exempt client is never
/// cut off, so its delay would sit at the full cap for as long as it keeps
/// failing — an office client retrying a stale password, or the operator's
/// own scripts, would wait half a minute per reply and time out. Five
/// seconds still holds a guesser on a trusted machine to about a dozen
/// tries a minute per connection, while every reply comes back well inside
/// any client's patience.
pub const MAX_EXEMPT_DELAY: Duration = Duration::from_secs(5);

/// Entries each table (addresses, user names, bans) holds at most by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// User names are kept to this many bytes: a client chooses them, and the
/// table must not grow with their length.
const MAX_USER_KEY: usize = 128;

/// The `[auth]` throttle settings, as durations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Failures answered at once before delays start.
    pub delay_after: u32,
    /// Added to the delay for each failure past `delay_after`.
    pub delay_step: Duration,
    /// Failures from one address that ban it (and close the connection).
    pub ban_after: u32,
    /// How long a ban lasts.
    pub ban_for: Duration,
    /// A failure counts this long after the first one of its series.
    pub window: Duration,
}

impl Settings {
    /// The settings of a loaded `[auth]` table.
    pub fn from_config(auth: &Auth) -> Settings {
        Settings {
            delay_after: auth.delay_after,
            delay_step: Duration::from_secs(auth.delay_seconds),
            ban_after: auth.ban_after,
            ban_for: Duration::from_secs(auth.ban_seconds),
            window: Duration::from_secs(auth.window_seconds),
        }
    }
}

impl Default for Settings {
    /// The defaults of `portcullis.toml`: delays after 3 failures growing by
    /// 2 s, a 15-minute ban after 10 failures within 15 minutes.
    fn default() -> Settings {
        Settings {
            delay_after: 3,
            delay_step: Duration::from_secs(2),
            ban_after: 10,
            ban_for: Duration::from_secs(900),
            window: Duration::from_secs(900),
        }
    }
}

/// What failures are counted against: one IPv4 address, or one IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientKey {
    /// One IPv4 host (an IPv4-mapped IPv6 address counts as its IPv4 address).
    V4(Ipv4Addr),
    /// An IPv6 /64 network, by its network address.
    V6Net(Ipv6Addr),
}

impl ClientKey {
    /// The key of a client address.
    pub fn of(ip: IpAddr) -> ClientKey {
        match canonical(ip) {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => {
                let net = u128::from(v6) & !(u128::from(u64::MAX));
                ClientKey::V6Net(Ipv6Addr::from(net))
            }
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::V4(a) => write!(f, "{a}"),
            ClientKey::V6Net(n) => write!(f, "{n}/64"),
        }
    }
}

/// A banned address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    /// The address (or IPv6 /64) refused.
    pub client: ClientKey,
    /// When the ban started.
    pub since: Instant,
    /// When it ends: connections are refused until then.
    pub until: Instant,
    /// Why, in one sentence for the log and `portcullis status`.
    pub reason: String,
}

impl Ban {
    /// How long the ban still lasts at `now`.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.until.saturating_duration_since(now)
    }
}

/// What to do with the reply to a failed AUTH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it now.
    Answer,
    /// Wait this long, then send it.
    Delay(Duration),
    /// Wait `delay`, send it, then `421 4.7.0 Too many authentication
    /// failures, try again later`, and close. `ban` is the ban this failure
    /// started (log it); `None` when the address was banned already or the
    /// user name, not the address, ran out of attempts.
    Close {
        /// Why, for the log.
        reason: String,
        /// The new ban, if this failure started one.
        ban: Option<Ban>,
        /// The user name's delay: a guesser that takes a fresh address for
        /// each try is held back by it all the same (see the module rules).
        delay: Duration,
    },
}

/// Why a client is exempt from bans and cut-offs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exemption {
    /// An entry of `relay.allow` allows it.
    RelayAllow(String),
    /// An entry of `auth.never_ban` matches it.
    NeverBan(String),
}

impl fmt::Display for Exemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exemption::RelayAllow(entry) => write!(f, "relay.allow {entry:?}"),
            Exemption::NeverBan(entry) => write!(f, "auth.never_ban {entry:?}"),
        }
    }
}

/// Whether `ip` is exempt: an allow entry of `never_ban` or of `relay_allow`
/// matches it first (an `!` exception or a temporary DNS failure does not
/// exempt: an attacker must not gain the exemption by breaking its own
/// reverse DNS). `rdns` is what the caller knows of the client's name.
pub fn exemption(
    ip: IpAddr,
    rdns: &ReverseDns,
    relay_allow: &RelayList,
    never_ban: &RelayList,
) -> Option<Exemption> {
    if let ListMatch::Allow { entry, .. } = never_ban.lookup(ip, rdns) {
        return Some(Exemption::NeverBan(entry));
    }
    if let ListMatch::Allow { entry, .. } = relay_allow.lookup(ip, rdns) {
        return Some(Exemption::RelayAllow(entry));
    }
    None
}

/// Failures of one address or user name in the current window.
#[derive(Clone, Debug)]
struct Counter {
    failures: u32,
    first: Instant,
    last: Instant,
}

impl Counter {
    fn expired(&self, now: Instant, window: Duration) -> bool {
        now.saturating_duration_since(self.first) >= window
    }
}

/// The failure counts and bans of the whole server (one per process, behind
/// a mutex in the driver).
#[derive(Debug)]
pub struct AuthThrottle {
    capacity: usize,
    addresses: HashMap<ClientKey, Counter>,
    users: HashMap<String, Counter>,
    bans: HashMap<ClientKey, Ban>,
}

impl Default for AuthThrottle {
    fn default() -> AuthThrottle {
        AuthThrottle::with_capacity(DEFAULT_CAPACITY)
    }
}

impl AuthThrottle {
    /// An empty throttle whose tables each hold at most `capacity` entries (at least 1).
    pub fn with_capacity(capacity: usize) -> AuthThrottle {
        AuthThrottle {
            capacity: capacity.max(1),
            addresses: HashMap::new(),
            users: HashMap::new(),
            bans: HashMap::new(),
        }
    }

    /// The ban in force against `ip` at `now`, if any (an expired one is
    /// forgotten). Asked at connect: a banned client gets the 421 before
    /// the greeting.
    pub fn banned(&mut self, ip: IpAddr, now: Instant) -> Option<Ban> {
        let key = ClientKey::of(ip);
        match self.bans.get(&key) {
            Some(ban) if ban.until > now => Some(ban.clone()),
            Some(_) => {
                self.bans.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Every ban in force at `now`, ending soonest first.
    pub fn bans(&mut self, now: Instant) -> Vec<Ban> {
        self.bans.retain(|_, ban| ban.until > now);
        let mut out: Vec<Ban> = self.bans.values().cloned().collect();
        out.sort_by(|a, b| a.until.cmp(&b.until).then(a.client.cmp(&b.client)));
        out
    }

    /// A login failed (wrong password, unknown user): counts it and says what
    /// to do with the `535` reply. `user` is the name tried, when the
    /// exchange got that far; `exempt` comes from [`exemption`]: an exempt
    /// client is delayed like any other (at most [`MAX_EXEMPT_DELAY`]) but
    /// never gets [`Verdict::Close`].
    pub fn failure(
        &mut self,
        settings: &Settings,
        ip: IpAddr,
        exempt: bool,
        user: Option<&str>,
        now: Instant,
    ) -> Verdict {
        let key = ClientKey::of(ip);
        let capacity = self.capacity;
        let user = user.map(user_key);
        let for_user = match &user {
            Some(name) => bump(
                &mut self.users,
                name.clone(),
                settings.window,
                capacity,
                now,
            ),
            None => 0,
        };
        // The user name's delay holds for every verdict, the closing ones
        // included: otherwise, once a name has had `ban_after` failures,
        // each fresh address would get its one guess answered at once.
        let user_delay = delay_for(settings, for_user, MAX_DELAY);
        if !exempt {
            if let Some(ban) = self.banned(ip, now) {
                // Another connection of an address banned meanwhile.
                return Verdict::Close {
                    reason: format!("{key} is banned: {}", ban.reason),
                    ban: None,
                    delay: user_delay,
                };
            }
        }
        let from_address = bump(&mut self.addresses, key, settings.window, capacity, now);
        // Why exempt clients are never closed or banned: never lock out the
        // operator (or the office relay.allow trusts) over its own typos.
        if !exempt && from_address >= settings.ban_after {
            self.addresses.remove(&key);
            let mut reason = format!(
                "{from_address} failed AUTH attempts from {key} within {}s",
                settings.window.as_secs()
            );
            if let Some(name) = &user {
                reason.push_str(&format!(" (last user {name:?})"));
            }
            let ban = Ban {
                client: key,
                since: now,
                until: now.checked_add(settings.ban_for).unwrap_or(now),
                reason: reason.clone(),
            };
            self.insert_ban(ban.clone(), now);
            return Verdict::Close {
                reason,
                ban: Some(ban),
                delay: user_delay,
            };
        }
        let user_exhausted = !exempt && for_user >= settings.ban_after;
        if let Some(name) = user.as_ref().filter(|_| user_exhausted) {
            return Verdict::Close {
                reason: format!(
                    "{for_user} failed AUTH attempts for user {name:?} within {}s",
                    settings.window.as_secs()
                ),
                ban: None,
                delay: user_delay,
            };
        }
        // Why a lower cap when exempt: see MAX_EXEMPT_DELAY.
        let cap = if exempt { MAX_EXEMPT_DELAY } else { MAX_DELAY };
        let delay = delay_for(settings, from_address.max(for_user), cap);
        if delay.is_zero() {
            Verdict::Answer
        } else {
            Verdict::Delay(delay)
        }
    }

    /// Lifts the ban on `ip` (its address or IPv6 /64) and forgets the
    /// failures counted against it (`portcullis unban`); returns the ban
    /// that was in force at `now`, if any.
    pub fn unban(&mut self, ip: IpAddr, now: Instant) -> Option<Ban> {
        let key = ClientKey::of(ip);
        self.addresses.remove(&key);
        self.bans.remove(&key).filter(|ban| ban.until > now)
    }

    /// A login succeeded: nothing is delayed, and the address starts afresh.
    /// The user name's count stays: a guesser elsewhere may still be at it.
    pub fn success(&mut self, ip: IpAddr) {
        self.addresses.remove(&ClientKey::of(ip));
    }

    /// Failures counted against `ip` (its address or /64) at `now`.
    pub fn address_failures(&self, ip: IpAddr, now: Instant, settings: &Settings) -> u32 {
        live_count(self.addresses.get(&ClientKey::of(ip)), now, settings.window)
    }

    /// Failures counted against the user name at `now`.
    pub fn user_failures(&self, user: &str, now: Instant, settings: &Settings) -> u32 {
        live_count(self.users.get(&user_key(user)), now, settings.window)
    }

    /// How many addresses, user names and bans the tables hold now.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.addresses.len(), self.users.len(), self.bans.len())
    }

    fn insert_ban(&mut self, ban: Ban, now: Instant) {
        if self.bans.len() >= self.capacity && !self.bans.contains_key(&ban.client) {
            self.bans.retain(|_, b| b.until > now);
            if self.bans.len() >= self.capacity {
                // Full of live bans: the one ending soonest makes room.
                let soonest = self
                    .bans
                    .iter()
                    .min_by_key(|(_, b)| b.until)
                    .map(|(k, _)| *k);
                if let Some(k) = soonest {
                    self.bans.remove(&k);
                }
            }
        }
        self.bans.insert(ban.client, ban);
    }
}

/// The count of a counter still inside its window.
fn live_count(counter: Option<&Counter>, now: Instant, window: Duration) -> u32 {
    match counter {
        Some(c) if !c.expired(now, window) => c.failures,
        _ => 0,
    }
}

/// Counts one failure for `key` and returns its count in the window,
/// making room in a full table first.
fn bump<K: Eq + Hash + Clone>(
    table: &mut HashMap<K, Counter>,
    key: K,
    window: Duration,
    capacity: usize,
    now: Instant,
) -> u32 {
    if table.len() >= capacity && !table.contains_key(&key) {
        table.retain(|_, c| !c.expired(now, window));
        if table.len() >= capacity {
            // Bounded memory: the entry idle longest is forgotten.
            let oldest = table
                .iter()
                .min_by_key(|(_, c)| c.last)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                table.remove(&k);
            }
        }
    }
    let counter = table.entry(key).or_insert(Counter {
        failures: 0,
        first: now,
        last: now,
    });
    if counter.expired(now, window) {
        counter.failures = 0;
        counter.first = now;
    }
    counter.failures = counter.failures.saturating_add(1);
    counter.last = now;
    counter.failures
}

/// The delay after `failures` failures: none up to `delay_after`, then
/// `delay_step` for each failure past it, at most `cap`. It grows to the cap
/// and stays there until the count's window ends.
fn delay_for(settings: &Settings, failures: u32, cap: Duration) -> Duration {
    let steps = failures.saturating_sub(settings.delay_after);
    settings
        .delay_step
        .checked_mul(steps)
        .unwrap_or(cap)
        .min(cap)
}

/// The table key of a user name: lower-case (names are case-insensitive),
/// at most [`MAX_USER_KEY`] bytes.
fn user_key(user: &str) -> String {
    let mut name = user.to_lowercase();
    if name.len() > MAX_USER_KEY {
        let mut end = MAX_USER_KEY;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}
