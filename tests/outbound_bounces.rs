//! One bounce per message per pass, not one per destination (as Postfix's
//! bounce daemon and qmgr do): a message whose recipients fail at several
//! destinations in one pass gets its sender a single RFC 3464 DSN naming
//! them all; a recipient that is only deferred stays queued, and when a
//! later pass fails it for good, its bounce is a second, separate DSN for
//! it alone. Delay warnings and the bounce at expiry are one per pass too.

use portcullis_testkit as common;

use std::net::SocketAddr;
use std::time::Duration;

use common::outbound::{
    queue_cli, send, wait_maildir, wait_queue_empty, wait_queue_list, DELIVERY_TIMEOUT, LO,
};
use common::sink::{Script, Sink};
use common::{free_port, Server, Setup};

/// `[relay]` for the tests, `a.test` and `b.test` routed to two next hops,
/// and a `[queue]` retrying after `retry_min` seconds, then `extra`.
fn two_routes(a: SocketAddr, b: SocketAddr, retry_min: u64, extra: &str) -> String {
    format!(
        "[relay]\nallow = [\"127.0.0.1\"]\n\n\
         [routes]\n\"a.test\" = \"{a}\"\n\"b.test\" = \"{b}\"\n\n\
         [queue]\nretry_min = {retry_min}\nretry_max = {}\n{extra}",
        retry_min.max(2)
    )
}

/// A server with user alice (the sender, who gets the bounces).
fn server(config: &str) -> Server {
    let setup = Setup::new(config);
    setup.add_user("alice", "pw-alice-1");
    setup.start()
}

/// Alice's messages as text.
fn texts(msgs: &[Vec<u8>]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect()
}

/// The recipients a DSN reports on (its `Final-Recipient` fields).
fn reported(dsn: &str) -> Vec<String> {
    let mut out: Vec<String> = dsn
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("Final-Recipient: rfc822; "))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

