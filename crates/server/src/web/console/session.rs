//! Console sessions, kept on the server: the browser holds only a random id.
//!
//! A session ends when it has been idle too long, on logout, or when the
//! store is full and it is the least recently used. Each session carries its
//! own CSRF token, so a token stolen from one session is useless in another.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand::RngCore;

/// How long a session lives without a request.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How many sessions the store holds at once; a login beyond it evicts the
/// least recently used one, so a flood of logins cannot grow memory.
pub(crate) const MAX_SESSIONS: usize = 1024;

/// What a request learns from a valid session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    /// The admin user who logged in.
    pub(crate) admin: String,
    /// The token every change must carry (see [`csrf_matches`]).
    pub(crate) csrf: String,
}

struct Entry {
    session: Session,
    last_seen: Instant,
}

/// The sessions of every logged-in admin, bounded and expiring when idle.
pub(crate) struct SessionStore {
    entries: Mutex<HashMap<String, Entry>>,
    idle: Duration,
    max: usize,
}

impl Default for SessionStore {
    fn default() -> Self {
        SessionStore::new(IDLE_TIMEOUT, MAX_SESSIONS)
    }
}

impl SessionStore {
    /// A store whose sessions end after `idle` without a request, holding at
    /// most `max` of them.
    pub(crate) fn new(idle: Duration, max: usize) -> Self {
        SessionStore {
            entries: Mutex::new(HashMap::new()),
            idle,
            max: max.max(1),
        }
    }

    /// Starts a session for `admin`; returns its id (the cookie's value) and
    /// the session with its fresh CSRF token.
    pub(crate) fn create(&self, admin: &str, now: Instant) -> (String, Session) {
        let id = random_token();
        let session = Session {
            admin: admin.to_string(),
            csrf: random_token(),
        };
        let mut entries = self.lock();
        entries.retain(|_, e| !expired(e, now, self.idle));
        while entries.len() >= self.max {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => entries.remove(&k),
                None => break,
            };
        }
        entries.insert(
            id.clone(),
            Entry {
                session: session.clone(),
                last_seen: now,
            },
        );
        (id, session)
    }

    /// The session with this id if it is still live, marking it used now.
    /// An expired session is removed and not returned.
    pub(crate) fn touch(&self, id: &str, now: Instant) -> Option<Session> {
        let mut entries = self.lock();
        let live = entries.get(id).map(|e| !expired(e, now, self.idle))?;
        if !live {
            entries.remove(id);
            return None;
        }
        let entry = entries.get_mut(id)?;
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Ends a session (logout). Unknown ids are ignored.
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Ends every session of `admin`, e.g. when the user is removed or loses
    /// the admin right.
    pub(crate) fn remove_admin(&self, admin: &str) {
        self.lock().retain(|_, e| e.session.admin != admin);
    }

    /// How many sessions are held (expired ones included until swept).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a consistent map (every
        // mutation is a single insert/remove), so a poisoned lock is usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn expired(entry: &Entry, now: Instant, idle: Duration) -> bool {
    now.saturating_duration_since(entry.last_seen) >= idle
}

/// 32 bytes from the OS generator, hex-encoded: unguessable ids and tokens.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a submitted CSRF token is the session's, compared in constant
/// time so the comparison leaks nothing about how much of it matched.
pub(crate) fn csrf_matches(session: &Session, submitted: Option<&str>) -> bool {
    let Some(submitted) = submitted else {
        return false;
    };
    let (a, b) = (session.csrf.as_bytes(), submitted.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn a_session_is_found_by_its_id_and_carries_the_admin_and_a_token() {
        let store = SessionStore::default();
        let now = Instant::now();
        let (id, session) = store.create("alice", now);
        assert_eq!(id.len(), 64);
        assert_eq!(session.csrf.len(), 64);
        assert_ne!(id, session.csrf);
        assert_eq!(store.touch(&id, now), Some(session));
        assert_eq!(store.touch("not-an-id", now), None);
    }

    #[test]
    fn ids_and_tokens_are_not_repeated() {
        let store = SessionStore::default();
        let now = Instant::now();
        let (id1, s1) = store.create("alice", now);
        let (id2, s2) = store.create("alice", now);
        assert_ne!(id1, id2);
        assert_ne!(s1.csrf, s2.csrf);
    }

    #[test]
    fn an_idle_session_expires_and_use_keeps_it_alive() {
        let store = SessionStore::new(10 * MIN, 10);
        let t0 = Instant::now();
        let (id, _) = store.create("alice", t0);
        assert!(store.touch(&id, t0 + 9 * MIN).is_some());
        // Used at 9 minutes: still live at 18.
        assert!(store.touch(&id, t0 + 18 * MIN).is_some());
        // Idle from 18 to 28 minutes: gone, and removed from the store.
        assert!(store.touch(&id, t0 + 28 * MIN).is_none());
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn a_full_store_evicts_expired_sessions_then_the_least_recently_used() {
        let store = SessionStore::new(10 * MIN, 2);
        let t0 = Instant::now();
        let (a, _) = store.create("a", t0);
        let (b, _) = store.create("b", t0 + MIN);
        store.touch(&a, t0 + 2 * MIN);
        let (c, _) = store.create("c", t0 + 3 * MIN);
        assert_eq!(store.len(), 2);
        assert!(
            store.touch(&b, t0 + 3 * MIN).is_none(),
            "b was least recently used"
        );
        assert!(store.touch(&a, t0 + 3 * MIN).is_some());
        assert!(store.touch(&c, t0 + 3 * MIN).is_some());
    }

    #[test]
    fn logout_and_revoking_an_admin_end_sessions() {
        let store = SessionStore::default();
        let now = Instant::now();
        let (a1, _) = store.create("alice", now);
        let (a2, _) = store.create("alice", now);
        let (b, _) = store.create("bob", now);
        store.remove(&a1);
        assert!(store.touch(&a1, now).is_none());
        store.remove_admin("alice");
        assert!(store.touch(&a2, now).is_none());
        assert!(store.touch(&b, now).is_some());
    }

    #[test]
    fn the_csrf_token_must_be_the_sessions_own() {
        let store = SessionStore::default();
        let now = Instant::now();
        let (_, mine) = store.create("alice", now);
        let (_, other) = store.create("alice", now);
        assert!(csrf_matches(&mine, Some(&mine.csrf)));
        assert!(!csrf_matches(&mine, Some(&other.csrf)));
        assert!(!csrf_matches(&mine, None));
        assert!(!csrf_matches(&mine, Some("")));
        assert!(!csrf_matches(&mine, Some(&mine.csrf[..63])));
    }
}
