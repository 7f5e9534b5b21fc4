//! TLS server configuration: TLS 1.2 and 1.3 only, with rustls and the ring
//! provider, in the server's cipher order. The certificate comes from
//! `tls.cert`/`tls.key` (PEM, full chain), or is the self-signed one that
//! [`self_signed`] keeps in the data dir.

use std::fs;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use portcullis_config::Config;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use super::self_signed;

/// Builds the rustls server config. Without `tls.cert`, the self-signed
/// certificate in the data dir is generated first when it is missing or
/// stale (see [`self_signed`]), if `generate`; a check passes false, and
/// then gets None and nothing is written.
pub(crate) fn load(cfg: &Config, generate: bool) -> Result<Option<Arc<ServerConfig>>, String> {
    match (&cfg.tls.cert, &cfg.tls.key) {
        (Some(cert), Some(key)) => build(read_certs(cert)?, read_key(key)?)
            .map(Some)
            .map_err(|e| does_not_fit(cert, key, &e)),
        // Our own certificate is never a reason to refuse a configuration:
        // `serve` makes a new one when it is missing or unusable.
        (None, None) if !generate => Ok(None),
        (None, None) => load_self_signed(cfg).map(Some),
        _ => Err("tls.cert and tls.key must be set together".to_string()),
    }
}

fn load_self_signed(cfg: &Config) -> Result<Arc<ServerConfig>, String> {
    let now = time::OffsetDateTime::now_utc();
    let (cert, key) = self_signed::paths(&cfg.data_dir);
    if let Err(e) = self_signed::ensure(&cfg.hostname, &cfg.data_dir, now) {
        // A renewal that cannot be written (disk full) keeps the current
        // pair in service rather than turning TLS off; only a first
        // generation that fails is an error.
        if !(cert.exists() && key.exists()) {
            return Err(e);
        }
        tracing::warn!("keeping the current self-signed certificate: {e}");
    }
    match build(read_certs(&cert)?, read_key(&key)?) {
        Ok(config) => Ok(config),
        // Our own pair, cut in two by a crash between its writes: make a new one.
        Err(e) => {
            tracing::info!(
                "generating the self-signed certificate again: {}",
                does_not_fit(&cert, &key, &e)
            );
            self_signed::generate(&cfg.hostname, &cert, &key, now)?;
            build(read_certs(&cert)?, read_key(&key)?).map_err(|e| does_not_fit(&cert, &key, &e))
        }
    }
}

fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    // Our cipher order wins over the client's: the provider lists the
    // strongest suites first, and a client preferring a weaker one it also
    // offers should not get it (testssl's "server cipher order" check).
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

fn does_not_fit(cert: &Path, key: &Path, e: &rustls::Error) -> String {
    format!(
        "certificate {} does not fit key {}: {e}",
        cert.display(),
        key.display()
    )
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = fs::File::open(path)
        .map_err(|e| format!("cannot read tls.cert {}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls.cert {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("tls.cert {} holds no certificate", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let file =
        fs::File::open(path).map_err(|e| format!("cannot read tls.key {}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| format!("tls.key {} is not valid PEM: {e}", path.display()))?
        .ok_or_else(|| format!("tls.key {} holds no private key", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, hostname: &str) -> Config {
        let text = format!(
            "hostname = \"{hostname}\"\ndata_dir = \"{}\"\n",
            dir.join("data").display()
        );
        Config::from_str(&text, &dir.join("portcullis.toml")).unwrap()
    }

    #[test]
    fn a_renewal_that_cannot_be_written_keeps_the_current_certificate() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&config(dir.path(), "mx.test"), true)
            .unwrap()
            .is_some());
        let (cert, _) = self_signed::paths(&dir.path().join("data"));
        let before = fs::read(&cert).unwrap();
        // A new host name calls for a new certificate, but its key cannot be
        // written: the temporary file's name is taken by a directory.
        fs::create_dir(cert.with_file_name("key.tmp")).unwrap();
        let renamed = config(dir.path(), "mail.test");
        assert!(load(&renamed, true).unwrap().is_some());
        assert_eq!(fs::read(&cert).unwrap(), before);
        // Once it can be written, it is.
        fs::remove_dir(cert.with_file_name("key.tmp")).unwrap();
        assert!(load(&renamed, true).unwrap().is_some());
        assert_ne!(fs::read(&cert).unwrap(), before);
    }
}
