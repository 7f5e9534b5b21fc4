//! Delivery by MX (issue 5 §2), with the loopback DNS stub as the only
//! resolver and `queue.mx_port` pointing the "port 25" of every MX host at
//! a test sink: MX → host → 127.0.0.x, fallback to the next MX when the
//! first refuses, implicit MX (A record only), and null MX (RFC 7505)
//! bouncing at once.

use portcullis_testkit as common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::outbound::{send, wait_maildir, wait_queue_empty, DELIVERY_TIMEOUT};
use common::sink::{Script, Sink};
use common::{free_port, Setup, Zone};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

/// No `[routes]`, no smarthost: DNS decides. Every MX host listens on `port`.
fn mx_config(port: u16) -> String {
    format!("[relay]\nallow = [\"127.0.0.1\"]\n\n[queue]\nretry_min = 1\nretry_max = 2\nmx_port = {port}\n")
}

#[test]
fn mail_goes_to_the_domains_mx_host() {
    let sink = Sink::start(IpAddr::V4(ip(3)), Script::default());
    let zone = Zone::new()
        .mx("remote.test", 10, "mx1.remote.test")
        .a("mx1.remote.test", ip(3));
    let server = Setup::with_dns(&mx_config(sink.addr.port()), zone).start();
    send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: by MX\r\n\r\nhello\r\n",
    );
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(
        got.len(),
        1,
        "nothing arrived at the MX\n{}\nDNS saw {:?}",
        server.log(),
        server.dns.seen()
    );
    assert_eq!(got[0].rcpts, ["bob@remote.test"]);
    assert!(wait_queue_empty(&server));
    assert!(
        server.log().contains("mx1.remote.test[127.0.0.3]"),
        "{}",
        server.log()
    );
}

#[test]
fn when_the_best_mx_refuses_the_next_one_takes_the_mail() {
    // mx1 (preference 10) has nothing listening on the port: refused.
    let sink = Sink::start(IpAddr::V4(ip(5)), Script::default());
    let port = sink.addr.port();
    assert!(std::net::TcpStream::connect(SocketAddr::new(IpAddr::V4(ip(4)), port)).is_err());
    let zone = Zone::new()
        .mx("remote.test", 10, "mx1.remote.test")
        .mx("remote.test", 20, "mx2.remote.test")
        .a("mx1.remote.test", ip(4))
        .a("mx2.remote.test", ip(5));
    let server = Setup::with_dns(&mx_config(port), zone).start();
    send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: fallback\r\n\r\nx\r\n",
    );
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1, "the second MX got nothing\n{}", server.log());
    assert!(wait_queue_empty(&server));
    let log = server.log();
    assert!(
        log.contains("connect to 127.0.0.4"),
        "the first MX was not tried first:\n{log}"
    );
    assert!(log.contains("mx2.remote.test[127.0.0.5]"), "{log}");
}

#[test]
fn a_554_greeting_sends_the_mail_to_the_next_mx() {
    let refusing = Sink::start(
        IpAddr::V4(ip(6)),
        Script {
            greetings: ["554 5.3.2 not accepting mail".to_string()].into(),
            ..Script::default()
        },
    );
    let port = refusing.addr.port();
    let good = Sink::start_on(SocketAddr::new(IpAddr::V4(ip(7)), port), Script::default());
    let zone = Zone::new()
        .mx("remote.test", 5, "busy.remote.test")
        .mx("remote.test", 50, "good.remote.test")
        .a("busy.remote.test", ip(6))
        .a("good.remote.test", ip(7));
    let server = Setup::with_dns(&mx_config(port), zone).start();
    send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: 554\r\n\r\nx\r\n",
    );
    assert_eq!(
        good.wait_for(1, DELIVERY_TIMEOUT).len(),
        1,
        "{}",
        server.log()
    );
    assert!(refusing.received().is_empty());
}

