//! First-match lists: exceptions, names with every reverse-DNS outcome, DNS
//! failures at load and at lookup, IPv4-mapped clients, and the load report.

use super::*;

#[test]
fn exception_before_the_lan_carves_out_the_guest_subnet() {
    let (list, _) = compile(&["!192.168.99.*", "192.168.*.*"]);
    assert_eq!(decides(&list, "192.168.98.1"), Some((1, true)));
    assert_eq!(decides(&list, "192.168.99.1"), Some((0, false)));
    assert_eq!(decides(&list, "192.168.99.255"), Some((0, false)));
    assert_eq!(decides(&list, "192.168.100.0"), Some((1, true)));
    assert_eq!(decides(&list, "192.169.0.0"), None);
    assert_eq!(
        list.lookup(ip("192.168.99.1"), &ReverseDns::NotChecked),
        ListMatch::Except {
            index: 0,
            entry: "!192.168.99.*".into(),
            via: MatchVia::Address
        }
    );
    assert_eq!(
        list.lookup(ip("192.168.98.1"), &ReverseDns::NotChecked),
        ListMatch::Allow {
            index: 1,
            entry: "192.168.*.*".into(),
            via: MatchVia::Address
        }
    );
}

#[test]
fn order_decides_an_exception_after_its_allow_never_applies() {
    let (list, report) = compile(&["192.168.*.*", "!192.168.99.*"]);
    assert_eq!(decides(&list, "192.168.99.1"), Some((0, true)));
    assert_eq!(report.warnings().count(), 1);
    assert_eq!(
        report.warnings().next().unwrap().kind,
        WarningKind::Shadowed
    );
}

#[test]
fn skipped_entries_keep_their_index() {
    let (list, report) = compile(&[
        "bad entry",
        "10.0.0.1",
        "192.168.300.1",
        "!10.0.0.2",
        "10.0.0.0/24",
    ]);
    assert_eq!((report.added, report.skipped), (3, 2));
    assert_eq!((list.len(), list.is_empty()), (3, false));
    assert_eq!(decides(&list, "10.0.0.1"), Some((1, true)));
    assert_eq!(decides(&list, "10.0.0.2"), Some((3, false)));
    assert_eq!(decides(&list, "10.0.0.3"), Some((4, true)));
    assert_eq!(list.entry(2), Some("192.168.300.1"));
    assert_eq!(list.entry(3), Some("!10.0.0.2"));
    assert_eq!(list.entry(5), None);
}

#[test]
fn empty_list_matches_nobody() {
    let (list, report) = compile(&[]);
    assert!(list.is_empty());
    assert_eq!(list.len(), 0);
    assert_eq!(decides(&list, "127.0.0.1"), None);
    assert!(!list.needs_reverse_dns(ip("127.0.0.1")));
    assert_eq!(report.summary(), "relay list: 0 entries added, 0 skipped");
    assert_eq!(RelayList::default(), list);
}

#[test]
fn ipv4_mapped_clients_are_looked_up_as_ipv4() {
    let (list, _) = compile(&["!10.0.0.5", "10.0.0.0/8", "::ffff:0:0/96"]);
    assert_eq!(decides(&list, "::ffff:10.0.0.5"), Some((0, false)));
    assert_eq!(decides(&list, "::ffff:10.0.0.6"), Some((1, true)));
    // `::ffff:0:0/96` is all of IPv4, written mapped.
    assert_eq!(decides(&list, "::ffff:192.0.2.1"), Some((2, true)));
    assert_eq!(decides(&list, "192.0.2.1"), Some((2, true)));
    assert_eq!(decides(&list, "2001:db8::1"), None);
}

fn dns() -> Vec<(&'static str, NameResolution)> {
    vec![
        (
            "example.com",
            NameResolution::Addresses(ips(&["192.0.2.10", "2001:db8::10"])),
        ),
        ("guest.example.com", NameResolution::NoAddress),
    ]
}

#[test]
fn name_addresses_are_hosts_in_list_order() {
    let (list, _) = compile_with(
        &["!guest.example.com", "example.com", "192.168.1.0/24"],
        &dns(),
    );
    assert_eq!(decides(&list, "192.0.2.10"), Some((1, true)));
    assert_eq!(decides(&list, "2001:db8::10"), Some((1, true)));
    assert_eq!(decides(&list, "192.0.2.11"), None);
    assert_eq!(
        list.addresses_of("example.com"),
        Some(&ips(&["192.0.2.10", "2001:db8::10"])[..])
    );
    assert_eq!(list.addresses_of("guest.example.com"), Some(&[][..]));
}

