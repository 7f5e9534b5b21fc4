//! SASL server mechanisms for SMTP AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN
//! (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195) and SCRAM-SHA-256
//! (RFC 5802, RFC 7677), each as a sans-IO state machine.
//!
//! A mechanism is fed the client's decoded responses and the driver's
//! answers, and says what happens next as a [`Step`]: send a challenge, ask
//! the driver (the secrets live in the user database, outside this crate),
//! succeed as a user, or fail with a reply. The session (`session/auth.rs`)
//! does the SMTP framing around it: the `334` lines, base64, `*`.
//!
//! Secrets are compared in constant time (`subtle`), and no `Debug` output
//! of this module shows a password, a key or an expected digest.

pub mod cram_md5;
pub mod login;
pub mod plain;
pub mod scram;
#[cfg(test)]
pub(crate) mod tests;

use std::fmt;
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

use crate::reply::Reply;

pub use cram_md5::CramMd5;
pub use login::Login;
pub use plain::Plain;
pub use scram::ScramSha256;

type HmacSha256 = Hmac<Sha256>;

/// A SASL mechanism Portcullis implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// `SCRAM-SHA-256` (RFC 7677), without channel binding.
    ScramSha256,
    /// `CRAM-MD5` (RFC 2195).
    CramMd5,
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `LOGIN` (draft-murchison-sasl-login).
    Login,
}

impl Mechanism {
    /// Every mechanism, in the order docs/reference.md §2 lists them.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::ScramSha256,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
    ];

    /// The registered name, as advertised after `AUTH` in EHLO.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }

    /// The mechanism of that name (case-insensitive, RFC 4422 §3.1), if we have it.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// True when the password itself crosses the wire (PLAIN, LOGIN): such a
    /// mechanism is offered only under TLS unless `plaintext_requires_tls`
    /// is off.
    pub fn sends_password(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }
}

/// What the driver must look up or verify; answered with [`AuthAnswer`].
///
/// User names are lower-cased here (docs/reference.md §1: user names are case-insensitive).
/// `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthRequest {
    /// PLAIN or LOGIN: verify `password` against the user's stored hash;
    /// answer [`AuthAnswer::Verified`]. `authzid` is empty or equal to
    /// `user` (the session refused any other with 535 before asking).
    Password {
        /// The authorization identity (lower-cased), empty when not given.
        authzid: String,
        /// The authentication identity (lower-cased).
        user: String,
        /// The password as the client sent it.
        password: String,
    },
    /// CRAM-MD5: compute `HMAC-MD5(password, challenge)` from the user's
    /// stored state; answer [`AuthAnswer::CramMd5Digest`]. The session
    /// compares it with the client's digest.
    CramMd5 {
        /// The user name (lower-cased).
        user: String,
        /// The challenge the session sent, exactly (`<digits.digits@host>`).
        challenge: Vec<u8>,
    },
    /// SCRAM-SHA-256: the user's stored salt, iteration count and keys;
    /// answer [`AuthAnswer::ScramKeys`]. The session runs the rest.
    ScramKeys {
        /// The user name (lower-cased; SCRAM's `n=` decoded).
        user: String,
    },
}

impl AuthRequest {
    /// The user the request is about (for logs).
    pub fn user(&self) -> &str {
        match self {
            AuthRequest::Password { user, .. }
            | AuthRequest::CramMd5 { user, .. }
            | AuthRequest::ScramKeys { user } => user,
        }
    }
}

impl fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Why: actions end up in logs; a password never may (STYLE: never
        // log an AUTH payload).
        match self {
            AuthRequest::Password { authzid, user, .. } => f
                .debug_struct("Password")
                .field("authzid", authzid)
                .field("user", user)
                .finish_non_exhaustive(),
            AuthRequest::CramMd5 { user, .. } => f
                .debug_struct("CramMd5")
                .field("user", user)
                .finish_non_exhaustive(),
            AuthRequest::ScramKeys { user } => {
                f.debug_struct("ScramKeys").field("user", user).finish()
            }
        }
    }
}

