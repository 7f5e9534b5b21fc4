//! The Prometheus endpoint (`[metrics] listen`), scraped like `curl
//! 127.0.0.1:9325/metrics` would: off by default, and its counters move as
//! sessions connect, deliver, get refused, authenticate and shake hands.

use portcullis_testkit as common;
use portcullis_testkit::auth_support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use auth_support::{server_with, Smtp, TlsOptions, ALICE_PW};
use common::{free_port, Server, DENIED};

/// `GET path` over HTTP/1.1; returns (status line, body).
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to the metrics endpoint {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: curl/8\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The value of one sample line (`name{labels}`), 0 when absent.
fn sample(body: &str, series: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Scrapes until `series` reaches `at_least` (counters move after the reply
/// that caused them), bounded.
fn wait_for(addr: SocketAddr, series: &str, at_least: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = get(addr, "/metrics");
        if sample(&body, series) >= at_least || Instant::now() > deadline {
            assert!(
                sample(&body, series) >= at_least,
                "{series} did not reach {at_least}:\n{body}"
            );
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metrics_toml() -> (String, SocketAddr) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let addr = SocketAddr::new(lo, free_port(lo));
    (format!("[metrics]\nlisten = \"{addr}\"\n"), addr)
}

#[test]
fn the_counters_move_during_a_run() {
    let (toml, addr) = metrics_toml();
    let server = server_with(&toml, &[]);
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    for family in [
        "# TYPE portcullis_smtp_connections counter",
        "# TYPE portcullis_smtp_sessions gauge",
        "# TYPE portcullis_queue_messages gauge",
        "# TYPE portcullis_queue_oldest_message_age_seconds gauge",
        "# TYPE portcullis_delivery_attempts counter",
        "portcullis_auth_attempts_total{result=\"failure\"} 0",
        "portcullis_tls_handshakes_total{result=\"ok\"} 0",
        "portcullis_directory_info{backend=\"files\",version=\"users file inode ",
        "portcullis_directory_confirmed_age_seconds 0",
        "portcullis_directory_stale 0",
    ] {
        assert!(body.contains(family), "missing {family:?}:\n{body}");
    }
    let before = sample(
        &body,
        "portcullis_smtp_connections_total{listener=\"smtp\"}",
    );

    // A delivery from an allowed client.
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail(
        "carol@remote.example",
        &["alice@local.test"],
        b"Subject: m\r\n\r\nx\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    let body = wait_for(addr, "portcullis_smtp_messages_accepted_total", 1);
    assert!(
        sample(
            &body,
            "portcullis_smtp_connections_total{listener=\"smtp\"}"
        ) > before,
        "{body}"
    );

    // A relay denial from an address nobody listed, by rule kind and reason.
    let mut d = server.ehlo_from(DENIED);
    d.expect("MAIL FROM:<x@remote.example>", 250);
    d.expect("RCPT TO:<someone@elsewhere.example>", 554);
    d.quit_collect();
    let body = wait_for(
        addr,
        "portcullis_relay_decisions_total{result=\"denied\",rule=\"denied\"}",
        1,
    );
    assert!(
        sample(
            &body,
            "portcullis_smtp_rejections_total{code=\"554\",status=\"5.7.1\"}"
        ) >= 1,
        "{body}"
    );

    // A relay grant by the allow list.
    let mut g = server.ehlo_from(Ipv4Addr::LOCALHOST);
    g.expect("MAIL FROM:<x@local.test>", 250);
    g.expect("RCPT TO:<someone@elsewhere.example>", 250);
    g.quit_collect();
    wait_for(
        addr,
        "portcullis_relay_decisions_total{result=\"granted\",rule=\"allow\"}",
        1,
    );

    // Implicit TLS, one good and one bad login.
    let opts = TlsOptions::for_server(&server);
    let mut t = Smtp::implicit_tls(Ipv4Addr::LOCALHOST, server.submissions_port, &opts).greeted();
    t.ehlo("client.test");
    assert_eq!(t.auth_plain("alice", ALICE_PW).0, 235);
    let mut t2 = Smtp::implicit_tls(Ipv4Addr::LOCALHOST, server.submissions_port, &opts).greeted();
    t2.ehlo("client.test");
    assert_eq!(t2.auth_plain("alice", "wrong-password").0, 535);
    let body = wait_for(
        addr,
        "portcullis_auth_attempts_total{result=\"failure\"}",
        1,
    );
    assert!(
        sample(&body, "portcullis_auth_attempts_total{result=\"success\"}") >= 1,
        "{body}"
    );
    assert!(
        sample(&body, "portcullis_tls_handshakes_total{result=\"ok\"}") >= 2,
        "{body}"
    );
    assert!(
        sample(
            &body,
            "portcullis_smtp_connections_total{listener=\"submissions\"}"
        ) >= 2,
        "{body}"
    );
    drop(server);
}

#[test]
fn limit_refusals_are_counted_by_the_key_of_the_limit() {
    let (toml, addr) = metrics_toml();
    let server = server_with(&format!("{toml}\n[limits]\nconnection_rate = 1\n"), &[]);
    let (_, body) = get(addr, "/metrics");
    assert!(
        body.contains("# TYPE portcullis_limit_refusals counter"),
        "{body}"
    );
    let fast = Ipv4Addr::new(127, 0, 0, 9);
    server.ehlo_from(fast).quit_collect();
    let mut refused = common::Client::connect_addr(IpAddr::V4(fast), server.smtp_addr());
    assert_eq!(refused.read_reply().0, 421);
    wait_for(
        addr,
        "portcullis_limit_refusals_total{limit=\"connection_rate\"}",
        1,
    );
}

#[test]
fn only_get_metrics_is_served_and_the_endpoint_is_off_by_default() {
    let (toml, addr) = metrics_toml();
    let server = Server::start(&toml);
    assert_eq!(get(addr, "/").0, "HTTP/1.1 404 Not Found");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 405 "), "{reply}");
    drop(server);

    // Without [metrics] nothing listens on the port.
    let other = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        free_port(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    );
    let plain = Server::start("");
    assert!(TcpStream::connect_timeout(&other, Duration::from_millis(300)).is_err());
    assert!(plain.log().contains("listening"), "{}", plain.log());
    assert!(!plain.log().contains("metrics endpoint"), "{}", plain.log());
}
