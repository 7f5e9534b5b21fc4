//! `portcullis queue list|show|flush|delete` (docs/reference.md §1, issue 5 §6): through
//! the control socket while the server runs, straight on the queue
//! directory when it does not; bad ids refused with exit 2.

use portcullis_testkit as common;

use std::net::SocketAddr;

use common::outbound::{queue_cli, routed_config, send, wait_queue_list, LO};
use common::sink::{Script, Sink};
use common::{describe, free_port, Setup};

#[test]
fn list_show_and_delete_while_the_server_runs() {
    let addr = SocketAddr::new(LO, free_port(LO));
    let server = Setup::new(&routed_config(addr, 3600, "")).start();
    let first = send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: first\r\n\r\none\r\n",
    );
    let second = send(
        &server,
        "carol@local.test",
        &["dave@remote.test", "erin@remote.test"],
        b"Subject: second\r\n\r\nOK this line starts like a control answer\r\nERR and so does this\r\n",
    );
    let list = wait_queue_list(&server, |out| out.matches("last error").count() == 3);
    for needle in [
        first.as_str(),
        second.as_str(),
        "from <alice@local.test>",
        "from <carol@local.test>",
        "pending    dave@remote.test  attempts 1  next try ",
        "pending    erin@remote.test",
        "-- 2 messages, ",
    ] {
        assert!(
            list.contains(needle),
            "queue list lacks {needle:?}:\n{list}"
        );
    }

    // `show`: the envelope and the message, even lines that look like the
    // socket's own OK/ERR.
    let show = queue_cli(&server, &["show", &second]);
    assert!(show.contains("client: 127.0.0.1"), "{show}");
    assert!(
        show.contains("--- message ---\nReceived: from client.test"),
        "{show}"
    );
    assert!(
        show.contains("\nOK this line starts like a control answer\nERR and so does this\n"),
        "{show}"
    );

    let out = queue_cli(&server, &["delete", &first]);
    assert!(out.contains(&format!("message {first} deleted")), "{out}");
    let list = queue_cli(&server, &["list"]);
    assert!(!list.contains(&first) && list.contains(&second), "{list}");

    // Unknown: a runtime failure (exit 1) naming the id.
    let out = server.cli(&["queue", "show", &first]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("no message {first} in the queue"))
    );
    // Not an id at all: bad input (exit 2), and no file name is ever built from it.
    let out = server.cli(&["queue", "delete", "../../etc/passwd"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a queue id"),
        "{}",
        describe(&out)
    );
}

#[test]
fn the_queue_commands_work_on_the_directory_when_the_server_is_down() {
    let addr = SocketAddr::new(LO, free_port(LO));
    let mut server = Setup::new(&routed_config(addr, 3600, "")).start();
    let id = send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: offline\r\n\r\nx\r\n",
    );
    wait_queue_list(&server, |out| out.contains("last error"));
    server.stop();

    let list = queue_cli(&server, &["list"]);
    assert!(
        list.contains(&id) && list.contains("Connection refused"),
        "{list}"
    );
    let show = queue_cli(&server, &["show", &id]);
    assert!(show.contains("Subject: offline"), "{show}");
    let out = queue_cli(&server, &["flush"]);
    assert!(
        out.contains("the server is not running: 1 message(s) will be tried as soon as it starts"),
        "{out}"
    );
    // Flushed offline: at the next start it goes at once, although its
    // retry was an hour away.
    let sink = Sink::start_on(addr, Script::default());
    let server = server.restart();
    assert_eq!(
        sink.wait_for(1, common::outbound::DELIVERY_TIMEOUT).len(),
        1,
        "{}",
        server.log()
    );
    assert!(common::outbound::wait_queue_empty(&server));
    assert_eq!(queue_cli(&server, &["list"]), "The queue is empty.\n");
}

#[test]
fn delete_offline_removes_the_message() {
    let addr = SocketAddr::new(LO, free_port(LO));
    let mut server = Setup::new(&routed_config(addr, 3600, "")).start();
    let id = send(
        &server,
        "alice@local.test",
        &["bob@remote.test"],
        b"Subject: gone\r\n\r\nx\r\n",
    );
    server.stop();
    let out = queue_cli(&server, &["delete", &id]);
    assert!(out.contains("deleted"), "{out}");
    assert!(
        server.queue_messages().is_empty(),
        "{:?}",
        server.queue_listing()
    );
}
