//! Warnings of the load report: open relay, broader than a /8, shadowed
//! entries, public ranges in a private list. None of them changes the list.

use super::*;

fn kinds(entries: &[&str]) -> Vec<(Option<usize>, WarningKind)> {
    compile(entries)
        .1
        .warnings()
        .map(|w| (w.index, w.kind))
        .collect()
}

fn messages(entries: &[&str]) -> Vec<String> {
    compile(entries)
        .1
        .warnings()
        .map(|w| w.to_string())
        .collect()
}

#[test]
fn the_default_list_is_clean() {
    assert_eq!(
        kinds(&["127.0.0.1", "::1", "192.0.2.25", "2001:db8::25"]),
        []
    );
    assert_eq!(kinds(&["10.*.*.*"]), [], "exactly a /8 is fine");
}

#[test]
fn broader_than_a_slash_8() {
    assert_eq!(
        messages(&["10-11.*.*.*"]),
        [
            r#"relay list warning: relay.allow[0] "10-11.*.*.*" allows 33554432 IPv4 addresses, more than a /8: check it is meant"#
        ]
    );
    assert_eq!(kinds(&["10.0.0.0/7"]), [(Some(0), WarningKind::Broad)]);
    assert_eq!(
        kinds(&["2001::/31"]),
        [
            (Some(0), WarningKind::Broad),
            (None, WarningKind::OpenRelay)
        ],
        "more public IPv6 than a /32 is an open relay"
    );
    assert_eq!(kinds(&["2001:db8::/32"]), []);
    // Private space is not "broad": all of link-local or unique-local is still local.
    assert_eq!(kinds(&["fe80::/10", "fc00::/7", "172.16.0.0/12"]), []);
    // An exception may be as broad as it likes: it only denies.
    assert_eq!(kinds(&["!10-11.*.*.*", "192.168.1.1"]), []);
}

#[test]
fn open_relay_is_flagged() {
    for entry in ["*.*.*.*", "0.0.0.0/0", "::/0"] {
        let (_, report) = compile(&["127.0.0.1", entry]);
        assert!(report.open_relay, "{entry}");
        assert_eq!(report.warnings().count(), 1, "{entry}");
        assert_eq!(
            report.warnings().next().unwrap().kind,
            WarningKind::OpenRelay
        );
        assert_eq!(report.warnings().next().unwrap().index, Some(1));
    }
    assert_eq!(
        messages(&["*.*.*.*"]),
        [
            r#"relay list warning: relay.allow[0] "*.*.*.*" allows every IPv4 address: this makes an open relay, refused unless --allow-open-relay"#
        ]
    );
    // Open except for a subnet is still an open relay.
    assert!(compile(&["!10.*.*.*", "*.*.*.*"]).1.open_relay);
    assert!(!compile(&["10.*.*.*"]).1.open_relay);
}

#[test]
fn entries_that_together_cover_everything_make_an_open_relay() {
    let (_, report) = compile(&["0-127.*.*.*", "128-255.*.*.*"]);
    assert!(report.open_relay);
    assert_eq!(
        report
            .warnings()
            .map(|w| (w.index, w.kind))
            .collect::<Vec<_>>(),
        [
            (Some(0), WarningKind::Broad),
            (Some(1), WarningKind::Broad),
            (None, WarningKind::OpenRelay)
        ]
    );
    assert_eq!(
        report.warnings().nth(2).unwrap().to_string(),
        "relay list warning: together the entries allow every IPv4 address: this makes an open relay, refused unless --allow-open-relay"
    );
    // One exception leaves nearly every address: still an open relay, said once.
    let (_, report) = compile(&["!8.8.8.8", "0-127.*.*.*", "128-255.*.*.*"]);
    assert!(report.open_relay);
    assert_eq!(
        report
            .warnings()
            .filter(|w| w.kind == WarningKind::OpenRelay)
            .count(),
        1
    );
}

#[test]
fn an_exception_for_everything_closes_the_list() {
    let (list, report) = compile(&["!*.*.*.*", "*.*.*.*"]);
    assert!(!report.open_relay);
    assert_eq!(
        report
            .warnings()
            .map(|w| (w.index, w.kind))
            .collect::<Vec<_>>(),
        [(Some(1), WarningKind::Shadowed)]
    );
    assert_eq!(decides(&list, "8.8.8.8"), Some((0, false)));
}