/// The driver's answer to an [`AuthRequest`].
#[derive(Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    /// To [`AuthRequest::Password`]: true when the user exists and the
    /// password matches. An unknown user is `false` (the driver should
    /// spend the same time on it as on a wrong password).
    Verified(bool),
    /// To [`AuthRequest::CramMd5`]: the expected `HMAC-MD5(password,
    /// challenge)`, or `None` for no such user.
    CramMd5Digest(Option<[u8; 16]>),
    /// To [`AuthRequest::ScramKeys`]: the stored keys, or `None` for no such
    /// user (the session then runs the exchange on fake keys and fails it at
    /// the end, so the client cannot tell).
    ScramKeys(Option<ScramKeys>),
    /// The user database could not be consulted (I/O error…): the AUTH
    /// fails with `454 4.7.0 Temporary authentication failure`.
    Unavailable,
}

impl fmt::Debug for AuthAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The expected digest answers the challenge: keep it out of logs.
        match self {
            AuthAnswer::Verified(v) => f.debug_tuple("Verified").field(v).finish(),
            AuthAnswer::CramMd5Digest(d) => f
                .debug_tuple("CramMd5Digest")
                .field(&d.map(|_| ".."))
                .finish(),
            AuthAnswer::ScramKeys(k) => f.debug_tuple("ScramKeys").field(k).finish(),
            AuthAnswer::Unavailable => f.write_str("Unavailable"),
        }
    }
}

/// SCRAM-SHA-256 server-side credentials (RFC 5802 §3): everything needed
/// to verify a client proof and prove the server, without the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// The PBKDF2 iteration count `i`.
    pub iterations: u32,
    /// The salt `s`.
    pub salt: Vec<u8>,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; 32],
}

impl fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys verify clients and authenticate the server: not for logs.
        f.debug_struct("ScramKeys")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// What happens next in an exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (raw; the session base64-encodes it into a `334`
    /// line) and wait for the client's response.
    Challenge(Vec<u8>),
    /// Ask the driver; feed its answer to the mechanism.
    Ask(AuthRequest),
    /// Authenticated as this user (lower-cased).
    Success(String),
    /// The exchange is over and failed.
    Failure(Failure),
}

/// Why an exchange failed; [`Failure::reply`] is what the client gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Wrong password, unknown user, refused authorization identity:
    /// `535 5.7.8` (RFC 4954 §6), the same reply for all of them.
    Credentials,
    /// A SASL message that breaks its mechanism's syntax: `501 5.5.2`.
    Malformed(&'static str),
    /// A response that is not base64: `501 5.5.2 Invalid base64 data`.
    BadBase64,
    /// The client answered `*` (RFC 4954 §4): `501 5.0.0`.
    Cancelled,
    /// The driver could not verify (or answered something not asked):
    /// `454 4.7.0` (RFC 4954 §6).
    Temporary,
}

impl Failure {
    /// The reply that ends the exchange.
    pub fn reply(&self) -> Reply {
        match self {
            Failure::Credentials => {
                Reply::new(535, (5, 7, 8), "Authentication credentials invalid")
            }
            Failure::Malformed(why) => Reply::new(501, (5, 5, 2), *why),
            Failure::BadBase64 => Reply::new(501, (5, 5, 2), "Invalid base64 data"),
            Failure::Cancelled => Reply::new(501, (5, 0, 0), "Authentication cancelled"),
            Failure::Temporary => Reply::new(454, (4, 7, 0), "Temporary authentication failure"),
        }
    }
}

/// One AUTH exchange in progress, whatever its mechanism.
#[derive(Debug)]
pub enum Exchange {
    /// PLAIN.
    Plain(Plain),
    /// LOGIN.
    Login(Login),
    /// CRAM-MD5.
    CramMd5(CramMd5),
    /// SCRAM-SHA-256.
    ScramSha256(ScramSha256),
}

impl Exchange {
    /// The first step: `initial` is the decoded initial response of
    /// `AUTH mechanism initial-response` (RFC 4954 §4), if one was given.
    pub fn start(&mut self, initial: Option<Vec<u8>>) -> Step {
        match self {
            Exchange::Plain(m) => m.start(initial),
            Exchange::Login(m) => m.start(initial),
            Exchange::CramMd5(m) => m.start(initial),
            Exchange::ScramSha256(m) => m.start(initial),
        }
    }

    /// The client's decoded response to the last challenge.
    pub fn respond(&mut self, response: Vec<u8>) -> Step {
        match self {
            Exchange::Plain(m) => m.respond(response),
            Exchange::Login(m) => m.respond(response),
            Exchange::CramMd5(m) => m.respond(response),
            Exchange::ScramSha256(m) => m.respond(response),
        }
    }

