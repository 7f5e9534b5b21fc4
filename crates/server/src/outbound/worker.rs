//! The delivery workers: each serves one destination, carrying job after
//! job over one session, and reports every result back to the runner.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_config::Config;
use portcullis_queue::{Attempt, Failure, Route};
use portcullis_store::spool::{BodyType, Envelope};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::debug;

use super::cached::Cached;
use super::deliver::{self, Outgoing};
use super::finish;
use super::lmtp;
use super::resolve::Resolver;
use super::session::{self, Session};
use super::tls::{self, TlsClients};
use crate::Shared;

/// A session carries at most this many messages, then a fresh one is opened.
const MAX_TRANSACTIONS_PER_SESSION: u32 = 100;
/// A session older than this is not reused (Postfix's reuse time limit).
const MAX_SESSION_AGE: Duration = Duration::from_secs(300);

/// What the runner is told.
pub(super) enum Event {
    /// Message `id` was stored (or changed): look at it.
    Kick(String),
    /// A message was stored: look at it without reading it back.
    Queued(Box<Fresh>),
    /// Everything queued is due now, retry times ignored; answers how many messages.
    Flush(oneshot::Sender<usize>),
    /// A job of message `id` finished.
    Done(String),
    /// The DSNs of message `id`'s pass were queued: its pass is over.
    Notified(String),
    /// The configuration was reloaded: apply its limits.
    Reconfigured,
}

/// A message just stored, as the store step handed it over.
pub(super) struct Fresh {
    pub(super) envelope: Envelope,
    /// Its bytes, if they were in memory and the budget had room.
    pub(super) message: Option<Cached>,
}

/// One job: recipients of one message for one destination.
pub(super) struct Job {
    pub(super) id: String,
    pub(super) sender: String,
    pub(super) body: BodyType,
    pub(super) smtputf8: bool,
    pub(super) recipients: Vec<String>,
    /// The message's bytes, on its first attempt (else read from the spool).
    pub(super) message: Option<Cached>,
}

/// Jobs waiting for one destination, and how many workers serve it.
pub(super) struct DestQueue {
    pub(super) route: Route,
    pub(super) jobs: VecDeque<Job>,
    pub(super) workers: usize,
}

pub(super) type Dests = Arc<Mutex<HashMap<String, DestQueue>>>;

/// The resolver and TLS configurations, rebuilt when their settings change on reload.
pub(super) struct DeliveryEnv {
    pub(super) dns: portcullis_config::Dns,
    pub(super) outbound_ca: Option<std::path::PathBuf>,
    pub(super) resolver: Resolver,
    pub(super) tls: TlsClients,
}

/// Serves one destination: one session, job after job, until its queue is empty.
pub(super) struct Worker {
    pub(super) key: String,
    pub(super) shared: Arc<Shared>,
    pub(super) dests: Dests,
    pub(super) tx: mpsc::UnboundedSender<Event>,
    pub(super) connections: Arc<Semaphore>,
    pub(super) env: Arc<Mutex<Option<Arc<DeliveryEnv>>>>,
}

impl Worker {
    pub(super) async fn run(self) {
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
        let loaded;
        let message: &[u8] = match &job.message {
            // Unless deleted meanwhile (`queue delete`).
            Some(cached) if self.shared.spool.is_queued(&job.id) => cached.bytes(),
            _ => {
                loaded = self.read(job).await;
                match &loaded {
                    Ok(bytes) => bytes,
                    Err(results) => return Ok((results.clone(), String::new())),
                }
            }
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
            let opened = match route {
                Route::Lmtp(hop) => lmtp::open(hop, &env.resolver, &rt.config.hostname).await?,
                _ => {
                    let settings = session::Settings::new(&rt, route, &domain);
                    session::open(route, &env.resolver, &env.tls, &settings).await?
                }
            };
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
            message,
        };
        let (results, usable) = deliver::deliver(s, &out, &job.recipients).await;
        if !usable {
            *session = None;
        }
        Ok((results, remote))
    }

    /// Reads the job's message from the spool; Err: what to record instead
    /// (nothing if it was deleted meanwhile, else a temporary failure).
    async fn read(&self, job: &Job) -> Result<Vec<u8>, Vec<(String, Attempt)>> {
        let (shared, id) = (self.shared.clone(), job.id.clone());
        match tokio::task::spawn_blocking(move || shared.spool.read_message(&id)).await {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => Err(Vec::new()),
            Ok(Err(e)) => Err(temp_all(
                job,
                format!("cannot read the queued message: {e}"),
            )),
            Err(e) => Err(temp_all(job, format!("internal error: {e}"))),
        }
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
