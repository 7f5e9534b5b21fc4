//! Who may send where, asked from the network: a client bound to a
//! 127.x.y.z address connects to the `smtp` listener, optionally logs in
//! as alice with one SASL mechanism, and tries one recipient. The seed
//! recipes' tests (CLI and console) read their effect through it.

use std::net::Ipv4Addr;

use crate::auth_support::{Smtp, TlsOptions, ALICE_PW};
use crate::Server;

/// How a client logs in before its RCPT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// No AUTH.
    None,
    /// `AUTH SCRAM-SHA-256`.
    ScramSha256,
    /// `AUTH CRAM-MD5`.
    CramMd5,
    /// `AUTH PLAIN`, after STARTTLS (PLAIN needs TLS).
    Plain,
    /// `AUTH LOGIN`, after STARTTLS (LOGIN needs TLS).
    Login,
}

/// Every mechanism Portcullis implements.
pub const EVERY_MECHANISM: [Via; 4] = [Via::ScramSha256, Via::CramMd5, Via::Plain, Via::Login];

/// What a client got: the AUTH reply when AUTH failed, else the RCPT reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    /// AUTH answered this code instead of 235.
    AuthRefused(u16),
    /// The RCPT reply's code.
    Rcpt(u16),
}

/// Connects from `src` to the smtp listener, logs in as alice (password
/// [`ALICE_PW`]) with `login`, and tries `RCPT TO:<rcpt>`.
pub fn send(server: &Server, src: Ipv4Addr, login: Via, rcpt: &str) -> Got {
    let mut c = Smtp::plain(src, server.smtp_port).greeted();
    c.ehlo("client.test");
    if matches!(login, Via::Plain | Via::Login) {
        c.starttls(&TlsOptions::for_server(server));
        c.ehlo("client.test");
    }
    let reply = match login {
        Via::None => None,
        Via::ScramSha256 => Some(c.auth_scram_sha256("alice", ALICE_PW)),
        Via::CramMd5 => Some(c.auth_cram_md5("alice", ALICE_PW)),
        Via::Plain => Some(c.auth_plain("alice", ALICE_PW)),
        Via::Login => Some(c.auth_login("alice", ALICE_PW)),
    };
    if let Some((code, _)) = reply {
        if code != 235 {
            return Got::AuthRefused(code);
        }
    }
    c.expect("MAIL FROM:<alice@local.test>", 250, "2.1.0");
    Got::Rcpt(c.cmd(&format!("RCPT TO:<{rcpt}>")).0)
}

/// The `AUTH ...` keyword a plaintext EHLO from `src` offers, if any.
pub fn auth_offered(server: &Server, src: Ipv4Addr) -> Option<String> {
    let mut c = Smtp::plain(src, server.smtp_port).greeted();
    let keywords = c.ehlo("client.test");
    Smtp::auth_keyword(&keywords)
}
