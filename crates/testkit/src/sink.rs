//! A scriptable SMTP sink for the outbound tests: the next hop Portcullis
//! delivers to. It records every accepted message (envelope, the data with
//! dot-stuffing undone, whether TLS and AUTH were used, which connection
//! carried it) and answers as the test scripts it: a reply per recipient
//! (consumed in order, so "451 first, then 250" is one line of setup), a
//! greeting per connection, a reply to the end of data, STARTTLS with a
//! self-signed certificate, AUTH PLAIN/LOGIN with one user.
//!
//! It runs on std threads, reads with timeouts, and stops on drop, so a
//! test can also "take the sink down" by dropping it and start a new one
//! on the same address.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::client::take_line;

/// One message the sink accepted.
#[derive(Clone, Debug)]
pub struct Received {
    /// The EHLO/HELO argument.
    pub helo: String,
    /// The MAIL FROM address (without brackets; empty for `<>`).
    pub mail_from: String,
    /// The MAIL FROM line's parameters, as sent.
    pub mail_params: String,
    /// The accepted recipients, in order.
    pub rcpts: Vec<String>,
    /// The message with dot-stuffing undone (CRLF line ends).
    pub data: Vec<u8>,
    /// The data as it came on the wire, before unstuffing.
    pub wire: Vec<u8>,
    /// Whether the session was under TLS.
    pub tls: bool,
    /// The user that authenticated, if any.
    pub auth_user: Option<String>,
    /// Which connection (0, 1, …) carried it.
    pub connection: usize,
    /// Whether the client sent its envelope pipelined (MAIL, RCPT, DATA in one read).
    pub pipelined: bool,
}

/// How the sink behaves.
#[derive(Clone, Default)]
pub struct Script {
    /// Replies to RCPT TO per recipient (lower-case address), used one per
    /// RCPT in order; when used up (or absent): `250 2.1.5 ok`.
    pub rcpt: HashMap<String, VecDeque<String>>,
    /// Greetings, one per connection in order; when used up: `220 sink ESMTP`.
    pub greetings: VecDeque<String>,
    /// Replies to the end of data, one per message; when used up: `250 2.0.0 queued`.
    pub data_end: VecDeque<String>,
    /// Do not announce PIPELINING.
    pub no_pipelining: bool,
    /// Announce `SIZE n`.
    pub size: Option<u64>,
    /// STARTTLS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// AUTH PLAIN LOGIN (announced only under TLS) with this user and password.
    pub auth: Option<(String, String)>,
    /// Refuse MAIL with `530 5.7.0` before AUTH.
    pub require_auth: bool,
}

impl Script {
    /// Replies `replies` (in order) to RCPT TO:<`rcpt`>.
    pub fn rcpt(mut self, rcpt: &str, replies: &[&str]) -> Script {
        self.rcpt.insert(
            rcpt.to_ascii_lowercase(),
            replies.iter().map(|s| s.to_string()).collect(),
        );
        self
    }
}

/// A running sink.
pub struct Sink {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sink {
    /// Starts on a free port of `ip`.
    pub fn start(ip: IpAddr, script: Script) -> Sink {
        Sink::start_on(SocketAddr::new(ip, super::free_port(ip)), script)
    }

