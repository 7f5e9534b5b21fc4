//! A tiny authoritative DNS stub for the black-box tests.
//!
//! It serves a fixed [`Zone`] (A, AAAA, PTR, MX, TXT records given by the test) on
//! a loopback UDP port, and on TCP on the same port when that port is free
//! for TCP too (resolvers retry over TCP after a truncated answer). Names the
//! zone does not know get NXDOMAIN; names marked with [`Zone::servfail`] get
//! SERVFAIL and names marked with [`Zone::silent`] get no answer at all, so a
//! test can drive the server's "DNS failed temporarily" path (docs/reference.md §4:
//! `451 4.4.3`). The stub runs on plain std threads and stops on drop.

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, MX, PTR, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// The records the stub answers with. Names are compared case-insensitively
/// and without a trailing dot.
#[derive(Clone, Debug, Default)]
pub struct Zone {
    records: HashMap<(String, RecordType), Vec<RData>>,
    servfail: HashSet<String>,
    silent: HashSet<String>,
}

/// `name` lower-cased without its trailing dot: the zone's lookup key.
fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The reverse-lookup name of `ip` (`7.40.0.127.in-addr.arpa`, `…ip6.arpa`).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut labels: Vec<String> = Vec::with_capacity(34);
            for byte in v6.octets().iter().rev() {
                labels.push(format!("{:x}", byte & 0x0f));
                labels.push(format!("{:x}", byte >> 4));
            }
            labels.push("ip6.arpa".to_string());
            labels.join(".")
        }
    }
}

fn fqdn(name: &str) -> Name {
    let text = format!("{}.", key(name));
    Name::from_ascii(&text).unwrap_or_else(|e| panic!("bad DNS name {text:?} in test zone: {e}"))
}

impl Zone {
    /// An empty zone: every query gets NXDOMAIN.
    pub fn new() -> Zone {
        Zone::default()
    }

    fn add(mut self, name: &str, rtype: RecordType, rdata: RData) -> Zone {
        self.records
            .entry((key(name), rtype))
            .or_default()
            .push(rdata);
        self
    }

    /// `name IN A ip`.
    pub fn a(self, name: &str, ip: Ipv4Addr) -> Zone {
        self.add(name, RecordType::A, RData::A(A(ip)))
    }

    /// `name IN AAAA ip`.
    pub fn aaaa(self, name: &str, ip: Ipv6Addr) -> Zone {
        self.add(name, RecordType::AAAA, RData::AAAA(AAAA(ip)))
    }

    /// The PTR record of `ip` pointing at `target`.
    pub fn ptr(self, ip: IpAddr, target: &str) -> Zone {
        let name = reverse_name(ip);
        self.add(&name, RecordType::PTR, RData::PTR(PTR(fqdn(target))))
    }

    /// `name IN MX preference exchange`.
    pub fn mx(self, name: &str, preference: u16, exchange: &str) -> Zone {
        self.add(
            name,
            RecordType::MX,
            RData::MX(MX::new(preference, fqdn(exchange))),
        )
    }

    /// `name IN TXT "text"`, split into 255-octet strings as RFC 1035
    /// §3.3.14 requires (a DKIM RSA key is longer than one string).
    pub fn txt(self, name: &str, text: &str) -> Zone {
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(255).collect();
        self.add(name, RecordType::TXT, RData::TXT(TXT::from_bytes(chunks)))
    }

    /// Every query for `name` (any type) gets SERVFAIL.
    pub fn servfail(mut self, name: &str) -> Zone {
        self.servfail.insert(key(name));
        self
    }

    /// The PTR query for `ip` gets SERVFAIL.
    pub fn servfail_ptr(self, ip: IpAddr) -> Zone {
        let name = reverse_name(ip);
        self.servfail(&name)
    }

    /// Queries for `name` are never answered (the resolver times out).
    pub fn silent(mut self, name: &str) -> Zone {
        self.silent.insert(key(name));
        self
    }

    /// The PTR query for `ip` is never answered.
    pub fn silent_ptr(self, ip: IpAddr) -> Zone {
        let name = reverse_name(ip);
        self.silent(&name)
    }

    fn knows(&self, name: &str) -> bool {
        self.records.keys().any(|(n, _)| n == name)
    }

