//! `portcullis check-relay`: the arguments of [`admin::relay::check_relay`]
//! and its verdicts as sentences or JSON (docs/reference.md §1).

use std::path::Path;

use clap::Args;
use portcullis_server::admin::{self, relay::RelayQuestion};

use super::output::say;
use super::Failure;

#[derive(Args, Debug)]
pub(crate) struct CheckRelayArgs {
    /// The client address to rule for.
    #[arg(long)]
    client: String,
    /// Rule as if the session had authenticated as USER.
    #[arg(long)]
    auth: Option<String>,
    /// Print JSON instead of sentences.
    #[arg(long)]
    json: bool,
    /// Recipient addresses (with or without angle brackets).
    #[arg(required = true)]
    recipients: Vec<String>,
}

pub(super) fn run(config: &Path, args: CheckRelayArgs) -> Result<(), Failure> {
    let question = RelayQuestion {
        client: args.client,
        auth: args.auth,
        recipients: args.recipients,
    };
    let verdicts = admin::relay::check_relay(config, &question)?;
    if args.json {
        let json = serde_json::to_value(&verdicts)
            .map_err(|e| Failure::runtime(format!("cannot write JSON: {e}")))?;
        return say!("{json}");
    }
    for v in &verdicts {
        say!("{}: {}", v.recipient, v.explanation)?;
    }
    Ok(())
}
