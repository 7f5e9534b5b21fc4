//! After an attempt: the results go into the envelope, the sender hears of
//! failures (a DSN, RFC 3464) and long delays, and a finished message leaves
//! the queue. Blocking file work, run on the blocking pool.
//!
//! Order, for crash safety (issue 5 §1): the DSN is stored (fsynced) in the
//! queue first, then the envelope is updated (or removed). A crash in
//! between repeats the attempt and, at worst, the DSN; a recipient marked
//! `failed` in an envelope always had its DSN stored.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use portcullis_core::outbound::dsn::{self, DsnKind, Report};
use portcullis_core::outbound::transition::{apply, Changes};
use portcullis_core::outbound::{Attempt, Failure, RetryPolicy};
use portcullis_core::spool::{Envelope, RecipientState, Spool};
use tracing::{error, info, warn};

use crate::server::Shared;

/// Envelope updates of one message are serialised through one of these
/// (chosen by the id's hash): two destinations of one message may finish
/// at the same moment, and each update is a read-modify-write.
static LOCKS: [Mutex<()>; 64] = [const { Mutex::new(()) }; 64];

/// The lock of queue id `id`.
pub fn lock(id: &str) -> MutexGuard<'static, ()> {
    let h = id.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    // A poisoned lock guards no data (it is `()`): carry on.
    LOCKS[h % LOCKS.len()]
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The retry policy of the configuration in force.
pub fn policy(shared: &Shared) -> RetryPolicy {
    let q = &shared.current.get().config.queue;
    RetryPolicy {
        retry_min: q.retry_min,
        retry_max: q.retry_max,
        lifetime: q.lifetime,
        delay_warning: q.delay_warning,
    }
}

/// Records `results` of an attempt on message `id` (blocking).
pub fn record(shared: &Arc<Shared>, id: &str, results: &[(String, Attempt)], remote: Option<&str>) {
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
    crate::server::metrics::count_deliveries(&shared.stats, &changes);
    log_changes(id, &changes, remote);
    notify(shared, &mut env, &changes, &policy, now);
    save(spool, &env);
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

/// Sends the failure DSN and the delay warning `changes` call for. A
/// message from the null sender never gets one (RFC 5321 §4.5.5: that is
/// what keeps bounces from looping). If the failure DSN cannot be stored,
/// its recipients go back to pending so that it is tried again.
fn notify(
    shared: &Arc<Shared>,
    env: &mut Envelope,
    changes: &Changes,
    policy: &RetryPolicy,
    now: u64,
) {
    if env.sender.is_empty() {
        if !changes.failed.is_empty() {
            warn!(queue_id = %env.id, "undeliverable message from the null sender (a bounce) discarded; no bounce of a bounce");
        }
        return;
    }
    if !changes.failed.is_empty() {
        if let Err(e) = send_dsn(shared, env, DsnKind::Failure, &changes.failed, now) {
            error!(queue_id = %env.id, "cannot queue the bounce, will try again: {e}");
            for (address, _) in &changes.failed {
                if let Some(r) = env
                    .recipients
                    .iter_mut()
                    .find(|r| &r.address == address && r.state == RecipientState::Failed)
                {
                    r.state = RecipientState::Pending;
                    r.next_attempt = now.saturating_add(policy.retry_min);
                }
            }
        }
    }
    if !changes.warn.is_empty() {
        let until = policy.expires_at(env.created);
        if let Err(e) = send_dsn(shared, env, DsnKind::Delay { until }, &changes.warn, now) {
            // A warning is a courtesy: not worth another attempt.
            warn!(queue_id = %env.id, "cannot queue the delay warning: {e}");
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
    super::kick(&id);
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
pub fn remove_done(shared: &Arc<Shared>, id: &str) {
    let _guard = lock(id);
    if let Ok(env) = shared.spool.load_envelope(id) {
        if env.is_done() {
            save(&shared.spool, &env);
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
