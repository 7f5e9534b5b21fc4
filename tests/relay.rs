//! The relay decision seen from the network (docs/reference.md §3, §4): local users get
//! mail from anyone, remote destinations only from the allow list, every
//! notation of the seed documents holds at its range edges, and the
//! open-relay and local-only switches do what they say.
//!
//! Clients connect from many 127.x.y.z source addresses: Linux routes all of
//! 127.0.0.0/8 to the loopback interface, so the seed notations are
//! exercised on octets 2-4 (the first must stay 127).

use portcullis_testkit as common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{has_enhanced, Server, Setup, DENIED};

/// The relay-list notations of the seed documents, one per range kind.
const RANGES: &str = r#"
[relay]
allow = ["127.0.0.1", "127.0.40.*", "127.0.50-53.0-255", "127.0.60-61.*", "!127.0.70.9", "127.0.70.0/24", "127.0.80.5"]
"#;

fn ip(s: &str) -> Ipv4Addr {
    s.parse()
        .unwrap_or_else(|e| panic!("bad test address {s}: {e}"))
}

/// Opens a session from `src` and returns the reply to `RCPT TO:<rcpt>`.
fn rcpt_from(server: &Server, src: Ipv4Addr, from: &str, rcpt: &str) -> (u16, String) {
    let mut c = server.ehlo_from(src);
    c.expect(&format!("MAIL FROM:<{from}>"), 250);
    let reply = c.cmd(&format!("RCPT TO:<{rcpt}>"));
    c.quit_collect();
    reply
}

