//! The address grammar as a specification: what parses, to what, and what is
//! refused with which reason.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn fwd(s: &str) -> Mailbox {
    match parse_forward_path(s, false) {
        Ok(m) => m,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn fwd_utf8(s: &str) -> Mailbox {
    match parse_forward_path(s, true) {
        Ok(m) => m,
        Err(e) => panic!("{s:?} should parse under SMTPUTF8: {e}"),
    }
}

/// Asserts that `s` is refused and that the reason contains `why`.
fn refused(s: &str, why: &str) {
    refused_with(s, false, why);
}

fn refused_with(s: &str, utf8: bool, why: &str) {
    match parse_forward_path(s, utf8) {
        Ok(m) => panic!("{s:?} should be refused, parsed as {m:?}"),
        Err(AddressError(reason)) => assert!(
            reason.contains(why),
            "{s:?}: reason {reason:?} does not mention {why:?}"
        ),
    }
}

fn mailbox(local: &str, domain: &str) -> Mailbox {
    Mailbox {
        local: local.into(),
        domain: Domain::Name(domain.into()),
    }
}

fn literal(local: &str, ip: IpAddr) -> Mailbox {
    Mailbox {
        local: local.into(),
        domain: Domain::Literal(ip),
    }
}

// --- the ordinary shapes ---------------------------------------------------

#[test]
fn plain_mailbox() {
    assert_eq!(fwd("<alice@example.com>"), mailbox("alice", "example.com"));
}

#[test]
fn single_label_domain() {
    assert_eq!(fwd("<root@localhost>"), mailbox("root", "localhost"));
}

#[test]
fn every_atext_character_is_allowed_in_a_dot_string() {
    let local = "a!#$%&'*+-/=?^_`{|}~z.0";
    assert_eq!(fwd(&format!("<{local}@x.test>")), mailbox(local, "x.test"));
}

#[test]
fn domain_is_lower_cased_local_part_is_not() {
    assert_eq!(
        fwd("<Alice.Smith@EXAMPLE.Com>"),
        mailbox("Alice.Smith", "example.com")
    );
}

#[test]
fn hyphens_inside_labels() {
    assert_eq!(
        fwd("<a@mx-1.ex--ample.test>"),
        mailbox("a", "mx-1.ex--ample.test")
    );
}

#[test]
fn quoted_local_part_keeps_its_quotes() {
    let m = fwd(r#"<"john doe"@example.com>"#);
    assert_eq!(m, mailbox(r#""john doe""#, "example.com"));
    assert_eq!(m.local_unquoted(), "john doe");
}

#[test]
fn quoted_pairs_are_undone_by_local_unquoted() {
    assert_eq!(fwd(r#"<"a\"b"@x.test>"#).local_unquoted(), r#"a"b"#);
    assert_eq!(fwd(r#"<"a\\b"@x.test>"#).local_unquoted(), r"a\b");
    assert_eq!(fwd(r#"<"\a"@x.test>"#).local_unquoted(), "a");
}

#[test]
fn local_unquoted_leaves_a_dot_string_alone() {
    assert_eq!(fwd("<a.b@x.test>").local_unquoted(), "a.b");
}

#[test]
fn source_route_is_ignored() {
    assert_eq!(
        fwd("<@a.example,@b.example:user@c.example>"),
        mailbox("user", "c.example")
    );
    assert_eq!(
        fwd("<@a.example:user@c.example>"),
        mailbox("user", "c.example")
    );
}

#[test]
fn source_route_syntax_is_still_checked() {
    refused(
        "<@a.example,b.example:user@c.example>",
        "expected '@' after ','",
    );
    refused("<@a.example,@b.example>", "must end with ':'");
    refused(
        "<@a_b.example:user@c.example>",
        "invalid character '_' in source route",
    );
    refused("<@:user@c.example>", "missing domain");
    refused("<@a.example.:user@c.example>", "ends with a dot");
    refused(
        "<@[192.0.2.1]:user@c.example>",
        "invalid character '[' in source route",
    );
}

// --- the relay tricks: the destination is always the LAST domain -----------

#[test]
fn percent_hack_is_a_local_part_character() {
    assert_eq!(
        fwd("<user%remote.example@local.test>"),
        mailbox("user%remote.example", "local.test")
    );
}

#[test]
fn bang_path_is_a_local_part_character() {
    assert_eq!(
        fwd("<remote.example!user@local.test>"),
        mailbox("remote.example!user", "local.test")
    );
}

#[test]
fn quoted_at_is_a_local_part_character() {
    let m = fwd(r#"<"user@remote.example"@local.test>"#);
    assert_eq!(m, mailbox(r#""user@remote.example""#, "local.test"));
    assert_eq!(m.local_unquoted(), "user@remote.example");
}

#[test]
fn source_route_through_local_goes_to_the_final_domain() {
    assert_eq!(
        fwd("<@local.test:user@remote.example>"),
        mailbox("user", "remote.example")
    );
}

#[test]
fn loopback_literal_is_a_literal() {
    assert_eq!(
        fwd("<user@[127.0.0.1]>"),
        literal("user", IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
}

#[test]
fn upper_case_domain_is_folded() {
    assert_eq!(fwd("<USER@LOCAL.TEST>"), mailbox("USER", "local.test"));
}

#[test]
fn trailing_dot_is_refused() {
    refused("<user@local.test.>", "ends with a dot");
}

#[test]
fn unquoted_second_at_is_refused() {
    refused("<user@remote.example@local.test>", "more than one '@'");
}

// --- address literals --------------------------------------------------------

#[test]
fn ipv6_literal() {
    let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
    assert_eq!(fwd("<a@[IPv6:2001:db8::1]>"), literal("a", IpAddr::V6(ip)));
    assert_eq!(fwd("<a@[ipv6:2001:DB8::1]>"), literal("a", IpAddr::V6(ip)));
}

#[test]
fn ipv4_mapped_ipv6_literal_is_the_ipv4_address() {
    assert_eq!(
        fwd("<a@[IPv6:::ffff:127.0.0.1]>"),
        literal("a", IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    assert_eq!(
        fwd("<a@[IPv6:::ffff:7f00:1]>"),
        literal("a", IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
}

#[test]
fn ipv6_loopback_literal() {
    assert_eq!(
        fwd("<a@[IPv6:::1]>"),
        literal("a", IpAddr::V6(Ipv6Addr::LOCALHOST))
    );
}

#[test]
fn bad_ipv4_literals_are_refused() {
    refused(
        "<a@[256.0.0.1]>",
        "invalid IPv4 address literal [256.0.0.1]",
    );
    refused("<a@[1.2.3]>", "invalid IPv4 address literal");
    refused("<a@[1.2.3.4.5]>", "invalid IPv4 address literal");
    refused("<a@[1.2.3.]>", "invalid IPv4 address literal");
    refused("<a@[0x7f.0.0.1]>", "invalid IPv4 address literal");
    refused("<a@[2130706433]>", "invalid IPv4 address literal");
    refused("<a@[1234.0.0.1]>", "invalid IPv4 address literal");
}

#[test]
fn leading_zero_in_ipv4_literal_is_refused_as_ambiguous() {
    refused(
        "<a@[010.0.0.1]>",
        "invalid IPv4 address literal [010.0.0.1]",
    );
    assert_eq!(
        fwd("<a@[10.0.0.0]>"),
        literal("a", IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)))
    );
}

#[test]
fn bad_ipv6_literals_are_refused() {
    refused("<a@[IPv6:2001:db8::g]>", "invalid IPv6 address literal");
    refused(
        "<a@[IPv6:1:2:3:4:5:6:7:8:9]>",
        "invalid IPv6 address literal",
    );
    refused("<a@[IPv6:fe80::1%eth0]>", "invalid IPv6 address literal");
    refused(
        "<a@[2001:db8::1]>",
        "unsupported address literal tag \"2001\"",
    );
}

#[test]
fn general_address_literals_are_refused() {
    refused(
        "<a@[x-tag:content]>",
        "unsupported address literal tag \"x-tag\"",
    );
}

#[test]
fn malformed_literals_are_refused() {
    refused("<a@[]>", "empty address literal");
    refused("<a@[1.2.3.4>", "unterminated address literal");
    refused("<a@[1.2.3.4", "unterminated address literal");
    refused("<a@[1.2.3.4 ]>", "space in address literal");
    refused("<a@[1.2.3.4]x>", "invalid character 'x' in domain");
}

// --- domains ---------------------------------------------------------------

#[test]
fn malformed_domains_are_refused() {
    refused("<a@.example.com>", "empty label");
    refused("<a@example..com>", "empty label");
    refused("<a@-example.com>", "hyphen");
    refused("<a@example-.com>", "hyphen");
    refused("<a@ex_ample.com>", "invalid character '_' in domain");
    refused("<a@>", "missing domain");
    refused("<a@example.com", "missing closing '>'");
    refused("<a@example.com SIZE=10", "missing closing '>'");
}

#[test]
fn dotted_quad_without_brackets_is_refused() {
    refused("<a@127.0.0.1>", "looks like an IP address");
    refused("<a@example.123>", "looks like an IP address");
    assert_eq!(fwd("<a@123.example>"), mailbox("a", "123.example"));
}

#[test]
fn label_length_limit_is_63() {
    let ok = "a".repeat(63);
    assert_eq!(
        fwd(&format!("<a@{ok}.test>")),
        mailbox("a", &format!("{ok}.test"))
    );
    refused(&format!("<a@{ok}a.test>"), "the limit is 63");
}

#[test]
fn domain_length_limit_is_255() {
    // The 256-octet path limit stops such a domain first; the check stands on
    // its own for names that reach it by other means.
    let label = "a".repeat(63);
    let name = [label.as_str(); 4].join(".");
    assert_eq!(name.len(), 255);
    assert_eq!(domain::check_domain_name(&name), Ok(name.clone()));
    let long = format!("b{name}");
    assert!(domain::check_domain_name(&long)
        .unwrap_err()
        .0
        .contains("the limit is 255"));
}

// --- local parts -----------------------------------------------------------

#[test]
fn malformed_dot_strings_are_refused() {
    refused("<.alice@x.test>", "starts with a dot");
    refused("<alice.@x.test>", "ends with a dot");
    refused("<al..ice@x.test>", "two dots in a row");
    refused("<al(ice@x.test>", "invalid character '(' in local part");
    refused("<al\"ice\"@x.test>", "invalid character '\"' in local part");
}

#[test]
fn empty_local_parts_are_refused() {
    refused("<@x.test>", "empty local part");
    refused("<\"\"@x.test>", "empty local part");
}

#[test]
fn malformed_quoted_strings_are_refused() {
    refused("<\"abc@x.test>", "unterminated quoted string");
    refused(
        "<\"a\tb\"@x.test>",
        "control character '\\t' in quoted local part",
    );
    refused("<\"a\\\u{1}\"@x.test>", "control character");
    refused("<\"ab\"c@x.test>", "invalid character 'c' in local part");
}

#[test]
fn local_part_length_limit_is_64() {
    let ok = "a".repeat(64);
    assert_eq!(fwd(&format!("<{ok}@x.test>")), mailbox(&ok, "x.test"));
    refused(&format!("<{ok}a@x.test>"), "the limit is 64");
    // Quotes count: they are part of the local part as written.
    let quoted = format!("\"{}\"", "a".repeat(63));
    refused(&format!("<{quoted}@x.test>"), "the limit is 64");
}

// --- whole paths -------------------------------------------------------------

#[test]
fn path_length_limit_is_256() {
    let domain = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(55)
    );
    let ok = format!("<{}@{domain}>", "u".repeat(6));
    assert_eq!(ok.len(), 256);
    assert!(parse_forward_path(&ok, false).is_ok());
    let long = format!("<{}@{domain}>", "u".repeat(7));
    refused(&long, "path is 257 octets long; the limit is 256");
}

#[test]
fn angle_brackets_are_required() {
    refused("alice@example.com", "missing '<'");
    refused("", "missing '<'");
    refused(" <alice@example.com>", "missing '<'");
}

#[test]
fn text_after_the_path_is_refused() {
    refused("<alice@example.com>x", "unexpected text \"x\" after '>'");
    refused("<alice@example.com> ", "after '>'");
    refused("<alice@example.com>>", "after '>'");
}

#[test]
fn missing_at_is_refused() {
    refused(
        "<alice>",
        "missing '@' and domain after local part \"alice\"",
    );
    refused("<\"alice\">", "missing '@'");
}

#[test]
fn spaces_and_control_characters_outside_quotes_are_refused() {
    refused("<al ice@x.test>", "space in local part");
    refused("< alice@x.test>", "space in local part");
    refused("<alice@x.test >", "space in domain");
    refused("<alice@x .test>", "space in domain");
    refused("<al\tice@x.test>", "control character '\\t' in local part");
    refused("<al\rice@x.test>", "control character '\\r' in local part");
    refused("<alice@x\0.test>", "control character '\\0' in domain");
    refused("<alice@x.test\n>", "control character '\\n' in domain");
    refused("<al\u{7f}ice@x.test>", "control character");
}

#[test]
fn null_path_is_not_a_recipient() {
    refused("<>", "null path");
}

#[test]
fn null_path_is_a_sender() {
    assert_eq!(parse_reverse_path("<>", false), Ok(ReversePath::Null));
}

#[test]
fn reverse_path_parses_like_a_forward_path() {
    assert_eq!(
        parse_reverse_path("<@relay.test:Bob@Example.ORG>", false),
        Ok(ReversePath::Mailbox(mailbox("Bob", "example.org")))
    );
    assert!(parse_reverse_path("< >", false).is_err());
    assert!(parse_reverse_path("<bob@example.org>x", false).is_err());
}

// --- postmaster ----------------------------------------------------------------

#[test]
fn bare_postmaster_is_this_server() {
    assert_eq!(fwd("<postmaster>"), mailbox("postmaster", ""));
    // Kept as written: case is not rewritten.
    assert_eq!(fwd("<PostMaster>"), mailbox("PostMaster", ""));
}

#[test]
fn bare_postmaster_displays_without_domain() {
    let m = fwd("<Postmaster>");
    assert_eq!(m.to_string(), "Postmaster");
    assert_eq!(fwd(&format!("<{m}>")), m);
}

#[test]
fn postmaster_with_domain_is_an_ordinary_mailbox() {
    assert_eq!(
        fwd("<postmaster@Example.com>"),
        mailbox("postmaster", "example.com")
    );
}

#[test]
fn bare_postmaster_is_not_a_sender() {
    assert!(parse_reverse_path("<postmaster>", false).is_err());
}

#[test]
fn only_the_exact_bare_postmaster_is_special() {
    refused("<postmaster >", "space");
    refused("<\"postmaster\">", "missing '@'");
    refused("<@a.test:postmaster>", "missing '@'");
}

// --- SMTPUTF8 ----------------------------------------------------------------

#[test]
fn non_ascii_needs_smtputf8() {
    refused(
        "<jörg@example.com>",
        "non-ASCII character 'ö' in local part requires SMTPUTF8",
    );
    refused(
        "<jorg@bücher.example>",
        "non-ASCII character 'ü' in domain requires SMTPUTF8",
    );
    refused("<\"jö rg\"@example.com>", "requires SMTPUTF8");
    assert!(parse_reverse_path("<jörg@example.com>", false).is_err());
}

#[test]
fn utf8_mailbox_under_smtputf8() {
    assert_eq!(
        fwd_utf8("<jörg@Bücher.Example>"),
        mailbox("jörg", "bücher.example")
    );
    assert_eq!(
        fwd_utf8("<\"jö rg\"@例え.テスト>"),
        mailbox("\"jö rg\"", "例え.テスト")
    );
    assert_eq!(
        parse_reverse_path("<ÄNDERUNG@BÜCHER.EXAMPLE>", true),
        Ok(ReversePath::Mailbox(mailbox("ÄNDERUNG", "bücher.example")))
    );
}

#[test]
fn utf8_controls_and_spaces_are_refused_even_under_smtputf8() {
    refused_with("<a\u{85}b@x.test>", true, "control character");
    refused_with("<a\u{a0}b@x.test>", true, "whitespace character");
    refused_with("<a@x\u{2028}.test>", true, "whitespace character");
    refused_with("<\"a\u{2029}b\"@x.test>", true, "whitespace character");
}

#[test]
fn utf8_limits_count_octets() {
    // 32 two-octet characters are 64 octets: the limit exactly.
    let ok = "é".repeat(32);
    assert_eq!(fwd_utf8(&format!("<{ok}@x.test>")), mailbox(&ok, "x.test"));
    refused_with(&format!("<{ok}e@x.test>"), true, "the limit is 64");
}

// --- Display -------------------------------------------------------------------

#[test]
fn display_writes_the_canonical_form() {
    assert_eq!(fwd("<@r.test:A@B.test>").to_string(), "A@b.test");
    assert_eq!(
        fwd("<a@[IPv6:2001:DB8:0::1]>").to_string(),
        "a@[IPv6:2001:db8::1]"
    );
    assert_eq!(
        fwd("<a@[IPv6:::ffff:192.0.2.1]>").to_string(),
        "a@[192.0.2.1]"
    );
    assert_eq!(fwd(r#"<"a b"@x.test>"#).to_string(), r#""a b"@x.test"#);
    assert_eq!(ReversePath::Null.to_string(), "");
}

// --- properties ----------------------------------------------------------------

fn atom() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}"
}

fn dot_string() -> impl Strategy<Value = String> {
    prop::collection::vec(atom(), 1..4).prop_map(|atoms| atoms.join("."))
}

fn quoted_string() -> impl Strategy<Value = String> {
    let qcontent = prop_oneof!["[ !#-\\[\\]-~]", "[ -~]".prop_map(|c| format!("\\{c}")),];
    prop::collection::vec(qcontent, 1..12).prop_map(|parts| format!("\"{}\"", parts.concat()))
}

fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?"
}

fn domain_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::collection::vec(label(), 0..3),
            "[a-zA-Z][a-zA-Z0-9]{0,5}"
        )
            .prop_map(|(mut labels, tld)| {
                labels.push(tld);
                labels.join(".")
            }),
        any::<Ipv4Addr>().prop_map(|a| format!("[{a}]")),
        any::<Ipv6Addr>().prop_map(|a| format!("[IPv6:{a}]")),
    ]
}

fn source_route() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 0..3).prop_map(|hops| {
        if hops.is_empty() {
            String::new()
        } else {
            let hops: Vec<String> = hops.iter().map(|h| format!("@{h}.test")).collect();
            format!("{}:", hops.join(","))
        }
    })
}

fn path_text() -> impl Strategy<Value = String> {
    (
        source_route(),
        prop_oneof![dot_string(), quoted_string()],
        domain_text(),
    )
        .prop_map(|(route, local, domain)| format!("<{route}{local}@{domain}>"))
}

/// UTF-8 mailboxes, with characters whose lower case differs in length or
/// leaves ASCII (`İ`, the Kelvin sign).
fn utf8_path_text() -> impl Strategy<Value = String> {
    let word = "[a-zA-Zéüß日本İKΣ]{1,6}";
    (word, word, "[a-zA-Zéüß日本İKΣ]{1,6}")
        .prop_map(|(local, label, tld)| format!("<{local}@{label}.{tld}>"))
}

proptest! {
    #[test]
    fn generated_paths_parse_and_display_round_trips(path in path_text()) {
        let parsed = parse_forward_path(&path, false);
        prop_assert!(parsed.is_ok(), "{path:?}: {parsed:?}");
        let m = parsed.unwrap();
        prop_assert_eq!(parse_forward_path(&format!("<{m}>"), false), Ok(m.clone()));
        prop_assert_eq!(
            parse_reverse_path(&format!("<{m}>"), false),
            Ok(ReversePath::Mailbox(m))
        );
    }

    #[test]
    fn utf8_paths_parse_and_display_round_trips(path in utf8_path_text()) {
        let m = parse_forward_path(&path, true);
        prop_assert!(m.is_ok(), "{path:?}: {m:?}");
        let m = m.unwrap();
        prop_assert_eq!(parse_forward_path(&format!("<{m}>"), true), Ok(m));
    }

    #[test]
    fn anything_that_parses_round_trips(s in "<[ -~é]{0,40}>", utf8 in any::<bool>()) {
        if let Ok(m) = parse_forward_path(&s, utf8) {
            prop_assert_eq!(parse_forward_path(&format!("<{m}>"), utf8), Ok(m));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,300}", utf8 in any::<bool>()) {
        let _ = parse_forward_path(&s, utf8);
        let _ = parse_reverse_path(&s, utf8);
    }

    #[test]
    fn the_destination_is_the_text_after_the_last_at(
        local in dot_string(),
        domain in "[a-z]{1,8}\\.test",
    ) {
        let m = parse_forward_path(&format!("<{local}@{domain}>"), false).unwrap();
        prop_assert_eq!(m.domain, Domain::Name(domain));
        prop_assert_eq!(m.local, local);
    }
}
