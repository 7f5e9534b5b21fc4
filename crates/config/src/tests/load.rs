//! Loading: defaults for absent keys, notations, relative paths, and one
//! exact sentence for every kind of bad value.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{error, load, PATH};
use crate::{system_hostname, BareLf, Config, ConfigError, LogFormat};

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

#[test]
fn an_empty_file_gives_the_defaults_of_spec_section_2() {
    let cfg = load("").unwrap();
    let host = system_hostname();
    assert_eq!(cfg.path, PathBuf::from(PATH));
    assert_eq!(cfg.hostname, host);
    assert_eq!(
        cfg.data_dir,
        PathBuf::from("/etc/portcullis/portcullis-data")
    );
    let mut domains = vec![host.clone()];
    if host != "localhost" {
        domains.push("localhost".to_string());
    }
    assert_eq!(cfg.local_domains, domains);
    assert_eq!(cfg.listen.smtp, addrs(&["127.0.0.1:2525"]));
    assert_eq!(cfg.listen.submission, addrs(&["127.0.0.1:2587"]));
    assert_eq!(cfg.listen.submissions, addrs(&["127.0.0.1:2465"]));
    assert!(!cfg.relay.local_only);
    assert!(cfg.relay.restricted);
    assert_eq!(*cfg.relay.allow, ["127.0.0.1", "::1"]);
    assert!(cfg.relay.authenticated);
    assert_eq!(cfg.relay.smarthost, None);
    assert_eq!(
        cfg.auth.mechanisms,
        ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]
    );
    assert!(cfg.auth.plaintext_requires_tls);
    assert_eq!((cfg.tls.cert.clone(), cfg.tls.key.clone()), (None, None));
    assert_eq!(cfg.limits.message_size, 26_214_400);
    assert_eq!(cfg.limits.recipients, 100);
    assert_eq!(cfg.limits.errors, 10);
    assert_eq!(cfg.limits.command_timeout, 300);
    assert_eq!(cfg.limits.data_timeout, 180);
    assert_eq!(cfg.smtp.bare_lf, BareLf::Normalize);
    assert!(cfg.dns.nameservers.is_empty());
    assert_eq!(cfg.dns.timeout_ms, 5000);
    assert_eq!(cfg.log.file, None);
    assert_eq!(cfg.log.format, LogFormat::Text);
    assert_eq!(cfg.log.level, "info");
    assert_eq!(cfg.delivery.maildir, None);
    assert!(cfg.aliases.is_empty());
    assert!(cfg.routes.is_empty());
    assert_eq!(cfg, Config::defaults(Path::new(PATH)));
}

#[test]
fn the_system_host_name_is_a_valid_domain() {
    let host = system_hostname();
    assert_eq!(crate::values::parse_domain(&host), Ok(host.clone()));
}

#[test]
fn the_default_local_domains_follow_the_configured_hostname() {
    let cfg = load("hostname = \"Mail.Example.COM\"").unwrap();
    assert_eq!(cfg.hostname, "mail.example.com");
    assert_eq!(cfg.local_domains, ["mail.example.com", "localhost"]);
}