    /// Starts on `addr` (a port a test reserved, e.g. to bring the sink "up" late).
    pub fn start_on(addr: SocketAddr, script: Script) -> Sink {
        let listener = bind_retrying(addr);
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("sink address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(Mutex::new(script));
        let thread = {
            let (received, connections, stop) =
                (received.clone(), connections.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let n = connections.fetch_add(1, Ordering::SeqCst);
                            let (received, script, stop) =
                                (received.clone(), script.clone(), stop.clone());
                            // Detached: each session ends by itself (read timeouts).
                            std::thread::spawn(move || {
                                let _ = Session::new(stream, n, script, received, stop).run();
                            });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(10))
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Sink {
            addr,
            received,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits (bounded by `timeout`) until at least `n` messages arrived; returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Binds `addr`, retrying briefly (a port just released may linger).
fn bind_retrying(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return l,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("sink cannot bind {addr}: {e}"),
        }
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1, its PEM written
/// to `dir/sink-ca.pem` (for `tls.outbound_ca`), and the server config.
pub fn self_signed_tls(dir: &Path) -> (Arc<rustls::ServerConfig>, PathBuf) {
    let generated = rcgen::generate_simple_self_signed(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "smarthost.test".to_string(),
    ])
    .expect("generate certificate");
    let pem = dir.join("sink-ca.pem");
    std::fs::write(&pem, generated.cert.pem()).expect("write sink certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(generated.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![generated.cert.der().clone()], key)
    .expect("server certificate");
    (Arc::new(config), pem)
}

enum Io {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf),
            Io::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.write(buf),
            Io::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Io::Plain(s) => s.flush(),
            Io::Tls(s) => s.flush(),
        }
    }
}

struct Session {
    io: Option<Io>,
    buf: Vec<u8>,
    connection: usize,
    script: Arc<Mutex<Script>>,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    helo: String,
    tls: bool,
    auth_user: Option<String>,
    /// Whether the last read brought more than one command line.
    batched: bool,
}

type Res<T> = std::io::Result<T>;

impl Session {
    fn new(
        stream: TcpStream,
        connection: usize,
        script: Arc<Mutex<Script>>,
        received: Arc<Mutex<Vec<Received>>>,
        stop: Arc<AtomicBool>,
    ) -> Session {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        Session {
            io: Some(Io::Plain(stream)),
            buf: Vec::new(),
            connection,
            script,
            received,
            stop,
            helo: String::new(),
            tls: false,
            auth_user: None,
            batched: false,
        }
    }

    fn script<T>(&self, f: impl FnOnce(&mut Script) -> T) -> T {
        let mut s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }

    fn send(&mut self, line: &str) -> Res<()> {
        let io = self.io.as_mut().ok_or(ErrorKind::NotConnected)?;
        io.write_all(format!("{line}\r\n").as_bytes())?;
        io.flush()
    }

    /// One line without its CRLF; None at EOF, after 30 s of silence, or when stopped.
    fn line(&mut self) -> Res<Option<Vec<u8>>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = take_line(&mut self.buf) {
                return Ok(Some(line));
            }
            if self.stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                return Ok(None);
            }
            let mut chunk = [0u8; 8192];
            let io = self.io.as_mut().ok_or(ErrorKind::NotConnected)?;
            match io.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.batched = self.buf.iter().filter(|&&b| b == b'\n').count() > 1;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn run(mut self) -> Res<()> {
        let greeting = self
            .script(|s| s.greetings.pop_front())
            .unwrap_or_else(|| "220 sink.test ESMTP".to_string());
        self.send(&greeting)?;
        if !greeting.starts_with("220") {
            // A refusing greeting: RFC 5321 §3.1, wait for QUIT (briefly).
            let _ = self.line();
            let _ = self.send("221 bye");
            return Ok(());
        }
        let mut mail: Option<(String, String, bool)> = None;
        let mut rcpts: Vec<String> = Vec::new();
        while let Some(line) = self.line()? {
            let text = String::from_utf8_lossy(&line).into_owned();
            let upper = text.to_ascii_uppercase();
            if upper.starts_with("EHLO ") || upper.starts_with("HELO ") {
                self.helo = text[5..].trim().to_string();
                mail = None;
                rcpts.clear();
                if upper.starts_with("HELO ") {
                    self.send("250 sink.test")?;
                } else {
                    let mut lines = vec!["sink.test".to_string()];
                    let (pipelining, size, tls, auth) = self
                        .script(|s| (!s.no_pipelining, s.size, s.tls.is_some(), s.auth.is_some()));
                    if pipelining {
                        lines.push("PIPELINING".into());
                    }
                    if let Some(n) = size {
                        lines.push(format!("SIZE {n}"));
                    }
                    lines.push("8BITMIME".into());
                    lines.push("ENHANCEDSTATUSCODES".into());
                    if tls && !self.tls {
                        lines.push("STARTTLS".into());
                    }
                    if auth && self.tls {
                        lines.push("AUTH PLAIN LOGIN".into());
                    }
                    let n = lines.len();
                    for (i, l) in lines.iter().enumerate() {
                        let sep = if i + 1 == n { ' ' } else { '-' };
                        self.send(&format!("250{sep}{l}"))?;
                    }
                }
            } else if upper == "STARTTLS" {
                let Some(config) = self.script(|s| s.tls.clone()) else {
                    self.send("502 5.5.1 no TLS here")?;
                    continue;
                };
                self.send("220 2.0.0 go ahead")?;
                let Some(Io::Plain(tcp)) = self.io.take() else {
                    return Ok(());
                };
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                // Drive the handshake now, so a failure ends the session here.
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock)?;
                }
                let _ = stream
                    .sock
                    .set_read_timeout(Some(Duration::from_millis(200)));
                self.io = Some(Io::Tls(Box::new(stream)));
                self.tls = true;
                self.buf.clear();
                self.helo.clear();
            } else if upper.starts_with("AUTH ") {
                self.auth(&text)?;
            } else if upper.starts_with("MAIL FROM:") {
                if self.script(|s| s.require_auth) && self.auth_user.is_none() {
                    self.send("530 5.7.0 Authentication required")?;
                    continue;
                }
                let rest = &text[10..];
                let (path, params) = match rest.find('>') {
                    Some(i) => (&rest[..=i], rest[i + 1..].trim()),
                    None => (rest, ""),
                };
                let from = path
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
                mail = Some((from, params.to_string(), self.batched));
                rcpts.clear();
                self.send("250 2.1.0 ok")?;
            } else if upper.starts_with("RCPT TO:") {
                if mail.is_none() {
                    self.send("503 5.5.1 MAIL first")?;
                    continue;
                }
                let addr = text[8..]
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
                let reply = self
                    .script(|s| {
                        s.rcpt
                            .get_mut(&addr.to_ascii_lowercase())
                            .and_then(VecDeque::pop_front)
                    })
                    .unwrap_or_else(|| "250 2.1.5 ok".to_string());
                if reply.starts_with('2') {
                    rcpts.push(addr);
                }
                self.send(&reply)?;
            } else if upper == "DATA" {
                if mail.is_none() || rcpts.is_empty() {
                    self.send("554 5.5.1 no valid recipients")?;
                    continue;
                }
                self.send("354 go ahead")?;
                let mut wire = Vec::new();
                let mut data = Vec::new();
                loop {
                    let Some(l) = self.line()? else {
                        return Ok(());
                    };
                    if l == b"." {
                        break;
                    }
                    wire.extend_from_slice(&l);
                    wire.extend_from_slice(b"\r\n");
                    // RFC 5321 §4.5.2: one leading dot removed.
                    data.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
                    data.extend_from_slice(b"\r\n");
                }
                let reply = self
                    .script(|s| s.data_end.pop_front())
                    .unwrap_or_else(|| "250 2.0.0 queued".to_string());
                if reply.starts_with('2') {
                    let (from, params, pipelined) = mail.take().unwrap_or_default();
                    let msg = Received {
                        helo: self.helo.clone(),
                        mail_from: from,
                        mail_params: params,
                        rcpts: std::mem::take(&mut rcpts),
                        data,
                        wire,
                        tls: self.tls,
                        auth_user: self.auth_user.clone(),
                        connection: self.connection,
                        pipelined,
                    };
                    if let Ok(mut r) = self.received.lock() {
                        r.push(msg);
                    }
                }
                mail = None;
                rcpts.clear();
                self.send(&reply)?;
            } else if upper == "RSET" {
                mail = None;
                rcpts.clear();
                self.send("250 2.0.0 ok")?;
            } else if upper == "NOOP" {
                self.send("250 2.0.0 ok")?;
            } else if upper == "QUIT" {
                self.send("221 2.0.0 bye")?;
                return Ok(());
            } else {
                self.send("500 5.5.2 unknown command")?;
            }
        }
        Ok(())
    }

