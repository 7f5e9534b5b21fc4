//! `config set|add|remove|unset`: the change is made in place, comments and
//! layout survive, and anything that would not load is refused with the text
//! left as it was.

use super::load;
use crate::{edit, EditError, EditOp};

/// A hand-written file that sets every key (the layout the generated file
/// had before it commented its defaults out): the edits below work on live
/// keys. `commented_defaults.rs` covers the generated file.
const DEFAULT_CONFIG: &str = include_str!("every_key_set.toml");

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}
fn set(key: &str, values: &[&str]) -> EditOp {
    EditOp::Set(key.to_string(), strings(values))
}
fn add(key: &str, values: &[&str]) -> EditOp {
    EditOp::Add(key.to_string(), strings(values))
}
fn remove(key: &str, values: &[&str]) -> EditOp {
    EditOp::Remove(key.to_string(), strings(values))
}
fn unset(key: &str) -> EditOp {
    EditOp::Unset(key.to_string())
}

/// Applies `op` to `text`, expecting success.
fn apply(text: &str, op: EditOp) -> String {
    match edit(text, op.clone()) {
        Ok(out) => out,
        Err(e) => panic!("{op:?} failed: {e}"),
    }
}

/// Applies `op` to `text`, expecting the error `sentence`.
fn refused(text: &str, op: EditOp) -> String {
    match edit(text, op.clone()) {
        Ok(out) => panic!("{op:?} was accepted:\n{out}"),
        Err(e) => e.to_string(),
    }
}

/// `text` with exactly one occurrence of `from` replaced by `to`.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
    text.replacen(from, to, 1)
}

#[test]
fn set_replaces_a_scalar_keeping_its_comment() {
    let out = apply(DEFAULT_CONFIG, set("limits.recipients", &["50"]));
    assert_eq!(
        out,
        replaced(DEFAULT_CONFIG, "recipients = 100 ", "recipients = 50 ")
    );
    let out = apply(DEFAULT_CONFIG, set("relay.local_only", &["true"]));
    assert_eq!(
        out,
        replaced(DEFAULT_CONFIG, "local_only = false ", "local_only = true ")
    );
    let out = apply(DEFAULT_CONFIG, set("smtp.bare_lf", &["reject"]));
    assert_eq!(
        out,
        replaced(
            DEFAULT_CONFIG,
            "bare_lf = \"normalize\" ",
            "bare_lf = \"reject\" "
        )
    );
    assert_eq!(load(&out).unwrap().smtp.bare_lf, crate::BareLf::Reject);
}

#[test]
fn set_replaces_a_whole_list() {
    let out = apply(
        DEFAULT_CONFIG,
        set("relay.allow", &["192.168.40-43.*", "!192.168.99.*"]),
    );
    assert_eq!(
        out,
        replaced(
            DEFAULT_CONFIG,
            "allow = [\"127.0.0.1\", \"::1\"] ",
            "allow = [\"192.168.40-43.*\", \"!192.168.99.*\"] "
        )
    );
    let out = apply(DEFAULT_CONFIG, set("dns.nameservers", &[]));
    assert_eq!(out, DEFAULT_CONFIG);
}

#[test]
fn set_of_a_key_the_file_lacks_adds_it_to_its_section() {
    let out = apply(DEFAULT_CONFIG, set("hostname", &["mail.example.com"]));
    assert_eq!(load(&out).unwrap().hostname, "mail.example.com");
    // After the section's last line, which is the commented-out example.
    let expected = replaced(
        DEFAULT_CONFIG,
        "[hostname, \"localhost\"]\n\n[listen]",
        "[hostname, \"localhost\"]\nhostname = \"mail.example.com\"\n\n[listen]",
    );
    assert_eq!(out, expected);

    let out = apply(
        DEFAULT_CONFIG,
        set("relay.smarthost", &["smtp.example.net:587"]),
    );
    assert!(out.contains("  # send all outbound mail through this host[:port] instead of MX lookups\nsmarthost = \"smtp.example.net:587\"\n\n[auth]"), "{out}");
    assert_eq!(
        load(&out).unwrap().relay.smarthost.as_deref(),
        Some("smtp.example.net:587")
    );

    let out = apply("", set("limits.recipients", &["5"]));
    assert_eq!(out, "[limits]\nrecipients = 5\n");
}