#[test]
fn a_full_file_is_read_with_its_notations() {
    let cfg = load(
        r#"
hostname = "mx.example.com"
data_dir = "/var/lib/portcullis"
local_domains = ["Example.COM.", "example.org", "example.com"]
[listen]
smtp = ["0.0.0.0:25", "[::]:25"]
submission = []
submissions = ["[::1]:465"]
[relay]
local_only = true
restricted = false
allow = ["192.168.40-43.*", "!192.168.99.*"]
authenticated = false
smarthost = "Smtp.Example.NET"
[auth]
mechanisms = ["plain", "Scram-Sha-256", "PLAIN"]
plaintext_requires_tls = false
[tls]
cert = "/etc/ssl/mail.pem"
key = "/etc/ssl/mail.key"
[limits]
message_size = 1000
recipients = 5
errors = 3
command_timeout = 60
data_timeout = 30
[smtp]
bare_lf = "reject"
[dns]
nameservers = ["192.0.2.53", "127.0.0.1:5353", "::1", "[::1]", "[2001:db8::53]:5353"]
timeout_ms = 250
[log]
file = "/var/log/portcullis.log"
format = "json"
level = "info,portcullis=debug"
[delivery]
maildir = "/var/mail/{user}/"
[aliases]
Postmaster = "alice"
abuse = ["alice", "Bob@Example.ORG"]
[routes]
"Example.NET" = "[2001:db8::1]"
"example.org" = "mx.example.org:2525"
"#,
    )
    .unwrap();
    assert_eq!(cfg.local_domains, ["example.com", "example.org"]);
    assert_eq!(cfg.listen.smtp, addrs(&["0.0.0.0:25", "[::]:25"]));
    assert!(cfg.listen.submission.is_empty());
    assert_eq!(cfg.listen.submissions, addrs(&["[::1]:465"]));
    assert!(cfg.relay.local_only && !cfg.relay.restricted && !cfg.relay.authenticated);
    assert_eq!(*cfg.relay.allow, ["192.168.40-43.*", "!192.168.99.*"]);
    assert_eq!(cfg.relay.smarthost.as_deref(), Some("smtp.example.net:25"));
    assert_eq!(cfg.auth.mechanisms, ["PLAIN", "SCRAM-SHA-256"]);
    assert!(!cfg.auth.plaintext_requires_tls);
    assert_eq!(cfg.tls.cert, Some(PathBuf::from("/etc/ssl/mail.pem")));
    assert_eq!(cfg.tls.key, Some(PathBuf::from("/etc/ssl/mail.key")));
    assert_eq!(
        (
            cfg.limits.message_size,
            cfg.limits.recipients,
            cfg.limits.errors
        ),
        (1000, 5, 3)
    );
    assert_eq!(
        (cfg.limits.command_timeout, cfg.limits.data_timeout),
        (60, 30)
    );
    assert_eq!(cfg.smtp.bare_lf, BareLf::Reject);
    assert_eq!(
        cfg.dns.nameservers,
        addrs(&[
            "192.0.2.53:53",
            "127.0.0.1:5353",
            "[::1]:53",
            "[::1]:53",
            "[2001:db8::53]:5353"
        ])
    );
    assert_eq!(cfg.dns.timeout_ms, 250);
    assert_eq!(cfg.log.file, Some(PathBuf::from("/var/log/portcullis.log")));
    assert_eq!(cfg.log.format, LogFormat::Json);
    assert_eq!(cfg.log.level, "info,portcullis=debug");
    assert_eq!(cfg.delivery.maildir.as_deref(), Some("/var/mail/{user}/"));
    let aliases: BTreeMap<String, Vec<String>> = [
        (
            "abuse".to_string(),
            vec!["alice".to_string(), "Bob@example.org".to_string()],
        ),
        ("postmaster".to_string(), vec!["alice".to_string()]),
    ]
    .into();
    assert_eq!(cfg.aliases, aliases);
    let routes: BTreeMap<String, String> = [
        ("example.net".to_string(), "[2001:db8::1]:25".to_string()),
        ("example.org".to_string(), "mx.example.org:2525".to_string()),
    ]
    .into();
    assert_eq!(cfg.routes, routes);
}

#[test]
fn relative_paths_resolve_against_the_config_files_directory() {
    let cfg = load(
        r#"
data_dir = "data"
[tls]
cert = "./certs/mail.pem"
key = "../secret/mail.key"
[log]
file = "portcullis.log"
"#,
    )
    .unwrap();
    assert_eq!(cfg.data_dir, PathBuf::from("/etc/portcullis/data"));
    assert_eq!(
        cfg.tls.cert,
        Some(PathBuf::from("/etc/portcullis/certs/mail.pem"))
    );
    assert_eq!(
        cfg.tls.key,
        Some(PathBuf::from("/etc/portcullis/../secret/mail.key"))
    );
    assert_eq!(
        cfg.log.file,
        Some(PathBuf::from("/etc/portcullis/portcullis.log"))
    );
}

