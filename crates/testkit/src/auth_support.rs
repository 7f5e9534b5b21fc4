//! What the AUTH and TLS tests need beyond the rest of the harness: an SMTP client
//! that can switch to TLS (STARTTLS, RFC 3207) or start in it (implicit TLS,
//! RFC 8314) with rustls, trusting exactly the server's certificate from
//! `<data>/tls/cert.pem`; and its own SASL client for every mechanism
//! (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256), written from the RFCs and
//! independent of the server's code. Every read has a timeout.

use std::fs;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::Md5;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use sha2::{Digest, Sha256};

use crate::client::take_line;
use crate::{Server, IO_TIMEOUT};

/// The password every test user gets unless a test says otherwise.
pub const ALICE_PW: &str = "alice-Secret-1";

/// `<data>/tls/cert.pem`: the self-signed certificate the server generated.
pub fn cert_path(server: &Server) -> PathBuf {
    server.data_dir.join("tls").join("cert.pem")
}

/// The first certificate of a PEM file.
pub fn read_cert(path: &Path) -> CertificateDer<'static> {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    rustls_pemfile::certs(&mut BufReader::new(file))
        .next()
        .unwrap_or_else(|| panic!("no certificate in {}", path.display()))
        .unwrap_or_else(|e| panic!("bad PEM in {}: {e}", path.display()))
}

/// Accepts exactly the pinned certificates (the handshake signatures are
/// still verified), and records the one the server presented.
#[derive(Debug)]
struct Pinned {
    pins: Vec<CertificateDer<'static>>,
    seen: Arc<Mutex<Option<CertificateDer<'static>>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.clone().into_owned());
        if self.pins.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "not the pinned certificate".to_string(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// How the client does TLS.
#[derive(Clone)]
pub struct TlsOptions {
    /// Certificates accepted (DER).
    pub pins: Vec<CertificateDer<'static>>,
    /// Protocol versions offered.
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
    /// The name sent in SNI and checked (not checked by the pin verifier).
    pub server_name: String,
}

impl TlsOptions {
    /// Trust the server's own generated certificate; TLS 1.3 and 1.2.
    pub fn for_server(server: &Server) -> TlsOptions {
        TlsOptions::pinning(read_cert(&cert_path(server)))
    }

    /// Trust exactly `cert`; TLS 1.3 and 1.2.
    pub fn pinning(cert: CertificateDer<'static>) -> TlsOptions {
        TlsOptions {
            pins: vec![cert],
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            server_name: "mx.test".to_string(),
        }
    }

    /// The same, offering only TLS 1.2.
    pub fn tls12_only(mut self) -> TlsOptions {
        self.versions = vec![&rustls::version::TLS12];
        self
    }
}

/// What a finished handshake negotiated.
#[derive(Clone, Debug)]
pub struct TlsInfo {
    /// The TLS version agreed.
    pub version: Option<rustls::ProtocolVersion>,
    /// The certificate the server presented.
    pub cert: Option<CertificateDer<'static>>,
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    Gone,
}

impl Transport {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
            Transport::Gone => Ok(0),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Transport::Plain(s) => s.write_all(bytes),
            Transport::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Transport::Gone => Err(ErrorKind::NotConnected.into()),
        }
    }
}

/// An SMTP client over plain TCP or TLS, bound to a chosen source address.
pub struct Smtp {
    transport: Transport,
    buf: Vec<u8>,
    /// Every line sent and reply read, for failure messages.
    pub transcript: Vec<String>,
    /// Set once a handshake finished.
    pub tls: Option<TlsInfo>,
}

