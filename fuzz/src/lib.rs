//! The check functions behind the fuzz targets. Each takes the fuzzer's
//! bytes, runs one parser or state machine on them, and panics when an
//! invariant breaks. The same functions replay the committed corpora in an
//! ordinary `cargo test` (`tests/fuzz_corpus.rs` includes
//! `checks/mod.rs` by path), so a finding fixed once stays fixed.

pub mod checks;
