//! What one password enrolment stores, and how each SASL mechanism checks
//! a login against it: Argon2id for PLAIN/LOGIN, SCRAM-SHA-256 keys
//! (RFC 5802, RFC 7677) and the CRAM-MD5 HMAC states (RFC 2195).
//!
//! Argon2id and SCRAM are computed over the SASLprep'd password (RFC 4013,
//! see `saslprep.rs`), CRAM-MD5 over the raw bytes.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use portcullis_smtp::sasl::hmac_sha256;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::md5_state::{self, Md5};
use super::saslprep;
use super::UsersError;

/// SCRAM iteration count for new enrolments: RFC 7677 §4 asks for at least 4096.
pub const SCRAM_ITERATIONS: u32 = 4096;

/// SCRAM salt length for new enrolments, in bytes.
pub const SCRAM_SALT_LEN: usize = 16;

/// The stored credentials of one user, derived from one password by
/// [`Credentials::derive`]. The password itself is never kept.
///
/// `Debug` prints no secret material.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub(super) argon2: String,
    pub(super) scram: ScramKeys,
    pub(super) cram: CramMd5State,
}

/// SCRAM-SHA-256 server-side keys: the type the SASL exchange reads.
pub use portcullis_smtp::sasl::ScramKeys;

/// The HMAC-MD5 precomputed states for CRAM-MD5: the MD5 chaining state
/// after absorbing `key XOR ipad` (inner) and `key XOR opad` (outer),
/// each as 16 bytes in Dovecot's layout (words A..D little-endian).
///
/// Security: this is a password equivalent *for CRAM-MD5* (whoever holds it
/// can answer any challenge), which is why the users file is mode 0600.
#[derive(Clone, PartialEq, Eq)]
pub struct CramMd5State {
    pub(super) inner: [u8; 16],
    pub(super) outer: [u8; 16],
}

/// Spends the time of one Argon2 verification on a password for a user that
/// does not exist, so the reply time of PLAIN/LOGIN does not reveal which
/// user names exist. Always false.
pub fn burn_password_check(password: &[u8]) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(b"portcullis-no-such-user", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    // The same steps as a real check (SASLprep, then Argon2), so the
    // timing matches that of a wrong password for an existing user.
    let _ = check_password(phc, password);
    false
}

/// RFC 4616 §2: SASLprep the client's password (RFC 4013), then verify it
/// against the Argon2id PHC string, in constant time inside the argon2 crate.
///
/// A password that is not UTF-8 or that SASLprep refuses cannot be anyone's
/// (enrolment stores only prepared passwords), so it fails; it still costs
/// one Argon2 verification. Why: an early `false` would answer faster for
/// an existing user than [`burn_password_check`] does for an unknown one,
/// and so reveal which user names exist.
fn check_password(phc: &str, password: &[u8]) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let prepared = std::str::from_utf8(password)
        .ok()
        .and_then(|p| saslprep::prepare(p).ok());
    match prepared {
        Some(prepared) => verify_in_reused_memory(&hash, prepared.as_bytes()),
        None => {
            let _ = verify_in_reused_memory(&hash, password);
            false
        }
    }
}

thread_local! {
    /// This thread's Argon2 working memory (19 MiB with the default
    /// parameters), kept between checks.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What `Argon2::verify_password` does, but in this thread's kept working
/// memory instead of a fresh 19 MiB allocation per check. Why: the
/// allocator keeps freed blocks of that size in per-thread arenas rather
/// than returning them, so allocating per check left hundreds of MiB
/// resident after a burst of logins; the server runs checks on a few
/// fixed threads, so this bounds it at one block per thread. (Reusing the
/// memory is safe: Argon2's first pass writes every block before reading it.)
fn verify_in_reused_memory(hash: &PasswordHash<'_>, password: &[u8]) -> bool {
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    // The PHC string carries its own parameters.
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let hashed = ARGON2_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    });
    // Constant time, as the crate compares.
    hashed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