fn tcp_from(src: Ipv4Addr, port: u16) -> TcpStream {
    use socket2::{Domain, SockAddr, Socket, Type};
    let dst = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    sock.bind(&SockAddr::from(SocketAddr::new(IpAddr::V4(src), 0)))
        .unwrap_or_else(|e| panic!("bind to {src}: {e}"));
    sock.connect_timeout(&SockAddr::from(dst), IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect from {src} to {dst}: {e}"));
    let tcp: TcpStream = sock.into();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    tcp.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let _ = tcp.set_nodelay(true);
    tcp
}

/// Runs a TLS client handshake on `tcp`.
fn handshake(
    tcp: TcpStream,
    opts: &TlsOptions,
) -> Result<(StreamOwned<ClientConnection, TcpStream>, TlsInfo), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen = Arc::new(Mutex::new(None));
    let verifier = Pinned {
        pins: opts.pins.clone(),
        seen: seen.clone(),
        provider: provider.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&opts.versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let name = ServerName::try_from(opts.server_name.clone()).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
    }
    let info = TlsInfo {
        version: stream.conn.protocol_version(),
        cert: seen.lock().unwrap().clone(),
    };
    Ok((stream, info))
}

impl Smtp {
    /// Plain TCP from `src` to 127.0.0.1:`port`; the greeting is not read.
    pub fn plain(src: Ipv4Addr, port: u16) -> Smtp {
        Smtp {
            transport: Transport::Plain(tcp_from(src, port)),
            buf: Vec::new(),
            transcript: Vec::new(),
            tls: None,
        }
    }

    /// Implicit TLS (port 465 role) from `src`; the greeting is not read.
    pub fn implicit_tls(src: Ipv4Addr, port: u16, opts: &TlsOptions) -> Smtp {
        Smtp::try_implicit_tls(src, port, opts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Implicit TLS, returning the handshake error instead of panicking.
    pub fn try_implicit_tls(src: Ipv4Addr, port: u16, opts: &TlsOptions) -> Result<Smtp, String> {
        let (stream, info) = handshake(tcp_from(src, port), opts)?;
        Ok(Smtp {
            transport: Transport::Tls(Box::new(stream)),
            buf: Vec::new(),
            transcript: vec!["(implicit TLS)".to_string()],
            tls: Some(info),
        })
    }

    /// Reads the greeting, asserting 220.
    pub fn greeted(mut self) -> Smtp {
        let (code, text) = self.read_reply();
        assert_eq!(code, 220, "greeting: {text}");
        self
    }

    /// Writes raw bytes in one write.
    pub fn send(&mut self, bytes: &[u8]) {
        self.transcript.push(format!(
            "C: {}",
            String::from_utf8_lossy(bytes).escape_debug()
        ));
        if let Err(e) = self.transport.write_all(bytes) {
            panic!("write failed ({e}); transcript:\n{}", self.transcript());
        }
    }

    /// Sends `line` CRLF and reads one reply.
    pub fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes());
        self.read_reply()
    }

    /// Sends `line`, asserts the code and the enhanced code (`""` for none), returns the text.
    pub fn expect(&mut self, line: &str, code: u16, enhanced: &str) -> String {
        let (got, text) = self.cmd(line);
        assert_eq!(got, code, "{line:?} -> {text:?}\n{}", self.transcript());
        if !enhanced.is_empty() {
            assert!(
                text.get(4..).is_some_and(|t| t.starts_with(enhanced)),
                "{line:?} -> {text:?}: expected {enhanced}\n{}",
                self.transcript()
            );
        }
        text
    }

    /// `EHLO name` (asserted 250); returns the extension lines after the host name.
    pub fn ehlo(&mut self, name: &str) -> Vec<String> {
        let text = self.expect(&format!("EHLO {name}"), 250, "");
        text.lines()
            .skip(1)
            .filter_map(|l| l.get(4..))
            .map(str::to_string)
            .collect()
    }

    /// The AUTH line of an EHLO answer (`AUTH SCRAM-SHA-256 CRAM-MD5`), if any.
    pub fn auth_keyword(keywords: &[String]) -> Option<String> {
        keywords.iter().find(|k| k.starts_with("AUTH")).cloned()
    }

