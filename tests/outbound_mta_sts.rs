//! MTA-STS for outbound MX delivery (RFC 8461): the DNS stub publishes
//! `_mta-sts.remote.test` and `mta-sts.remote.test`, a local HTTPS server
//! (certificate from a test CA trusted through `tls.outbound_ca`) serves
//! the policy on `queue.mta_sts_port`, and a sink plays the MX.

use portcullis_testkit as common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::outbound::{queue_cli, send, wait_queue_empty, wait_queue_list, DELIVERY_TIMEOUT};
use common::sink::{Script, Sink};
use common::{free_port, toml_str, Server, Setup, Zone};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// A test CA and a function making server configs for names it signs.
struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    pem: PathBuf,
}

impl Ca {
    fn new(dir: &Path) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Portcullis MTA-STS test CA");
        let key = rcgen::KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        let pem = dir.join("sts-ca.pem");
        std::fs::write(&pem, cert.pem()).expect("write CA");
        Ca { cert, key, pem }
    }

    fn server(&self, name: &str) -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("sign");
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], der)
        .expect("server certificate");
        Arc::new(config)
    }
}

/// A tiny HTTPS server answering every request with `policy`.
struct PolicyServer {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl PolicyServer {
    fn start(ip: IpAddr, tls: Arc<rustls::ServerConfig>, policy: &str) -> PolicyServer {
        let port = free_port(ip);
        let listener = TcpListener::bind(SocketAddr::new(ip, port)).expect("bind policy server");
        let requests = Arc::new(AtomicUsize::new(0));
        let (count, policy) = (requests.clone(), policy.to_string());
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let _ = tcp.set_read_timeout(Some(DELIVERY_TIMEOUT));
                let Ok(conn) = rustls::ServerConnection::new(tls.clone()) else {
                    continue;
                };
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                if !text.starts_with("GET /.well-known/mta-sts.txt ") {
                    continue;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{policy}",
                    policy.len()
                );
                let _ = s.write_all(answer.as_bytes());
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        });
        PolicyServer { port, requests }
    }
}

fn policy(mode: &str, mx: &str) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n")
}

/// DNS: remote.test's MX mx1.remote.test at 127.0.0.`mx`, its policy host at 127.0.0.`web`.
fn zone(mx: u8, web: u8) -> Zone {
    Zone::new()
        .mx("remote.test", 10, "mx1.remote.test")
        .a("mx1.remote.test", ip(mx))
        .txt("_mta-sts.remote.test", "v=STSv1; id=20261203T1;")
        .a("mta-sts.remote.test", ip(web))
}

fn config(mx_port: u16, sts_port: u16, ca: &Path) -> String {
    format!(
        "[relay]\nallow = [\"127.0.0.1\"]\n\n[queue]\nretry_min = 1\nretry_max = 2\n\
         mx_port = {mx_port}\nmta_sts_port = {sts_port}\n\n[tls]\noutbound_ca = {}\n",
        toml_str(&ca.to_string_lossy())
    )
}

/// One MTA-STS setting: the MX at 127.0.0.`n` (STARTTLS with a certificate
/// for `mx_cert`, or no TLS at all), the policy server at `n + 1` serving a
/// `mode` policy that names `mx`, and a server that has just queued one
/// message for bob@remote.test.
struct Scene {
    sink: Sink,
    web: PolicyServer,
    server: Server,
    id: String,
    _certs: tempfile::TempDir,
}

fn scene(n: u8, mx_cert: Option<&str>, mode: &str, mx: &str) -> Scene {
    let certs = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(certs.path());
    let sink = Sink::start(
        IpAddr::V4(ip(n)),
        Script {
            tls: mx_cert.map(|name| ca.server(name)),
            ..Script::default()
        },
    );
    let web = PolicyServer::start(
        IpAddr::V4(ip(n + 1)),
        ca.server("mta-sts.remote.test"),
        &policy(mode, mx),
    );
    let server =
        Setup::with_dns(&config(sink.addr.port(), web.port, &ca.pem), zone(n, n + 1)).start();
    let id = send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: sts\r\n\r\nx\r\n",
    );
    Scene {
        sink,
        web,
        server,
        id,
        _certs: certs,
    }
}

