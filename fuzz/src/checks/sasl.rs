//! The SASL decoders and mechanisms of AUTH (RFC 4954, 4616, 2195, 7677).
//!
//! Input: byte 0 picks the mechanism (bits 0-1), whether the first line is
//! an initial response (bit 2), whether lines go through the base64 decoder
//! or straight to the mechanism (bit 3), and whether the driver's answers
//! say yes (bit 4); the rest is the client's lines, split at LF. Checked:
//! no panic; base64 decoding round-trips; no success unless the driver said
//! yes, and then only for the user it was asked about; a finished exchange
//! never succeeds later; challenges stay small.

use portcullis_smtp::sasl::{
    decode_initial, decode_response, encode_challenge, scram, AuthAnswer, AuthRequest, CramMd5,
    Exchange, Login, Plain, ScramSha256, Secret, Step,
};

/// A challenge larger than this plus the client's own input would be a bug
/// (SCRAM's server-first message is about 100 bytes plus the client nonce).
const MAX_CHALLENGE: usize = 1024;

pub fn check(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    decoders(rest);

    let mut exchange = match flags & 3 {
        0 => Exchange::Plain(Plain::new()),
        1 => Exchange::Login(Login::new()),
        2 => Exchange::CramMd5(CramMd5::new(b"<1896.697170952@mx.test>".to_vec())),
        _ => Exchange::ScramSha256(ScramSha256::new(
            scram::server_nonce(&[5; 32]),
            Secret([9; 32]),
        )),
    };
    let with_initial = flags & 4 != 0;
    let via_base64 = flags & 8 != 0;
    let says_yes = flags & 16 != 0;

    let mut lines = rest.split(|&b| b == b'\n').map(|line| {
        if via_base64 {
            decode_response(line).ok()
        } else {
            Some(line.to_vec())
        }
    });
    let initial = if with_initial {
        lines.next().flatten()
    } else {
        None
    };
    let mut step = exchange.start(initial);
    let mut asked: Option<String> = None;
    let mut finished = false;
    let mut steps = 0usize;
    loop {
        steps += 1;
        assert!(steps <= rest.len() + 8, "the exchange does not end");
        match step {
            Step::Challenge(c) => {
                assert!(!finished, "a challenge after the exchange ended");
                // SCRAM's server-first message echoes the client nonce:
                // bounded by what the client sent, never more.
                assert!(
                    c.len() <= MAX_CHALLENGE + rest.len(),
                    "challenge of {} bytes for {} bytes of input",
                    c.len(),
                    rest.len()
                );
                match lines.next() {
                    Some(Some(response)) => step = exchange.respond(response),
                    // Not base64 (the session answers 501) or no more input.
                    Some(None) | None => break,
                }
            }
            Step::Ask(request) => {
                assert!(!finished, "a question after the exchange ended");
                asked = Some(request.user().to_string());
                step = exchange.answer(answer(&request, says_yes));
            }
            Step::Success(user) => {
                assert!(!finished, "success after the exchange ended");
                assert!(says_yes, "success although the driver said no");
                assert_eq!(
                    Some(&user),
                    asked.as_ref(),
                    "success for a user never asked about"
                );
                assert!(
                    !matches!(exchange, Exchange::ScramSha256(_)),
                    "SCRAM succeeded on fake keys"
                );
                finished = true;
                step = after_end(&mut exchange, &mut lines);
            }
            Step::Failure(failure) => {
                let reply = failure.reply();
                assert!((400..600).contains(&reply.code));
                if finished {
                    break;
                }
                finished = true;
                step = after_end(&mut exchange, &mut lines);
            }
        }
    }
}

/// Feeds one more line to a finished exchange: it must not start over.
fn after_end(exchange: &mut Exchange, lines: &mut dyn Iterator<Item = Option<Vec<u8>>>) -> Step {
    match lines.next() {
        Some(Some(line)) => match exchange.respond(line) {
            Step::Success(_) => panic!("a finished exchange succeeded"),
            _ => Step::Failure(portcullis_smtp::sasl::Failure::Cancelled),
        },
        _ => Step::Failure(portcullis_smtp::sasl::Failure::Cancelled),
    }
}

/// The fake user database: everything is accepted or nothing is. SCRAM
/// always gets "no such user", so it runs on fake keys and must fail.
fn answer(request: &AuthRequest, yes: bool) -> AuthAnswer {
    match request {
        AuthRequest::Password { .. } => AuthAnswer::Verified(yes),
        AuthRequest::CramMd5 { .. } if yes => AuthAnswer::CramMd5Digest(Some([0x42; 16])),
        AuthRequest::CramMd5 { .. } => AuthAnswer::CramMd5Digest(None),
        AuthRequest::ScramKeys { .. } if yes => AuthAnswer::ScramKeys(None),
        AuthRequest::ScramKeys { .. } => AuthAnswer::Unavailable,
    }
}

/// `decode_response` and `decode_initial` on every line: what decodes,
/// encodes back to something that decodes to the same bytes.
fn decoders(rest: &[u8]) {
    for line in rest.split(|&b| b == b'\n').take(8) {
        if let Ok(bytes) = decode_response(line) {
            let again = decode_response(encode_challenge(&bytes).as_bytes())
                .expect("our own base64 decodes");
            assert_eq!(again, bytes);
        }
        if let Ok(text) = std::str::from_utf8(line) {
            if let Ok(bytes) = decode_initial(text) {
                let encoded = encode_challenge(&bytes);
                let again = decode_initial(if encoded.is_empty() { "=" } else { &encoded })
                    .expect("our own base64 decodes");
                assert_eq!(again, bytes);
            }
        }
    }
}
