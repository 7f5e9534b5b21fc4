//! What one password enrolment stores, and how each SASL mechanism checks
//! a login against it: Argon2id for PLAIN/LOGIN, SCRAM-SHA-256 keys
//! (RFC 5802, RFC 7677) and the CRAM-MD5 HMAC states (RFC 2195).

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::md5_state::{self, Md5};
use super::UsersError;

type HmacSha256 = Hmac<Sha256>;

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

/// SCRAM-SHA-256 server-side keys (RFC 5802 §3): what the server needs to
/// verify a client proof and to prove itself, without the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// The PBKDF2 iteration count `i`.
    pub iterations: u32,
    /// The salt sent to the client in the server-first-message.
    pub salt: Vec<u8>,
    /// `H(ClientKey)`.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; 32],
}

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
    if let Ok(hash) = PasswordHash::new(phc) {
        let _ = Argon2::default().verify_password(password, &hash);
    }
    false
}

impl Credentials {
    /// Derives everything the mechanisms need from one password: an Argon2id
    /// hash (default, OWASP-recommended parameters), SCRAM-SHA-256 keys with a
    /// random 16-byte salt and 4096 iterations, and the CRAM-MD5 states.
    ///
    /// The password is used as its UTF-8 bytes; no SASLprep (RFC 4013)
    /// normalisation is applied, which is the same for printable ASCII.
    /// An empty password is refused.
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
        if password.is_empty() {
            return Err(UsersError::EmptyPassword);
        }
        let pw = password.as_bytes();
        let mut rng = rand::thread_rng();
        let mut argon_salt = [0u8; 16];
        rng.fill_bytes(&mut argon_salt);
        let salt = SaltString::encode_b64(&argon_salt)
            .map_err(|e| UsersError::Hash(format!("cannot encode the Argon2 salt: {e}")))?;
        let phc = argon2
            .hash_password(pw, &salt)
            .map_err(|e| UsersError::Hash(e.to_string()))?
            .to_string();
        let mut scram_salt = vec![0u8; SCRAM_SALT_LEN];
        rng.fill_bytes(&mut scram_salt);
        Ok(Credentials {
            argon2: phc,
            scram: ScramKeys::derive(pw, &scram_salt, scram_iterations),
            cram: CramMd5State::derive(pw),
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

    /// For PLAIN and LOGIN: whether `password` is this user's password.
    /// The comparison inside the argon2 crate is constant-time.
    pub fn verify_password(&self, password: &[u8]) -> bool {
        let Ok(hash) = PasswordHash::new(&self.argon2) else {
            return false;
        };
        // The PHC string carries its own parameters; Argon2::default() only
        // provides the implementation.
        Argon2::default().verify_password(password, &hash).is_ok()
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

impl ScramKeys {
    /// RFC 5802 §3: `SaltedPassword = Hi(password, salt, i)` (PBKDF2 with
    /// HMAC-SHA-256), `StoredKey = H(HMAC(SaltedPassword, "Client Key"))`,
    /// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> ScramKeys {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let server_key = hmac_sha256(&salted, b"Server Key");
        ScramKeys {
            iterations,
            salt: salt.to_vec(),
            stored_key,
            server_key,
        }
    }

    /// RFC 5802 §3: `ServerSignature = HMAC(ServerKey, AuthMessage)`, sent in
    /// the server-final-message as `v=`.
    pub fn server_signature(&self, auth_message: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.server_key, auth_message)
    }

    /// RFC 5802 §3: recovers `ClientKey = ClientProof XOR HMAC(StoredKey,
    /// AuthMessage)` and checks `H(ClientKey) == StoredKey`, in constant time.
    pub fn verify_client_proof(&self, auth_message: &[u8], proof: &[u8]) -> bool {
        if proof.len() != 32 {
            return false;
        }
        let signature = hmac_sha256(&self.stored_key, auth_message);
        let mut client_key = [0u8; 32];
        for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
            *k = p ^ s;
        }
        let candidate: [u8; 32] = Sha256::digest(client_key).into();
        bool::from(candidate.ct_eq(&self.stored_key))
    }
}

impl fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys authenticate the server and verify clients: keep them out of logs.
        f.debug_struct("ScramKeys")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
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

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length (RFC 2104 §2), so `new_from_slice`
    // cannot fail here.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA-256 accepts keys of any length"),
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
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
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    /// RFC 7677 §3: user "user", password "pencil".
    #[test]
    fn scram_sha256_keys_reproduce_rfc7677_exchange() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let keys = ScramKeys::derive(b"pencil", &salt, 4096);
        let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                            s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final_without_proof =
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth_message =
            format!("{client_first_bare},{server_first},{client_final_without_proof}");
        assert_eq!(
            B64.encode(keys.server_signature(auth_message.as_bytes())),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let proof = B64
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert!(keys.verify_client_proof(auth_message.as_bytes(), &proof));
        let mut bad = proof.clone();
        bad[31] ^= 0x80;
        assert!(!keys.verify_client_proof(auth_message.as_bytes(), &bad));
        assert!(!keys.verify_client_proof(auth_message.as_bytes(), &proof[..31]));
        assert!(!keys.verify_client_proof(b"another auth message", &proof));
    }

    #[test]
    fn derive_uses_a_fresh_scram_salt_and_the_rfc_iteration_count() {
        let a = Credentials::derive_with("pw", &cheap_argon2(), SCRAM_ITERATIONS).unwrap();
        let b = Credentials::derive_with("pw", &cheap_argon2(), SCRAM_ITERATIONS).unwrap();
        assert_eq!(a.scram_keys().iterations, 4096);
        assert_eq!(a.scram_keys().salt.len(), 16);
        assert_ne!(a.scram_keys().salt, b.scram_keys().salt);
        assert_ne!(a.argon2_phc(), b.argon2_phc(), "Argon2 salts differ too");
        let again = ScramKeys::derive(b"pw", &a.scram_keys().salt, 4096);
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
}
