//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! same check functions the fuzz targets run, so that every input that once
//! found a bug, and every seed, is checked by an ordinary `cargo test` in CI
//! without libFuzzer or a nightly toolchain.

// Its items are `pub` for the fuzz crate, whose library it is.
#[allow(dead_code, unreachable_pub)]
#[path = "../fuzz/src/checks/mod.rs"]
mod checks;

use std::fs;
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Every file of one target's corpus, in name order.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn replay(target: &str) {
    let (_, check) = checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no check for {target}"));
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "the {target} corpus is empty");
    for (path, bytes) in inputs {
        let result = std::panic::catch_unwind(|| check(&bytes));
        assert!(
            result.is_ok(),
            "fuzz input {} fails its check (run the `{target}` check on it to see why)",
            path.display()
        );
    }
}

#[test]
fn every_target_has_a_committed_corpus() {
    for (name, _) in checks::TARGETS {
        assert!(corpus_dir(name).is_dir(), "no corpus for the {name} target");
    }
}

#[test]
fn session_corpus() {
    replay("session");
}

#[test]
fn address_corpus() {
    replay("address");
}

#[test]
fn command_corpus() {
    replay("command");
}

#[test]
fn relay_corpus() {
    replay("relay");
}

#[test]
fn sasl_corpus() {
    replay("sasl");
}

#[test]
fn envelope_corpus() {
    replay("envelope");
}

#[test]
fn config_corpus() {
    replay("config");
}
