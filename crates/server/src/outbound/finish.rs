//! After an attempt: the results go into the envelope, the sender hears of
//! failures (a DSN, RFC 3464) and long delays, and a finished message leaves
//! the queue. Blocking file work, run on the blocking pool.
//!
//! One notice of each kind per message per pass, as Postfix's bounce daemon
//! does: a message for three domains that all refuse it gets its sender one
//! bounce naming the three recipients, not three bounces. So [`record`]
//! (once per job, i.e. per destination) only *collects* the failures and
//! delay warnings of the pass, and [`bounce_collected`] (once the runner
//! has the last job of the pass back) sends them, one DSN for the failures
//! and one for the warnings.
//!
//! Order, for crash safety (issue 5 §1): a recipient that failed is kept
//! `pending` until its DSN is stored (fsynced) in the queue; only then is it
//! marked `failed` and the envelope updated (or removed). A crash in between
//! repeats the attempt (it fails again and bounces then) and, at worst, the
//! DSN; a recipient marked `failed` in an envelope always had its DSN stored.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use portcullis_queue::dsn::{self, DsnKind, Report};
use portcullis_queue::transition::{apply, expire_the_rest, Changes};
use portcullis_queue::{Attempt, Failure, RetryPolicy};
use portcullis_store::clock::unix_now;
use portcullis_store::spool::{Envelope, RecipientState, Spool};
use tracing::{error, info, warn};

use crate::Shared;

/// Envelope updates of one message are serialised through one of these
/// (chosen by the id's hash): two destinations of one message may finish
/// at the same moment, and each update is a read-modify-write.
static LOCKS: [Mutex<()>; 64] = [const { Mutex::new(()) }; 64];

/// What the jobs of each message's current pass decided that the sender
/// must hear of, by queue id, until [`bounce_collected`] sends it. Only in
/// memory: the failed recipients stay pending in the envelope meanwhile,
/// so after a crash they are simply tried again (a delay warning lost that
/// way is not: it is a courtesy).
static COLLECTED: Mutex<BTreeMap<String, Collected>> = Mutex::new(BTreeMap::new());

/// The notices one message's pass owes its sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Collected {
    /// Recipients that failed for good, with the failure for the DSN.
    failed: Vec<(String, Failure)>,
    /// Deferred recipients whose delay the sender is to be warned of.
    warn: Vec<(String, Failure)>,
}

/// The lock of queue id `id`.
pub(crate) fn lock(id: &str) -> MutexGuard<'static, ()> {
    let h = id.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    // A poisoned lock guards no data (it is `()`): carry on.
    LOCKS[h % LOCKS.len()]
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The collection of notices, whatever a panicking holder left in it (each
/// update is a single push or remove, never half done).
fn collected() -> MutexGuard<'static, BTreeMap<String, Collected>> {
    COLLECTED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The retry policy of the configuration in force.
pub(super) fn policy(shared: &Shared) -> RetryPolicy {
    let q = &shared.current.get().config.queue;
    RetryPolicy {
        retry_min: q.retry_min,
        retry_max: q.retry_max,
        lifetime: q.lifetime,
        delay_warning: q.delay_warning,
    }
}

/// Records `results` of an attempt on message `id` (blocking). Failures and
/// delay warnings are collected for [`bounce_collected`], not sent: the
/// failed recipients stay pending (due again after `queue.retry_min`, in
/// case the server stops before the pass ends) until their DSN is stored.
pub(super) fn record(
    shared: &Arc<Shared>,
    id: &str,
    results: &[(String, Attempt)],
    remote: Option<&str>,
) {
    if results.is_empty() {
        return;
    }
    let _guard = lock(id);
    let spool = &shared.spool;
    let mut env = match spool.load_envelope(id) {
        Ok(env) => env,
        // Deleted meanwhile (`queue delete`): nothing to record.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            error!(queue_id = %id, "cannot record the delivery results: {e}");
            return;
        }
    };
    let policy = policy(shared);
    let now = unix_now();
    let changes = apply(&mut env, results, &policy, now);
    crate::metrics::count_deliveries(&shared.stats, &changes);
    log_changes(id, &changes, remote);
    if env.sender.is_empty() {
        // RFC 5321 §4.5.5: a message from the null sender never gets a
        // DSN; that is what keeps bounces from looping. Its failures are
        // final at once.
        if !changes.failed.is_empty() {
            warn!(queue_id = %id, "undeliverable message from the null sender (a bounce) discarded; no bounce of a bounce");
        }
    } else if !changes.failed.is_empty() || !changes.warn.is_empty() {
        hold(
            &mut env,
            &changes.failed,
            now.saturating_add(policy.retry_min),
        );
        collect(id, changes.failed, changes.warn);
    }
    save(spool, &env);
}

/// Whether the pass over message `id` left notices to send: the runner
/// then calls [`bounce_collected`] before it schedules the message again.
pub(super) fn has_collected(id: &str) -> bool {
    collected().contains_key(id)
}

