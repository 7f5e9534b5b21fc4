//! The allocator's arenas. glibc gives each thread that allocates its own
//! arena (up to eight per core), and memory freed by another thread goes
//! back to the arena it came from. A session may be opened on one thread
//! and closed on another, so after a wave of idle sessions every arena
//! keeps its own peak, and the next wave grows the heap again (measured:
//! 46 MiB with 10,000 idle sessions, 55 MiB for a second wave). One arena
//! holds the second wave at the first one's size; glibc's per-thread
//! caches still serve most small allocations without its lock. An
//! administrator's `MALLOC_ARENA_MAX` in the environment still wins.
#![allow(unsafe_code)]

/// Arenas for the whole process.
const ARENAS: libc::c_int = 1;

/// Limits the allocator to [`ARENAS`] unless the environment sets it. Call
/// before any thread is started.
pub(crate) fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets one allocator parameter; it is called before
    // any other thread exists, and a refused value only leaves the default.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
