//! How one delivery attempt changes a queued envelope, recipient by
//! recipient: delivered; failed for good (5xx, or a temporary failure once
//! the lifetime is over); or deferred to the next retry. It also says which
//! failures the sender must hear about now (bounce) and which delays
//! warrant a warning.
//!
//! Crash safety rests on the order the runner follows: first the bounce or
//! warning for [`Changes`] is stored durably, then the updated envelope. A
//! crash in between repeats the attempt (and at worst the notice): a
//! `Failed` recipient in the envelope therefore always has had its bounce.

use portcullis_store::spool::{Envelope, RecipientState};

use super::failure::Failure;
use super::schedule::RetryPolicy;

/// The result of one attempt for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The next hop accepted it (2xx to the end of data).
    Delivered,
    /// It failed; [`Failure::is_permanent`] says whether to try again.
    Failed(Failure),
}

/// What [`apply`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Recipients now delivered.
    pub delivered: Vec<String>,
    /// Recipients deferred, with the failure and the next attempt time.
    pub deferred: Vec<(String, Failure, u64)>,
    /// Recipients now failed for good: the sender gets a bounce for these.
    pub failed: Vec<(String, Failure)>,
    /// Deferred recipients whose delay the sender should be warned of now.
    pub warn: Vec<(String, Failure)>,
}

/// Applies `results` (address, attempt) made at `now` to the pending
/// recipients of `envelope`. Addresses that are not pending (already done,
/// or unknown) are ignored, so replaying a result changes nothing.
pub fn apply(
    envelope: &mut Envelope,
    results: &[(String, Attempt)],
    policy: &RetryPolicy,
    now: u64,
) -> Changes {
    let mut changes = Changes::default();
    let created = envelope.created;
    for (address, attempt) in results {
        let Some(rcpt) = envelope
            .recipients
            .iter_mut()
            .find(|r| r.state == RecipientState::Pending && &r.address == address)
        else {
            continue;
        };
        let failures_before = rcpt.attempts;
        rcpt.attempts = rcpt.attempts.saturating_add(1);
        match attempt {
            Attempt::Delivered => {
                rcpt.state = RecipientState::Delivered;
                rcpt.last_error = None;
                changes.delivered.push(address.clone());
            }
            Attempt::Failed(f) if f.is_permanent() => {
                rcpt.state = RecipientState::Failed;
                rcpt.last_error = Some(f.to_last_error());
                changes.failed.push((address.clone(), f.clone()));
            }
            Attempt::Failed(f) if policy.expired(created, now) => {
                // RFC 5321 §4.5.4.1: give up after the queue lifetime.
                let f = f.expired();
                rcpt.state = RecipientState::Failed;
                rcpt.last_error = Some(f.to_last_error());
                changes.failed.push((address.clone(), f));
            }
            Attempt::Failed(f) => {
                let previous = policy.previous_failure(failures_before, rcpt.next_attempt);
                rcpt.next_attempt = policy.next_attempt(created, now, rcpt.attempts);
                rcpt.last_error = Some(f.to_last_error());
                if policy.warn_now(created, previous, now) {
                    changes.warn.push((address.clone(), f.clone()));
                }
                changes
                    .deferred
                    .push((address.clone(), f.clone(), rcpt.next_attempt));
            }
        }
    }
    changes
}

/// Once the message has expired, the pending recipients that were tried
/// and are not in `failing` (the pass's own failures): they are given up
/// with their last error, so that an expired message gets one bounce, as
/// Postfix bounces every deferred recipient of a message past its
/// lifetime. Without this, destinations whose last attempts straddle two
/// passes would each bring a bounce of their own.
pub fn expire_the_rest(
    envelope: &Envelope,
    failing: &[(String, Failure)],
    policy: &RetryPolicy,
    now: u64,
) -> Vec<(String, Failure)> {
    if !policy.expired(envelope.created, now) {
        return Vec::new();
    }
    envelope
        .pending()
        .filter(|r| !failing.iter().any(|(a, _)| *a == r.address))
        .filter_map(|r| {
            let last = Failure::from_last_error(r.last_error.as_deref()?);
            let f = if last.is_permanent() {
                last
            } else {
                last.expired()
            };
            Some((r.address.clone(), f))
        })
        .collect()
}

