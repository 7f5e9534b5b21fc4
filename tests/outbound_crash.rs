//! Durability of outbound mail (issue 5 §1, "Done means"): `kill -9` of
//! Portcullis with messages in the queue loses none of them, and killing it
//! at random moments under a load of relayed mail loses no acknowledged
//! message (at worst one is delivered twice, never zero times).

use portcullis_testkit as common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::outbound::{kill_9, routed_config, send, wait_queue_empty, wait_queue_list, LO};
use common::sink::{Received, Script, Sink};
use common::{find, free_port, Setup};
use rand::Rng;

/// The `X-Token:` values of the messages the sink got, with their counts.
fn tokens(received: &[Received]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in received {
        let Some(at) = find(&m.data, b"X-Token: ") else {
            continue;
        };
        let rest = &m.data[at + 9..];
        let end = find(rest, b"\r\n").unwrap_or(rest.len());
        *out.entry(String::from_utf8_lossy(&rest[..end]).into_owned())
            .or_insert(0) += 1;
    }
    out
}

/// Waits (bounded) until every token of `wanted` arrived at the sink.
fn wait_tokens(
    sink: &Sink,
    wanted: &BTreeSet<String>,
    timeout: Duration,
) -> BTreeMap<String, usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = tokens(&sink.received());
        if wanted.iter().all(|t| got.contains_key(t)) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill_9_with_messages_queued_loses_nothing() {
    let addr = SocketAddr::new(LO, free_port(LO));
    let server = Setup::new(&routed_config(addr, 1, "")).start();
    let mut wanted = BTreeSet::new();
    for i in 0..20 {
        let token = format!("queued-{i}");
        send(
            &server,
            "alice@local.test",
            &["bob@remote.test"],
            format!("Subject: {token}\r\nX-Token: {token}\r\n\r\nbody {i}\r\n").as_bytes(),
        );
        wanted.insert(token);
    }
    // The sink is down: the messages are queued, some retried already.
    wait_queue_list(&server, |out| out.contains("last error"));
    kill_9(&server);
    assert_eq!(
        server.queue_messages().len(),
        20,
        "{:?}",
        server.queue_listing()
    );

    let sink = Sink::start_on(addr, Script::default());
    let server = server.restart();
    let got = wait_tokens(&sink, &wanted, Duration::from_secs(30));
    let missing: Vec<_> = wanted.iter().filter(|t| !got.contains_key(*t)).collect();
    assert!(
        missing.is_empty(),
        "lost across kill -9: {missing:?}\n{}",
        server.log()
    );
    assert!(wait_queue_empty(&server), "{:?}", server.queue_listing());
}

/// Sends one message over a fresh connection; true when it was acknowledged with 250.
fn try_send(addr: SocketAddr, token: &str) -> bool {
    fn reply(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<u16> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The last line of a reply: "ddd " then CRLF.
            if let Some(end) = find(buf, b"\r\n") {
                let line: Vec<u8> = buf.drain(..end + 2).collect();
                if line.len() >= 4 && line[3] == b'-' {
                    continue;
                }
                return std::str::from_utf8(line.get(..3)?).ok()?.parse().ok();
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut chunk = [0u8; 1024];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut step = |s: &mut TcpStream, line: &[u8], want: u16| -> bool {
        (line.is_empty() || s.write_all(line).is_ok()) && reply(s, &mut buf) == Some(want)
    };
    let ok = step(&mut s, b"", 220)
        && step(&mut s, b"EHLO load.test\r\n", 250)
        && step(&mut s, b"MAIL FROM:<alice@local.test>\r\n", 250)
        && step(&mut s, b"RCPT TO:<bob@remote.test>\r\n", 250)
        && step(&mut s, b"DATA\r\n", 354)
        && step(
            &mut s,
            format!("Subject: {token}\r\nX-Token: {token}\r\n\r\n..dot line {token}\r\n.\r\n")
                .as_bytes(),
            250,
        );
    let _ = s.write_all(b"QUIT\r\n");
    ok
}

#[test]
fn random_kills_under_load_lose_no_acknowledged_message() {
    let sink = Sink::start(LO, Script::default());
    let mut server = Setup::new(&routed_config(sink.addr, 1, "")).start();
    let smtp = server.smtp_addr();

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let sent = Arc::new(Mutex::new(0usize));
    let sender = {
        let (stop, acked, sent) = (stop.clone(), acked.clone(), sent.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let token = format!("load-{i}");
                i += 1;
                *sent.lock().unwrap() += 1;
                if try_send(smtp, &token) {
                    acked.lock().unwrap().insert(token);
                } else {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        })
    };

    let mut rng = rand::thread_rng();
    let kills = 4;
    // Time passing is the point here: kills land at random moments of the load.
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..600)));
        kill_9(&server);
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..200)));
        server = server.restart();
    }
    // Some load after the last restart, before the sender stops.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    sender.join().expect("sender thread");

    let acked = acked.lock().unwrap().clone();
    let sent = *sent.lock().unwrap();
    let got = wait_tokens(&sink, &acked, Duration::from_secs(40));
    let lost: Vec<_> = acked.iter().filter(|t| !got.contains_key(*t)).collect();
    let duplicates: usize = got.values().filter(|&&n| n > 1).map(|n| n - 1).sum();
    let unacked_delivered = got.keys().filter(|t| !acked.contains(*t)).count();
    eprintln!(
        "outbound crash figures: {kills} kill -9, {sent} messages sent, {} acknowledged (250), \
         {} distinct delivered ({unacked_delivered} of them never acknowledged), {duplicates} duplicate deliveries, {} lost",
        acked.len(),
        got.len(),
        lost.len()
    );
    assert!(
        acked.len() >= 10,
        "the load was too small to mean anything: {} acknowledged",
        acked.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged but never delivered: {lost:?}\n{}",
        server.log()
    );
    assert!(wait_queue_empty(&server), "{:?}", server.queue_listing());
    // The dot line went through every hop intact.
    let sample = sink
        .received()
        .into_iter()
        .next()
        .expect("something arrived");
    assert!(find(&sample.data, b"\r\n.dot line load-").is_some());
}
