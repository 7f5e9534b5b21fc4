//! Crash safety (issue 7, docs/reference.md §7), the short form of
//! `scripts/crash-test.sh`: clients send local and relayed mail while the
//! server is killed with SIGKILL at random moments, five times, and
//! restarted each time. Then every message that got a 250 is in the
//! Maildir exactly once (local) or in the queue exactly once (relayed: its
//! route points at a closed port, so it stays queued); no message in the
//! Maildir is half-written, and no temporary file is left.
// Signals and the effective uid come from libc: std has no safe form of them.
#![allow(unsafe_code)]

use portcullis_testkit as common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{find, Server};

const KILLS: usize = 5;

/// Every message tried: id → (local recipient?, the exact bytes sent).
type Sent = HashMap<String, (bool, Vec<u8>)>;

/// One message with a unique id line; its body grows with `n` so that
/// some are large enough to be caught mid-write.
fn message(id: &str, n: usize) -> Vec<u8> {
    let mut m = format!("X-Crash-Id: {id}\r\nSubject: crash {id}\r\n\r\n").into_bytes();
    let line = format!("{}\r\n", "z".repeat(76));
    for _ in 0..(n % 7) * 300 {
        m.extend_from_slice(line.as_bytes());
    }
    m
}

/// Sends one message over a raw connection; true only when the end of
/// data got a 250. Any error (the server was killed) is false.
fn try_send(addr: SocketAddr, rcpt: &str, msg: &[u8]) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut r = BufReader::new(s.try_clone()?);
        let mut reply = || -> std::io::Result<String> {
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                if line.as_bytes().get(3) != Some(&b'-') {
                    return Ok(line.clone());
                }
            }
        };
        let ok = |l: &str, code: &str| l.starts_with(code);
        if !ok(&reply()?, "220") {
            return Ok(false);
        }
        for (cmd, code) in [
            ("EHLO c.test".to_string(), "250"),
            ("MAIL FROM:<a@client.test>".to_string(), "250"),
            (format!("RCPT TO:<{rcpt}>"), "250"),
            ("DATA".to_string(), "354"),
        ] {
            s.write_all(format!("{cmd}\r\n").as_bytes())?;
            if !ok(&reply()?, code) {
                return Ok(false);
            }
        }
        s.write_all(msg)?;
        s.write_all(b".\r\n")?;
        Ok(ok(&reply()?, "250"))
    };
    attempt().unwrap_or(false)
}

/// The id in a stored message, if exactly one.
fn crash_id(stored: &[u8]) -> Option<String> {
    let at = find(stored, b"X-Crash-Id: ")?;
    let rest = &stored[at + 12..];
    let end = find(rest, b"\r\n")?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

#[test]
fn every_acknowledged_message_survives_kill_9_exactly_once() {
    // A port nobody listens on: relayed mail stays queued.
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let closed = SocketAddr::new(lo, common::free_port(lo));
    let routes = format!("[routes]\n\"remote.test\" = \"{closed}\"\n");
    let mut server = Server::start(&routes);
    let sent: Arc<Mutex<Sent>> = Arc::default();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let counter = Arc::new(AtomicUsize::new(0));
    for round in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let addr = server.smtp_addr();
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (stop, sent, acked, counter) =
                    (stop.clone(), sent.clone(), acked.clone(), counter.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let id = format!("r{round}w{w}n{n}");
                        let local = n % 3 != 0;
                        let rcpt = if local {
                            "postmaster@local.test"
                        } else {
                            "bob@remote.test"
                        };
                        let msg = message(&id, n);
                        sent.lock()
                            .unwrap()
                            .insert(id.clone(), (local, msg.clone()));
                        if try_send(addr, rcpt, &msg) {
                            acked.lock().unwrap().push(id);
                        }
                    }
                })
            })
            .collect();
        // Time passing is the point: the kill lands at a random moment of the load.
        std::thread::sleep(Duration::from_millis(150 + rand::random::<u64>() % 600));
        let pid = std::fs::read_to_string(server.data_dir.join("portcullis.pid")).unwrap();
        let pid: libc::pid_t = pid.trim().parse().unwrap();
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our server's.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        server = server.restart();
    }
    // The last start recovered the queue; stop the server (gracefully) so
    // that its retries, which rewrite envelopes through queue/tmp, do not
    // race the checks below.
    server.stop();

    let sent = sent.lock().unwrap();
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() >= KILLS,
        "too little load: {} acknowledged",
        acked.len()
    );
    let mut local: HashMap<String, usize> = HashMap::new();
    for stored in server.maildir_messages("postmaster") {
        let id = crash_id(&stored).expect("a stored message with its id");
        let (_, msg) = &sent[&id];
        assert!(stored.ends_with(msg), "{id} is stored half-written");
        *local.entry(id).or_default() += 1;
    }
    let mut queued: HashMap<String, usize> = HashMap::new();
    for (_, stored) in server.queue_messages() {
        let id = crash_id(&stored).expect("a queued message with its id");
        assert!(
            stored.ends_with(&sent[&id].1),
            "{id} is queued half-written"
        );
        *queued.entry(id).or_default() += 1;
    }
    for id in acked.iter() {
        let (is_local, _) = sent[id];
        let count = if is_local {
            local.get(id)
        } else {
            queued.get(id)
        };
        assert_eq!(
            count,
            Some(&1),
            "{id} (local: {is_local}) acknowledged, found {count:?} times"
        );
    }
    assert!(
        local.values().chain(queued.values()).all(|&n| n == 1),
        "a duplicate"
    );
    assert_eq!(
        server.maildir_tmp_count("postmaster"),
        0,
        "Maildir tmp/ not empty"
    );
    let queue_tmp = std::fs::read_dir(server.data_dir.join("queue/tmp"))
        .unwrap()
        .count();
    assert_eq!(
        queue_tmp,
        0,
        "queue/tmp not empty: {:?}",
        server.queue_listing()
    );
    eprintln!(
        "crash_safety: {KILLS} kills, {} acknowledged, {} found, 0 lost, 0 duplicated",
        acked.len(),
        acked.len()
    );
}
