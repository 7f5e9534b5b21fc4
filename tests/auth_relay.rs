//! What AUTH buys (docs/reference.md §3, issue 4 §3): an authenticated client relays
//! from an address the relay list does not know, `relay.authenticated` and
//! `relay.local_only` limit that, the decision is logged with the user, and
//! the `Received:` header names the protocol per RFC 3848 (ESMTPA, ESMTPS,
//! ESMTPSA).

use portcullis_testkit as common;
use portcullis_testkit::auth_support;

use std::net::Ipv4Addr;

use auth_support::{received_header, server_with, Smtp, TlsOptions, ALICE_PW};
use common::{describe, queue_id, Server};

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

/// Sends `message` to bob from `c` (past EHLO and any AUTH); returns the
/// queue id and what bob got.
fn submit_to_bob(server: &Server, c: &mut Smtp, nth: usize, message: &[u8]) -> (String, String) {
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<bob@local.test>", 250, "2.1.5");
    c.expect("DATA", 354, "");
    c.send(message);
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}");
    let id = queue_id(&text).unwrap_or_else(|| panic!("no queue id in {text:?}"));
    let messages = server.wait_maildir("bob", nth);
    let got = messages
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .find(|m| m.contains(&format!(" id {id}")))
        .unwrap_or_else(|| panic!("message {id} not delivered\n{}", server.log()));
    (id, got)
}

fn count(haystack: &str, field: &str) -> usize {
    haystack
        .split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter(|l| l.to_ascii_lowercase().starts_with(field))
        .count()
}

#[test]
fn submitted_mail_gets_date_and_message_id_per_rfc_6409_and_relayed_mail_does_not() {
    let server = server_with("", &[("bob", "bob-Pw-3")]);
    let opts = TlsOptions::for_server(&server);

    // Submission port, STARTTLS + AUTH, no Date: or Message-ID: → both added,
    // the Message-ID naming the host.
    let mut c = session(OUTSIDE, server.submission_port);
    c.starttls(&opts);
    c.ehlo("client.test");
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 235);
    let (id, m) = submit_to_bob(&server, &mut c, 1, b"Subject: bare\r\n\r\nbody\r\n.\r\n");
    assert_eq!(count(&m, "date:"), 1, "{m}");
    assert!(
        m.contains(&format!("\r\nMessage-ID: <{id}@mx.test>\r\n")),
        "{m}"
    );
    assert!(m.ends_with("\r\nSubject: bare\r\n\r\nbody\r\n"), "{m}");

    // Fields the client wrote are kept, never doubled.
    let own = b"Date: Tue, 1 Dec 2026 10:00:00 +0100\r\nmessage-id: <own@client.test>\r\nSubject: own\r\n\r\nx\r\n.\r\n";
    let (_, m) = submit_to_bob(&server, &mut c, 2, own);
    assert_eq!(
        (count(&m, "date:"), count(&m, "message-id:")),
        (1, 1),
        "{m}"
    );
    assert!(
        m.contains("\r\nDate: Tue, 1 Dec 2026 10:00:00 +0100\r\n"),
        "{m}"
    );
    assert!(m.contains("\r\nmessage-id: <own@client.test>\r\n"), "{m}");

    // An authenticated session on the smtp listener is a submission too.
    let mut c = session(OUTSIDE, server.smtp_port);
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
    let (id, m) = submit_to_bob(&server, &mut c, 3, b"Subject: a\r\n\r\nb\r\n.\r\n");
    assert_eq!(count(&m, "date:"), 1, "{m}");
    assert!(
        m.contains(&format!("\r\nMessage-ID: <{id}@mx.test>\r\n")),
        "{m}"
    );

    // Mail from another server (no AUTH) is passed on as it came.
    let mut c = session(Ipv4Addr::LOCALHOST, server.smtp_port);
    let (_, m) = submit_to_bob(&server, &mut c, 4, b"Subject: relayed\r\n\r\nb\r\n.\r\n");
    assert_eq!(
        (count(&m, "date:"), count(&m, "message-id:")),
        (0, 0),
        "{m}"
    );
}