#[test]
fn a_domain_without_mx_is_its_own_mail_host() {
    let sink = Sink::start(IpAddr::V4(ip(8)), Script::default());
    let zone = Zone::new().a("implicit.test", ip(8));
    let server = Setup::with_dns(&mx_config(sink.addr.port()), zone).start();
    send(
        &server,
        "alice@local.test",
        &["bob@implicit.test"],
        b"Subject: implicit\r\n\r\nx\r\n",
    );
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(
        got.len(),
        1,
        "RFC 5321 §5.1 implicit MX not used\n{}",
        server.log()
    );
    assert_eq!(got[0].rcpts, ["bob@implicit.test"]);
}

#[test]
fn a_null_mx_bounces_at_once_without_a_connection() {
    let sink = Sink::start(IpAddr::V4(ip(9)), Script::default());
    let zone = Zone::new()
        .mx("nomail.test", 0, ".")
        .a("nomail.test", ip(9));
    let setup = Setup::with_dns(&mx_config(sink.addr.port()), zone);
    setup.add_user("alice", "pw-alice-1");
    let server = setup.start();
    send(
        &server,
        "alice@local.test",
        &["bob@nomail.test"],
        b"Subject: to nowhere\r\n\r\nx\r\n",
    );
    let msgs = wait_maildir(&server, "alice", 1);
    assert_eq!(msgs.len(), 1, "no bounce\n{}", server.log());
    let dsn = String::from_utf8_lossy(&msgs[0]);
    // RFC 7505 §4.2: 5.1.10.
    assert!(dsn.contains("Status: 5.1.10\r\n"), "{dsn}");
    assert!(dsn.contains("null MX"), "{dsn}");
    assert!(
        dsn.contains("Final-Recipient: rfc822; bob@nomail.test\r\n"),
        "{dsn}"
    );
    assert_eq!(
        sink.connections.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert!(wait_queue_empty(&server));
}

#[test]
fn a_temporary_dns_failure_keeps_the_message_queued() {
    let zone = Zone::new().servfail("flaky.test");
    let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let setup = Setup::with_dns(&mx_config(port), zone);
    setup.add_user("alice", "pw-alice-1");
    let server = setup.start();
    send(
        &server,
        "alice@local.test",
        &["bob@flaky.test"],
        b"Subject: flaky\r\n\r\nx\r\n",
    );
    let list = common::outbound::wait_queue_list(&server, |out| out.contains("last error"));
    assert!(
        list.contains("4.4.3 MX lookup for flaky.test failed temporarily"),
        "{list}"
    );
    // Never a bounce for a DNS hiccup.
    assert!(server.maildir_messages("alice").is_empty());
}

#[test]
fn an_mx_pointing_back_at_this_server_bounces_as_a_loop() {
    // loop.test is no local domain, but its MX is this server's own
    // listener: sending there would queue the message again, forever.
    let zone = Zone::new()
        .mx("loop.test", 10, "mx.loop.test")
        .a("mx.loop.test", ip(1));
    let setup = Setup::with_dns("[relay]\nallow = [\"127.0.0.1\"]\n", zone);
    setup.add_user("alice", "pw-alice-mxloop");
    let config = format!(
        "{}\n[queue]\nretry_min = 1\nretry_max = 2\nmx_port = {}\n",
        setup.config_text(),
        setup.smtp_port
    );
    std::fs::write(&setup.config_path, config).expect("write the config");
    let server = setup.start();
    send(
        &server,
        "alice@local.test",
        &["bob@loop.test"],
        b"Subject: loop by MX\r\n\r\nx\r\n",
    );
    let bounces = wait_maildir(&server, "alice", 1);
    assert_eq!(bounces.len(), 1, "no bounce:\n{}", server.log());
    let text = String::from_utf8_lossy(&bounces[0]);
    assert!(
        text.contains("mail for loop.test loops back to myself") && text.contains("5.4.6"),
        "{text}"
    );
    assert!(wait_queue_empty(&server));
    assert_eq!(
        server.log().matches(": connect port=").count(),
        1,
        "{}",
        server.log()
    );
}
