//! The queue envelope decoder: the JSON of `queue/<id>.env` read directly
//! (serde) and through `Spool::load_envelope` from a real file. No panic; a
//! decoded envelope encodes and decodes to itself; the spool accepts only
//! the version it writes and the id the file is named after.

use std::path::PathBuf;
use std::sync::OnceLock;

use portcullis_store::spool::{Envelope, Spool, ENVELOPE_VERSION};

/// The queue id the fuzzed file is stored under.
const ID: &str = "FUZZ000000000000";

/// A spool in a private temporary directory, one per process.
fn spool() -> &'static Spool {
    static SPOOL: OnceLock<Spool> = OnceLock::new();
    SPOOL.get_or_init(|| {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("portcullis-fuzz-envelope-{}", std::process::id()));
        Spool::open(&dir)
            .unwrap_or_else(|e| panic!("cannot open a spool in {}: {e}", dir.display()))
    })
}

pub fn check(data: &[u8]) {
    if let Ok(env) = serde_json::from_slice::<Envelope>(data) {
        let json = serde_json::to_vec(&env).expect("an envelope always encodes");
        let again: Envelope = serde_json::from_slice(&json).expect("its own JSON decodes");
        assert_eq!(again, env, "the envelope does not survive encode/decode");
    }
    // `load_envelope` reads a JSON object first; anything else fails there
    // (the serde path above covers it) and is not worth a file write.
    if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data).is_err() {
        return;
    }
    let spool = spool();
    let path = spool.dir().join(format!("{ID}.env"));
    std::fs::write(&path, data).expect("write the fuzzed envelope");
    if let Ok(env) = spool.load_envelope(ID) {
        assert_eq!(env.id, ID, "loaded an envelope named after another id");
        assert_eq!(env.version, ENVELOPE_VERSION, "loaded another version");
    }
}