#[test]
fn add_appends_to_an_inline_list() {
    let out = apply(
        DEFAULT_CONFIG,
        add("relay.allow", &["10.0.0.0/8", "example.com"]),
    );
    assert_eq!(
        out,
        replaced(
            DEFAULT_CONFIG,
            "allow = [\"127.0.0.1\", \"::1\"] ",
            "allow = [\"127.0.0.1\", \"::1\", \"10.0.0.0/8\", \"example.com\"] "
        )
    );
    let out = apply(DEFAULT_CONFIG, add("dns.nameservers", &["192.0.2.53"]));
    assert_eq!(
        out,
        replaced(
            DEFAULT_CONFIG,
            "nameservers = [] ",
            "nameservers = [\"192.0.2.53\"] "
        )
    );
}

#[test]
fn remove_takes_values_out_of_an_inline_list() {
    let out = apply(DEFAULT_CONFIG, remove("relay.allow", &["::1"]));
    assert_eq!(
        out,
        replaced(
            DEFAULT_CONFIG,
            "allow = [\"127.0.0.1\", \"::1\"] ",
            "allow = [\"127.0.0.1\"] "
        )
    );
    let out = apply(DEFAULT_CONFIG, remove("relay.allow", &["127.0.0.1"]));
    assert_eq!(
        out,
        replaced(
            DEFAULT_CONFIG,
            "allow = [\"127.0.0.1\", \"::1\"] ",
            "allow = [\"::1\"] "
        )
    );
    let out = apply(DEFAULT_CONFIG, remove("relay.allow", &["127.0.0.1", "::1"]));
    assert_eq!(
        out,
        replaced(
            DEFAULT_CONFIG,
            "allow = [\"127.0.0.1\", \"::1\"] ",
            "allow = [] "
        )
    );
}

const MULTILINE: &str = "[relay]\n\
allow = [\n    \"127.0.0.1\", # loopback\n    \"192.168.40-43.*\", # office\n    \"!192.168.99.*\", # guests\n] # who may relay\n";

#[test]
fn a_one_per_line_list_keeps_its_layout_and_line_comments() {
    let out = apply(MULTILINE, add("relay.allow", &["10.0.0.0/8"]));
    assert_eq!(
        out,
        "[relay]\n\
allow = [\n    \"127.0.0.1\", # loopback\n    \"192.168.40-43.*\", # office\n    \"!192.168.99.*\", # guests\n    \"10.0.0.0/8\",\n] # who may relay\n"
    );
    let out = apply(MULTILINE, remove("relay.allow", &["192.168.40-43.*"]));
    assert_eq!(
        out,
        "[relay]\nallow = [\n    \"127.0.0.1\", # loopback\n    \"!192.168.99.*\", # guests\n] # who may relay\n"
    );
    let out = apply(MULTILINE, remove("relay.allow", &["!192.168.99.*"]));
    assert_eq!(
        out,
        "[relay]\nallow = [\n    \"127.0.0.1\", # loopback\n    \"192.168.40-43.*\", # office\n] # who may relay\n"
    );
    let out = apply(MULTILINE, remove("relay.allow", &["127.0.0.1"]));
    assert_eq!(
        out,
        "[relay]\nallow = [\n    \"192.168.40-43.*\", # office\n    \"!192.168.99.*\", # guests\n] # who may relay\n"
    );
    let out = apply(MULTILINE, set("relay.allow", &["10.0.0.1", "10.0.0.2"]));
    assert_eq!(
        out,
        "[relay]\nallow = [\n    \"10.0.0.1\",\n    \"10.0.0.2\",\n] # who may relay\n"
    );
}

#[test]
fn a_one_per_line_list_without_trailing_comma_stays_valid() {
    let text = "[relay]\nallow = [\n  \"127.0.0.1\",\n  \"::1\" # loopback v6\n]\n";
    let out = apply(text, add("relay.allow", &["10.0.0.1"]));
    assert_eq!(
        out,
        "[relay]\nallow = [\n  \"127.0.0.1\",\n  \"::1\", # loopback v6\n  \"10.0.0.1\"\n]\n"
    );
    let out = apply(text, remove("relay.allow", &["::1"]));
    assert_eq!(out, "[relay]\nallow = [\n  \"127.0.0.1\"\n]\n");
}

