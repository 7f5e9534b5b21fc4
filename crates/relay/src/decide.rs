//! The relay decision for one REMOTE recipient (docs/reference.md §3.3): relaying
//! disabled, then SMTP AUTH, then open relay, then the relay list. The caller
//! has already handled local recipients. The MAIL FROM address is not an
//! input at all (seed: "regardless of the originating mail from: value"), so
//! a forged sender can never buy a relay.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use portcullis_smtp::Reply;

use super::list::{ListMatch, MatchVia, RelayList, ReverseDns};

/// The relay settings of a loaded configuration (`[relay]`, docs/reference.md §2), with
/// the compiled list. Cheap to clone; a reload builds a new one.
#[derive(Clone, Debug)]
pub struct RelayPolicy {
    /// `relay.local_only`: no relaying at all.
    pub local_only: bool,
    /// `relay.restricted`: false makes an open relay.
    pub restricted: bool,
    /// `relay.authenticated`: authenticated users may relay.
    pub authenticated: bool,
    /// `relay.allow`, compiled.
    pub list: Arc<RelayList>,
}

/// The decision for one remote recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayDecision {
    /// The recipient may be relayed.
    Allowed(Grant),
    /// Refused for good (`550`/`554 5.7.1`).
    Denied(Denial),
    /// The answer depends on a reverse-DNS lookup that failed temporarily:
    /// `451`, never an allow (docs/reference.md §4).
    TempFail {
        /// The name entry whose lookup failed.
        entry: String,
    },
}

/// Why relaying was allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// SMTP AUTH as this user, with `relay.authenticated`.
    Auth(String),
    /// `relay.restricted = false`.
    OpenRelay,
    /// An allow entry of `relay.allow` matched first.
    List {
        /// Its index in `relay.allow`.
        index: usize,
        /// The entry as written.
        entry: String,
        /// How it matched.
        via: MatchVia,
    },
}

/// Why relaying was denied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// `relay.local_only = true`.
    LocalOnly,
    /// No entry of `relay.allow` matches the client.
    NotListed,
    /// An exception (`!…`) matched first.
    Exception {
        /// Its index in `relay.allow`.
        index: usize,
        /// The entry as written.
        entry: String,
        /// How it matched.
        via: MatchVia,
    },
}

impl RelayPolicy {
    /// Whether [`RelayPolicy::decide`] for this client would look at its
    /// reverse-DNS name, so the caller can skip the FCrDNS lookup otherwise.
    pub fn needs_reverse_dns(&self, client: IpAddr, auth_user: Option<&str>) -> bool {
        let decided_before_the_list =
            self.local_only || (auth_user.is_some() && self.authenticated) || !self.restricted;
        !decided_before_the_list && self.list.needs_reverse_dns(client)
    }

    /// Decides whether `client` may relay to a remote recipient (docs/reference.md §3.3).
    pub fn decide(
        &self,
        client: IpAddr,
        rdns: &ReverseDns,
        auth_user: Option<&str>,
    ) -> RelayDecision {
        // Relaying disabled beats everything, authentication included: it is
        // the admin's "deliver to local addresses only" switch.
        if self.local_only {
            return RelayDecision::Denied(Denial::LocalOnly);
        }
        if let (Some(user), true) = (auth_user, self.authenticated) {
            return RelayDecision::Allowed(Grant::Auth(user.to_string()));
        }
        if !self.restricted {
            return RelayDecision::Allowed(Grant::OpenRelay);
        }
        match self.list.lookup(client, rdns) {
            ListMatch::Allow { index, entry, via } => {
                RelayDecision::Allowed(Grant::List { index, entry, via })
            }
            ListMatch::Except { index, entry, via } => {
                RelayDecision::Denied(Denial::Exception { index, entry, via })
            }
            ListMatch::TempFail { entry, .. } => RelayDecision::TempFail { entry },
            // Fail closed: a client nobody listed may not relay.
            ListMatch::NoMatch => RelayDecision::Denied(Denial::NotListed),
        }
    }
}