/// Ends the pass over message `id` (blocking): sends one failure DSN naming
/// every recipient that failed in the pass and one delay warning for those
/// due one, then marks the failed recipients `failed` and saves the
/// envelope (removing the message when nothing is left). If the DSN cannot
/// be stored, its recipients stay pending and are tried again.
pub(super) fn bounce_collected(shared: &Arc<Shared>, id: &str) {
    let _guard = lock(id);
    let Some(pass) = collected().remove(id) else {
        return;
    };
    let spool = &shared.spool;
    let mut env = match spool.load_envelope(id) {
        Ok(env) => env,
        // Deleted meanwhile (`queue delete`): nobody to tell.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        // The failed recipients are still pending: tried again later.
        Err(e) => {
            error!(queue_id = %id, "cannot read the envelope to send its bounce, will try again: {e}");
            return;
        }
    };
    let policy = policy(shared);
    let now = unix_now();
    let mut failed = still_pending(&env, pass.failed);
    if !failed.is_empty() {
        // One bounce for an expired message, whatever pass the others are due in.
        let rest = expire_the_rest(&env, &failed, &policy, now);
        for (rcpt, f) in &rest {
            warn!(queue_id = %id, to = %rcpt, relay = "none", status = "bounced", "{f}");
        }
        failed.extend(rest);
        match send_dsn(shared, &env, DsnKind::Failure, &failed, now) {
            // Only now that the DSN is stored may they be marked failed.
            Ok(()) => mark_failed(&mut env, &failed),
            Err(e) => {
                error!(queue_id = %id, "cannot queue the bounce, will try again: {e}");
                hold(&mut env, &failed, now.saturating_add(policy.retry_min));
            }
        }
        save(spool, &env);
    }
    let warn = still_pending(&env, pass.warn);
    if !warn.is_empty() {
        let until = policy.expires_at(env.created);
        if let Err(e) = send_dsn(shared, &env, DsnKind::Delay { until }, &warn, now) {
            // A warning is a courtesy: not worth another attempt.
            warn!(queue_id = %id, "cannot queue the delay warning: {e}");
        }
    }
}

/// Adds one job's failures and warnings to message `id`'s pass.
fn collect(id: &str, failed: Vec<(String, Failure)>, warn: Vec<(String, Failure)>) {
    let mut all = collected();
    let pass = all.entry(id.to_string()).or_default();
    pass.failed.extend(failed);
    pass.warn.extend(warn);
}

/// Logs one line per recipient, with the deciding reply or reason.
fn log_changes(id: &str, changes: &Changes, remote: Option<&str>) {
    let relay = remote.unwrap_or("none");
    for rcpt in &changes.delivered {
        info!(queue_id = %id, to = %rcpt, relay, status = "sent", "delivered");
    }
    for (rcpt, f, next) in &changes.deferred {
        info!(queue_id = %id, to = %rcpt, relay, status = "deferred", next_attempt = next, "{f}");
    }
    for (rcpt, f) in &changes.failed {
        warn!(queue_id = %id, to = %rcpt, relay, status = "bounced", "{f}");
    }
}

/// Puts the recipients of `failed` (marked failed by `apply`, or still
/// pending) back to pending, due at `retry_at`: their DSN is not stored
/// yet. Their `last_error` stays, for `queue list`.
fn hold(env: &mut Envelope, failed: &[(String, Failure)], retry_at: u64) {
    for (address, _) in failed {
        let held = env.recipients.iter_mut().find(|r| {
            &r.address == address
                && matches!(r.state, RecipientState::Failed | RecipientState::Pending)
        });
        if let Some(r) = held {
            r.state = RecipientState::Pending;
            r.next_attempt = retry_at;
        }
    }
}

/// The entries of `list` whose recipient is still pending in `env` (one
/// entry per address): a recipient delivered or removed since is not
/// reported on.
fn still_pending(env: &Envelope, list: Vec<(String, Failure)>) -> Vec<(String, Failure)> {
    let mut out: Vec<(String, Failure)> = Vec::with_capacity(list.len());
    for (address, f) in list {
        let pending = env.pending().any(|r| r.address == address);
        if pending && !out.iter().any(|(a, _)| *a == address) {
            out.push((address, f));
        }
    }
    out
}

/// Marks the recipients of `failed` failed, with their final error: their
/// DSN has been stored.
fn mark_failed(env: &mut Envelope, failed: &[(String, Failure)]) {
    for (address, f) in failed {
        let rcpt = env
            .recipients
            .iter_mut()
            .find(|r| &r.address == address && r.state == RecipientState::Pending);
        if let Some(r) = rcpt {
            r.state = RecipientState::Failed;
            r.last_error = Some(f.to_last_error());
        }
    }
}

