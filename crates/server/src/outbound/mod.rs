//! The queue runner (issue 5): delivers what the spool holds.
//!
//! - At start, and every [`RESCAN`], it scans the spool; when the server
//!   stores a message it is kicked ([`Outbound::kick`]) and looks at that one at once.
//! - Each message is due at its earliest pending recipient's `next_attempt`.
//!   When due, its recipients are grouped by route (`[routes]`, smarthost,
//!   MX per domain; local domains are delivered into Maildirs here, or with
//!   `delivery.lmtp` go to the LMTP server as one more destination) into
//!   jobs, and each job waits in its destination's queue.
//! - Workers, at most `limits.outbound_connections` in all and
//!   `limits.outbound_per_destination` per destination, open one session
//!   per destination and carry job after job over it (connection reuse).
//! - A destination that cannot be reached fails every job waiting for it
//!   with the same temporary error, instead of hammering it once per message.
//! - Results go through [`finish::record`]: envelope updated, failures and
//!   delay warnings collected. When the last job of a message's pass is
//!   back, [`finish::bounce_collected`] queues one DSN for all of them and
//!   removes a finished message; then the message is scheduled again.
//!
//! Here: the handle and the runner; `plan.rs` groups a message's recipients,
//! `worker.rs` holds the jobs and the workers that carry them.

mod cached;
mod conn;
mod deliver;
mod finish;
mod limit;
mod lmtp;
mod local;
mod mta_sts;
mod plan;
mod resolve;
mod session;
mod tls;
mod worker;

/// The lock of one queued message, for the admin's queue operations.
pub(crate) use finish::lock;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_queue::transition::next_due;
use portcullis_queue::Route;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{info, warn, Instrument};

use super::Shared;
use cached::Cached;
use limit::ConnectionLimit;
use plan::plan;
use portcullis_store::clock::unix_now;
use portcullis_store::spool::Envelope;
use worker::{DeliveryEnv, DestQueue, Dests, Event, Fresh, Job, Worker};

/// How often the whole spool is scanned, in case a kick was missed (or a
/// message was put there by another process).
const RESCAN: Duration = Duration::from_secs(30);
/// The handle the rest of the server holds.
#[derive(Clone)]
pub struct Outbound {
    events: mpsc::UnboundedSender<Event>,
    /// Octets of stored messages held in memory for their first attempt.
    cached: Arc<AtomicUsize>,
}

/// The receiving end, until the runner starts.
pub(crate) struct Pending(mpsc::UnboundedReceiver<Event>, mpsc::UnboundedSender<Event>);

/// Creates the handle and the runner's receiving end.
pub(crate) fn channel() -> (Outbound, Pending) {
    let (tx, rx) = mpsc::unbounded_channel();
    let outbound = Outbound {
        events: tx.clone(),
        cached: Arc::new(AtomicUsize::new(0)),
    };
    (outbound, Pending(rx, tx))
}

impl Outbound {
    /// Tells the runner that message `id` was queued or changed. Best
    /// effort: the periodic rescan finds the message anyway.
    pub fn kick(&self, id: &str) {
        let _ = self.events.send(Event::Kick(id.to_string()));
    }

    /// [`Outbound::kick`] for a message just stored with `envelope` (and
    /// `message`, if it was in memory): the runner plans it from this copy,
    /// and its first attempt sends these bytes, instead of reading them back.
    pub(crate) fn queued(&self, envelope: Envelope, message: Option<Vec<u8>>) {
        let message = message.and_then(|m| Cached::new(m, &self.cached));
        let _ = self
            .events
            .send(Event::Queued(Box::new(Fresh { envelope, message })));
    }

    /// Tells the runner a reload applied a new configuration (its
    /// `limits.outbound_connections` may have changed).
    pub fn reconfigured(&self) {
        let _ = self.events.send(Event::Reconfigured);
    }

    /// Makes every queued message due now (`portcullis queue flush`);
    /// returns how many messages that is.
    pub async fn flush(&self) -> Result<usize, String> {
        let (tx, rx) = oneshot::channel();
        self.events
            .send(Event::Flush(tx))
            .map_err(|_| "the queue runner is not running".to_string())?;
        rx.await
            .map_err(|_| "the queue runner did not answer".to_string())
    }
}

/// Starts the runner on the current tokio runtime.
pub(crate) fn start(pending: Pending, shared: Arc<Shared>) {
    let Pending(events, tx) = pending;
    let limit = shared
        .current
        .get()
        .config
        .limits
        .outbound_connections
        .max(1);
    let runner = Runner {
        connections: Arc::new(Semaphore::new(limit)),
        connection_limit: ConnectionLimit {
            applied: limit,
            owed: 0,
        },
        shared: shared.clone(),
        events,
        tx,
        due: HashMap::new(),
        fresh: HashMap::new(),
        forced: HashSet::new(),
        busy: HashMap::new(),
        dests: Arc::new(Mutex::new(HashMap::new())),
        env: Arc::new(Mutex::new(None)),
    };
    tokio::spawn(runner.run());
}

