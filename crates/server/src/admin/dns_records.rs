//! `dns-records [DOMAIN]`: the DNS records each local domain should publish
//! (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT), as zone-file lines ready to
//! paste, with the MTA-STS policy file to serve (docs/deliverability.md).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dkim::is_dns_name;
use super::Error;
use crate::dkim::{self, Keys};

/// RFC 8461 §3.2: how long senders may cache the policy (one week).
const MTA_STS_MAX_AGE: u64 = 604_800;

/// The records of one domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRecords {
    /// The domain, lower-case.
    pub domain: String,
    /// Zone-file lines, with `;` comments saying what each is for.
    pub lines: Vec<String>,
}

/// The records of `domain`, or of every local domain with a public name.
pub fn dns_records(config: &Path, domain: Option<&str>) -> Result<Vec<DomainRecords>, Error> {
    let cfg = super::config::load(config)?;
    let domains: Vec<String> = match domain {
        Some(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !is_dns_name(&d) || !d.contains('.') {
                return Err(Error::bad_input(format!("\"{d}\" is not a domain name")));
            }
            vec![d]
        }
        // Names without a dot (localhost, a bare host name) and address
        // literals have no public DNS.
        None => cfg
            .local_domains
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .filter(|d| d.contains('.') && is_dns_name(d))
            .collect(),
    };
    if domains.is_empty() {
        return Err(Error::internal(
            "no local domain has a public DNS name; name one: portcullis dns-records DOMAIN",
        ));
    }
    let (keys, _) = Keys::load(&cfg.data_dir);
    let host = cfg.hostname.trim_end_matches('.').to_ascii_lowercase();
    Ok(domains
        .into_iter()
        .map(|d| DomainRecords {
            lines: records(&d, &host, &keys),
            domain: d,
        })
        .collect())
}

/// The lines for one domain.
fn records(d: &str, host: &str, keys: &Keys) -> Vec<String> {
    let policy = format!("version: STSv1\nmode: testing\nmx: {host}\nmax_age: {MTA_STS_MAX_AGE}\n");
    let digest = ring::digest::digest(&ring::digest::SHA256, policy.as_bytes());
    let id: String = digest.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = vec![
        format!("; ---- {d} ----"),
        "; MX: mail for the domain comes to this server.".to_string(),
        format!("{d}. IN MX 10 {host}."),
        "; SPF (RFC 7208): the domain's MX hosts send its mail. Once every server sending"
            .to_string(),
        "; as the domain is listed, tighten ~all to -all.".to_string(),
        format!("{d}. IN TXT \"v=spf1 mx ~all\""),
        "; DKIM (RFC 6376): the public half of each signing key.".to_string(),
    ];
    let domain_keys = keys.of(d);
    if domain_keys.is_empty() {
        out.push(format!(
            "; no DKIM key yet: run `portcullis dkim generate {d}` (and once more with --algorithm rsa)"
        ));
    }
    for key in domain_keys {
        out.push(dkim::txt_record(
            &key.domain,
            &key.selector,
            key.algorithm,
            &key.public,
        ));
    }
    out.extend([
        "; DMARC (RFC 7489): p=none only collects reports. After a few weeks of clean".to_string(),
        "; reports, tighten it to p=quarantine, then p=reject.".to_string(),
        format!("_dmarc.{d}. IN TXT \"v=DMARC1; p=none; rua=mailto:postmaster@{d}\""),
        "; MTA-STS (RFC 8461): change the id whenever the policy file changes.".to_string(),
        format!("_mta-sts.{d}. IN TXT \"v=STSv1; id={id}\""),
        "; TLS-RPT (RFC 8460): where senders report failed TLS connections.".to_string(),
        format!("_smtp._tls.{d}. IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@{d}\""),
        format!("; Serve this file as https://mta-sts.{d}/.well-known/mta-sts.txt from any"),
        format!("; HTTPS server with a valid certificate for mta-sts.{d} (point an A or"),
        format!("; CNAME record for mta-sts.{d} at it). Switch to mode: enforce once the"),
        "; TLS-RPT reports are clean.".to_string(),
    ]);
    out.extend(policy.lines().map(|l| format!(";   {l}")));
    out
}
