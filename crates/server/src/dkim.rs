//! DKIM signing keys (RFC 6376, RFC 8463): made by `portcullis dkim
//! generate`, kept in `<data_dir>/dkim/` as `SELECTOR._domainkey.DOMAIN.pem`
//! (the file name is the DNS name of the record), loaded with every
//! (re)load, and used to sign mail from trusted senders as it is queued.
//!
//! Signing goes through mail-auth's ring backend. The `rsa` crate
//! (RUSTSEC-2023-0071, a timing leak in private-key operations) only
//! generates RSA keys, offline, because ring cannot.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::generate::DkimKeyPair;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls::pki_types::PrivateKeyDer;

/// The header fields signed (RFC 6376 §5.4.1's list, trimmed to what
/// mail carries). Each name present is signed once per instance, and once
/// more as absent ("over-signed", §8.15), so no extra copy can be added.
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// RFC 8301 §3.2: RSA signing keys of at least 1024 bits, 2048 recommended.
const RSA_BITS: usize = 2048;

/// A key algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Algorithm {
    /// Ed25519-SHA256 (RFC 8463): small and fast; not every receiver checks it yet.
    Ed25519,
    /// RSA-SHA256 with a 2048-bit key: what every receiver checks.
    Rsa,
}

impl Algorithm {
    /// The `k=` tag of the DNS record.
    pub fn tag(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Rsa => "rsa",
        }
    }
}

/// One loaded key.
pub struct Key {
    pub domain: String,
    pub selector: String,
    pub algorithm: Algorithm,
    /// The public key as published in `p=` (read by `dns-records`).
    pub public: Vec<u8>,
    signer: DkimSigner<DkimKey, Done>,
}

/// The keys in force, by lower-case domain.
#[derive(Default)]
pub struct Keys {
    by_domain: BTreeMap<String, Vec<Key>>,
}

/// `<data_dir>/dkim`.
pub(crate) fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("dkim")
}

/// The key file of `selector` for `domain`.
pub(crate) fn key_path(data_dir: &Path, domain: &str, selector: &str) -> PathBuf {
    dir(data_dir).join(format!("{selector}._domainkey.{domain}.pem"))
}

impl Keys {
    /// Loads every key in `<data_dir>/dkim/`. A file that cannot be read is
    /// skipped with a warning (returned), never a reason to refuse a reload.
    pub fn load(data_dir: &Path) -> (Keys, Vec<String>) {
        let mut keys = Keys::default();
        let mut warnings = Vec::new();
        let entries = match fs::read_dir(dir(data_dir)) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (keys, warnings),
            Err(e) => {
                warnings.push(format!("DKIM keys not loaded: {e}"));
                return (keys, warnings);
            }
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some((selector, domain)) = name
                .strip_suffix(".pem")
                .and_then(|n| n.split_once("._domainkey."))
            else {
                continue;
            };
            match load_key(&path, domain, selector) {
                Ok(key) => keys
                    .by_domain
                    .entry(key.domain.clone())
                    .or_default()
                    .push(key),
                Err(e) => warnings.push(format!("DKIM key {} skipped: {e}", path.display())),
            }
        }
        (keys, warnings)
    }

    /// Every key, by domain then selector.
    pub fn all(&self) -> impl Iterator<Item = &Key> {
        self.by_domain.values().flatten()
    }

    /// The keys of `domain`.
    pub fn of(&self, domain: &str) -> &[Key] {
        self.by_domain
            .get(&domain.to_ascii_lowercase())
            .map_or(&[], |v| v.as_slice())
    }

    /// `DKIM-Signature:` header fields for a message, one per key of the
    /// domain of its `From:` address; empty when that domain has no key.
    /// `head` is the start of the message (its header section); `feed`
    /// hands the whole message over in chunks, so it is never held whole.
    /// Relaxed/relaxed (RFC 6376 §3.4.2, §3.4.4).
    pub fn sign(
        &self,
        head: &[u8],
        feed: impl FnOnce(&mut dyn FnMut(&[u8])) -> std::io::Result<()>,
    ) -> Result<String, String> {
        let keys = match from_domain(head) {
            Some(domain) => self.of(&domain),
            None => &[],
        };
        if keys.is_empty() {
            return Ok(String::new());
        }
        let mut streams: Vec<_> = keys.iter().map(|k| k.signer.sign_streaming()).collect();
        feed(&mut |chunk: &[u8]| streams.iter_mut().for_each(|s| s.write(chunk)))
            .map_err(|e| format!("cannot read the message to sign it: {e}"))?;
        let mut out = String::new();
        for (stream, key) in streams.into_iter().zip(keys) {
            let signature = stream.finish().map_err(|e| {
                format!(
                    "DKIM signing for {} with {} failed: {e}",
                    key.domain, key.selector
                )
            })?;
            out.push_str(&signature.to_header());
        }
        Ok(out)
    }
}

/// The lower-case domain of the (first) `From:` address, if any.
fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_auth::AuthenticatedMessage::parse(message)?;
    let from = parsed.from.first()?;
    let (_, domain) = from.rsplit_once('@')?;
    Some(domain.trim_end_matches('>').to_ascii_lowercase())
}