struct Runner {
    shared: Arc<Shared>,
    events: mpsc::UnboundedReceiver<Event>,
    tx: mpsc::UnboundedSender<Event>,
    /// Message id → when it is due (seconds since the epoch).
    due: HashMap<String, u64>,
    /// Messages just stored, until they are dispatched: their envelope is
    /// read from here rather than from the spool.
    fresh: HashMap<String, Fresh>,
    /// Messages flushed: all pending recipients go, whatever their next_attempt.
    forced: HashSet<String>,
    /// Message id → jobs still running.
    busy: HashMap<String, usize>,
    dests: Dests,
    connections: Arc<Semaphore>,
    connection_limit: ConnectionLimit,
    env: Arc<Mutex<Option<Arc<DeliveryEnv>>>>,
}

impl Runner {
    async fn run(mut self) {
        self.rescan();
        let mut last_scan = tokio::time::Instant::now();
        loop {
            let now = unix_now();
            let next = self
                .due
                .iter()
                .filter(|(id, _)| !self.busy.contains_key(*id))
                .map(|(_, t)| *t)
                .min();
            let wait = match next {
                Some(t) if t <= now => Duration::ZERO,
                Some(t) => Duration::from_secs(t - now).min(RESCAN),
                None => RESCAN,
            };
            if !wait.is_zero() {
                tokio::select! {
                    event = self.events.recv() => match event {
                        Some(e) => self.handle(e),
                        None => return,
                    },
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            // Take everything else that arrived meanwhile before dispatching.
            while let Ok(e) = self.events.try_recv() {
                self.handle(e);
            }
            if last_scan.elapsed() >= RESCAN {
                self.rescan();
                last_scan = tokio::time::Instant::now();
            }
            // A cut limit is owed until enough connections closed.
            if self.connection_limit.owed > 0 {
                self.follow_limits();
            }
            self.dispatch(unix_now());
        }
    }

    fn follow_limits(&mut self) {
        let wanted = self.shared.current.get().config.limits.outbound_connections;
        self.connection_limit.follow(&self.connections, wanted);
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Kick(id) => {
                // Changed on disk (held, released): a copy kept is stale.
                self.fresh.remove(&id);
                self.schedule(&id);
            }
            Event::Queued(fresh) => {
                let id = fresh.envelope.id.clone();
                if !self.busy.contains_key(&id) {
                    self.fresh.insert(id.clone(), *fresh);
                }
                self.schedule(&id);
            }
            Event::Flush(answer) => {
                let present = self.rescan();
                let ids: Vec<String> = self.due.keys().cloned().collect();
                for id in &ids {
                    self.due.insert(id.clone(), 0);
                    self.forced.insert(id.clone());
                }
                // In flight and still queued: one deleted during its attempt
                // (`queue delete`) is not counted.
                let busy = self
                    .busy
                    .keys()
                    .filter(|id| !self.due.contains_key(*id) && present.contains(id.as_str()))
                    .count();
                info!(messages = ids.len(), in_flight = busy, "queue flush");
                let _ = answer.send(ids.len() + busy);
            }
            Event::Reconfigured => self.follow_limits(),
            Event::Done(id) => {
                let left = self.busy.get_mut(&id).map(|n| {
                    *n = n.saturating_sub(1);
                    *n
                });
                if left != Some(0) {
                    return;
                }
                if finish::has_collected(&id) {
                    // One DSN for the whole pass. The message stays busy
                    // (with no job) until it is queued: its failed
                    // recipients are still pending in the envelope, and
                    // must not be dispatched again meanwhile.
                    let (shared, tx) = (self.shared.clone(), self.tx.clone());
                    tokio::spawn(async move {
                        let id_owned = id.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            finish::bounce_collected(&shared, &id_owned)
                        })
                        .await;
                        // Even if that panicked: the message must not stay busy.
                        let _ = tx.send(Event::Notified(id));
                    });
                } else {
                    self.pass_over(&id);
                }
            }
            Event::Notified(id) => self.pass_over(&id),
        }
    }

    /// The pass over message `id` is over: it may be scheduled again.
    fn pass_over(&mut self, id: &str) {
        self.busy.remove(id);
        self.schedule(id);
        // Never straight back: if the results could not be written (full
        // disk), the old due time would make a tight loop of attempts.
        let soonest = unix_now() + 1;
        if let Some(t) = self.due.get_mut(id) {
            *t = (*t).max(soonest);
        }
    }

    /// Reads message `id`'s envelope and sets when it is due.
    fn schedule(&mut self, id: &str) {
        if self.busy.contains_key(id) {
            return;
        }
        // Imported from the maildrop but its file not removed yet: the
        // import kicks it once it is (see `portcullis_store::maildrop::is_pending`).
        if portcullis_store::maildrop::is_pending(&self.shared.current.get().config.data_dir, id) {
            self.due.remove(id);
            return;
        }
        let facts = match self.fresh.get(id) {
            Some(fresh) => Ok((fresh.envelope.held, next_due(&fresh.envelope))),
            None => self
                .shared
                .spool
                .load_envelope(id)
                .map(|env| (env.held, next_due(&env))),
        };
        if !matches!(facts, Ok((false, Some(_)))) {
            self.fresh.remove(id);
        }
        match facts {
            // Held by the administrator: not due until `queue release`.
            Ok((true, _)) => {
                self.due.remove(id);
                self.forced.remove(id);
            }
            Ok((false, next)) => match next {
                Some(t) => {
                    self.due.insert(id.to_string(), t);
                }
                None => {
                    self.due.remove(id);
                    let (shared, id) = (self.shared.clone(), id.to_string());
                    tokio::task::spawn_blocking(move || finish::remove_done(&shared, &id));
                }
            },
            Err(e) => {
                self.due.remove(id);
                self.forced.remove(id);
                if e.kind() != io::ErrorKind::NotFound {
                    warn!(queue_id = %id, "cannot read the envelope: {e}");
                }
            }
        }
    }

    /// Schedules every queued message not yet known; returns the ids queued now.
    fn rescan(&mut self) -> HashSet<String> {
        let envelopes = match self.shared.spool.list() {
            Ok(list) => list,
            Err(e) => {
                warn!("cannot scan the queue: {e}");
                return self.due.keys().chain(self.busy.keys()).cloned().collect();
            }
        };
        // A message deleted since (`queue delete`) is no longer due: a flush
        // must not count it.
        let present: HashSet<String> = envelopes.iter().map(|e| e.id.clone()).collect();
        self.due.retain(|id, _| present.contains(id.as_str()));
        self.fresh.retain(|id, _| present.contains(id.as_str()));
        self.forced.retain(|id| present.contains(id.as_str()));
        for env in &envelopes {
            if self.busy.contains_key(&env.id) || self.due.contains_key(&env.id) {
                continue;
            }
            self.schedule(&env.id);
        }
        present
    }

    /// Turns every due message into jobs.
    fn dispatch(&mut self, now: u64) {
        let ready: Vec<String> = self
            .due
            .iter()
            .filter(|(id, t)| **t <= now && !self.busy.contains_key(*id))
            .map(|(id, _)| id.clone())
            .collect();
        if ready.is_empty() {
            return;
        }
        let rt = self.shared.current.get();
        for id in ready {
            self.due.remove(&id);
            let force = self.forced.remove(&id);
            let (loaded, message) = match self.fresh.remove(&id) {
                Some(fresh) => (Ok(fresh.envelope), fresh.message),
                None => (self.shared.spool.load_envelope(&id), None),
            };
            let env = match loaded {
                // Held since it was scheduled.
                Ok(env) if env.held => continue,
                Ok(env) => env,
                Err(e) => {
                    if e.kind() != io::ErrorKind::NotFound {
                        warn!(queue_id = %id, "cannot read the envelope: {e}");
                    }
                    continue;
                }
            };
            let plan = plan(&env, now, force, &rt);
            let jobs =
                plan.local.is_some() as usize + plan.failed.is_some() as usize + plan.remote.len();
            if jobs == 0 {
                self.schedule(&id);
                continue;
            }
            self.busy.insert(id.clone(), jobs);
            if let Some(recipients) = plan.local {
                let (shared, tx, env) = (self.shared.clone(), self.tx.clone(), env.clone());
                tokio::task::spawn_blocking(move || {
                    let results = local::deliver(&shared, &env, &recipients);
                    finish::record(&shared, &env.id, &results, Some("local"));
                    let _ = tx.send(Event::Done(env.id.clone()));
                });
            }
            if let Some(failed) = plan.failed {
                let (shared, tx, id) = (self.shared.clone(), self.tx.clone(), id.clone());
                tokio::task::spawn_blocking(move || {
                    finish::record(&shared, &id, &failed, None);
                    let _ = tx.send(Event::Done(id));
                });
            }
            for (route, recipients) in plan.remote {
                let job = Job {
                    id: id.clone(),
                    sender: env.sender.clone(),
                    body: env.body,
                    smtputf8: env.smtputf8,
                    recipients,
                    message: message.clone(),
                };
                self.enqueue(route, job, rt.config.limits.outbound_per_destination);
            }
        }
    }

    /// Puts `job` in its destination's queue and starts a worker if the
    /// destination has more jobs than workers and may have another.
    fn enqueue(&self, route: Route, job: Job, per_destination: usize) {
        let key = route.destination();
        let start = {
            let mut dests = self.dests.lock().unwrap_or_else(|p| p.into_inner());
            let q = dests.entry(key.clone()).or_insert_with(|| DestQueue {
                route,
                jobs: VecDeque::new(),
                workers: 0,
            });
            q.jobs.push_back(job);
            let start = q.workers < per_destination.max(1) && q.jobs.len() > q.workers;
            if start {
                q.workers += 1;
            }
            start
        };
        if start {
            let worker = Worker {
                key: key.clone(),
                shared: self.shared.clone(),
                dests: self.dests.clone(),
                tx: self.tx.clone(),
                connections: self.connections.clone(),
                env: self.env.clone(),
            };
            tokio::spawn(
                worker
                    .run()
                    .instrument(tracing::info_span!("delivery", dest = %key)),
            );
        }
    }
}
