//! Large messages (past the 64 KiB a session keeps in memory) over real
//! loopback SMTP, by DATA and by CHUNKING, to one and to several local
//! mailboxes: each Maildir copy is the trace headers, in their order, then
//! the content byte for byte. Where every copy goes to a Maildir and the
//! headers are known before the end (a trusted client), the message is
//! written once: its scratch file becomes the Maildir file, one file linked
//! into each Maildir. Otherwise (inbound checks to add, a Maildir on
//! another file system) it is copied, with the same content.

use portcullis_testkit as common;

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::auth_support::{server_with, Smtp, ALICE_PW};
use common::{find, show, split_delivered, Client, Server, Setup};

/// About 2 MiB of message: a header section, then lines of varied lengths,
/// some empty and some starting with `.`. Returns (the content as stored,
/// the same dot-stuffed for DATA).
fn large_message() -> (Vec<u8>, Vec<u8>) {
    let mut content = b"From: bob@remote.example\r\nSubject: large\r\n\r\n".to_vec();
    let mut n: u32 = 7;
    while content.len() < 2 * 1024 * 1024 {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = (n >> 16) as usize % 200;
        if n.is_multiple_of(11) {
            content.push(b'.');
        }
        content.extend((0..len).map(|i| b'a' + ((i + len) % 26) as u8));
        content.extend_from_slice(b"\r\n");
    }
    let mut stuffed = Vec::with_capacity(content.len() + 1024);
    for line in content.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(line);
    }
    (content, stuffed)
}

