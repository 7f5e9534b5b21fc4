//! AUTH (RFC 4954) as transcripts: the RFCs' published exchanges replayed
//! through a session, the sequence rules, the TLS policy for PLAIN and
//! LOGIN, and every way an exchange can fail. The scripted driver of
//! `tests.rs` answers from the test users below.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;

use super::tests::{auth_outcomes, cfg, mailbox, run_split_with, Client, EHLO_REPLY};
use super::*;
use crate::sasl::tests::{hmac_md5, scram_client_final, scram_keys};

/// The test user database: RFC 4616's and RFC 2195's tim, RFC 7677's user,
/// RFC 4616's Kurt.
const USERS: [(&str, &str); 3] = [
    ("tim", "tanstaaftanstaaf"),
    ("user", "pencil"),
    ("kurt", "xipj3plmq"),
];

/// Every user's SCRAM salt (RFC 7677's), with 4096 iterations.
const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

/// What the driver answers, computed as the real user database does.
pub(super) fn answer(request: &AuthRequest) -> AuthAnswer {
    let password = |user: &str| USERS.iter().find(|(u, _)| *u == user).map(|(_, p)| *p);
    match request {
        AuthRequest::Password {
            user,
            password: given,
            ..
        } => AuthAnswer::Verified(password(user) == Some(given.as_str())),
        AuthRequest::CramMd5 { user, challenge } => {
            AuthAnswer::CramMd5Digest(password(user).map(|p| hmac_md5(p, challenge)))
        }
        AuthRequest::ScramKeys { user } => AuthAnswer::ScramKeys(
            password(user).map(|p| scram_keys(p, &STANDARD.decode(SALT).unwrap(), 4096)),
        ),
    }
}

/// The default mechanisms (`auth.mechanisms`), on a connection without TLS.
fn auth_cfg() -> SessionConfig {
    SessionConfig {
        auth_mechanisms: ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]
            .map(String::from)
            .to_vec(),
        ..cfg()
    }
}