#[test]
fn lmtp_takes_a_host_and_port_or_a_unix_socket() {
    use crate::Lmtp;
    let lmtp = |v: &str| {
        load(&format!("[delivery]\nlmtp = \"{v}\""))
            .unwrap()
            .delivery
            .lmtp
    };
    assert_eq!(load("").unwrap().delivery.lmtp, None);
    assert_eq!(lmtp("127.0.0.1:24"), Some(Lmtp::Tcp("127.0.0.1:24".into())));
    assert_eq!(lmtp("[::1]:24"), Some(Lmtp::Tcp("[::1]:24".into())));
    assert_eq!(
        lmtp("Store.Example:24"),
        Some(Lmtp::Tcp("store.example:24".into()))
    );
    assert_eq!(
        lmtp("unix:/run/dovecot/lmtp"),
        Some(Lmtp::Unix("/run/dovecot/lmtp".into()))
    );
    assert_eq!(
        lmtp("unix:lmtp.sock"),
        Some(Lmtp::Unix("/etc/portcullis/lmtp.sock".into()))
    );
    assert_eq!(
        lmtp("unix:/run/dovecot/lmtp").unwrap().to_string(),
        "unix:/run/dovecot/lmtp"
    );
}

#[test]
fn a_config_named_relatively_anchors_paths_in_the_current_directory() {
    let cfg = Config::from_str("", Path::new("conf/portcullis.toml")).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(cfg.data_dir, cwd.join("conf").join("portcullis-data"));
    let cfg = Config::from_str("", Path::new("portcullis.toml")).unwrap();
    assert_eq!(cfg.data_dir, cwd.join("portcullis-data"));
}

#[test]
fn a_certificate_without_a_key_file_holds_both() {
    let cfg = load("[tls]\ncert = \"mail.pem\"").unwrap();
    assert_eq!(
        cfg.tls.cert,
        Some(PathBuf::from("/etc/portcullis/mail.pem"))
    );
    assert_eq!(cfg.tls.key, cfg.tls.cert);
}

#[test]
fn malformed_relay_entries_do_not_fail_the_load() {
    // docs/reference.md §4: the relay module skips and logs them; the server still starts.
    let cfg = load("[relay]\nallow = [\"192.168.300.*\", \"10.0.0.0/33\", \"127.0.0.1\"]").unwrap();
    assert_eq!(
        *cfg.relay.allow,
        ["192.168.300.*", "10.0.0.0/33", "127.0.0.1"]
    );
}

#[test]
fn load_reads_the_file_and_names_it_when_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, "[limits]\nrecipients = 7\n").unwrap();
    let cfg = Config::load(&path).unwrap();
    assert_eq!(cfg.limits.recipients, 7);
    assert_eq!(cfg.data_dir, dir.path().join("portcullis-data"));

    let missing = dir.path().join("absent.toml");
    let err = Config::load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read {}: ", missing.display())),
        "{err}"
    );
}

