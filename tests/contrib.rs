//! The service files in `contrib/` say what docs/install.md promises:
//! a `Type=notify` unit reloading with SIGHUP, hardened, binding the low
//! ports with one capability; a logrotate snippet that makes the server
//! reopen its log; and the unit's `serve --check` pre-start step accepts a
//! good configuration and refuses a bad one.

use portcullis_testkit as common;

use std::collections::HashMap;

use common::{describe, Setup};

const UNIT: &str = include_str!("../contrib/portcullis.service");
const LOGROTATE: &str = include_str!("../contrib/logrotate");

/// `Key=value` lines of the `[Service]` section (a key may repeat).
fn service_settings() -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let mut in_service = false;
    for line in UNIT.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if line.starts_with('#') || line.is_empty() || !in_service {
            continue;
        }
        let (k, v) = line.split_once('=').expect("Key=value");
        out.entry(k.to_string()).or_default().push(v.to_string());
    }
    out
}

#[test]
fn the_unit_is_type_notify_reloads_with_hup_and_is_hardened() {
    let s = service_settings();
    let one = |k: &str| -> &str {
        let v = s
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing from the unit"));
        v[0].as_str()
    };
    assert_eq!(one("Type"), "notify");
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert!(one("ExecStart").ends_with(" serve"));
    assert!(one("ExecStartPre").ends_with(" serve --check"));
    assert_eq!(one("CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
    assert_eq!(one("AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("User", "portcullis"),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    let rw = one("ReadWritePaths");
    assert!(rw.contains("/var/lib/portcullis") && rw.contains("/var/log/portcullis"));
}

#[test]
fn logrotate_makes_the_server_reopen_its_log() {
    assert!(LOGROTATE.contains("/var/log/portcullis/*.log {"));
    let post = LOGROTATE
        .split("postrotate")
        .nth(1)
        .and_then(|p| p.split("endscript").next())
        .expect("a postrotate script");
    assert!(post.contains("--signal=HUP portcullis.service"), "{post}");
}

#[test]
fn serve_check_validates_and_exits() {
    let setup = Setup::new("");
    let out = setup.cli(&["serve", "--check"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
    // Nothing was started or written: no pid file, no control socket.
    assert!(!setup.data_dir.join("portcullis.pid").exists());
    std::fs::write(&setup.config_path, "[listen]\nsmtp = [\"nowhere\"]\n").unwrap();
    let bad = setup.cli(&["serve", "--check"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("listen.smtp \"nowhere\""));
}
