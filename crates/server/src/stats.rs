//! The server's counters: plain atomics and labelled series, bumped by the
//! sessions and the queue runner, read by `portcullis status` and rendered
//! by the metrics endpoint (`metrics.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters for `portcullis status`, the logs and the metrics endpoint
/// (`metrics.rs` renders them).
#[derive(Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub sessions: AtomicU64,
    pub messages_accepted: AtomicU64,
    pub relay_grants: AtomicU64,
    pub relay_denials: AtomicU64,
    /// Connections by `listener="<role>"`.
    pub connections_by_role: Labeled,
    /// Messages not stored after DATA, by `reason="…"`.
    pub messages_rejected: Labeled,
    /// Negative replies sent, by `code="…",status="…"`.
    pub rejections: Labeled,
    /// Relay decisions, by `result="granted|denied|tempfail",rule="<kind>"`.
    pub relay_decisions: Labeled,
    /// AUTH verdicts, by `result="success|failure"`.
    pub auth: Labeled,
    /// TLS handshakes, by `result="ok|failed"`.
    pub tls_handshakes: Labeled,
    /// PROXY headers on proxied listeners, by `result="accepted|refused"`.
    pub proxy: Labeled,
    /// Outbound attempts per recipient, by `result="…"` (the outbound runner counts).
    pub delivery_attempts: Labeled,
    /// Clients cut off by an abuse limit, by `limit="<key>"`: the `[limits]`
    /// key (`connections`, `connection_rate`, `greeting_delay_ms`,
    /// `session_time`…) or `auth.ban_after` for a banned client.
    pub limit_refusals: Labeled,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A counter with one label set per key, e.g. `result="granted",rule="allow"`.
/// Few distinct keys and rare updates: a mutex is enough.
#[derive(Default)]
pub struct Labeled(Mutex<BTreeMap<String, u64>>);

impl Labeled {
    /// Adds one to the series `labels` (already rendered: `k="v",k2="v2"`).
    pub fn add(&self, labels: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(labels.to_string()).or_insert(0) += 1;
    }

    /// Every series and its value, sorted by labels.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// The value of one series (0 if never counted).
    #[cfg(test)]
    pub fn get(&self, labels: &str) -> u64 {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(labels).copied().unwrap_or(0)
    }
}