/// The same under implicit TLS (port 465).
fn tls_cfg() -> SessionConfig {
    SessionConfig {
        tls_active: true,
        ..auth_cfg()
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// A client line: base64 of `bytes`, CRLF.
fn line(bytes: impl AsRef<[u8]>) -> Vec<u8> {
    format!("{}\r\n", b64(bytes)).into_bytes()
}

/// The decoded challenge of a `334` reply.
fn challenge(reply: &str) -> Vec<u8> {
    let text = reply
        .strip_prefix("334 ")
        .and_then(|r| r.strip_suffix("\r\n"))
        .unwrap_or_else(|| panic!("not a 334 challenge: {reply:?}"));
    STANDARD.decode(text).unwrap()
}

fn ehlo_auth_line(c: &mut Client) -> Option<String> {
    let out = c.say(b"EHLO client.test\r\n");
    out.lines()
        .find_map(|l| l.get(4..).filter(|k| k.starts_with("AUTH")))
        .map(str::to_string)
}

const OK: &str = "235 2.7.0 Authentication successful\r\n";
const INVALID: &str = "535 5.7.8 Authentication credentials invalid\r\n";
const ENCRYPTION_REQUIRED: &str =
    "538 5.7.11 Encryption required for requested authentication mechanism\r\n";

// --- Advertisement (RFC 4954 §3) ----------------------------------------------

#[test]
fn ehlo_offers_plain_and_login_only_under_tls() {
    let mut c = Client::connected(auth_cfg());
    assert_eq!(
        ehlo_auth_line(&mut c).as_deref(),
        Some("AUTH SCRAM-SHA-256 CRAM-MD5")
    );
    let mut c = Client::connected(tls_cfg());
    assert_eq!(
        ehlo_auth_line(&mut c).as_deref(),
        Some("AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN")
    );
}

#[test]
fn ehlo_offers_everything_configured_when_plaintext_is_allowed() {
    let mut c = Client::connected(SessionConfig {
        plaintext_requires_tls: false,
        ..auth_cfg()
    });
    assert_eq!(
        ehlo_auth_line(&mut c).as_deref(),
        Some("AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN")
    );
}

#[test]
fn the_advertisement_changes_after_starttls() {
    let mut c = Client::connected(SessionConfig {
        starttls: true,
        ..auth_cfg()
    });
    assert_eq!(
        c.say(b"EHLO c\r\n"),
        "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n\
         250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-STARTTLS\r\n\
         250 AUTH SCRAM-SHA-256 CRAM-MD5\r\n"
    );
    c.say(b"STARTTLS\r\n");
    assert_eq!(
        c.say(b"EHLO c\r\n"),
        "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n\
         250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN\r\n"
    );
}

#[test]
fn ehlo_keeps_the_configured_order_and_skips_unknown_names() {
    let mut c = Client::connected(SessionConfig {
        auth_mechanisms: ["login", "DIGEST-MD5", "PLAIN", "cram-md5", "LOGIN"]
            .map(String::from)
            .to_vec(),
        ..tls_cfg()
    });
    assert_eq!(
        ehlo_auth_line(&mut c).as_deref(),
        Some("AUTH LOGIN PLAIN CRAM-MD5")
    );
}

#[test]
fn no_auth_keyword_when_nothing_is_usable() {
    let mut c = Client::connected(SessionConfig {
        auth_mechanisms: vec!["PLAIN".into(), "LOGIN".into()],
        ..auth_cfg()
    });
    assert_eq!(c.say(b"EHLO client.test\r\n"), EHLO_REPLY);
    assert_eq!(c.say(b"AUTH PLAIN\r\n"), ENCRYPTION_REQUIRED);
    assert_eq!(
        c.say(b"AUTH CRAM-MD5\r\n"),
        "504 5.5.4 Unrecognized authentication type\r\n"
    );
}

#[test]
fn help_mentions_auth_when_offered() {
    let mut c = Client::greeted(auth_cfg());
    assert!(c.say(b"HELP\r\n").contains(" AUTH"));
    let mut c = Client::greeted(cfg());
    assert!(!c.say(b"HELP\r\n").contains("AUTH"));
}

// --- The TLS policy for PLAIN and LOGIN --------------------------------------

#[test]
fn plain_and_login_get_538_before_tls_without_any_exchange() {
    let mut c = Client::greeted(auth_cfg());
    assert_eq!(c.say(b"AUTH PLAIN\r\n"), ENCRYPTION_REQUIRED);
    // Not even with the credentials in the initial response: nothing is
    // decoded, nothing reaches the driver.
    assert_eq!(
        c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"),
        ENCRYPTION_REQUIRED
    );
    assert_eq!(c.say(b"AUTH LOGIN\r\n"), ENCRYPTION_REQUIRED);
    assert_eq!(c.say(b"AUTH login dGlt\r\n"), ENCRYPTION_REQUIRED);
    assert!(c.auth_requests.is_empty());
    assert_eq!(c.s.auth_user(), None);
    // The session is back at commands.
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

#[test]
fn plain_is_accepted_after_starttls() {
    let mut c = Client::greeted(SessionConfig {
        starttls: true,
        ..auth_cfg()
    });
    assert_eq!(
        c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"),
        ENCRYPTION_REQUIRED
    );
    c.say(b"STARTTLS\r\n");
    assert!(c.s.is_tls());
    c.say(b"EHLO c\r\n");
    assert_eq!(c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"), OK);
    assert_eq!(c.s.auth_user(), Some("tim"));
}

// --- PLAIN (RFC 4616) -------------------------------------------------------------

#[test]
fn plain_rfc_4616_example_as_initial_response() {
    let mut c = Client::greeted(tls_cfg());
    // RFC 4616 §4: "\0tim\0tanstaaftanstaaf".
    assert_eq!(c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"), OK);
    assert_eq!(
        c.auth_requests,
        [AuthRequest::Password {
            authzid: String::new(),
            user: "tim".into(),
            password: "tanstaaftanstaaf".into(),
        }]
    );
    assert_eq!(c.s.auth_user(), Some("tim"));
}

#[test]
fn plain_rfc_4616_example_with_another_authzid_gets_535() {
    let mut c = Client::greeted(tls_cfg());
    // RFC 4616 §4: Kurt asks to act as Ursel; nobody may act as another.
    assert_eq!(
        c.say(format!("AUTH PLAIN {}\r\n", b64("Ursel\0Kurt\0xipj3plmq")).as_bytes()),
        INVALID
    );
    assert!(c.auth_requests.is_empty());
    assert_eq!(
        c.say(format!("AUTH PLAIN {}\r\n", b64("Kurt\0Kurt\0xipj3plmq")).as_bytes()),
        OK
    );
    assert_eq!(c.s.auth_user(), Some("kurt"));
}

#[test]
fn plain_after_an_empty_challenge() {
    let mut c = Client::greeted(tls_cfg());
    // RFC 4954 §4: no initial response, so an empty challenge first.
    assert_eq!(c.say(b"AUTH PLAIN\r\n"), "334 \r\n");
    assert_eq!(c.say(&line("\0TIM\0tanstaaftanstaaf")), OK);
    assert_eq!(c.s.auth_user(), Some("tim"), "user names are lower-cased");
}

#[test]
fn plain_with_a_wrong_password_or_unknown_user_gets_535() {
    let mut c = Client::greeted(tls_cfg());
    assert_eq!(
        c.say(format!("AUTH PLAIN {}\r\n", b64("\0tim\0wrong")).as_bytes()),
        INVALID
    );
    assert_eq!(
        c.say(format!("AUTH PLAIN {}\r\n", b64("\0nobody\0x")).as_bytes()),
        INVALID
    );
    assert_eq!(c.s.auth_user(), None);
    assert_eq!(c.auth_requests.len(), 2);
}

#[test]
fn plain_messages_without_two_nuls_get_501() {
    let mut c = Client::greeted(tls_cfg());
    for message in ["tim\0tanstaaftanstaaf", "\0tim\0tanstaaf\0taaf", "tim"] {
        let out = c.say(format!("AUTH PLAIN {}\r\n", b64(message)).as_bytes());
        assert!(
            out.starts_with("501 5.5.2 Malformed PLAIN message"),
            "{message:?}: {out}"
        );
    }
    // `=` is an empty initial response (RFC 4954 §4): no message at all.
    assert!(c.say(b"AUTH PLAIN =\r\n").starts_with("501 5.5.2 "));
    assert!(c.auth_requests.is_empty());
}

// --- LOGIN ---------------------------------------------------------------------

#[test]
fn login_prompts_for_user_name_and_password() {
    let mut c = Client::greeted(tls_cfg());
    assert_eq!(c.say(b"AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.say(&line("tim")), "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(c.say(&line("tanstaaftanstaaf")), OK);
    assert_eq!(c.s.auth_user(), Some("tim"));
}

#[test]
fn login_with_the_user_name_as_initial_response() {
    let mut c = Client::greeted(tls_cfg());
    assert_eq!(c.say(b"AUTH LOGIN dGlt\r\n"), "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(c.say(&line("wrong")), INVALID);
    assert_eq!(c.s.auth_user(), None);
}

// --- CRAM-MD5 (RFC 2195) --------------------------------------------------------

#[test]
fn cram_md5_rfc_2195_example() {
    let mut c = Client::greeted(auth_cfg());
    c.s.challenge_override = Some("<1896.697170952@postoffice.reston.mci.net>".into());
    assert_eq!(
        c.say(b"AUTH CRAM-MD5\r\n"),
        "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"
    );
    assert_eq!(
        c.say(b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"),
        OK
    );
    assert_eq!(
        c.auth_requests,
        [AuthRequest::CramMd5 {
            user: "tim".into(),
            challenge: b"<1896.697170952@postoffice.reston.mci.net>".to_vec(),
        }]
    );
    assert_eq!(c.s.auth_user(), Some("tim"));
}

/// Answers a CRAM-MD5 challenge as a client holding `password` would.
fn cram_md5_response(user: &str, password: &str, challenge: &[u8]) -> Vec<u8> {
    let hex: String = hmac_md5(password, challenge)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    line(format!("{user} {hex}"))
}

#[test]
fn cram_md5_with_a_fresh_challenge() {
    let mut c = Client::greeted(auth_cfg());
    let first = challenge(&c.say(b"AUTH CRAM-MD5\r\n"));
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(
        text.starts_with('<') && text.ends_with("@mx.test>"),
        "{text}"
    );
    assert_eq!(c.say(&cram_md5_response("tim", "wrong", &first)), INVALID);
    // The next exchange gets another challenge: a recorded answer is useless.
    let second = challenge(&c.say(b"AUTH CRAM-MD5\r\n"));
    assert_ne!(first, second);
    assert_eq!(
        c.say(&cram_md5_response("tim", "tanstaaftanstaaf", &first)),
        INVALID
    );
    let third = challenge(&c.say(b"AUTH CRAM-MD5\r\n"));
    assert_eq!(
        c.say(&cram_md5_response("Tim", "tanstaaftanstaaf", &third)),
        OK
    );
}

#[test]
fn cram_md5_challenges_differ_between_sessions() {
    let mut challenges = Vec::new();
    for seed in [1, 2] {
        let mut c = Client::greeted(SessionConfig {
            random_seed: Secret([seed; 32]),
            ..auth_cfg()
        });
        challenges.push(challenge(&c.say(b"AUTH CRAM-MD5\r\n")));
    }
    assert_ne!(challenges[0], challenges[1]);
}

#[test]
fn cram_md5_for_an_unknown_user_gets_535() {
    let mut c = Client::greeted(auth_cfg());
    let ch = challenge(&c.say(b"AUTH CRAM-MD5\r\n"));
    assert_eq!(c.say(&cram_md5_response("nobody", "x", &ch)), INVALID);
}

#[test]
fn cram_md5_refuses_an_initial_response_and_malformed_answers() {
    let mut c = Client::greeted(auth_cfg());
    // RFC 4954 §4: CRAM-MD5 is server-first.
    assert!(c.say(b"AUTH CRAM-MD5 dGlt\r\n").starts_with("501 5.5.2 "));
    c.say(b"AUTH CRAM-MD5\r\n");
    assert!(c
        .say(&line("tim nothex"))
        .starts_with("501 5.5.2 Malformed CRAM-MD5"));
    assert!(c.auth_requests.is_empty());
}

// --- SCRAM-SHA-256 (RFC 7677) ---------------------------------------------------

#[test]
fn scram_sha_256_rfc_7677_example() {
    let mut c = Client::greeted(auth_cfg());
    c.s.challenge_override = Some("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into());
    // RFC 7677 §3, with the client-first-message as initial response.
    let server_first = c.say(
        format!(
            "AUTH SCRAM-SHA-256 {}\r\n",
            b64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        )
        .as_bytes(),
    );
    assert_eq!(
        challenge(&server_first),
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let server_final = c.say(&line(
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    ));
    assert_eq!(
        challenge(&server_final),
        b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
    assert_eq!(
        c.s.auth_user(),
        None,
        "not before the client's acknowledgement"
    );
    // RFC 4954 §4: the client acknowledges the server-final-message with an empty line.
    assert_eq!(c.say(b"\r\n"), OK);
    assert_eq!(
        c.auth_requests,
        [AuthRequest::ScramKeys {
            user: "user".into()
        }]
    );
    assert_eq!(c.s.auth_user(), Some("user"));
}

/// Runs a SCRAM exchange as `user` with `password` from `AUTH` to the
/// server's answer to the client-final-message; returns every server reply.
fn scram_exchange(c: &mut Client, user: &str, password: &str) -> Vec<String> {
    let bare = format!("n={user},r=fyko+d2lbbFgONRv9qkxdawL");
    let mut replies = vec![c.say(b"AUTH SCRAM-SHA-256\r\n")];
    replies.push(c.say(&line(format!("n,,{bare}"))));
    let server_first = String::from_utf8(challenge(&replies[1])).unwrap();
    let (last, _) = scram_client_final(password, "n,,", &bare, &server_first);
    replies.push(c.say(&line(last)));
    replies
}

#[test]
fn scram_sha_256_with_a_fresh_server_nonce() {
    let mut c = Client::greeted(auth_cfg());
    let replies = scram_exchange(&mut c, "user", "pencil");
    // SCRAM is client-first: an empty challenge when AUTH has no initial response.
    assert_eq!(replies[0], "334 \r\n");
    let server_first = String::from_utf8(challenge(&replies[1])).unwrap();
    let nonce = server_first
        .strip_prefix("r=fyko+d2lbbFgONRv9qkxdawL")
        .unwrap();
    assert!(
        nonce.len() >= 24,
        "the server adds its own nonce: {server_first}"
    );
    assert!(challenge(&replies[2]).starts_with(b"v="));
    assert_eq!(c.say(b"\r\n"), OK);
    assert_eq!(c.s.auth_user(), Some("user"));
}

#[test]
fn scram_with_a_wrong_password_gets_535_at_the_end() {
    let mut c = Client::greeted(auth_cfg());
    let replies = scram_exchange(&mut c, "user", "pencils");
    assert_eq!(replies[2], INVALID);
    assert_eq!(c.s.auth_user(), None);
}

#[test]
fn scram_unknown_users_are_indistinguishable_until_the_final_535() {
    let shape = |replies: &[String]| -> Vec<String> {
        // Everything but the values that differ for every user anyway.
        let first = String::from_utf8(challenge(&replies[1])).unwrap();
        let attrs: Vec<String> = first
            .split(',')
            .map(|a| match a.split_once('=') {
                Some(("s", salt)) => format!("s=<{} bytes>", STANDARD.decode(salt).unwrap().len()),
                Some(("r", _)) => "r=<nonce>".to_string(),
                _ => a.to_string(),
            })
            .collect();
        vec![replies[0].clone(), attrs.join(","), replies[2].clone()]
    };
    let mut known = Client::greeted(auth_cfg());
    let wrong_password = scram_exchange(&mut known, "user", "wrong");
    let mut unknown = Client::greeted(auth_cfg());
    let no_such_user = scram_exchange(&mut unknown, "nobody", "wrong");
    assert_eq!(shape(&wrong_password), shape(&no_such_user));
    assert_eq!(no_such_user[2], INVALID);
    assert_eq!(
        unknown.auth_requests,
        [AuthRequest::ScramKeys {
            user: "nobody".into()
        }]
    );
    // Another session: the unknown name shows the same salt again, as a
    // real user's would.
    let mut again = Client::greeted(SessionConfig {
        random_seed: Secret([8; 32]),
        ..auth_cfg()
    });
    let salt = |replies: &[String]| {
        let first = String::from_utf8(challenge(&replies[1])).unwrap();
        first
            .split(",s=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        salt(&scram_exchange(&mut again, "nobody", "x")),
        salt(&no_such_user)
    );
}

#[test]
fn scram_refuses_channel_binding_and_malformed_messages() {
    let mut c = Client::greeted(auth_cfg());
    for first in [
        "p=tls-unique,,n=user,r=abc",
        "n,,n=user",
        "n,,m=x,n=user,r=abc",
        "garbage",
    ] {
        let out = c.say(format!("AUTH SCRAM-SHA-256 {}\r\n", b64(first)).as_bytes());
        assert!(out.starts_with("501 5.5.2 "), "{first:?}: {out}");
    }
    assert!(c.auth_requests.is_empty());
    // A client-final-message with the wrong nonce.
    let server_first =
        challenge(&c.say(format!("AUTH SCRAM-SHA-256 {}\r\n", b64("n,,n=user,r=abc")).as_bytes()));
    assert!(server_first.starts_with(b"r=abc"));
    let out = c.say(&line(format!("c=biws,r=abc,p={}", b64([0u8; 32]))));
    assert_eq!(out, "501 5.5.2 SCRAM nonce mismatch\r\n");
}

#[test]
fn scram_with_another_authzid_gets_535() {
    let mut c = Client::greeted(auth_cfg());
    let out = c.say(format!("AUTH SCRAM-SHA-256 {}\r\n", b64("n,a=tim,n=user,r=abc")).as_bytes());
    assert_eq!(out, INVALID);
}

// --- Cancel, base64, long lines -------------------------------------------------

#[test]
fn a_star_cancels_the_exchange_at_any_step() {
    let mut c = Client::greeted(tls_cfg());
    let cancelled = "501 5.0.0 Authentication cancelled\r\n";
    c.say(b"AUTH PLAIN\r\n");
    assert_eq!(c.say(b"*\r\n"), cancelled);
    c.say(b"AUTH LOGIN\r\n");
    c.say(&line("tim"));
    assert_eq!(c.say(b"*\r\n"), cancelled);
    c.say(b"AUTH SCRAM-SHA-256\r\n");
    c.say(&line("n,,n=user,r=abc"));
    assert_eq!(c.say(b"*\r\n"), cancelled);
    assert_eq!(c.s.auth_user(), None);
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n", "back to commands");
}

#[test]
fn bad_base64_ends_the_exchange_with_501() {
    let mut c = Client::greeted(tls_cfg());
    let invalid = "501 5.5.2 Invalid base64 data\r\n";
    assert_eq!(c.say(b"AUTH PLAIN not-base64!\r\n"), invalid);
    c.say(b"AUTH LOGIN\r\n");
    assert_eq!(c.say(b"dGl\r\n"), invalid);
    // The next line is a command again, not a response.
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
    assert!(c.auth_requests.is_empty());
}

#[test]
fn an_over_long_response_line_aborts_the_exchange() {
    let mut c = Client::greeted(tls_cfg());
    c.say(b"AUTH PLAIN\r\n");
    let mut long = b64(vec![b'x'; 900]).into_bytes();
    long.extend_from_slice(b"\r\nNOOP\r\n");
    assert_eq!(c.say(&long), "500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n");
    assert!(c.auth_requests.is_empty());
}

#[test]
fn a_bare_lf_response_under_reject_aborts_the_exchange() {
    let mut c = Client::greeted(SessionConfig {
        bare_lf: BareLf::Reject,
        ..tls_cfg()
    });
    c.say(b"AUTH LOGIN\r\n");
    assert_eq!(
        c.say(b"dGlt\n"),
        "500 5.5.2 Bare LF not allowed in command\r\n"
    );
    assert_eq!(c.say(b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

// --- Sequence rules (RFC 4954 §4) -------------------------------------------------

#[test]
fn auth_needs_ehlo_not_helo() {
    let mut c = Client::connected(tls_cfg());
    let first = "503 5.5.1 Error: send EHLO first\r\n";
    assert_eq!(c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"), first);
    c.say(b"HELO client.test\r\n");
    assert_eq!(c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"), first);
    assert!(c.auth_requests.is_empty());
}

#[test]
fn auth_twice_gets_503() {
    let mut c = Client::greeted(tls_cfg());
    assert_eq!(c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"), OK);
    assert_eq!(
        c.say(format!("AUTH PLAIN {}\r\n", b64("\0user\0pencil")).as_bytes()),
        "503 5.5.1 Error: already authenticated\r\n"
    );
    assert_eq!(c.s.auth_user(), Some("tim"));
}

#[test]
fn auth_inside_a_transaction_gets_503() {
    let mut c = Client::greeted(tls_cfg());
    c.say(b"MAIL FROM:<a@b.test>\r\n");
    assert_eq!(
        c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"),
        "503 5.5.1 Error: MAIL transaction in progress\r\n"
    );
}

#[test]
fn unknown_or_unconfigured_mechanisms_get_504() {
    let mut c = Client::greeted(SessionConfig {
        auth_mechanisms: vec!["SCRAM-SHA-256".into()],
        ..tls_cfg()
    });
    let unrecognized = "504 5.5.4 Unrecognized authentication type\r\n";
    assert_eq!(c.say(b"AUTH DIGEST-MD5\r\n"), unrecognized);
    assert_eq!(c.say(b"AUTH CRAM-MD5\r\n"), unrecognized);
    assert_eq!(
        c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"),
        unrecognized
    );
    assert_eq!(
        c.say(b"AUTH scram-sha-256\r\n"),
        "334 \r\n",
        "names are case-insensitive"
    );
}

#[test]
fn every_failed_auth_counts_as_an_error() {
    let mut c = Client::greeted(SessionConfig {
        max_errors: 3,
        ..tls_cfg()
    });
    assert_eq!(
        c.say(format!("AUTH PLAIN {}\r\n", b64("\0tim\0a")).as_bytes()),
        INVALID
    );
    assert_eq!(
        c.say(b"AUTH LOGIN\r\n*\r\n"),
        "334 VXNlcm5hbWU6\r\n501 5.0.0 Authentication cancelled\r\n"
    );
    assert_eq!(
        c.say(format!("AUTH PLAIN {}\r\n", b64("\0tim\0b")).as_bytes()),
        format!("{INVALID}421 4.7.0 Too many errors (limits.errors = 3), closing connection\r\n")
    );
    assert!(c.closed);
}

// --- The driver's side -----------------------------------------------------------

#[test]
fn nothing_is_read_while_the_driver_verifies() {
    let mut c = Client::greeted(tls_cfg());
    c.s.feed(
        b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\nNOOP\r\n",
        c.now,
    );
    let first = c.s.next_action(c.now);
    assert!(
        matches!(first, Action::Authenticate(AuthRequest::Password { .. })),
        "{first:?}"
    );
    // Asked again without an answer, the session repeats the request.
    assert_eq!(c.s.next_action(c.now), first);
    c.s.auth_answer(AuthAnswer::Verified(true));
    assert_eq!(c.run(), format!("{OK}250 2.0.0 Ok\r\n"));
}

#[test]
fn the_authenticate_action_never_shows_the_password() {
    let mut c = Client::greeted(tls_cfg());
    c.s.feed(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n", c.now);
    let shown = format!("{:?}", c.s.next_action(c.now));
    assert!(
        shown.contains("tim") && !shown.contains("tanstaaf"),
        "{shown}"
    );
}

#[test]
fn an_unavailable_user_database_gets_454() {
    let mut c = Client::greeted(tls_cfg());
    c.auth_override = Some(AuthAnswer::Unavailable);
    assert_eq!(
        c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"),
        "454 4.7.0 Temporary authentication failure\r\n"
    );
    // An answer of the wrong kind fails closed the same way.
    c.auth_override = Some(AuthAnswer::Verified(true));
    c.say(b"AUTH SCRAM-SHA-256\r\n");
    assert_eq!(
        c.say(&line("n,,n=user,r=abc")),
        "454 4.7.0 Temporary authentication failure\r\n"
    );
    assert_eq!(c.s.auth_user(), None);
}

#[test]
fn a_stray_auth_answer_changes_nothing() {
    let mut c = Client::greeted(tls_cfg());
    c.s.auth_answer(AuthAnswer::Verified(true));
    assert_eq!(c.run(), "");
    assert_eq!(c.s.auth_user(), None);
    c.say(b"AUTH LOGIN\r\n");
    c.s.auth_answer(AuthAnswer::Verified(true));
    assert_eq!(c.run(), "");
    assert_eq!(c.s.auth_user(), None);
}

// --- After AUTH --------------------------------------------------------------------

#[test]
fn submission_needs_auth_before_mail() {
    let mut c = Client::greeted(SessionConfig {
        require_auth: true,
        ..tls_cfg()
    });
    assert_eq!(
        c.say(b"MAIL FROM:<tim@mx.test>\r\n"),
        "530 5.7.0 Authentication required\r\n"
    );
    assert_eq!(c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n"), OK);
    assert_eq!(c.say(b"MAIL FROM:<tim@mx.test>\r\n"), "250 2.1.0 Ok\r\n");
    assert_eq!(
        c.say(b"RCPT TO:<r@mx.test>\r\nDATA\r\n"),
        format!("250 2.1.5 Ok\r\n{}", super::tests::GO_AHEAD)
    );
    c.say(b"Hi\r\n.\r\n");
    assert_eq!(c.checks[0].auth_user.as_deref(), Some("tim"));
    assert_eq!(c.messages[0].auth_user.as_deref(), Some("tim"));
    assert_eq!(c.messages[0].recipients, [mailbox("r", "mx.test")]);
}

#[test]
fn an_auth_parameter_is_trusted_only_from_an_authenticated_client() {
    let mut c = Client::greeted(tls_cfg());
    // RFC 4954 §5: an unauthenticated claim becomes AUTH=<>.
    c.say(b"MAIL FROM:<a@b.test> AUTH=boss@b.test\r\nRCPT TO:<r@mx.test>\r\nDATA\r\n.\r\n");
    assert_eq!(c.messages[0].params.auth.as_deref(), Some(""));
    c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    c.say(b"MAIL FROM:<tim@mx.test> AUTH=tim@mx.test\r\nRCPT TO:<r@mx.test>\r\nDATA\r\n.\r\n");
    assert_eq!(c.messages[1].params.auth.as_deref(), Some("tim@mx.test"));
    c.say(b"MAIL FROM:<tim@mx.test>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\n.\r\n");
    assert_eq!(c.messages[2].params.auth, None);
}

#[test]
fn starttls_forgets_the_authentication() {
    let mut c = Client::greeted(SessionConfig {
        starttls: true,
        require_auth: true,
        ..auth_cfg()
    });
    let ch = challenge(&c.say(b"AUTH CRAM-MD5\r\n"));
    assert_eq!(
        c.say(&cram_md5_response("tim", "tanstaaftanstaaf", &ch)),
        OK
    );
    c.say(b"STARTTLS\r\n");
    assert_eq!(c.s.auth_user(), None);
    c.say(b"EHLO c\r\n");
    assert_eq!(
        c.say(b"MAIL FROM:<tim@mx.test>\r\n"),
        "530 5.7.0 Authentication required\r\n"
    );
}

#[test]
fn rset_and_ehlo_keep_the_authentication() {
    let mut c = Client::greeted(tls_cfg());
    c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    c.say(b"RSET\r\nEHLO again\r\n");
    assert_eq!(c.s.auth_user(), Some("tim"));
}

// --- Splitting the input never changes the outcome --------------------------------

const AUTH_SCRIPT: &[u8] =
    b"EHLO client.test\r\nAUTH PLAIN AHRpbQB3cm9uZw==\r\nAUTH LOGIN\r\n*\r\n\
AUTH PLAIN\r\nnot base64\r\nAUTH LOGIN dGlt\r\ndGFuc3RhYWZ0YW5zdGFhZg==\r\nAUTH PLAIN =\r\n\
MAIL FROM:<tim@mx.test> AUTH=<>\r\nRCPT TO:<r@mx.test>\r\nDATA\r\nHi\r\n.\r\nQUIT\r\n";

#[test]
fn the_auth_split_script_reference_run() {
    let (out, messages) = run_split_with(tls_cfg(), AUTH_SCRIPT, &[]);
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains(&format!("{INVALID}334 VXNlcm5hbWU6\r\n501 5.0.0 ")),
        "{out}"
    );
    assert!(
        out.contains(&format!("334 UGFzc3dvcmQ6\r\n{OK}503 5.5.1 ")),
        "{out}"
    );
    assert!(out.ends_with("221 2.0.0 Bye\r\n"), "{out}");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].auth_user.as_deref(), Some("tim"));
}

proptest! {
    #[test]
    fn splitting_an_auth_session_never_changes_the_outcome(
        cuts in prop::collection::vec(0..AUTH_SCRIPT.len(), 0..40),
    ) {
        let whole = run_split_with(tls_cfg(), AUTH_SCRIPT, &[]);
        prop_assert_eq!(run_split_with(tls_cfg(), AUTH_SCRIPT, &cuts), whole);
    }
}

// --- Outcomes for the driver's brute-force defence -----------------------------

#[test]
fn outcomes_report_each_rejected_password_and_the_success_in_order() {
    let mut c = Client::greeted(tls_cfg());
    c.say(format!("AUTH PLAIN {}\r\n", b64("\0TIM\0wrong")).as_bytes());
    c.say(b"AUTH CRAM-MD5\r\n");
    c.say(&line("nobody 0123456789abcdef0123456789abcdef"));
    assert_eq!(scram_exchange(&mut c, "user", "pencils")[2], INVALID);
    assert_eq!(
        auth_outcomes(&mut c.s),
        [
            AuthOutcome::Failed {
                user: Some("tim".into())
            },
            AuthOutcome::Failed {
                user: Some("nobody".into())
            },
            AuthOutcome::Failed {
                user: Some("user".into())
            },
        ]
    );
    assert_eq!(auth_outcomes(&mut c.s), [], "taken once");
    c.say(b"AUTH LOGIN dGlt\r\n");
    assert_eq!(c.say(&line("tanstaaftanstaaf")), OK);
    assert_eq!(
        auth_outcomes(&mut c.s),
        [AuthOutcome::Succeeded { user: "tim".into() }]
    );
}

#[test]
fn outcomes_leave_out_exchanges_that_tested_no_password() {
    let mut c = Client::greeted(auth_cfg());
    // 538 before TLS, 504, a cancel, bad base64, an over-long line, 454.
    c.say(b"AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
    c.say(b"AUTH DIGEST-MD5\r\n");
    c.say(b"AUTH CRAM-MD5\r\n");
    c.say(b"*\r\n");
    c.say(b"AUTH SCRAM-SHA-256 !!\r\n");
    c.say(b"AUTH CRAM-MD5\r\n");
    c.say(format!("{}\r\n", "A".repeat(2000)).as_bytes());
    c.auth_override = Some(AuthAnswer::Unavailable);
    c.say(b"AUTH SCRAM-SHA-256\r\n");
    assert_eq!(
        c.say(&line("n,,n=user,r=abc")),
        "454 4.7.0 Temporary authentication failure\r\n"
    );
    assert_eq!(auth_outcomes(&mut c.s), []);
}

#[test]
fn an_outcome_names_no_user_when_the_exchange_never_reached_one() {
    let mut c = Client::greeted(tls_cfg());
    // Refused before the driver is asked: the aborted exchange's user is not reused.
    c.say(b"AUTH LOGIN dGlt\r\n");
    c.say(b"*\r\n");
    c.say(format!("AUTH PLAIN {}\r\n", b64("Ursel\0Kurt\0xipj3plmq")).as_bytes());
    assert_eq!(
        auth_outcomes(&mut c.s),
        [AuthOutcome::Failed { user: None }]
    );
}

#[test]
fn close_with_sends_the_pending_reply_then_the_drivers_and_runs_nothing_more() {
    let mut c = Client::greeted(tls_cfg());
    // Two guesses pipelined; the driver stops after the first.
    c.s.feed(
        format!(
            "AUTH PLAIN {}\r\nAUTH PLAIN {}\r\n",
            b64("\0tim\0guess1"),
            b64("\0tim\0tanstaaftanstaaf")
        )
        .as_bytes(),
        c.now,
    );
    let Action::Authenticate(request) = c.s.next_action(c.now) else {
        panic!("the first AUTH asks the driver");
    };
    c.s.auth_answer(answer(&request));
    assert_eq!(
        auth_outcomes(&mut c.s),
        [AuthOutcome::Failed {
            user: Some("tim".into())
        }]
    );
    c.s.close_with(Reply::new(
        421,
        (4, 7, 0),
        "Too many authentication failures",
    ));
    assert_eq!(
        c.s.next_action(c.now),
        Action::Send(
            format!("{INVALID}421 4.7.0 Too many authentication failures\r\n").into_bytes()
        )
    );
    assert_eq!(c.s.next_action(c.now), Action::Close);
    // The second guess was never verified.
    assert_eq!(c.s.auth_user(), None);
    assert_eq!(auth_outcomes(&mut c.s), []);
}
