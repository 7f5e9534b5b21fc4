//! TLS to the database with rustls (ring), as the URL's `sslmode` asks,
//! with libpq's meanings: `prefer` and `require` encrypt without checking
//! who answers (unless `sslrootcert` names roots: then `require` checks as
//! `verify-ca`), `verify-ca` checks the certificate's chain, and
//! `verify-full` its chain and host name. The roots are `sslrootcert`'s
//! PEM file, else the system's.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use portcullis_tls::AcceptAnyCertificate;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::url::{SslMode, Target};

/// The connector for `target`, or one sentence saying why there is none.
pub(crate) fn connector(target: &Target) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = || roots(target.root_cert.as_deref());
    let verifier: Arc<dyn ServerCertVerifier> = match (target.ssl_mode, &target.root_cert) {
        (SslMode::VerifyFull, _) => webpki(roots()?, &provider)?,
        (SslMode::VerifyCa, _) | (SslMode::Require, Some(_)) => {
            Arc::new(ChainOnly(webpki(roots()?, &provider)?))
        }
        // Encrypted against eavesdroppers, not against an impostor: what
        // libpq's prefer and require promise.
        // `prefer` and `require` without roots: any certificate, the
        // handshake's signatures still checked.
        _ => Arc::new(AcceptAnyCertificate(provider.clone())),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Why a handshake failed, in the operator's terms where rustls's are
/// obscure; None when the failure was not the certificate's.
pub(crate) fn explain(
    error: &(dyn std::error::Error + 'static),
    target: &Target,
) -> Option<String> {
    let cert = certificate_error(error)?;
    let roots = match &target.root_cert {
        Some(path) => format!("sslrootcert {}", path.display()),
        None => "the system's root certificates".to_string(),
    };
    let host = match target.config.get_hosts().first() {
        Some(Host::Tcp(name)) => format!("{name:?}"),
        _ => "named in the URL".to_string(),
    };
    let mode = target.ssl_mode.name();
    Some(match cert {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            format!("the server's certificate is not signed by a root in {roots} (sslmode={mode})")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("the server's certificate is not valid for the host {host} (sslmode={mode})")
        }
        other => format!("the server's certificate is refused: {other:?} (sslmode={mode})"),
    })
}

/// The certificate error somewhere in `error`'s chain (rustls's errors
/// reach tokio-postgres inside an `io::Error`).
fn certificate_error(error: &(dyn std::error::Error + 'static)) -> Option<CertificateError> {
    let mut next = Some(error);
    while let Some(e) = next {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map_or(e, |inner| inner as &(dyn std::error::Error + 'static));
        if let Some(rustls::Error::InvalidCertificate(cert)) = inner.downcast_ref() {
            return Some(cert.clone());
        }
        next = e.source();
    }
    None
}

/// The roots in the PEM file `path` (read at every connection, as libpq
/// does, so a renewed file holds at once), else the system's.
fn roots(path: Option<&Path>) -> Result<RootCertStore, String> {
    let Some(path) = path else {
        return system_roots().clone();
    };
    let mut store = RootCertStore::empty();
    let unreadable = |e: &dyn std::fmt::Display| format!("sslrootcert {}: {e}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(unreadable(&"holds no certificate"));
    }
    Ok(store)
}

/// The system's roots, read once: a node that cannot reach the database
/// tries again often, and the system's store is some hundred files.
fn system_roots() -> &'static Result<RootCertStore, String> {
    static ROOTS: OnceLock<Result<RootCertStore, String>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = store.add_parsable_certificates(found.certs);
        match added {
            0 => Err(
                "the system has no root certificates: name them with sslrootcert=PATH in the URL"
                    .into(),
            ),
            _ => Ok(store),
        }
    })
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("TLS: {e}"))
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is
/// not compared (webpki checks it last, after the chain).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
