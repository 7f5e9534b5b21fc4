//! Messages kept in memory from their store to their first attempt, so that
//! a worker need not read back what was just written. Bounded: past
//! [`BUDGET`] octets in all, a message is read from the spool as before.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The most octets held for all messages at once.
pub(crate) const BUDGET: usize = 32 * 1024 * 1024;

/// A stored message's bytes, shared by its jobs; its octets count against
/// the budget until the last job is done with it.
#[derive(Clone)]
pub(crate) struct Cached(Arc<Held>);

struct Held {
    bytes: Vec<u8>,
    budget: Arc<AtomicUsize>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.fetch_sub(self.bytes.len(), Ordering::Relaxed);
    }
}

impl Cached {
    /// Holds `bytes` if the budget (octets held now, shared by every
    /// message) has room for them.
    pub(crate) fn new(bytes: Vec<u8>, budget: &Arc<AtomicUsize>) -> Option<Cached> {
        let len = bytes.len();
        let before = budget.fetch_add(len, Ordering::Relaxed);
        if before + len > BUDGET {
            budget.fetch_sub(len, Ordering::Relaxed);
            return None;
        }
        Some(Cached(Arc::new(Held {
            bytes,
            budget: budget.clone(),
        })))
    }

    /// The message.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octets_count_until_the_last_holder_drops_them_and_the_budget_caps_them() {
        let budget = Arc::new(AtomicUsize::new(0));
        let a = Cached::new(vec![1; 1000], &budget).unwrap();
        let b = a.clone();
        assert_eq!(budget.load(Ordering::Relaxed), 1000);
        drop(a);
        assert_eq!(budget.load(Ordering::Relaxed), 1000);
        assert_eq!(b.bytes().len(), 1000);
        drop(b);
        assert_eq!(budget.load(Ordering::Relaxed), 0);

        let big = Cached::new(vec![0; BUDGET - 10], &budget).unwrap();
        assert!(Cached::new(vec![0; 11], &budget).is_none());
        assert_eq!(budget.load(Ordering::Relaxed), BUDGET - 10);
        assert!(Cached::new(vec![0; 10], &budget).is_some());
        drop(big);
        assert_eq!(budget.load(Ordering::Relaxed), 0);
    }
}
