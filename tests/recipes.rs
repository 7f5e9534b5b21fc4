//! The seeds' set-ups as recipes (docs/recipes.md, issue 4 §5): each test
//! starts a server, applies exactly the recipe's `portcullis config ...`
//! commands and `portcullis reload` to it while it runs, and then proves
//! that phase's behaviour from the network: who may send to local users,
//! who may send to the Internet, and with which AUTH mechanisms.
//!
//! Addresses: the seed's `192.168.40-43.*` office becomes `127.0.40-43.*`
//! (all of 127/8 is loopback, so the test can connect from it); 127.0.0.1 is
//! the server itself; 127.0.55.5 is a roaming user outside every list.

use portcullis_testkit as common;
use portcullis_testkit::auth_support;

use std::net::Ipv4Addr;

use auth_support::{Smtp, ALICE_PW};
use common::relay_probe::{send, Got, Via, EVERY_MECHANISM};
use common::{describe, Server, Setup, Zone};

/// The server itself.
const SERVER: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// A machine in the office range of Phase II.
const OFFICE: Ipv4Addr = Ipv4Addr::new(127, 0, 41, 7);
/// A roaming user: in no list.
const ROAMING: Ipv4Addr = Ipv4Addr::new(127, 0, 55, 5);

const LOCAL_USER: &str = "bob@local.test";
const INTERNET: &str = "someone@example.org";