#[test]
fn enforce_defers_when_the_mx_is_not_named_by_the_policy() {
    let s = scene(31, Some("mx1.remote.test"), "enforce", "mx.other.test");
    let want = "4.7.5 MTA-STS policy of remote.test (enforce): MX mx1.remote.test is not named by the policy";
    let list = wait_queue_list(&s.server, |out| out.contains(want));
    assert!(
        list.contains(want),
        "queue list:\n{list}\n{}",
        s.server.log()
    );
    let show = queue_cli(&s.server, &["show", &s.id]);
    assert!(show.contains(want), "queue show:\n{show}");
    assert!(s.web.requests.load(Ordering::SeqCst) >= 1);
    assert!(
        s.sink.received().is_empty(),
        "the MX not named by the policy got the mail"
    );
}

#[test]
fn enforce_delivers_over_verified_tls_to_a_named_mx() {
    let s = scene(33, Some("mx1.remote.test"), "enforce", "*.remote.test");
    let got = s.sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1, "not delivered\n{}", s.server.log());
    assert!(got[0].tls, "delivered without TLS under an enforce policy");
    assert!(wait_queue_empty(&s.server));
    assert!(
        s.server.log().contains("MTA-STS policy fetched"),
        "{}",
        s.server.log()
    );
}

#[test]
fn enforce_defers_rather_than_send_in_plaintext_or_to_a_bad_certificate() {
    // The MX offers no STARTTLS at all.
    let s = scene(35, None, "enforce", "mx1.remote.test");
    let want = "MTA-STS policy of remote.test (enforce): TLS is required";
    let list = wait_queue_list(&s.server, |out| out.contains(want));
    assert!(
        list.contains(want),
        "queue list:\n{list}\n{}",
        s.server.log()
    );
    assert!(s.sink.received().is_empty());

    // The MX's certificate is for another name.
    let s = scene(37, Some("mx.other.test"), "enforce", "mx1.remote.test");
    let want =
        "MTA-STS policy of remote.test (enforce): TLS with mx1.remote.test[127.0.0.37] failed";
    let list = wait_queue_list(&s.server, |out| out.contains(want));
    assert!(
        list.contains(want),
        "queue list:\n{list}\n{}",
        s.server.log()
    );
    assert!(s.sink.received().is_empty());
}

#[test]
fn testing_mode_delivers_and_logs_what_would_have_failed() {
    let s = scene(39, None, "testing", "mx.other.test");
    assert_eq!(
        s.sink.wait_for(1, DELIVERY_TIMEOUT).len(),
        1,
        "{}",
        s.server.log()
    );
    assert!(wait_queue_empty(&s.server));
    let log = s.server.log();
    assert!(
        log.contains("MTA-STS policy of remote.test (testing): MX mx1.remote.test is not named by the policy; delivering anyway"),
        "{log}"
    );
}

#[test]
fn a_policy_that_cannot_be_fetched_is_no_policy() {
    // RFC 8461 §5: TXT record, but the policy host does not answer (and
    // no cached policy): deliver as usual, and say so in the log.
    let certs = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new(certs.path());
    let sink = Sink::start(IpAddr::V4(ip(41)), Script::default());
    let closed = free_port(IpAddr::V4(ip(42)));
    let server = Setup::with_dns(&config(sink.addr.port(), closed, &ca.pem), zone(41, 42)).start();
    send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: sts\r\n\r\nx\r\n",
    );
    assert_eq!(
        sink.wait_for(1, DELIVERY_TIMEOUT).len(),
        1,
        "{}",
        server.log()
    );
    assert!(
        server
            .log()
            .contains("MTA-STS policy of remote.test could not be fetched"),
        "{}",
        server.log()
    );
}
