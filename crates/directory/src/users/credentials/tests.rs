//! Tests of the stored credentials against the RFC examples and the
//! reference crates.

use super::password::verify_in_reused_memory;
use super::*;
use crate::users::SaslprepError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use portcullis_smtp::sasl::hmac_sha256;
use portcullis_smtp::sasl::{AuthAnswer, AuthRequest, Failure, ScramSha256, Secret, Step};
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn checks_in_kept_memory_agree_with_the_argon2_crate_whatever_ran_before() {
    use argon2::PasswordVerifier;
    // Different sizes and variants one after the other on one thread:
    // the kept memory holds the previous check's blocks each time.
    let variants = [
        Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(256, 2, 1, None).unwrap(),
        ),
        cheap_argon2(),
        Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x10,
            argon2::Params::new(128, 3, 2, Some(48)).unwrap(),
        ),
        Argon2::new(
            argon2::Algorithm::Argon2d,
            argon2::Version::V0x13,
            argon2::Params::new(512, 1, 1, Some(16)).unwrap(),
        ),
    ];
    for _ in 0..2 {
        for argon2 in &variants {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            let phc = argon2.hash_password(b"right", &salt).unwrap().to_string();
            let hash = PasswordHash::new(&phc).unwrap();
            for (guess, want) in [(&b"right"[..], true), (&b"wrong"[..], false)] {
                assert_eq!(verify_in_reused_memory(&hash, guess), want, "{phc}");
                assert_eq!(
                    Argon2::default().verify_password(guess, &hash).is_ok(),
                    want
                );
            }
        }
    }
    assert!(!check_password("$argon2id$v=19$m=64,t=1,p=1$bad", b"x"));
}

/// RFC 2195 §2's example exchange.
#[test]
fn cram_md5_matches_rfc2195_example() {
    let creds = Credentials::derive_with("tanstaaftanstaaf", &cheap_argon2(), 1).unwrap();
    let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
    assert_eq!(
        hex(&creds.cram_md5_digest(challenge)),
        "b913a602c7eda7a495b4e6e7334d3890"
    );
    let digest = creds.cram_md5_digest(challenge);
    assert!(creds.verify_cram_md5(challenge, &digest));
    let mut wrong = digest;
    wrong[0] ^= 1;
    assert!(!creds.verify_cram_md5(challenge, &wrong));
    assert!(!creds.verify_cram_md5(challenge, &digest[..15]));
}

#[test]
fn cram_md5_matches_hmac_crate_for_short_block_sized_and_long_passwords() {
    let passwords = [
        "x".to_string(),
        "correct horse battery staple".to_string(),
        "a".repeat(64),
        "b".repeat(65),
        "ünïcødé-pässwörd".repeat(9),
    ];
    let challenges: [&[u8]; 3] = [b"", b"<1.2@host>", &[0xAB; 200]];
    for pw in &passwords {
        let state = CramMd5State::derive(pw.as_bytes());
        for challenge in challenges {
            let mut mac = Hmac::<::md5::Md5>::new_from_slice(pw.as_bytes()).unwrap();
            mac.update(challenge);
            let want: [u8; 16] = mac.finalize().into_bytes().into();
            assert_eq!(
                state.digest(challenge),
                want,
                "password of {} bytes",
                pw.len()
            );
        }
    }
}

/// RFC 5802 §3: `ServerSignature = HMAC(ServerKey, AuthMessage)`.
fn server_signature(keys: &ScramKeys, auth_message: &[u8]) -> [u8; 32] {
    hmac_sha256(&keys.server_key, &[auth_message])
}

/// RFC 5802 §3: `ClientKey = ClientProof XOR HMAC(StoredKey,
/// AuthMessage)` and `H(ClientKey) == StoredKey`.
fn verify_client_proof(keys: &ScramKeys, auth_message: &[u8], proof: &[u8]) -> bool {
    if proof.len() != 32 {
        return false;
    }
    let signature = hmac_sha256(&keys.stored_key, &[auth_message]);
    let mut client_key = [0u8; 32];
    for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
        *k = p ^ s;
    }
    let candidate: [u8; 32] = Sha256::digest(client_key).into();
    candidate == keys.stored_key
}

