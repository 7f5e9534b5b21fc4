//! One module per fuzz target; each has `pub fn check(data: &[u8])`, which
//! panics when an invariant breaks and returns quietly otherwise.
//!
//! This file is also compiled into `tests/fuzz_corpus.rs` by
//! path: keep it free of anything but `std`, `portcullis_smtp`,
//! the `portcullis-*` crates and `serde_json`.

pub mod address;
pub mod command;
pub mod config;
pub mod envelope;
pub mod relay;
pub mod sasl;
pub mod session;

/// A check function: panics when an invariant breaks.
pub type Check = fn(&[u8]);

/// The fuzz targets, by name (the corpus directory names under `fuzz/corpus/`).
pub const TARGETS: &[(&str, Check)] = &[
    ("address", address::check),
    ("command", command::check),
    ("config", config::check),
    ("envelope", envelope::check),
    ("relay", relay::check),
    ("sasl", sasl::check),
    ("session", session::check),
];

/// A small deterministic generator (xorshift64*), to turn a few input bytes
/// into many choices (cut points, addresses) without a dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        // Zero is a fixed point of xorshift.
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        // The modulo bias is irrelevant here.
        (self.next() % n as u64) as usize
    }
}
