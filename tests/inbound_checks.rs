//! Checks of mail from outside over real loopback SMTP with the DNS stub:
//! SPF (RFC 7208) pass/fail/softfail/none/temperror, DKIM (RFC 6376) of a
//! message signed by Python's dkimpy (pass, and fail once tampered with),
//! DMARC (RFC 7489) pass/fail, and `inbound.dmarc_reject` refusing a failing
//! message from a `p=reject` domain with 550 5.7.1 only when it is set. The
//! results land in one `Authentication-Results:` header naming this host;
//! a forged one claiming this host is dropped.

use portcullis_testkit as common;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use common::process::run_with_timeout;
use common::{describe, show, Server, Setup, Zone};

/// Outside: not in the harness's `relay.allow` (127.0.0.1).
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Signs the message in argv[1] with the RSA key (PKCS#1 PEM) in argv[2]
/// for d=signer.test s=s1, relaxed/relaxed; prints the signed message.
const SIGN: &str = r#"
import sys, dkim
msg = open(sys.argv[1], "rb").read()
key = open(sys.argv[2], "rb").read()
sig = dkim.sign(msg, b"s1", b"signer.test", key, canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[b"from", b"subject", b"to"])
sys.stdout.buffer.write(sig + msg)
"#;

/// A key made by `portcullis dkim generate` in a scratch data dir: the
/// record value and the key file (PKCS#1 PEM, which dkimpy reads).
fn signer_key() -> (tempfile::TempDir, String, std::path::PathBuf) {
    let scratch = Setup::new("");
    let out = scratch.cli(&[
        "dkim",
        "generate",
        "signer.test",
        "--selector",
        "s1",
        "--algorithm",
        "rsa",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = stdout.lines().find(|l| l.contains(" IN TXT ")).unwrap();
    let value: String = line
        .split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect();
    let keep = tempfile::tempdir().unwrap();
    let key = keep.path().join("s1.pem");
    std::fs::copy(
        scratch.data_dir.join("dkim/s1._domainkey.signer.test.pem"),
        &key,
    )
    .unwrap();
    (keep, value, key)
}

fn dkimpy_sign(message: &[u8], key: &std::path::Path) -> Vec<u8> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), message).unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", SIGN]).arg(file.path()).arg(key);
    let (status, out) = run_with_timeout(&mut cmd, Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "dkimpy signing failed (is python3-dkim installed?): {}",
        describe(&out)
    );
    out.stdout
}

