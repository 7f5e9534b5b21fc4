//! One outbound SMTP or LMTP connection: a TCP stream (plain, or TLS after
//! STARTTLS) or a Unix socket (LMTP) with the sans-IO reply parser on top, where every read and
//! write has a deadline (RFC 5321 §4.5.3.2).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use portcullis_smtp::client::{ReplyError, ReplyParser};
use portcullis_smtp::Reply;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why the connection failed.
#[derive(Debug)]
pub(super) enum ConnError {
    /// No reply (or no progress writing) within the deadline.
    Timeout(&'static str),
    /// The server closed the connection.
    Closed,
    /// A socket error.
    Io(io::Error),
    /// The server's bytes are not SMTP replies.
    Protocol(ReplyError),
    /// The TLS handshake failed.
    Tls(String),
    /// The server sent bytes after its 220 to STARTTLS, before the handshake.
    Injected,
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            ConnError::Closed => f.write_str("the server closed the connection"),
            ConnError::Io(e) => write!(f, "{e}"),
            ConnError::Protocol(e) => write!(f, "protocol error: {e}"),
            ConnError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            ConnError::Injected => {
                f.write_str("the server sent data after its 220 to STARTTLS (possible injection)")
            }
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An open connection.
pub(super) struct Conn {
    stream: Stream,
    parser: ReplyParser,
    /// `name[ip]` of the peer, for logs and bounces.
    pub remote: String,
    /// Whether TLS is up.
    pub tls: bool,
}

impl Conn {
    /// Wraps a connected socket.
    pub(super) fn new(tcp: TcpStream, remote: String) -> Conn {
        let _ = tcp.set_nodelay(true);
        Conn {
            stream: Stream::Plain(tcp),
            parser: ReplyParser::new(),
            remote,
            tls: false,
        }
    }

    /// Wraps a connected Unix socket (an LMTP server's).
    pub(super) fn unix(stream: UnixStream, remote: String) -> Conn {
        Conn {
            stream: Stream::Unix(stream),
            parser: ReplyParser::new(),
            remote,
            tls: false,
        }
    }

    /// Reads one reply, waiting at most `limit` for all of it.
    pub(super) async fn read_reply(
        &mut self,
        limit: Duration,
        what: &'static str,
    ) -> Result<Reply, ConnError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(reply) = self.parser.next_reply().map_err(ConnError::Protocol)? {
                return Ok(reply);
            }
            let read = match &mut self.stream {
                Stream::Plain(s) => tokio::time::timeout_at(deadline, s.read(&mut buf)).await,
                Stream::Unix(s) => tokio::time::timeout_at(deadline, s.read(&mut buf)).await,
                Stream::Tls(s) => tokio::time::timeout_at(deadline, s.read(&mut buf)).await,
            };
            match read {
                Err(_) => return Err(ConnError::Timeout(what)),
                Ok(Err(e)) => return Err(ConnError::Io(e)),
                Ok(Ok(0)) => return Err(ConnError::Closed),
                Ok(Ok(n)) => self.parser.feed(&buf[..n]),
            }
        }
    }

    /// Writes all of `bytes` within `limit`.
    pub(super) async fn write_all(
        &mut self,
        bytes: &[u8],
        limit: Duration,
        what: &'static str,
    ) -> Result<(), ConnError> {
        let write = async {
            match &mut self.stream {
                Stream::Plain(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Unix(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
                Stream::Tls(s) => {
                    s.write_all(bytes).await?;
                    s.flush().await
                }
            }
        };
        match tokio::time::timeout(limit, write).await {
            Err(_) => Err(ConnError::Timeout(what)),
            Ok(Err(e)) => Err(ConnError::Io(e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Writes a command and reads its reply.
    pub(super) async fn command(
        &mut self,
        bytes: &[u8],
        limit: Duration,
        what: &'static str,
    ) -> Result<Reply, ConnError> {
        self.write_all(bytes, limit, what).await?;
        self.read_reply(limit, what).await
    }

    /// Runs the TLS handshake after the server's 220 to STARTTLS.
    pub(super) async fn start_tls(
        self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        limit: Duration,
    ) -> Result<Conn, ConnError> {
        // RFC 3207 §5 / CVE-2011-0411's client-side twin: anything the
        // server sent after its 220 came before encryption and could be an
        // attacker's reply waiting to be read as if it were protected.
        if self.parser.buffered() > 0 {
            return Err(ConnError::Injected);
        }
        let tcp = match self.stream {
            Stream::Plain(tcp) => tcp,
            Stream::Unix(_) => return Err(ConnError::Tls("not over a Unix socket".into())),
            Stream::Tls(_) => return Err(ConnError::Tls("TLS is already active".into())),
        };
        let connector = TlsConnector::from(config);
        let tls = match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
            Err(_) => return Err(ConnError::Timeout("the TLS handshake")),
            Ok(Err(e)) => return Err(ConnError::Tls(e.to_string())),
            Ok(Ok(s)) => s,
        };
        Ok(Conn {
            stream: Stream::Tls(Box::new(tls)),
            parser: ReplyParser::new(),
            remote: self.remote,
            tls: true,
        })
    }

    /// Sends QUIT and closes, without waiting long for the 221.
    pub(super) async fn quit(mut self) {
        let _ = self
            .command(
                &portcullis_smtp::client::quit(),
                Duration::from_secs(10),
                "the reply to QUIT",
            )
            .await;
        match &mut self.stream {
            Stream::Plain(s) => {
                let _ = s.shutdown().await;
            }
            Stream::Unix(s) => {
                let _ = s.shutdown().await;
            }
            Stream::Tls(s) => {
                let _ = s.shutdown().await;
            }
        }
    }
}