    /// The response to `request`, or `None` when the stub must stay silent.
    fn answer(&self, request: &Message) -> Option<Message> {
        let mut response = Message::new(
            request.metadata.id,
            MessageType::Response,
            request.metadata.op_code,
        );
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        let Some(query) = request.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return Some(response);
        };
        let name = key(&query.name().to_ascii());
        if self.silent.contains(&name) {
            return None;
        }
        response.add_query(query.clone());
        if self.servfail.contains(&name) {
            set_code(&mut response, ResponseCode::ServFail);
        } else if let Some(rdatas) = self.records.get(&(name.clone(), query.query_type())) {
            for rdata in rdatas {
                response.add_answer(Record::from_rdata(query.name().clone(), 60, rdata.clone()));
            }
        } else if self.knows(&name) {
            // The name exists with other types: NOERROR with no answer (NODATA).
            set_code(&mut response, ResponseCode::NoError);
        } else {
            set_code(&mut response, ResponseCode::NXDomain);
        }
        Some(response)
    }
}

fn set_code(response: &mut Message, code: ResponseCode) {
    response.metadata.response_code = code;
}

/// A running stub; stops (and joins its threads) on drop.
pub struct DnsStub {
    /// Where it listens (UDP, and TCP when available): put it in `[dns] nameservers`.
    pub addr: SocketAddr,
    /// Every question received, as `name TYPE`, for failure messages.
    pub queries: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsStub {
    /// Starts serving `zone` on a free port of 127.0.0.1.
    pub fn start(zone: Zone) -> DnsStub {
        let udp = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").expect("bind DNS stub UDP socket");
            // The TCP side takes the same port number: one no server of
            // this test binary was given.
            if super::claim_port(udp.local_addr().expect("DNS stub address").port()) {
                break udp;
            }
        };
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("set DNS stub read timeout");
        let addr = udp.local_addr().expect("DNS stub local addr");
        let zone = Arc::new(zone);
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        {
            let (zone, stop, queries) = (zone.clone(), stop.clone(), queries.clone());
            threads.push(std::thread::spawn(move || {
                serve_udp(udp, &zone, &stop, &queries)
            }));
        }
        if let Ok(tcp) = TcpListener::bind(addr) {
            tcp.set_nonblocking(true)
                .expect("set DNS stub TCP nonblocking");
            let (zone, stop, queries) = (zone.clone(), stop.clone(), queries.clone());
            threads.push(std::thread::spawn(move || {
                serve_tcp(tcp, zone, stop, queries)
            }));
        }
        DnsStub {
            addr,
            queries,
            stop,
            threads,
        }
    }

    /// The questions received so far (for assertion messages).
    pub fn seen(&self) -> Vec<String> {
        self.queries.lock().map(|q| q.clone()).unwrap_or_default()
    }
}

impl Drop for DnsStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn decode_and_answer(zone: &Zone, queries: &Mutex<Vec<String>>, packet: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(packet).ok()?;
    if let (Some(q), Ok(mut seen)) = (request.queries.first(), queries.lock()) {
        seen.push(format!("{} {}", q.name(), q.query_type()));
    }
    zone.answer(&request)?.to_vec().ok()
}

fn serve_udp(socket: UdpSocket, zone: &Zone, stop: &AtomicBool, queries: &Mutex<Vec<String>>) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        match socket.recv_from(&mut buf) {
            Ok((n, peer)) => {
                if let Some(reply) = decode_and_answer(zone, queries, &buf[..n]) {
                    let _ = socket.send_to(&reply, peer);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn serve_tcp(
    listener: TcpListener,
    zone: Arc<Zone>,
    stop: Arc<AtomicBool>,
    queries: Arc<Mutex<Vec<String>>>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (zone, queries) = (zone.clone(), queries.clone());
                // Detached: each connection ends by itself within its read timeout.
                std::thread::spawn(move || serve_tcp_conn(stream, &zone, &queries));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

fn serve_tcp_conn(mut stream: TcpStream, zone: &Zone, queries: &Mutex<Vec<String>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    loop {
        // RFC 1035 §4.2.2: each TCP message is prefixed by a two-byte length.
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut packet).is_err() {
            return;
        }
        if let Some(reply) = decode_and_answer(zone, queries, &packet) {
            let Ok(reply_len) = u16::try_from(reply.len()) else {
                return;
            };
            let mut out = reply_len.to_be_bytes().to_vec();
            out.extend_from_slice(&reply);
            if stream.write_all(&out).is_err() {
                return;
            }
        }
    }
}
