//! `portcullis check-relay`: the server's recipient ruling, explained, from
//! the same pure policy the server uses (docs/reference.md §1).

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use clap::Args;
use portcullis_directory::recipient::{self, Context, Decision};
use portcullis_directory::users::UserDb;
use portcullis_relay::{RelayPolicy, ReverseDns};
use portcullis_smtp::address::parse_forward_path;

use super::output::say;
use super::{load_config, Failure};
use portcullis_relay::range::canonical;
use portcullis_server::dns::Dns;
use portcullis_server::runtime::{compile_relay_list, interface_addresses};

#[derive(Args, Debug)]
pub struct CheckRelayArgs {
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

pub fn run(config: &Path, args: CheckRelayArgs) -> Result<(), Failure> {
    let cfg = load_config(config)?;
    let client: IpAddr = args.client.parse().map_err(|_| {
        Failure::input(format!("--client \"{}\" is not an IP address", args.client))
    })?;
    let client = canonical(client);
    let mut mailboxes = Vec::new();
    for r in &args.recipients {
        let path = if r.starts_with('<') {
            r.clone()
        } else {
            format!("<{r}>")
        };
        let mb = parse_forward_path(&path, true).map_err(|e| {
            Failure::input(format!("recipient \"{r}\" is not a valid address: {e}"))
        })?;
        mailboxes.push((r.clone(), mb));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let dns =
        Dns::new(&cfg.dns).map_err(|e| Failure::runtime(format!("cannot set up DNS: {e}")))?;
    let (list, _report) = rt.block_on(compile_relay_list(&cfg.relay.allow, &dns, None));
    let rdns = if list.needs_reverse_dns(client) {
        rt.block_on(dns.verified_names(client))
    } else {
        ReverseDns::NotChecked
    };
    let policy = RelayPolicy {
        local_only: cfg.relay.local_only,
        restricted: cfg.relay.restricted,
        authenticated: cfg.relay.authenticated,
        list: Arc::new(list),
    };
    let users =
        UserDb::load(&cfg.data_dir.join("users")).map_err(|e| Failure::runtime(e.to_string()))?;
    let mut own: HashSet<IpAddr> = interface_addresses().into_iter().collect();
    own.insert(IpAddr::from([127, 0, 0, 1]));
    own.insert(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
    let ctx = Context {
        config: &cfg,
        users: &users,
        policy: &policy,
        own_addrs: &own,
    };
    let mut json = Vec::new();
    for (raw, mb) in &mailboxes {
        let d = recipient::decide(&ctx, mb, client, &rdns, args.auth.as_deref());
        let explanation = d.explain(mb, client);
        if args.json {
            json.push(serde_json::json!({
                "recipient": raw,
                "client": client.to_string(),
                "accepted": d.accepted(),
                "kind": kind(&d),
                "rule": d.rule(),
                "reply": d.reply().map(|r| r.to_string()),
                "explanation": explanation,
            }));
        } else {
            say!("{raw}: {explanation}")?;
        }
    }
    if args.json {
        say!("{}", serde_json::Value::Array(json))?;
    }
    Ok(())
}

fn kind(d: &Decision) -> &'static str {
    match d {
        Decision::Local(_) => "local",
        Decision::UnknownUser => "unknown_user",
        Decision::Remote(r) if r.reply().is_none() => "relay_allowed",
        Decision::Remote(r) if r.reply().is_some_and(|x| x.code < 500) => "relay_tempfail",
        Decision::Remote(_) => "relay_denied",
    }
}
