//! The outbound connection limit (`limits.outbound_connections`) as a
//! semaphore that follows the configuration across reloads.

use tokio::sync::Semaphore;
use tracing::info;

/// How `connections` follows `limits.outbound_connections` across reloads.
/// A raise adds permits at once; a cut can only take back permits nobody
/// holds, so the rest is owed and taken as connections close.
pub(super) struct ConnectionLimit {
    /// The limit the semaphore stands for once `owed` is paid.
    pub applied: usize,
    /// Permits still to withdraw.
    pub owed: usize,
}

impl ConnectionLimit {
    pub(super) fn follow(&mut self, semaphore: &Semaphore, wanted: usize) {
        let wanted = wanted.max(1);
        if wanted > self.applied {
            let more = wanted - self.applied;
            let forgiven = more.min(self.owed);
            self.owed -= forgiven;
            semaphore.add_permits(more - forgiven);
        } else {
            self.owed += self.applied - wanted;
        }
        if wanted != self.applied {
            info!(limit = wanted, "outbound connection limit changed");
        }
        self.applied = wanted;
        if self.owed > 0 {
            self.owed -= semaphore.forget_permits(self.owed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: usize) -> (Semaphore, ConnectionLimit) {
        (
            Semaphore::new(n),
            ConnectionLimit {
                applied: n,
                owed: 0,
            },
        )
    }

    #[test]
    fn a_raise_adds_permits_at_once() {
        let (s, mut l) = limit(2);
        l.follow(&s, 5);
        assert_eq!(s.available_permits(), 5);
        assert_eq!((l.applied, l.owed), (5, 0));
    }

    #[test]
    fn a_cut_takes_free_permits_now_and_the_rest_as_they_come_back() {
        let (s, mut l) = limit(4);
        let held: Vec<_> = (0..3).map(|_| s.try_acquire().unwrap()).collect();
        l.follow(&s, 1);
        // One permit was free: taken. Two are owed.
        assert_eq!((s.available_permits(), l.owed), (0, 2));
        drop(held);
        // Three came back: two pay the debt, one is the new limit.
        l.follow(&s, 1);
        assert_eq!((s.available_permits(), l.owed), (1, 0));
    }

    #[test]
    fn a_raise_after_a_cut_first_forgives_the_debt() {
        let (s, mut l) = limit(4);
        let held: Vec<_> = (0..4).map(|_| s.try_acquire().unwrap()).collect();
        l.follow(&s, 1);
        assert_eq!(l.owed, 3);
        l.follow(&s, 3);
        assert_eq!((l.owed, s.available_permits()), (1, 0));
        drop(held);
        l.follow(&s, 3);
        assert_eq!((l.owed, s.available_permits()), (0, 3));
    }

    #[test]
    fn zero_means_one() {
        let (s, mut l) = limit(2);
        l.follow(&s, 0);
        assert_eq!((s.available_permits(), l.applied), (1, 1));
    }
}
