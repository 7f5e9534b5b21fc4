//! The Argon2id side of an enrolment: checking a PLAIN or LOGIN password
//! (RFC 4616 §2) in constant time and in kept memory, and spending the same
//! time on a user that does not exist.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

use super::super::saslprep;

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
pub(super) fn check_password(phc: &str, password: &[u8]) -> bool {
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
pub(super) fn verify_in_reused_memory(hash: &PasswordHash<'_>, password: &[u8]) -> bool {
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
