//! `portcullis unban ADDRESS` (issue 12): lifts an AUTH ban in the running
//! server through its control socket, so a locked-out user need not wait
//! `auth.ban_seconds` nor restart the server.

use portcullis_testkit as common;
use portcullis_testkit::auth_support;

use std::net::Ipv4Addr;

use auth_support::{server_with, Smtp};
use common::describe;

#[test]
fn unban_lifts_a_ban_at_once() {
    let server = server_with(
        "[auth]\ndelay_after = 5\nban_after = 2\nban_seconds = 600\n",
        &[],
    );
    let banned = Ipv4Addr::new(127, 0, 66, 6);
    let mut c = Smtp::plain(banned, server.smtp_port).greeted();
    c.ehlo("client.test");
    assert_eq!(c.auth_cram_md5("alice", "wrong-1").0, 535);
    assert_eq!(c.auth_cram_md5("alice", "wrong-2").0, 535);
    assert_eq!(c.read_reply().0, 421);
    assert_eq!(Smtp::plain(banned, server.smtp_port).read_reply().0, 421);
    let status = server.cli(&["status"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("127.0.66.6"),
        "{}",
        describe(&status)
    );

    let out = server.cli(&["unban", "127.0.66.6"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ban on 127.0.66.6 lifted"
    );
    assert_eq!(Smtp::plain(banned, server.smtp_port).read_reply().0, 220);

    let out = server.cli(&["unban", "127.0.66.6"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("127.0.66.6 was not banned"),
        "{}",
        describe(&out)
    );
    let out = server.cli(&["unban", "not-an-ip"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}
