//! The embedded default file and the `[relay]` table added to a file that
//! lacks one.

use std::net::IpAddr;
use std::path::Path;

use super::{load, PATH};
use crate::{ensure_relay_section, keys, Config, DEFAULT_CONFIG};

#[test]
fn the_default_file_loads_to_the_defaults() {
    assert_eq!(
        load(DEFAULT_CONFIG).unwrap(),
        Config::defaults(Path::new(PATH))
    );
}

#[test]
fn the_default_file_lists_every_key_with_a_comment_in_its_section() {
    for info in keys::KEYS {
        let (section, name) = match info.key.split_once('.') {
            Some((s, n)) => (Some(s), n),
            None => (None, info.key),
        };
        // The lines of the key's section: before the first header for
        // top-level keys, else between `[section]` and the next header.
        let mut current = None;
        let lines: Vec<&str> = DEFAULT_CONFIG
            .lines()
            .filter(|line| {
                if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                    current = Some(h);
                    return false;
                }
                current == section
            })
            .collect();
        let line = if info.is_table_entry() {
            // `aliases.<name>`, `routes.<domain>`: an example entry, commented.
            lines
                .iter()
                .find(|l| l.starts_with("# ") && l.contains(" = "))
        } else {
            lines.iter().find(|l| {
                let l = l.trim_start_matches("# ");
                l.starts_with(&format!("{name} =")) || l.starts_with(&format!("{name}="))
            })
        };
        let line = line.unwrap_or_else(|| panic!("{} is missing from DEFAULT_CONFIG", info.key));
        let after_value = line.trim_start_matches("# ");
        assert!(
            after_value.contains("  # "),
            "{} has no comment: {line:?}",
            info.key
        );
    }
}

#[test]
fn every_registry_key_has_a_doc_line() {
    for info in keys::KEYS {
        assert!(
            !info.doc.is_empty() && !info.doc.contains('\n'),
            "{}",
            info.key
        );
        assert_eq!(keys::lookup(info.key), Some(info), "{}", info.key);
    }
    assert_eq!(
        keys::lookup("aliases.postmaster").map(|k| k.key),
        Some("aliases.<name>")
    );
    assert_eq!(
        keys::lookup("routes.example.org").map(|k| k.key),
        Some("routes.<domain>")
    );
    assert_eq!(keys::lookup("aliases"), None);
}

const ADMIN_FILE: &str = "# My mail server. Do not touch the comments!\n\
hostname = \"mx.example.com\"   # the public name\n\
\n\
[listen]\n\
# only the MX port\n\
smtp = [\"0.0.0.0:25\"]\n\
\n\
[limits]\n\
recipients = 50 # enough\n";

fn own() -> Vec<IpAddr> {
    [
        "192.0.2.10",
        "127.0.0.1",
        "2001:db8::10",
        "192.0.2.10",
        "0.0.0.0",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect()
}

#[test]
fn a_missing_relay_table_is_appended_with_the_machines_own_addresses() {
    let out = ensure_relay_section(ADMIN_FILE, &own()).unwrap();
    // Everything the admin wrote is still there, byte for byte, first.
    assert!(out.starts_with(ADMIN_FILE), "{out}");
    let added = &out[ADMIN_FILE.len()..];
    assert_eq!(
        added,
        "\n# [relay] was missing: added by portcullis with safe defaults (only the\n\
         # addresses below may relay without AUTH; see `portcullis config read relay.allow`).\n\
         [relay]\n\
         local_only = false  # true: deliver to local addresses only, never relay\n\
         restricted = true  # false makes an open relay\n\
         allow = [\"127.0.0.1\", \"::1\", \"192.0.2.10\", \"2001:db8::10\"]  # loopback and this machine's own addresses\n\
         authenticated = true  # authenticated users may relay\n"
    );
    let cfg = load(&out).unwrap();
    assert_eq!(
        *cfg.relay.allow,
        ["127.0.0.1", "::1", "192.0.2.10", "2001:db8::10"]
    );
    assert!(cfg.relay.restricted && !cfg.relay.local_only && cfg.relay.authenticated);
    assert_eq!(cfg.limits.recipients, 50);
}

#[test]
fn the_relay_table_goes_last_even_after_a_file_without_final_newline() {
    let text = "[limits]\nrecipients = 50\n\n[log]\nlevel = \"debug\"";
    let out = ensure_relay_section(text, &[]).unwrap();
    assert!(
        out.starts_with("[limits]\nrecipients = 50\n\n[log]\nlevel = \"debug\"\n"),
        "{out}"
    );
    assert!(out.contains("\n[relay]\n"));
    assert!(out.find("[relay]") > out.find("[log]"));
    assert_eq!(*load(&out).unwrap().relay.allow, ["127.0.0.1", "::1"]);
    let empty = ensure_relay_section("", &[]).unwrap();
    assert!(empty.starts_with("# [relay] was missing"), "{empty}");
    assert!(load(&empty).is_ok());
}

#[test]
fn an_existing_relay_table_in_any_form_is_left_alone() {
    assert_eq!(ensure_relay_section(DEFAULT_CONFIG, &own()), None);
    assert_eq!(ensure_relay_section("[relay]\n", &own()), None);
    assert_eq!(
        ensure_relay_section("relay.allow = [\"10.0.0.1\"]\n", &own()),
        None
    );
    assert_eq!(
        ensure_relay_section("relay = { restricted = true }\n", &own()),
        None
    );
    assert_eq!(
        ensure_relay_section("[relay\n", &own()),
        None,
        "not TOML: the load reports it"
    );
}