fn zone(dkim_value: &str) -> Zone {
    Zone::new()
        .txt("pass.test", "v=spf1 ip4:127.0.0.2 -all")
        .txt("fail.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("soft.test", "v=spf1 ~all")
        .a("none.test", Ipv4Addr::new(192, 0, 2, 9))
        .silent("slow.test")
        .txt("signer.test", "v=spf1 ip4:192.0.2.1 -all")
        .txt("_dmarc.signer.test", "v=DMARC1; p=reject")
        .txt("s1._domainkey.signer.test", dkim_value)
}

fn start(dkim_value: &str, extra: &str) -> Server {
    let setup = Setup::with_dns(extra, zone(dkim_value)).with_dns_options("timeout_ms = 300");
    setup.add_user("alice", "password1");
    setup.start()
}

/// Sends `body` from STRANGER with MAIL FROM `from` to alice; the reply.
fn send(server: &Server, from: &str, body: &[u8]) -> (u16, String) {
    let mut c = server.ehlo_from(STRANGER);
    let reply = c.send_mail(from, &["alice@local.test"], body);
    c.quit_collect();
    reply
}

/// The `Authentication-Results:` fields of the last delivered message (unfolded).
fn results_of(server: &Server, n: usize) -> Vec<String> {
    let msgs = server.wait_maildir("alice", n);
    let text = show(&msgs[n - 1]);
    let raw = String::from_utf8_lossy(&msgs[n - 1]).replace("\r\n\t", " ");
    let headers = raw.split("\r\n\r\n").next().unwrap_or("").to_string();
    let found: Vec<String> = headers
        .lines()
        .filter(|l| {
            l.to_ascii_lowercase()
                .starts_with("authentication-results:")
        })
        .map(str::to_string)
        .collect();
    assert!(!found.is_empty(), "no Authentication-Results: {text}");
    found
}

#[test]
fn spf_dkim_and_dmarc_results_are_recorded_for_mail_from_outside() {
    let (_keep, value, key) = signer_key();
    let server = start(&value, "");
    let plain = |from: &str| format!("From: {from}\r\nSubject: spf\r\n\r\nhello\r\n").into_bytes();
    let cases = [
        ("a@pass.test", "spf=pass"),
        ("a@fail.test", "spf=fail"),
        ("a@soft.test", "spf=softfail"),
        ("a@none.test", "spf=none"),
        ("a@slow.test", "spf=temperror"),
    ];
    let mut n = 0;
    for (from, want) in cases {
        let (code, text) = send(&server, from, &plain(from));
        assert_eq!(code, 250, "{from}: {text}\n{}", server.log());
        n += 1;
        let ar = results_of(&server, n);
        assert_eq!(ar.len(), 1, "{ar:?}");
        assert!(
            ar[0].starts_with("Authentication-Results: mx.test;"),
            "{ar:?}"
        );
        assert!(ar[0].contains(want), "{from}: want {want}: {ar:?}");
        assert!(ar[0].contains("dkim=none"), "{ar:?}");
    }

    // dkimpy signs; SPF fails for signer.test from here, so DMARC rests on DKIM.
    let message =
        b"From: bob@signer.test\r\nTo: alice@local.test\r\nSubject: signed\r\n\r\nsigned body\r\n";
    let signed = dkimpy_sign(message, &key);
    // A forged result claiming this host, which must not survive.
    let forged = [
        b"Authentication-Results: mx.test; dkim=pass header.d=paypal.test\r\n".as_slice(),
        &signed,
    ]
    .concat();
    let (code, text) = send(&server, "bob@signer.test", &forged);
    assert_eq!(code, 250, "{text}\n{}", server.log());
    n += 1;
    let ar = results_of(&server, n);
    assert_eq!(ar.len(), 1, "the forged header survived: {ar:?}");
    assert!(
        ar[0].contains("dkim=pass header.i=@signer.test header.s=s1"),
        "{ar:?}"
    );
    assert!(ar[0].contains("spf=fail"), "{ar:?}");
    assert!(ar[0].contains("dmarc=pass"), "{ar:?}");

    let tampered = String::from_utf8_lossy(&signed).replace("signed body", "tampered body");
    let (code, text) = send(&server, "bob@signer.test", tampered.as_bytes());
    assert_eq!(code, 250, "dmarc_reject is off: {text}");
    n += 1;
    let ar = results_of(&server, n);
    assert!(ar[0].contains("dkim=fail"), "{ar:?}");
    assert!(ar[0].contains("dmarc=fail"), "{ar:?}");
    assert!(ar[0].contains("policy.dmarc=reject"), "{ar:?}");

    // A relay.allow client's mail is not checked.
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, _) = c.send_mail("a@fail.test", &["alice@local.test"], &plain("a@fail.test"));
    assert_eq!(code, 250);
    c.quit_collect();
    let msgs = server.wait_maildir("alice", n + 1);
    assert!(
        !show(&msgs[n]).contains("Authentication-Results"),
        "{}",
        show(&msgs[n])
    );
}

#[test]
fn dmarc_reject_refuses_only_failing_mail_from_a_reject_domain() {
    let (_keep, value, key) = signer_key();
    let server = start(&value, "[inbound]\ndmarc_reject = true\n");
    let message =
        b"From: bob@signer.test\r\nTo: alice@local.test\r\nSubject: signed\r\n\r\nsigned body\r\n";
    let signed = dkimpy_sign(message, &key);
    let (code, text) = send(&server, "bob@signer.test", &signed);
    assert_eq!(code, 250, "a passing message is accepted: {text}");
    let tampered = String::from_utf8_lossy(&signed).replace("signed body", "tampered body");
    let (code, text) = send(&server, "bob@signer.test", tampered.as_bytes());
    assert_eq!(code, 550, "{text}\n{}", server.log());
    assert!(text.contains("5.7.1"), "{text}");
    // Over 4 MiB the message is not held in memory to verify DKIM: SPF only,
    // and no refusal on a DMARC result that could not be computed.
    let mut big = b"From: bob@signer.test\r\nSubject: big\r\n\r\n".to_vec();
    for _ in 0..(4 * 1024 * 1024 / 64 + 10) {
        big.extend_from_slice(&[b'x'; 62]);
        big.extend_from_slice(b"\r\n");
    }
    let (code, text) = send(&server, "bob@signer.test", &big);
    assert_eq!(code, 250, "{text}");
    let ar = results_of(&server, 2);
    assert!(
        ar[0].contains("dkim=none (message too large to verify)"),
        "{ar:?}"
    );
    assert!(ar[0].contains("spf=fail"), "{ar:?}");
    // A DNS failure never rejects: the DMARC record cannot be read.
    let (code, text) = send(
        &server,
        "x@slow.test",
        b"From: x@slow.test\r\nSubject: t\r\n\r\nbody\r\n",
    );
    assert_eq!(code, 250, "{text}");
}
