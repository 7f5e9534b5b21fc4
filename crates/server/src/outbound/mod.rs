//! The queue runner (issue 5): delivers what the spool holds.
//!
//! - At start, and every [`RESCAN`], it scans the spool; when the server
//!   stores a message it is kicked ([`Outbound::kick`]) and looks at that one at once.
//! - Each message is due at its earliest pending recipient's `next_attempt`.
//!   When due, its recipients are grouped by route (`[routes]`, smarthost,
//!   MX per domain; local domains are delivered into Maildirs here) into
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

pub mod admin;
mod conn;
mod deliver;
mod finish;
mod limit;
mod local;
mod mta_sts;
mod resolve;
mod session;
mod tls;

pub use admin::answer as control_answer;

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_config::Config;
use portcullis_directory::recipient::is_local_domain;
use portcullis_queue::route::route_for;
use portcullis_queue::transition::next_due;
use portcullis_queue::{domain_of, Attempt, Failure, Route};
use portcullis_smtp::address::Domain;
use portcullis_store::spool::{BodyType, Envelope};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, info, warn, Instrument};

use super::Shared;
use deliver::Outgoing;
use limit::ConnectionLimit;
use portcullis_store::clock::unix_now;
use resolve::Resolver;
use session::Session;
use tls::TlsClients;

/// How often the whole spool is scanned, in case a kick was missed (or a
/// message was put there by another process).
const RESCAN: Duration = Duration::from_secs(30);
/// A session carries at most this many messages, then a fresh one is opened.
const MAX_TRANSACTIONS_PER_SESSION: u32 = 100;
/// A session older than this is not reused (Postfix's reuse time limit).
const MAX_SESSION_AGE: Duration = Duration::from_secs(300);

/// What the runner is told.
enum Event {
    /// Message `id` was stored (or changed): look at it.
    Kick(String),
    /// Everything queued is due now, retry times ignored; answers how many messages.
    Flush(oneshot::Sender<usize>),
    /// A job of message `id` finished.
    Done(String),
    /// The DSNs of message `id`'s pass were queued: its pass is over.
    Notified(String),
    /// The configuration was reloaded: apply its limits.
    Reconfigured,
}

/// The handle the rest of the server holds.
#[derive(Clone)]
pub struct Outbound {
    events: mpsc::UnboundedSender<Event>,
}

/// The receiving end, until the runner starts.
pub struct Pending(mpsc::UnboundedReceiver<Event>, mpsc::UnboundedSender<Event>);

/// Creates the handle and the runner's receiving end.
pub fn channel() -> (Outbound, Pending) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Outbound { events: tx.clone() }, Pending(rx, tx))
}

