//! docs/reference.md §4 notations: what each one covers, exactly, and every way to get
//! one wrong, with the sentence the admin reads.

use super::*;

fn covers(entry: &str, client: &str) -> bool {
    let (list, report) = compile(&[entry]);
    assert_eq!(report.skipped, 0, "{entry} should parse");
    decides(&list, client).is_some()
}

fn error(raw: &str) -> String {
    parse_entry(raw).unwrap_err().to_string()
}

fn kind(raw: &str) -> EntryKind {
    parse_entry(raw).unwrap().kind
}

#[test]
fn seed_single_address_is_only_itself() {
    assert!(covers("192.168.123.55", "192.168.123.55"));
    assert!(!covers("192.168.123.55", "192.168.123.54"));
    assert!(!covers("192.168.123.55", "192.168.123.56"));
}

#[test]
fn seed_star_is_the_whole_octet() {
    assert!(covers("192.168.40.*", "192.168.40.0"));
    assert!(covers("192.168.40.*", "192.168.40.255"));
    assert!(!covers("192.168.40.*", "192.168.41.0"));
    assert!(!covers("192.168.40.*", "192.168.39.255"));
}

#[test]
fn seed_explicit_ranges_are_inclusive() {
    for entry in ["192.168.40-43.0-255", "192.168.40-43.*"] {
        assert!(covers(entry, "192.168.40.0"), "{entry}");
        assert!(covers(entry, "192.168.43.255"), "{entry}");
        assert!(covers(entry, "192.168.41.7"), "{entry}");
        assert!(!covers(entry, "192.168.39.255"), "{entry}");
        assert!(!covers(entry, "192.168.44.0"), "{entry}");
    }
    assert_eq!(kind("192.168.40-43.*"), kind("192.168.40-43.0-255"));
}

#[test]
fn seed_host_and_domain_names() {
    assert_eq!(
        kind("myserver.example.com"),
        EntryKind::Name("myserver.example.com".into())
    );
    assert_eq!(kind("example.com"), EntryKind::Name("example.com".into()));
    // Case folded (RFC 4343), one trailing dot dropped.
    assert_eq!(
        kind("MyServer.Example.COM."),
        EntryKind::Name("myserver.example.com".into())
    );
    assert_eq!(kind("localhost"), EntryKind::Name("localhost".into()));
    assert_eq!(
        kind("1a.example.com"),
        EntryKind::Name("1a.example.com".into())
    );
    assert_eq!(
        kind("xn--bcher-kva.example"),
        EntryKind::Name("xn--bcher-kva.example".into())
    );
}

