//! When to try a deferred recipient again, when to give up, and when to
//! warn the sender that delivery is late (`[queue]` in the configuration).
//!
//! Back-off doubles from `retry_min` up to `retry_max` (like Postfix's
//! minimal/maximal_backoff_time), and never goes past the message's
//! lifetime: the last retry happens when the lifetime ends, and a temporary
//! failure at or after that point becomes permanent (RFC 5321 §4.5.4.1: give
//! up after "at least 4-5 days").

/// The retry settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Seconds before the first retry (at least 1).
    pub retry_min: u64,
    /// The longest wait between two attempts.
    pub retry_max: u64,
    /// Seconds after arrival when a message still undelivered is bounced.
    pub lifetime: u64,
    /// Seconds after arrival when the sender is told delivery is delayed
    /// (RFC 3464 `Action: delayed`); 0: never.
    pub delay_warning: u64,
}

impl RetryPolicy {
    /// The wait after the `failures`-th failed attempt (1 = the first):
    /// `retry_min`, doubled each time, at most `retry_max`.
    pub fn delay(&self, failures: u32) -> u64 {
        let min = self.retry_min.max(1);
        let doublings = failures.saturating_sub(1).min(63);
        min.checked_shl(doublings)
            .filter(|d| d >> doublings == min)
            .unwrap_or(u64::MAX)
            .min(self.retry_max.max(min))
    }

    /// When the message created at `created` has expired.
    pub fn expires_at(&self, created: u64) -> u64 {
        created.saturating_add(self.lifetime)
    }

    /// Whether a temporary failure at `now` is the last one: the lifetime is over.
    pub fn expired(&self, created: u64, now: u64) -> bool {
        now >= self.expires_at(created)
    }

    /// The next attempt after the `failures`-th failure at `now`, never
    /// later than the expiry (so the bounce is not late either).
    pub fn next_attempt(&self, created: u64, now: u64, failures: u32) -> u64 {
        now.saturating_add(self.delay(failures))
            .min(self.expires_at(created))
            .max(now)
    }

    /// The time of the previous failure of a recipient that has failed
    /// `failures` times and is due at `next_attempt`, inferred from the
    /// schedule that set it; None before the first failure.
    pub fn previous_failure(&self, failures: u32, next_attempt: u64) -> Option<u64> {
        (failures > 0).then(|| next_attempt.saturating_sub(self.delay(failures)))
    }

    /// Whether a temporary failure at `now` should warn the sender: warnings
    /// are on, the warning time has come, and the previous failure was before
    /// it (so each recipient warns once, without storing a flag).
    pub fn warn_now(&self, created: u64, previous_failure: Option<u64>, now: u64) -> bool {
        if self.delay_warning == 0 {
            return false;
        }
        let at = created.saturating_add(self.delay_warning);
        now >= at && !matches!(previous_failure, Some(p) if p >= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RetryPolicy = RetryPolicy {
        retry_min: 60,
        retry_max: 3600,
        lifetime: 5 * 86_400,
        delay_warning: 4 * 3600,
    };

    #[test]
    fn back_off_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (1..=8).map(|n| P.delay(n)).collect();
        assert_eq!(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(P.delay(0), 60);
        assert_eq!(P.delay(u32::MAX), 3600);
    }

    #[test]
    fn a_huge_schedule_does_not_overflow() {
        let p = RetryPolicy {
            retry_min: u64::MAX / 2,
            retry_max: u64::MAX,
            ..P
        };
        assert_eq!(p.delay(3), u64::MAX);
        assert_eq!(p.next_attempt(u64::MAX - 5, u64::MAX - 1, 3), u64::MAX);
    }

    #[test]
    fn the_last_retry_is_at_expiry_and_a_failure_then_is_final() {
        let created = 1000;
        let end = created + P.lifetime;
        assert_eq!(P.next_attempt(created, end - 10, 50), end);
        assert!(!P.expired(created, end - 1));
        assert!(P.expired(created, end));
    }

    #[test]
    fn the_delay_warning_goes_once() {
        let created = 0;
        let w = P.delay_warning;
        // First attempt long after the warning time (the server was down).
        assert!(P.warn_now(created, None, w + 5));
        // Before the warning time: no.
        assert!(!P.warn_now(created, Some(10), w - 1));
        // The failure that crosses it: yes; the ones after: no.
        assert!(P.warn_now(created, Some(w - 100), w + 200));
        assert!(!P.warn_now(created, Some(w + 200), w + 4000));
        let off = RetryPolicy {
            delay_warning: 0,
            ..P
        };
        assert!(!off.warn_now(created, None, 10 * w));
    }

    #[test]
    fn the_previous_failure_is_read_back_from_the_schedule() {
        // Failed for the 3rd time at t=5000: due at 5000 + 240.
        let due = P.next_attempt(0, 5000, 3);
        assert_eq!(P.previous_failure(3, due), Some(5000));
        assert_eq!(P.previous_failure(0, due), None);
    }
}
