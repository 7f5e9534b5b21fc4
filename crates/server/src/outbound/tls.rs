//! TLS client configurations for outbound STARTTLS (RFC 3207): TLS 1.2 and
//! 1.3 with rustls and the ring provider.
//!
//! Two trust levels, as Postfix has:
//! - `verified`: the WebPKI roots plus `tls.outbound_ca`; used towards the
//!   smarthost (it gets our password) and for every host with
//!   `tls.outbound = "require"`.
//! - `unverified`: any certificate is accepted (Postfix's `may` level) for
//!   opportunistic STARTTLS to MX hosts. Why: MX certificates are rarely
//!   valid for the MX name, and refusing them would mean sending in
//!   plaintext instead; encryption still defeats passive eavesdropping. (A
//!   domain with an MTA-STS policy in enforce mode gets `verified`.) The
//!   handshake signatures are still checked, so the session is sound; only
//!   the peer's identity is unproven.

use std::fs;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use portcullis_tls::AcceptAnyCertificate;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// Both client configurations.
#[derive(Clone)]
pub(super) struct TlsClients {
    /// Certificates checked against the WebPKI roots and `tls.outbound_ca`.
    pub verified: Arc<ClientConfig>,
    /// Any certificate accepted (opportunistic TLS to MX hosts).
    pub unverified: Arc<ClientConfig>,
}

/// Builds both configurations; `outbound_ca` is a PEM file of extra trust anchors.
pub(super) fn build(outbound_ca: Option<&Path>) -> Result<TlsClients, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = outbound_ca {
        for cert in read_certs(path)? {
            roots.add(cert).map_err(|e| {
                format!(
                    "tls.outbound_ca {}: unusable certificate: {e}",
                    path.display()
                )
            })?;
        }
    }
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    let verified = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let unverified = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    Ok(TlsClients {
        verified: Arc::new(verified),
        unverified: Arc::new(unverified),
    })
}

/// The name a certificate is checked against: the host name we connected
/// to, or its address for an address literal or an IP next hop.
pub(super) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("\"{host}\" is not a TLS server name: {e}"))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = fs::File::open(path)
        .map_err(|e| format!("cannot read tls.outbound_ca {}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls.outbound_ca {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls.outbound_ca {} holds no certificate",
            path.display()
        ));
    }
    Ok(certs)
}
