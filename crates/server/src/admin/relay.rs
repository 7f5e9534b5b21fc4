//! `check-relay`: the server's recipient ruling, explained, from the same
//! pure policy and relay-list compilation the server uses
//! (docs/reference.md §1).

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use portcullis_directory::recipient::{self, Context, Decision};
use portcullis_relay::range::canonical;
use portcullis_relay::{Detail, RelayPolicy, ReverseDns};
use portcullis_smtp::address::{parse_forward_path, Mailbox};
use serde::{Deserialize, Serialize};

use super::Error;
use crate::dns::Dns;
use crate::runtime::interface_addresses;
use crate::site::compile_relay_list;

/// What to rule on: a client address, an optional AUTH identity, and the
/// recipients (with or without angle brackets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayQuestion {
    /// The client address, as typed.
    pub client: String,
    /// Rule as if the session had authenticated as this user.
    pub auth: Option<String>,
    /// The recipients, as typed.
    pub recipients: Vec<String>,
}

/// How a recipient is ruled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    /// A mailbox or alias of a local domain.
    Local,
    /// A local domain without that user or alias.
    UnknownUser,
    /// Another domain, and the client may relay.
    RelayAllowed,
    /// Another domain, and the relay answer waits on DNS (`451`).
    RelayTempfail,
    /// Another domain, and the client may not relay.
    RelayDenied,
}

/// The ruling for one recipient (`check-relay --json` prints a list of them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether RCPT TO would be accepted.
    pub accepted: bool,
    /// The client address, canonical (an IPv4-mapped address as IPv4).
    pub client: String,
    /// The sentence, e.g. `relay allowed: 192.168.41.7 matches "192.168.40-43.*"`.
    pub explanation: String,
    /// The ruling in one word, for scripts.
    pub kind: VerdictKind,
    /// The reply RCPT TO would get when refused.
    pub reply: Option<String>,
    /// The recipient as typed.
    pub recipient: String,
    /// The rule that decided.
    pub rule: String,
}

/// Rules on every recipient of `question` under the configuration at `path`.
pub fn check_relay(path: &Path, question: &RelayQuestion) -> Result<Vec<Verdict>, Error> {
    let cfg = super::config::load(path)?;
    let client: IpAddr = question.client.parse().map_err(|_| {
        Error::bad_input(format!(
            "--client \"{}\" is not an IP address",
            question.client
        ))
    })?;
    let client = canonical(client);
    let mailboxes = question
        .recipients
        .iter()
        .map(|r| mailbox(r).map(|mb| (r, mb)))
        .collect::<Result<Vec<_>, Error>>()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(e.to_string()))?;
    let dns = Dns::new(&cfg.dns).map_err(|e| Error::internal(format!("cannot set up DNS: {e}")))?;
    let directory = crate::directory::open_directory(&cfg).map_err(Error::bad_input)?;
    let site = directory
        .load(None)
        .map_err(|e| Error::internal(e.to_string()))?;
    let (list, _report) = rt.block_on(compile_relay_list(
        &site.relay.allow,
        &dns,
        None,
        Detail::Problems,
    ));
    let rdns = if list.needs_reverse_dns(client) {
        rt.block_on(dns.verified_names(client))
    } else {
        ReverseDns::NotChecked
    };
    let policy = RelayPolicy {
        local_only: site.relay.local_only,
        restricted: site.relay.restricted,
        authenticated: site.relay.authenticated,
        list: Arc::new(list),
    };
    let mut own: HashSet<IpAddr> = interface_addresses().into_iter().collect();
    own.insert(IpAddr::from([127, 0, 0, 1]));
    own.insert(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
    let ctx = Context {
        hostname: &cfg.hostname,
        site: &site,
        policy: &policy,
        own_addrs: &own,
    };
    Ok(mailboxes
        .into_iter()
        .map(|(raw, mb)| {
            let d = recipient::decide(&ctx, &mb, client, &rdns, question.auth.as_deref());
            Verdict {
                accepted: d.accepted(),
                client: client.to_string(),
                explanation: d.explain(&mb, client),
                kind: kind(&d),
                reply: d.reply().map(|r| r.to_string()),
                recipient: raw.clone(),
                rule: d.rule(),
            }
        })
        .collect())
}

fn mailbox(raw: &str) -> Result<Mailbox, Error> {
    let path = if raw.starts_with('<') {
        raw.to_string()
    } else {
        format!("<{raw}>")
    };
    parse_forward_path(&path, true)
        .map_err(|e| Error::bad_input(format!("recipient \"{raw}\" is not a valid address: {e}")))
}

fn kind(d: &Decision) -> VerdictKind {
    match d {
        Decision::Local(_) => VerdictKind::Local,
        Decision::UnknownUser => VerdictKind::UnknownUser,
        Decision::Remote(r) if r.reply().is_none() => VerdictKind::RelayAllowed,
        Decision::Remote(r) if r.reply().is_some_and(|x| x.code < 500) => {
            VerdictKind::RelayTempfail
        }
        Decision::Remote(_) => VerdictKind::RelayDenied,
    }
}
