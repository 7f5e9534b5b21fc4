//! Outbound delivery through a `[routes]` entry to a test sink (issue 5):
//! the message arrives intact (dot-stuffing redone, Received header), a
//! 4xx is retried, a 5xx bounces to the local sender with an RFC 3464 DSN,
//! a bounce never bounces, a down sink keeps the message queued with its
//! last error until `queue flush`, and one connection carries several
//! messages.

use portcullis_testkit as common;

use std::net::SocketAddr;

use common::outbound::{
    queue_cli, routed_config, send, wait_maildir, wait_queue_empty, wait_queue_list,
    DELIVERY_TIMEOUT, LO,
};
use common::sink::{Script, Sink};
use common::{find, free_port, show, Setup};

#[test]
fn relayed_mail_reaches_the_routed_sink_intact_with_a_received_header() {
    let sink = Sink::start(
        LO,
        Script {
            size: Some(10_000_000),
            ..Script::default()
        },
    );
    let server = Setup::new(&routed_config(sink.addr, 1, "")).start();
    // As it goes on the wire: lines starting with a dot are stuffed.
    let wire = b"Subject: dots\r\n\r\n..leading dot\r\n...\r\n..\r\nend\r\n";
    let id = send(&server, "alice@local.test", &["bob@remote.test"], wire);

    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(
        got.len(),
        1,
        "nothing arrived at the sink\n{}",
        server.log()
    );
    let m = &got[0];
    assert_eq!(m.mail_from, "alice@local.test");
    assert_eq!(m.rcpts, ["bob@remote.test"]);
    assert_eq!(m.helo, "mx.test");
    // Undone on receipt, redone on relay (docs/reference.md §6): the body is what the client meant.
    assert!(
        m.data
            .ends_with(b"Subject: dots\r\n\r\n.leading dot\r\n..\r\n.\r\nend\r\n"),
        "body changed on the way: {}",
        show(&m.data)
    );
    assert!(
        find(&m.wire, b"\r\n..leading dot\r\n...\r\n..\r\n").is_some(),
        "{}",
        show(&m.wire)
    );
    assert!(m.data.starts_with(b"Received: from "), "{}", show(&m.data));
    assert!(
        find(&m.data, format!("with ESMTP id {id}").as_bytes()).is_some(),
        "the Received header does not carry the queue id {id}: {}",
        show(&m.data)
    );
    // The sink offers PIPELINING: the envelope went in one write.
    assert!(m.pipelined, "MAIL/RCPT/DATA were not pipelined");
    // RFC 1870: the size is declared to a server that announces SIZE.
    assert!(
        m.mail_params.contains("SIZE="),
        "SIZE not declared: {:?}",
        m.mail_params
    );
    assert!(
        wait_queue_empty(&server),
        "still queued: {:?}",
        server.queue_listing()
    );
    assert!(server.log().contains("delivered"), "{}", server.log());
}

#[test]
fn a_message_with_local_and_remote_recipients_is_split() {
    let sink = Sink::start(LO, Script::default());
    let setup = Setup::new(&routed_config(sink.addr, 1, ""));
    setup.add_user("carol", "pw-carol-1");
    let server = setup.start();
    send(
        &server,
        "alice@local.test",
        &["carol@local.test", "bob@remote.test"],
        b"Subject: both\r\n\r\nhi\r\n",
    );
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1);
    // Only the remote recipient goes out; the local one is in her Maildir.
    assert_eq!(got[0].rcpts, ["bob@remote.test"]);
    assert_eq!(server.wait_maildir("carol", 1).len(), 1);
}

#[test]
fn a_4xx_is_retried_until_it_succeeds() {
    let script = Script::default().rcpt("bob@remote.test", &["451 4.3.0 try again later"]);
    let sink = Sink::start(LO, script);
    let server = Setup::new(&routed_config(sink.addr, 1, "")).start();
    let id = send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: retry\r\n\r\nx\r\n",
    );
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1, "not delivered on retry\n{}", server.log());
    assert_eq!(got[0].rcpts, ["bob@remote.test"]);
    assert!(
        sink.connections.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the retry did not open a new connection"
    );
    assert!(wait_queue_empty(&server));
    let log = server.log();
    assert!(
        log.contains("deferred") && log.contains("451 4.3.0"),
        "{log}"
    );
    assert!(log.contains(&id));
}

#[test]
fn a_5xx_bounces_to_the_local_sender_with_a_delivery_status_notification() {
    let script = Script::default().rcpt(
        "bob@remote.test",
        &["550 5.1.1 <bob@remote.test>: no such user"],
    );
    let sink = Sink::start(LO, script);
    let setup = Setup::new(&routed_config(sink.addr, 1, ""));
    setup.add_user("alice", "pw-alice-1");
    let server = setup.start();
    let id = send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: doomed\r\nMessage-ID: <doomed@local.test>\r\n\r\nsecret body\r\n",
    );
    let msgs = wait_maildir(&server, "alice", 1);
    assert_eq!(msgs.len(), 1, "no bounce for alice\n{}", server.log());
    let dsn = String::from_utf8_lossy(&msgs[0]).into_owned();
    // RFC 5321 §4.4 / §4.5.5: a bounce comes from the null sender.
    assert!(dsn.starts_with("Return-Path: <>\r\n"), "{dsn}");
    for needle in [
        "From: Mail Delivery System <MAILER-DAEMON@mx.test>\r\n",
        "To: <alice@local.test>\r\n",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Content-Type: message/delivery-status\r\n",
        "Reporting-MTA: dns; mx.test\r\n",
        &format!("X-Portcullis-Queue-ID: {id}\r\n"),
        "Final-Recipient: rfc822; bob@remote.test\r\n",
        "Action: failed\r\n",
        "Status: 5.1.1\r\n",
        "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such user\r\n",
        "Content-Type: text/rfc822-headers\r\n",
        "Subject: doomed\r\nMessage-ID: <doomed@local.test>\r\n",
    ] {
        assert!(dsn.contains(needle), "DSN lacks {needle:?}:\n{dsn}");
    }
    // The original headers, not the body.
    assert!(!dsn.contains("secret body"), "{dsn}");
    assert!(sink.received().is_empty());
    assert!(wait_queue_empty(&server), "{:?}", server.queue_listing());
}

