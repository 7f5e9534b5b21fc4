//! DKIM signing (RFC 6376, RFC 8463): `portcullis dkim generate` makes the
//! keys, mail from a trusted sender leaves through the queue signed with
//! every key of its From: domain, and an independent verifier (Python's
//! dkimpy) accepts both signatures against the records it reads from the
//! loopback DNS stub. Mail from outside is never signed on its way out.

use portcullis_testkit as common;

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use common::dns::{DnsStub, Zone};
use common::outbound::{routed_config, send, DELIVERY_TIMEOUT, LO};
use common::process::run_with_timeout;
use common::sink::{Script, Sink};
use common::{describe, show, Setup};

/// Verifies every DKIM-Signature of the message in file argv[3] with dkimpy,
/// resolving TXT records through the DNS server at argv[1]:argv[2]. Prints
/// one `pass d= s=` / `fail …` line per signature.
const VERIFY: &str = r#"
import sys, dkim, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = [sys.argv[1]]
r.port = int(sys.argv[2])
def txt(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    ans = r.resolve(name, "TXT", lifetime=timeout)
    return b"".join(b"".join(rr.strings) for rr in ans)
msg = open(sys.argv[3], "rb").read()
d = dkim.DKIM(msg)
n = len([l for l in msg.split(b"\r\n\r\n")[0].split(b"\r\n") if l.lower().startswith(b"dkim-signature:")])
for i in range(n):
    ok = d.verify(idx=i, dnsfunc=txt)
    print(("pass" if ok else "fail"), d.domain.decode(), d.selector.decode())
"#;

/// The TXT value of the record `dkim generate` printed (its quoted strings joined).
fn record_value(stdout: &str) -> (String, String) {
    let line = stdout
        .lines()
        .find(|l| l.contains(" IN TXT "))
        .unwrap_or_else(|| panic!("no TXT record printed: {stdout}"));
    let (name, rest) = line.split_once(" IN TXT ").unwrap();
    let value: String = rest
        .split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect();
    (name.trim_end_matches('.').to_string(), value)
}

fn generate(setup: &Setup, selector: &str, algorithm: &str) -> (String, String) {
    let out = setup.cli(&[
        "dkim",
        "generate",
        "local.test",
        "--selector",
        selector,
        "--algorithm",
        algorithm,
    ]);
    assert!(out.status.success(), "dkim generate: {}", describe(&out));
    record_value(&String::from_utf8_lossy(&out.stdout))
}

fn dkimpy(message: &[u8], dns: &DnsStub) -> String {
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), message).unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", VERIFY])
        .arg(dns.addr.ip().to_string())
        .arg(dns.addr.port().to_string())
        .arg(path.path());
    let (status, out) = run_with_timeout(&mut cmd, Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "dkimpy failed (is python3-dkim installed?): {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn relayed_mail_is_signed_with_both_keys_and_dkimpy_verifies_them() {
    let sink = Sink::start(LO, Script::default());
    let setup = Setup::new(&routed_config(sink.addr, 1, ""));
    let (ed_name, ed_value) = generate(&setup, "ed", "ed25519");
    let (rsa_name, rsa_value) = generate(&setup, "rs", "rsa");
    assert_eq!(ed_name, "ed._domainkey.local.test");
    assert!(ed_value.starts_with("v=DKIM1; k=ed25519; p="), "{ed_value}");
    assert!(rsa_value.starts_with("v=DKIM1; k=rsa; p="), "{rsa_value}");
    let key = setup.data_dir.join("dkim/ed._domainkey.local.test.pem");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    // The published records, as a receiver's resolver would find them.
    let published = DnsStub::start(
        Zone::new()
            .txt(&ed_name, &ed_value)
            .txt(&rsa_name, &rsa_value),
    );
    let server = setup.start();

    let body = b"From: Alice <alice@local.test>\r\nTo: bob@remote.test\r\nSubject: signed\r\n\
                 Date: Thu, 03 Dec 2026 08:00:00 +0000\r\nMessage-ID: <1@local.test>\r\n\r\n\
                 Hello,  world \r\n\r\n\r\n";
    send(&server, "alice@local.test", &["bob@remote.test"], body);
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1, "nothing arrived\n{}", server.log());
    let data = &got[0].data;
    let text = show(data);
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    assert!(text.contains("c=relaxed/relaxed"), "{text}");
    let verdicts = dkimpy(data, &published);
    assert_eq!(
        verdicts
            .lines()
            .filter(|l| l.starts_with("pass local.test"))
            .count(),
        2,
        "dkimpy: {verdicts}\n{text}"
    );
    // From is over-signed: a second From added on the way breaks the signatures.
    let forged = [b"From: mallory@evil.test\r\n".as_slice(), data].concat();
    let verdicts = dkimpy(&forged, &published);
    assert!(!verdicts.contains("pass"), "dkimpy: {verdicts}");
}

#[test]
fn mail_from_outside_forwarded_by_an_alias_is_not_signed() {
    let sink = Sink::start(LO, Script::default());
    let setup = Setup::new(&routed_config(
        sink.addr,
        1,
        "[aliases]\nfwd = [\"bob@remote.test\"]\n",
    ));
    generate(&setup, "ed", "ed25519");
    let server = setup.start();
    // 127.0.0.2 is not in relay.allow: a stranger claiming a local From:.
    let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 0, 2));
    let (code, text) = c.send_mail(
        "x@elsewhere.test",
        &["fwd@local.test"],
        b"From: alice@local.test\r\nSubject: forged\r\n\r\nbody\r\n",
    );
    assert_eq!(code, 250, "{text}\n{}", server.log());
    c.quit_collect();
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1, "nothing arrived\n{}", server.log());
    assert!(
        !show(&got[0].data).contains("DKIM-Signature"),
        "{}",
        show(&got[0].data)
    );
}
