//! Users per domain: `alice@local.test` is a mailbox of local.test only,
//! while a bare `bob` is the same mailbox in every local domain (the
//! harness's local domains are local.test and localhost). Over real SMTP:
//! RCPT, delivery into the Maildir named by the full address, and AUTH with
//! the address as the login name (case-insensitive, as every user name).

use portcullis_testkit as common;
use portcullis_testkit::auth_support::{Smtp, TlsOptions};

use std::net::Ipv4Addr;

use common::{describe, Setup};

const ALICE_PW: &str = "alice-domain-pw1";
const BOB_PW: &str = "bob-bare-pw-123";
/// Not in the harness's `relay.allow` (127.0.0.1 only).
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(127, 0, 56, 6);

fn setup() -> Setup {
    let setup = Setup::new("");
    setup.add_user("alice@LOCAL.test", ALICE_PW);
    setup.add_user("bob", BOB_PW);
    setup
}

#[test]
fn a_domain_user_gets_mail_in_its_domain_only_and_a_bare_user_in_every_one() {
    let server = setup().start();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<carol@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    let (code, text) = c.cmd("RCPT TO:<alice@localhost>");
    assert_eq!(code, 550, "{text}");
    assert!(text.contains(" 5.1.1 "), "{text}");
    c.expect("RCPT TO:<bob@local.test>", 250);
    c.expect("RCPT TO:<bob@localhost>", 250);
    c.expect("DATA", 354);
    c.send(b"Subject: per domain\r\n\r\nhello\r\n.\r\n");
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    // The Maildir of a domain user is named by its full address; bob's
    // two addresses are one mailbox, which gets the message once.
    let alice = server.wait_maildir("alice@local.test", 1);
    assert!(String::from_utf8_lossy(&alice[0]).contains("Subject: per domain"));
    assert_eq!(server.wait_maildir("bob", 1).len(), 1);
    assert!(!server.maildir("alice").exists());
}

#[test]
fn auth_takes_the_full_address_of_a_domain_user_and_the_bare_name_of_a_bare_one() {
    let server = setup().start();
    let opts = TlsOptions::for_server(&server);
    let mut c = Smtp::plain(OUTSIDE, server.submission_port).greeted();
    c.ehlo("client.test");
    c.starttls(&opts);
    c.ehlo("client.test");
    // Only the address names alice: her bare name is nobody.
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 535);
    assert_eq!(c.auth_plain("alice@local.test", ALICE_PW).0, 235);
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<friend@example.net>", 250, "2.1.5");
    let mut c = Smtp::implicit_tls(OUTSIDE, server.submissions_port, &opts).greeted();
    c.ehlo("client.test");
    assert_eq!(c.auth_scram_sha256("alice@localhost", ALICE_PW).0, 535);
    assert_eq!(c.auth_scram_sha256("alice@local.test", ALICE_PW).0, 235);
    let mut c = Smtp::plain(OUTSIDE, server.smtp_port).greeted();
    c.ehlo("client.test");
    assert_eq!(c.auth_cram_md5("bob", BOB_PW).0, 235);
    c.expect("MAIL FROM:<bob@localhost>", 250, "2.1.0");
    c.expect("RCPT TO:<friend@example.net>", 250, "2.1.5");
    let log = server.log();
    assert!(log.contains("relay=auth:alice@local.test"), "{log}");
}

#[test]
fn a_user_of_a_domain_that_is_not_local_is_refused_in_one_sentence() {
    let setup = Setup::new("");
    let out = setup.cli_stdin(
        &["user", "add", "alice@other.example", "--password-stdin"],
        Some("long-enough-pw\n"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("other.example is not a local domain"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = setup.cli(&["user", "list"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("alice"),
        "{}",
        describe(&out)
    );
}

#[test]
fn aliases_may_name_a_domain_user_by_its_address() {
    let setup = Setup::new("[aliases]\nsales = [\"alice@local.test\"]\nteam = [\"alice\"]\n");
    setup.add_user("alice@local.test", ALICE_PW);
    let server = setup.start();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<carol@remote.example>", 250);
    // Through the address, from any local domain.
    c.expect("RCPT TO:<sales@localhost>", 250);
    // A bare target resolves in the recipient's domain: there is an alice
    // in local.test, none in localhost.
    c.expect("RCPT TO:<team@local.test>", 250);
    let (code, text) = c.cmd("RCPT TO:<team@localhost>");
    assert_eq!(code, 550, "{text}");
    c.expect("DATA", 354);
    c.send(b"Subject: to sales\r\n\r\nhi\r\n.\r\n");
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    // Two recipients, one mailbox: delivered once.
    let msgs = server.wait_maildir("alice@local.test", 1);
    assert_eq!(msgs.len(), 1);
}