/// Asserts alice still has exactly `n` messages once the queue holds only
/// the `still_queued` messages waiting for a later pass: a bounce is queued
/// before the state it reports is saved, so with the bounces gone from the
/// queue no further one can arrive.
fn assert_no_more(server: &Server, n: usize, still_queued: usize) {
    let deadline = std::time::Instant::now() + DELIVERY_TIMEOUT;
    while server.queue_messages().len() > still_queued {
        assert!(
            std::time::Instant::now() < deadline,
            "still queued: {:?}",
            server.queue_listing()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let msgs = server.maildir_messages("alice");
    assert_eq!(
        msgs.len(),
        n,
        "another notice arrived: {:#?}\n{}",
        texts(&msgs),
        server.log()
    );
}

#[test]
fn failures_at_two_destinations_make_one_bounce_naming_every_recipient() {
    let sink_a = Sink::start(
        LO,
        Script::default()
            .rcpt("bob@a.test", &["550 5.1.1 no such user bob"])
            .rcpt("carol@a.test", &["550 5.1.1 no such user carol"]),
    );
    let sink_b = Sink::start(
        LO,
        Script::default().rcpt("dave@b.test", &["550 5.1.1 no such user dave"]),
    );
    let server = server(&two_routes(sink_a.addr, sink_b.addr, 1, ""));
    let id = send(
        &server,
        "alice@local.test",
        &["bob@a.test", "carol@a.test", "dave@b.test"],
        b"Subject: to three\r\n\r\nx\r\n",
    );

    let msgs = wait_maildir(&server, "alice", 1);
    assert_eq!(msgs.len(), 1, "no bounce for alice\n{}", server.log());
    let dsn = &texts(&msgs)[0];
    assert!(
        dsn.contains("Subject: Undelivered Mail Returned to Sender\r\n"),
        "{dsn}"
    );
    assert_eq!(
        reported(dsn),
        ["bob@a.test", "carol@a.test", "dave@b.test"],
        "{dsn}"
    );
    assert_eq!(dsn.matches("Action: failed\r\n").count(), 3, "{dsn}");
    for who in ["bob", "carol", "dave"] {
        assert!(
            dsn.contains(&format!("550 5.1.1 no such user {who}")),
            "{who}'s reason is missing:\n{dsn}"
        );
    }
    assert!(
        wait_queue_empty(&server),
        "still queued: {:?}",
        server.queue_listing()
    );
    assert_no_more(&server, 1, 0);

    let log = server.log();
    // Each failure is logged when decided; the bounce is queued once.
    assert_eq!(log.matches("status=\"bounced\"").count(), 3, "{log}");
    let bounces = log
        .lines()
        .filter(|l| l.contains(&id) && l.contains("bounce queued"))
        .count();
    assert_eq!(bounces, 1, "{log}");
    assert!(sink_a.received().is_empty() && sink_b.received().is_empty());
}

#[test]
fn a_deferred_destination_stays_queued_and_its_later_failure_bounces_separately() {
    let sink_a = Sink::start(
        LO,
        Script::default().rcpt("bob@a.test", &["550 5.1.1 no such user bob"]),
    );
    let sink_b = Sink::start(
        LO,
        Script::default().rcpt(
            "dave@b.test",
            &["451 4.3.0 try again later", "550 5.1.1 no such user dave"],
        ),
    );
    // Retries an hour apart: only `queue flush` brings the second pass.
    let server = server(&two_routes(sink_a.addr, sink_b.addr, 3600, ""));
    let id = send(
        &server,
        "alice@local.test",
        &["bob@a.test", "dave@b.test"],
        b"Subject: to two\r\n\r\nx\r\n",
    );

    // Pass 1: bob fails, dave is deferred. The bounce names bob only.
    let msgs = wait_maildir(&server, "alice", 1);
    assert_eq!(msgs.len(), 1, "no bounce for alice\n{}", server.log());
    let first = texts(&msgs).remove(0);
    assert_eq!(reported(&first), ["bob@a.test"], "{first}");
    assert!(!first.contains("Action: delayed"), "{first}");

    let list = wait_queue_list(&server, |out| {
        out.contains("failed     bob@a.test") && out.contains("pending    dave@b.test")
    });
    assert!(list.contains(&id), "{list}");
    assert!(list.contains("failed     bob@a.test  attempts 1"), "{list}");
    assert!(
        list.contains("pending    dave@b.test  attempts 1"),
        "{list}"
    );
    assert!(list.contains("451 4.3.0 try again later"), "{list}");
    assert_no_more(&server, 1, 1);

    // Pass 2: dave fails for good; his bounce is a DSN of its own.
    queue_cli(&server, &["flush"]);
    let msgs = wait_maildir(&server, "alice", 2);
    assert_eq!(msgs.len(), 2, "no second bounce\n{}", server.log());
    let second = texts(&msgs)
        .into_iter()
        .find(|t| *t != first)
        .unwrap_or_else(|| panic!("the second bounce is the first one again"));
    assert_eq!(reported(&second), ["dave@b.test"], "{second}");
    assert!(second.contains("550 5.1.1 no such user dave"), "{second}");
    assert!(
        wait_queue_empty(&server),
        "still queued: {:?}",
        server.queue_listing()
    );
    assert_no_more(&server, 2, 0);
    assert_eq!(
        sink_b.connections.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[test]
fn two_unreachable_destinations_get_one_delay_warning_and_one_bounce_at_expiry() {
    // Nobody listens at either address.
    let a = SocketAddr::new(LO, free_port(LO));
    let b = SocketAddr::new(LO, free_port(LO));
    // Warn after 1 s, give up after 4 s (seconds, for tests).
    let server = server(&two_routes(a, b, 1, "delay_warning = 1\nlifetime = 4\n"));
    send(
        &server,
        "alice@local.test",
        &["bob@a.test", "dave@b.test"],
        b"Subject: slow\r\n\r\nx\r\n",
    );

    let msgs = wait_maildir(&server, "alice", 2);
    assert!(
        wait_queue_empty(&server),
        "still queued: {:?}",
        server.queue_listing()
    );
    assert_no_more(&server, 2, 0);
    let all = texts(&msgs);
    let warning = all
        .iter()
        .find(|t| t.contains("Subject: Delayed Mail (still being retried)"))
        .unwrap_or_else(|| panic!("no delay warning among {all:#?}"));
    assert_eq!(
        reported(warning),
        ["bob@a.test", "dave@b.test"],
        "{warning}"
    );
    assert_eq!(warning.matches("Action: delayed\r\n").count(), 2);
    let bounce = all
        .iter()
        .find(|t| t.contains("Subject: Undelivered Mail Returned to Sender"))
        .unwrap_or_else(|| panic!("no bounce among {all:#?}"));
    assert_eq!(reported(bounce), ["bob@a.test", "dave@b.test"], "{bounce}");
    assert_eq!(
        bounce
            .matches("Action: failed\r\nStatus: 5.4.7\r\n")
            .count(),
        2,
        "{bounce}"
    );
}

#[test]
fn failures_of_a_bounce_at_two_destinations_are_dropped_without_a_bounce() {
    let sink_a = Sink::start(
        LO,
        Script::default().rcpt("bob@a.test", &["550 5.1.1 no such user"]),
    );
    let sink_b = Sink::start(
        LO,
        Script::default().rcpt("dave@b.test", &["550 5.1.1 no such user"]),
    );
    let server = server(&two_routes(sink_a.addr, sink_b.addr, 1, ""));
    // From the null sender, as a bounce is (RFC 5321 §4.5.5).
    send(
        &server,
        "",
        &["bob@a.test", "dave@b.test"],
        b"Subject: a bounce\r\n\r\nx\r\n",
    );
    assert!(
        wait_queue_empty(&server),
        "still queued: {:?}",
        server.queue_listing()
    );
    // A bounce is queued before the message it reports leaves the queue:
    // with the queue empty, no bounce of a bounce can still come.
    assert!(
        server.queue_messages().is_empty(),
        "a bounce of a bounce was queued"
    );
    assert!(server.maildir_messages("alice").is_empty());
    assert!(
        server.log().contains("no bounce of a bounce"),
        "{}",
        server.log()
    );
}

#[test]
fn a_route_back_to_this_server_bounces_as_a_loop_and_never_connects() {
    // A route whose next hop is our own SMTP listener would relay the
    // message to ourselves again and again: it bounces (5.4.6) instead.
    let setup = Setup::new("[relay]\nallow = [\"127.0.0.1\"]\n");
    setup.add_user("alice", "pw-alice-loop");
    let config = format!(
        "{}\n[routes]\n\"loop.test\" = \"127.0.0.1:{}\"\n",
        setup.config_text(),
        setup.smtp_port
    );
    std::fs::write(&setup.config_path, config).expect("write the config");
    let server = setup.start();
    send(
        &server,
        "alice@local.test",
        &["bob@loop.test"],
        b"Subject: round and round\r\n\r\nx\r\n",
    );
    let msgs = texts(&wait_maildir(&server, "alice", 1));
    assert_eq!(msgs.len(), 1, "no bounce:\n{}", server.log());
    assert!(
        msgs[0].contains("mail for loop.test loops back to myself") && msgs[0].contains("5.4.6"),
        "{}",
        msgs[0]
    );
    assert!(wait_queue_empty(&server), "{:?}", server.queue_listing());
    // Only the test's own session ever connected.
    let log = server.log();
    assert_eq!(log.matches(": connect port=").count(), 1, "{log}");
}
