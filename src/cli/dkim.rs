//! `portcullis dkim generate DOMAIN [--selector S] [--algorithm ed25519|rsa]`:
//! makes a DKIM signing key in `<data_dir>/dkim/` and prints the DNS TXT
//! record to publish (docs/deliverability.md).

use std::path::Path;

use clap::{Args, Subcommand};

use super::output::say;
use super::{load_config, Failure};
use portcullis_server::dkim::{self, Algorithm};

#[derive(Subcommand, Debug)]
pub enum DkimCommand {
    /// Create a signing key for DOMAIN and print the TXT record to publish.
    Generate(GenerateArgs),
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The signing domain (`d=`), normally a local domain.
    pub domain: String,
    /// The selector (`s=`); default: the algorithm and today's date, e.g. ed25519-20260101.
    #[arg(long)]
    pub selector: Option<String>,
    /// ed25519 (RFC 8463) or rsa (2048 bits).
    #[arg(long, value_enum, default_value = "ed25519")]
    pub algorithm: Algorithm,
}

pub fn run(config: &Path, cmd: DkimCommand) -> Result<(), Failure> {
    let DkimCommand::Generate(args) = cmd;
    let domain = args.domain.trim_end_matches('.').to_ascii_lowercase();
    if !is_dns_name(&domain) || !domain.contains('.') {
        return Err(Failure::input(format!(
            "\"{}\" is not a domain name",
            args.domain
        )));
    }
    let selector = match args.selector {
        Some(s) if is_dns_name(&s) => s.to_ascii_lowercase(),
        Some(s) => {
            return Err(Failure::input(format!(
                "\"{s}\" is not a valid selector (letters, digits, '-', labels separated by '.')"
            )))
        }
        None => {
            let today = time::OffsetDateTime::now_utc().date();
            format!(
                "{}-{:04}{:02}{:02}",
                args.algorithm.tag(),
                today.year(),
                u8::from(today.month()),
                today.day()
            )
        }
    };
    let cfg = load_config(config)?;
    let record = dkim::generate(&cfg.data_dir, &domain, &selector, args.algorithm)
        .map_err(Failure::runtime)?;
    if !cfg
        .local_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&domain))
    {
        eprintln!("note: {domain} is not in local_domains; mail is signed by the domain of its From: address");
    }
    say!(
        "; DKIM key written to {}",
        dkim::key_path(&cfg.data_dir, &domain, &selector).display()
    )?;
    say!("; publish this record, then run `portcullis reload`:")?;
    say!("{record}")
}

/// RFC 1035 §2.3.1 host name syntax (labels of letters, digits and '-').
pub fn is_dns_name(s: &str) -> bool {
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