fn load_key(path: &Path, domain: &str, selector: &str) -> Result<Key, String> {
    let pem = fs::read(path).map_err(|e| e.to_string())?;
    let der = rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| e.to_string())?
        .ok_or("no private key in the file")?;
    let (algorithm, public, key) = match der {
        PrivateKeyDer::Pkcs8(p8) => {
            let k = Ed25519Key::from_pkcs8_der(p8.secret_pkcs8_der())
                .map_err(|e| format!("not an Ed25519 PKCS#8 key: {e}"))?;
            (Algorithm::Ed25519, k.public_key(), DkimKey::Ed25519(k))
        }
        PrivateKeyDer::Pkcs1(p1) => {
            let k = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(p1))
                .map_err(|e| format!("not an RSA key: {e}"))?;
            (Algorithm::Rsa, k.public_key(), DkimKey::Rsa(k))
        }
        _ => return Err("unsupported key format (expected PKCS#8 Ed25519 or PKCS#1 RSA)".into()),
    };
    let domain = domain.to_ascii_lowercase();
    let signer = DkimSigner::from_key(key)
        .domain(domain.clone())
        .selector(selector)
        .headers(SIGNED_HEADERS.iter().copied())
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed);
    Ok(Key {
        domain,
        selector: selector.to_string(),
        algorithm,
        public,
        signer,
    })
}

/// Makes a key and writes it (mode 0600, never over an existing file).
/// Returns the DNS TXT record to publish.
pub(crate) fn generate(
    data_dir: &Path,
    domain: &str,
    selector: &str,
    algorithm: Algorithm,
) -> Result<String, String> {
    let pair = match algorithm {
        Algorithm::Ed25519 => DkimKeyPair::generate_ed25519(),
        Algorithm::Rsa => DkimKeyPair::generate_rsa(RSA_BITS),
    }
    .map_err(|e| format!("cannot generate the key: {e}"))?;
    let label = match algorithm {
        Algorithm::Ed25519 => "PRIVATE KEY",
        Algorithm::Rsa => "RSA PRIVATE KEY",
    };
    let pem = pem(label, pair.private_key());
    let dir = dir(data_dir);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = key_path(data_dir, domain, selector);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{} exists already; choose another --selector to rotate keys",
                path.display()
            ),
            _ => format!("cannot create {}: {e}", path.display()),
        })?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(txt_record(domain, selector, algorithm, pair.public_key()))
}

/// `SELECTOR._domainkey.DOMAIN. IN TXT "v=DKIM1; k=…; p=…"`, the value cut
/// into strings of at most 255 octets (RFC 1035 §3.3.14; RFC 6376 §3.6.2.2).
pub(crate) fn txt_record(
    domain: &str,
    selector: &str,
    algorithm: Algorithm,
    public: &[u8],
) -> String {
    let value = format!(
        "v=DKIM1; k={}; p={}",
        algorithm.tag(),
        base64::engine::general_purpose::STANDARD.encode(public)
    );
    format!(
        "{selector}._domainkey.{domain}. IN TXT {}",
        quoted_strings(&value)
    )
}

/// `value` as one or more zone-file strings of at most 255 octets.
pub(crate) fn quoted_strings(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_and_sign_with_both_algorithms() {
        let dir = tempfile::tempdir().unwrap();
        let ed = generate(dir.path(), "example.com", "ed", Algorithm::Ed25519).unwrap();
        assert!(ed.starts_with("ed._domainkey.example.com. IN TXT \"v=DKIM1; k=ed25519; p="));
        let rsa = generate(dir.path(), "example.com", "rs", Algorithm::Rsa).unwrap();
        assert!(rsa.contains("\" \""), "an RSA record spans strings: {rsa}");
        let again = generate(dir.path(), "example.com", "ed", Algorithm::Ed25519).unwrap_err();
        assert!(again.contains("exists already"), "{again}");
        let mode = fs::metadata(key_path(dir.path(), "example.com", "ed"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );

        let (keys, warnings) = Keys::load(dir.path());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(keys.of("EXAMPLE.com").len(), 2);
        let msg =
            b"From: Alice <alice@Example.com>\r\nTo: b@remote.test\r\nSubject: hi\r\n\r\nbody\r\n";
        let whole = |f: &mut dyn FnMut(&[u8])| {
            f(msg);
            Ok(())
        };
        let headers = keys.sign(msg, whole).unwrap();
        assert_eq!(headers.matches("DKIM-Signature:").count(), 2, "{headers}");
        assert!(headers.contains("a=ed25519-sha256"), "{headers}");
        assert!(headers.contains("a=rsa-sha256"), "{headers}");
        assert!(headers.contains("c=relaxed/relaxed"), "{headers}");
        let other = b"From: x@elsewhere.test\r\n\r\nbody\r\n";
        let feed = |f: &mut dyn FnMut(&[u8])| {
            f(other);
            Ok(())
        };
        assert_eq!(keys.sign(other, feed).unwrap(), "");
    }
}
