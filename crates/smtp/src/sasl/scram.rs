//! SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, without channel
//! binding: gs2 header `n,,` or `y,,` (with an optional `a=` authzid).
//!
//! ```text
//! C: n,,n=user,r=<client nonce>                       (client-first)
//!    -> the driver looks up the user's ScramKeys
//! S: r=<client nonce><server nonce>,s=<salt>,i=<n>    (server-first)
//! C: c=biws,r=<both nonces>,p=<proof>                 (client-final)
//! S: v=<server signature>                             (server-final, in a 334)
//! C: (empty line)  ->  235
//! ```
//!
//! An unknown user gets keys derived from its name and a server secret, so
//! the exchange looks the same as for a real user until the final `535`
//! (as mox and Dovecot do): a client cannot probe for user names.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{
    authzid_allowed, hmac_sha256, normalize_user, AuthAnswer, AuthRequest, Failure, ScramKeys,
    Secret, Step,
};

/// Iterations of the fake keys of unknown users: the count Portcullis
/// enrols real users with (`portcullis_directory::users::SCRAM_ITERATIONS`), so
/// `i=` tells nothing either.
pub const FAKE_ITERATIONS: u32 = 4096;

/// Salt length of the fake keys: that of real enrolments.
pub const FAKE_SALT_LEN: usize = 16;

/// A server nonce from 18 random bytes: 24 base64 characters, printable and
/// without `,` as RFC 5802 §7 requires (18 is a multiple of 3: no `=`).
pub fn server_nonce(random: &[u8; 32]) -> String {
    STANDARD.encode(&random[..18])
}

/// The keys an unknown user gets: stable for a name under one secret, so
/// asking twice shows the same salt, as for a real user.
pub fn fake_keys(secret: &Secret, user: &str) -> ScramKeys {
    let derive = |label: &[u8]| hmac_sha256(&secret.0, &[label, b"\0", user.as_bytes()]);
    ScramKeys {
        iterations: FAKE_ITERATIONS,
        salt: derive(b"scram salt")[..FAKE_SALT_LEN].to_vec(),
        stored_key: derive(b"scram stored key"),
        server_key: derive(b"scram server key"),
    }
}

/// The server side of one SCRAM-SHA-256 exchange.
#[derive(Debug)]
pub struct ScramSha256 {
    server_nonce: String,
    secret: Secret,
    state: State,
}

#[derive(Debug)]
enum State {
    Start,
    WantClientFirst,
    WantKeys(ClientFirst),
    WantClientFinal(Pending),
    /// The server-final-message was sent; the client acknowledges it with
    /// an empty response (RFC 4954 §4: SMTP has no "additional data with
    /// success", so it travels in a 334).
    WantAck(String),
    Done,
}

/// What the client-first-message said.
#[derive(Debug)]
struct ClientFirst {
    /// `n,,`, `y,,` or with `a=`: echoed in `c=` of the client-final.
    gs2_header: String,
    /// `client-first-message-bare`, part of the AuthMessage.
    bare: String,
    /// The lower-cased user name for the lookup.
    user: String,
    client_nonce: String,
}

/// Between server-first and client-final.
#[derive(Debug)]
struct Pending {
    gs2_header: String,
    user: String,
    /// Client nonce + server nonce.
    nonce: String,
    /// `client-first-message-bare "," server-first-message "," `.
    auth_prefix: String,
    keys: ScramKeys,
    /// False when the keys are fake: the exchange must fail whatever the proof.
    known: bool,
}

impl ScramSha256 {
    /// An exchange with this server nonce (see [`server_nonce`]) and the
    /// server secret for unknown users' fake keys.
    pub fn new(server_nonce: String, secret: Secret) -> ScramSha256 {
        ScramSha256 {
            server_nonce,
            secret,
            state: State::Start,
        }
    }

    /// SCRAM is client-first: with no initial response the server sends
    /// an empty challenge and waits for the client-first-message.
    pub fn start(&mut self, initial: Option<Vec<u8>>) -> Step {
        if !matches!(self.state, State::Start) {
            return self.fail(Failure::Malformed("SCRAM exchange already started"));
        }
        match initial {
            Some(first) => self.client_first(&first),
            None => {
                self.state = State::WantClientFirst;
                Step::Challenge(Vec::new())
            }
        }
    }

