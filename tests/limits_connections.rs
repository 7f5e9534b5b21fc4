//! Connection limits (issue 7 §4): total open connections, open connections
//! per client address and the per-client connection rate. Over each, the
//! client gets `421 4.7.0` and is disconnected; a well-behaved client is
//! still served afterwards. Clients in `relay.allow` (127.0.0.1 here) skip
//! the per-client limits but count toward the total.

use portcullis_testkit as common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{has_enhanced, Client, Server, IO_TIMEOUT};

const TRUSTED: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Connects from `src` and reads the first reply (greeting or refusal).
fn connect(server: &Server, src: Ipv4Addr) -> (Client, u16, String) {
    let mut c = Client::connect_addr(IpAddr::V4(src), server.smtp_addr());
    let (code, text) = c.read_reply();
    (c, code, text)
}

/// Asserts a refusal: `421 4.7.0`, then the connection closes.
fn assert_refused(server: &Server, src: Ipv4Addr, why: &str) {
    let (mut c, code, text) = connect(server, src);
    assert_eq!(code, 421, "{why}: {text}\n{}", server.log());
    assert!(has_enhanced(&text, "4.7.0"), "{why}: {text}");
    c.expect_closed(IO_TIMEOUT);
}

/// A full, well-behaved session from `src`: greeting, EHLO, one message, QUIT.
fn served(server: &Server, src: Ipv4Addr) {
    let mut c = server.ehlo_from(src);
    let (code, text) = c.send_mail(
        "a@remote.test",
        &["postmaster@local.test"],
        b"Subject: hi\r\n\r\nhello\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.quit_clean();
}

/// Retries `f` until it returns true (the server frees a place when it has
/// seen the close, which takes a moment).
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn over_the_total_a_client_gets_421_and_a_freed_place_serves_the_next() {
    let server = Server::start("[limits]\nconnections = 2\n");
    let (mut a, code_a, _) = connect(&server, TRUSTED);
    let (b, code_b, _) = connect(&server, Ipv4Addr::new(127, 0, 0, 3));
    assert_eq!((code_a, code_b), (220, 220));
    // The total counts trusted clients too.
    assert_refused(&server, TRUSTED, "third connection");
    assert_refused(&server, Ipv4Addr::new(127, 0, 0, 4), "third connection");
    a.quit_clean();
    drop(a);
    drop(b);
    assert!(
        eventually(|| connect(&server, TRUSTED).1 == 220),
        "places were not freed\n{}",
        server.log()
    );
    served(&server, TRUSTED);
}

#[test]
fn one_client_gets_at_most_its_share_of_connections() {
    let server = Server::start("[limits]\nconnections_per_client = 2\n");
    let greedy = Ipv4Addr::new(127, 0, 0, 5);
    let (first, c1, _) = connect(&server, greedy);
    let (_second, c2, _) = connect(&server, greedy);
    assert_eq!((c1, c2), (220, 220));
    assert_refused(&server, greedy, "third connection from one address");
    // Other clients are unaffected, and trusted ones are exempt.
    served(&server, Ipv4Addr::new(127, 0, 0, 6));
    let _t1 = connect(&server, TRUSTED);
    let _t2 = connect(&server, TRUSTED);
    served(&server, TRUSTED);
    // Closing one frees a place for the same client.
    drop(first);
    assert!(
        eventually(|| connect(&server, greedy).1 == 220),
        "the closed connection's place was not freed\n{}",
        server.log()
    );
}

#[test]
fn connecting_too_fast_gets_421_while_others_are_served() {
    let server = Server::start("[limits]\nconnection_rate = 3\n");
    let fast = Ipv4Addr::new(127, 0, 0, 7);
    for _ in 0..3 {
        let (mut c, code, text) = connect(&server, fast);
        assert_eq!(code, 220, "{text}");
        c.quit_clean();
    }
    assert_refused(&server, fast, "fourth connection within a minute");
    assert_refused(&server, fast, "refusals do not refill the rate");
    // `status` shows how often each limit bit, by its [limits] key.
    let out = server.cli(&["status"]);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.contains("limit refusals: connection_rate=2\n"),
        "{status}"
    );
    served(&server, Ipv4Addr::new(127, 0, 0, 8));
    for _ in 0..5 {
        served(&server, TRUSTED);
    }
}

#[test]
fn a_slow_flood_cannot_take_the_slots_reserved_for_the_operator() {
    // 20 slots, 2 of them (the default 10 %) kept for relay.allow
    // (127.0.0.1) and auth.never_ban clients.
    let server = Server::start(
        "[limits]\nconnections = 20\n\n[auth]\nnever_ban = [\"127.0.81.1\"]\n\n\
         [relay]\nallow = [\"127.0.0.1\"]\n",
    );
    // Slow clients from 18 addresses take every other slot and sit there.
    let flood: Vec<Client> = (1..=18)
        .map(|i| {
            let (c, code, text) = connect(&server, Ipv4Addr::new(127, 0, 80, i));
            assert_eq!(code, 220, "flood connection {i}: {text}");
            c
        })
        .collect();
    assert_refused(
        &server,
        Ipv4Addr::new(127, 0, 80, 19),
        "past the unreserved slots",
    );
    assert_refused(
        &server,
        Ipv4Addr::new(127, 0, 80, 20),
        "past the unreserved slots",
    );
    // The operator still gets in, and so does a never_ban address.
    let (mut operator, code, text) = connect(&server, TRUSTED);
    assert_eq!(code, 220, "operator: {text}\n{}", server.log());
    operator.ehlo("admin.test");
    let (_never_ban, code, text) = connect(&server, Ipv4Addr::new(127, 0, 81, 1));
    assert_eq!(code, 220, "never_ban client: {text}");
    // The reserve is part of the total, not on top of it.
    assert_refused(&server, TRUSTED, "every slot taken");
    drop(flood);
}