/// The paths of the files in `<maildir>/new/`.
fn new_files(maildir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(maildir.join("new"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// Waits (bounded) until `<maildir>/new/` holds a file, and returns it.
fn delivered(server: &Server, maildir: &Path) -> PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let [one] = new_files(maildir).as_slice() {
            return one.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing in {}\n{}",
            maildir.display(),
            server.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Reads a delivered copy back: its `Return-Path:` line, its unfolded
/// `Received:` header, and the content after them (and after an
/// `Authentication-Results:` field) compared byte for byte with `content`.
fn check_copy(path: &Path, content: &[u8]) -> (String, String) {
    let stored = std::fs::read(path).unwrap();
    let (return_path, received, body) = split_delivered(&stored);
    assert_eq!(
        body.len(),
        content.len(),
        "{}",
        show(&stored[..300.min(stored.len())])
    );
    assert!(body == content, "the content differs from what was sent");
    (return_path, received)
}

/// `BDAT` commands for `content` in chunks of `size`, the last with LAST.
fn chunks(content: &[u8], size: usize) -> Vec<u8> {
    let parts: Vec<&[u8]> = content.chunks(size).collect();
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let last = if i + 1 == parts.len() { " LAST" } else { "" };
        out.extend_from_slice(format!("BDAT {}{last}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// Nothing is left in the spool's scratch space.
fn assert_no_scratch(server: &Server) {
    let tmp = std::fs::read_dir(server.data_dir.join("queue/tmp")).unwrap();
    assert_eq!(tmp.count(), 0, "scratch files left behind");
}

#[test]
fn a_large_message_by_data_becomes_its_maildir_file_byte_for_byte() {
    let server = Server::with_users("", &[("alice", "pw-alice-77")]);
    let (content, stuffed) = large_message();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail("bob@remote.example", &["alice@local.test"], &stuffed);
    assert_eq!(code, 250, "{text}\n{}", server.log());
    c.quit_clean();
    let id = common::queue_id(&text).unwrap();

    let path = delivered(&server, &server.maildir("alice"));
    let (return_path, received) = check_copy(&path, &content);
    assert_eq!(return_path, "Return-Path: <bob@remote.example>");
    assert!(received.contains(&format!("id {id}")), "{received}");
    assert!(received.contains("for <alice@local.test>"), "{received}");
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(name.ends_with(&format!(",S={size}")), "{name}");
    assert_eq!(std::fs::metadata(&path).unwrap().nlink(), 1);
    assert_no_scratch(&server);
}

#[test]
fn a_large_chunked_message_to_several_mailboxes_is_one_file_linked_into_each() {
    let server = Server::with_users("", &[("alice", "pw-alice-77"), ("carol", "pw-carol-77")]);
    let (content, _) = large_message();
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    c.expect("MAIL FROM:<bob@remote.example>", 250);
    c.expect("RCPT TO:<alice@local.test>", 250);
    c.expect("RCPT TO:<carol@local.test>", 250);
    let parts = content.len().div_ceil(300_000);
    c.send(&chunks(&content, 300_000));
    for _ in 1..parts {
        assert_eq!(c.read_reply().0, 250);
    }
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}\n{}", server.log());
    c.quit_clean();

    let alice = delivered(&server, &server.maildir("alice"));
    let carol = delivered(&server, &server.maildir("carol"));
    let (_, received) = check_copy(&alice, &content);
    check_copy(&carol, &content);
    // Several recipients are never named (Bcc).
    assert!(!received.contains("for <"), "{received}");
    // Written once: both names are the one file.
    let (a, b) = (
        std::fs::metadata(&alice).unwrap(),
        std::fs::metadata(&carol).unwrap(),
    );
    assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()));
    assert_eq!(a.nlink(), 2);
    assert_no_scratch(&server);
}

#[test]
fn a_large_message_from_outside_is_copied_behind_its_authentication_results() {
    let server = Server::with_users("", &[("alice", "pw-alice-77"), ("carol", "pw-carol-77")]);
    let (content, stuffed) = large_message();
    // 127.0.0.2 is not in relay.allow: its mail gets the inbound checks.
    let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 0, 2));
    let rcpts = ["alice@local.test", "carol@local.test"];
    let (code, text) = c.send_mail("bob@remote.example", &rcpts, &stuffed);
    assert_eq!(code, 250, "{text}\n{}", server.log());
    c.quit_clean();

    let alice = delivered(&server, &server.maildir("alice"));
    let carol = delivered(&server, &server.maildir("carol"));
    for path in [&alice, &carol] {
        check_copy(path, &content);
        let stored = std::fs::read(path).unwrap();
        let at = find(&stored, b"\r\nAuthentication-Results: ").expect("the checks' results");
        assert!(at < find(&stored, b"\r\nFrom: ").unwrap());
    }
    let (a, b) = (
        std::fs::metadata(&alice).unwrap(),
        std::fs::metadata(&carol).unwrap(),
    );
    assert_ne!(a.ino(), b.ino(), "two copies, written behind the headers");
    assert_no_scratch(&server);
}

#[test]
fn a_large_message_to_a_maildir_on_another_file_system_is_copied() {
    // /dev/shm is a tmpfs: the spool's file cannot be linked there (EXDEV).
    let Ok(elsewhere) = tempfile::tempdir_in("/dev/shm") else {
        eprintln!("skipped: no /dev/shm");
        return;
    };
    let template = elsewhere.path().join("{user}");
    let setup = Setup::new(&format!(
        "[delivery]\nmaildir = \"{}\"\n",
        template.display()
    ));
    setup.add_user("alice", "pw-alice-77");
    let server = setup.start();
    let (content, stuffed) = large_message();
    let mut c: Client = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail("bob@remote.example", &["alice@local.test"], &stuffed);
    assert_eq!(code, 250, "{text}\n{}", server.log());
    c.quit_clean();

    let path = delivered(&server, &elsewhere.path().join("alice"));
    let (return_path, _) = check_copy(&path, &content);
    assert_eq!(return_path, "Return-Path: <bob@remote.example>");
    assert_no_scratch(&server);
}

#[test]
fn a_large_submission_gets_its_date_and_message_id_ahead_of_it_and_is_written_once() {
    let server = server_with("", &[("bob", "bob-Pw-3")]);
    let (content, stuffed) = large_message();
    // An authenticated session (RFC 6409 §8): the message lacks Date: and
    // Message-ID:, which go after the trace headers, ahead of the content.
    let mut c = Smtp::plain(Ipv4Addr::new(127, 0, 55, 5), server.smtp_port).greeted();
    c.ehlo("client.test");
    assert_eq!(c.auth_cram_md5("alice", ALICE_PW).0, 235);
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    c.expect("RCPT TO:<bob@local.test>", 250, "2.1.5");
    c.expect("RCPT TO:<alice@local.test>", 250, "2.1.5");
    c.expect("DATA", 354, "");
    let mut data = stuffed;
    data.extend_from_slice(b".\r\n");
    c.send(&data);
    let (code, text) = c.read_reply();
    assert_eq!(code, 250, "{text}\n{}", server.log());
    let id = common::queue_id(&text).unwrap();

    let bob = delivered(&server, &server.maildir("bob"));
    let alice = delivered(&server, &server.maildir("alice"));
    let stored = std::fs::read(&bob).unwrap();
    let (_, received, rest) = split_delivered(&stored);
    assert!(received.contains(&format!("id {id}")), "{received}");
    assert!(
        rest.ends_with(&content),
        "the content differs from what was sent"
    );
    let added = String::from_utf8_lossy(&rest[..rest.len() - content.len()]).into_owned();
    assert!(added.starts_with("Date: "), "{added}");
    assert!(
        added.ends_with(&format!("Message-ID: <{id}@mx.test>\r\n")),
        "{added}"
    );
    assert_eq!(std::fs::read(&alice).unwrap(), stored);
    let (a, b) = (
        std::fs::metadata(&alice).unwrap(),
        std::fs::metadata(&bob).unwrap(),
    );
    assert_eq!(a.ino(), b.ino(), "one file, linked into both");
    assert_no_scratch(&server);
}