#[test]
fn names_match_verified_reverse_dns_as_domains() {
    let (list, _) = compile_with(
        &["!guest.example.com", "example.com", "192.168.1.0/24"],
        &dns(),
    );
    let client = ip("203.0.113.5");
    let allow = |name: &str| ListMatch::Allow {
        index: 1,
        entry: "example.com".into(),
        via: MatchVia::ReverseDns(name.into()),
    };
    assert_eq!(
        list.lookup(client, &verified(&["mail.example.com"])),
        allow("mail.example.com")
    );
    assert_eq!(
        list.lookup(client, &verified(&["example.com"])),
        allow("example.com")
    );
    assert_eq!(
        list.lookup(client, &verified(&["a.b.example.com"])),
        allow("a.b.example.com")
    );
    assert_eq!(
        list.lookup(client, &verified(&["Mail.Example.COM."])),
        allow("Mail.Example.COM.")
    );
    assert_eq!(
        list.lookup(client, &verified(&["guest.example.com"])),
        ListMatch::Except {
            index: 0,
            entry: "!guest.example.com".into(),
            via: MatchVia::ReverseDns("guest.example.com".into())
        }
    );
    // Exception first in the list: a client with both names is an exception.
    assert!(matches!(
        list.lookup(
            client,
            &verified(&["mail.example.com", "pc.guest.example.com"])
        ),
        ListMatch::Except { index: 0, .. }
    ));
    // Only on a label boundary.
    assert_eq!(
        list.lookup(client, &verified(&["badexample.com"])),
        ListMatch::NoMatch
    );
    assert_eq!(
        list.lookup(client, &verified(&["example.com.evil.org"])),
        ListMatch::NoMatch
    );
    assert_eq!(list.lookup(client, &verified(&[])), ListMatch::NoMatch);
    assert_eq!(list.lookup(client, &ReverseDns::NoName), ListMatch::NoMatch);
    // Not checked: names do not match.
    assert_eq!(
        list.lookup(client, &ReverseDns::NotChecked),
        ListMatch::NoMatch
    );
}

#[test]
fn an_earlier_address_entry_beats_a_later_name() {
    let (list, _) = compile_with(&["!192.168.1.66", "192.168.1.0/24", "example.com"], &dns());
    let client = ip("192.168.1.66");
    assert!(!list.needs_reverse_dns(client));
    assert!(matches!(
        list.lookup(client, &verified(&["mail.example.com"])),
        ListMatch::Except { index: 0, .. }
    ));
    assert!(matches!(
        list.lookup(client, &ReverseDns::TempFail),
        ListMatch::Except { index: 0, .. }
    ));
    assert!(matches!(
        list.lookup(ip("192.168.1.7"), &ReverseDns::TempFail),
        ListMatch::Allow { index: 1, .. }
    ));
    // Outside the LAN the name decides.
    assert!(list.needs_reverse_dns(ip("10.0.0.1")));
}

#[test]
fn needs_reverse_dns_only_when_a_name_comes_first() {
    let (list, _) = compile_with(
        &["10.0.0.0/8", "example.com", "!172.16.0.1", "172.16.0.0/12"],
        &dns(),
    );
    assert!(!list.needs_reverse_dns(ip("10.1.2.3")));
    assert!(list.needs_reverse_dns(ip("172.16.0.1")));
    assert!(list.needs_reverse_dns(ip("172.16.0.2")));
    assert!(list.needs_reverse_dns(ip("8.8.8.8")));
    // The name's own addresses are decided by the name entry itself: no lookup needed.
    assert!(!list.needs_reverse_dns(ip("192.0.2.10")));
    let (only_ips, _) = compile(&["10.0.0.0/8"]);
    assert!(!only_ips.needs_reverse_dns(ip("8.8.8.8")));
}

#[test]
fn dns_failure_at_lookup_never_allows() {
    let (list, _) = compile_with(&["192.168.1.0/24", "example.com"], &dns());
    assert!(matches!(
        list.lookup(ip("192.168.1.7"), &ReverseDns::TempFail),
        ListMatch::Allow { index: 0, .. }
    ));
    assert_eq!(
        list.lookup(ip("10.9.9.9"), &ReverseDns::TempFail),
        ListMatch::TempFail {
            index: 1,
            entry: "example.com".into()
        }
    );
    // An exception address after the name: the name could still have allowed.
    let (list, _) = compile_with(&["example.com", "!10.0.0.0/8"], &dns());
    assert_eq!(
        list.lookup(ip("10.9.9.9"), &ReverseDns::TempFail),
        ListMatch::TempFail {
            index: 0,
            entry: "example.com".into()
        }
    );
}