/// Runs `portcullis <args>` against the server's file, asserting success.
fn run(server: &Server, args: &[&str]) -> String {
    let out = server.cli(args);
    assert!(
        out.status.success(),
        "portcullis {args:?}: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `portcullis reload`, asserting the new configuration was applied.
fn reload(server: &Server) {
    let out = run(server, &["reload"]);
    assert!(out.contains("reload applied"), "{out}");
}

/// A running server with users alice and bob, started from the harness's
/// file (relay.allow = ["127.0.0.1"]), with `zone` as its DNS.
fn server(zone: Zone) -> Server {
    let setup = Setup::with_dns("", zone);
    setup.add_user("alice", ALICE_PW);
    setup.add_user("bob", "bob-Pw-2");
    setup.start()
}

/// Local users get mail from anyone, without AUTH, in every set-up.
fn local_users_get_mail_from_anyone(server: &Server) {
    for src in [SERVER, OFFICE, ROAMING] {
        assert_eq!(
            send(server, src, Via::None, LOCAL_USER),
            Got::Rcpt(250),
            "{src}"
        );
    }
}

/// The seed 10.2 default: "not to allow open relay and not to send email to
/// the Internet outside of your domain. It will, however, accept mail for
/// all local users from any sender."
fn apply_default(server: &Server) {
    run(server, &["config", "set", "relay.local_only", "true"]);
    reload(server);
}

/// Phase I: "allow the server to send mail to the Internet. It will also
/// allow anyone who first authenticates using the CRAM-MD5 protocol to send
/// mail to the Internet."
fn apply_phase_one(server: &Server) {
    run(server, &["config", "set", "relay.local_only", "false"]);
    run(server, &["config", "set", "relay.restricted", "true"]);
    run(
        server,
        &["config", "set", "relay.allow", "127.0.0.1", "::1"],
    );
    run(server, &["config", "set", "relay.authenticated", "true"]);
    run(server, &["config", "set", "auth.mechanisms", "CRAM-MD5"]);
    reload(server);
}

/// Phase II: "anyone connecting from an allowed IP address" as well.
fn apply_phase_two(server: &Server) {
    run(server, &["config", "add", "relay.allow", "127.0.40-43.*"]);
    reload(server);
}

/// Phase III: "anyone who first authenticates by any method".
fn apply_phase_three(server: &Server) {
    run(server, &["config", "unset", "auth.mechanisms"]);
    reload(server);
}

#[test]
fn seed_10_1_restricted_relay_procedure() {
    // A host name as in the seed's examples. (The domain notation matches
    // by forward-confirmed reverse DNS, which the resolver answers itself
    // for loopback addresses: tests/rdns_netns.rs covers it.)
    let zone = Zone::new().a("myserver.example.com", Ipv4Addr::new(127, 0, 90, 9));
    let server = server(zone);
    // Before: only the server itself may relay.
    assert_eq!(send(&server, OFFICE, Via::None, INTERNET), Got::Rcpt(554));
    // Step 7: enable Restricted SMTP Relay (open_relay_addr_flag 1).
    run(&server, &["config", "set", "relay.restricted", "true"]);
    // Step 8: add the list entries, every notation of the seed.
    run(
        &server,
        &[
            "config",
            "add",
            "relay.allow",
            "127.0.123.55",
            "127.0.40.*",
            "127.0.50-53.0-255",
            "127.0.60-61.*",
            "myserver.example.com",
            "example.com",
        ],
    );
    // A malformed entry is refused before anything is written.
    let bad = server.cli(&["config", "add", "relay.allow", "127.0.300.*"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    // Step 11: "Deliver mail to local addresses only" must be off.
    run(&server, &["config", "set", "relay.local_only", "false"]);
    // `niutil -read`: the settings as key: value lines.
    let read = run(&server, &["config", "read", "relay"]);
    assert!(read.contains("relay.restricted: true"), "{read}");
    assert!(
        read.contains("relay.allow: 127.0.0.1 127.0.123.55 127.0.40.* 127.0.50-53.0-255 127.0.60-61.* myserver.example.com example.com"),
        "{read}"
    );
    // Step 10 (kill -HUP): reload while running; the seed's log lines, one
    // per entry, are what `config check --verbose` prints (the reload
    // reports, as the log at info level, the summary and any problems).
    let report = run(&server, &["reload"]);
    assert!(
        report.contains("relay list: 7 entries added, 0 skipped"),
        "{report}"
    );
    let every = run(&server, &["config", "check", "--verbose"]);
    assert!(
        every.contains("\"127.0.40.*\": added 127.0.40.0-127.0.40.255"),
        "{every}"
    );
    for src in [
        Ipv4Addr::new(127, 0, 123, 55),
        Ipv4Addr::new(127, 0, 40, 200),
        Ipv4Addr::new(127, 0, 52, 1),
        Ipv4Addr::new(127, 0, 61, 255),
        Ipv4Addr::new(127, 0, 90, 9), // myserver.example.com's address
    ] {
        assert_eq!(
            send(&server, src, Via::None, INTERNET),
            Got::Rcpt(250),
            "{src}"
        );
    }
    // Everyone else is refused "regardless of the originating mail from"...
    assert_eq!(send(&server, ROAMING, Via::None, INTERNET), Got::Rcpt(554));
    assert_eq!(
        send(&server, Ipv4Addr::new(127, 0, 54, 1), Via::None, INTERNET),
        Got::Rcpt(554)
    );
    // ..."may do so by authenticating via SMTP AUTH".
    assert_eq!(
        send(&server, ROAMING, Via::CramMd5, INTERNET),
        Got::Rcpt(250)
    );
    local_users_get_mail_from_anyone(&server);
}

#[test]
fn seed_10_2_default_accepts_local_mail_and_sends_nothing_out() {
    let server = server(Zone::new());
    apply_default(&server);
    local_users_get_mail_from_anyone(&server);
    // Not even the server itself, nor an authenticated user, may send out.
    for src in [SERVER, OFFICE, ROAMING] {
        assert_eq!(
            send(&server, src, Via::None, INTERNET),
            Got::Rcpt(550),
            "{src}"
        );
    }
    for login in EVERY_MECHANISM {
        assert_eq!(
            send(&server, ROAMING, login, INTERNET),
            Got::Rcpt(550),
            "{login:?}"
        );
    }
}

#[test]
fn seed_10_2_phase_one_the_server_and_cram_md5_users_send_out() {
    let server = server(Zone::new());
    apply_default(&server);
    apply_phase_one(&server);
    local_users_get_mail_from_anyone(&server);
    assert_eq!(send(&server, SERVER, Via::None, INTERNET), Got::Rcpt(250));
    assert_eq!(send(&server, OFFICE, Via::None, INTERNET), Got::Rcpt(554));
    assert_eq!(send(&server, ROAMING, Via::None, INTERNET), Got::Rcpt(554));
    assert_eq!(
        send(&server, ROAMING, Via::CramMd5, INTERNET),
        Got::Rcpt(250)
    );
    // CRAM-MD5 is the only mechanism: the others are not even offered.
    for login in [Via::ScramSha256, Via::Plain, Via::Login] {
        assert_eq!(
            send(&server, ROAMING, login, INTERNET),
            Got::AuthRefused(504),
            "{login:?}"
        );
    }
    let mut c = Smtp::plain(ROAMING, server.smtp_port).greeted();
    let keywords = c.ehlo("client.test");
    assert_eq!(
        Smtp::auth_keyword(&keywords).as_deref(),
        Some("AUTH CRAM-MD5")
    );
}

#[test]
fn seed_10_2_phase_two_allowed_ranges_send_out_without_auth() {
    let server = server(Zone::new());
    apply_default(&server);
    apply_phase_one(&server);
    apply_phase_two(&server);
    local_users_get_mail_from_anyone(&server);
    assert_eq!(send(&server, SERVER, Via::None, INTERNET), Got::Rcpt(250));
    for src in [
        OFFICE,
        Ipv4Addr::new(127, 0, 40, 0),
        Ipv4Addr::new(127, 0, 43, 255),
    ] {
        assert_eq!(
            send(&server, src, Via::None, INTERNET),
            Got::Rcpt(250),
            "{src}"
        );
    }
    assert_eq!(
        send(&server, Ipv4Addr::new(127, 0, 44, 0), Via::None, INTERNET),
        Got::Rcpt(554)
    );
    assert_eq!(send(&server, ROAMING, Via::None, INTERNET), Got::Rcpt(554));
    assert_eq!(
        send(&server, ROAMING, Via::CramMd5, INTERNET),
        Got::Rcpt(250)
    );
    for login in [Via::ScramSha256, Via::Plain, Via::Login] {
        assert_eq!(
            send(&server, ROAMING, login, INTERNET),
            Got::AuthRefused(504),
            "{login:?}"
        );
    }
}

#[test]
fn seed_10_2_phase_three_any_authenticated_user_sends_out() {
    let server = server(Zone::new());
    apply_default(&server);
    apply_phase_one(&server);
    apply_phase_two(&server);
    apply_phase_three(&server);
    local_users_get_mail_from_anyone(&server);
    assert_eq!(send(&server, SERVER, Via::None, INTERNET), Got::Rcpt(250));
    assert_eq!(send(&server, OFFICE, Via::None, INTERNET), Got::Rcpt(250));
    assert_eq!(send(&server, ROAMING, Via::None, INTERNET), Got::Rcpt(554));
    for login in EVERY_MECHANISM {
        assert_eq!(
            send(&server, ROAMING, login, INTERNET),
            Got::Rcpt(250),
            "{login:?}"
        );
    }
    // The seed's warning, closed: PLAIN and LOGIN never travel in clear.
    let mut c = Smtp::plain(ROAMING, server.smtp_port).greeted();
    let keywords = c.ehlo("client.test");
    assert_eq!(
        Smtp::auth_keyword(&keywords).as_deref(),
        Some("AUTH SCRAM-SHA-256 CRAM-MD5")
    );
    c.expect("AUTH PLAIN", 538, "5.7.11");
    c.expect("AUTH LOGIN", 538, "5.7.11");
}
