//! TLS server configuration: TLS 1.2 and 1.3 only, with rustls and the ring
//! provider. The certificate comes from `tls.cert`/`tls.key` (PEM, full
//! chain), or is a self-signed one for `hostname` generated into the data dir
//! on first start (SPEC §1).

use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_core::config::Config;
use rustls::ServerConfig;

/// Where the generated self-signed certificate lives.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Builds the rustls server config, generating the self-signed certificate
/// when no certificate is configured and none was generated yet, if
/// `generate` (a check passes false: None then, and nothing is written).
pub fn load(cfg: &Config, generate: bool) -> Result<Option<Arc<ServerConfig>>, String> {
    let (cert_path, key_path) = match (&cfg.tls.cert, &cfg.tls.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => {
            let (c, k) = self_signed_paths(&cfg.data_dir);
            if !c.exists() || !k.exists() {
                if !generate {
                    return Ok(None);
                }
                generate_self_signed(&cfg.hostname, &c, &k)?;
                tracing::info!(cert = %c.display(), "generated a self-signed certificate for {}", cfg.hostname);
            }
            (c, k)
        }
        _ => return Err("tls.cert and tls.key must be set together".to_string()),
    };
    let certs = read_certs(&cert_path)?;
    let key = read_key(&key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "certificate {} does not fit key {}: {e}",
                cert_path.display(),
                key_path.display()
            )
        })?;
    Ok(Some(Arc::new(config)))
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
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

fn read_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>, String> {
    let file =
        fs::File::open(path).map_err(|e| format!("cannot read tls.key {}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| format!("tls.key {} is not valid PEM: {e}", path.display()))?
        .ok_or_else(|| format!("tls.key {} holds no private key", path.display()))
}

fn generate_self_signed(hostname: &str, cert: &Path, key: &Path) -> Result<(), String> {
    let names = vec![hostname.to_string(), "localhost".to_string()];
    let failed = |e: rcgen::Error| format!("cannot generate a self-signed certificate: {e}");
    let mut params = rcgen::CertificateParams::new(names).map_err(failed)?;
    // The subject names the host too, so a client showing the certificate
    // (swaks, openssl s_client) shows whose it is.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let key_pair = rcgen::KeyPair::generate().map_err(failed)?;
    let generated = params.self_signed(&key_pair).map_err(failed)?;
    if let Some(dir) = cert.parent() {
        super::ensure_private_dir(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // The key is written 0600 through the same atomic writer as every secret.
    super::write_private_file(key, key_pair.serialize_pem().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", key.display()))?;
    super::write_private_file(cert, generated.pem().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
    Ok(())
}
