//! `dkim generate DOMAIN [--selector S] [--algorithm ed25519|rsa]`: makes a
//! DKIM signing key in `<data_dir>/dkim/` and gives the DNS TXT record to
//! publish (docs/deliverability.md).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Error;
pub use crate::dkim::Algorithm;

/// The key to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKey {
    /// The signing domain (`d=`), as typed.
    pub domain: String,
    /// The selector (`s=`); None: the algorithm and today's date, e.g. ed25519-20260101.
    pub selector: Option<String>,
    /// ed25519 (RFC 8463) or rsa (2048 bits).
    pub algorithm: Algorithm,
}

/// A key made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedKey {
    /// The signing domain, lower-case.
    pub domain: String,
    /// The selector.
    pub selector: String,
    /// Where the private key was written.
    pub path: PathBuf,
    /// The TXT record to publish.
    pub record: String,
    /// Whether the domain is one of `local_domains` (otherwise mail is
    /// signed by the domain of its From: address).
    pub local: bool,
}

/// `dkim generate`.
pub fn generate(config: &Path, key: NewKey) -> Result<GeneratedKey, Error> {
    let domain = domain_name(&key.domain)?;
    let selector = match key.selector {
        Some(s) if is_dns_name(&s) => s.to_ascii_lowercase(),
        Some(s) => {
            return Err(Error::bad_input(format!(
                "\"{s}\" is not a valid selector (letters, digits, '-', labels separated by '.')"
            )))
        }
        None => {
            let today = time::OffsetDateTime::now_utc().date();
            format!(
                "{}-{:04}{:02}{:02}",
                key.algorithm.tag(),
                today.year(),
                u8::from(today.month()),
                today.day()
            )
        }
    };
    let cfg = super::config::load(config)?;
    let record = crate::dkim::generate(&cfg.data_dir, &domain, &selector, key.algorithm)
        .map_err(Error::internal)?;
    Ok(GeneratedKey {
        local: cfg
            .local_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&domain)),
        path: crate::dkim::key_path(&cfg.data_dir, &domain, &selector),
        domain,
        selector,
        record,
    })
}

/// `name` lower-case without its final dot, if it is a public domain name
/// (a host name with at least one dot).
pub(super) fn domain_name(name: &str) -> Result<String, Error> {
    let domain = name.trim_end_matches('.').to_ascii_lowercase();
    if is_dns_name(&domain) && domain.contains('.') {
        Ok(domain)
    } else {
        Err(Error::bad_input(format!("\"{name}\" is not a domain name")))
    }
}

/// RFC 1035 §2.3.1 host name syntax (labels of letters, digits and '-').
pub(super) fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}
