//! What AUTH buys (docs/reference.md §3, issue 4 §3): an authenticated client relays
//! from an address the relay list does not know, `relay.authenticated` and
//! `relay.local_only` limit that, the decision is logged with the user, and
//! the `Received:` header names the protocol per RFC 3848 (ESMTPA, ESMTPS,
//! ESMTPSA).

mod auth_support;
mod common;

use std::net::Ipv4Addr;

use auth_support::{received_header, server_with, Smtp, TlsOptions, ALICE_PW};
use common::{describe, Server};

/// Not in the harness's `relay.allow` (127.0.0.1 only).
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(127, 0, 55, 5);

/// A session from `src` to `port`, past EHLO.
fn session(src: Ipv4Addr, port: u16) -> Smtp {
    let mut c = Smtp::plain(src, port).greeted();
    c.ehlo("client.test");
    c
}

#[test]
fn an_authenticated_client_relays_from_an_unlisted_address() {
    let server = server_with("", &[]);
    let mut c = session(OUTSIDE, server.smtp_port);
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<someone@example.org>", 554, "5.7.1");
    c.expect("RSET", 250, "2.0.0");
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<someone@example.org>", 250, "2.1.5");
    // The MAIL FROM does not matter: the authenticated session does.
    c.expect("RSET", 250, "2.0.0");
    c.expect("MAIL FROM:<forged@elsewhere.example>", 250, "2.1.0");
    c.expect("RCPT TO:<someone@example.org>", 250, "2.1.5");
    let log = server.log();
    assert!(log.contains("relay=auth:alice"), "{log}");
    assert!(log.contains("relay=denied"), "{log}");
    assert!(log.contains("127.0.55.5"), "{log}");
}

#[test]
fn submission_with_starttls_and_plain_relays_from_anywhere() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    let mut c = session(OUTSIDE, server.submission_port);
    c.starttls(&opts);
    c.ehlo("client.test");
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 235);
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<friend@example.net>", 250, "2.1.5");
    c.expect("DATA", 354, "");
    c.send(b"Subject: out\r\n\r\nhello\r\n.\r\n");
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}");
    // Implicit TLS with SCRAM as well.
    let mut c = Smtp::implicit_tls(OUTSIDE, server.submissions_port, &opts).greeted();
    c.ehlo("client.test");
    assert_eq!(c.auth_scram_sha256("alice", ALICE_PW).0, 235);
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<friend@example.net>", 250, "2.1.5");
}

#[test]
fn without_relay_authenticated_a_login_does_not_open_the_relay() {
    let server = server_with(
        "[relay]\nallow = [\"127.0.0.1\"]\nauthenticated = false\n",
        &[],
    );
    let mut c = session(OUTSIDE, server.smtp_port);
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<someone@example.org>", 554, "5.7.1");
    // Local users still get their mail.
    c.expect("RCPT TO:<alice@local.test>", 250, "2.1.5");
}

#[test]
fn local_only_beats_authentication() {
    let server = server_with("[relay]\nallow = [\"127.0.0.1\"]\nlocal_only = true\n", &[]);
    let mut c = session(OUTSIDE, server.smtp_port);
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<someone@example.org>", 550, "5.7.1");
}

#[test]
fn check_relay_explains_the_auth_grant() {
    let server = server_with("", &[]);
    let out = server.cli(&[
        "check-relay",
        "--client",
        "127.0.55.5",
        "--auth",
        "alice",
        "someone@example.org",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.contains("allowed") && text.contains("alice"), "{text}");
}

/// Sends one message to bob from `c` (already past EHLO and any AUTH) and
/// returns the `Received:` header of what bob got (`seen`: the messages before).
fn deliver_to_bob(server: &Server, c: &mut Smtp, nth: usize, seen: &mut Vec<Vec<u8>>) -> String {
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<bob@local.test>", 250, "2.1.5");
    c.expect("DATA", 354, "");
    c.send(b"Subject: trace\r\n\r\nbody\r\n.\r\n");
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}");
    let messages = server.wait_maildir("bob", nth);
    assert_eq!(messages.len(), nth);
    // Each message says which of the three it is in its Received header's
    // protocol; file names need not sort in arrival order, so return the one
    // not seen before.
    let fresh: Vec<&Vec<u8>> = messages.iter().filter(|m| !seen.contains(m)).collect();
    assert_eq!(fresh.len(), 1);
    seen.push(fresh[0].clone());
    received_header(fresh[0])
}

#[test]
fn received_names_the_protocol_per_rfc_3848() {
    let server = server_with("", &[("bob", "bob-Pw-2")]);
    let opts = TlsOptions::for_server(&server);
    let mut seen = Vec::new();
    let mut c = session(OUTSIDE, server.submission_port);
    c.starttls(&opts);
    c.ehlo("client.test");
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 235);
    let esmtpsa = deliver_to_bob(&server, &mut c, 1, &mut seen);
    assert!(esmtpsa.contains(" with ESMTPSA "), "{esmtpsa}");
    assert!(esmtpsa.contains("[127.0.55.5]"), "{esmtpsa}");

    let mut c = session(OUTSIDE, server.smtp_port);
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
    let esmtpa = deliver_to_bob(&server, &mut c, 2, &mut seen);
    assert!(esmtpa.contains(" with ESMTPA "), "{esmtpa}");

    let mut c = session(OUTSIDE, server.smtp_port);
    c.starttls(&opts);
    c.ehlo("client.test");
    let esmtps = deliver_to_bob(&server, &mut c, 3, &mut seen);
    assert!(esmtps.contains(" with ESMTPS "), "{esmtps}");
}
