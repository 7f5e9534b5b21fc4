//! SMTP AUTH (RFC 4954) through the real binary, with the tests' own SASL
//! client: every mechanism succeeds with the right password and gets
//! `535 5.7.8` with a wrong one; PLAIN and LOGIN are refused with `538
//! 5.7.11` before TLS without a password ever being asked for; and every
//! other reply of the exchange (504, 501, 503, 530) as the issue lists it.

use portcullis_testkit as common;
use portcullis_testkit::auth_support;

use std::net::Ipv4Addr;

use auth_support::{server_with, Smtp, TlsOptions, ALICE_PW};

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// A submission session from 127.0.0.1 past EHLO, under TLS when `tls`.
fn submission(server: &common::Server, tls: bool) -> Smtp {
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    c.ehlo("client.test");
    if tls {
        c.starttls(&TlsOptions::for_server(server));
        c.ehlo("client.test");
    }
    c
}

/// A SASL login through the test client: `(client, user, password) -> final reply`.
type Login = fn(&mut Smtp, &str, &str) -> (u16, String);

/// Every mechanism: its name, its client, and whether it needs TLS first.
fn mechanisms() -> [(&'static str, Login, bool); 4] {
    [
        ("SCRAM-SHA-256", Smtp::auth_scram_sha256, false),
        ("CRAM-MD5", Smtp::auth_cram_md5, false),
        ("PLAIN", Smtp::auth_plain, true),
        ("LOGIN", Smtp::auth_login, true),
    ]
}

#[test]
fn every_mechanism_logs_in_through_the_real_server() {
    let server = server_with("", &[("bob", "bob-Pw-2")]);
    let logins = mechanisms();
    for (name, login, needs_tls) in logins {
        let mut c = submission(&server, needs_tls);
        let (code, text) = login(&mut c, "alice", ALICE_PW);
        assert_eq!(code, 235, "{name}: {}", c.transcript());
        assert!(text.starts_with("235 2.7.0"), "{name}: {text}");
        // Authenticated: the submission port now takes mail.
        c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
        c.expect("RCPT TO:<bob@local.test>", 250, "2.1.5");
    }
    // SCRAM and CRAM-MD5 work under TLS too.
    let mut c = submission(&server, true);
    assert_eq!(c.auth_scram_sha256("bob", "bob-Pw-2").0, 235);
    let mut c = submission(&server, true);
    assert_eq!(c.auth_cram_md5("bob", "bob-Pw-2").0, 235);
    let log = server.log();
    assert!(log.contains("AUTH succeeded"), "{log}");
    assert!(!log.contains(ALICE_PW), "a password reached the log");
}

#[test]
fn user_names_are_case_insensitive() {
    let server = server_with("", &[]);
    let mut c = submission(&server, true);
    assert_eq!(c.auth_plain("ALICE", ALICE_PW).0, 235);
    let mut c = submission(&server, false);
    assert_eq!(c.auth_cram_md5("Alice", ALICE_PW).0, 235);
}

#[test]
fn a_wrong_password_or_unknown_user_gets_535_5_7_8_with_every_mechanism() {
    // Eight deliberate failures from 127.0.0.1 (exempt from bans, not from
    // delays): the throttle is tested in tests/auth_throttle.rs, not here,
    // so its delays start far beyond them.
    let server = server_with("[auth]\ndelay_after = 1000\n", &[]);
    let logins = mechanisms();
    for (name, login, needs_tls) in logins {
        for (user, password) in [("alice", "wrong-password"), ("nobody", ALICE_PW)] {
            let mut c = submission(&server, needs_tls);
            let (code, text) = login(&mut c, user, password);
            assert_eq!(code, 535, "{name} {user}: {}", c.transcript());
            assert!(text.starts_with("535 5.7.8"), "{name}: {text}");
            // Still not authenticated.
            c.expect("MAIL FROM:<alice@local.test>", 530, "5.7.0");
        }
    }
}

#[test]
fn plain_and_login_before_tls_get_538_before_the_password_is_sent() {
    let server = server_with("", &[]);
    let mut c = submission(&server, false);
    // No initial response: the server must refuse at once, not with a 334
    // that would invite the password in clear.
    c.expect("AUTH PLAIN", 538, "5.7.11");
    c.expect("AUTH LOGIN", 538, "5.7.11");
    // Even a client that volunteers the credentials is refused, and they
    // are not checked (nor logged).
    let (code, text) = c.cmd(&format!(
        "AUTH PLAIN {}",
        auth_support::b64(format!("\0alice\0{ALICE_PW}"))
    ));
    assert_eq!(code, 538, "{text}");
    c.expect("MAIL FROM:<alice@local.test>", 530, "5.7.0");
    // The same on the smtp listener.
    let mut c = Smtp::plain(LO, server.smtp_port).greeted();
    c.ehlo("client.test");
    c.expect("AUTH PLAIN", 538, "5.7.11");
}

#[test]
fn plaintext_mechanisms_in_clear_when_the_admin_allows_it() {
    let server = server_with("[auth]\nplaintext_requires_tls = false\n", &[]);
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    let keywords = c.ehlo("client.test");
    assert_eq!(
        Smtp::auth_keyword(&keywords).as_deref(),
        Some("AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN")
    );
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 235);
}