#[test]
fn dns_failure_with_only_exception_names_denies_as_usual() {
    // Whatever the name would have said, the client is not allowed: no 451.
    let (list, _) = compile_with(&["!bad.example.com", "10.0.0.0/8"], &dns());
    assert_eq!(
        list.lookup(ip("172.16.0.1"), &ReverseDns::TempFail),
        ListMatch::NoMatch
    );
}

#[test]
fn dns_failure_defers_an_allow_an_earlier_exception_name_could_veto() {
    // The client may be "guest.example.com", which entry 0 denies: allowing
    // it because DNS failed would let a DNS failure allow relay.
    let (list, _) = compile_with(&["!guest.example.com", "192.168.1.0/24"], &dns());
    assert_eq!(
        list.lookup(ip("192.168.1.7"), &ReverseDns::TempFail),
        ListMatch::TempFail {
            index: 0,
            entry: "!guest.example.com".into()
        }
    );
    assert!(matches!(
        list.lookup(ip("192.168.1.7"), &ReverseDns::NoName),
        ListMatch::Allow { index: 1, .. }
    ));
}

#[test]
fn dns_failure_at_reload_keeps_the_previous_addresses() {
    let entries: Vec<String> = vec!["example.com".into(), "other.example".into()];
    let mut answers = HashMap::new();
    answers.insert(
        "example.com".to_string(),
        NameResolution::Addresses(ips(&["192.0.2.10", "192.0.2.11"])),
    );
    answers.insert("other.example".to_string(), NameResolution::TempFail);
    let (first, report) = RelayList::compile(&entries, &answers, None);
    assert_eq!(decides(&first, "192.0.2.10"), Some((0, true)));
    assert_eq!(
        report.lines[1].to_string(),
        "relay.allow[1] \"other.example\": added name other.example: DNS failed and there are no previous addresses to keep (matches by verified reverse DNS only until a reload resolves it); also matches verified reverse DNS other.example and *.other.example"
    );

    answers.insert("example.com".to_string(), NameResolution::TempFail);
    let (second, report) = RelayList::compile(&entries, &answers, Some(&first));
    assert_eq!(decides(&second, "192.0.2.10"), Some((0, true)));
    assert_eq!(decides(&second, "192.0.2.11"), Some((0, true)));
    assert_eq!(
        report.lines[0].to_string(),
        "relay.allow[0] \"example.com\": added name example.com: DNS failed, keeping 2 previous addresses: 192.0.2.10, 192.0.2.11; also matches verified reverse DNS example.com and *.example.com"
    );

    // Kept again across a second failure, then dropped once the name is gone.
    answers.remove("example.com"); // not resolved at all: treated as a failure
    let (third, _) = RelayList::compile(&entries, &answers, Some(&second));
    assert_eq!(decides(&third, "192.0.2.11"), Some((0, true)));
    answers.insert("example.com".to_string(), NameResolution::NoAddress);
    let (fourth, report) = RelayList::compile(&entries, &answers, Some(&third));
    assert_eq!(decides(&fourth, "192.0.2.10"), None);
    assert_eq!(
        report.lines[0].to_string(),
        "relay.allow[0] \"example.com\": added name example.com: no address (matches by verified reverse DNS only); also matches verified reverse DNS example.com and *.example.com"
    );
}

#[test]
fn resolved_addresses_are_canonical() {
    let (list, report) = compile_with(
        &["example.com"],
        &[(
            "example.com",
            NameResolution::Addresses(ips(&["2001:db8::1", "::ffff:192.0.2.1", "192.0.2.1"])),
        )],
    );
    assert_eq!(
        list.addresses_of("example.com"),
        Some(&ips(&["192.0.2.1", "2001:db8::1"])[..])
    );
    assert_eq!(
        report.lines[0].to_string(),
        "relay.allow[0] \"example.com\": added name example.com: 192.0.2.1, 2001:db8::1; also matches verified reverse DNS example.com and *.example.com"
    );
    let (_, report) = compile_with(
        &["example.com"],
        &[("example.com", NameResolution::Addresses(vec![]))],
    );
    assert!(report.lines[0]
        .to_string()
        .contains("no address (matches by verified reverse DNS only)"));
}

#[test]
fn names_to_resolve_lists_each_parseable_name_once() {
    let entries: Vec<String> = [
        "example.com",
        "10.0.0.1",
        "!Guest.Example.com.",
        "bad_name.com",
        "example.com",
        "192.168.1.1a",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        RelayList::names_to_resolve(&entries),
        ["example.com", "guest.example.com"]
    );
}