/// RFC 7677 §3: user "user", password "pencil".
#[test]
fn scram_sha256_keys_reproduce_rfc7677_exchange() {
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let keys = derive_scram_keys(b"pencil", &salt, 4096);
    let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
    let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                        s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final_without_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let auth_message = format!("{client_first_bare},{server_first},{client_final_without_proof}");
    assert_eq!(
        B64.encode(server_signature(&keys, auth_message.as_bytes())),
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
    let proof = B64
        .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        .unwrap();
    assert!(verify_client_proof(&keys, auth_message.as_bytes(), &proof));
    let mut bad = proof.clone();
    bad[31] ^= 0x80;
    assert!(!verify_client_proof(&keys, auth_message.as_bytes(), &bad));
    assert!(!verify_client_proof(
        &keys,
        auth_message.as_bytes(),
        &proof[..31]
    ));
    assert!(!verify_client_proof(&keys, b"another auth message", &proof));
}

#[test]
fn derive_uses_a_fresh_scram_salt_and_the_rfc_iteration_count() {
    let a = Credentials::derive_with("pw", &cheap_argon2(), SCRAM_ITERATIONS).unwrap();
    let b = Credentials::derive_with("pw", &cheap_argon2(), SCRAM_ITERATIONS).unwrap();
    assert_eq!(a.scram_keys().iterations, 4096);
    assert_eq!(a.scram_keys().salt.len(), 16);
    assert_ne!(a.scram_keys().salt, b.scram_keys().salt);
    assert_ne!(a.argon2_phc(), b.argon2_phc(), "Argon2 salts differ too");
    let again = derive_scram_keys(b"pw", &a.scram_keys().salt, 4096);
    assert_eq!(&again, a.scram_keys());
}

#[test]
fn argon2_verifies_the_right_password_only() {
    // Default (production) parameters, once.
    let creds = Credentials::derive("s3cret!").unwrap();
    assert!(creds.argon2_phc().starts_with("$argon2id$v=19$"));
    assert!(creds.verify_password(b"s3cret!"));
    assert!(!creds.verify_password(b"s3cret"));
    assert!(!creds.verify_password(b""));
}

#[test]
fn empty_password_is_refused() {
    assert!(matches!(
        Credentials::derive(""),
        Err(UsersError::EmptyPassword)
    ));
}

#[test]
fn debug_output_reveals_no_secrets() {
    let creds = Credentials::derive_with("hunter2", &cheap_argon2(), 1).unwrap();
    let shown = format!(
        "{creds:?} {:?} {:?}",
        creds.scram_keys(),
        creds.cram_md5_state()
    );
    assert!(!shown.contains("argon2id"), "{shown}");
    assert!(
        !shown.contains(&hex(&creds.scram_keys().stored_key[..4])),
        "{shown}"
    );
}

#[test]
fn from_parts_rejects_non_argon2id_hashes() {
    let creds = Credentials::derive_with("pw", &cheap_argon2(), 1).unwrap();
    let argon2i = creds.argon2.replace("$argon2id$", "$argon2i$");
    assert!(
        Credentials::from_parts(argon2i, creds.scram.clone(), creds.cram.clone())
            .unwrap_err()
            .contains("argon2i")
    );
    assert!(Credentials::from_parts("nonsense".into(), creds.scram, creds.cram).is_err());
}

// --- SASLprep (RFC 4013) ---------------------------------------------------

/// The fixed salts of the compatibility vectors.
const ARGON_SALT: &[u8] = b"portcullis-salt!";
const SCRAM_SALT: &[u8] = b"scram-salt-16byt";

/// Compatibility: the stored credentials of ASCII passwords, computed
/// with the code as it was before SASLprep (Argon2 default parameters)
/// and, for SCRAM, checked against Python's hashlib. Users files
/// enrolled before keep working with every mechanism.
#[test]
fn ascii_passwords_keep_their_pre_saslprep_credentials() {
    let all_printable: String = (0x20u8..=0x7e).map(char::from).collect();
    let vectors = [
        (
            all_printable.as_str(),
            "$argon2id$v=19$m=19456,t=2,p=1$cG9ydGN1bGxpcy1zYWx0IQ$\
             CoOTZvV0Kh9J5olDOt8v8j6HG1modZA2adt6L5N9Wqs",
            "B1i5FWV4Bhi3E2u5MDJJYA/ALnJbHYqZhwRO+Ift564=",
            "CopC1YZ5osdZ9mfC+PCN+q3Hu7p9siMKU6U9HY5imIw=",
            "1ea28734e6063ea527fb07cd296936ba8db4fee01bc8cd44e0691691cc80900d",
        ),
        (
            "pencil",
            "$argon2id$v=19$m=19456,t=2,p=1$cG9ydGN1bGxpcy1zYWx0IQ$\
             8EuwKgG8FX5LiDcmLAsOh9cukjOsvGyVU+MCX9dtdJ8",
            "cySX9WcIBmsR8i8KA6J91ANAOS5hE/Alr+Op4tU9s0c=",
            "fpXnOdFU8oGNipdqQVhnHR84VBmOWH7P++SxpaJyA70=",
            "834e19104164d6a42de72d243adb40807f47ace0e2af8f6cdeb72c03243a8c87",
        ),
    ];
    for (password, phc, stored_key, server_key, cram) in vectors {
        let creds = Credentials::derive_with_salts(
            password,
            &Argon2::default(),
            4096,
            ARGON_SALT,
            SCRAM_SALT,
        )
        .unwrap();
        assert_eq!(creds.argon2_phc(), phc, "{password:?}");
        assert_eq!(B64.encode(creds.scram_keys().stored_key), stored_key);
        assert_eq!(B64.encode(creds.scram_keys().server_key), server_key);
        assert_eq!(hex(&creds.cram_md5_state().to_bytes()), cram);
        assert!(creds.verify_password(password.as_bytes()));
    }
}

#[test]
fn enrolment_refuses_what_saslprep_refuses_without_showing_the_password() {
    for (password, code_point) in [("bell\u{7}ring", "U+0007"), ("tab\there", "U+0009")] {
        let err = Credentials::derive_with(password, &cheap_argon2(), 1).unwrap_err();
        assert!(matches!(err, UsersError::Saslprep(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(code_point) && text.contains("RFC 4013"),
            "{text}"
        );
        assert!(!text.contains("bell") && !text.contains("tab"), "{text}");
    }
    let err = Credentials::derive_with("\u{AD}\u{2060}\u{FE0F}", &cheap_argon2(), 1).unwrap_err();
    assert!(
        matches!(err, UsersError::Saslprep(SaslprepError::Empty)),
        "{err:?}"
    );
    assert!(err.to_string().contains("empty"), "{err}");
}

/// RFC 4616 §2: the server SASLprep's what PLAIN (and LOGIN) carry, so
/// the NFKC-equivalent forms of the enrolled password all log in.
#[test]
fn plain_accepts_every_saslprep_equivalent_form_of_the_password() {
    // Enrolled with a soft hyphen and precomposed umlauts.
    let creds =
        Credentials::derive_with("I\u{AD}X p\u{E4}ssw\u{F6}rd", &cheap_argon2(), 1).unwrap();
    for typed in [
        "IX p\u{E4}ssw\u{F6}rd",
        "I\u{AD}X p\u{E4}ssw\u{F6}rd",
        // ROMAN NUMERAL NINE, NO-BREAK SPACE, combining diaeresis.
        "\u{2168}\u{A0}pa\u{308}sswo\u{308}rd",
    ] {
        assert!(creds.verify_password(typed.as_bytes()), "{typed:?}");
    }
    for wrong in [
        "IX passwort",
        "ix p\u{E4}ssw\u{F6}rd",
        "IXp\u{E4}ssw\u{F6}rd",
    ] {
        assert!(!creds.verify_password(wrong.as_bytes()), "{wrong:?}");
    }

    // Fullwidth letters and a ligature at enrolment, plain ASCII at login.
    let creds = Credentials::derive_with(
        "\u{FB01}ne \u{FF30}\u{FF41}\u{FF53}\u{FF53}",
        &cheap_argon2(),
        1,
    )
    .unwrap();
    assert!(creds.verify_password(b"fine Pass"));
    assert!(creds.verify_password("\u{FB01}ne\u{3000}Pass".as_bytes()));
    assert!(!creds.verify_password(b"fine pass"));
}

#[test]
fn a_password_saslprep_refuses_fails_plain_without_panicking() {
    let creds = Credentials::derive_with("IX", &cheap_argon2(), 1).unwrap();
    assert!(!creds.verify_password("I\u{7}X".as_bytes()));
    assert!(!creds.verify_password("\u{AD}".as_bytes()));
    assert!(!creds.verify_password(&[b'I', 0xFF, b'X']), "not UTF-8");
    assert!(!creds.verify_password("\u{627}IX".as_bytes()), "bidi");
    assert!(!burn_password_check("I\u{7}X".as_bytes()));
    assert!(!burn_password_check(&[0xFF]));
}

#[test]
fn cram_md5_keys_on_the_raw_password_not_the_saslprep_form() {
    let raw = "I\u{AD}X p\u{E4}ss";
    let creds = Credentials::derive_with(raw, &cheap_argon2(), 1).unwrap();
    assert_eq!(creds.cram, CramMd5State::derive(raw.as_bytes()));
    assert_ne!(creds.cram, CramMd5State::derive("IX p\u{E4}ss".as_bytes()));
    let challenge = b"<1.2@host>";
    let mut mac = Hmac::<::md5::Md5>::new_from_slice(raw.as_bytes()).unwrap();
    mac.update(challenge);
    let want: [u8; 16] = mac.finalize().into_bytes().into();
    assert!(creds.verify_cram_md5(challenge, &want));
}

/// An RFC 7677 SCRAM-SHA-256 client (RFC 5802 §3): from the typed
/// password (already normalised by the client, as RFC 5802 §5.1 has it)
/// and the server-first-message, the client-final-message and the
/// server-final-message it expects.
fn scram_client(password: &str, client_first_bare: &str, server_first: &str) -> (String, String) {
    let attr = |name: &str| {
        server_first
            .split(',')
            .find_map(|a| a.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    let salt = B64.decode(attr("s=")).unwrap();
    let iterations: u32 = attr("i=").parse().unwrap();
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
    let client_key = hmac_sha256(&salted, &[b"Client Key"]);
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let without_proof = format!("c=biws,r={}", attr("r="));
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
        format!("{without_proof},p={}", B64.encode(proof)),
        format!("v={}", B64.encode(verifier)),
    )
}

#[test]
fn the_test_scram_client_reproduces_rfc7677() {
    let (last, verifier) = scram_client(
        "pencil",
        "n=user,r=rOprNGfwEbeRWgbNEkqO",
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    );
    assert_eq!(
        last,
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert_eq!(verifier, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/// One SCRAM-SHA-256 exchange through the server-side state machine,
/// keyed by `creds`, with a client that hashes `client_password`.
fn scram_login(creds: &Credentials, client_password: &str) -> Step {
    let mut server = ScramSha256::new("srvnonce".into(), Secret([7; 32]));
    let bare = "n=alice,r=clinonce";
    assert_eq!(
        server.start(Some(format!("n,,{bare}").into_bytes())),
        Step::Ask(AuthRequest::ScramKeys {
            user: "alice".into()
        })
    );
    let keys = creds.scram_keys();
    let Step::Challenge(server_first) = server.answer(AuthAnswer::ScramKeys(Some(keys.clone())))
    else {
        panic!("no server-first-message");
    };
    let server_first = String::from_utf8(server_first).unwrap();
    let (last, verifier) = scram_client(client_password, bare, &server_first);
    match server.respond(last.into_bytes()) {
        Step::Challenge(v) => {
            assert_eq!(v, verifier.into_bytes(), "server signature");
            server.respond(Vec::new())
        }
        other => other,
    }
}

/// RFC 5802 §2.2: SCRAM keys are derived from SASLprep(password), which
/// the client computes too; so a non-ASCII password enrolled in one form
/// logs in from a client that normalised it.
#[test]
fn scram_round_trip_with_a_non_ascii_password() {
    // Enrolled as typed: soft hyphen, ROMAN NUMERAL NINE, NO-BREAK SPACE,
    // a decomposed umlaut, a ligature.
    let enrolled = "\u{AD}\u{2168}\u{A0}pa\u{308}ss \u{FB01}n";
    let creds = Credentials::derive_with(enrolled, &cheap_argon2(), 4096).unwrap();
    // What a SASLprep-ing client (RFC 5802 §5.1) hashes, written out.
    let normalised = "IX p\u{E4}ss fin";
    assert_eq!(saslprep::prepare(enrolled).unwrap(), normalised);
    assert_eq!(
        scram_login(&creds, normalised),
        Step::Success("alice".into())
    );
    // A client that skipped normalisation, or a wrong password, fails.
    assert_eq!(
        scram_login(&creds, enrolled),
        Step::Failure(Failure::Credentials)
    );
    assert_eq!(
        scram_login(&creds, "IX pass fin"),
        Step::Failure(Failure::Credentials)
    );
}
