//! The PROXY protocol (`listen.proxy_from`): behind a load balancer the
//! relay decision, the logs and the `Received:` header use the real client
//! named by the header; a header is accepted only from the listed balancer,
//! and anything else on a proxied listener is refused before the greeting.

use portcullis_testkit as common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{Client, Server, Setup};
use portcullis_smtp::proxy::{v1_header, v2_header};

/// The load balancer's address (listed in `listen.proxy_from`).
const BALANCER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
/// A real client inside the allow list.
const ALLOWED_CLIENT: &str = "127.0.50.1:40000";
/// A real client outside it.
const OTHER_CLIENT: &str = "127.0.60.1:40001";

fn proxied_server() -> Server {
    let setup = Setup::new("[relay]\nallow = [\"127.0.50.0/24\"]\n")
        .with_listen_options("proxy_from = [\"127.0.0.9\"]");
    setup.add_user("alice", "pw-alice-proxy");
    setup.start()
}

/// Connects from `src`, sends `header`, and reads the greeting.
fn through(server: &Server, src: Ipv4Addr, header: &[u8]) -> Client {
    let mut c = Client::connect_addr(IpAddr::V4(src), server.smtp_addr());
    c.send(header);
    let (code, text) = c.read_reply();
    assert_eq!(
        code,
        220,
        "greeting after the PROXY header: {text}\n{}",
        server.log()
    );
    c.ehlo("client.test");
    c
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn the_allow_list_decision_is_made_on_the_real_client_address() {
    let server = proxied_server();
    let front = server.smtp_addr();
    let mut allowed = through(&server, BALANCER, &v1_header(addr(ALLOWED_CLIENT), front));
    allowed.expect("MAIL FROM:<a@remote.example>", 250);
    allowed.expect("RCPT TO:<someone@elsewhere.example>", 250);
    allowed.quit_collect();

    // The balancer itself (127.0.0.9) is not in relay.allow either: only
    // the address in the header counts.
    let mut other = through(&server, BALANCER, &v1_header(addr(OTHER_CLIENT), front));
    other.expect("MAIL FROM:<a@remote.example>", 250);
    other.expect_enhanced("RCPT TO:<someone@elsewhere.example>", 554, "5.7.1");
    other.quit_collect();

    let log = server.log();
    assert!(
        log.contains("client=127.0.50.1") && log.contains("relay=allow:\"127.0.50.0/24\""),
        "{log}"
    );
    assert!(log.contains("client=127.0.60.1"), "{log}");
}

#[test]
fn version_2_headers_work_and_received_names_the_real_client() {
    let server = proxied_server();
    let header = v2_header(
        addr(ALLOWED_CLIENT),
        server.smtp_addr(),
        &[0x04, 0x00, 0x01, 0x00],
    );
    let mut c = through(&server, BALANCER, &header);
    let (code, text) = c.send_mail(
        "carol@remote.example",
        &["alice@local.test"],
        b"Subject: p\r\n\r\nx\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    let msgs = server.wait_maildir("alice", 1);
    assert_eq!(msgs.len(), 1, "{}", server.log());
    let m = String::from_utf8_lossy(&msgs[0]).into_owned();
    assert!(
        m.contains("[127.0.50.1]"),
        "Received must name the real client: {m}"
    );
    assert!(
        !m.contains("127.0.0.9"),
        "the balancer is not the client: {m}"
    );
}

#[test]
fn a_header_from_an_unlisted_address_is_refused() {
    let server = proxied_server();
    // 127.0.0.1 is not the balancer: even a well-formed header claiming an
    // allowed client gets no greeting, only a closed connection.
    let mut c = Client::connect_addr(IpAddr::V4(Ipv4Addr::LOCALHOST), server.smtp_addr());
    c.send(&v1_header(addr(ALLOWED_CLIENT), server.smtp_addr()));
    c.expect_closed(Duration::from_secs(5));
    assert!(
        server.log().contains("accepts only the load balancers"),
        "{}",
        server.log()
    );
}

#[test]
fn the_balancer_must_send_a_valid_header() {
    let server = proxied_server();
    let mut c = Client::connect_addr(IpAddr::V4(BALANCER), server.smtp_addr());
    c.send(b"EHLO client.test\r\n");
    c.expect_closed(Duration::from_secs(5));
    let mut bad = Client::connect_addr(IpAddr::V4(BALANCER), server.smtp_addr());
    bad.send(b"PROXY TCP4 127.0.50.1 127.0.0.1 99999 25\r\n");
    bad.expect_closed(Duration::from_secs(5));
    assert!(
        server.log().contains("bad PROXY header from 127.0.0.9"),
        "{}",
        server.log()
    );
}

#[test]
fn an_allow_entry_covering_the_balancer_is_warned_about() {
    let setup = Setup::new("[relay]\nallow = [\"127.0.0.0/24\"]\n")
        .with_listen_options("proxy_from = [\"127.0.0.9\"]");
    let server = setup.start();
    let log = server.log();
    assert!(
        log.contains("covers the load balancer 127.0.0.9 of listen.proxy_from"),
        "{log}"
    );
}