impl Outbound {
    /// Tells the runner that message `id` was queued or changed. Best
    /// effort: the periodic rescan finds the message anyway.
    pub fn kick(&self, id: &str) {
        let _ = self.events.send(Event::Kick(id.to_string()));
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
pub fn start(pending: Pending, shared: Arc<Shared>) {
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
        forced: HashSet::new(),
        busy: HashMap::new(),
        dests: Arc::new(Mutex::new(HashMap::new())),
        env: Arc::new(Mutex::new(None)),
    };
    tokio::spawn(runner.run());
}

/// One job: recipients of one message for one destination.
struct Job {
    id: String,
    sender: String,
    body: BodyType,
    smtputf8: bool,
    recipients: Vec<String>,
}

/// Jobs waiting for one destination, and how many workers serve it.
struct DestQueue {
    route: Route,
    jobs: VecDeque<Job>,
    workers: usize,
}

type Dests = Arc<Mutex<HashMap<String, DestQueue>>>;

/// The resolver and TLS configurations, rebuilt when their settings change on reload.
struct DeliveryEnv {
    dns: portcullis_config::Dns,
    outbound_ca: Option<std::path::PathBuf>,
    resolver: Resolver,
    tls: TlsClients,
}

struct Runner {
    shared: Arc<Shared>,
    events: mpsc::UnboundedReceiver<Event>,
    tx: mpsc::UnboundedSender<Event>,
    /// Message id → when it is due (seconds since the epoch).
    due: HashMap<String, u64>,
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
            Event::Kick(id) => self.schedule(&id),
            Event::Flush(answer) => {
                self.rescan();
                let ids: Vec<String> = self.due.keys().cloned().collect();
                for id in &ids {
                    self.due.insert(id.clone(), 0);
                    self.forced.insert(id.clone());
                }
                let busy = self
                    .busy
                    .keys()
                    .filter(|id| !self.due.contains_key(*id))
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
        match self.shared.spool.load_envelope(id) {
            // Held by the administrator: not due until `queue release`.
            Ok(env) if env.held => {
                self.due.remove(id);
                self.forced.remove(id);
            }
            Ok(env) => match next_due(&env) {
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

    /// Schedules every queued message not known yet.
    fn rescan(&mut self) {
        let envelopes = match self.shared.spool.list() {
            Ok(list) => list,
            Err(e) => {
                warn!("cannot scan the queue: {e}");
                return;
            }
        };
        // A message deleted since (`queue delete`) is no longer due: a flush
        // must not count it.
        let present: HashSet<&str> = envelopes.iter().map(|e| e.id.as_str()).collect();
        self.due.retain(|id, _| present.contains(id.as_str()));
        self.forced.retain(|id| present.contains(id.as_str()));
        for env in &envelopes {
            if self.busy.contains_key(&env.id) || self.due.contains_key(&env.id) {
                continue;
            }
            self.schedule(&env.id);
        }
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
            let env = match self.shared.spool.load_envelope(&id) {
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
            let plan = plan(&env, now, force, &rt.config, &rt.own_addrs);
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

/// How one message's due recipients are to be handled.
#[derive(Default)]
struct Plan {
    /// Recipients in local domains.
    local: Option<Vec<String>>,
    /// Recipients decided without a connection (bad route).
    failed: Option<Vec<(String, Attempt)>>,
    /// Recipients per remote route.
    remote: Vec<(Route, Vec<String>)>,
}

/// Groups the due pending recipients of `env` (all pending when `force`).
fn plan(
    env: &Envelope,
    now: u64,
    force: bool,
    config: &Config,
    own: &std::collections::HashSet<IpAddr>,
) -> Plan {
    let mut plan = Plan::default();
    for r in env.pending().filter(|r| force || r.next_attempt <= now) {
        let Some(domain) = domain_of(&r.address) else {
            plan.local
                .get_or_insert_with(Vec::new)
                .push(r.address.clone());
            continue;
        };
        let as_domain = match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
            Some(lit) => lit
                .strip_prefix("ipv6:")
                .unwrap_or(lit)
                .parse::<IpAddr>()
                .map(Domain::Literal)
                .unwrap_or_else(|_| Domain::Name(domain.clone())),
            None => Domain::Name(domain.clone()),
        };
        // Issue 5 §5: mail for a local domain is never sent out.
        if is_local_domain(&as_domain, config, own) {
            plan.local
                .get_or_insert_with(Vec::new)
                .push(r.address.clone());
            continue;
        }
        match route_for(
            &domain,
            &config.routes,
            config.relay.smarthost.as_deref(),
            config.queue.mx_port,
        ) {
            Ok(route) => match plan.remote.iter_mut().find(|(rt, _)| *rt == route) {
                Some((_, list)) => list.push(r.address.clone()),
                None => plan.remote.push((route, vec![r.address.clone()])),
            },
            Err(f) => plan
                .failed
                .get_or_insert_with(Vec::new)
                .push((r.address.clone(), Attempt::Failed(f))),
        }
    }
    plan
}

/// Serves one destination: one session, job after job, until its queue is empty.
struct Worker {
    key: String,
    shared: Arc<Shared>,
    dests: Dests,
    tx: mpsc::UnboundedSender<Event>,
    connections: Arc<Semaphore>,
    env: Arc<Mutex<Option<Arc<DeliveryEnv>>>>,
}

impl Worker {
    async fn run(self) {
        // Invariant: the semaphore is never closed, so acquire cannot fail;
        // if it somehow did, the worker still runs (one connection more).
        let _permit = self.connections.clone().acquire_owned().await.ok();
        let mut session: Option<Session> = None;
        while let Some((route, job)) = self.next_job() {
            let results = self.deliver(&route, &job, &mut session).await;
            match results {
                Ok((results, remote)) => self.record(&job.id, results, Some(remote)).await,
                Err(failure) => {
                    // The destination is unreachable: every job waiting for
                    // it gets the same answer now.
                    let mut jobs = vec![job];
                    jobs.extend(self.drain());
                    for job in jobs {
                        let results = job
                            .recipients
                            .iter()
                            .map(|r| (r.clone(), Attempt::Failed(failure.clone())))
                            .collect();
                        self.record(&job.id, results, None).await;
                    }
                }
            }
        }
        if let Some(s) = session {
            s.conn.quit().await;
        }
    }

    /// The next job of this destination; None (and the worker leaves) when there is none.
    fn next_job(&self) -> Option<(Route, Job)> {
        let mut dests = self.dests.lock().unwrap_or_else(|p| p.into_inner());
        let q = dests.get_mut(&self.key)?;
        match q.jobs.pop_front() {
            Some(job) => Some((q.route.clone(), job)),
            None => {
                q.workers = q.workers.saturating_sub(1);
                if q.workers == 0 {
                    dests.remove(&self.key);
                }
                None
            }
        }
    }

    /// Every job still waiting for this destination.
    fn drain(&self) -> Vec<Job> {
        let mut dests = self.dests.lock().unwrap_or_else(|p| p.into_inner());
        dests
            .get_mut(&self.key)
            .map(|q| q.jobs.drain(..).collect())
            .unwrap_or_default()
    }

    /// Delivers one job, opening a session if needed. Err: the destination
    /// could not be reached at all.
    async fn deliver(
        &self,
        route: &Route,
        job: &Job,
        session: &mut Option<Session>,
    ) -> Result<(Vec<(String, Attempt)>, String), Failure> {
        let shared = self.shared.clone();
        let id = job.id.clone();
        let message = match tokio::task::spawn_blocking(move || shared.spool.read_message(&id))
            .await
        {
            Ok(Ok(m)) => m,
            // Deleted meanwhile: nothing to deliver.
            Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((Vec::new(), String::new()))
            }
            Ok(Err(e)) => {
                return Ok((
                    temp_all(job, format!("cannot read the queued message: {e}")),
                    String::new(),
                ))
            }
            Err(e) => return Ok((temp_all(job, format!("internal error: {e}")), String::new())),
        };
        let stale = session.as_ref().is_some_and(|s| {
            s.transactions >= MAX_TRANSACTIONS_PER_SESSION || s.opened.elapsed() >= MAX_SESSION_AGE
        });
        if stale {
            if let Some(s) = session.take() {
                s.conn.quit().await;
            }
        }
        if session.is_none() {
            let rt = self.shared.current.get();
            let env = self
                .delivery_env(&rt.config)
                .map_err(|e| Failure::local((4, 3, 0), e))?;
            let domain = job
                .recipients
                .first()
                .and_then(|r| portcullis_queue::route::domain_of(r))
                .unwrap_or_default();
            let settings = session::Settings::new(&rt.config, route, &domain);
            let opened = session::open(route, &env.resolver, &env.tls, &settings).await?;
            debug!(host = %opened.conn.remote, tls = opened.conn.tls, "session open");
            *session = Some(opened);
        }
        let Some(s) = session.as_mut() else {
            return Err(Failure::local((4, 3, 0), "internal error: no session"));
        };
        let remote = s.conn.remote.clone();
        let out = Outgoing {
            sender: &job.sender,
            body: job.body,
            smtputf8: job.smtputf8,
            message: &message,
        };
        let (results, usable) = deliver::deliver(s, &out, &job.recipients).await;
        if !usable {
            *session = None;
        }
        Ok((results, remote))
    }

    /// The resolver and TLS settings for `config`, rebuilt if they changed.
    fn delivery_env(&self, config: &Config) -> Result<Arc<DeliveryEnv>, String> {
        let mut slot = self.env.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(env) = slot.as_ref() {
            if env.dns == config.dns && env.outbound_ca == config.tls.outbound_ca {
                return Ok(env.clone());
            }
        }
        let env = Arc::new(DeliveryEnv {
            dns: config.dns.clone(),
            outbound_ca: config.tls.outbound_ca.clone(),
            resolver: Resolver::new(&config.dns)
                .map_err(|e| format!("cannot set up the DNS resolver: {e}"))?,
            tls: tls::build(config.tls.outbound_ca.as_deref())?,
        });
        *slot = Some(env.clone());
        Ok(env)
    }

    async fn record(&self, id: &str, results: Vec<(String, Attempt)>, remote: Option<String>) {
        let (shared, id_owned) = (self.shared.clone(), id.to_string());
        let _ = tokio::task::spawn_blocking(move || {
            finish::record(
                &shared,
                &id_owned,
                &results,
                remote.as_deref().filter(|r| !r.is_empty()),
            )
        })
        .await;
        let _ = self.tx.send(Event::Done(id.to_string()));
    }
}

fn temp_all(job: &Job, why: String) -> Vec<(String, Attempt)> {
    let f = Failure::local((4, 3, 0), why);
    job.recipients
        .iter()
        .map(|r| (r.clone(), Attempt::Failed(f.clone())))
        .collect()
}