impl Credentials {
    /// Derives everything the mechanisms need from one password: an Argon2id
    /// hash (default, OWASP-recommended parameters), SCRAM-SHA-256 keys with a
    /// random 16-byte salt and 4096 iterations, and the CRAM-MD5 states.
    ///
    /// Argon2id and SCRAM hash the SASLprep'd password (RFC 4013; RFC 5802
    /// §2.2 `Hi(Normalize(password), …)`); CRAM-MD5 uses the raw UTF-8 bytes.
    /// Printable ASCII is unchanged by SASLprep, so such passwords give the
    /// credentials they always did. An empty password, or one SASLprep
    /// refuses or maps to nothing, is refused.
    pub fn derive(password: &str) -> Result<Credentials, UsersError> {
        Credentials::derive_with(password, &Argon2::default(), SCRAM_ITERATIONS)
    }

    /// [`Credentials::derive`] with explicit Argon2 parameters and SCRAM
    /// iteration count (tests use cheap ones; production uses `derive`).
    pub(crate) fn derive_with(
        password: &str,
        argon2: &Argon2<'_>,
        scram_iterations: u32,
    ) -> Result<Credentials, UsersError> {
        let mut rng = rand::thread_rng();
        let mut argon_salt = [0u8; 16];
        rng.fill_bytes(&mut argon_salt);
        let mut scram_salt = [0u8; SCRAM_SALT_LEN];
        rng.fill_bytes(&mut scram_salt);
        Credentials::derive_with_salts(password, argon2, scram_iterations, &argon_salt, &scram_salt)
    }

    /// [`Credentials::derive_with`] with the salts given, so a test can pin
    /// the exact stored credentials of a password.
    fn derive_with_salts(
        password: &str,
        argon2: &Argon2<'_>,
        scram_iterations: u32,
        argon_salt: &[u8],
        scram_salt: &[u8],
    ) -> Result<Credentials, UsersError> {
        if password.is_empty() {
            return Err(UsersError::EmptyPassword);
        }
        // RFC 5802 §2.2 and §5.1: SCRAM's Hi() runs over SASLprep(password)
        // with the stored-string rules; PLAIN and LOGIN passwords are
        // prepared the same way before Argon2 (RFC 4616 §2, check_password).
        // Why refuse rather than store raw: a password SASLprep rejects
        // could never be entered through SCRAM, and control characters
        // type differently on every terminal.
        let prepared = saslprep::prepare(password)?;
        let salt = SaltString::encode_b64(argon_salt)
            .map_err(|e| UsersError::Hash(format!("cannot encode the Argon2 salt: {e}")))?;
        let phc = argon2
            .hash_password(prepared.as_bytes(), &salt)
            .map_err(|e| UsersError::Hash(e.to_string()))?
            .to_string();
        Ok(Credentials {
            argon2: phc,
            scram: derive_scram_keys(prepared.as_bytes(), scram_salt, scram_iterations),
            // RFC 2195 defines no normalisation: clients key HMAC-MD5 with
            // the password's raw bytes, so the states are derived from
            // those, not from the SASLprep'd form.
            cram: CramMd5State::derive(password.as_bytes()),
        })
    }

    /// Builds credentials from stored parts, checking the Argon2 PHC string.
    pub(crate) fn from_parts(
        argon2: String,
        scram: ScramKeys,
        cram: CramMd5State,
    ) -> Result<Credentials, String> {
        let parsed =
            PasswordHash::new(&argon2).map_err(|e| format!("bad Argon2 PHC string: {e}"))?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(format!(
                "Argon2 algorithm {:?} is not argon2id",
                parsed.algorithm.as_str()
            ));
        }
        Ok(Credentials {
            argon2,
            scram,
            cram,
        })
    }

    /// For PLAIN and LOGIN: whether `password`, as the client sent it, is
    /// this user's password once SASLprep'd (RFC 4616 §2). A password that
    /// is not UTF-8 or that SASLprep refuses is simply wrong. The comparison
    /// inside the argon2 crate is constant-time.
    pub fn verify_password(&self, password: &[u8]) -> bool {
        check_password(&self.argon2, password)
    }

    /// For CRAM-MD5 (RFC 2195): `HMAC-MD5(password, challenge)`, computed from
    /// the stored states without knowing the password.
    pub fn cram_md5_digest(&self, challenge: &[u8]) -> [u8; 16] {
        self.cram.digest(challenge)
    }

    /// For CRAM-MD5: whether the client's `digest` (hex-decoded) answers
    /// `challenge`. Constant-time comparison, so timing reveals nothing.
    pub fn verify_cram_md5(&self, challenge: &[u8], digest: &[u8]) -> bool {
        bool::from(self.cram_md5_digest(challenge).as_slice().ct_eq(digest))
    }

    /// For SCRAM-SHA-256: the stored salt, iteration count and keys.
    pub fn scram_keys(&self) -> &ScramKeys {
        &self.scram
    }

    /// The Argon2id PHC string.
    pub fn argon2_phc(&self) -> &str {
        &self.argon2
    }

    /// The CRAM-MD5 states.
    pub fn cram_md5_state(&self) -> &CramMd5State {
        &self.cram
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print hashes or keys: they end up in logs.
        f.write_str("Credentials { .. }")
    }
}

