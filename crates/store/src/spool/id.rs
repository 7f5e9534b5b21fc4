//! Queue ids: 16 characters of `[0-9A-Z]`, sortable by creation time.
//!
//! The first 11 characters are the microseconds since the Unix epoch in
//! base 36, bumped so that every id this process makes is strictly greater
//! than the previous one (unique and ordered within the process even within
//! one microsecond); the last 5 are random, against a clash with another
//! process (e.g. two servers sharing a queue by mistake).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const TIME_CHARS: usize = 11;
const RANDOM_CHARS: usize = 5;

/// The longest id accepted from outside (the CLI, file names).
const MAX_ID_LEN: usize = 64;

/// The last time component handed out.
static LAST: Mutex<u64> = Mutex::new(0);

/// A new unique queue id.
pub(crate) fn new_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let stamp = {
        // A poisoned lock only means another thread panicked while holding
        // a plain integer: the value is still meaningful.
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        *last = now.max(last.saturating_add(1));
        *last
    };
    let mut id = String::with_capacity(TIME_CHARS + RANDOM_CHARS);
    let mut digits = [b'0'; TIME_CHARS];
    let mut rest = stamp;
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(rest % 36) as usize];
        rest /= 36;
    }
    id.extend(digits.iter().map(|&b| b as char));
    let mut rng = rand::thread_rng();
    id.extend((0..RANDOM_CHARS).map(|_| ALPHABET[rng.gen_range(0..36)] as char));
    id
}

/// Whether `id` can name queue files: 1–64 characters of `[0-9A-Z]`.
/// Why: ids arrive from the command line (`queue show ID`) and become file
/// names, so nothing like `/` or `..` may pass.
pub(crate) fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_16_uppercase_base36_characters() {
        let id = new_id();
        assert_eq!(id.len(), 16, "{id}");
        assert!(is_valid_id(&id), "{id}");
    }

    #[test]
    fn ids_from_one_thread_are_strictly_increasing() {
        let ids: Vec<String> = (0..2000).map(|_| new_id()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0][..TIME_CHARS] < pair[1][..TIME_CHARS], "{pair:?}");
        }
    }

    #[test]
    fn ids_are_unique_across_threads() {
        let handles: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| (0..2000).map(|_| new_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = BTreeSet::new();
        for handle in handles {
            for id in handle.join().unwrap() {
                assert!(all.insert(id.clone()), "duplicate {id}");
            }
        }
        assert_eq!(all.len(), 16_000);
    }

    #[test]
    fn invalid_ids_are_refused() {
        for bad in ["", "../etc", "abc", "A/B", "A.B", &"A".repeat(65), "ÄB"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        assert!(is_valid_id("0LZ3K9QX2A7F4B1C"));
    }
}
