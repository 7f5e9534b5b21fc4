//! `config read`: `key: value` lines, lists space separated, defaults
//! included; `--changed` shows only what the file sets.

use super::load;
use crate::{format_line, keys, read_changed, read_effective, select, system_hostname, UnknownKey};

fn lines(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().map(|(k, v)| format_line(k, v)).collect()
}

#[test]
fn read_effective_prints_every_key_with_defaults_like_niutil() {
    let cfg = load("[aliases]\npostmaster = [\"alice\", \"bob\"]\n[routes]\n\"example.org\" = \"mx.example.org\"").unwrap();
    let out = lines(&read_effective(&cfg));
    let host = system_hostname();
    let domains = if host == "localhost" {
        host.clone()
    } else {
        format!("{host} localhost")
    };
    let expected = vec![
        format!("hostname: {host}"),
        "data_dir: /etc/portcullis/portcullis-data".to_string(),
        "user:".to_string(),
        format!("local_domains: {domains}"),
        "listen.smtp: 127.0.0.1:2525".to_string(),
        "listen.submission: 127.0.0.1:2587".to_string(),
        "listen.submissions: 127.0.0.1:2465".to_string(),
        "listen.proxy_from:".to_string(),
        "listen.proxied:".to_string(),
        "relay.local_only: false".to_string(),
        "relay.restricted: true".to_string(),
        "relay.allow: 127.0.0.1 ::1".to_string(),
        "relay.authenticated: true".to_string(),
        "relay.smarthost:".to_string(),
        "relay.smarthost_user:".to_string(),
        "relay.smarthost_password_file:".to_string(),
        "auth.mechanisms: SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN".to_string(),
        "auth.plaintext_requires_tls: true".to_string(),
        "auth.delay_after: 3".to_string(),
        "auth.delay_seconds: 2".to_string(),
        "auth.ban_after: 10".to_string(),
        "auth.ban_seconds: 900".to_string(),
        "auth.window_seconds: 900".to_string(),
        "auth.never_ban:".to_string(),
        "tls.cert:".to_string(),
        "tls.key:".to_string(),
        "tls.outbound: opportunistic".to_string(),
        "tls.outbound_ca:".to_string(),
        "limits.message_size: 26214400".to_string(),
        "limits.recipients: 100".to_string(),
        "limits.max_hops: 50".to_string(),
        "limits.errors: 10".to_string(),
        "limits.command_timeout: 300".to_string(),
        "limits.data_timeout: 180".to_string(),
        "limits.outbound_connections: 100".to_string(),
        "limits.outbound_per_destination: 20".to_string(),
        "limits.connections: 500".to_string(),
        "limits.connections_reserved: 50".to_string(),
        "limits.connections_per_client: 20".to_string(),
        "limits.connection_rate: 60".to_string(),
        "limits.password_checks: 0".to_string(),
        "limits.password_checks_waiting: 64".to_string(),
        "limits.commands_before_mail: 50".to_string(),
        "limits.session_time: 1800".to_string(),
        "limits.greeting_delay_ms: 0".to_string(),
        "smtp.bare_lf: normalize".to_string(),
        "inbound.checks: true".to_string(),
        "inbound.dmarc_reject: false".to_string(),
        "dns.nameservers:".to_string(),
        "dns.timeout_ms: 5000".to_string(),
        "log.file:".to_string(),
        "log.format: text".to_string(),
        "log.level: info".to_string(),
        "delivery.maildir:".to_string(),
        "delivery.lmtp:".to_string(),
        "queue.lifetime: 432000".to_string(),
        "queue.retry_min: 60".to_string(),
        "queue.retry_max: 3600".to_string(),
        "queue.delay_warning: 14400".to_string(),
        "queue.mx_port: 25".to_string(),
        "queue.mta_sts_port: 443".to_string(),
        "admin.listen: 127.0.0.1:2580".to_string(),
        "metrics.listen:".to_string(),
        "dovecot.passwd_file:".to_string(),
        "directory.backend: files".to_string(),
        "directory.url_file:".to_string(),
        "directory.max_stale: 120".to_string(),
        "directory.node_name: vm".to_string(),
        "aliases.postmaster: alice bob".to_string(),
        "routes.example.org: mx.example.org:25".to_string(),
    ];
    assert_eq!(out, expected);
}

#[test]
fn read_effective_lists_every_registry_key() {
    let cfg = load("").unwrap();
    let keys_read: Vec<String> = read_effective(&cfg).into_iter().map(|(k, _)| k).collect();
    let registry: Vec<&str> = keys::KEYS
        .iter()
        .filter(|k| !k.is_table_entry())
        .map(|k| k.key)
        .collect();
    assert_eq!(keys_read, registry);
}

#[test]
fn read_changed_shows_only_what_differs_from_the_default() {
    let text =
        "# comment\n[relay]\nallow = [\"10.0.0.0/8\", \"192.168.40-43.*\"]\nrestricted = true\n\
                [limits]\nrecipients = 7\nerrors = 10\n[aliases]\nPostmaster = \"alice\"\n";
    assert_eq!(
        lines(&read_changed(text).unwrap()),
        [
            "relay.allow: 10.0.0.0/8 192.168.40-43.*",
            "limits.recipients: 7",
            "aliases.postmaster: alice"
        ]
    );
    assert!(read_changed("").unwrap().is_empty());
    assert!(read_changed(crate::DEFAULT_CONFIG).unwrap().is_empty());
    // A host name of its own: local_domains following it is no change.
    assert_eq!(
        lines(&read_changed("hostname = \"mx.example.com\"\n").unwrap()),
        ["hostname: mx.example.com"]
    );
    assert_eq!(
        read_changed("[relay]\nalow = []").unwrap_err().to_string(),
        r#"unknown key "relay.alow" in portcullis.toml (did you mean "relay.allow"?)"#
    );
}

#[test]
fn select_picks_a_key_or_a_whole_section() {
    let all = read_effective(&load("[aliases]\npostmaster = \"alice\"").unwrap());
    assert_eq!(
        lines(&select(all.clone(), "relay.allow").unwrap()),
        ["relay.allow: 127.0.0.1 ::1"]
    );
    let relay: Vec<String> = select(all.clone(), "relay")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        relay,
        [
            "relay.local_only",
            "relay.restricted",
            "relay.allow",
            "relay.authenticated",
            "relay.smarthost",
            "relay.smarthost_user",
            "relay.smarthost_password_file"
        ]
    );
    assert_eq!(
        lines(&select(all.clone(), "aliases").unwrap()),
        ["aliases.postmaster: alice"]
    );
    assert!(select(all.clone(), "aliases.abuse").unwrap().is_empty());
    let err = select(all, "relay.alow").unwrap_err();
    assert_eq!(
        err,
        UnknownKey {
            key: "relay.alow".into(),
            suggestion: Some("relay.allow".into())
        }
    );
    assert_eq!(
        err.to_string(),
        r#"unknown key "relay.alow" (did you mean "relay.allow"?)"#
    );
}