#[test]
fn the_offered_mechanisms_and_their_order_come_from_the_config() {
    let server = server_with("[auth]\nmechanisms = [\"CRAM-MD5\", \"PLAIN\"]\n", &[]);
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    assert_eq!(
        Smtp::auth_keyword(&c.ehlo("client.test")).as_deref(),
        Some("AUTH CRAM-MD5")
    );
    c.expect("AUTH SCRAM-SHA-256", 504, "5.5.4");
    c.expect("AUTH LOGIN", 504, "5.5.4");
    c.starttls(&TlsOptions::for_server(&server));
    assert_eq!(
        Smtp::auth_keyword(&c.ehlo("client.test")).as_deref(),
        Some("AUTH CRAM-MD5 PLAIN")
    );
}

#[test]
fn unknown_mechanism_bad_base64_and_cancel_get_their_replies() {
    let server = server_with("", &[]);
    let mut c = submission(&server, true);
    c.expect("AUTH DIGEST-MD5", 504, "5.5.4");
    c.expect("AUTH PLAIN not*base64", 501, "5.5.2");
    c.expect("AUTH LOGIN", 334, "");
    c.expect("@@@", 501, "5.5.2");
    c.expect("AUTH CRAM-MD5", 334, "");
    c.expect("*", 501, "5.0.0");
    c.expect("AUTH PLAIN", 334, "");
    c.expect("*", 501, "5.0.0");
    // PLAIN with `=` is an empty initial response: malformed, not a 334.
    let (code, _) = c.cmd("AUTH PLAIN =");
    assert_eq!(code, 501);
    // After all that, a good login still works.
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 235);
}

#[test]
fn auth_twice_or_inside_a_transaction_gets_503() {
    let server = server_with("", &[]);
    let mut c = submission(&server, true);
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 235);
    c.expect("AUTH CRAM-MD5", 503, "5.5.1");
    // On the smtp port a transaction can start without AUTH.
    let mut c = Smtp::plain(LO, server.smtp_port).greeted();
    c.ehlo("client.test");
    c.expect("MAIL FROM:<x@example.org>", 250, "2.1.0");
    c.expect("AUTH CRAM-MD5", 503, "5.5.1");
    c.expect("RSET", 250, "2.0.0");
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
}

#[test]
fn submission_ports_accept_nothing_before_auth() {
    let server = server_with("", &[]);
    let mut c = submission(&server, true);
    c.expect("MAIL FROM:<alice@local.test>", 530, "5.7.0");
    c.expect("RCPT TO:<alice@local.test>", 530, "5.7.0");
    c.expect("DATA", 530, "5.7.0");
    let opts = TlsOptions::for_server(&server);
    let mut c = Smtp::implicit_tls(LO, server.submissions_port, &opts).greeted();
    c.ehlo("client.test");
    c.expect("MAIL FROM:<alice@local.test>", 530, "5.7.0");
    // Even mail for a local user needs AUTH there (docs/reference.md §3.4).
    c.expect("RCPT TO:<alice@local.test>", 530, "5.7.0");
    // The smtp port takes mail for local users from anyone.
    let mut c = Smtp::plain(Ipv4Addr::new(127, 0, 55, 5), server.smtp_port).greeted();
    c.ehlo("client.test");
    c.expect("MAIL FROM:<x@example.org>", 250, "2.1.0");
    c.expect("RCPT TO:<alice@local.test>", 250, "2.1.5");
}

#[test]
fn the_auth_mail_parameter_is_accepted() {
    let server = server_with("", &[]);
    let mut c = submission(&server, true);
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 235);
    c.expect(
        "MAIL FROM:<alice@local.test> AUTH=alice@local.test",
        250,
        "2.1.0",
    );
    c.expect("RCPT TO:<alice@local.test>", 250, "2.1.5");
    c.expect("RSET", 250, "2.0.0");
    c.expect("MAIL FROM:<alice@local.test> AUTH=<>", 250, "2.1.0");
    // And from a client that did not authenticate (it is then not trusted).
    let mut c = Smtp::plain(LO, server.smtp_port).greeted();
    c.ehlo("client.test");
    c.expect("MAIL FROM:<x@example.org> AUTH=<>", 250, "2.1.0");
}
