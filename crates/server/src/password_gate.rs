//! Argon2 password checks (AUTH PLAIN and LOGIN), a bounded number at a
//! time. Each check holds 19 MiB for tens of milliseconds, and an unknown
//! user costs the same hash as a wrong password (so timing does not reveal
//! names): without a bound, 500 clients sending a wrong password at once
//! hold 500 × 19 MiB. Here `limits.password_checks` dedicated threads (one
//! per core by default) run the checks; at most
//! `limits.password_checks_waiting` more wait for a turn, each for at most
//! [`MAX_WAIT`]; past either, the check is not run and the client gets
//! `454 4.7.0` (RFC 4954 §6: temporary authentication failure) and may
//! retry.
//!
//! Why dedicated threads rather than the blocking pool: the allocator keeps
//! a freed 19 MiB block in the arena of the thread that used it, so checks
//! spread over the pool's many threads would leave that much resident per
//! thread; a few fixed threads bound it.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tracing::info;

/// How long a check may wait for a turn before `454 4.7.0`: well inside a
/// client's patience for the AUTH reply (RFC 5321 §4.5.3.2 gives commands
/// minutes), short enough that a flood cannot pile up sessions behind it.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// Checks `password` of `user` against the site in force on a checking
/// thread (the one check of SMTP AUTH and the admin API). An unknown user
/// costs the same hash as a wrong password, so timing does not reveal which
/// names exist.
pub(crate) async fn verify(
    shared: &crate::Shared,
    rt: &std::sync::Arc<crate::runtime::Runtime>,
    user: String,
    password: String,
) -> Result<bool, Busy> {
    let rt = rt.clone();
    shared
        .password_gate
        .run(move || match rt.site.site.users.get(&user) {
            Some(creds) => creds.verify_password(password.as_bytes()),
            None => {
                portcullis_directory::users::burn_password_check(password.as_bytes());
                false
            }
        })
        .await
}

/// Why a check was not run.
#[derive(Debug, PartialEq, Eq)]
pub enum Busy {
    /// `limits.password_checks_waiting` checks are waiting already.
    QueueFull,
    /// No turn came within [`MAX_WAIT`].
    WaitedTooLong,
    /// The worker threads are gone (cannot happen while the server runs).
    Stopped,
}

/// The checking threads and the bounds on what waits for them.
pub struct PasswordGate {
    jobs: Mutex<mpsc::Sender<Job>>,
    turns: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

impl PasswordGate {
    /// Starts `workers` checking threads (0: one per CPU core) with room for
    /// `max_waiting` checks waiting.
    pub fn start(workers: usize, max_waiting: usize) -> std::io::Result<PasswordGate> {
        PasswordGate::start_with(workers, max_waiting, MAX_WAIT)
    }

    fn start_with(
        workers: usize,
        max_waiting: usize,
        max_wait: Duration,
    ) -> std::io::Result<PasswordGate> {
        let workers = match workers {
            0 => thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            thread::Builder::new()
                .name(format!("password-check-{i}"))
                .spawn(move || worker(&rx))?;
        }
        info!(workers, max_waiting, "password checks: {workers} at a time");
        Ok(PasswordGate {
            jobs: Mutex::new(tx),
            turns: Arc::new(Semaphore::new(workers)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
        })
    }

    /// Runs `check` on a checking thread when a turn is free, or says why not.
    pub async fn run<F>(&self, check: F) -> Result<bool, Busy>
    where
        F: FnOnce() -> bool + Send + 'static,
    {
        let turn = self.turn().await?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let verified = check();
            // The turn is free as soon as the hash is done.
            drop(turn);
            let _ = tx.send(verified);
        });
        lock(&self.jobs).send(job).map_err(|_| Busy::Stopped)?;
        rx.await.map_err(|_| Busy::Stopped)
    }

    async fn turn(&self) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(turn) = self.turns.clone().try_acquire_owned() {
            return Ok(turn);
        }
        // Why a bounded queue: each waiting session holds a connection and
        // its TLS state; past the bound the client is told to come back.
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Busy::QueueFull);
        }
        let waited = tokio::time::timeout(self.max_wait, self.turns.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(turn)) => Ok(turn),
            Ok(Err(_)) => Err(Busy::Stopped),
            Err(_) => Err(Busy::WaitedTooLong),
        }
    }
}

fn worker(jobs: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // The lock is held only while taking the next job.
        let job = lock(jobs).recv();
        let Ok(job) = job else { return };
        // A panicking check loses its answer (the client gets 454), not the thread.
        let _ = panic::catch_unwind(AssertUnwindSafe(job));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing is left half-done under these locks: keep using them.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[tokio::test]
    async fn checks_beyond_the_workers_and_the_queue_are_refused() {
        let gate = Arc::new(PasswordGate::start_with(1, 1, Duration::from_secs(5)).unwrap());
        // The one worker is busy until we say so.
        let (release, hold) = channel::<()>();
        let (started_tx, started) = channel::<()>();
        let busy = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run(move || {
                    started_tx.send(()).unwrap();
                    hold.recv().unwrap();
                    true
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        // One may wait…
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|| false).await })
        };
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // …the next is refused at once.
        assert_eq!(gate.run(|| true).await, Err(Busy::QueueFull));
        release.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Ok(true));
        assert_eq!(waiter.await.unwrap(), Ok(false));
        // Free again.
        assert_eq!(gate.run(|| true).await, Ok(true));
    }

    #[tokio::test]
    async fn a_check_that_waits_too_long_is_refused() {
        let gate = Arc::new(PasswordGate::start_with(1, 5, Duration::from_millis(50)).unwrap());
        let (release, hold) = channel::<()>();
        let busy = {
            let gate = gate.clone();
            tokio::spawn(async move {
                gate.run(move || {
                    hold.recv().unwrap();
                    true
                })
                .await
            })
        };
        while gate.turns.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.run(|| true).await, Err(Busy::WaitedTooLong));
        release.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Ok(true));
    }

    #[tokio::test]
    async fn a_panicking_check_loses_only_its_answer() {
        let gate = PasswordGate::start_with(1, 1, Duration::from_secs(5)).unwrap();
        assert_eq!(gate.run(|| panic!("boom")).await, Err(Busy::Stopped));
        assert_eq!(gate.run(|| true).await, Ok(true));
    }
}