    /// The client's next message.
    pub fn respond(&mut self, response: Vec<u8>) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::WantClientFirst => self.client_first(&response),
            State::WantClientFinal(pending) => self.client_final(pending, &response),
            State::WantAck(user) if response.is_empty() => Step::Success(user),
            State::WantAck(_) => self.fail(Failure::Malformed(
                "Expected an empty response to the SCRAM server-final-message",
            )),
            _ => self.fail(Failure::Malformed("Unexpected SCRAM response")),
        }
    }

    /// The driver's keys for the user (or `None`: unknown user).
    pub fn answer(&mut self, answer: AuthAnswer) -> Step {
        let State::WantKeys(first) = std::mem::replace(&mut self.state, State::Done) else {
            return self.fail(Failure::Temporary);
        };
        let (keys, known) = match answer {
            AuthAnswer::ScramKeys(Some(keys)) => (keys, true),
            AuthAnswer::ScramKeys(None) => (fake_keys(&self.secret, &first.user), false),
            _ => return Step::Failure(Failure::Temporary),
        };
        let nonce = format!("{}{}", first.client_nonce, self.server_nonce);
        // RFC 5802 §7: server-first-message = nonce "," salt "," iteration-count.
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&keys.salt),
            keys.iterations
        );
        let auth_prefix = format!("{},{server_first},", first.bare);
        self.state = State::WantClientFinal(Pending {
            gs2_header: first.gs2_header,
            user: first.user,
            nonce,
            auth_prefix,
            keys,
            known,
        });
        Step::Challenge(server_first.into_bytes())
    }

    fn client_first(&mut self, message: &[u8]) -> Step {
        let first = match parse_client_first(message) {
            Ok(first) => first,
            Err(failure) => return self.fail(failure),
        };
        if !authzid_allowed(&first.authzid, &first.user) {
            return self.fail(Failure::Credentials);
        }
        let user = normalize_user(&first.user);
        self.state = State::WantKeys(ClientFirst {
            gs2_header: first.gs2_header,
            bare: first.bare,
            user: user.clone(),
            client_nonce: first.client_nonce,
        });
        Step::Ask(AuthRequest::ScramKeys { user })
    }

    fn client_final(&mut self, pending: Pending, message: &[u8]) -> Step {
        let last = match parse_client_final(message) {
            Ok(last) => last,
            Err(failure) => return self.fail(failure),
        };
        // RFC 5802 §7: without channel binding, c= is the gs2 header itself.
        if last.channel_binding != pending.gs2_header.as_bytes() {
            return self.fail(Failure::Malformed("SCRAM channel binding data mismatch"));
        }
        // RFC 5802 §5.1: the client must echo both nonces.
        if last.nonce != pending.nonce {
            return self.fail(Failure::Malformed("SCRAM nonce mismatch"));
        }
        let auth_message = format!("{}{}", pending.auth_prefix, last.without_proof);
        if verify_proof(&pending.keys, auth_message.as_bytes(), &last.proof) && pending.known {
            let signature = hmac_sha256(&pending.keys.server_key, &[auth_message.as_bytes()]);
            self.state = State::WantAck(pending.user);
            Step::Challenge(format!("v={}", STANDARD.encode(signature)).into_bytes())
        } else {
            // RFC 5802 §5.1 would send e=invalid-proof; SMTP says 535.
            self.fail(Failure::Credentials)
        }
    }

    fn fail(&mut self, failure: Failure) -> Step {
        self.state = State::Done;
        Step::Failure(failure)
    }
}

/// RFC 5802 §3: `ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage)`
/// and the proof holds when `H(ClientKey) == StoredKey`, compared in
/// constant time (a timing leak would reveal the stored key bit by bit).
fn verify_proof(keys: &ScramKeys, auth_message: &[u8], proof: &[u8; 32]) -> bool {
    let signature = hmac_sha256(&keys.stored_key, &[auth_message]);
    let mut client_key = [0u8; 32];
    for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
        *k = p ^ s;
    }
    let candidate: [u8; 32] = Sha256::digest(client_key).into();
    bool::from(candidate.ct_eq(&keys.stored_key))
}

/// The parts of a client-first-message.
struct ParsedFirst {
    gs2_header: String,
    authzid: String,
    bare: String,
    user: String,
    client_nonce: String,
}