/// `(file text, the exact sentence)`; F stands for the file's path.
const BAD_VALUES: &[(&str, &str)] = &[
    (
        "[listen]\nsmtp = [\"127.0.0.1\"]",
        r#"invalid listen.smtp "127.0.0.1" in F: not a socket address (expected IP:port, e.g. "127.0.0.1:2525" or "[::1]:2525")"#,
    ),
    (
        "[listen]\nsubmission = [\"127.0.0.1:2587\", \"localhost:2587\"]",
        r#"invalid listen.submission "localhost:2587" in F: not a socket address (expected IP:port, e.g. "127.0.0.1:2525" or "[::1]:2525")"#,
    ),
    (
        "[listen]\nsubmissions = [\"127.0.0.1:99999\"]",
        r#"invalid listen.submissions "127.0.0.1:99999" in F: not a socket address (expected IP:port, e.g. "127.0.0.1:2525" or "[::1]:2525")"#,
    ),
    (
        "[relay]\nrestricted = \"yes\"",
        r#"invalid relay.restricted "yes" in F: expected true or false"#,
    ),
    (
        "[auth]\nplaintext_requires_tls = 1",
        "invalid auth.plaintext_requires_tls 1 in F: expected true or false",
    ),
    (
        "[limits]\nrecipients = 0",
        "invalid limits.recipients 0 in F: must be a positive whole number",
    ),
    (
        "[limits]\nmessage_size = -1",
        "invalid limits.message_size -1 in F: must be a positive whole number",
    ),
    (
        "[limits]\nerrors = 4294967296",
        "invalid limits.errors 4294967296 in F: must be at most 4294967295",
    ),
    (
        "[limits]\ncommand_timeout = 0",
        "invalid limits.command_timeout 0 in F: must be a positive whole number",
    ),
    (
        "[limits]\ndata_timeout = 100000",
        "invalid limits.data_timeout 100000 in F: must be at most 86400",
    ),
    (
        "[limits]\nrecipients = \"100\"",
        r#"invalid limits.recipients "100" in F: expected a whole number"#,
    ),
    (
        "[limits]\nrecipients = 1.5",
        "invalid limits.recipients 1.5 in F: expected a whole number",
    ),
    (
        "[dns]\ntimeout_ms = -5",
        "invalid dns.timeout_ms -5 in F: must be a positive whole number",
    ),
    (
        "[auth]\nmechanisms = [\"PLAIN\", \"DIGEST-MD5\"]",
        r#"invalid auth.mechanisms "DIGEST-MD5" in F: unknown mechanism (allowed: SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN)"#,
    ),
    (
        "[smtp]\nbare_lf = \"strict\"",
        r#"invalid smtp.bare_lf "strict" in F: expected "normalize" or "reject""#,
    ),
    (
        "[log]\nformat = \"xml\"",
        r#"invalid log.format "xml" in F: expected "text" or "json""#,
    ),
    (
        "[log]\nlevel = \"\"",
        r#"invalid log.level "" in F: cannot be empty (e.g. "info")"#,
    ),
    (
        "[log]\nlevel = \"info debug\"",
        r#"invalid log.level "info debug" in F: a filter has no spaces (e.g. "info,portcullis=debug")"#,
    ),
    (
        "[delivery]\nmaildir = \"/var/mail/\"",
        r#"invalid delivery.maildir "/var/mail/" in F: the path template must contain {user}"#,
    ),
    (
        "[delivery]\nlmtp = \"127.0.0.1\"",
        r#"invalid delivery.lmtp "127.0.0.1" in F: the port is missing (expected "HOST:PORT" or "unix:/path/to/socket")"#,
    ),
    (
        "[delivery]\nlmtp = \"store.example:99999\"",
        r#"invalid delivery.lmtp "store.example:99999" in F: port "99999" is not a number from 1 to 65535 (expected "HOST:PORT" or "unix:/path/to/socket")"#,
    ),
    (
        "[delivery]\nlmtp = \"unix:\"",
        r#"invalid delivery.lmtp "unix:" in F: the socket path is empty (expected "HOST:PORT" or "unix:/path/to/socket")"#,
    ),
    (
        "local_domains = [\"example.com\", \"exa_mple.com\"]",
        r#"invalid local_domains "exa_mple.com" in F: '_' is not allowed in a domain name (letters, digits, '-' and '.' only)"#,
    ),
    (
        "local_domains = [\"-example.com\"]",
        r#"invalid local_domains "-example.com" in F: label "-example" starts or ends with '-'"#,
    ),
    (
        "local_domains = [\"example..com\"]",
        r#"invalid local_domains "example..com" in F: a domain name cannot have an empty label"#,
    ),
    (
        "local_domains = [\"\"]",
        r#"invalid local_domains "" in F: a domain name cannot be empty"#,
    ),
    (
        "hostname = \"mail server\"",
        r#"invalid hostname "mail server" in F: a space is not allowed in a domain name (letters, digits, '-' and '.' only)"#,
    ),
    ("hostname = 5", "invalid hostname 5 in F: expected a string"),
    (
        "[dns]\nnameservers = [\"127.0.0.1:99999\"]",
        r#"invalid dns.nameservers "127.0.0.1:99999" in F: not an IP address or IP:port (e.g. "192.0.2.53" or "127.0.0.1:5353")"#,
    ),
    (
        "[dns]\nnameservers = [\"ns1.example.com\"]",
        r#"invalid dns.nameservers "ns1.example.com" in F: not an IP address or IP:port (e.g. "192.0.2.53" or "127.0.0.1:5353")"#,
    ),
    (
        "[tls]\nkey = \"mail.key\"",
        r#"tls.key "mail.key" in F needs tls.cert to be set as well"#,
    ),
    (
        "[relay]\nsmarthost = \"smtp.example.com:0\"",
        r#"invalid relay.smarthost "smtp.example.com:0" in F: port "0" is not a number from 1 to 65535"#,
    ),
    (
        "[relay]\nallow = \"127.0.0.1\"",
        r#"invalid relay.allow "127.0.0.1" in F: expected a list of strings"#,
    ),
    (
        "[relay]\nallow = [\"127.0.0.1\", 5]",
        "invalid relay.allow 5 in F: expected a list of strings",
    ),
    (
        "relay = 5",
        "invalid relay 5 in F: expected a table ([relay])",
    ),
    (
        "[aliases]\npostmaster = []",
        "invalid aliases.postmaster [] in F: an alias needs at least one target",
    ),
    (
        "[aliases]\n\"root@example.com\" = \"alice\"",
        r#"invalid aliases.root@example.com "root@example.com" in F: '@' is not allowed in an alias name (write the local part only)"#,
    ),
    (
        "[aliases]\npostmaster = \"alice bob\"",
        r#"invalid aliases.postmaster "alice bob" in F: a space is not allowed in an alias target"#,
    ),
    (
        "[aliases]\npostmaster = \"alice\"\nPOSTMASTER = \"bob\"",
        r#"invalid aliases.postmaster "postmaster" in F: alias "postmaster" is defined twice (names are case-insensitive)"#,
    ),
    (
        "[routes]\n\"example.org\" = \"mx.example.org:99999\"",
        r#"invalid routes.example.org "mx.example.org:99999" in F: port "99999" is not a number from 1 to 65535"#,
    ),
    (
        "[routes]\n\"example.org\" = 25",
        "invalid routes.example.org 25 in F: expected a string",
    ),
];