#[test]
fn add_to_a_list_the_file_lacks_starts_from_its_default() {
    // What `config read` shows is what `config add` extends.
    let out = apply(
        "[relay]\nrestricted = true\n",
        add("relay.allow", &["10.0.0.0/8"]),
    );
    assert_eq!(
        out,
        "[relay]\nrestricted = true\nallow = [\"127.0.0.1\", \"::1\", \"10.0.0.0/8\"]\n"
    );
    let out = apply("# empty\n", add("relay.allow", &["10.0.0.0/8"]));
    assert_eq!(
        out,
        "# empty\n\n[relay]\nallow = [\"127.0.0.1\", \"::1\", \"10.0.0.0/8\"]\n"
    );
    let out = apply(
        "hostname = \"mx.example.com\"\n",
        add("local_domains", &["example.com"]),
    );
    assert_eq!(
        out,
        "hostname = \"mx.example.com\"\nlocal_domains = [\"mx.example.com\", \"localhost\", \"example.com\"]\n"
    );
    let out = apply("", remove("relay.allow", &["::1"]));
    assert_eq!(out, "[relay]\nallow = [\"127.0.0.1\"]\n");
}

#[test]
fn unset_removes_the_key_and_only_the_key() {
    let out = apply(DEFAULT_CONFIG, unset("limits.recipients"));
    assert_eq!(
        out,
        replaced(
            DEFAULT_CONFIG,
            "recipients = 100         # per message\n",
            ""
        )
    );
    assert_eq!(load(&out).unwrap().limits.recipients, 100);
    // A key the file does not set is already at its default.
    assert_eq!(
        apply(DEFAULT_CONFIG, unset("relay.smarthost")),
        DEFAULT_CONFIG
    );
    assert_eq!(apply("", unset("relay.allow")), "");
}

#[test]
fn unset_keeps_the_comment_lines_written_above_the_key() {
    let text = "[relay]\n# the office LAN\nallow = [\"10.0.0.0/8\"]\nrestricted = true\n\n[limits]\n# generous\nrecipients = 500\n";
    let out = apply(text, unset("relay.allow"));
    assert_eq!(
        out,
        "[relay]\n# the office LAN\nrestricted = true\n\n[limits]\n# generous\nrecipients = 500\n"
    );
    let out = apply(text, unset("limits.recipients"));
    assert_eq!(out, "[relay]\n# the office LAN\nallow = [\"10.0.0.0/8\"]\nrestricted = true\n\n[limits]\n# generous\n");
    let out = apply(
        "# the name\nhostname = \"mx.example.com\"\n\n[limits]\nerrors = 3\n",
        unset("hostname"),
    );
    assert_eq!(out, "# the name\n\n[limits]\nerrors = 3\n");
}

#[test]
fn a_sequence_of_edits_keeps_every_comment_and_the_key_order() {
    let mut text = DEFAULT_CONFIG.to_string();
    for op in [
        add("relay.allow", &["192.168.40-43.*"]),
        set("limits.message_size", &["1048576"]),
        remove("auth.mechanisms", &["LOGIN"]),
        set("hostname", &["mx.example.com"]),
        unset("limits.errors"),
        add("local_domains", &["example.com"]),
        set("aliases.postmaster", &["alice"]),
        set("routes.example.org", &["mx.example.org:25"]),
    ] {
        text = apply(&text, op);
    }
    let comments = |t: &str| -> Vec<String> {
        t.lines()
            .filter_map(|l| l.find('#').map(|i| l[i..].to_string()))
            .collect()
    };
    let before = comments(DEFAULT_CONFIG);
    let after = comments(&text);
    for c in &before {
        if c != "# error replies before the session is closed with 421" {
            assert!(after.contains(c), "lost comment {c:?} in:\n{text}");
        }
    }
    let order = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && (l.contains(" = ") || l.starts_with('[')))
            .map(|l| l.split(" = ").next().unwrap_or(l).to_string())
            .collect()
    };
    let kept: Vec<String> = order(&text)
        .into_iter()
        .filter(|k| order(DEFAULT_CONFIG).contains(k))
        .collect();
    let original: Vec<String> = order(DEFAULT_CONFIG)
        .into_iter()
        .filter(|k| k != "errors")
        .collect();
    assert_eq!(kept, original);
    let cfg = load(&text).unwrap();
    assert_eq!(*cfg.relay.allow, ["127.0.0.1", "::1", "192.168.40-43.*"]);
    assert_eq!(cfg.limits.message_size, 1_048_576);
    assert_eq!(cfg.limits.errors, 10);
    assert_eq!(cfg.auth.mechanisms, ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN"]);
    assert_eq!(
        cfg.local_domains,
        ["mx.example.com", "localhost", "example.com"]
    );
    assert_eq!(cfg.aliases["postmaster"], ["alice"]);
    assert_eq!(cfg.routes["example.org"], "mx.example.org:25");
}