#[test]
fn relay_allow_list_holds_at_every_range_edge() {
    let server = Server::start(RANGES);
    let allowed = [
        "127.0.0.1",
        "127.0.40.0",
        "127.0.40.7",
        "127.0.40.255",
        "127.0.50.0",
        "127.0.51.128",
        "127.0.53.255",
        "127.0.60.0",
        "127.0.61.255",
        "127.0.70.0",
        "127.0.70.8",
        "127.0.70.10",
        "127.0.70.255",
        "127.0.80.5",
    ];
    let denied = [
        "127.0.0.2",
        "127.0.39.255",
        "127.0.41.0",
        "127.0.49.255",
        "127.0.54.0",
        "127.0.59.255",
        "127.0.62.0",
        "127.0.69.255",
        "127.0.70.9",
        "127.0.71.0",
        "127.0.80.4",
        "127.0.80.6",
        "127.1.40.7",
        "127.40.0.7",
    ];
    let mut wrong = Vec::new();
    for src in allowed {
        let (code, text) = rcpt_from(
            &server,
            ip(src),
            "someone@remote.example",
            "bob@remote.example",
        );
        if code != 250 {
            wrong.push(format!("{src}: expected 250 (allowed), got {text:?}"));
        }
    }
    for src in denied {
        let (code, text) = rcpt_from(
            &server,
            ip(src),
            "someone@remote.example",
            "bob@remote.example",
        );
        if code != 554 || !has_enhanced(&text, "5.7.1") {
            wrong.push(format!("{src}: expected 554 5.7.1 (denied), got {text:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "relay decisions wrong:\n{}\n--- log ---\n{}",
        wrong.join("\n"),
        server.log()
    );
    // docs/reference.md §3: every grant and denial is logged with the deciding rule.
    let log = server.log();
    assert!(
        log.contains("127.0.40.*"),
        "log does not name the rule 127.0.40.*:\n{log}"
    );
    assert!(
        log.contains("relay=denied"),
        "log has no relay=denied line:\n{log}"
    );
}

#[test]
fn local_users_and_postmaster_receive_mail_from_any_address() {
    let server = Server::with_users("", &[("alice", "alice-secret-1")]);
    for src in ["127.0.0.1", "127.0.0.2", "127.0.99.99", "127.200.1.1"] {
        let mut c = server.ehlo_from(ip(src));
        c.expect("MAIL FROM:<someone@remote.example>", 250);
        c.expect("RCPT TO:<alice@local.test>", 250);
        c.expect("RCPT TO:<alice@localhost>", 250);
        c.expect("RCPT TO:<alice@LOCAL.TEST>", 250);
        c.expect_enhanced("RCPT TO:<nosuch@local.test>", 550, "5.1.1");
        // RFC 5321 §4.5.1: postmaster always exists, with or without a domain.
        c.expect("RCPT TO:<postmaster@local.test>", 250);
        c.expect("RCPT TO:<postmaster>", 250);
        c.expect("RCPT TO:<Postmaster>", 250);
        c.quit_collect();
    }
}

#[test]
fn remote_recipient_relays_only_from_allowed_address() {
    let server = Server::start("[relay]\nallow = [\"127.0.0.1\"]\n");
    let (code, text) = rcpt_from(
        &server,
        Ipv4Addr::LOCALHOST,
        "x@remote.example",
        "bob@remote.example",
    );
    assert_eq!(code, 250, "allowed client: {text}");
    let (code, text) = rcpt_from(&server, DENIED, "x@remote.example", "bob@remote.example");
    assert_eq!(code, 554, "denied client: {text}");
    assert!(has_enhanced(&text, "5.7.1"), "denied client: {text}");
}

#[test]
fn mail_from_never_influences_the_relay_decision() {
    let server = Server::with_users(
        "[relay]\nallow = [\"127.0.0.1\"]\n",
        &[("alice", "pw-alice-22")],
    );
    for from in [
        "alice@local.test",
        "postmaster@localhost",
        "",
        "bob@remote.example",
        "x@[127.0.0.1]",
    ] {
        let (code, text) = rcpt_from(&server, DENIED, from, "bob@remote.example");
        assert_eq!(code, 554, "MAIL FROM:<{from}> from a denied client: {text}");
    }
    // Nor does a HELO name claiming to be local.
    for helo in ["localhost", "[127.0.0.1]", "mx.test", "local.test"] {
        let mut c = server.client_from(DENIED);
        c.expect(&format!("EHLO {helo}"), 250);
        c.expect("MAIL FROM:<alice@local.test>", 250);
        c.expect_enhanced("RCPT TO:<bob@remote.example>", 554, "5.7.1");
        c.quit_collect();
    }
}

#[test]
fn local_only_refuses_remote_recipients_even_from_allowed_address() {
    let server = Server::with_users(
        "[relay]\nlocal_only = true\nallow = [\"127.0.0.1\"]\n",
        &[("alice", "pw-alice-33")],
    );
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<alice@local.test>", 250);
    c.expect_enhanced("RCPT TO:<bob@remote.example>", 550, "5.7.1");
    c.expect("RCPT TO:<alice@local.test>", 250);
    c.quit_collect();
}

#[test]
fn open_relay_is_refused_at_start_without_the_flag() {
    let setup = Setup::new("[relay]\nrestricted = false\nallow = [\"127.0.0.1\"]\n");
    let (status, output) = setup.serve_expecting_exit(&[], Duration::from_secs(10));
    let status =
        status.unwrap_or_else(|| panic!("serve with restricted = false kept running:\n{output}"));
    assert!(
        !status.success(),
        "serve with restricted = false exited 0:\n{output}"
    );
    let lower = output.to_lowercase();
    assert!(
        lower.contains("open relay") || lower.contains("open-relay"),
        "the refusal does not say why (open relay):\n{output}"
    );
}

#[test]
fn open_relay_runs_with_the_flag_and_relays_for_anyone() {
    let setup = Setup::new("[relay]\nrestricted = false\nallow = [\"127.0.0.1\"]\n");
    let server = setup.start_with(&["--allow-open-relay"]);
    let (code, text) = rcpt_from(&server, DENIED, "x@remote.example", "bob@remote.example");
    assert_eq!(code, 250, "open relay with --allow-open-relay: {text}");
}

#[test]
fn nearly_everyone_is_an_open_relay_refused_at_start_naming_the_entries() {
    // A list a few addresses short of everyone (after its exceptions) is as
    // open as `*.*.*.*`: more than a /8 of public IPv4 or a /32 of public IPv6.
    for entry in ["1-255.*.*.*", "0-254.*.*.*", "2000::/3"] {
        let setup = Setup::new(&format!(
            "[relay]\nallow = [\"127.0.0.1\", \"!127.0.0.9\", \"{entry}\"]\n"
        ));
        let named = format!("relay.allow[2] \"{entry}\"");
        let (status, output) = setup.serve_expecting_exit(&[], Duration::from_secs(10));
        let status = status.unwrap_or_else(|| panic!("serve with {entry} kept running:\n{output}"));
        assert!(!status.success(), "serve with {entry} exited 0:\n{output}");
        assert!(
            output.contains("open relay") && output.contains(&named),
            "the refusal of {entry} does not name it:\n{output}"
        );
        let out = setup.cli(&["config", "check"]);
        assert_eq!(out.status.code(), Some(2), "{}", common::describe(&out));
        // The refusal is the one sentence on stderr.
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&named),
            "config check does not name {entry}: {}",
            common::describe(&out)
        );
    }
}

#[test]
fn wildcard_everything_entry_never_opens_the_relay_without_the_flag() {
    // docs/reference.md §4: `*.*.*.*` makes an open relay: refused unless --allow-open-relay.
    // Either the server refuses to start, or it starts without that entry.
    let setup = Setup::new("[relay]\nallow = [\"127.0.0.1\", \"*.*.*.*\"]\n");
    match setup.try_start(&[]) {
        Err((_, log)) => {
            assert!(
                log.to_lowercase().contains("open relay")
                    || log.to_lowercase().contains("open-relay"),
                "refused to start without saying why:\n{log}"
            );
        }
        Ok(server) => {
            let (code, text) = rcpt_from(&server, DENIED, "x@remote.example", "bob@remote.example");
            assert_eq!(
                code, 554,
                "*.*.*.* opened the relay without --allow-open-relay: {text}"
            );
        }
    }
}

#[test]
fn check_relay_explains_the_decision_and_the_rule() {
    let setup = Setup::new(RANGES);
    let out = setup.cli(&[
        "check-relay",
        "--client",
        "127.0.40.7",
        "bob@remote.example",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", common::describe(&out));
    assert!(text.contains("relay allowed"), "{}", common::describe(&out));
    assert!(
        text.contains("\"127.0.40.*\""),
        "{}",
        common::describe(&out)
    );

    let out = setup.cli(&[
        "check-relay",
        "--client",
        "127.0.70.9",
        "bob@remote.example",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", common::describe(&out));
    assert!(text.contains("relay denied"), "{}", common::describe(&out));

    for client in ["127.0.40.7", "127.0.70.9"] {
        let out = setup.cli(&[
            "check-relay",
            "--json",
            "--client",
            client,
            "bob@remote.example",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", common::describe(&out));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let whole: Result<serde_json::Value, _> = serde_json::from_str(&text);
        let parsed = whole.is_ok()
            || (!text.trim().is_empty()
                && text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
        assert!(
            parsed,
            "--json output is not JSON: {}",
            common::describe(&out)
        );
        if client == "127.0.40.7" {
            assert!(
                text.contains("127.0.40.*"),
                "--json does not name the rule: {text}"
            );
        }
    }
}
