//! CRAM-MD5 (RFC 2195): the server sends a unique challenge, the client
//! answers `user SP hex(HMAC-MD5(password, challenge))`. The driver computes
//! the expected digest from the stored HMAC state; this side compares.

use subtle::ConstantTimeEq;

use super::{normalize_user, AuthAnswer, AuthRequest, Failure, Step};

/// The challenge `<random.random@hostname>`: RFC 2195 §2 asks for a
/// msg-id-like string that is never used twice. Its digits come from the
/// session's random bytes (the session has no wall clock, so no timestamp).
pub fn challenge(random: &[u8; 32], hostname: &str) -> Vec<u8> {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&random[..8]);
    b.copy_from_slice(&random[8..16]);
    format!(
        "<{}.{}@{}>",
        u64::from_be_bytes(a),
        u64::from_be_bytes(b),
        hostname
    )
    .into_bytes()
}

/// The server side of one CRAM-MD5 exchange.
#[derive(Debug)]
pub struct CramMd5 {
    challenge: Vec<u8>,
    state: State,
}

#[derive(Debug)]
enum State {
    Start,
    WantResponse,
    /// The driver computes the expected digest for `user`; the client's
    /// digest waits here.
    WantDigest {
        user: String,
        digest: [u8; 16],
    },
    Done,
}

impl CramMd5 {
    /// An exchange with this challenge (see [`challenge`]).
    pub fn new(challenge: Vec<u8>) -> CramMd5 {
        CramMd5 {
            challenge,
            state: State::Start,
        }
    }

    /// Sends the challenge. CRAM-MD5 is server-first: an initial response
    /// is refused (RFC 4954 §4: 501).
    pub fn start(&mut self, initial: Option<Vec<u8>>) -> Step {
        if initial.is_some() || !matches!(self.state, State::Start) {
            return self.fail(Failure::Malformed(
                "CRAM-MD5 does not take an initial response",
            ));
        }
        self.state = State::WantResponse;
        Step::Challenge(self.challenge.clone())
    }

    /// The client's `user SP digest`.
    pub fn respond(&mut self, response: Vec<u8>) -> Step {
        if !matches!(self.state, State::WantResponse) {
            return self.fail(Failure::Malformed("Unexpected CRAM-MD5 response"));
        }
        let Some((user, digest)) = parse(&response) else {
            return self.fail(Failure::Malformed(
                "Malformed CRAM-MD5 response: expected user and 32 hex digits",
            ));
        };
        let user = normalize_user(&user);
        self.state = State::WantDigest {
            user: user.clone(),
            digest,
        };
        Step::Ask(AuthRequest::CramMd5 {
            user,
            challenge: self.challenge.clone(),
        })
    }

    /// The driver's expected digest; compared in constant time.
    pub fn answer(&mut self, answer: AuthAnswer) -> Step {
        let State::WantDigest { user, digest } = std::mem::replace(&mut self.state, State::Done)
        else {
            return self.fail(Failure::Temporary);
        };
        let AuthAnswer::CramMd5Digest(expected) = answer else {
            return Step::Failure(Failure::Temporary);
        };
        // Why constant time: a timing difference would tell how many leading
        // bytes of a guessed digest were right. An unknown user compares
        // against a dummy so both paths do the same work.
        let known = expected.is_some();
        let expected = expected.unwrap_or([0u8; 16]);
        if bool::from(expected.ct_eq(&digest)) && known {
            Step::Success(user)
        } else {
            Step::Failure(Failure::Credentials)
        }
    }

    fn fail(&mut self, failure: Failure) -> Step {
        self.state = State::Done;
        Step::Failure(failure)
    }
}

/// RFC 2195 §2: the user name, a space, 32 hex digits (lower case per the
/// RFC; upper case is accepted, it is the same digest). The name is what
/// precedes the last space.
fn parse(response: &[u8]) -> Option<(String, [u8; 16])> {
    let text = std::str::from_utf8(response).ok()?;
    let (user, hex) = text.rsplit_once(' ')?;
    if user.is_empty() || hex.len() != 32 {
        return None;
    }
    let mut digest = [0u8; 16];
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some((user.to_string(), digest))
}
