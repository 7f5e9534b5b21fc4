//! The server side of TLS as outside checkers (testssl, msmtp, Python's
//! `ssl`) see it: the self-signed certificate generated into the data dir
//! (its names, lifetime and key usages, and its renewal at start), the
//! server's own cipher order, and ClientHellos carrying an IP address as SNI
//! (RFC 6066 §3 allows only host names), which must not flood the log at WARN.

use portcullis_testkit as common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use common::{describe, free_port, run_with_timeout, Server, Setup, IO_TIMEOUT};
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType};
use rustls::crypto::ring::{cipher_suite, default_provider};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CipherSuite, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use time::{Duration, OffsetDateTime};

/// `<data>/tls/cert.pem`, the generated certificate.
fn generated_cert(setup: &Setup) -> PathBuf {
    setup.data_dir.join("tls").join("cert.pem")
}

fn pem_to_der(path: &Path) -> CertificateDer<'static> {
    let pem = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let first = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .unwrap_or_else(|| panic!("no certificate in {}", path.display()))
        .expect("valid PEM");
    first.into_owned()
}

fn params(path: &Path) -> CertificateParams {
    CertificateParams::from_ca_cert_der(&pem_to_der(path)).expect("parse the certificate")
}

/// A certificate for `names` valid from `from` to `until`, written as the
/// PEM pair `cert`, `key`.
fn write_cert(
    names: &[&str],
    from: OffsetDateTime,
    until: OffsetDateTime,
    cert: &Path,
    key: &Path,
) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut p = CertificateParams::new(names).unwrap();
    p.not_before = from;
    p.not_after = until;
    let key_pair = KeyPair::generate().unwrap();
    fs::create_dir_all(cert.parent().unwrap()).unwrap();
    fs::write(cert, p.self_signed(&key_pair).unwrap().pem()).unwrap();
    fs::write(key, key_pair.serialize_pem()).unwrap();
}

/// What one implicit-TLS handshake gave.
struct Handshake {
    suite: Option<CipherSuite>,
    greeting: String,
}

