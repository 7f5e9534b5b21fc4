//! The queue commands an admin needs (issue 12): hold and release (kept
//! across a restart), delete ALL with a confirmation, and `queue show`
//! printing a message as it is, header-folding tabs included.

use portcullis_testkit as common;

use std::net::SocketAddr;
use std::time::Duration;

use common::outbound::{queue_cli, routed_config, send, wait_queue_empty, DELIVERY_TIMEOUT, LO};
use common::sink::{Script, Sink};
use common::{describe, free_port, Setup};

#[test]
fn a_held_message_waits_for_its_release_even_across_a_restart() {
    // Nothing listens at the route yet: the first attempt fails and the
    // message is retried every second.
    let addr = SocketAddr::new(LO, free_port(LO));
    let server = Setup::new(&routed_config(addr, 1, "")).start();
    let id = send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: held\r\n\tfolded here\r\n\r\nx\r\n",
    );
    let out = queue_cli(&server, &["hold", &id]);
    assert!(out.contains(&format!("message {id} held")), "{out}");
    let list = queue_cli(&server, &["list"]);
    assert!(list.contains("HELD"), "{list}");
    // queue show keeps the folding tab.
    let show = queue_cli(&server, &["show", &id]);
    assert!(show.contains("Subject: held\n\tfolded here\n"), "{show:?}");

    let sink = Sink::start_on(addr, Script::default());
    let out = queue_cli(&server, &["flush"]);
    assert!(out.contains("no message is due: 1 held"), "{out}");
    let server = server.restart();
    // Due many times over, but held: nothing reaches the sink.
    assert!(
        sink.wait_for(1, Duration::from_secs(3)).is_empty(),
        "{}",
        server.log()
    );
    assert!(queue_cli(&server, &["list"]).contains("HELD"));

    let out = queue_cli(&server, &["release", &id]);
    assert!(out.contains(&format!("message {id} released")), "{out}");
    assert_eq!(
        sink.wait_for(1, DELIVERY_TIMEOUT).len(),
        1,
        "{}",
        server.log()
    );
    assert!(wait_queue_empty(&server));
    let out = server.cli(&["queue", "hold", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[test]
fn delete_all_needs_a_confirmation_and_empties_the_queue() {
    let addr = SocketAddr::new(LO, free_port(LO));
    let mut server = Setup::new(&routed_config(addr, 3600, "")).start();
    for i in 0..3 {
        send(
            &server,
            "alice@local.test",
            &["bob@remote.test"],
            format!("Subject: {i}\r\n\r\nx\r\n").as_bytes(),
        );
    }
    // Without --yes and without a terminal to ask on: refused, nothing deleted.
    let out = server.cli(&["queue", "delete", "ALL"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("add --yes to confirm"),
        "{}",
        describe(&out)
    );
    assert_eq!(server.queue_messages().len(), 3);
    assert_eq!(
        queue_cli(&server, &["delete", "ALL", "--yes"]).trim(),
        "3 message(s) deleted"
    );
    assert!(wait_queue_empty(&server));
    assert_eq!(queue_cli(&server, &["flush"]).trim(), "The queue is empty.");
    // The same on the directory of a stopped server.
    send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: z\r\n\r\nx\r\n",
    );
    server.stop();
    assert_eq!(
        queue_cli(&server, &["delete", "ALL", "--yes"]).trim(),
        "1 message(s) deleted"
    );
    assert!(server.queue_messages().is_empty());
}
