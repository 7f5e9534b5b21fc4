//! The outbound keys (issue 5): `[queue]`, the smarthost credentials,
//! `tls.outbound`, `tls.outbound_ca` and the outbound connection limits.

use std::path::PathBuf;

use super::{error, load, PATH};
use crate::{read_effective, TlsOutbound};

#[test]
fn the_outbound_defaults() {
    let cfg = load("").unwrap();
    assert_eq!(cfg.queue.lifetime, 432_000);
    assert_eq!(cfg.queue.retry_min, 60);
    assert_eq!(cfg.queue.retry_max, 3600);
    assert_eq!(cfg.queue.delay_warning, 14_400);
    assert_eq!(cfg.queue.mx_port, 25);
    assert_eq!(cfg.tls.outbound, TlsOutbound::Opportunistic);
    assert_eq!(cfg.tls.outbound_ca, None);
    assert_eq!(cfg.limits.outbound_connections, 100);
    assert_eq!(cfg.limits.outbound_per_destination, 20);
    assert_eq!(cfg.relay.smarthost_user, None);
    assert_eq!(cfg.relay.smarthost_password_file, None);
}

#[test]
fn a_full_outbound_setup_is_read() {
    let cfg = load(
        r#"
[relay]
smarthost = "smtp.isp.test:587"
smarthost_user = "portcullis"
smarthost_password_file = "secrets/smarthost"

[tls]
outbound = "require"
outbound_ca = "ca.pem"

[limits]
outbound_connections = 3
outbound_per_destination = 1

[queue]
lifetime = 30
retry_min = 1
retry_max = 2
delay_warning = 0
mx_port = 2525
"#,
    )
    .unwrap();
    assert_eq!(cfg.relay.smarthost.as_deref(), Some("smtp.isp.test:587"));
    assert_eq!(cfg.relay.smarthost_user.as_deref(), Some("portcullis"));
    assert_eq!(
        cfg.relay.smarthost_password_file,
        Some(PathBuf::from("/etc/portcullis/secrets/smarthost"))
    );
    assert_eq!(cfg.tls.outbound, TlsOutbound::Require);
    assert_eq!(
        cfg.tls.outbound_ca,
        Some(PathBuf::from("/etc/portcullis/ca.pem"))
    );
    assert_eq!(
        (
            cfg.limits.outbound_connections,
            cfg.limits.outbound_per_destination
        ),
        (3, 1)
    );
    assert_eq!(
        (
            cfg.queue.lifetime,
            cfg.queue.retry_min,
            cfg.queue.retry_max,
            cfg.queue.delay_warning,
            cfg.queue.mx_port
        ),
        (30, 1, 2, 0, 2525)
    );
    let lines = read_effective(&cfg);
    let get = |k: &str| {
        lines
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("tls.outbound").as_deref(), Some("require"));
    assert_eq!(get("queue.mx_port").as_deref(), Some("2525"));
    assert_eq!(get("relay.smarthost_user").as_deref(), Some("portcullis"));
}

#[test]
fn a_retry_min_above_the_default_max_raises_the_default_max() {
    let cfg = load("[queue]\nretry_min = 7200").unwrap();
    assert_eq!((cfg.queue.retry_min, cfg.queue.retry_max), (7200, 7200));
}

const BAD: &[(&str, &str)] = &[
    (
        "[queue]\nlifetime = 0",
        "invalid queue.lifetime 0 in F: must be a positive whole number",
    ),
    (
        "[queue]\nretry_min = -5",
        "invalid queue.retry_min -5 in F: must be a positive whole number",
    ),
    (
        "[queue]\nretry_min = 600\nretry_max = 60",
        "invalid queue.retry_max 60 in F: must be at least queue.retry_min (600)",
    ),
    (
        "[queue]\ndelay_warning = -1",
        "invalid queue.delay_warning -1 in F: must be from 0 (never) to 8640000 seconds",
    ),
    (
        "[queue]\nlifetime = 9999999999",
        "invalid queue.lifetime 9999999999 in F: must be at most 8640000",
    ),
    (
        "[queue]\nmx_port = 70000",
        "invalid queue.mx_port 70000 in F: must be at most 65535",
    ),
    (
        "[queue]\nmx_port = \"25\"",
        "invalid queue.mx_port \"25\" in F: expected a whole number",
    ),
    (
        "[tls]\noutbound = \"always\"",
        "invalid tls.outbound \"always\" in F: expected \"opportunistic\" or \"require\"",
    ),
    (
        "[tls]\noutbound_ca = \"\"",
        "invalid tls.outbound_ca \"\" in F: cannot be empty (e.g. \"/etc/ssl/relay-ca.pem\")",
    ),
    (
        "[limits]\noutbound_connections = 0",
        "invalid limits.outbound_connections 0 in F: must be a positive whole number",
    ),
    (
        "[limits]\noutbound_per_destination = 100000",
        "invalid limits.outbound_per_destination 100000 in F: must be at most 10000",
    ),
    (
        "[relay]\nsmarthost_user = \"u\"\nsmarthost_password_file = \"p\"",
        "relay.smarthost_user \"u\" in F needs relay.smarthost to be set as well",
    ),
    (
        "[relay]\nsmarthost = \"h:587\"\nsmarthost_user = \"u\"",
        "relay.smarthost_user \"u\" in F needs relay.smarthost_password_file to be set as well",
    ),
    (
        "[relay]\nsmarthost = \"h:587\"\nsmarthost_password_file = \"p\"",
        "relay.smarthost_password_file \"p\" in F needs relay.smarthost_user to be set as well",
    ),
    (
        "[relay]\nsmarthost = \"h:587\"\nsmarthost_user = \"\"\nsmarthost_password_file = \"p\"",
        "invalid relay.smarthost_user \"\" in F: cannot be empty (e.g. \"portcullis\")",
    ),
];

#[test]
fn every_bad_outbound_value_is_refused_with_one_sentence() {
    for (text, sentence) in BAD {
        assert_eq!(
            error(text),
            sentence.replace(" F", &format!(" {PATH}")),
            "for {text:?}"
        );
    }
}

#[test]
fn a_typo_in_the_queue_section_gets_a_suggestion() {
    assert_eq!(
        error("[queue]\nlifetme = 5"),
        format!("unknown key \"queue.lifetme\" in {PATH} (did you mean \"queue.lifetime\"?)")
    );
}