#[test]
fn every_bad_value_is_refused_with_one_sentence_naming_key_and_value() {
    for (text, sentence) in BAD_VALUES {
        assert_eq!(
            error(text),
            sentence.replace(" F", &format!(" {PATH}")),
            "for {text:?}"
        );
    }
}

#[test]
fn unknown_keys_are_refused_with_the_closest_known_key() {
    let cases = [
        (
            "[relay]\nalow = []",
            r#"unknown key "relay.alow" in F (did you mean "relay.allow"?)"#,
        ),
        (
            "hostnme = \"x\"",
            r#"unknown key "hostnme" in F (did you mean "hostname"?)"#,
        ),
        (
            "[relai]\nallow = []",
            r#"unknown key "relai.allow" in F (did you mean "relay.allow"?)"#,
        ),
        (
            "[relai]",
            r#"unknown key "relai" in F (did you mean "relay"?)"#,
        ),
        (
            "relay.alow = []",
            r#"unknown key "relay.alow" in F (did you mean "relay.allow"?)"#,
        ),
        (
            "[limits]\nmessagesize = 5",
            r#"unknown key "limits.messagesize" in F (did you mean "limits.message_size"?)"#,
        ),
        (
            "[Relay]\nallow = []",
            r#"unknown key "Relay.allow" in F (did you mean "relay.allow"?)"#,
        ),
        ("[relay.extra]\nx = 1", r#"unknown key "relay.extra" in F"#),
        ("frobnicate = 1", r#"unknown key "frobnicate" in F"#),
        ("foo = 1", r#"unknown key "foo" in F"#),
    ];
    for (text, sentence) in cases {
        assert_eq!(
            error(text),
            sentence.replace(" F", &format!(" {PATH}")),
            "for {text:?}"
        );
    }
}

#[test]
fn a_syntax_error_names_the_line_and_column() {
    let err = error("hostname = \"a\"\n[relay\nallow = []\n");
    assert!(
        err.starts_with(&format!("{PATH} is not valid TOML at line 2, column 7: ")),
        "{err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn long_string_arrays_read_beside_the_parser_land_where_the_parser_puts_them() {
    let list = |prefix: &str| -> String {
        (0..6000)
            .map(|i| format!("\"{prefix}{}.{}\"", i / 256, i % 256))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "local_domains = [\"a.example\"]\n[relay]\nallow = [{}]\n[auth]\nnever_ban = [{}]\n[aliases]\nteam = [{}]\n",
        list("10.0."),
        list("10.9."),
        list("user")
    );
    let fast = crate::load::parse_raw(&text, "t.toml").unwrap();
    let slow = crate::load::parse_raw(&format!("{text}# {}\n", "'''"), "t.toml").unwrap();
    assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    let allow = fast.relay.as_ref().and_then(|r| r.allow.as_ref()).unwrap();
    assert_eq!((allow.len(), allow[0].as_str()), (6000, "10.0.0.0"));
    // A long array where no list of strings is expected: the parser's own error.
    let bad = format!("[relay]\nrestricted = [{}]\n", list("x"));
    let e = crate::load::parse_raw(&bad, "t.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("relay.restricted"), "{e}");
}