/// Implicit TLS to 127.0.0.1:`port`, verifying the server's certificate
/// against `root` as the only trust anchor and `name` (a host name or an
/// address) as the name, with the client's cipher preference `suites`.
fn connect(
    port: u16,
    root: &CertificateDer<'static>,
    name: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: Option<Vec<rustls::SupportedCipherSuite>>,
) -> Result<Handshake, String> {
    let mut provider = default_provider();
    if let Some(suites) = suites {
        provider.cipher_suites = suites;
    }
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).map_err(|e| e.to_string())?;
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(Arc::new(config), server_name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    let mut greeting = Vec::new();
    let mut byte = [0u8; 1];
    while !greeting.ends_with(b"\n") {
        match tls.read(&mut byte) {
            Ok(1) => greeting.push(byte[0]),
            Ok(_) => return Err("closed before the greeting".to_string()),
            Err(e) => return Err(format!("TLS to {name}: {e}")),
        }
    }
    Ok(Handshake {
        suite: tls.conn.negotiated_cipher_suite().map(|s| s.suite()),
        greeting: String::from_utf8_lossy(&greeting).into_owned(),
    })
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

#[test]
fn the_generated_certificate_is_a_usual_server_certificate_for_every_local_name() {
    let server = Server::start("");
    let path = generated_cert(&server);
    let p = params(&path);
    let now = OffsetDateTime::now_utc();
    // About 397 days (testssl flags 1975..4096), starting now.
    let lifetime = p.not_after - p.not_before;
    assert!(
        lifetime >= Duration::days(396) && lifetime <= Duration::days(398),
        "lifetime {lifetime}"
    );
    assert!(
        p.not_before <= now && now - p.not_before < Duration::days(1),
        "{}",
        p.not_before
    );
    assert_eq!(p.key_usages, [KeyUsagePurpose::DigitalSignature]);
    assert_eq!(p.extended_key_usages, [ExtendedKeyUsagePurpose::ServerAuth]);
    let want = [
        SanType::DnsName("mx.test".try_into().unwrap()),
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress("::1".parse().unwrap()),
    ];
    for name in &want {
        assert!(
            p.subject_alt_names.contains(name),
            "{name:?} missing: {:?}",
            p.subject_alt_names
        );
    }

    // A client that trusts it verifies every one of those names (RFC 6125),
    // and no other.
    let root = pem_to_der(&path);
    for name in ["127.0.0.1", "::1", "localhost", "mx.test"] {
        let h = connect(server.submissions_port, &root, name, BOTH, None)
            .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
        assert!(h.greeting.starts_with("220 "), "{}", h.greeting);
    }
    let err = connect(server.submissions_port, &root, "other.test", BOTH, None)
        .err()
        .expect("a name the certificate does not hold must fail");
    assert!(err.contains("not valid for name"), "{err}");
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Skips (or, under CI, fails) when `tool` is not installed.
fn require(tool: &str) -> bool {
    if have(tool) {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{tool} missing under CI");
    eprintln!("SKIPPED: {tool} is not installed");
    false
}

/// Python's smtplib over implicit TLS and STARTTLS to 127.0.0.1, checking
/// the host name (the default) against the generated certificate as CA.
const PY_CLIENT: &str = r#"
import smtplib, ssl, sys
cafile, implicit, starttls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)
for host in ("127.0.0.1", "localhost"):
    with smtplib.SMTP_SSL(host, implicit, context=ctx, timeout=5) as s:
        print("implicit", host, s.ehlo()[0])
    with smtplib.SMTP(host, starttls, timeout=5) as s:
        s.starttls(context=ctx)
        print("starttls", host, s.ehlo()[0])
"#;

#[test]
fn python_ssl_and_msmtp_verify_the_generated_certificate_by_address() {
    let server = Server::start("");
    let cert = generated_cert(&server);
    if require("python3") {
        let (_, out) = run_with_timeout(
            Command::new("python3").args([
                "-c",
                PY_CLIENT,
                &cert.to_string_lossy(),
                &server.submissions_port.to_string(),
                &server.submission_port.to_string(),
            ]),
            StdDuration::from_secs(30),
        );
        let text = describe(&out);
        assert!(out.status.success(), "{text}\n{}", server.log());
        assert_eq!(text.matches(" 250\n").count(), 4, "{text}");
    }
    if require("msmtp") {
        let (_, out) = run_with_timeout(
            Command::new("msmtp").args([
                "--serverinfo",
                "--host=127.0.0.1",
                &format!("--port={}", server.submissions_port),
                "--tls=on",
                "--tls-starttls=off",
                &format!("--tls-trust-file={}", cert.display()),
            ]),
            StdDuration::from_secs(30),
        );
        let text = describe(&out);
        assert!(out.status.success(), "{text}\n{}", server.log());
    }
}

#[test]
fn the_server_cipher_order_wins_over_the_client_preference() {
    let server = Server::start("");
    let root = pem_to_der(&generated_cert(&server));
    // The client prefers ChaCha20 and offers AES-GCM too; the server's order
    // (AES-256-GCM, AES-128-GCM, ChaCha20) picks AES-128-GCM.
    let cases: [(&[&rustls::SupportedProtocolVersion], _, _); 2] = [
        (
            &[&rustls::version::TLS13],
            vec![
                cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
                cipher_suite::TLS13_AES_128_GCM_SHA256,
            ],
            CipherSuite::TLS13_AES_128_GCM_SHA256,
        ),
        (
            &[&rustls::version::TLS12],
            vec![
                cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ],
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
    ];
    for (versions, suites, want) in cases {
        let h = connect(
            server.submissions_port,
            &root,
            "mx.test",
            versions,
            Some(suites),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
        assert_eq!(h.suite, Some(want));
    }
}

#[test]
fn a_stale_generated_certificate_is_replaced_at_start() {
    let mut server = Server::start("");
    let path = generated_cert(&server);
    let key = server.data_dir.join("tls").join("key.pem");
    let now = OffsetDateTime::now_utc();
    let cases = [
        (
            "ending in 10 days",
            vec!["mx.test", "localhost", "127.0.0.1", "::1"],
            now - Duration::days(380),
            now + Duration::days(10),
        ),
        (
            "made by an older Portcullis: 1975 to 4096, no key usages",
            vec!["mx.test", "localhost"],
            rcgen::date_time_ymd(1975, 1, 1),
            rcgen::date_time_ymd(4096, 1, 1),
        ),
        (
            "for another host name",
            vec!["old.test", "localhost", "127.0.0.1", "::1"],
            now,
            now + Duration::days(397),
        ),
    ];
    for (what, names, from, until) in cases {
        write_cert(&names, from, until, &path, &key);
        let stale = fs::read(&path).unwrap();
        server = server.restart();
        let fresh = fs::read(&path).unwrap();
        assert_ne!(
            stale,
            fresh,
            "a certificate {what} was kept\n{}",
            server.log()
        );
        let p = params(&path);
        assert!(
            p.not_after - now > Duration::days(396),
            "{what}: {}",
            p.not_after
        );
        assert!(
            server.log().contains("generated a self-signed certificate"),
            "{}",
            server.log()
        );
        // The new pair works.
        let h = connect(
            server.submissions_port,
            &pem_to_der(&path),
            "127.0.0.1",
            BOTH,
            None,
        )
        .unwrap_or_else(|e| panic!("{what}: {e}\n{}", server.log()));
        assert!(h.greeting.starts_with("220 "));
    }
    // A current one is kept across a restart.
    let current = fs::read(&path).unwrap();
    let server = server.restart();
    assert_eq!(current, fs::read(&path).unwrap(), "{}", server.log());
}

#[test]
fn a_configured_certificate_is_never_touched_even_when_ending() {
    let setup = Setup::new("");
    let cert = setup.dir().join("fullchain.pem");
    let key = setup.dir().join("privkey.pem");
    let now = OffsetDateTime::now_utc();
    write_cert(
        &["mx.test"],
        now - Duration::days(1000),
        now + Duration::days(2),
        &cert,
        &key,
    );
    let (cert_before, key_before) = (fs::read(&cert).unwrap(), fs::read(&key).unwrap());
    let setup = Setup::new(&format!(
        "[tls]\ncert = {}\nkey = {}\n",
        common::toml_str(&cert.to_string_lossy()),
        common::toml_str(&key.to_string_lossy())
    ));
    let server = setup.start();
    let h = connect(
        server.submissions_port,
        &pem_to_der(&cert),
        "mx.test",
        BOTH,
        None,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    assert!(h.greeting.starts_with("220 "));
    assert_eq!(fs::read(&cert).unwrap(), cert_before);
    assert_eq!(fs::read(&key).unwrap(), key_before);
    assert!(
        !generated_cert(&server).exists(),
        "a self-signed one was generated too"
    );
}

/// A ClientHello whose server_name extension (RFC 6066 §3) holds `name`.
fn client_hello_with_sni(name: &str) -> Vec<u8> {
    let name = name.as_bytes();
    let len = |n: usize| u16::try_from(n).unwrap().to_be_bytes();
    let mut entry = vec![0u8]; // host_name
    entry.extend_from_slice(&len(name.len()));
    entry.extend_from_slice(name);
    let mut ext = vec![0, 0]; // server_name
    ext.extend_from_slice(&len(entry.len() + 2));
    ext.extend_from_slice(&len(entry.len()));
    ext.extend_from_slice(&entry);
    let mut body = vec![3, 3]; // TLS 1.2
    body.extend_from_slice(&[0x11; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0, 2, 0xc0, 0x2b]); // ECDHE-ECDSA-AES128-GCM-SHA256
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&len(ext.len()));
    body.extend_from_slice(&ext);
    let mut hs = vec![1]; // client_hello
    hs.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&len(hs.len()));
    record.extend_from_slice(&hs);
    record
}

/// GET /metrics from `addr`.
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to metrics");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// Sends `n` ClientHellos with `127.0.0.1` as SNI to the submissions port.
fn send_ip_sni_hellos(server: &Server, n: usize) {
    for _ in 0..n {
        let mut tcp = TcpStream::connect(("127.0.0.1", server.submissions_port)).unwrap();
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.write_all(&client_hello_with_sni("127.0.0.1")).unwrap();
        // Whatever the server answers (a ServerHello or an alert), one read
        // shows it has parsed the hello; then hang up.
        let mut buf = [0u8; 4096];
        match tcp.read(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("no answer to the ClientHello: {e}\n{}", server.log()),
        }
    }
}

#[test]
fn ip_addresses_as_sni_are_counted_not_logged_at_warn() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let metrics = SocketAddr::new(lo, free_port(lo));
    let server = Server::start(&format!("[metrics]\nlisten = \"{metrics}\"\n"));
    let before = server.log().len();
    const HELLOS: usize = 5;
    send_ip_sni_hellos(&server, HELLOS);
    let series = "portcullis_tls_illegal_sni_total ";
    let deadline = Instant::now() + IO_TIMEOUT;
    let count = loop {
        let body = scrape(metrics);
        let count: usize = body
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0);
        if count >= HELLOS || Instant::now() > deadline {
            break count;
        }
        std::thread::sleep(StdDuration::from_millis(50));
    };
    assert_eq!(count, HELLOS, "{series}\n{}", server.log());
    let log = server.log();
    let warns: Vec<&str> = log[before..]
        .lines()
        .filter(|l| l.contains("WARN"))
        .collect();
    assert!(
        warns.is_empty(),
        "WARN lines from IP-address SNI: {warns:#?}"
    );
}

#[test]
fn ip_addresses_as_sni_are_logged_at_debug_when_asked() {
    let server = Server::start("[log]\nlevel = \"info,rustls=debug\"\n");
    send_ip_sni_hellos(&server, 1);
    let deadline = Instant::now() + IO_TIMEOUT;
    let line = loop {
        let log = server.log();
        let found = log
            .lines()
            .find(|l| l.contains("Illegal SNI"))
            .map(str::to_string);
        if found.is_some() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(StdDuration::from_millis(50));
    };
    let line = line.unwrap_or_else(|| panic!("no Illegal SNI line:\n{}", server.log()));
    assert!(line.contains("DEBUG"), "{line}");
}
