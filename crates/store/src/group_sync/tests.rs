//! Group commit: a caller's `Ok` always rests on an fsync that started
//! after its request, concurrent callers share fsyncs, a failure reaches
//! everyone it covered, and the registry forgets directories nobody uses.

use super::*;
use std::fs::File;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Waits (bounded) until `cond` holds.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn every_ok_rests_on_an_fsync_that_started_after_the_request() {
    const THREADS: usize = 16;
    const ROUNDS: usize = 50;
    let sync = DirSync::new();
    // One clock orders requests, fsync starts and ends, and returns.
    let clock = AtomicU64::new(0);
    let fsyncs: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());
    let calls: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    let requested = clock.fetch_add(1, Ordering::SeqCst);
                    sync.sync(|| {
                        let start = clock.fetch_add(1, Ordering::SeqCst);
                        thread::yield_now(); // let others pile up behind it
                        let end = clock.fetch_add(1, Ordering::SeqCst);
                        fsyncs.lock().unwrap().push((start, end));
                        Ok(())
                    })
                    .unwrap();
                    let returned = clock.fetch_add(1, Ordering::SeqCst);
                    calls.lock().unwrap().push((requested, returned));
                }
            });
        }
    });
    let fsyncs = fsyncs.into_inner().unwrap();
    let calls = calls.into_inner().unwrap();
    assert_eq!(calls.len(), THREADS * ROUNDS);
    for (requested, returned) in &calls {
        assert!(
            fsyncs
                .iter()
                .any(|(start, end)| start > requested && end < returned),
            "call requested at {requested}, returned at {returned}: no fsync inside"
        );
    }
    // Never two at once.
    let mut sorted = fsyncs.clone();
    sorted.sort();
    assert!(sorted.windows(2).all(|w| w[0].1 < w[1].0), "fsyncs overlap");
    assert!(fsyncs.len() <= calls.len());
}

/// Starts a caller whose fsync blocks until `release` is sent, and waits
/// until that fsync is running.
fn blocked_leader<'s>(
    s: &'s thread::Scope<'s, '_>,
    sync: &'s DirSync,
    count: &'s AtomicUsize,
) -> (
    mpsc::Sender<()>,
    thread::ScopedJoinHandle<'s, io::Result<()>>,
) {
    let (release, released) = mpsc::channel::<()>();
    let (running, is_running) = mpsc::channel::<()>();
    let leader = s.spawn(move || {
        sync.sync(|| {
            count.fetch_add(1, Ordering::SeqCst);
            running.send(()).unwrap();
            released.recv().unwrap();
            Ok(())
        })
    });
    is_running.recv().unwrap();
    (release, leader)
}

#[test]
fn callers_during_a_running_fsync_share_the_next_one() {
    const WAITERS: usize = 8;
    let sync = DirSync::new();
    let count = AtomicUsize::new(0);
    thread::scope(|s| {
        let (release, leader) = blocked_leader(s, &sync, &count);
        // These rename after the running fsync started: it cannot cover them.
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                s.spawn(|| {
                    sync.sync(|| {
                        count.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                })
            })
            .collect();
        wait_until("all callers wait", || sync.waiting() == WAITERS);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        release.send(()).unwrap();
        leader.join().unwrap().unwrap();
        for waiter in waiters {
            waiter.join().unwrap().unwrap();
        }
    });
    // The blocked one, then one for all eight.
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[test]
fn a_failed_fsync_fails_every_caller_it_covered() {
    const WAITERS: usize = 8;
    let sync = DirSync::new();
    let count = AtomicUsize::new(0);
    thread::scope(|s| {
        let (release, leader) = blocked_leader(s, &sync, &count);
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                s.spawn(|| {
                    sync.sync(|| {
                        count.fetch_add(1, Ordering::SeqCst);
                        Err(io::Error::other("injected fsync failure"))
                    })
                })
            })
            .collect();
        wait_until("all callers wait", || sync.waiting() == WAITERS);
        release.send(()).unwrap();
        leader.join().unwrap().unwrap();
        for waiter in waiters {
            let e = waiter.join().unwrap().unwrap_err();
            assert_eq!(e.to_string(), "injected fsync failure");
        }
    });
    assert_eq!(count.load(Ordering::SeqCst), 2);
    // A later request is not failed by the old error: it gets its own fsync.
    sync.sync(|| Ok(())).unwrap();
}

#[test]
fn a_panicking_fsync_wakes_its_waiters_with_an_error() {
    let sync = DirSync::new();
    let count = AtomicUsize::new(0);
    thread::scope(|s| {
        let (release, leader) = blocked_leader(s, &sync, &count);
        let panicker =
            s.spawn(|| sync.sync(|| -> io::Result<()> { panic!("fsync panicked on purpose") }));
        wait_until("the caller waits", || sync.waiting() == 1);
        let waiter = s.spawn(|| sync.sync(|| Ok(())));
        wait_until("both wait", || sync.waiting() == 2);
        release.send(()).unwrap();
        leader.join().unwrap().unwrap();
        // Whichever waiter leads the next fsync, nobody hangs: if the
        // panicking one led, the other hears an error, else both Ok.
        let panicked = panicker.join().is_err();
        let waited = waiter.join().unwrap();
        assert_ne!(panicked, waited.is_ok());
    });
}

#[test]
fn the_registry_shares_one_syncer_per_directory_and_forgets_unused_ones() {
    let registry = Registry::new();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let id = |p: &std::path::Path| DirId::of(File::open(p).unwrap()).unwrap();
    let first = registry.get(id(a.path()));
    let second = registry.get(id(a.path()));
    let other = registry.get(id(b.path()));
    assert!(Arc::ptr_eq(
        first.sync.as_ref().unwrap(),
        second.sync.as_ref().unwrap()
    ));
    assert_eq!(registry.len(), 2);
    drop(first);
    assert_eq!(registry.len(), 2);
    drop(second);
    drop(other);
    assert!(registry.is_empty());
}

#[test]
fn the_registry_empties_after_many_threads_and_directories() {
    let registry = Registry::new();
    let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let ids: Vec<DirId> = dirs
        .iter()
        .map(|d| DirId::of(File::open(d.path()).unwrap()).unwrap())
        .collect();
    thread::scope(|s| {
        for t in 0..8 {
            let (registry, ids) = (&registry, &ids);
            s.spawn(move || {
                for round in 0..200 {
                    let handle = registry.get(ids[(t + round) % ids.len()]);
                    handle.sync(|| Ok(())).unwrap();
                }
            });
        }
    });
    assert!(registry.is_empty());
}
