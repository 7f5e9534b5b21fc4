//! The latest relay decisions (`GET /api/v1/decisions`): a bounded ring in
//! memory, fed by the RCPT path, so an admin sees who was granted or denied
//! relay and by which rule without parsing logs. Recording is one short
//! lock and a push; the oldest decision falls out past [`CAPACITY`].

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How many decisions are kept.
pub const CAPACITY: usize = 1000;

/// One relay decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayDecision {
    /// When, as seconds since the Unix epoch.
    pub time: u64,
    /// The client address.
    pub client: String,
    /// The recipient as the client gave it.
    pub recipient: String,
    /// `granted`, `denied`, or `tempfail` (the answer waits on DNS or on a
    /// stale directory).
    pub decision: String,
    /// The rule that decided, as `check-relay` names it.
    pub rule: String,
}

/// The ring of the latest decisions, newest last.
#[derive(Debug, Default)]
pub struct DecisionLog {
    ring: Mutex<VecDeque<RelayDecision>>,
}

impl DecisionLog {
    /// Records a decision made now.
    pub fn record(&self, client: String, recipient: String, decision: &str, rule: String) {
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let entry = RelayDecision {
            time,
            client,
            recipient,
            decision: decision.to_string(),
            rule,
        };
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == CAPACITY {
            ring.pop_front();
        }
        ring.push_back(entry);
    }

    /// The latest `limit` decisions, newest first.
    pub fn latest(&self, limit: usize) -> Vec<RelayDecision> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_latest_newest_first() {
        let log = DecisionLog::default();
        for i in 0..CAPACITY + 5 {
            log.record(
                format!("10.0.0.{}", i % 250),
                format!("r{i}@x.test"),
                "denied",
                "denied".into(),
            );
        }
        let all = log.latest(usize::MAX);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].recipient, format!("r{}@x.test", CAPACITY + 4));
        assert_eq!(all[CAPACITY - 1].recipient, "r5@x.test");
        assert_eq!(log.latest(2).len(), 2);
    }
}
