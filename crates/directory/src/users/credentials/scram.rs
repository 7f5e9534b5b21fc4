//! The SCRAM-SHA-256 side of an enrolment (RFC 5802, RFC 7677): the salted
//! keys the server keeps instead of the password.

use portcullis_smtp::sasl::hmac_sha256;
use sha2::{Digest, Sha256};

use super::ScramKeys;

/// SCRAM iteration count for new enrolments: RFC 7677 §4 asks for at least 4096.
pub const SCRAM_ITERATIONS: u32 = 4096;

/// SCRAM salt length for new enrolments, in bytes.
pub const SCRAM_SALT_LEN: usize = 16;

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