/// The earliest `next_attempt` of a pending recipient: when the message is
/// due again; None when nothing is pending.
pub fn next_due(envelope: &Envelope) -> Option<u64> {
    envelope.pending().map(|r| r.next_attempt).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_smtp::reply::Enhanced;

    const POLICY: RetryPolicy = RetryPolicy {
        retry_min: 60,
        retry_max: 3600,
        lifetime: 86_400,
        delay_warning: 3600,
    };

    fn envelope(rcpts: &[&str]) -> Envelope {
        let mut env = Envelope::new(
            "0TEST".into(),
            "alice@local.test".into(),
            rcpts.iter().map(|s| s.to_string()),
            "client".into(),
            None,
            None,
        );
        env.created = 1_000_000;
        for r in &mut env.recipients {
            r.next_attempt = env.created;
        }
        env
    }

    fn temp() -> Attempt {
        Attempt::Failed(Failure::local((4, 4, 1), "connect to x: refused"))
    }

    fn perm() -> Attempt {
        Attempt::Failed(Failure::local((5, 1, 1), "no such user"))
    }

    #[test]
    fn each_recipient_moves_on_its_own_result() {
        let mut env = envelope(&["ok@r", "busy@r", "gone@r"]);
        let now = env.created + 5;
        let c = apply(
            &mut env,
            &[
                ("ok@r".into(), Attempt::Delivered),
                ("busy@r".into(), temp()),
                ("gone@r".into(), perm()),
            ],
            &POLICY,
            now,
        );
        assert_eq!(c.delivered, ["ok@r"]);
        assert_eq!(c.deferred.len(), 1);
        assert_eq!(c.deferred[0].2, now + 60);
        assert_eq!(c.failed.len(), 1);
        assert!(c.warn.is_empty());
        let states: Vec<_> = env.recipients.iter().map(|r| r.state).collect();
        assert_eq!(
            states,
            [
                RecipientState::Delivered,
                RecipientState::Pending,
                RecipientState::Failed
            ]
        );
        assert_eq!(env.recipients[1].attempts, 1);
        assert_eq!(env.recipients[1].next_attempt, now + 60);
        assert_eq!(
            env.recipients[2].last_error.as_deref(),
            Some("5.1.1 no such user")
        );
        assert_eq!(next_due(&env), Some(now + 60));
    }

    #[test]
    fn back_off_grows_with_each_failure() {
        let mut env = envelope(&["busy@r"]);
        let mut now = env.created;
        let mut waits = Vec::new();
        for _ in 0..4 {
            apply(&mut env, &[("busy@r".into(), temp())], &POLICY, now);
            let due = env.recipients[0].next_attempt;
            waits.push(due - now);
            now = due;
        }
        assert_eq!(waits, [60, 120, 240, 480]);
    }

    #[test]
    fn a_temporary_failure_after_the_lifetime_is_final() {
        let mut env = envelope(&["busy@r"]);
        let now = env.created + POLICY.lifetime;
        let c = apply(&mut env, &[("busy@r".into(), temp())], &POLICY, now);
        assert_eq!(c.failed.len(), 1);
        assert!(c.failed[0].1.is_permanent());
        assert_eq!(env.recipients[0].state, RecipientState::Failed);
        assert!(env.is_done());
    }

    #[test]
    fn an_expired_message_gives_up_every_tried_recipient_at_once() {
        let mut env = envelope(&["a@r", "b@r", "never@r"]);
        let start = env.created;
        apply(
            &mut env,
            &[("a@r".into(), temp()), ("b@r".into(), temp())],
            &POLICY,
            start,
        );
        let end = start + POLICY.lifetime;
        let c = apply(&mut env, &[("a@r".into(), temp())], &POLICY, end);
        assert!(expire_the_rest(&env, &c.failed, &POLICY, end - 1).is_empty());
        let rest = expire_the_rest(&env, &c.failed, &POLICY, end);
        // b@r was tried and is over its lifetime; never@r was never tried.
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].0, "b@r");
        assert_eq!(rest[0].1.status, Enhanced(5, 4, 7));
        assert!(rest[0]
            .1
            .detail
            .starts_with("delivery time expired; last error: "));
    }

    #[test]
    fn the_delay_warning_comes_once_when_its_time_has_come() {
        let mut env = envelope(&["busy@r"]);
        let mut warned = 0;
        let mut now = env.created;
        while now < env.created + 3 * 3600 {
            let c = apply(&mut env, &[("busy@r".into(), temp())], &POLICY, now);
            warned += c.warn.len();
            if !c.warn.is_empty() {
                assert!(now >= env.created + POLICY.delay_warning);
            }
            now = env.recipients[0].next_attempt;
        }
        assert_eq!(warned, 1);
    }

    #[test]
    fn replayed_or_unknown_results_change_nothing() {
        let mut env = envelope(&["a@r"]);
        apply(&mut env, &[("a@r".into(), Attempt::Delivered)], &POLICY, 5);
        let before = env.clone();
        let c = apply(
            &mut env,
            &[("a@r".into(), perm()), ("x@r".into(), temp())],
            &POLICY,
            6,
        );
        assert_eq!(env, before);
        assert_eq!(c, Changes::default());
    }
}