    fn auth(&mut self, line: &str) -> Res<()> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let Some((user, pass)) = self.script(|s| s.auth.clone()) else {
            return self.send("502 5.5.1 no AUTH here");
        };
        if !self.tls {
            return self.send("538 5.7.11 Encryption required");
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (got_user, got_pass) = match words.get(1).map(|m| m.to_ascii_uppercase()).as_deref() {
            Some("PLAIN") => {
                let token = match words.get(2) {
                    Some(t) => t.to_string(),
                    None => {
                        self.send("334 ")?;
                        String::from_utf8_lossy(&self.line()?.unwrap_or_default()).into_owned()
                    }
                };
                let decoded = b64.decode(token.trim()).unwrap_or_default();
                let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
                if parts.len() != 3 {
                    return self.send("501 5.5.2 bad PLAIN token");
                }
                (
                    String::from_utf8_lossy(parts[1]).into_owned(),
                    String::from_utf8_lossy(parts[2]).into_owned(),
                )
            }
            Some("LOGIN") => {
                self.send("334 VXNlcm5hbWU6")?;
                let u = self.line()?.unwrap_or_default();
                self.send("334 UGFzc3dvcmQ6")?;
                let p = self.line()?.unwrap_or_default();
                (
                    String::from_utf8_lossy(&b64.decode(u).unwrap_or_default()).into_owned(),
                    String::from_utf8_lossy(&b64.decode(p).unwrap_or_default()).into_owned(),
                )
            }
            _ => return self.send("504 5.5.4 mechanism not supported"),
        };
        if got_user == user && got_pass == pass {
            self.auth_user = Some(got_user);
            self.send("235 2.7.0 Authentication successful")
        } else {
            self.send("535 5.7.8 Authentication credentials invalid")
        }
    }
}