#[test]
fn middle_octet_ranges_leave_gaps() {
    // 10.1-2.3.*: 10.1.3.x and 10.2.3.x, not 10.1.4.x in between.
    assert!(covers("10.1-2.3.*", "10.1.3.0"));
    assert!(covers("10.1-2.3.*", "10.2.3.255"));
    assert!(!covers("10.1-2.3.*", "10.1.4.0"));
    assert!(!covers("10.1-2.3.*", "10.2.2.255"));
    assert!(parse_entry("1-2.*.*.1").is_err(), "131072 ranges");
    match kind("10.1-254.1-254.*") {
        EntryKind::Ranges(r) => assert_eq!(r.len(), 254),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cidr_edges() {
    assert!(covers("10.0.0.0/8", "10.0.0.0"));
    assert!(covers("10.0.0.0/8", "10.255.255.255"));
    assert!(!covers("10.0.0.0/8", "9.255.255.255"));
    assert!(!covers("10.0.0.0/8", "11.0.0.0"));
    assert!(covers("192.168.1.128/25", "192.168.1.128"));
    assert!(covers("192.168.1.128/25", "192.168.1.255"));
    assert!(!covers("192.168.1.128/25", "192.168.1.127"));
    assert!(covers("192.0.2.7/32", "192.0.2.7"));
    assert!(!covers("192.0.2.7/32", "192.0.2.8"));
    assert!(covers("0.0.0.0/0", "255.255.255.255"));
    assert_eq!(kind("10.0.0.0/8"), kind("10.*.*.*"));
}

#[test]
fn ipv6_cidr_and_hosts() {
    assert!(covers("2001:db8::/32", "2001:db8::"));
    assert!(covers(
        "2001:db8::/32",
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
    ));
    assert!(!covers("2001:db8::/32", "2001:db9::"));
    assert!(!covers(
        "2001:db8::/32",
        "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"
    ));
    assert!(covers("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert!(covers("2001:db8::1/128", "2001:db8::1"));
    // An IPv6 address without a prefix is one host, never a network.
    assert!(covers("::1", "::1"));
    assert!(!covers("::1", "::2"));
    assert!(!covers("::1", "::"));
    assert!(covers("2001:db8::5", "2001:db8::5"));
    assert!(!covers("2001:db8::5", "2001:db8::4"));
    // IPv6 entries never match IPv4 clients, and the reverse.
    assert!(!covers("::/0", "10.0.0.1"));
    assert!(!covers("*.*.*.*", "2001:db8::1"));
}

#[test]
fn ipv4_mapped_entries_are_ipv4() {
    let v4 = |s: &str, a: &str, b: &str| {
        assert_eq!(
            kind(s),
            EntryKind::Ranges(vec![IpRange::V4 {
                first: a.parse::<std::net::Ipv4Addr>().unwrap().into(),
                last: b.parse::<std::net::Ipv4Addr>().unwrap().into()
            }])
        )
    };
    v4("::ffff:10.0.0.1", "10.0.0.1", "10.0.0.1");
    v4("::ffff:10.0.0.0/104", "10.0.0.0", "10.255.255.255");
    assert!(covers("::ffff:10.0.0.1", "10.0.0.1"));
    assert!(covers("10.0.0.1", "::ffff:10.0.0.1"));
}

#[test]
fn exceptions_take_any_notation() {
    for raw in [
        "!192.168.99.*",
        "!10.0.0.0/8",
        "!::1",
        "!guest.example.com",
        "!192.168.1.1",
    ] {
        let entry = parse_entry(raw).unwrap();
        assert!(entry.negated, "{raw}");
        assert_eq!(entry.raw, raw);
    }
    assert!(!parse_entry("192.168.1.1").unwrap().negated);
}

#[test]
fn whitespace_is_trimmed() {
    let entry = parse_entry("  \t10.0.0.1 \n").unwrap();
    assert_eq!(entry.raw, "10.0.0.1");
}

#[test]
fn open_forms_parse() {
    for raw in ["*.*.*.*", "0.0.0.0/0", "::/0"] {
        assert!(parse_entry(raw).is_ok(), "{raw}");
    }
}

#[test]
fn malformed_entries_name_the_value() {
    let cases = [
        (
            "192.168.300.*",
            r#"relay entry "192.168.300.*": octet 300 is over 255"#,
        ),
        (
            "10.0.0.0/33",
            r#"relay entry "10.0.0.0/33": prefix length 33 is over 32"#,
        ),
        (
            "::/129",
            r#"relay entry "::/129": prefix length 129 is over 128"#,
        ),
        (
            "10.0.0.1/8",
            r#"relay entry "10.0.0.1/8": host bits are set under the /8 prefix (did you mean 10.0.0.0/8?)"#,
        ),
        (
            "2001:db8::1/32",
            r#"relay entry "2001:db8::1/32": host bits are set under the /32 prefix (did you mean 2001:db8::/32?)"#,
        ),
        (
            "192.168.43-40.*",
            r#"relay entry "192.168.43-40.*": range 43-40 is reversed (did you mean 40-43?)"#,
        ),
        (
            "192.168.010.1",
            r#"relay entry "192.168.010.1": octet 010 has a leading zero, which some read as octal: write it without"#,
        ),
        (
            "192.168..1",
            r#"relay entry "192.168..1": an octet is empty"#,
        ),
        (
            "192.168.*",
            r#"relay entry "192.168.*": an address pattern needs exactly four octets, like 192.168.40.* (found 3)"#,
        ),
        (
            "1.2.3.4.5",
            r#"relay entry "1.2.3.4.5": an address pattern needs exactly four octets, like 192.168.40.* (found 5)"#,
        ),
        (
            "10",
            r#"relay entry "10": an address pattern needs exactly four octets, like 192.168.40.* (found 1)"#,
        ),
        (
            "10.0.0.1.",
            r#"relay entry "10.0.0.1.": an address pattern needs exactly four octets, like 192.168.40.* (found 5)"#,
        ),
        (
            "1.2.3-.4",
            r#"relay entry "1.2.3-.4": octet "3-" is not a number, "*" or a range like 40-43"#,
        ),
        (
            "1.2.1-*.4",
            r#"relay entry "1.2.1-*.4": octet "1-*" is not a number, "*" or a range like 40-43"#,
        ),
        ("", r#"relay entry "": the entry is empty"#),
        ("   ", r#"relay entry "": the entry is empty"#),
        (
            "10.0.0.1 10.0.0.2",
            r#"relay entry "10.0.0.1 10.0.0.2": it contains whitespace (write one address, range or name per value)"#,
        ),
        (
            "! 10.0.0.1",
            r#"relay entry "! 10.0.0.1": it contains whitespace (write one address, range or name per value)"#,
        ),
        (
            "!",
            r#"relay entry "!": "!" must be followed by an address, range or name"#,
        ),
        (
            "!!10.0.0.1",
            r#"relay entry "!!10.0.0.1": only one "!" is allowed"#,
        ),
        (
            "1-254.1-254.1-254.1-254",
            r#"relay entry "1-254.1-254.1-254.1-254": the pattern needs 16387064 separate address ranges, more than 65536: write it as CIDR blocks (e.g. 10.0.0.0/8)"#,
        ),
        (
            "10.0.0.0/",
            r#"relay entry "10.0.0.0/": prefix length "" is not a plain decimal number"#,
        ),
        (
            "10.0.0.0/x",
            r#"relay entry "10.0.0.0/x": prefix length "x" is not a plain decimal number"#,
        ),
        (
            "10.0.0.0/08",
            r#"relay entry "10.0.0.0/08": prefix length "08" is not a plain decimal number"#,
        ),
        (
            "10.0.0.0/8/9",
            r#"relay entry "10.0.0.0/8/9": prefix length "8/9" is not a plain decimal number"#,
        ),
        (
            "10.0.*.0/24",
            r#"relay entry "10.0.*.0/24": the address before the prefix must be a plain address, not a pattern"#,
        ),
        (
            "example.com/24",
            r#"relay entry "example.com/24": "example.com" is not a valid IPv4 or IPv6 address"#,
        ),
        (
            "2001:db8::g",
            r#"relay entry "2001:db8::g": "2001:db8::g" is not a valid IPv4 or IPv6 address"#,
        ),
        (
            "fe80::1%eth0",
            r#"relay entry "fe80::1%eth0": "fe80::1%eth0" is not a valid IPv4 or IPv6 address"#,
        ),
        (
            "10.0.0.1:25",
            r#"relay entry "10.0.0.1:25": "10.0.0.1:25" is not a valid IPv4 or IPv6 address"#,
        ),
        (
            "foo_bar.example.com",
            r#"relay entry "foo_bar.example.com": character '_' is not allowed in a host name (letters, digits, hyphens and dots only)"#,
        ),
        (
            "exämple.com",
            r#"relay entry "exämple.com": character 'ä' is not allowed in a host name: write an internationalised name in its xn-- form"#,
        ),
        (
            "a..example.com",
            r#"relay entry "a..example.com": a host name label is empty (a leading dot or two dots in a row)"#,
        ),
        (
            ".example.com",
            r#"relay entry ".example.com": a host name label is empty (a leading dot or two dots in a row)"#,
        ),
        (
            "example.com..",
            r#"relay entry "example.com..": a host name label is empty (a leading dot or two dots in a row)"#,
        ),
        (
            "-foo.example.com",
            r#"relay entry "-foo.example.com": host name label "-foo" starts or ends with a hyphen"#,
        ),
        (
            "foo-.example.com",
            r#"relay entry "foo-.example.com": host name label "foo-" starts or ends with a hyphen"#,
        ),
        (
            "192.168.1.1a",
            r#"relay entry "192.168.1.1a": the last label of a host name must start with a letter; this looks like a mistyped address"#,
        ),
        (
            "*.example.com",
            r#"relay entry "*.example.com": a name already matches its subdomains: write "example.com" instead"#,
        ),
    ];
    for (raw, message) in cases {
        assert_eq!(error(raw), message, "{raw:?}");
    }
    let label = "a".repeat(64);
    assert_eq!(
        error(&format!("{label}.example.com")),
        format!("relay entry \"{label}.example.com\": host name label \"{label}\" is longer than 63 characters")
    );
    let long = format!("{}.com", vec!["a".repeat(62); 4].join("."));
    assert_eq!(long.len(), 255);
    assert_eq!(
        error(&long),
        format!("relay entry \"{long}\": the host name is 255 characters long, over 253")
    );
    let fits = format!(
        "{}.com",
        [
            "a".repeat(62),
            "a".repeat(62),
            "a".repeat(62),
            "a".repeat(60)
        ]
        .join(".")
    );
    assert_eq!(fits.len(), 253);
    assert!(parse_entry(&fits).is_ok());
    assert!(
        parse_entry(&format!("{fits}.")).is_ok(),
        "one trailing dot is not counted"
    );
}

#[test]
fn errors_carry_their_kind() {
    let e = parse_entry("192.168.300.*").unwrap_err();
    assert_eq!(e.raw, "192.168.300.*");
    assert_eq!(
        e.kind,
        EntryErrorKind::OctetOver255 {
            octet: "300".into()
        }
    );
    assert_eq!(parse_entry("!").unwrap_err().kind, EntryErrorKind::LoneBang);
}
