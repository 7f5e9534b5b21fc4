//! Process lifecycle seen from outside (docs/reference.md §1, §7): SIGTERM drains and
//! exits 0, a message acknowledged with 250 survives a restart, and a
//! configuration that cannot be parsed stops `serve` with a clear error.

use portcullis_testkit as common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::Setup;

#[test]
fn sigterm_drains_sessions_and_exits_zero() {
    let mut server = Setup::new("").start();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<a@remote.example>", 250);
    let status = server.stop().expect("serve had already exited");
    assert!(status.success(), "serve exited with {status} on SIGTERM");
    // The session in flight was told (421) or closed; it never hangs.
    match c.try_read_reply(common::IO_TIMEOUT) {
        Ok((421, _)) | Err(common::ReadError::Closed(_)) => {}
        other => panic!("session in flight during shutdown got {other:?}"),
    }
}

#[test]
fn queued_message_survives_a_restart() {
    // The destination's DNS fails temporarily, so the message stays queued.
    let (server, id) = common::server_with_queued_remote(
        b"Subject: durable\r\n\r\nstill here after a restart\r\n",
    );

    let server = server.restart();
    let queued = server.queue_messages();
    let msg = queued
        .iter()
        .find(|(queued_id, _)| *queued_id == id)
        .map(|(_, bytes)| bytes.clone())
        .unwrap_or_else(|| {
            panic!(
                "{id} lost across the restart; queue holds {:?}",
                server.queue_listing()
            )
        });
    assert!(
        server.queue_envelope(&id).is_some(),
        "{id}'s envelope unreadable after the restart"
    );
    assert!(
        common::find(&msg, b"still here after a restart").is_some(),
        "queued message changed: {}",
        common::show(&msg)
    );
    // And the restarted server still takes mail.
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<alice@local.test>", 250);
    c.quit_collect();
}

#[test]
fn unparsable_configuration_stops_serve_with_a_clear_error() {
    let setup = Setup::new("");
    std::fs::write(
        &setup.config_path,
        "hostname = \"mx.test\"\n[relay\nallow = [\"127.0.0.1\"\n",
    )
    .expect("write broken config");
    let (status, output) = setup.serve_expecting_exit(&[], Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("serve kept running on a broken file:\n{output}"));
    assert!(!status.success(), "serve accepted a broken file:\n{output}");
    assert!(
        output.contains("portcullis.toml"),
        "the error does not name the file:\n{output}"
    );
    // docs/reference.md §1: `config check` exits 2 on a configuration it would reject.
    let out = setup.cli(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::describe(&out));
}
