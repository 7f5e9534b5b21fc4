//! Local delivery read back byte for byte (docs/reference.md §6, §7): the Maildir file is
//! `Return-Path:` + `Received:` + exactly the body sent, dot-unstuffed, with
//! CRLF line ends; plus-addressing, aliases and postmaster; a message for a
//! remote domain from an allowed client lands in the durable queue.

use portcullis_testkit as common;

use std::net::Ipv4Addr;

use common::{find, queue_id, show, split_delivered, Server};

/// The body as sent on the wire (dot-stuffed) and as it must be stored.
fn stuffed_and_stored() -> (Vec<u8>, Vec<u8>) {
    let long_line = "L".repeat(998);
    let lines: Vec<String> = vec![
        "From: Carol <carol@remote.example>".into(),
        "To: alice@local.test".into(),
        "Subject: byte for byte =?utf-8?q?caf=C3=A9?=".into(),
        "".into(),
        "Plain line.".into(),
        ".leading dot".into(),
        "..two leading dots".into(),
        ".".into(),
        "...".into(),
        "trailing spaces   ".into(),
        "\ttab first".into(),
        "8bit: café ☕".into(),
        long_line,
        "".into(),
        "".into(),
        "last line".into(),
    ];
    let mut stuffed = Vec::new();
    let mut stored = Vec::new();
    for l in &lines {
        // RFC 5321 §4.5.2: a line starting with "." gets one more "." on the wire.
        if l.starts_with('.') {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(l.as_bytes());
        stuffed.extend_from_slice(b"\r\n");
        stored.extend_from_slice(l.as_bytes());
        stored.extend_from_slice(b"\r\n");
    }
    (stuffed, stored)
}

#[test]
fn local_delivery_is_byte_for_byte_with_return_path_and_received() {
    let server = Server::with_users("", &[("alice", "pw-alice-dlv")]);
    let src = Ipv4Addr::new(127, 0, 33, 4);
    let mut c = server.ehlo_from(src);
    let (stuffed, stored) = stuffed_and_stored();
    let (code, text) = c.send_mail("carol@remote.example", &["alice@local.test"], &stuffed);
    assert_eq!(code, 250, "{text}");
    assert!(common::has_enhanced(&text, "2.0.0"), "{text}");
    let id = queue_id(&text).unwrap_or_else(|| panic!("no `queued as <ID>` in {text:?}"));
    c.quit_clean();

    let msgs = server.wait_maildir("alice", 1);
    assert_eq!(msgs.len(), 1, "alice's Maildir: {msgs:?}");
    let (return_path, received, body) = split_delivered(&msgs[0]);
    assert_eq!(return_path, "Return-Path: <carol@remote.example>");
    assert!(
        received.contains(&src.to_string()),
        "Received does not name {src}: {received}"
    );
    assert!(
        received.contains("mx.test"),
        "Received does not name the server: {received}"
    );
    // RFC 3848: plain ESMTP, no TLS (ESMTPS) and no AUTH (ESMTPSA) here.
    let with = received
        .find("with ESMTP")
        .unwrap_or_else(|| panic!("Received lacks `with ESMTP`: {received}"));
    let after = received[with + "with ESMTP".len()..].chars().next();
    assert!(
        matches!(after, Some(' ') | Some(';') | None),
        "not plain ESMTP: {received}"
    );
    assert!(
        received.contains(&id),
        "Received does not carry queue id {id}: {received}"
    );
    assert_eq!(
        body,
        stored,
        "\nstored: {}\nwanted: {}",
        show(&body),
        show(&stored)
    );
    assert_eq!(
        server.maildir_tmp_count("alice"),
        0,
        "files left in alice's tmp/"
    );
    assert!(
        server.maildir("alice").join("cur").is_dir(),
        "Maildir lacks cur/"
    );
}

#[test]
fn null_sender_gets_an_empty_return_path() {
    let server = Server::with_users("", &[("alice", "pw-alice-null")]);
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail(
        "",
        &["alice@local.test"],
        b"Subject: bounce\r\n\r\nbounce\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    let msgs = server.wait_maildir("alice", 1);
    assert_eq!(msgs.len(), 1);
    let (return_path, _, body) = split_delivered(&msgs[0]);
    assert_eq!(return_path, "Return-Path: <>");
    assert_eq!(body, b"Subject: bounce\r\n\r\nbounce\r\n");
}

#[test]
fn plus_addressing_and_aliases_reach_the_user() {
    let server = Server::with_users(
        "[aliases]\nsales = [\"alice\"]\npostmaster = [\"alice\"]\n",
        &[("alice", "pw-alice-plus")],
    );
    for (n, rcpt) in [
        "alice+tag@local.test",
        "sales@local.test",
        "postmaster@local.test",
    ]
    .iter()
    .enumerate()
    {
        let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 0, 2));
        let body = format!("Subject: to {rcpt}\r\n\r\nfor {rcpt}\r\n");
        let (code, text) = c.send_mail("carol@remote.example", &[rcpt], body.as_bytes());
        assert_eq!(code, 250, "RCPT {rcpt}: {text}");
        c.quit_collect();
        let msgs = server.wait_maildir("alice", n + 1);
        assert_eq!(msgs.len(), n + 1, "{rcpt} did not reach alice");
        assert!(
            msgs.iter().any(|m| find(m, body.as_bytes()).is_some()),
            "{rcpt}: body not found in alice's messages"
        );
    }
}

