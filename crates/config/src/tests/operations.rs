//! The operations keys (issue 8): `listen.proxy_from` / `listen.proxied`
//! (PROXY protocol), `metrics.listen` and `dovecot.passwd_file`; and
//! `admin.listen` (issue 15).

use std::path::PathBuf;

use super::{error, load};

#[test]
fn proxy_protocol_is_off_by_default_and_metrics_too() {
    let cfg = load("").unwrap();
    assert!(cfg.listen.proxy_from.is_empty());
    assert!(!cfg.listen.is_proxied("127.0.0.1:2525".parse().unwrap()));
    assert_eq!(cfg.metrics.listen, None);
    assert_eq!(cfg.dovecot.passwd_file, None);
}

#[test]
fn proxy_from_alone_makes_every_listener_proxied() {
    let cfg =
        load("[listen]\nsmtp = [\"0.0.0.0:25\"]\nproxy_from = [\"10.0.0.2\", \"10.1.0.0/16\"]")
            .unwrap();
    assert!(cfg.listen.is_proxied("192.0.2.1:25".parse().unwrap()));
    assert!(cfg.listen.is_proxied("127.0.0.1:2587".parse().unwrap()));
    assert!(cfg.listen.proxy_allowed("10.0.0.2".parse().unwrap()));
    assert!(cfg.listen.proxy_allowed("10.1.200.3".parse().unwrap()));
    assert!(!cfg.listen.proxy_allowed("10.0.0.3".parse().unwrap()));
}

#[test]
fn proxied_names_the_listeners_that_expect_the_header() {
    let cfg = load(
        "[listen]\nsmtp = [\"0.0.0.0:25\"]\nsubmission = [\"127.0.0.1:587\"]\n\
         proxy_from = [\"10.0.0.2\"]\nproxied = [\"0.0.0.0:25\"]",
    )
    .unwrap();
    // A wildcard listener covers every local address on its port.
    assert!(cfg.listen.is_proxied("192.0.2.1:25".parse().unwrap()));
    assert!(!cfg.listen.is_proxied("127.0.0.1:587".parse().unwrap()));
}

#[test]
fn bad_proxy_settings_are_refused_with_one_sentence() {
    assert_eq!(
        error("[listen]\nproxy_from = [\"10.0.0.1/8\"]"),
        "invalid listen.proxy_from \"10.0.0.1/8\" in /etc/portcullis/portcullis.toml: \
         host bits are set under the /8 prefix (the network is 10.0.0.0/8)"
    );
    assert_eq!(
        error("[listen]\nproxy_from = [\"lb.example.com\"]"),
        "invalid listen.proxy_from \"lb.example.com\" in /etc/portcullis/portcullis.toml: \
         not an IP address or CIDR network (e.g. \"10.0.0.2\" or \"10.0.0.0/24\")"
    );
    assert_eq!(
        error("[listen]\nproxy_from = [\"10.0.0.2\"]\nproxied = [\"127.0.0.1:25\"]"),
        "invalid listen.proxied \"127.0.0.1:25\" in /etc/portcullis/portcullis.toml: \
         is not one of the listen.smtp, listen.submission or listen.submissions addresses"
    );
    assert_eq!(
        error("[listen]\nproxied = [\"127.0.0.1:2525\"]"),
        "invalid listen.proxied \"127.0.0.1:2525\" in /etc/portcullis/portcullis.toml: \
         needs listen.proxy_from (the load balancers allowed to send the PROXY header)"
    );
}

#[test]
fn metrics_listen_is_an_address() {
    let cfg = load("[metrics]\nlisten = \"127.0.0.1:9325\"").unwrap();
    assert_eq!(cfg.metrics.listen, Some("127.0.0.1:9325".parse().unwrap()));
    assert!(error("[metrics]\nlisten = \"localhost:9325\"")
        .starts_with("invalid metrics.listen \"localhost:9325\" in /etc/portcullis/portcullis.toml: not a socket address"));
    assert!(error("[metrics]\nport = 9325").contains("metrics.port"));
}

#[test]
fn admin_listen_is_loopback_by_default_and_an_empty_list_turns_it_off() {
    let cfg = load("").unwrap();
    assert_eq!(cfg.admin.listen, vec!["127.0.0.1:2580".parse().unwrap()]);
    let cfg = load("[admin]\nlisten = []").unwrap();
    assert!(cfg.admin.listen.is_empty());
    let cfg = load("[admin]\nlisten = [\"127.0.0.1:8443\", \"[::1]:8443\"]").unwrap();
    assert_eq!(cfg.admin.listen.len(), 2);
    assert_eq!(
        error("[admin]\nlisten = [\"127.0.0.1:2580\", \"console:443\"]"),
        "invalid admin.listen \"console:443\" in /etc/portcullis/portcullis.toml: not a socket \
         address (expected IP:port, e.g. \"127.0.0.1:2525\" or \"[::1]:2525\")"
    );
    assert!(error("[admin]\nlisten = \"127.0.0.1:2580\"").contains("admin.listen"));
}

#[test]
fn the_dovecot_passwd_file_is_resolved_against_the_config_directory() {
    let cfg = load("[dovecot]\npasswd_file = \"dovecot.passwd\"").unwrap();
    assert_eq!(
        cfg.dovecot.passwd_file,
        Some(PathBuf::from("/etc/portcullis/dovecot.passwd"))
    );
    assert!(error("[dovecot]\npasswd_file = \"\"").contains("cannot be empty"));
}

#[test]
fn the_directory_is_the_files_by_default_with_two_minutes_of_staleness() {
    let cfg = load("").unwrap();
    assert_eq!(cfg.directory.backend, crate::DirectoryBackend::Files);
    assert_eq!(cfg.directory.url_file, None);
    assert_eq!(cfg.directory.max_stale, 120);
    assert_eq!(cfg.directory.node_name, None);
    let cfg = load("[directory]\nnode_name = \"mx2\"").unwrap();
    assert_eq!(cfg.directory.node_name.as_deref(), Some("mx2"));
    let cfg = load("[directory]\nbackend = \"files\"\nmax_stale = \"5m\"\nurl_file = \"db.url\"")
        .unwrap();
    assert_eq!(cfg.directory.max_stale, 300);
    assert_eq!(
        cfg.directory.url_file,
        Some(PathBuf::from("/etc/portcullis/db.url"))
    );
}

#[test]
fn the_directory_refuses_an_unknown_backend_and_a_zero_staleness() {
    let e = error("[directory]\nbackend = \"ldap\"");
    assert!(
        e.starts_with("invalid directory.backend \"ldap\" in /etc/portcullis/portcullis.toml: not a directory backend"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    let e = error("[directory]\nbackend = \"postgres\"");
    assert!(e.contains("needs directory.url_file"), "{e}");
    assert!(error("[directory]\nmax_stale = 0").contains("must be a positive whole number"));
    assert!(error("[directory]\nmax_stale = -5").contains("directory.max_stale"));
    assert!(error("[directory]\nmax_stale = \"2x\"").contains("directory.max_stale"));
    assert!(error("[directory]\nurl_file = \"\"").contains("cannot be empty"));
    assert!(error("[directory]\nnode_name = \" \"").contains("directory.node_name"));
    assert!(error("[directory]\nnode_name = \"a\\nb\"").contains("control characters"));
    assert!(error("[directory]\nurl = \"x\"").contains("directory.url"));
}
