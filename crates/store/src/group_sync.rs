//! Group commit of directory fsyncs: when many threads have each renamed a
//! file into the same directory and each needs that directory fsynced
//! before it may answer `250`, one fsync can cover them all.
//!
//! For one directory ([`DirSync`]): a caller whose rename is done asks for
//! a sync. If no fsync of the directory is running, it runs one itself,
//! which covers every request made before it started. If one is running,
//! that fsync may have started before the caller's rename, so it does not
//! count: the caller waits for the next one to start and finish (run by
//! whichever waiter wakes first). A caller is told `Ok` only when an fsync
//! that started after its request succeeded; if that fsync failed, every
//! caller it covered gets the error, never a false `Ok`.
//!
//! [`Registry`] maps a directory (by device and inode, so two paths to one
//! directory share it, and a directory swapped in under the same name does
//! not) to its [`DirSync`]; an entry is dropped when its last [`Handle`]
//! goes, so many Maildirs do not make it grow without bound.
//!
//! The callers are blocking threads (tokio's `spawn_blocking`), so this is
//! std `Mutex` + `Condvar`: waiting threads sleep, nothing spins.

use std::collections::HashMap;
use std::io;
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

/// One directory's group commit.
#[derive(Debug, Default)]
pub struct DirSync {
    state: Mutex<State>,
    finished: Condvar,
}

/// Generations: fsync number `n` is the `n`th one started (from 1).
#[derive(Debug, Default)]
struct State {
    /// How many fsyncs have started.
    started: u64,
    /// The generation of the last one that finished (they never overlap,
    /// so every generation up to it has finished).
    finished: u64,
    /// Whether one is running now (then `started == finished + 1`).
    running: bool,
    /// The newest generation that failed, with its error.
    last_failure: Option<Failure>,
    /// Callers asleep waiting for a later fsync (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    waiting: usize,
}

/// A failed fsync, kept as text since `io::Error` is not `Clone`.
#[derive(Debug)]
struct Failure {
    generation: u64,
    kind: io::ErrorKind,
    text: String,
}

impl DirSync {
    /// A directory with no fsync yet.
    pub fn new() -> DirSync {
        DirSync::default()
    }

    /// Returns once an fsync of the directory that started after this call
    /// has finished: `Ok` if it succeeded. `fsync` is this caller's way to
    /// fsync the directory (through its own descriptor), run only if this
    /// caller is the one to start the covering fsync.
    pub fn sync(&self, fsync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut state = self.lock();
        // Any fsync that starts from now on covers this caller's rename.
        let needed = state.started + 1;
        loop {
            if state.finished >= needed {
                return state.outcome_since(needed);
            }
            if !state.running {
                // Nobody runs one and `needed` has not finished: then
                // `started == needed - 1`, and this caller starts it.
                state.running = true;
                state.started += 1;
                let lead = Lead {
                    sync: self,
                    generation: state.started,
                    ended: false,
                };
                drop(state);
                return lead.run(fsync);
            }
            state.waiting += 1;
            state = self
                .finished
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting -= 1;
        }
    }

    /// How many callers are waiting for a later fsync.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is updated in single steps, so a panic elsewhere
        // cannot leave it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn end(&self, generation: u64, result: &io::Result<()>) {
        let mut state = self.lock();
        state.running = false;
        state.finished = generation;
        if let Err(e) = result {
            state.last_failure = Some(Failure {
                generation,
                kind: e.kind(),
                text: e.to_string(),
            });
        }
        drop(state);
        self.finished.notify_all();
    }
}

impl State {
    /// The outcome for a caller covered by generations `needed..=finished`:
    /// an error if any of them failed (after a failed fsync, a later
    /// success does not prove the earlier change reached the disk).
    fn outcome_since(&self, needed: u64) -> io::Result<()> {
        match &self.last_failure {
            Some(f) if f.generation >= needed => Err(io::Error::new(f.kind, f.text.clone())),
            _ => Ok(()),
        }
    }
}

/// The fsync a caller runs for everyone; if the fsync panics, the waiters
/// are still woken, with an error.
struct Lead<'a> {
    sync: &'a DirSync,
    generation: u64,
    ended: bool,
}

impl Lead<'_> {
    fn run(mut self, fsync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let result = fsync();
        self.sync.end(self.generation, &result);
        self.ended = true;
        result
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if !self.ended {
            let failed = Err(io::Error::other("the directory fsync panicked"));
            self.sync.end(self.generation, &failed);
        }
    }
}

/// A directory's identity: device and inode number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DirId {
    dev: u64,
    ino: u64,
}

impl DirId {
    /// The identity of an open directory.
    pub fn of(dir: impl AsFd) -> io::Result<DirId> {
        let stat = rustix::fs::fstat(dir)?;
        Ok(DirId {
            dev: stat.st_dev,
            ino: stat.st_ino,
        })
    }
}

/// The [`DirSync`] of each directory in use.
#[derive(Debug, Default)]
pub struct Registry {
    syncs: Mutex<HashMap<DirId, Arc<DirSync>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The process-wide registry, which the spool and Maildir delivery use.
    pub fn shared() -> &'static Registry {
        static SHARED: OnceLock<Registry> = OnceLock::new();
        SHARED.get_or_init(Registry::new)
    }

    /// The group commit of directory `dir`, held until the handle drops.
    /// The caller keeps the directory open meanwhile, so its inode number
    /// cannot be reused by another directory.
    pub fn get(&self, dir: DirId) -> Handle<'_> {
        let sync = Arc::clone(self.lock().entry(dir).or_default());
        Handle {
            registry: self,
            dir,
            sync: Some(sync),
        }
    }

    /// How many directories have a handle now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no directory has a handle.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<DirId, Arc<DirSync>>> {
        self.syncs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A directory's [`DirSync`], borrowed from a [`Registry`].
#[derive(Debug)]
pub struct Handle<'a> {
    registry: &'a Registry,
    dir: DirId,
    /// Always `Some` until dropped.
    sync: Option<Arc<DirSync>>,
}

impl Handle<'_> {
    /// [`DirSync::sync`] of this directory.
    pub fn sync(&self, fsync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        match &self.sync {
            Some(sync) => sync.sync(fsync),
            None => fsync(), // unreachable: only `drop` takes it
        }
    }
}

impl Drop for Handle<'_> {
    fn drop(&mut self) {
        let mut syncs = self.registry.lock();
        // Counted and released under the registry's lock, where every new
        // handle is made: two = the registry's and this one.
        if let Some(sync) = self.sync.take() {
            if Arc::strong_count(&sync) == 2 {
                syncs.remove(&self.dir);
            }
        }
    }
}

#[cfg(test)]
mod tests;