impl RelayDecision {
    /// Whether the recipient may be relayed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, RelayDecision::Allowed(_))
    }

    /// The SMTP reply to the RCPT TO, `None` when relaying is allowed.
    pub fn reply(&self) -> Option<Reply> {
        match self {
            RelayDecision::Allowed(_) => None,
            // RFC 3463 §3.8: X.7.1 "delivery not authorized, message refused".
            RelayDecision::Denied(Denial::LocalOnly) => Some(Reply::new(
                550,
                (5, 7, 1),
                "Relaying disabled on this server",
            )),
            RelayDecision::Denied(Denial::NotListed | Denial::Exception { .. }) => {
                Some(Reply::new(554, (5, 7, 1), "Relay access denied"))
            }
            // RFC 3463 §3.5: X.4.3 "directory server failure" (DNS); 451 so the
            // client tries again instead of bouncing (RFC 5321 §4.2.5).
            RelayDecision::TempFail { .. } => Some(Reply::new(
                451,
                (4, 4, 3),
                "Temporary DNS failure checking relay permission, try again later",
            )),
        }
    }

    /// The deciding rule in log form (docs/reference.md §3.3): `allow:"192.168.40-43.*"`,
    /// `auth:alice`, `open`, `denied`, `except:"!192.168.99.*"`,
    /// `local_only`, `dnsfail:"example.com"`.
    pub fn rule(&self) -> String {
        match self {
            RelayDecision::Allowed(Grant::Auth(user)) => format!("auth:{}", LogSafe(user)),
            RelayDecision::Allowed(Grant::OpenRelay) => "open".to_string(),
            RelayDecision::Allowed(Grant::List { entry, .. }) => format!("allow:{entry:?}"),
            RelayDecision::Denied(Denial::LocalOnly) => "local_only".to_string(),
            RelayDecision::Denied(Denial::NotListed) => "denied".to_string(),
            RelayDecision::Denied(Denial::Exception { entry, .. }) => format!("except:{entry:?}"),
            RelayDecision::TempFail { entry } => format!("dnsfail:{entry:?}"),
        }
    }

    /// The kind of the deciding rule, without its entry (`allow`, `auth`,
    /// `open`, `local_only`, `denied`, `except`, `dnsfail`): few values, so
    /// one metrics series per kind.
    pub fn rule_kind(&self) -> &'static str {
        match self {
            RelayDecision::Allowed(Grant::Auth(_)) => "auth",
            RelayDecision::Allowed(Grant::OpenRelay) => "open",
            RelayDecision::Allowed(Grant::List { .. }) => "allow",
            RelayDecision::Denied(Denial::LocalOnly) => "local_only",
            RelayDecision::Denied(Denial::NotListed) => "denied",
            RelayDecision::Denied(Denial::Exception { .. }) => "except",
            RelayDecision::TempFail { .. } => "dnsfail",
        }
    }

    /// `granted`, `denied` or `tempfail`.
    pub fn result(&self) -> &'static str {
        match self {
            RelayDecision::Allowed(_) => "granted",
            RelayDecision::Denied(_) => "denied",
            RelayDecision::TempFail { .. } => "tempfail",
        }
    }

    /// One sentence for `portcullis check-relay` and the log, e.g.
    /// `relay allowed: 192.168.41.7 matches "192.168.40-43.*"`.
    pub fn explain(&self, client: IpAddr) -> String {
        let who = |via: &MatchVia| match via {
            MatchVia::Address => client.to_string(),
            MatchVia::ReverseDns(name) => {
                format!("{client} (verified reverse DNS {})", LogSafe(name))
            }
        };
        match self {
            RelayDecision::Allowed(Grant::Auth(user)) => {
                format!("relay allowed: {client} is authenticated as {}", LogSafe(user))
            }
            RelayDecision::Allowed(Grant::OpenRelay) => {
                "relay allowed: relay.restricted is false (open relay)".to_string()
            }
            RelayDecision::Allowed(Grant::List { entry, via, .. }) => {
                format!("relay allowed: {} matches {entry:?}", who(via))
            }
            RelayDecision::Denied(Denial::LocalOnly) => {
                "relay denied: relay.local_only is true (relaying disabled on this server)".to_string()
            }
            RelayDecision::Denied(Denial::NotListed) => {
                format!("relay denied: {client} matches no relay.allow entry")
            }
            RelayDecision::Denied(Denial::Exception { entry, via, .. }) => {
                format!("relay denied: {} matches exception {entry:?}", who(via))
            }
            RelayDecision::TempFail { entry } => format!(
                "relay deferred: the reverse DNS lookup of {client} failed temporarily and name entry {entry:?} could change the answer"
            ),
        }
    }
}

/// A user or host name as it goes into a log line: as is when it is plain,
/// quoted and escaped otherwise, so that no value can forge a log line or a
/// `key=value` field.
struct LogSafe<'a>(&'a str);

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.0.is_empty()
            && self
                .0
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+'));
        if plain {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}
