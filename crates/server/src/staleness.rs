//! Fail closed (`directory.max_stale`, docs/reference.md): a node serves
//! the site its directory last confirmed, but once that confirmation is
//! older than `max_stale` it no longer grants what the site might have
//! taken back meanwhile: relay gets `451 4.3.0` and AUTH `454 4.7.0`, while
//! mail for known local users is still accepted. Pure: `now` is passed in.

use std::time::{Duration, SystemTime};

use portcullis_smtp::Reply;

/// How current the site in force is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// The backend is its own truth (the file backend): never stale.
    Always,
    /// Confirmed this long ago, within `max_stale`.
    Confirmed(Duration),
    /// Confirmed this long ago, more than `max_stale`: fail closed.
    Stale(Duration),
}

impl Freshness {
    /// Whether relay and AUTH must be refused for now.
    pub fn is_stale(self) -> bool {
        matches!(self, Freshness::Stale(_))
    }

    /// How long ago the directory confirmed the site (None: always current).
    pub fn age(self) -> Option<Duration> {
        match self {
            Freshness::Always => None,
            Freshness::Confirmed(age) | Freshness::Stale(age) => Some(age),
        }
    }
}

/// The freshness of a site the directory confirmed at `confirmed`, at
/// `now`. Stale only when strictly more than `max_stale` has passed; a
/// confirmation in the future (the clock stepped back) counts as now.
pub fn freshness(confirmed: Option<SystemTime>, now: SystemTime, max_stale: Duration) -> Freshness {
    let Some(at) = confirmed else {
        return Freshness::Always;
    };
    let age = now.duration_since(at).unwrap_or(Duration::ZERO);
    if age > max_stale {
        Freshness::Stale(age)
    } else {
        Freshness::Confirmed(age)
    }
}

/// The reply to a RCPT that the site in force would relay while it is stale:
/// a temporary failure, never a grant the directory may have revoked.
pub fn relay_unconfirmed() -> Reply {
    Reply::new(
        451,
        (4, 3, 0),
        "Relay policy cannot be confirmed: the directory is unreachable, try again later",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(120);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    #[test]
    fn a_backend_that_is_its_own_truth_is_never_stale() {
        assert_eq!(freshness(None, at(10_000_000), MAX), Freshness::Always);
        assert!(!Freshness::Always.is_stale());
        assert_eq!(Freshness::Always.age(), None);
    }

    #[test]
    fn exactly_max_stale_is_still_fresh_and_one_more_instant_is_not() {
        let confirmed = Some(at(0));
        assert_eq!(
            freshness(confirmed, at(120), MAX),
            Freshness::Confirmed(MAX)
        );
        let just_after = at(120) + Duration::from_millis(1);
        let f = freshness(confirmed, just_after, MAX);
        assert!(f.is_stale(), "{f:?}");
        assert_eq!(f.age(), Some(MAX + Duration::from_millis(1)));
        assert!(!freshness(confirmed, at(0), MAX).is_stale());
    }

    #[test]
    fn a_confirmation_in_the_future_counts_as_now() {
        assert_eq!(
            freshness(Some(at(50)), at(0), MAX),
            Freshness::Confirmed(Duration::ZERO)
        );
    }

    #[test]
    fn the_relay_refusal_is_a_temporary_failure() {
        let r = relay_unconfirmed();
        assert_eq!(r.code, 451);
        assert!(r.to_string().starts_with("451 4.3.0 "), "{r}");
    }
}