/// RFC 5802 §7:
/// `client-first-message = gs2-header client-first-message-bare`,
/// `gs2-header = gs2-cbind-flag "," [ authzid ] ","`,
/// `client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]`.
fn parse_client_first(message: &[u8]) -> Result<ParsedFirst, Failure> {
    let text = std::str::from_utf8(message)
        .map_err(|_| Failure::Malformed("Malformed SCRAM message: not UTF-8"))?;
    let syntax = Failure::Malformed("Malformed SCRAM client-first-message");
    let (flag, rest) = text.split_once(',').ok_or(syntax.clone())?;
    match flag {
        // `y`: the client could bind but believes we cannot; true, since no
        // -PLUS variant is offered, so there is no downgrade to detect.
        "n" | "y" => {}
        // RFC 5802 §6: binding to a channel type we never offered fails.
        f if f.starts_with("p=") => {
            return Err(Failure::Malformed("SCRAM channel binding is not supported"))
        }
        _ => return Err(syntax),
    }
    let (authzid, bare) = rest.split_once(',').ok_or(syntax.clone())?;
    let authzid = match authzid {
        "" => String::new(),
        // RFC 5802 §7: `authzid = "a=" saslname`, and a saslname is never empty.
        a => match a.strip_prefix("a=") {
            Some(name) if !name.is_empty() => decode_saslname(name)?,
            _ => return Err(syntax),
        },
    };
    let gs2_header = text[..text.len() - bare.len()].to_string();
    let mut attributes = bare.split(',');
    let user = attributes.next().unwrap_or("");
    // RFC 5802 §5.1: a mandatory extension we do not know fails the exchange.
    if user.starts_with("m=") {
        return Err(Failure::Malformed(
            "SCRAM mandatory extension not supported",
        ));
    }
    let user = decode_saslname(user.strip_prefix("n=").ok_or(syntax.clone())?)?;
    if user.is_empty() {
        return Err(syntax);
    }
    let client_nonce = attributes
        .next()
        .and_then(|r| r.strip_prefix("r="))
        .filter(|r| is_nonce(r))
        .ok_or(syntax.clone())?;
    if !attributes.all(is_extension) {
        return Err(syntax);
    }
    Ok(ParsedFirst {
        gs2_header,
        authzid,
        bare: bare.to_string(),
        user,
        client_nonce: client_nonce.to_string(),
    })
}

/// The parts of a client-final-message.
struct ParsedFinal {
    /// `c=` decoded.
    channel_binding: Vec<u8>,
    nonce: String,
    /// `client-final-message-without-proof`, part of the AuthMessage.
    without_proof: String,
    proof: [u8; 32],
}

/// RFC 5802 §7: `client-final-message = channel-binding "," nonce [","
/// extensions] "," proof`.
fn parse_client_final(message: &[u8]) -> Result<ParsedFinal, Failure> {
    let text = std::str::from_utf8(message)
        .map_err(|_| Failure::Malformed("Malformed SCRAM message: not UTF-8"))?;
    let syntax = Failure::Malformed("Malformed SCRAM client-final-message");
    // The proof is the last attribute; base64 has no `,`.
    let (without_proof, proof) = text.rsplit_once(",p=").ok_or(syntax.clone())?;
    let mut attributes = without_proof.split(',');
    let channel_binding = attributes
        .next()
        .and_then(|c| c.strip_prefix("c="))
        .and_then(|c| STANDARD.decode(c).ok())
        .ok_or(syntax.clone())?;
    let nonce = attributes
        .next()
        .and_then(|r| r.strip_prefix("r="))
        .filter(|r| is_nonce(r))
        .ok_or(syntax.clone())?;
    if !attributes.all(is_extension) {
        return Err(syntax);
    }
    let proof: [u8; 32] = STANDARD
        .decode(proof)
        .ok()
        .and_then(|p| p.try_into().ok())
        .ok_or(syntax)?;
    Ok(ParsedFinal {
        channel_binding,
        nonce: nonce.to_string(),
        without_proof: without_proof.to_string(),
        proof,
    })
}

/// RFC 5802 §7: `saslname` with `,` written `=2C` and `=` written `=3D`;
/// any other `=` is malformed.
fn decode_saslname(name: &str) -> Result<String, Failure> {
    let malformed = || Failure::Malformed("Malformed SCRAM user name");
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i..i + 3).ok_or_else(malformed)?;
        out.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return Err(malformed()),
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// RFC 5802 §7: `c-nonce = printable`, `printable = %x21-2B / %x2D-7E`.
fn is_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// RFC 5802 §7: an optional extension `attr-val = ALPHA "=" value`; unknown
/// ones are ignored.
fn is_extension(attribute: &str) -> bool {
    let bytes = attribute.as_bytes();
    bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b'='
}
