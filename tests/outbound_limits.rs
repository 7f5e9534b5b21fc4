//! `limits.outbound_connections` holds however many messages wait, and a
//! reload that changes it takes effect without a restart: the peer here
//! accepts connections and never greets, so each one stays open and the
//! number open is the number the limit lets through.

use portcullis_testkit as common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::outbound::{send, LO};
use common::{describe, free_port, Setup};

/// A peer that accepts and holds every connection, silent.
struct Silent {
    addr: SocketAddr,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    fn start() -> Silent {
        let addr = SocketAddr::new(LO, free_port(LO));
        let listener = TcpListener::bind(addr).expect("bind the silent peer");
        let held = Arc::new(Mutex::new(Vec::new()));
        let keep = held.clone();
        // Ends with the test process; it only ever accepts.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                keep.lock().unwrap().push(stream);
            }
        });
        Silent { addr, held }
    }

    fn open(&self) -> usize {
        self.held.lock().unwrap().len()
    }

    /// Waits until `n` connections are open, then checks no more come.
    fn settles_at(&self, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.open() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Time passing is the point: no connection beyond the limit may come.
        std::thread::sleep(Duration::from_millis(500));
        self.open() == n
    }
}

#[test]
fn the_outbound_connection_limit_holds_and_follows_a_reload() {
    let peer = Silent::start();
    // Four domains, four destinations: only the global limit holds them back.
    let mut routes = String::new();
    for d in 1..=4 {
        routes.push_str(&format!("\"d{d}.test\" = \"{}\"\n", peer.addr));
    }
    let setup = Setup::new(&format!(
        "[relay]\nallow = [\"127.0.0.1\"]\n\n[routes]\n{routes}\n\
         [limits]\noutbound_connections = 1\noutbound_per_destination = 4\n"
    ));
    let server = setup.start();
    for d in 1..=4 {
        send(
            &server,
            "alice@local.test",
            &[&format!("bob@d{d}.test")],
            b"Subject: held\r\n\r\nx\r\n",
        );
    }
    assert!(
        peer.settles_at(1),
        "open: {}\n{}",
        peer.open(),
        server.log()
    );

    let out = server.cli(&["config", "set", "limits.outbound_connections", "3"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        peer.settles_at(3),
        "open: {}\n{}",
        peer.open(),
        server.log()
    );
    assert!(
        server
            .log()
            .contains("outbound connection limit changed limit=3"),
        "{}",
        server.log()
    );
}
