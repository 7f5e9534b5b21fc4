//! The configuration loader (`Config::from_str`): no panic on any text, the
//! same answer twice, and a loaded configuration can always be printed
//! (`config read`) with one line per known key.

use std::path::Path;

use portcullis_config::{read_changed, read_effective, Config, KEYS};

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/portcullis-fuzz/portcullis.toml");
    let first = Config::from_str(text, path);
    let second = Config::from_str(text, path);
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "two loads of one text differ"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("two loads of one text disagree: {first:?} / {second:?}"),
    }
    match first {
        Ok(cfg) => {
            let lines = read_effective(&cfg);
            let plain_keys = KEYS.iter().filter(|k| !k.is_table_entry()).count();
            assert!(lines.len() >= plain_keys, "config read lost keys");
            assert!(
                cfg.data_dir.is_absolute(),
                "data_dir not resolved: {:?}",
                cfg.data_dir
            );
            assert!(cfg.limits.recipients >= 1 && cfg.limits.errors >= 1);
            // What `config read --changed` shows must not fail on a file that loads.
            assert!(read_changed(text).is_ok(), "loads, but --changed fails");
        }
        Err(e) => {
            // Errors are one sentence naming the value: never empty.
            assert!(!e.to_string().trim().is_empty());
        }
    }
}
