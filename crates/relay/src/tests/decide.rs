//! docs/reference.md §3.3, in order: relaying disabled, then SMTP AUTH, then open relay,
//! then the list; with the reply each outcome sends and the rule it logs.

use std::sync::Arc;

use super::*;

fn policy(entries: &[&str]) -> RelayPolicy {
    let dns = [(
        "example.com",
        NameResolution::Addresses(ips(&["192.0.2.10"])),
    )];
    RelayPolicy {
        local_only: false,
        restricted: true,
        authenticated: true,
        list: Arc::new(compile_with(entries, &dns).0),
    }
}

fn wire(decision: &RelayDecision) -> Option<String> {
    decision
        .reply()
        .map(|r| String::from_utf8(r.to_bytes()).unwrap())
}

#[test]
fn listed_client_is_allowed_with_its_rule() {
    let p = policy(&["192.168.40-43.*"]);
    let client = ip("192.168.41.7");
    let d = p.decide(client, &ReverseDns::NotChecked, None);
    assert_eq!(
        d,
        RelayDecision::Allowed(Grant::List {
            index: 0,
            entry: "192.168.40-43.*".into(),
            via: MatchVia::Address
        })
    );
    assert!(d.is_allowed());
    assert_eq!(d.reply(), None);
    assert_eq!(d.rule(), r#"allow:"192.168.40-43.*""#);
    assert_eq!(
        d.explain(client),
        r#"relay allowed: 192.168.41.7 matches "192.168.40-43.*""#
    );
}

#[test]
fn unlisted_client_is_denied_554() {
    let p = policy(&["192.168.40-43.*"]);
    let client = ip("10.1.1.1");
    let d = p.decide(client, &ReverseDns::NotChecked, None);
    assert_eq!(d, RelayDecision::Denied(Denial::NotListed));
    assert!(!d.is_allowed());
    assert_eq!(
        wire(&d).as_deref(),
        Some("554 5.7.1 Relay access denied\r\n")
    );
    assert_eq!(d.rule(), "denied");
    assert_eq!(
        d.explain(client),
        "relay denied: 10.1.1.1 matches no relay.allow entry"
    );
}

#[test]
fn exception_is_denied_554_with_its_rule() {
    let p = policy(&["!192.168.99.*", "192.168.*.*"]);
    let client = ip("192.168.99.1");
    let d = p.decide(client, &ReverseDns::NotChecked, None);
    assert!(matches!(
        d,
        RelayDecision::Denied(Denial::Exception { index: 0, .. })
    ));
    assert_eq!(
        wire(&d).as_deref(),
        Some("554 5.7.1 Relay access denied\r\n")
    );
    assert_eq!(d.rule(), r#"except:"!192.168.99.*""#);
    assert_eq!(
        d.explain(client),
        r#"relay denied: 192.168.99.1 matches exception "!192.168.99.*""#
    );
    assert!(p
        .decide(ip("192.168.98.1"), &ReverseDns::NotChecked, None)
        .is_allowed());
}

#[test]
fn local_only_beats_authentication_and_the_list() {
    let mut p = policy(&["192.168.*.*"]);
    p.local_only = true;
    let client = ip("192.168.1.1");
    let d = p.decide(client, &ReverseDns::NotChecked, Some("alice"));
    assert_eq!(d, RelayDecision::Denied(Denial::LocalOnly));
    assert_eq!(
        wire(&d).as_deref(),
        Some("550 5.7.1 Relaying disabled on this server\r\n")
    );
    assert_eq!(d.rule(), "local_only");
    assert_eq!(
        d.explain(client),
        "relay denied: relay.local_only is true (relaying disabled on this server)"
    );
    p.restricted = false;
    assert_eq!(
        p.decide(client, &ReverseDns::NotChecked, None),
        RelayDecision::Denied(Denial::LocalOnly)
    );
}

#[test]
fn authentication_beats_the_list_and_its_exceptions() {
    let p = policy(&["!10.0.0.0/8"]);
    let client = ip("10.1.1.1");
    let d = p.decide(client, &ReverseDns::TempFail, Some("alice"));
    assert_eq!(d, RelayDecision::Allowed(Grant::Auth("alice".into())));
    assert_eq!(d.reply(), None);
    assert_eq!(d.rule(), "auth:alice");
    assert_eq!(
        d.explain(client),
        "relay allowed: 10.1.1.1 is authenticated as alice"
    );
}

#[test]
fn authentication_counts_only_with_relay_authenticated() {
    let mut p = policy(&["192.168.*.*"]);
    p.authenticated = false;
    assert_eq!(
        p.decide(ip("10.1.1.1"), &ReverseDns::NotChecked, Some("alice")),
        RelayDecision::Denied(Denial::NotListed)
    );
    assert!(p
        .decide(ip("192.168.1.1"), &ReverseDns::NotChecked, Some("alice"))
        .is_allowed());
}

#[test]
fn unrestricted_is_an_open_relay() {
    let mut p = policy(&[]);
    p.restricted = false;
    let d = p.decide(ip("203.0.113.9"), &ReverseDns::NotChecked, None);
    assert_eq!(d, RelayDecision::Allowed(Grant::OpenRelay));
    assert_eq!(d.rule(), "open");
    assert_eq!(
        d.explain(ip("203.0.113.9")),
        "relay allowed: relay.restricted is false (open relay)"
    );
    // Authentication still names the user when it applies.
    assert_eq!(
        p.decide(ip("203.0.113.9"), &ReverseDns::NotChecked, Some("bob"))
            .rule(),
        "auth:bob"
    );
}

#[test]
fn dns_failure_is_451_never_an_allow() {
    let p = policy(&["192.168.1.0/24", "example.com"]);
    let client = ip("10.9.9.9");
    let d = p.decide(client, &ReverseDns::TempFail, None);
    assert_eq!(
        d,
        RelayDecision::TempFail {
            entry: "example.com".into()
        }
    );
    assert!(!d.is_allowed());
    assert_eq!(
        wire(&d).as_deref(),
        Some("451 4.4.3 Temporary DNS failure checking relay permission, try again later\r\n")
    );
    assert_eq!(d.rule(), r#"dnsfail:"example.com""#);
    assert_eq!(
        d.explain(client),
        r#"relay deferred: the reverse DNS lookup of 10.9.9.9 failed temporarily and name entry "example.com" could change the answer"#
    );
    // Another entry allowing the client settles it without DNS.
    assert!(p
        .decide(ip("192.168.1.9"), &ReverseDns::TempFail, None)
        .is_allowed());
}

#[test]
fn verified_reverse_dns_is_named_in_the_explanation() {
    let p = policy(&["example.com"]);
    let client = ip("203.0.113.5");
    let d = p.decide(client, &verified(&["mx1.example.com"]), None);
    assert_eq!(d.rule(), r#"allow:"example.com""#);
    assert_eq!(
        d.explain(client),
        r#"relay allowed: 203.0.113.5 (verified reverse DNS mx1.example.com) matches "example.com""#
    );
    // Its resolved address matches too, by address.
    assert_eq!(
        p.decide(ip("192.0.2.10"), &ReverseDns::NotChecked, None)
            .explain(ip("192.0.2.10")),
        r#"relay allowed: 192.0.2.10 matches "example.com""#
    );
}

#[test]
fn mapped_ipv6_clients_get_ipv4_decisions() {
    let p = policy(&["!192.168.99.*", "192.168.*.*"]);
    assert!(matches!(
        p.decide(ip("::ffff:192.168.99.3"), &ReverseDns::NotChecked, None),
        RelayDecision::Denied(Denial::Exception { .. })
    ));
    assert!(p
        .decide(ip("::ffff:192.168.1.3"), &ReverseDns::NotChecked, None)
        .is_allowed());
}

#[test]
fn policy_asks_for_reverse_dns_only_when_the_list_decides() {
    let mut p = policy(&["192.168.*.*", "example.com"]);
    assert!(p.needs_reverse_dns(ip("10.0.0.1"), None));
    assert!(!p.needs_reverse_dns(ip("192.168.0.1"), None));
    assert!(!p.needs_reverse_dns(ip("10.0.0.1"), Some("alice")));
    p.restricted = false;
    assert!(!p.needs_reverse_dns(ip("10.0.0.1"), None));
    p.restricted = true;
    p.local_only = true;
    assert!(!p.needs_reverse_dns(ip("10.0.0.1"), None));
}

#[test]
fn odd_user_names_cannot_forge_log_fields() {
    let p = policy(&[]);
    let d = p.decide(
        ip("10.0.0.1"),
        &ReverseDns::NotChecked,
        Some("eve\nrelay=open"),
    );
    assert_eq!(d.rule(), r#"auth:"eve\nrelay=open""#);
    assert_eq!(
        p.decide(
            ip("10.0.0.1"),
            &ReverseDns::NotChecked,
            Some("bob@example.com")
        )
        .rule(),
        "auth:bob@example.com"
    );
}

#[test]
fn the_rule_kind_and_result_agree_with_the_logged_rule_and_the_reply() {
    let decisions = [
        RelayDecision::Allowed(Grant::Auth("alice".into())),
        RelayDecision::Allowed(Grant::OpenRelay),
        RelayDecision::Allowed(listed("192.168.40-43.*").0),
        RelayDecision::Denied(Denial::LocalOnly),
        RelayDecision::Denied(Denial::NotListed),
        RelayDecision::Denied(listed("!192.168.41.*").1),
        RelayDecision::TempFail {
            entry: "example.com".into(),
        },
    ];
    for d in decisions {
        let rule = d.rule();
        assert_eq!(rule.split(':').next(), Some(d.rule_kind()), "{rule}");
        let class = d.reply().map(|r| r.code / 100);
        let expected = match class {
            None => "granted",
            Some(4) => "tempfail",
            Some(_) => "denied",
        };
        assert_eq!(d.result(), expected, "{rule}");
    }
}

/// A grant and an exception through `entry`, matched by address.
fn listed(entry: &str) -> (Grant, Denial) {
    let grant = Grant::List {
        index: 0,
        entry: entry.to_string(),
        via: MatchVia::Address,
    };
    let denial = Denial::Exception {
        index: 0,
        entry: entry.to_string(),
        via: MatchVia::Address,
    };
    (grant, denial)
}