#[test]
fn a_bounce_that_cannot_be_delivered_is_dropped_not_bounced() {
    let script = Script::default().rcpt("bob@remote.test", &["550 5.1.1 no such user"]);
    let sink = Sink::start(LO, script);
    let server = Setup::new(&routed_config(sink.addr, 1, "")).start();
    // From the null sender, as a bounce is: its failure must not make another.
    send(
        &server,
        "",
        &["bob@remote.test"],
        b"Subject: a bounce\r\n\r\nx\r\n",
    );
    assert!(wait_queue_empty(&server), "{:?}", server.queue_listing());
    // A bounce is queued before the message it reports leaves the queue:
    // with the queue empty, no bounce of a bounce can still come.
    assert!(
        server.queue_messages().is_empty(),
        "a bounce of a bounce was queued"
    );
    assert!(
        server.log().contains("no bounce of a bounce"),
        "{}",
        server.log()
    );
}

#[test]
fn with_the_sink_down_the_message_waits_with_its_last_error_until_flushed() {
    let port = free_port(LO);
    let addr = SocketAddr::new(LO, port);
    // Retries far apart: only `queue flush` can bring the message out in time.
    let server = Setup::new(&routed_config(addr, 3600, "")).start();
    let id = send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: later\r\n\r\nx\r\n",
    );

    let list = wait_queue_list(&server, |out| out.contains("last error"));
    assert!(list.contains(&id), "{list}");
    assert!(
        list.contains("pending    bob@remote.test  attempts 1"),
        "{list}"
    );
    assert!(
        list.contains(&format!(
            "last error: 4.4.1 connect to {addr}: Connection refused"
        )),
        "{list}"
    );

    let sink = Sink::start_on(addr, Script::default());
    let out = queue_cli(&server, &["flush"]);
    assert!(out.contains("1 message(s) scheduled"), "{out}");
    let got = sink.wait_for(1, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 1, "flush did not deliver\n{}", server.log());
    assert!(wait_queue_empty(&server));
    assert_eq!(queue_cli(&server, &["list"]), "The queue is empty.\n");
}

#[test]
fn one_connection_carries_several_messages() {
    let port = free_port(LO);
    let addr = SocketAddr::new(LO, port);
    let server = Setup::new(&routed_config(
        addr,
        3600,
        "[limits]\noutbound_per_destination = 1\n",
    ))
    .start();
    for i in 0..3 {
        send(
            &server,
            "alice@local.test",
            &["bob@remote.test"],
            format!("Subject: batch {i}\r\n\r\nx\r\n").as_bytes(),
        );
    }
    wait_queue_list(&server, |out| out.matches("attempts 1").count() == 3);
    let sink = Sink::start_on(addr, Script::default());
    queue_cli(&server, &["flush"]);
    let got = sink.wait_for(3, DELIVERY_TIMEOUT);
    assert_eq!(got.len(), 3, "{}", server.log());
    assert!(
        got.iter().all(|m| m.connection == got[0].connection),
        "messages spread over connections: {:?}",
        got.iter().map(|m| m.connection).collect::<Vec<_>>()
    );
}

#[test]
fn a_long_delay_is_announced_and_the_lifetime_ends_in_a_bounce() {
    let addr = SocketAddr::new(LO, free_port(LO));
    // Warn after 1 s, give up after 4 s (seconds, for tests).
    let setup = Setup::new(
        &routed_config(addr, 1, "")
            .replace("[queue]\n", "[queue]\ndelay_warning = 1\nlifetime = 4\n"),
    );
    setup.add_user("alice", "pw-alice-1");
    let server = setup.start();
    send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: slow\r\n\r\nx\r\n",
    );
    let msgs = wait_maildir(&server, "alice", 2);
    assert_eq!(
        msgs.len(),
        2,
        "expected a delay warning and a bounce\n{}",
        server.log()
    );
    let texts: Vec<String> = msgs
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    let warning = texts
        .iter()
        .find(|t| t.contains("Subject: Delayed Mail (still being retried)"))
        .unwrap_or_else(|| panic!("no delay warning among {texts:#?}"));
    assert!(
        warning.contains("Action: delayed\r\n") && warning.contains("Will-Retry-Until: "),
        "{warning}"
    );
    let bounce = texts
        .iter()
        .find(|t| t.contains("Subject: Undelivered Mail Returned to Sender"))
        .unwrap_or_else(|| panic!("no bounce among {texts:#?}"));
    assert!(
        bounce.contains("Action: failed\r\nStatus: 5.4.7\r\n"),
        "{bounce}"
    );
    assert!(
        bounce.contains("delivery time expired; last error: connect to"),
        "{bounce}"
    );
    assert!(wait_queue_empty(&server));
}
