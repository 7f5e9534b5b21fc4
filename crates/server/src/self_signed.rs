//! The self-signed certificate served when `tls.cert` is not set. It lives in
//! `<data_dir>/tls/` and belongs to Portcullis: it is generated at the first
//! start and generated again at start (or reload) when it nears its end,
//! names other hosts than the configured ones, or came from an older
//! Portcullis. A configured `tls.cert` is never read or written here.

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// The lifetime of a generated certificate: the CA/Browser Forum's cap for
/// server certificates since 2020, so checkers (testssl) see a usual one.
pub(crate) const LIFETIME_DAYS: i64 = 397;
/// A certificate with less than this left is generated again.
pub(crate) const RENEW_WITHIN_DAYS: i64 = 30;

/// Where the generated certificate and its key live.
pub(crate) fn paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The names the certificate holds: the host name, `localhost` and the
/// loopback addresses, so a client connecting by `127.0.0.1` or `::1`
/// (msmtp, Python's `ssl`) passes the name check of RFC 6125.
pub(crate) fn names(hostname: &str) -> Vec<String> {
    let mut names = vec![hostname.to_ascii_lowercase()];
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|have| have == n) {
            names.push(n.to_string());
        }
    }
    names
}

/// Makes sure `<data_dir>/tls/` holds a usable certificate for `hostname`,
/// generating it when missing or stale. Returns why it was (re)generated.
pub(crate) fn ensure(
    hostname: &str,
    data_dir: &Path,
    now: OffsetDateTime,
) -> Result<Option<String>, String> {
    let (cert, key) = paths(data_dir);
    let reason = if !cert.exists() || !key.exists() {
        Some("there was none".to_string())
    } else {
        stale(&cert, hostname, now)
    };
    if let Some(why) = &reason {
        generate(hostname, &cert, &key, now)?;
        tracing::info!(cert = %cert.display(), "generated a self-signed certificate for {hostname}: {why}");
    }
    Ok(reason)
}

/// Generates a new key and certificate for `hostname`, replacing any there.
pub(crate) fn generate(
    hostname: &str,
    cert: &Path,
    key: &Path,
    now: OffsetDateTime,
) -> Result<(), String> {
    let failed = |e: rcgen::Error| format!("cannot generate a self-signed certificate: {e}");
    let mut params = CertificateParams::new(names(hostname)).map_err(failed)?;
    // The subject names the host too, so a client showing the certificate
    // (swaks, openssl s_client) shows whose it is.
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, hostname);
    // An hour back allows for a client whose clock runs a little behind.
    params.not_before = now - Duration::hours(1);
    params.not_after = params.not_before + Duration::days(LIFETIME_DAYS);
    // A server certificate, not a CA (RFC 5280 §4.2.1.9). The key is ECDSA
    // P-256, which signs and never encrypts a key: digitalSignature is its
    // one usage (RFC 5480 §3 leaves keyEncipherment to RSA keys).
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key_pair = KeyPair::generate().map_err(failed)?;
    let generated = params.self_signed(&key_pair).map_err(failed)?;
    if let Some(dir) = cert.parent() {
        super::ensure_private_dir(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // Key first: a crash between the two writes leaves a pair that does not
    // fit, which the next load notices and generates again.
    super::write_private_file(key, key_pair.serialize_pem().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", key.display()))?;
    super::write_private_file(cert, generated.pem().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
    Ok(())
}

/// Why the certificate in `path` should be generated again, if it should.
fn stale(path: &Path, hostname: &str, now: OffsetDateTime) -> Option<String> {
    let params = match read_params(path) {
        Ok(p) => p,
        Err(e) => return Some(e),
    };
    if params.not_after - now < Duration::days(RENEW_WITHIN_DAYS) {
        return Some(format!("the old one ends {}", params.not_after.date()));
    }
    if params.not_after - params.not_before > Duration::days(LIFETIME_DAYS + 1) {
        return Some(format!(
            "the old one was valid until {}, longer than {LIFETIME_DAYS} days",
            params.not_after.date()
        ));
    }
    if !params
        .extended_key_usages
        .contains(&ExtendedKeyUsagePurpose::ServerAuth)
    {
        return Some("the old one lacks the serverAuth key usage".to_string());
    }
    let want = CertificateParams::new(names(hostname))
        .map(|p| p.subject_alt_names)
        .unwrap_or_default();
    let have = &params.subject_alt_names;
    if want.len() != have.len() || !want.iter().all(|n| have.contains(n)) {
        return Some(format!(
            "the old one names {}, not {}",
            show(have),
            names(hostname).join(", ")
        ));
    }
    None
}

fn read_params(path: &Path) -> Result<CertificateParams, String> {
    let file = fs::File::open(path).map_err(|e| format!("the old one cannot be read: {e}"))?;
    let der = rustls_pemfile::certs(&mut BufReader::new(file))
        .next()
        .ok_or("the old one holds no certificate")?
        .map_err(|e| format!("the old one is not valid PEM: {e}"))?;
    CertificateParams::from_ca_cert_der(&der)
        .map_err(|e| format!("the old one cannot be parsed: {e}"))
}

fn show(names: &[SanType]) -> String {
    let shown: Vec<String> = names
        .iter()
        .map(|n| match n {
            SanType::DnsName(d) => d.as_str().to_string(),
            SanType::IpAddress(ip) => ip.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    shown.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn names_hold_the_host_name_and_loopback_once() {
        assert_eq!(
            names("Mail.Example.TEST"),
            ["mail.example.test", "localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(names("localhost"), ["localhost", "127.0.0.1", "::1"]);
    }

    #[test]
    fn a_fresh_certificate_is_not_stale_and_an_ending_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = paths(dir.path());
        assert_eq!(
            ensure("mx.test", dir.path(), now()).unwrap().as_deref(),
            Some("there was none")
        );
        assert_eq!(ensure("mx.test", dir.path(), now()).unwrap(), None);
        // The same certificate, seen 368 days later: 29 days left.
        let later = now() + Duration::days(LIFETIME_DAYS - 29);
        assert!(stale(&cert, "mx.test", later).unwrap().contains("ends"));
        // A changed host name is a reason too.
        assert!(stale(&cert, "mail.test", now()).unwrap().contains("names"));
        // Garbage in the file is replaced, not fatal.
        fs::write(&cert, "junk").unwrap();
        assert!(ensure("mx.test", dir.path(), now()).unwrap().is_some());
        assert!(key.exists());
        assert_eq!(ensure("mx.test", dir.path(), now()).unwrap(), None);
    }
}
