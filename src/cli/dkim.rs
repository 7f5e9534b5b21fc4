//! `portcullis dkim generate DOMAIN [--selector S] [--algorithm ed25519|rsa]`:
//! the arguments of [`admin::dkim::generate`] and the record to publish
//! (docs/deliverability.md).

use std::path::Path;

use clap::{Args, Subcommand};
use portcullis_server::admin::{
    self,
    dkim::{Algorithm, NewKey},
};

use super::output::say;
use super::Failure;

#[derive(Subcommand, Debug)]
pub(crate) enum DkimCommand {
    /// Create a signing key for DOMAIN and print the TXT record to publish.
    Generate(GenerateArgs),
}

#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    /// The signing domain (`d=`), normally a local domain.
    pub domain: String,
    /// The selector (`s=`); default: the algorithm and today's date, e.g. ed25519-20260101.
    #[arg(long)]
    pub selector: Option<String>,
    /// ed25519 (RFC 8463) or rsa (2048 bits).
    #[arg(long, value_enum, default_value = "ed25519")]
    pub algorithm: Algorithm,
}

pub(super) fn run(config: &Path, cmd: DkimCommand) -> Result<(), Failure> {
    let DkimCommand::Generate(args) = cmd;
    let key = admin::dkim::generate(
        config,
        NewKey {
            domain: args.domain,
            selector: args.selector,
            algorithm: args.algorithm,
        },
    )?;
    if !key.local {
        eprintln!(
            "note: {} is not in local_domains; mail is signed by the domain of its From: address",
            key.domain
        );
    }
    say!("; DKIM key written to {}", key.path.display())?;
    say!("; publish this record, then run `portcullis reload`:")?;
    say!("{}", key.record)
}
