//! TLS through the real binary with a rustls client that trusts exactly the
//! server's certificate: STARTTLS (RFC 3207) on the smtp and submission
//! listeners, implicit TLS (RFC 8314) on submissions, the EHLO
//! advertisement before and after, the session reset and the discarded
//! plaintext after STARTTLS (CVE-2011-0411), a second STARTTLS, failed
//! handshakes, and certificate renewal on reload.

use portcullis_testkit as common;
use portcullis_testkit::auth_support;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use auth_support::{read_cert, server_with, Smtp, TlsOptions, ALICE_PW};
use common::{describe, IO_TIMEOUT};
use rustls::ProtocolVersion;

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn has(keywords: &[String], word: &str) -> bool {
    keywords.iter().any(|k| k == word)
}

#[test]
fn starttls_on_submission_unlocks_plain_and_login_and_is_no_longer_offered() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    let before = c.ehlo("client.test");
    assert!(has(&before, "STARTTLS"), "{before:?}");
    // RFC 4954 §4 + plaintext_requires_tls: no PLAIN or LOGIN in clear.
    assert_eq!(
        Smtp::auth_keyword(&before).as_deref(),
        Some("AUTH SCRAM-SHA-256 CRAM-MD5")
    );
    c.starttls(&opts);
    assert_eq!(
        c.tls.as_ref().unwrap().version,
        Some(ProtocolVersion::TLSv1_3)
    );
    let after = c.ehlo("client.test");
    // RFC 3207 §4.2: STARTTLS is not offered again.
    assert!(!has(&after, "STARTTLS"), "{after:?}");
    assert_eq!(
        Smtp::auth_keyword(&after).as_deref(),
        Some("AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN")
    );
    let (code, text) = c.auth_plain("alice", ALICE_PW);
    assert_eq!((code, &text[..9]), (235, "235 2.7.0"), "{text}");
}

#[test]
fn starttls_on_the_smtp_listener_too() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    let mut c = Smtp::plain(LO, server.smtp_port).greeted();
    assert!(has(&c.ehlo("client.test"), "STARTTLS"));
    c.starttls(&opts);
    let after = c.ehlo("client.test");
    assert!(!has(&after, "STARTTLS"), "{after:?}");
    assert_eq!(
        Smtp::auth_keyword(&after).as_deref(),
        Some("AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN")
    );
}

#[test]
fn implicit_tls_on_submissions_greets_under_tls_and_needs_no_starttls() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    let mut c = Smtp::implicit_tls(LO, server.submissions_port, &opts).greeted();
    let keywords = c.ehlo("client.test");
    assert!(!has(&keywords, "STARTTLS"), "{keywords:?}");
    assert_eq!(
        Smtp::auth_keyword(&keywords).as_deref(),
        Some("AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN")
    );
    // RFC 3207 §4.2 / RFC 8314: TLS is already on.
    c.expect("STARTTLS", 503, "5.5.1");
    let (code, text) = c.auth_login("alice", ALICE_PW);
    assert_eq!(code, 235, "{text}");
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<someone@example.org>", 250, "2.1.5");
}

#[test]
fn tls_1_2_is_accepted_as_well_as_1_3() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server).tls12_only();
    let mut c = Smtp::implicit_tls(LO, server.submissions_port, &opts).greeted();
    assert_eq!(
        c.tls.as_ref().unwrap().version,
        Some(ProtocolVersion::TLSv1_2)
    );
    c.ehlo("client.test");
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    c.ehlo("client.test");
    c.starttls(&opts);
    assert_eq!(
        c.tls.as_ref().unwrap().version,
        Some(ProtocolVersion::TLSv1_2)
    );
}

#[test]
fn a_second_starttls_gets_503() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    c.ehlo("client.test");
    c.starttls(&opts);
    c.ehlo("client.test");
    c.expect("STARTTLS", 503, "5.5.1");
    // The session goes on under TLS.
    c.expect("NOOP", 250, "2.0.0");
}

#[test]
fn commands_pipelined_behind_starttls_are_discarded_not_run_under_tls() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    c.ehlo("client.test");
    // CVE-2011-0411: a man in the middle appends a command to STARTTLS.
    c.send(b"STARTTLS\r\nRSET\r\n");
    let (code, text) = c.read_reply();
    assert_eq!(code, 220, "{text}");
    // Nothing else was answered in plaintext (upgrade checks the buffer)...
    c.upgrade(&opts).unwrap();
    // ...nor under TLS: the first reply is the EHLO's, not RSET's 250.
    let (code, text) = c.cmd("EHLO client.test");
    assert_eq!(code, 250);
    assert!(text.starts_with("250-mx.test"), "{text}");
    c.expect("NOOP", 250, "2.0.0");
    assert!(
        c.try_read_reply(Duration::from_millis(300)).is_err(),
        "no further reply: {}",
        c.transcript()
    );
}

#[test]
fn an_injected_mail_command_does_not_survive_the_handshake() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    let mut c = Smtp::plain(LO, server.smtp_port).greeted();
    c.ehlo("client.test");
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n");
    assert_eq!(c.read_reply().0, 220);
    c.upgrade(&opts).unwrap();
    c.ehlo("client.test");
    // Had the MAIL run, this RCPT would be accepted.
    c.expect("RCPT TO:<alice@local.test>", 503, "5.5.1");
}