#[test]
fn aliases_and_routes_are_keys_per_entry() {
    let out = apply(
        DEFAULT_CONFIG,
        set("aliases.postmaster", &["alice", "bob@example.org"]),
    );
    assert!(
        out.contains("[aliases]\n# postmaster = [\"alice\"]  # local name = targets (local users or full addresses)\npostmaster = [\"alice\", \"bob@example.org\"]\n\n[routes]"),
        "{out}"
    );
    // Names are case-insensitive: the file's spelling is kept.
    let text = "[aliases]\nPostmaster = \"alice\" # the boss\n";
    assert_eq!(
        apply(text, add("aliases.postmaster", &["bob"])),
        "[aliases]\nPostmaster = [\"alice\", \"bob\"] # the boss\n"
    );
    assert_eq!(apply(text, unset("aliases.POSTMASTER")), "[aliases]\n");
    assert_eq!(
        refused(text, remove("aliases.postmaster", &["alice"])),
        "invalid aliases.Postmaster [] in portcullis.toml: an alias needs at least one target"
    );
    let out = apply("", set("routes.Example.ORG", &["mx.example.org"]));
    assert_eq!(out, "[routes]\n\"example.org\" = \"mx.example.org\"\n");
    assert_eq!(
        load(&out).unwrap().routes["example.org"],
        "mx.example.org:25"
    );
}

#[test]
fn bad_requests_are_refused_with_one_sentence() {
    let cases = [
        (
            set("relay.alow", &["x"]),
            r#"unknown key "relay.alow" (did you mean "relay.allow"?)"#,
        ),
        (
            set("relay", &["x"]),
            r#""relay" is a table, not a key: name one of its keys, e.g. "relay.local_only""#,
        ),
        (
            set("aliases", &["x"]),
            r#""aliases" is a table, not a key: name one of its keys, e.g. "aliases.<name>""#,
        ),
        (
            set("relay.restricted", &["yes"]),
            r#"invalid relay.restricted "yes": expected true or false"#,
        ),
        (
            set("relay.restricted", &["true", "false"]),
            "relay.restricted takes exactly one value, not 2",
        ),
        (
            set("hostname", &[]),
            "hostname takes exactly one value, not 0",
        ),
        (
            set("limits.recipients", &["many"]),
            r#"invalid limits.recipients "many": expected a whole number"#,
        ),
        (
            add("relay.restricted", &["true"]),
            "relay.restricted is not a list: use `config set relay.restricted VALUE`",
        ),
        (
            remove("hostname", &["x"]),
            "hostname is not a list: use `config set hostname VALUE`",
        ),
        (
            add("relay.allow", &[]),
            "relay.allow needs at least one value to add",
        ),
        (
            add("relay.allow", &["::1"]),
            r#"relay.allow already contains "::1""#,
        ),
        (
            add("relay.allow", &["10.0.0.1", "10.0.0.1"]),
            r#"relay.allow already contains "10.0.0.1""#,
        ),
        (
            remove("relay.allow", &["10.9.9.9"]),
            r#"relay.allow does not contain "10.9.9.9""#,
        ),
        (
            set("limits.recipients", &["0"]),
            "invalid limits.recipients 0 in portcullis.toml: must be a positive whole number",
        ),
        (
            set("smtp.bare_lf", &["strict"]),
            r#"invalid smtp.bare_lf "strict" in portcullis.toml: expected "normalize" or "reject""#,
        ),
        (
            add("listen.smtp", &["0.0.0.0"]),
            r#"invalid listen.smtp "0.0.0.0" in portcullis.toml: not a socket address (expected IP:port, e.g. "127.0.0.1:2525" or "[::1]:2525")"#,
        ),
    ];
    for (op, sentence) in cases {
        assert_eq!(refused(DEFAULT_CONFIG, op.clone()), sentence, "for {op:?}");
    }
}

