//! Address tricks that open relays were (and are) fooled by, sent from a
//! client that may NOT relay (docs/reference.md §3.1: the local part is never rewritten,
//! a source route is ignored, a domain is compared case-insensitively). Each
//! must be refused or treated as an unknown local user, and nothing may ever
//! reach the outbound queue.

use portcullis_testkit as common;

use std::net::Ipv4Addr;

use common::{has_enhanced, Server, DENIED};

const ALLOW_ONLY_LOCALHOST: &str = "[relay]\nallow = [\"127.0.0.1\"]\n";

/// Recipients that name a remote mailbox in some disguise.
const TRICKS: &[&str] = &[
    // Percent hack (RFC 1123 §5.2.16 era): local part `bob%remote.example`.
    "<bob%remote.example@local.test>",
    // UUCP bang path.
    "<remote.example!bob@local.test>",
    // Quoted local part holding an address.
    "<\"bob@remote.example\"@local.test>",
    // RFC 5321 §4.1.2 source route: ignored, destination is remote.example.
    "<@local.test:bob@remote.example>",
    "<@local.test,@mx.test:bob@remote.example>",
    // Trailing dot (absolute domain).
    "<bob@remote.example.>",
    // Address literal of somebody else.
    "<bob@[192.0.2.1]>",
    "<bob@[IPv6:2001:db8::1]>",
    // Case games on the domain.
    "<BOB@REMOTE.EXAMPLE>",
    "<bob@Remote.Example>",
    // A domain that merely ends like a local one.
    "<bob@notlocal.test>",
    "<bob@local.test.remote.example>",
];

/// Whether `reply` is an acceptable refusal of a relay trick.
fn is_refusal(code: u16, text: &str) -> bool {
    match code {
        550 => has_enhanced(text, "5.1.1") || has_enhanced(text, "5.7.1"),
        554 => has_enhanced(text, "5.7.1"),
        501 | 553 => true,
        _ => false,
    }
}

#[test]
fn relay_tricks_from_a_denied_address_never_relay() {
    let server = Server::with_users(ALLOW_ONLY_LOCALHOST, &[("alice", "pw-alice-44")]);
    let mut wrong = Vec::new();
    for trick in TRICKS {
        // One session per trick, so the error limit never cuts the list short.
        let mut c = server.ehlo_from(DENIED);
        // docs/reference.md §3.3: the MAIL FROM address never matters, even a local one.
        c.expect("MAIL FROM:<alice@local.test>", 250);
        let (code, text) = c.cmd(&format!("RCPT TO:{trick}"));
        if !is_refusal(code, &text) {
            wrong.push(format!("RCPT TO:{trick} -> {text:?}"));
        }
        c.quit_collect();
    }
    assert!(
        wrong.is_empty(),
        "relay tricks not refused from {DENIED}:\n{}",
        wrong.join("\n")
    );

    // An address literal of the server's own address is local (docs/reference.md §3.2).
    let mut c = server.ehlo_from(DENIED);
    c.expect("MAIL FROM:<carol@remote.example>", 250);
    c.expect("RCPT TO:<alice@[127.0.0.1]>", 250);
    c.expect("DATA", 354);
    c.send(b"Subject: literal\r\n\r\nto my own address literal\r\n.\r\n");
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}");
    c.quit_collect();

    let msgs = server.wait_maildir("alice", 1);
    assert_eq!(
        msgs.len(),
        1,
        "alice should have exactly the literal-addressed message"
    );
    assert!(
        server.wait_queue_empty(),
        "something was left in the outbound queue: {:?}",
        server.queue_listing()
    );
}

#[test]
fn relay_tricks_with_data_leave_nothing_in_the_queue() {
    // Even if a trick got past RCPT, DATA must not queue anything remote:
    // push every trick into one transaction with one real local recipient.
    let server = Server::with_users(ALLOW_ONLY_LOCALHOST, &[("alice", "pw-alice-55")]);
    let mut accepted = Vec::new();
    let mut sessions = 0;
    // Three tricks per session keep each session under any sane error limit.
    for chunk in TRICKS.chunks(3) {
        sessions += 1;
        let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 66, 6));
        c.expect("MAIL FROM:<alice@local.test>", 250);
        c.expect("RCPT TO:<alice@local.test>", 250);
        for trick in chunk {
            let (code, text) = c.cmd(&format!("RCPT TO:{trick}"));
            if code == 250 {
                accepted.push(format!("{trick} -> {text}"));
            }
        }
        c.expect("DATA", 354);
        c.send(b"Subject: tricks\r\n\r\nhello\r\n.\r\n");
        let (code, text) = c.read_reply();
        assert_eq!(code, 250, "{text}");
        c.quit_collect();
    }
    assert!(accepted.is_empty(), "tricks accepted: {accepted:?}");
    assert_eq!(server.wait_maildir("alice", sessions).len(), sessions);
    assert!(
        server.wait_queue_empty(),
        "outbound queue not empty: {:?}",
        server.queue_listing()
    );
}

#[test]
fn submission_port_accepts_nothing_before_auth() {
    // docs/reference.md §3.4: even from an allowed address, even for a local user.
    let server = Server::with_users(ALLOW_ONLY_LOCALHOST, &[("alice", "pw-alice-66")]);
    let mut c = common::Client::connect_from(Ipv4Addr::LOCALHOST, server.submission_port);
    let (code, text) = c.read_reply();
    assert_eq!(code, 220, "{text}");
    c.ehlo("client.test");
    c.expect_enhanced("MAIL FROM:<alice@local.test>", 530, "5.7.0");
    c.quit_collect();
}

/// The server's own host name (`mx.test` in the harness, deliberately not in
/// `local_domains`) is always a local domain, as Postfix's `mydestination`
/// holds `$myhostname`: `postmaster@<hostname>` reaches the postmaster from
/// anyone, and a percent hack at the host name is an unknown local user even
/// from a client that may relay, never mail relayed back to ourselves.
#[test]
fn own_host_name_is_a_local_domain() {
    let server = Server::with_users(ALLOW_ONLY_LOCALHOST, &[("alice", "pw-alice-66")]);

    let mut c = server.ehlo_from(DENIED);
    c.expect("MAIL FROM:<carol@remote.example>", 250);
    c.expect("RCPT TO:<postmaster@mx.test>", 250);
    c.expect("RCPT TO:<alice@MX.Test>", 250);
    c.expect("DATA", 354);
    c.send(b"Subject: to the host name\r\n\r\nhello\r\n.\r\n");
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    assert_eq!(server.wait_maildir("postmaster", 1).len(), 1);
    assert_eq!(server.wait_maildir("alice", 1).len(), 1);

    // 127.0.0.1 may relay, yet the percent hack stays a local name.
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<alice@local.test>", 250);
    c.expect_enhanced("RCPT TO:<someone%remote.test@mx.test>", 550, "5.1.1");
    c.expect_enhanced("RCPT TO:<remote.test!someone@mx.test>", 550, "5.1.1");
    c.quit_collect();
    assert!(
        server.wait_queue_empty(),
        "something was queued for relay: {:?}",
        server.queue_listing()
    );
}