/// Composes a DSN about `recipients` of `env` and queues it to the sender
/// (delivered locally by the runner when the sender is local).
fn send_dsn(
    shared: &Arc<Shared>,
    env: &Envelope,
    kind: DsnKind,
    recipients: &[(String, Failure)],
    now: u64,
) -> io::Result<()> {
    let message = shared.spool.read_message(&env.id)?;
    let id = Spool::new_id();
    let rt = shared.current.get();
    let dsn = dsn::compose(&Report {
        reporting_mta: &rt.config.hostname,
        original: env,
        message: &message,
        kind,
        recipients,
        now,
        id: &id,
    });
    let dsn_env = dsn::envelope(&id, &env.sender, dsn.eight_bit);
    shared.spool.store(&dsn_env, &dsn.bytes)?;
    let what = match kind {
        DsnKind::Failure => "bounce",
        DsnKind::Delay { .. } => "delay warning",
    };
    info!(queue_id = %env.id, dsn_id = %id, to = %env.sender, "{what} queued");
    shared.outbound.kick(&id);
    Ok(())
}

/// Writes the envelope back, or removes the message once nothing is pending.
fn save(spool: &Spool, env: &Envelope) {
    let result = if env.is_done() {
        spool
            .remove(&env.id)
            .map(|()| info!(queue_id = %env.id, "removed from the queue"))
    } else {
        spool.update_envelope(env)
    };
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // The old envelope stays: its recipients are tried again (at worst
        // delivered twice, never lost).
        Err(e) => error!(queue_id = %env.id, "cannot update the queue: {e}"),
    }
}

/// Removes a message whose recipients are all done (found so at a scan,
/// e.g. after a crash between its last DSN and its removal).
pub(super) fn remove_done(shared: &Arc<Shared>, id: &str) {
    let _guard = lock(id);
    if let Ok(env) = shared.spool.load_envelope(id) {
        if env.is_done() {
            save(&shared.spool, &env);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        retry_min: 60,
        retry_max: 3600,
        lifetime: 86_400,
        delay_warning: 3600,
    };

    fn envelope(rcpts: &[&str]) -> Envelope {
        let mut env = Envelope::new(
            "0FINISHTEST".into(),
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

    fn perm(why: &str) -> Failure {
        Failure::local((5, 1, 1), why)
    }

    #[test]
    fn a_failure_stays_pending_until_its_bounce_is_stored() {
        let mut env = envelope(&["gone@a", "ok@b"]);
        let now = env.created + 5;
        let changes = apply(
            &mut env,
            &[
                ("gone@a".into(), Attempt::Failed(perm("no such user"))),
                ("ok@b".into(), Attempt::Delivered),
            ],
            &POLICY,
            now,
        );
        hold(&mut env, &changes.failed, now + POLICY.retry_min);
        // What a crash here leaves on disk: another attempt a bit later
        // (which fails again and bounces then), never a silent drop.
        let gone = &env.recipients[0];
        assert_eq!(gone.state, RecipientState::Pending);
        assert_eq!(gone.next_attempt, now + 60);
        assert_eq!(gone.attempts, 1);
        assert_eq!(gone.last_error.as_deref(), Some("5.1.1 no such user"));
        assert!(!env.is_done());

        // The pass is over and the DSN stored: now it is failed for good.
        let failed = still_pending(&env, changes.failed);
        assert_eq!(failed.len(), 1);
        mark_failed(&mut env, &failed);
        assert_eq!(env.recipients[0].state, RecipientState::Failed);
        assert!(env.is_done());
    }

    #[test]
    fn only_recipients_still_pending_are_reported_once_each() {
        let mut env = envelope(&["a@x", "b@x", "c@x"]);
        env.recipients[1].state = RecipientState::Delivered;
        let list = vec![
            ("a@x".to_string(), perm("first")),
            ("b@x".to_string(), perm("delivered since")),
            ("a@x".to_string(), perm("again")),
            ("unknown@x".to_string(), perm("not in the envelope")),
            ("c@x".to_string(), perm("third")),
        ];
        let out = still_pending(&env, list);
        let addresses: Vec<&str> = out.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(addresses, ["a@x", "c@x"]);
        assert_eq!(out[0].1.detail, "first");
    }

    #[test]
    fn mark_failed_records_the_final_error_and_leaves_the_rest() {
        let mut env = envelope(&["a@x", "b@x"]);
        let expired = Failure::local((4, 4, 1), "connect to x: refused").expired();
        mark_failed(&mut env, &[("a@x".to_string(), expired.clone())]);
        assert_eq!(env.recipients[0].state, RecipientState::Failed);
        assert_eq!(env.recipients[0].last_error, Some(expired.to_last_error()));
        assert_eq!(env.recipients[1].state, RecipientState::Pending);
    }

    #[test]
    fn the_jobs_of_a_pass_add_up_to_one_collection() {
        let id = "0COLLECTTEST";
        assert!(!has_collected(id));
        collect(id, vec![("a@x".into(), perm("one"))], Vec::new());
        collect(
            id,
            vec![("b@y".into(), perm("two"))],
            vec![("c@z".into(), Failure::local((4, 4, 1), "slow"))],
        );
        assert!(has_collected(id));
        let pass = collected().remove(id).unwrap_or_default();
        let failed: Vec<&str> = pass.failed.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(failed, ["a@x", "b@y"]);
        assert_eq!(pass.warn.len(), 1);
        assert!(!has_collected(id));
    }
}