#[test]
fn malformed_relay_entries_are_refused_naming_the_entry_and_the_reason() {
    for entry in [
        "192.168.300.*",
        "10.0.0.0/33",
        "10.0.0.300",
        "192.168.43-40.*",
        "",
    ] {
        let reason = portcullis_relay::parse_entry(entry)
            .unwrap_err()
            .kind
            .to_string();
        let sentence = format!("invalid relay.allow entry \"{entry}\": {reason}");
        assert_eq!(
            refused(DEFAULT_CONFIG, add("relay.allow", &[entry])),
            sentence
        );
        assert_eq!(
            refused(DEFAULT_CONFIG, set("relay.allow", &["127.0.0.1", entry])),
            sentence
        );
    }
    assert!(
        refused(DEFAULT_CONFIG, add("relay.allow", &["192.168.300.*"]))
            .ends_with("octet 300 is over 255")
    );
    // A bad entry already in the file blocks every edit until it is fixed.
    let text = "[relay]\nallow = [\"10.0.0.0/33\"]\n";
    assert!(load(text).is_ok(), "a load only skips it");
    assert!(refused(text, set("limits.recipients", &["5"]))
        .starts_with("invalid relay.allow entry \"10.0.0.0/33\": "));
    assert_eq!(
        apply(text, set("relay.allow", &["10.0.0.0/8"])),
        "[relay]\nallow = [\"10.0.0.0/8\"]\n"
    );
}

#[test]
fn a_file_that_is_not_toml_is_not_edited() {
    let err = refused("[relay\n", set("limits.recipients", &["5"]));
    assert!(
        err.starts_with("portcullis.toml is not valid TOML at line 1, column 7: "),
        "{err}"
    );
    assert!(matches!(
        edit("relay = 5\n", add("relay.allow", &["10.0.0.1"])),
        Err(EditError::Config(_))
    ));
    assert_eq!(
        refused("relay = 5\n", add("relay.allow", &["10.0.0.1"])),
        "invalid relay 5 in portcullis.toml: expected a table ([relay])"
    );
}

#[test]
fn dotted_keys_and_inline_tables_are_edited_in_their_own_form() {
    let dotted = "relay.allow = [\"10.0.0.1\"] # dotted\nhostname = \"a.example\"\n";
    assert_eq!(
        apply(dotted, add("relay.allow", &["10.0.0.2"])),
        "relay.allow = [\"10.0.0.1\", \"10.0.0.2\"] # dotted\nhostname = \"a.example\"\n"
    );
    assert_eq!(
        apply(dotted, set("relay.restricted", &["false"])),
        "relay.allow = [\"10.0.0.1\"] # dotted\nrelay.restricted = false\nhostname = \"a.example\"\n"
    );
    assert_eq!(
        apply(dotted, unset("relay.allow")),
        "hostname = \"a.example\"\n"
    );
    let inline = "relay = { allow = [\"10.0.0.1\"] } # inline\n";
    assert_eq!(
        apply(inline, add("relay.allow", &["10.0.0.2"])),
        "relay = { allow = [\"10.0.0.1\", \"10.0.0.2\"] } # inline\n"
    );
    assert_eq!(apply(inline, unset("relay.allow")), "relay = {} # inline\n");
    let out = apply(inline, set("relay.restricted", &["false"]));
    assert!(!load(&out).unwrap().relay.restricted, "{out}");
}
