//! Bounded per-session memory (issue 7 §4): whatever a client sends — a line
//! without end, endless DATA, a hundred thousand pipelined commands — the
//! server's peak memory (VmHWM) grows by far less than what was sent, the
//! client gets the proper reply, and a well-behaved client is served after.

use portcullis_testkit as common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use common::Server;

const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 10);
/// How much the server's peak memory may grow while a client sends 64 MiB.
const GROWTH_LIMIT_KB: u64 = 32 * 1024;
const MIB: usize = 1024 * 1024;

/// A `/proc/<pid>/status` field in kB.
fn status_kb(server: &Server, field: &str) -> u64 {
    let pid = std::fs::read_to_string(server.data_dir.join("portcullis.pid")).expect("pid file");
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc status"))
}

/// The server after one complete session, so that lazily allocated state
/// (runtime threads, TLS config, user table) is in the baseline.
fn warmed_up(extra: &str) -> (Server, u64) {
    let server = Server::start(extra);
    served(&server);
    let baseline = status_kb(&server, "VmHWM:");
    (server, baseline)
}

fn served(server: &Server) {
    let mut c = server.ehlo_from(CLIENT);
    let (code, text) = c.send_mail(
        "a@remote.test",
        &["postmaster@local.test"],
        b"Subject: hi\r\n\r\nhello\r\n",
    );
    assert_eq!(code, 250, "{text}");
    c.quit_clean();
}

fn assert_bounded(server: &Server, baseline: u64, what: &str) {
    let peak = status_kb(server, "VmHWM:");
    assert!(
        peak.saturating_sub(baseline) < GROWTH_LIMIT_KB,
        "{what}: peak memory grew from {baseline} kB to {peak} kB"
    );
}

/// Sends `chunks` on a raw connection from a writer thread while this
/// thread reads every reply; returns the replies.
fn blast(server: &Server, head: &[u8], chunk: Vec<u8>, times: usize, tail: &[u8]) -> String {
    let mut s = TcpStream::connect(server.smtp_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut greeting = [0u8; 512];
    let n = s.read(&mut greeting).unwrap();
    assert!(
        greeting[..n].starts_with(b"220"),
        "{:?}",
        String::from_utf8_lossy(&greeting[..n])
    );
    let mut w = s.try_clone().unwrap();
    let (head, tail) = (head.to_vec(), tail.to_vec());
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&head);
        for _ in 0..times {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = w.write_all(&tail);
    });
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    writer.join().unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_line_without_end_is_answered_once_and_never_buffered() {
    let (server, baseline) = warmed_up("");
    let replies = blast(&server, b"NOOP ", vec![b'x'; MIB], 64, b"\r\nQUIT\r\n");
    let lines: Vec<&str> = replies.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("500 5.5.2 Line too long"),
        "{replies:.300}"
    );
    assert!(lines.iter().any(|l| l.starts_with("221")), "{replies:.300}");
    assert_bounded(&server, baseline, "64 MiB line");
    served(&server);
}

#[test]
fn endless_data_is_refused_at_its_end_and_never_buffered() {
    let (server, baseline) = warmed_up("[limits]\nmessage_size = 1048576\n");
    let head =
        b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<postmaster@local.test>\r\nDATA\r\n";
    let line = {
        let mut l = vec![b'y'; 998];
        l.extend_from_slice(b"\r\n");
        l
    };
    let replies = blast(&server, head, line.repeat(1024), 64, b".\r\nQUIT\r\n");
    let last_before_quit = replies
        .lines()
        .rev()
        .find(|l| !l.starts_with("221"))
        .unwrap_or_default()
        .to_string();
    assert!(last_before_quit.starts_with("552 5.3.4"), "{replies}");
    assert_bounded(&server, baseline, "64 MiB of DATA");
    assert!(
        server.maildir_messages("postmaster").len() == 1,
        "only the warm-up message"
    );
    served(&server);
}

#[test]
fn a_hundred_thousand_pipelined_commands_are_answered_in_bounded_memory() {
    let (server, baseline) = warmed_up("[limits]\ncommands_before_mail = 1000000\n");
    let n = 100_000;
    let replies = blast(
        &server,
        b"",
        b"NOOP\r\n".repeat(1000),
        n / 1000,
        b"QUIT\r\n",
    );
    let ok = replies.lines().filter(|l| *l == "250 2.0.0 Ok").count();
    assert_eq!(ok, n, "every NOOP answered");
    assert!(
        replies.ends_with("221 2.0.0 Bye\r\n"),
        "{:?}",
        &replies[replies.len().saturating_sub(100)..]
    );
    assert_bounded(&server, baseline, "100k pipelined NOOPs");
    served(&server);
}

#[test]
fn a_large_message_is_spooled_as_it_arrives_not_held_in_memory() {
    // Issue 11: the message data goes to disk as it comes, so 48 MiB of
    // data, or 24 MiB of bare LFs (stored as 48 MiB of CRLFs), cost the
    // server no more memory than a short message.
    let (server, baseline) = warmed_up("[limits]\nmessage_size = 134217728\n");
    let head =
        b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<postmaster@local.test>\r\nDATA\r\n";
    let line = {
        let mut l = vec![b'y'; 998];
        l.extend_from_slice(b"\r\n");
        l
    };
    let cases: [(Vec<u8>, usize, &[u8]); 2] = [
        (line.repeat(1024), 48, b".\r\nQUIT\r\n"),
        // After a bare LF only <CRLF>.<CRLF> ends the data.
        (vec![b'\n'; MIB], 24, b"\r\n.\r\nQUIT\r\n"),
    ];
    for (chunk, times, tail) in cases {
        let replies = blast(&server, head, chunk, times, tail);
        assert!(replies.contains("250 2.0.0 Ok: queued as "), "{replies}");
    }
    assert_bounded(&server, baseline, "48 MiB messages");
    let stored = server.maildir_messages("postmaster");
    assert_eq!(
        stored.len(),
        3,
        "the warm-up message and the two large ones"
    );
    let mut sizes: Vec<usize> = stored.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert!(
        sizes[1] > 48 * 1024 * 1000 && sizes[2] > 48 * MIB,
        "{sizes:?}"
    );
    let crlfs = stored
        .iter()
        .find(|m| m.ends_with(b"\r\n\r\n\r\n"))
        .expect("the bare-LF message, every LF stored as CRLF");
    assert!(crlfs.windows(2).filter(|w| w == b"\r\n").count() > 24 * MIB);
    // Nothing is left in the spool's scratch space.
    let tmp = std::fs::read_dir(server.data_dir.join("queue/tmp")).unwrap();
    assert_eq!(tmp.count(), 0);
    served(&server);
}