#[test]
fn starttls_resets_the_session_ehlo_and_authentication_included() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    c.ehlo("client.test");
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
    c.starttls(&opts);
    // RFC 3207 §4.2: the client must EHLO again...
    c.expect("MAIL FROM:<alice@local.test>", 503, "5.5.1");
    c.ehlo("client.test");
    // ...and authenticate again: what was learnt in plaintext is forgotten.
    c.expect("MAIL FROM:<alice@local.test>", 530, "5.7.0");
    assert_eq!(c.auth_plain("alice", ALICE_PW).0, 235);
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
}

/// Reads raw bytes until the peer closes (or the timeout); returns them.
fn drain(mut tcp: TcpStream) -> Vec<u8> {
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out);
    out
}

#[test]
fn a_failed_handshake_closes_only_that_connection() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    // Plain SMTP spoken to the implicit-TLS port: no greeting, just closed.
    let mut tcp = TcpStream::connect(("127.0.0.1", server.submissions_port)).unwrap();
    tcp.write_all(b"EHLO client.test\r\n").unwrap();
    let got = drain(tcp);
    assert!(!String::from_utf8_lossy(&got).contains("220"), "{got:?}");
    // Garbage after STARTTLS.
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    c.ehlo("client.test");
    c.expect("STARTTLS", 220, "2.0.0");
    c.send(b"this is not a TLS ClientHello\r\n");
    // The server may send a TLS alert record, then closes; no SMTP reply.
    match c.try_read_reply(IO_TIMEOUT) {
        Err(e) if e.starts_with("closed") => {}
        other => panic!("expected a close, got {other:?}\n{}", c.transcript()),
    }
    // A client that does not trust the certificate gives up; the server goes on.
    let other = TlsOptions::pinning(read_cert(&server.data_dir.join("tls/cert.pem")));
    let wrong = TlsOptions {
        pins: vec![],
        ..other
    };
    assert!(Smtp::try_implicit_tls(LO, server.submissions_port, &wrong).is_err());
    // Everyone else is still served, over TLS and in plaintext.
    let mut ok = Smtp::implicit_tls(LO, server.submissions_port, &opts).greeted();
    ok.ehlo("client.test");
    let mut plain = Smtp::plain(LO, server.smtp_port).greeted();
    plain.ehlo("client.test");
}

#[test]
fn the_generated_certificate_names_the_host_and_is_private() {
    let server = server_with("", &[]);
    let opts = TlsOptions::for_server(&server);
    let c = Smtp::implicit_tls(LO, server.submissions_port, &opts).greeted();
    let presented = c.tls.as_ref().unwrap().cert.clone().unwrap();
    assert_eq!(presented, read_cert(&server.data_dir.join("tls/cert.pem")));
    // The subject's CN and the SAN both carry the configured hostname (DER
    // holds them as plain bytes), not a generator's placeholder.
    let der = presented.as_ref();
    assert!(
        der.windows(7).filter(|w| *w == b"mx.test").count() >= 2,
        "hostname missing from the certificate's subject or SAN"
    );
    assert!(!der.windows(5).any(|w| w == b"rcgen"));
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(server.data_dir.join("tls/key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "the private key is readable by others: {mode:o}"
    );
}

/// Writes a fresh self-signed certificate for mx.test to `cert` and `key`.
fn write_cert(cert: &std::path::Path, key: &std::path::Path) {
    let generated = rcgen::generate_simple_self_signed(vec!["mx.test".to_string()]).unwrap();
    fs::write(cert, generated.cert.pem()).unwrap();
    fs::write(key, generated.key_pair.serialize_pem()).unwrap();
}

#[test]
fn a_renewed_certificate_is_served_after_reload_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("fullchain.pem"), dir.path().join("key.pem"));
    write_cert(&cert, &key);
    let first = read_cert(&cert);
    let extra = format!(
        "[tls]\ncert = {}\nkey = {}\n",
        common::toml_str(&cert.to_string_lossy()),
        common::toml_str(&key.to_string_lossy())
    );
    let server = server_with(&extra, &[]);
    let mut opts = TlsOptions::pinning(first.clone());
    let c = Smtp::implicit_tls(LO, server.submissions_port, &opts).greeted();
    assert_eq!(c.tls.as_ref().unwrap().cert.as_ref(), Some(&first));
    // The renewal replaces the files in place; `portcullis reload` picks it up.
    write_cert(&cert, &key);
    let second = read_cert(&cert);
    assert_ne!(first, second);
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    opts.pins.push(second.clone());
    let mut c = Smtp::implicit_tls(LO, server.submissions_port, &opts).greeted();
    assert_eq!(c.tls.as_ref().unwrap().cert.as_ref(), Some(&second));
    c.ehlo("client.test");
    // STARTTLS uses the new one as well.
    let mut c = Smtp::plain(LO, server.submission_port).greeted();
    c.ehlo("client.test");
    c.starttls(&opts);
    assert_eq!(c.tls.as_ref().unwrap().cert.as_ref(), Some(&second));
}