#[test]
fn report_lines_say_what_each_entry_became() {
    let (_, report) = compile_with(
        &[
            "192.168.40-43.*",
            "!192.168.99.*",
            "192.168.300.*",
            "10.1-2.3.*",
            "2001:db8::/32",
            "::1",
            "10.1-9.1.*",
            "guest.example.com",
        ],
        &dns(),
    );
    let lines: Vec<String> = report.lines.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            r#"relay.allow[0] "192.168.40-43.*": added 192.168.40.0-192.168.43.255"#,
            r#"relay.allow[1] "!192.168.99.*": added exception 192.168.99.0-192.168.99.255"#,
            r#"relay.allow[2] skipped: relay entry "192.168.300.*": octet 300 is over 255"#,
            r#"relay.allow[3] "10.1-2.3.*": added 10.1.3.0-10.1.3.255, 10.2.3.0-10.2.3.255"#,
            r#"relay.allow[4] "2001:db8::/32": added 2001:db8::/32"#,
            r#"relay.allow[5] "::1": added ::1"#,
            r#"relay.allow[6] "10.1-9.1.*": added 10.1.1.0-10.1.1.255, 10.2.1.0-10.2.1.255, 10.3.1.0-10.3.1.255, 10.4.1.0-10.4.1.255 and 5 more ranges"#,
            r#"relay.allow[7] "guest.example.com": added name guest.example.com: no address (matches by verified reverse DNS only); also matches verified reverse DNS guest.example.com and *.guest.example.com"#,
        ]
    );
    assert_eq!(report.summary(), "relay list: 7 entries added, 1 skipped");
    assert_eq!(
        (report.added, report.skipped, report.open_relay),
        (7, 1, false)
    );
    assert!(
        matches!(&report.lines[2].outcome, Outcome::Skipped(e) if e.kind == EntryErrorKind::OctetOver255 { octet: "300".into() })
    );
    let (_, one) = compile(&["10.0.0.1"]);
    assert_eq!(one.summary(), "relay list: 1 entry added, 0 skipped");
}

#[test]
fn log_lines_are_entries_then_warnings_then_summary() {
    let (_, report) = compile(&["192.168.*.*", "192.168.1.7", "bad_entry!"]);
    assert_eq!(
        report.log_lines(),
        [
            r#"relay.allow[0] "192.168.*.*": added 192.168.0.0-192.168.255.255"#.to_string(),
            r#"relay.allow[1] "192.168.1.7": added 192.168.1.7"#.to_string(),
            r#"relay.allow[2] skipped: relay entry "bad_entry!": character '_' is not allowed in a host name (letters, digits, hyphens and dots only)"#.to_string(),
            r#"relay list warning: relay.allow[1] "192.168.1.7" can never decide anything: everything it matches is matched first by relay.allow[0] "192.168.*.*""#.to_string(),
            "relay list: 2 entries added, 1 skipped".to_string(),
        ]
    );
}

#[test]
fn a_long_list_compiles_and_looks_up() {
    // Keeps the big-list path honest in debug builds too (the benchmark measures it).
    let entries: Vec<String> = (0..200_000u32)
        .map(|n| std::net::Ipv4Addr::from(0x0A00_0000 + n * 7).to_string())
        .collect();
    let (list, report) = RelayList::compile(&entries, &HashMap::new(), None);
    assert_eq!(report.added, 200_000);
    assert_eq!(decides(&list, "10.0.0.7"), Some((1, true)));
    assert_eq!(decides(&list, "10.0.0.8"), None);
    // Each host and the gap after it, the gap before the first, and the empty IPv6 table.
    assert_eq!(list.interval_count(), 2 * 200_000 + 2);
}

#[test]
fn a_report_of_the_problems_holds_the_skipped_and_warned_entries_only() {
    let entries: Vec<String> = ["192.168.*.*", "192.168.1.7", "10.0.0.300", "::1"]
        .iter()
        .map(|e| e.to_string())
        .collect();
    let (every_list, every) = RelayList::compile(&entries, &HashMap::new(), None);
    let (list, problems) =
        RelayList::compile_with(&entries, &HashMap::new(), None, Detail::Problems);
    // The same list, the same counts and problems; no line per added entry.
    assert_eq!(list, every_list);
    assert_eq!((problems.added, problems.skipped), (3, 1));
    assert_eq!(problems.summary(), every.summary());
    let kept: Vec<&ReportLine> = every.lines.iter().filter(|l| l.is_problem()).collect();
    assert_eq!(problems.lines.iter().collect::<Vec<_>>(), kept);
    assert_eq!(
        problems.log_lines(),
        [
            r#"relay.allow[2] skipped: relay entry "10.0.0.300": octet 300 is over 255"#,
            r#"relay list warning: relay.allow[1] "192.168.1.7" can never decide anything: everything it matches is matched first by relay.allow[0] "192.168.*.*""#,
            "relay list: 3 entries added, 1 skipped",
        ]
    );
}