#[test]
fn postmaster_without_alias_has_its_own_maildir() {
    let server = Server::start("");
    let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 0, 2));
    let (code, text) = c.send_mail(
        "carol@remote.example",
        &["postmaster"],
        b"Subject: pm\r\n\r\nhi\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    let msgs = server.wait_maildir("postmaster", 1);
    assert_eq!(msgs.len(), 1, "postmaster's Maildir is empty");
}

#[test]
fn one_message_to_two_local_users_reaches_both_identically() {
    let server = Server::with_users("", &[("alice", "pw-alice-2"), ("dave", "pw-dave-2")]);
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let body = b"Subject: both\r\n\r\n..dot\r\nsame for both\r\n";
    let (code, text) = c.send_mail(
        "carol@remote.example",
        &["alice@local.test", "dave@localhost"],
        body,
    );
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    for user in ["alice", "dave"] {
        let msgs = server.wait_maildir(user, 1);
        assert_eq!(msgs.len(), 1, "{user}");
        let (_, _, stored) = split_delivered(&msgs[0]);
        assert_eq!(
            stored, b"Subject: both\r\n\r\n.dot\r\nsame for both\r\n",
            "{user}"
        );
    }
}

#[test]
fn remote_message_from_allowed_client_is_queued_durably() {
    // The destination's DNS fails temporarily, so the message stays queued.
    let (server, id) =
        common::server_with_queued_remote(b"Subject: outbound\r\n\r\nto the world\r\n");
    // One file per queued message (docs/reference.md §7): the envelope,
    // then the message.
    let mail = server.data_dir.join("queue").join(format!("{id}.mail"));
    assert!(
        mail.is_file(),
        "{} missing; queue holds {:?}",
        mail.display(),
        server.queue_listing()
    );
    let queued = server.queue_messages();
    let msg_bytes = queued
        .iter()
        .find(|(queued_id, _)| *queued_id == id)
        .map(|(_, bytes)| bytes.clone())
        .unwrap_or_default();
    assert!(
        find(&msg_bytes, b"to the world").is_some(),
        "queued message: {}",
        show(&msg_bytes)
    );
    let env = server.queue_envelope(&id).expect("a readable envelope");
    assert_eq!(
        env["recipients"][0]["address"], "bob@remote.example",
        "envelope does not name the recipient: {env}"
    );
}

#[test]
fn queue_list_shows_a_queued_message() {
    let (server, id) = common::server_with_queued_remote(b"Subject: q\r\n\r\nq\r\n");
    // docs/reference.md §1: `portcullis queue list` is the mailq of Portcullis.
    let out = server.cli(&["queue", "list"]);
    assert!(out.status.success(), "{}", common::describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&id),
        "{}",
        common::describe(&out)
    );
}

#[test]
fn a_symbolic_link_in_a_maildir_is_never_followed() {
    // Whoever can write mail/alice (the user, an IMAP server) must not make
    // the server write mail elsewhere: the delivery fails with 451 4.3.0
    // and the log names the link.
    let server = Server::with_users("", &[("alice", "pw-alice-link")]);
    let elsewhere = server.dir().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let new = server.maildir("alice").join("new");
    std::fs::create_dir_all(server.maildir("alice").join("tmp")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &new).unwrap();

    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail(
        "carol@remote.example",
        &["alice@local.test"],
        b"Subject: x\r\n\r\nx\r\n",
    );
    c.quit_collect();
    assert_eq!(code, 451, "{text}");
    assert!(common::has_enhanced(&text, "4.3.0"), "{text}");
    let log = server.log();
    assert!(
        log.contains(&format!("{} is a symbolic link", new.display())),
        "the log does not name the link:\n{log}"
    );
    let written = std::fs::read_dir(&elsewhere).unwrap().count();
    assert_eq!(written, 0, "mail was written through the link");
    assert_eq!(server.maildir_tmp_count("alice"), 0, "a tmp file was left");

    // Once the link is gone, delivery works again.
    std::fs::remove_file(&new).unwrap();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail(
        "carol@remote.example",
        &["alice@local.test"],
        b"Subject: y\r\n\r\ny\r\n",
    );
    c.quit_collect();
    assert_eq!(code, 250, "{text}");
    assert_eq!(server.wait_maildir("alice", 1).len(), 1);
}

#[test]
fn a_message_past_max_hops_is_refused_as_a_mail_loop() {
    // RFC 5321 §6.3: more than limits.max_hops (50) Received: headers is a
    // loop, refused at the end of data; 50 still pass.
    let server = Server::with_users("", &[("alice", "pw-alice-hops")]);
    let message = |hops: usize| {
        let mut m = String::new();
        for i in 0..hops {
            m.push_str(&format!(
                "Received: from hop{i}.example by mx{i}.example; Thu, 3 Dec 2026 08:00:00 +0000\r\n"
            ));
        }
        m.push_str("Subject: looping\r\n\r\nbody\r\n");
        m.into_bytes()
    };
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail("carol@remote.example", &["alice@local.test"], &message(51));
    assert_eq!(code, 554, "{text}");
    assert!(common::has_enhanced(&text, "5.4.6"), "{text}");
    let (code, text) = c.send_mail("carol@remote.example", &["alice@local.test"], &message(50));
    assert_eq!(code, 250, "{text}");
    c.quit_collect();
    assert_eq!(server.wait_maildir("alice", 1).len(), 1);
    assert!(server.queue_messages().is_empty());
}
