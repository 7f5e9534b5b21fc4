//! Upgrading to the one-file queue format (docs/reference.md §7): messages
//! an older build left in the queue as `<id>.msg` + `<id>.env` are
//! recovered (never taken for a crash's orphans), delivered exactly once
//! to their pending recipients, and removed; new mail alongside them uses
//! the one-file format.

use portcullis_testkit as common;

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::outbound::{routed_config, send, wait_queue_empty, DELIVERY_TIMEOUT, LO};
use common::sink::{Script, Sink};
use common::{find, show, Setup};

/// Writes an old-format queued message as an older build did: the message
/// bytes in `<id>.msg`, the envelope as pretty JSON in `<id>.env`.
fn write_old_format(queue: &Path, id: &str, recipients: &str, message: &[u8]) {
    let envelope = format!(
        r#"{{
  "version": 1,
  "id": "{id}",
  "created": {created},
  "sender": "alice@local.test",
  "recipients": [{recipients}],
  "helo": "client.example",
  "client_ip": "127.0.0.1",
  "auth_user": null,
  "body": "7bit",
  "smtputf8": false
}}
"#,
        created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    );
    std::fs::write(queue.join(format!("{id}.msg")), message).unwrap();
    std::fs::write(queue.join(format!("{id}.env")), envelope).unwrap();
}

fn recipient(address: &str, state: &str) -> String {
    format!(
        r#"{{"address": "{address}", "state": "{state}", "attempts": 0, "last_error": null, "next_attempt": 0}}"#
    )
}

#[test]
fn an_old_format_queue_is_delivered_exactly_once_by_the_new_build() {
    let sink = Sink::start(LO, Script::default());
    let setup = Setup::new(&routed_config(sink.addr, 1, ""));
    let queue = setup.data_dir.join("queue");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&queue)
        .unwrap();
    // One pending recipient; and one message half delivered before the
    // upgrade, whose delivered recipient must not get it again.
    let fresh = "0AAAAAAAAAAOLD01";
    write_old_format(
        &queue,
        fresh,
        &recipient("bob@remote.test", "pending"),
        b"Subject: queued before the upgrade\r\n\r\nold format one\r\n",
    );
    let half = "0AAAAAAAAAAOLD02";
    write_old_format(
        &queue,
        half,
        &[
            recipient("done@remote.test", "delivered"),
            recipient("carol@remote.test", "pending"),
        ]
        .join(", "),
        b"Subject: half delivered\r\n\r\nold format two\r\n",
    );

    let server = setup.start();
    // And new mail goes out alongside, through the one-file format.
    let new_id = send(
        &server,
        "alice@local.test",
        &["dave@remote.test"],
        b"Subject: new\r\n\r\nnew format\r\n",
    );

    let got = sink.wait_for(3, DELIVERY_TIMEOUT);
    assert!(
        wait_queue_empty(&server),
        "still queued: {:?}\n{}",
        server.queue_listing(),
        server.log()
    );
    // Give a wrongly repeated delivery the time to show (bounded: the
    // queue is empty, so nothing should move any more).
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle && sink.received().len() == got.len() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = sink.received();
    let mut rcpts: Vec<String> = got.iter().flat_map(|m| m.rcpts.clone()).collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        ["bob@remote.test", "carol@remote.test", "dave@remote.test"],
        "each pending recipient exactly once, the delivered one never\n{}",
        server.log()
    );
    for (rcpt, body) in [
        ("bob@remote.test", &b"old format one"[..]),
        ("carol@remote.test", b"old format two"),
        ("dave@remote.test", b"new format"),
    ] {
        let m = got.iter().find(|m| m.rcpts == [rcpt]).unwrap();
        assert!(find(&m.data, body).is_some(), "{rcpt}: {}", show(&m.data));
    }
    let log = server.log();
    assert!(
        !log.contains("without envelope") && !log.contains("without message"),
        "recovery took an old-format message for an orphan:\n{log}"
    );
    for id in [fresh, half, &new_id] {
        assert!(
            log.contains(&format!("queue_id={id}")) || log.contains(id),
            "{id} not in the log:\n{log}"
        );
    }
}