    /// `STARTTLS` (asserted 220), then the handshake. Panics if the server
    /// sent anything after its 220 in plaintext.
    pub fn starttls(&mut self, opts: &TlsOptions) {
        self.expect("STARTTLS", 220, "2.0.0");
        self.upgrade(opts).unwrap_or_else(|e| panic!("{e}"));
    }

    /// The handshake after a 220 to STARTTLS already read.
    pub fn upgrade(&mut self, opts: &TlsOptions) -> Result<(), String> {
        assert!(
            self.buf.is_empty(),
            "plaintext after the 220: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let Transport::Plain(tcp) = std::mem::replace(&mut self.transport, Transport::Gone) else {
            panic!("STARTTLS on a connection that is not plain");
        };
        let (stream, info) = handshake(tcp, opts)?;
        self.transport = Transport::Tls(Box::new(stream));
        self.transcript.push("(TLS established)".to_string());
        self.tls = Some(info);
        Ok(())
    }

    /// Reads one reply; panics on timeout or close.
    pub fn read_reply(&mut self) -> (u16, String) {
        match self.try_read_reply(IO_TIMEOUT) {
            Ok(r) => r,
            Err(e) => panic!("no reply: {e}\n{}", self.transcript()),
        }
    }

    /// Reads one (multi-line) reply within `timeout`; text lines joined with `\n`.
    pub fn try_read_reply(&mut self, timeout: Duration) -> Result<(u16, String), String> {
        let deadline = Instant::now() + timeout;
        let mut lines: Vec<String> = Vec::new();
        loop {
            let line = self.read_line(deadline)?;
            let b = line.as_bytes();
            if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
                return Err(format!("malformed reply line {line:?}"));
            }
            let last = b.len() == 3 || b[3] == b' ';
            lines.push(line);
            if last {
                let code = lines[lines.len() - 1][..3].parse().unwrap_or(0);
                let text = lines.join("\n");
                self.transcript.push(format!("S: {text}"));
                return Ok((code, text));
            }
        }
    }

    fn read_line(&mut self, deadline: Instant) -> Result<String, String> {
        loop {
            if let Some(line) = take_line(&mut self.buf) {
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if Instant::now() >= deadline {
                return Err("timeout".into());
            }
            let mut chunk = [0u8; 4096];
            match self.transport.read(&mut chunk) {
                Ok(0) => return Err("closed".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err("timeout".into())
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("closed ({e})")),
            }
        }
    }

    /// Asserts the server closes the connection (EOF or reset) with nothing more to say.
    pub fn expect_closed(&mut self) {
        match self.try_read_reply(IO_TIMEOUT) {
            Err(e) if e.starts_with("closed") && self.buf.is_empty() => {}
            other => panic!(
                "expected the connection to be closed, got {other:?}\n{}",
                self.transcript()
            ),
        }
    }

    /// Every line sent and received, in order.
    pub fn transcript(&self) -> String {
        self.transcript.join("\n")
    }

    // --- SASL clients (RFC 4954 framing) ---------------------------------

    /// `AUTH PLAIN` with the initial response (RFC 4616); the final reply.
    pub fn auth_plain(&mut self, user: &str, password: &str) -> (u16, String) {
        let response = b64(format!("\0{user}\0{password}"));
        self.cmd(&format!("AUTH PLAIN {response}"))
    }

    /// `AUTH LOGIN`: user name and password each after a 334 prompt.
    pub fn auth_login(&mut self, user: &str, password: &str) -> (u16, String) {
        let (code, text) = self.cmd("AUTH LOGIN");
        if code != 334 {
            return (code, text);
        }
        assert_eq!(unb64(&text[4..]), b"Username:", "{text}");
        let (code, text) = self.cmd(&b64(user));
        if code != 334 {
            return (code, text);
        }
        assert_eq!(unb64(&text[4..]), b"Password:", "{text}");
        self.cmd(&b64(password))
    }

    /// `AUTH CRAM-MD5` (RFC 2195): `user hex(HMAC-MD5(password, challenge))`.
    pub fn auth_cram_md5(&mut self, user: &str, password: &str) -> (u16, String) {
        let (code, text) = self.cmd("AUTH CRAM-MD5");
        if code != 334 {
            return (code, text);
        }
        let challenge = unb64(&text[4..]);
        assert!(
            challenge.starts_with(b"<") && challenge.ends_with(b">"),
            "RFC 2195 challenge is a msg-id: {:?}",
            String::from_utf8_lossy(&challenge)
        );
        let mut mac = Hmac::<Md5>::new_from_slice(password.as_bytes()).unwrap();
        mac.update(&challenge);
        let digest = hex(&mac.finalize().into_bytes());
        self.cmd(&b64(format!("{user} {digest}")))
    }

    /// `AUTH SCRAM-SHA-256` (RFC 5802, RFC 7677) without channel binding.
    /// Verifies the server's signature when it sends one (panics if wrong);
    /// returns the final reply.
    pub fn auth_scram_sha256(&mut self, user: &str, password: &str) -> (u16, String) {
        let (code, text) = self.cmd("AUTH SCRAM-SHA-256");
        if code != 334 {
            return (code, text);
        }
        assert_eq!(text, "334 ", "SCRAM is client-first: an empty challenge");
        let client_nonce = b64(rand::random::<[u8; 18]>());
        let name = user.replace('=', "=3D").replace(',', "=2C");
        let client_first_bare = format!("n={name},r={client_nonce}");
        let (code, text) = self.cmd(&b64(format!("n,,{client_first_bare}")));
        if code != 334 {
            return (code, text);
        }
        let server_first = String::from_utf8(unb64(&text[4..])).unwrap();
        let attr = |m: &str, key: &str| -> String {
            m.split(',')
                .find_map(|a| a.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {m:?}"))
                .to_string()
        };
        let nonce = attr(&server_first, "r=");
        assert!(
            nonce.starts_with(&client_nonce) && nonce.len() > client_nonce.len(),
            "the server nonce extends ours: {server_first}"
        );
        let salt = unb64(&attr(&server_first, "s="));
        let iterations: u32 = attr(&server_first, "i=").parse().unwrap();
        assert!(iterations >= 4096, "RFC 7677 §4: at least 4096 iterations");
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac_sha256(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        let (code, text) = self.cmd(&b64(format!("{without_proof},p={}", b64(proof))));
        if code != 334 {
            return (code, text);
        }
        let server_final = String::from_utf8(unb64(&text[4..])).unwrap();
        let server_key = hmac_sha256(&salted, b"Server Key");
        let expected = b64(hmac_sha256(&server_key, auth_message.as_bytes()));
        assert_eq!(
            server_final,
            format!("v={expected}"),
            "the server proves it knows the password's keys"
        );
        self.cmd("")
    }
}

/// Base64 of `bytes`.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    STANDARD
        .decode(text.trim())
        .unwrap_or_else(|e| panic!("not base64 {text:?}: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A server with user alice (and more) on the harness's ports, `extra` TOML appended.
pub fn server_with(extra: &str, users: &[(&str, &str)]) -> Server {
    let mut all = vec![("alice", ALICE_PW)];
    all.extend_from_slice(users);
    Server::with_users(extra, &all)
}

/// The `Received:` header of a stored message, unfolded.
pub fn received_header(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    let start = text
        .find("Received: ")
        .unwrap_or_else(|| panic!("no Received header in {text:?}"));
    let mut out = String::new();
    for (i, line) in text[start..].split("\r\n").enumerate() {
        if i > 0 && !line.starts_with([' ', '\t']) {
            break;
        }
        out.push_str(line.trim_start());
        out.push(' ');
    }
    out.trim_end().to_string()
}