/// RFC 5802 §3: `SaltedPassword = Hi(password, salt, i)` (PBKDF2 with
/// HMAC-SHA-256), `StoredKey = H(HMAC(SaltedPassword, "Client Key"))`,
/// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
pub fn derive_scram_keys(password: &[u8], salt: &[u8], iterations: u32) -> ScramKeys {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted);
    let client_key = hmac_sha256(&salted, &[b"Client Key"]);
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac_sha256(&salted, &[b"Server Key"]);
    ScramKeys {
        iterations,
        salt: salt.to_vec(),
        stored_key,
        server_key,
    }
}

impl CramMd5State {
    /// RFC 2104 §2: the key is the password, or MD5(password) when longer
    /// than the 64-byte block, zero-padded to 64 bytes; the states are MD5
    /// after one block of `key XOR 0x36..` and of `key XOR 0x5c..`.
    pub(crate) fn derive(password: &[u8]) -> CramMd5State {
        let mut key = [0u8; 64];
        if password.len() > 64 {
            key[..16].copy_from_slice(&md5_state::md5(password));
        } else {
            key[..password.len()].copy_from_slice(password);
        }
        let mut ipad = [0u8; 64];
        let mut opad = [0u8; 64];
        for i in 0..64 {
            ipad[i] = key[i] ^ 0x36;
            opad[i] = key[i] ^ 0x5c;
        }
        CramMd5State {
            inner: md5_state::state_to_bytes(&md5_state::state_after_block(&ipad)),
            outer: md5_state::state_to_bytes(&md5_state::state_after_block(&opad)),
        }
    }

    /// From the 32 stored bytes: inner state then outer state.
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> CramMd5State {
        let mut inner = [0u8; 16];
        let mut outer = [0u8; 16];
        inner.copy_from_slice(&bytes[..16]);
        outer.copy_from_slice(&bytes[16..]);
        CramMd5State { inner, outer }
    }

    /// The 32 stored bytes: inner state then outer state (Dovecot's order).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&self.inner);
        out[16..].copy_from_slice(&self.outer);
        out
    }

    /// `HMAC-MD5(key, message)` = `MD5(outer || MD5(inner || message))`,
    /// resuming both hashes after their first block.
    fn digest(&self, message: &[u8]) -> [u8; 16] {
        let mut inner = Md5::resume(md5_state::state_from_bytes(&self.inner), 64);
        inner.update(message);
        let inner_digest = inner.finalize();
        let mut outer = Md5::resume(md5_state::state_from_bytes(&self.outer), 64);
        outer.update(&inner_digest);
        outer.finalize()
    }
}

impl fmt::Debug for CramMd5State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A CRAM-MD5 password equivalent: never printed.
        f.write_str("CramMd5State { .. }")
    }
}

/// Cheap Argon2 parameters so tests do not spend seconds hashing.
#[cfg(test)]
pub(crate) fn cheap_argon2() -> Argon2<'static> {
    let params = argon2::Params::new(64, 1, 1, None).expect("valid test parameters");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::SaslprepError;
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use portcullis_smtp::sasl::{AuthAnswer, AuthRequest, Failure, ScramSha256, Secret, Step};

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
        let client_final_without_proof =
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth_message =
            format!("{client_first_bare},{server_first},{client_final_without_proof}");
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
        let err =
            Credentials::derive_with("\u{AD}\u{2060}\u{FE0F}", &cheap_argon2(), 1).unwrap_err();
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
    fn scram_client(
        password: &str,
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
        let Step::Challenge(server_first) =
            server.answer(AuthAnswer::ScramKeys(Some(keys.clone())))
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
}
