//! What one password enrolment stores, and how each SASL mechanism checks
//! a login against it: Argon2id for PLAIN/LOGIN, SCRAM-SHA-256 keys
//! (RFC 5802, RFC 7677) and the CRAM-MD5 HMAC states (RFC 2195).
//!
//! Argon2id and SCRAM are computed over the SASLprep'd password (RFC 4013,
//! see `saslprep.rs`), CRAM-MD5 over the raw bytes.

mod cram_md5;
mod password;
mod scram;
#[cfg(test)]
mod tests;

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use rand::RngCore;
use subtle::ConstantTimeEq;

pub use cram_md5::CramMd5State;
pub use password::burn_password_check;
use password::check_password;
pub use scram::{derive_scram_keys, SCRAM_ITERATIONS, SCRAM_SALT_LEN};

use super::saslprep;
use super::UsersError;

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

/// Cheap Argon2 parameters so tests do not spend seconds hashing.
#[cfg(test)]
pub(crate) fn cheap_argon2() -> Argon2<'static> {
    let params = argon2::Params::new(64, 1, 1, None).expect("valid test parameters");
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}
