//! The mechanisms against the RFCs' published exchanges (RFC 4616 PLAIN,
//! RFC 2195 CRAM-MD5, RFC 7677 SCRAM-SHA-256), and their malformed cousins.
//! The session-level transcripts are in `session/auth_tests.rs`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

use super::scram::fake_keys;
use super::*;

/// What the user database stores for SCRAM (RFC 5802 §3), derived here
/// from the password as `portcullis user add` does.
pub(crate) fn scram_keys(password: &str, salt: &[u8], iterations: u32) -> ScramKeys {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let client_key = hmac_sha256(&salted, &[b"Client Key"]);
    ScramKeys {
        iterations,
        salt: salt.to_vec(),
        stored_key: Sha256::digest(client_key).into(),
        server_key: hmac_sha256(&salted, &[b"Server Key"]),
    }
}

/// RFC 2195: the digest a CRAM-MD5 client computes.
pub(crate) fn hmac_md5(password: &str, challenge: &[u8]) -> [u8; 16] {
    let mut mac = Hmac::<Md5>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(challenge);
    mac.finalize().into_bytes().into()
}

/// A SCRAM-SHA-256 client (RFC 5802 §3): from the server-first-message,
/// the client-final-message and the server-final-message it expects.
pub(crate) fn scram_client_final(
    password: &str,
    gs2_header: &str,
    client_first_bare: &str,
    server_first: &str,
) -> (String, String) {
    let attr = |name: &str| {
        server_first
            .split(',')
            .find_map(|a| a.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    let nonce = attr("r=");
    let salt = STANDARD.decode(attr("s=")).unwrap();
    let iterations: u32 = attr("i=").parse().unwrap();
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
    let client_key = hmac_sha256(&salted, &[b"Client Key"]);
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let without_proof = format!("c={},r={nonce}", STANDARD.encode(gs2_header));
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hmac_sha256(&stored_key, &[auth_message.as_bytes()]);
    let proof: Vec<u8> = client_key
        .iter()
        .zip(signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac_sha256(&salted, &[b"Server Key"]);
    let verifier = hmac_sha256(&server_key, &[auth_message.as_bytes()]);
    (
        format!("{without_proof},p={}", STANDARD.encode(proof)),
        format!("v={}", STANDARD.encode(verifier)),
    )
}

// --- Names and framing helpers -------------------------------------------------

#[test]
fn mechanism_names_are_case_insensitive() {
    for m in Mechanism::ALL {
        assert_eq!(Mechanism::from_name(m.name()), Some(m));
        assert_eq!(Mechanism::from_name(&m.name().to_lowercase()), Some(m));
    }
    assert_eq!(Mechanism::from_name("DIGEST-MD5"), None);
    assert_eq!(Mechanism::from_name("SCRAM-SHA-256-PLUS"), None);
    assert!(Mechanism::Plain.sends_password() && Mechanism::Login.sends_password());
    assert!(!Mechanism::CramMd5.sends_password() && !Mechanism::ScramSha256.sends_password());
}

#[test]
fn responses_are_base64_or_a_star() {
    assert_eq!(decode_response(b"dGlt"), Ok(b"tim".to_vec()));
    assert_eq!(decode_response(b"dGlt  "), Ok(b"tim".to_vec()));
    assert_eq!(decode_response(b""), Ok(Vec::new()));
    // RFC 4954 §4: `*` cancels the exchange.
    assert_eq!(decode_response(b"*"), Err(Failure::Cancelled));
    for bad in [&b"dGl"[..], b"d G l t", b"!!!!", b"dGlt\x00", b"dGl=="] {
        assert_eq!(decode_response(bad), Err(Failure::BadBase64), "{bad:?}");
    }
    // RFC 4954 §4: `=` is an empty initial response.
    assert_eq!(decode_initial("="), Ok(Vec::new()));
    assert_eq!(decode_initial("dGlt"), Ok(b"tim".to_vec()));
    assert_eq!(decode_initial("*"), Err(Failure::BadBase64));
}

#[test]
fn failures_have_the_rfc_4954_replies() {
    let text = |f: Failure| f.reply().to_string();
    assert_eq!(
        text(Failure::Credentials),
        "535 5.7.8 Authentication credentials invalid"
    );
    assert_eq!(text(Failure::BadBase64), "501 5.5.2 Invalid base64 data");
    assert_eq!(
        text(Failure::Cancelled),
        "501 5.0.0 Authentication cancelled"
    );
    assert_eq!(
        text(Failure::Temporary),
        "454 4.7.0 Temporary authentication failure"
    );
    assert_eq!(text(Failure::Malformed("Bad")), "501 5.5.2 Bad");
}

#[test]
fn nonces_are_deterministic_per_seed_and_never_repeat() {
    let mut a = Nonces::new(Secret([1; 32]));
    let mut b = Nonces::new(Secret([1; 32]));
    let mut c = Nonces::new(Secret([2; 32]));
    let first = a.next();
    assert_eq!(first, b.next());
    assert_ne!(first, c.next());
    assert_ne!(first, a.next());
}

#[test]
fn debug_output_shows_no_secret() {
    let request = AuthRequest::Password {
        authzid: String::new(),
        user: "tim".into(),
        password: "tanstaaftanstaaf".into(),
    };
    let shown = format!(
        "{request:?} {:?} {:?} {:?}",
        Secret([0x41; 32]),
        AuthAnswer::CramMd5Digest(Some([0xab; 16])),
        AuthAnswer::ScramKeys(Some(scram_keys("pencil", b"salt", 1))),
    );
    assert!(shown.contains("tim"), "{shown}");
    for secret in ["tanstaaf", "65", "171", "stored", "server_key", "salt"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

// --- PLAIN (RFC 4616) -----------------------------------------------------------

#[test]
fn plain_rfc_4616_example_without_authzid() {
    let mut m = Plain::new();
    // RFC 4616 §4: "\0tim\0tanstaaftanstaaf".
    assert_eq!(
        m.start(Some(b"\0tim\0tanstaaftanstaaf".to_vec())),
        Step::Ask(AuthRequest::Password {
            authzid: String::new(),
            user: "tim".into(),
            password: "tanstaaftanstaaf".into(),
        })
    );
    assert_eq!(
        m.answer(AuthAnswer::Verified(true)),
        Step::Success("tim".into())
    );
}

#[test]
fn plain_rfc_4616_example_with_another_authzid_is_refused() {
    // RFC 4616 §4: Kurt acting as Ursel. Nobody here may act as another.
    let mut m = Plain::new();
    assert_eq!(
        m.start(Some(b"Ursel\0Kurt\0xipj3plmq".to_vec())),
        Step::Failure(Failure::Credentials)
    );
    // Acting as oneself is fine, whatever the case.
    let mut m = Plain::new();
    assert_eq!(
        m.start(Some(b"Kurt\0Kurt\0xipj3plmq".to_vec())),
        Step::Ask(AuthRequest::Password {
            authzid: "kurt".into(),
            user: "kurt".into(),
            password: "xipj3plmq".into(),
        })
    );
}

#[test]
fn plain_without_initial_response_sends_an_empty_challenge() {
    let mut m = Plain::new();
    assert_eq!(m.start(None), Step::Challenge(Vec::new()));
    assert!(matches!(m.respond(b"\0tim\0x".to_vec()), Step::Ask(_)));
    assert_eq!(
        m.answer(AuthAnswer::Verified(false)),
        Step::Failure(Failure::Credentials)
    );
}

#[test]
fn plain_messages_need_exactly_two_nuls_and_both_fields() {
    for bad in [
        &b""[..],
        b"tim",
        b"tim\0secret",
        b"\0tim\0secret\0",
        b"\0\0secret",
        b"\0tim\0",
        b"\0t\xffm\0secret",
    ] {
        let step = Plain::new().start(Some(bad.to_vec()));
        assert!(
            matches!(step, Step::Failure(Failure::Malformed(_))),
            "{bad:?}: {step:?}"
        );
    }
}

#[test]
fn plain_answers_of_the_wrong_kind_fail_closed() {
    let mut m = Plain::new();
    m.start(Some(b"\0tim\0x".to_vec()));
    assert_eq!(
        m.answer(AuthAnswer::ScramKeys(None)),
        Step::Failure(Failure::Temporary)
    );
    let mut m = Plain::new();
    m.start(Some(b"\0tim\0x".to_vec()));
    assert_eq!(
        m.answer(AuthAnswer::Unavailable),
        Step::Failure(Failure::Temporary)
    );
}

// --- LOGIN ----------------------------------------------------------------------

#[test]
fn login_prompts_for_user_then_password() {
    let mut m = Login::new();
    assert_eq!(m.start(None), Step::Challenge(b"Username:".to_vec()));
    assert_eq!(
        m.respond(b"Tim".to_vec()),
        Step::Challenge(b"Password:".to_vec())
    );
    assert_eq!(
        m.respond(b"tanstaaftanstaaf".to_vec()),
        Step::Ask(AuthRequest::Password {
            authzid: String::new(),
            user: "tim".into(),
            password: "tanstaaftanstaaf".into(),
        })
    );
    assert_eq!(
        m.answer(AuthAnswer::Verified(true)),
        Step::Success("tim".into())
    );
}

#[test]
fn login_takes_the_user_name_as_initial_response() {
    let mut m = Login::new();
    assert_eq!(
        m.start(Some(b"tim".to_vec())),
        Step::Challenge(b"Password:".to_vec())
    );
    assert!(matches!(m.respond(b"x".to_vec()), Step::Ask(_)));
}

#[test]
fn login_refuses_empty_or_binary_fields() {
    assert!(matches!(
        Login::new().start(Some(Vec::new())),
        Step::Failure(Failure::Malformed(_))
    ));
    let mut m = Login::new();
    m.start(None);
    m.respond(b"tim".to_vec());
    assert!(matches!(
        m.respond(b"\xff".to_vec()),
        Step::Failure(Failure::Malformed(_))
    ));
}

// --- CRAM-MD5 (RFC 2195) --------------------------------------------------------

#[test]
fn cram_md5_rfc_2195_example() {
    let challenge = b"<1896.697170952@postoffice.reston.mci.net>".to_vec();
    let mut m = CramMd5::new(challenge.clone());
    assert_eq!(m.start(None), Step::Challenge(challenge.clone()));
    // RFC 2195 §2: the client's answer, base64 on the wire.
    let response = STANDARD
        .decode("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw")
        .unwrap();
    assert_eq!(response, b"tim b913a602c7eda7a495b4e6e7334d3890");
    assert_eq!(
        m.respond(response),
        Step::Ask(AuthRequest::CramMd5 {
            user: "tim".into(),
            challenge: challenge.clone(),
        })
    );
    let expected = hmac_md5("tanstaaftanstaaf", &challenge);
    assert_eq!(
        m.answer(AuthAnswer::CramMd5Digest(Some(expected))),
        Step::Success("tim".into())
    );
}

#[test]
fn cram_md5_wrong_digest_or_unknown_user_fails() {
    let challenge = b"<1.2@mx.test>".to_vec();
    let right = hmac_md5("secret", &challenge);
    let mut wrong = right;
    wrong[15] ^= 1;
    for (answer, expected) in [
        (Some(wrong), Step::Failure(Failure::Credentials)),
        (None, Step::Failure(Failure::Credentials)),
        (Some(right), Step::Success("tim".into())),
    ] {
        let mut m = CramMd5::new(challenge.clone());
        m.start(None);
        let hex: String = right.iter().map(|b| format!("{b:02X}")).collect();
        m.respond(format!("Tim {hex}").into_bytes());
        assert_eq!(m.answer(AuthAnswer::CramMd5Digest(answer)), expected);
    }
}

#[test]
fn cram_md5_refuses_an_initial_response_and_malformed_answers() {
    let step = CramMd5::new(b"<1.2@h>".to_vec()).start(Some(b"tim".to_vec()));
    assert!(
        matches!(step, Step::Failure(Failure::Malformed(_))),
        "{step:?}"
    );
    for bad in [
        &b"tim"[..],
        b"tim b913a602c7eda7a495b4e6e7334d389",
        b"tim b913a602c7eda7a495b4e6e7334d38900",
        b"tim g913a602c7eda7a495b4e6e7334d3890",
        b" b913a602c7eda7a495b4e6e7334d3890",
        b"tim +913a602c7eda7a495b4e6e7334d3890",
    ] {
        let mut m = CramMd5::new(b"<1.2@h>".to_vec());
        m.start(None);
        let step = m.respond(bad.to_vec());
        assert!(
            matches!(step, Step::Failure(Failure::Malformed(_))),
            "{bad:?}: {step:?}"
        );
    }
}

#[test]
fn cram_md5_challenges_look_like_rfc_2195s() {
    let c = String::from_utf8(cram_md5::challenge(&[0x11; 32], "mx.test")).unwrap();
    let inner = c
        .strip_prefix('<')
        .unwrap()
        .strip_suffix("@mx.test>")
        .unwrap();
    let (a, b) = inner.split_once('.').unwrap();
    assert!(
        a.bytes().chain(b.bytes()).all(|d| d.is_ascii_digit()),
        "{c}"
    );
    assert_ne!(c.as_bytes(), cram_md5::challenge(&[0x12; 32], "mx.test"));
}

// --- SCRAM-SHA-256 (RFC 7677) ---------------------------------------------------

const RFC7677_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC7677_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

fn rfc7677_keys() -> ScramKeys {
    scram_keys("pencil", &STANDARD.decode(RFC7677_SALT).unwrap(), 4096)
}

#[test]
fn scram_sha_256_rfc_7677_example() {
    // RFC 7677 §3, message by message.
    let mut m = ScramSha256::new(RFC7677_SERVER_NONCE.into(), Secret([0; 32]));
    assert_eq!(
        m.start(Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec())),
        Step::Ask(AuthRequest::ScramKeys {
            user: "user".into()
        })
    );
    assert_eq!(
        m.answer(AuthAnswer::ScramKeys(Some(rfc7677_keys()))),
        Step::Challenge(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                .to_vec()
        )
    );
    assert_eq!(
        m.respond(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
              p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                .to_vec()
        ),
        Step::Challenge(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec())
    );
    assert_eq!(m.respond(Vec::new()), Step::Success("user".into()));
}

#[test]
fn the_test_scram_client_reproduces_rfc_7677() {
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let (last, verifier) = scram_client_final(
        "pencil",
        "n,,",
        "n=user,r=rOprNGfwEbeRWgbNEkqO",
        server_first,
    );
    assert_eq!(
        last,
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert_eq!(verifier, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/// Runs client-first and the key lookup; returns the server-first-message.
fn scram_to_server_first(m: &mut ScramSha256, first: &str, keys: Option<ScramKeys>) -> String {
    assert!(matches!(
        m.start(Some(first.as_bytes().to_vec())),
        Step::Ask(_)
    ));
    match m.answer(AuthAnswer::ScramKeys(keys)) {
        Step::Challenge(c) => String::from_utf8(c).unwrap(),
        other => panic!("no server-first: {other:?}"),
    }
}

#[test]
fn scram_with_a_wrong_password_fails_at_the_end() {
    let mut m = ScramSha256::new("srv".into(), Secret([0; 32]));
    let server_first = scram_to_server_first(&mut m, "n,,n=user,r=abc", Some(rfc7677_keys()));
    let (last, _) = scram_client_final("pencils", "n,,", "n=user,r=abc", &server_first);
    assert_eq!(
        m.respond(last.into_bytes()),
        Step::Failure(Failure::Credentials)
    );
}

#[test]
fn scram_accepts_y_and_the_users_own_authzid() {
    for (gs2, bare) in [("y,,", "n=user,r=abc"), ("n,a=User,", "n=user,r=abc,x=ext")] {
        let mut m = ScramSha256::new("srv".into(), Secret([0; 32]));
        let first = format!("{gs2}{bare}");
        let server_first = scram_to_server_first(&mut m, &first, Some(rfc7677_keys()));
        let (last, verifier) = scram_client_final("pencil", gs2, bare, &server_first);
        assert_eq!(
            m.respond(last.into_bytes()),
            Step::Challenge(verifier.into_bytes())
        );
        assert_eq!(m.respond(Vec::new()), Step::Success("user".into()));
    }
}

#[test]
fn scram_refuses_another_authzid() {
    let mut m = ScramSha256::new("srv".into(), Secret([0; 32]));
    assert_eq!(
        m.start(Some(b"n,a=admin,n=user,r=abc".to_vec())),
        Step::Failure(Failure::Credentials)
    );
}

#[test]
fn scram_unknown_users_get_stable_fake_keys_and_fail_only_at_the_end() {
    let secret = Secret([5; 32]);
    let mut m = ScramSha256::new("srv".into(), secret.clone());
    let server_first = scram_to_server_first(&mut m, "n,,n=nobody,r=abc", None);
    // The same shape as a real user's: 16-byte salt, 4096 iterations.
    let salt = server_first
        .split(",s=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(STANDARD.decode(salt).unwrap().len(), 16);
    assert!(server_first.ends_with(",i=4096"), "{server_first}");
    // Asked again, the same name shows the same salt, as a real one would.
    let mut again = ScramSha256::new("other".into(), secret.clone());
    let second = scram_to_server_first(&mut again, "n,,n=Nobody,r=xyz", None);
    assert!(second.contains(&format!(",s={salt},")), "{second}");
    // Another name, another salt; another server secret, another salt.
    assert_ne!(
        fake_keys(&secret, "someone").salt,
        fake_keys(&secret, "nobody").salt
    );
    assert_ne!(
        fake_keys(&Secret([6; 32]), "nobody").salt,
        fake_keys(&secret, "nobody").salt
    );
    let (last, _) = scram_client_final("pencil", "n,,", "n=nobody,r=abc", &server_first);
    assert_eq!(
        m.respond(last.into_bytes()),
        Step::Failure(Failure::Credentials)
    );
}

#[test]
fn scram_refuses_malformed_client_first_messages() {
    for bad in [
        "",
        "n,,",
        "x,,n=user,r=abc",
        "n,n=user,r=abc",
        "n,,r=abc,n=user",
        "n,,n=user",
        "n,,n=user,r=",
        "n,,n=,r=abc",
        "n,,n=us=41er,r=abc",
        "n,,n=user,r=a,bc",
        "n,,n=user,r=abc,1=x",
        "n,a=,n=user,r=abc",
        // RFC 5802 §5.1: mandatory extensions are refused.
        "n,,m=ext,n=user,r=abc",
        // Channel binding was never offered (no -PLUS mechanism).
        "p=tls-unique,,n=user,r=abc",
    ] {
        let mut m = ScramSha256::new("srv".into(), Secret([0; 32]));
        let step = m.start(Some(bad.as_bytes().to_vec()));
        assert!(
            matches!(step, Step::Failure(Failure::Malformed(_))),
            "{bad:?}: {step:?}"
        );
    }
}

#[test]
fn scram_user_names_are_unescaped_and_lower_cased() {
    let mut m = ScramSha256::new("srv".into(), Secret([0; 32]));
    assert_eq!(
        m.start(Some(b"n,,n=A=2Cb=3Dc,r=abc".to_vec())),
        Step::Ask(AuthRequest::ScramKeys {
            user: "a,b=c".into()
        })
    );
}

#[test]
fn scram_refuses_malformed_or_mismatched_client_final_messages() {
    let proof = STANDARD.encode([0u8; 32]);
    for bad in [
        String::new(),
        "c=biws,r=abcsrv".to_string(),
        format!("r=abcsrv,c=biws,p={proof}"),
        "c=biws,r=abcsrv,p=AAAA".to_string(),
        format!("c=biws,r=abcsrv,p=!{proof}"),
        format!("c=!!,r=abcsrv,p={proof}"),
        // The nonce must be both nonces, unchanged.
        format!("c=biws,r=abc,p={proof}"),
        format!("c=biws,r=abcsrvX,p={proof}"),
        // c= must repeat the gs2 header (here `n,,` = "biws").
        format!("c=eSws,r=abcsrv,p={proof}"),
    ] {
        let mut m = ScramSha256::new("srv".into(), Secret([0; 32]));
        scram_to_server_first(&mut m, "n,,n=user,r=abc", Some(rfc7677_keys()));
        let step = m.respond(bad.clone().into_bytes());
        assert!(
            matches!(step, Step::Failure(Failure::Malformed(_))),
            "{bad:?}: {step:?}"
        );
    }
}

#[test]
fn scram_wants_an_empty_acknowledgement_of_the_server_signature() {
    let mut m = ScramSha256::new("srv".into(), Secret([0; 32]));
    let server_first = scram_to_server_first(&mut m, "n,,n=user,r=abc", Some(rfc7677_keys()));
    let (last, _) = scram_client_final("pencil", "n,,", "n=user,r=abc", &server_first);
    assert!(matches!(m.respond(last.into_bytes()), Step::Challenge(_)));
    assert!(matches!(
        m.respond(b"x".to_vec()),
        Step::Failure(Failure::Malformed(_))
    ));
}

#[test]
fn scram_server_nonces_are_printable_without_commas() {
    let nonce = scram::server_nonce(&[0xfb; 32]);
    assert_eq!(nonce.len(), 24);
    assert!(
        nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b','),
        "{nonce}"
    );
}