#[test]
fn fully_shadowed_entries_are_flagged() {
    assert_eq!(
        kinds(&["192.168.*.*", "192.168.1.7"]),
        [(Some(1), WarningKind::Shadowed)]
    );
    assert_eq!(
        kinds(&["10.0.0.1", "10.0.0.1"]),
        [(Some(1), WarningKind::Shadowed)]
    );
    assert_eq!(
        kinds(&["192.168.1.*", "192.168.0-1.*"]),
        [],
        "partly new: it decides for 192.168.0.*"
    );
    assert_eq!(
        messages(&["10.0.0.0/25", "!10.0.0.128/25", "10.0.0.*"]),
        [
            r#"relay list warning: relay.allow[2] "10.0.0.*" can never decide anything: everything it matches is matched first by relay.allow[0] "10.0.0.0/25", relay.allow[1] "!10.0.0.128/25""#
        ]
    );
    let many: Vec<String> = (0..8)
        .map(|n| format!("10.0.0.{n}"))
        .chain(["10.0.0.0-7".to_string()])
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let message = &messages(&many)[0];
    assert!(
        message.ends_with(r#"relay.allow[2] "10.0.0.2" and others"#),
        "{message}"
    );
}

#[test]
fn shadowed_names_need_both_their_addresses_and_their_domain_covered() {
    assert_eq!(
        kinds(&["example.com", "mail.example.com"]),
        [(Some(1), WarningKind::Shadowed)]
    );
    assert_eq!(kinds(&["mail.example.com", "example.com"]), []);
    assert_eq!(
        kinds(&["example.com", "example.com"]),
        [(Some(1), WarningKind::Shadowed)]
    );
    let dns = [
        (
            "example.com",
            NameResolution::Addresses(ips(&["192.0.2.1"])),
        ),
        (
            "mail.example.com",
            NameResolution::Addresses(ips(&["192.0.2.2"])),
        ),
    ];
    let (_, report) = compile_with(&["example.com", "mail.example.com"], &dns);
    assert_eq!(report.warnings().count(), 0, "its address is its own");
    let (_, report) = compile_with(&["192.0.2.0/24", "example.com", "mail.example.com"], &dns);
    assert_eq!(
        report
            .warnings()
            .map(|w| (w.index, w.kind))
            .collect::<Vec<_>>(),
        [(Some(2), WarningKind::Shadowed)]
    );
    assert!(report
        .warnings()
        .next()
        .unwrap()
        .to_string()
        .contains(r#"relay.allow[0] "192.0.2.0/24", relay.allow[1] "example.com""#));
}

#[test]
fn public_range_in_a_private_list() {
    assert_eq!(
        messages(&["192.168.1.*", "8.8.8.0/24"]),
        [
            r#"relay list warning: relay.allow[1] "8.8.8.0/24" is a public range in an otherwise private list (like relay.allow[0] "192.168.1.*"): check it is meant"#
        ]
    );
    assert_eq!(
        kinds(&["127.0.0.1", "2a00:1450::/32"]),
        [(Some(1), WarningKind::PublicInPrivateList)]
    );
    assert_eq!(
        kinds(&["fe80::/10", "19.168.1.*"]),
        [(Some(1), WarningKind::PublicInPrivateList)]
    );
    // Single public hosts (the server's own address) are not ranges.
    assert_eq!(kinds(&["192.168.1.*", "8.8.8.8"]), []);
    // All public, or all private: nothing mixed.
    assert_eq!(kinds(&["8.8.8.0/24", "9.9.9.0/24"]), []);
    assert_eq!(
        kinds(&["10.*.*.*", "172.16.0.0/12", "192.168.*.*", "fc00::/7"]),
        []
    );
    // A public exception is harmless.
    assert_eq!(kinds(&["192.168.1.*", "!8.8.8.0/24"]), []);
    // As many public entries as private ones: still "otherwise private".
    assert_eq!(
        kinds(&["192.168.1.0/24", "19.168.2.0/24"]),
        [(Some(1), WarningKind::PublicInPrivateList)]
    );
    assert_eq!(
        kinds(&["192.168.1.0/24", "8.8.8.8", "10.0.0.0/8", "19.168.2.0/24"]),
        [(Some(3), WarningKind::PublicInPrivateList)]
    );
    // Mostly public (a host and its public networks): not a private list.
    assert_eq!(kinds(&["127.0.0.1", "1.2.3.0/24", "5.6.7.0/24"]), []);
    assert_eq!(kinds(&["127.0.0.1", "8.8.8.8", "1.2.3.0/24"]), []);
    // Exceptions and names count on neither side.
    assert_eq!(
        kinds(&["192.168.1.0/24", "!10.0.0.0/8", "!9.9.9.0/24", "1.2.3.0/24"]),
        [(Some(3), WarningKind::PublicInPrivateList)]
    );
}

#[test]
fn a_single_label_name_may_be_a_whole_tld() {
    assert_eq!(kinds(&["com"]), [(Some(0), WarningKind::Broad)]);
    assert_eq!(kinds(&["localhost"]), []);
}

#[test]
fn warnings_never_change_the_list() {
    let (warned, report) = compile(&["192.168.*.*", "192.168.1.7", "10-11.*.*.*"]);
    let kinds: Vec<WarningKind> = report.warnings().map(|w| w.kind).collect();
    assert_eq!(
        kinds,
        [
            WarningKind::Shadowed,
            WarningKind::Broad,
            WarningKind::PublicInPrivateList
        ]
    );
    assert_eq!(decides(&warned, "11.0.0.1"), Some((2, true)));
    assert_eq!(decides(&warned, "192.168.1.7"), Some((0, true)));
}

#[test]
fn nearly_everyone_is_an_open_relay() {
    // A few addresses short of "every address" is still an open relay.
    for entries in [
        &["1-255.*.*.*"][..],
        &["0-254.*.*.*"],
        &["2000::/3"],
        &["127.0.0.1", "8.0.0.0/7"],
        &["!8.8.8.8", "*.*.*.*"],
        &["1-127.*.*.*", "!128-255.*.*.*", "::1"],
        &["2a00::/32", "2a01::/32"],
    ] {
        let (_, report) = compile(entries);
        assert!(report.open_relay, "{entries:?} is not refused");
    }
    let message = messages(&["127.0.0.1", "1-255.*.*.*"]).pop().unwrap();
    assert_eq!(
        message,
        r#"relay list warning: relay.allow admits 3702258688 public IPv4 addresses after its exceptions, more than a /8, through relay.allow[1] "1-255.*.*.*": this makes an open relay, refused unless --allow-open-relay"#
    );
    let message = messages(&["2000::/3"]).pop().unwrap();
    assert!(
        message.contains(r#"IPv6 addresses (about a /3) after its exceptions, more than a /32, through relay.allow[0] "2000::/3""#),
        "{message}"
    );
}

#[test]
fn exceptions_and_private_space_count_before_the_open_relay_guard() {
    for entries in [
        &["10.*.*.*"][..],
        &["8.*.*.*"],
        &["10-11.*.*.*"],
        &["10.*.*.*", "172.16.0.0/12", "192.168.*.*", "100.64.0.0/10"],
        &["!11-200.*.*.*", "11-201.*.*.*"],
        &["2a00::/32"],
        &["fc00::/7", "fe80::/10", "2001:db8::/32", "2a00::/32"],
        &["224-255.*.*.*"],
    ] {
        let (_, report) = compile(entries);
        assert!(!report.open_relay, "{entries:?} is refused");
    }
    // An exception that leaves more than a /8 still refuses, naming the allow entries.
    let message = messages(&["!8.0.0.0/6", "0-15.*.*.*"]).pop().unwrap();
    assert!(
        message.contains(r#"through relay.allow[1] "0-15.*.*.*""#),
        "{message}"
    );
}

#[test]
fn the_open_relay_message_names_the_largest_entries() {
    let entries: Vec<String> = (1..=9).map(|n| format!("{n}.*.*.*")).collect();
    let entries: Vec<&str> = entries.iter().map(String::as_str).collect();
    let message = messages(&entries).pop().unwrap();
    assert!(
        message.contains(r#"through relay.allow[0] "1.*.*.*", relay.allow[1] "2.*.*.*", relay.allow[2] "3.*.*.*", relay.allow[3] "4.*.*.*", relay.allow[4] "5.*.*.*" and 4 more:"#),
        "{message}"
    );
}
