//! The CRAM-MD5 side of an enrolment (RFC 2195): the HMAC-MD5 inner and
//! outer states, stored instead of the password, as Dovecot does.

use std::fmt;

use super::super::md5_state::{self, Md5};

/// The HMAC-MD5 precomputed states for CRAM-MD5: the MD5 chaining state
/// after absorbing `key XOR ipad` (inner) and `key XOR opad` (outer),
/// each as 16 bytes in Dovecot's layout (words A..D little-endian).
///
/// Security: this is a password equivalent *for CRAM-MD5* (whoever holds it
/// can answer any challenge), which is why the users file is mode 0600.
#[derive(Clone, PartialEq, Eq)]
pub struct CramMd5State {
    pub(in crate::users) inner: [u8; 16],
    pub(in crate::users) outer: [u8; 16],
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
    pub(super) fn digest(&self, message: &[u8]) -> [u8; 16] {
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