    /// The driver's answer to the last [`Step::Ask`].
    pub fn answer(&mut self, answer: AuthAnswer) -> Step {
        match self {
            Exchange::Plain(m) => m.answer(answer),
            Exchange::Login(m) => m.answer(answer),
            Exchange::CramMd5(m) => m.answer(answer),
            Exchange::ScramSha256(m) => m.answer(answer),
        }
    }
}

/// Decodes a client continuation line (without its line ending): `*`
/// cancels (RFC 4954 §4), anything else must be base64; an empty line is
/// an empty response.
pub fn decode_response(line: &[u8]) -> Result<Vec<u8>, Failure> {
    let line = trim_blanks(line);
    if line == b"*" {
        return Err(Failure::Cancelled);
    }
    STANDARD.decode(line).map_err(|_| Failure::BadBase64)
}

/// Decodes the initial-response argument of AUTH (RFC 4954 §4): `=` is an
/// empty response, anything else must be base64.
pub fn decode_initial(arg: &str) -> Result<Vec<u8>, Failure> {
    if arg == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(arg).map_err(|_| Failure::BadBase64)
}

/// Base64 of a challenge, for a `334` line.
pub fn encode_challenge(challenge: &[u8]) -> String {
    STANDARD.encode(challenge)
}

/// Trailing blanks carry nothing (as on command lines).
fn trim_blanks(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

/// User names are case-insensitive (docs/reference.md §1): one spelling for lookups.
pub(crate) fn normalize_user(user: &str) -> String {
    user.to_lowercase()
}

/// An authorization identity may only be empty or the user itself: acting
/// as someone else is not a right any Portcullis user has, so anything else
/// is refused like wrong credentials (RFC 4616 §2, RFC 5802 §5.1 leave the
/// policy to the server).
pub(crate) fn authzid_allowed(authzid: &str, user: &str) -> bool {
    authzid.is_empty() || normalize_user(authzid) == normalize_user(user)
}

/// 32 secret bytes (a seed or a key). `Debug` does not show them, and
/// there is no `==` (which would not be constant time).
#[derive(Clone)]
pub struct Secret(pub [u8; 32]);

impl Secret {
    /// Fresh bytes from the operating system's RNG. Panics if the OS has no
    /// randomness to give: no server should run on guessable nonces.
    pub fn random() -> Secret {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Secret(bytes)
    }

    /// One random secret per process, the same at every call: a server
    /// that does not persist its own gets this one.
    pub fn per_process() -> Secret {
        static SECRET: OnceLock<Secret> = OnceLock::new();
        SECRET.get_or_init(Secret::random).clone()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// PLAIN and LOGIN: the mechanisms that hand the driver a password and end
/// on its verdict, written once here.
pub trait PasswordMechanism {
    /// Takes the user whose password the driver was asked to verify, `None`
    /// when no verdict is due; either way the exchange is over.
    fn take_user(&mut self) -> Option<String>;

    /// The driver's verdict on the password. Anything but a yes or a no, or
    /// a verdict nobody asked for, is a temporary failure.
    fn answer(&mut self, answer: AuthAnswer) -> Step {
        let Some(user) = self.take_user() else {
            return Step::Failure(Failure::Temporary);
        };
        match answer {
            AuthAnswer::Verified(true) => Step::Success(user),
            AuthAnswer::Verified(false) => Step::Failure(Failure::Credentials),
            _ => Step::Failure(Failure::Temporary),
        }
    }
}

/// HMAC-SHA-256 of the parts, concatenated.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The session's source of challenges and nonces: HMAC-SHA-256 of a
/// counter under a per-session seed (a PRF in counter mode). With a seed
/// from the OS RNG every value is unpredictable; with a fixed seed a test
/// is deterministic.
pub(crate) struct Nonces {
    seed: Secret,
    counter: u64,
}

impl Nonces {
    pub(crate) fn new(seed: Secret) -> Nonces {
        Nonces { seed, counter: 0 }
    }

    /// The next 32 unpredictable bytes; never the same twice in a session.
    pub(crate) fn next(&mut self) -> [u8; 32] {
        self.counter += 1;
        hmac_sha256(
            &self.seed.0,
            &[b"portcullis sasl nonce", &self.counter.to_be_bytes()],
        )
    }
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}
