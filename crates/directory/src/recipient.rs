//! The decision for one RCPT TO (docs/reference.md §3), pure: is the recipient local (and
//! known), remote and allowed to relay, or refused — and which rule said so.

use std::collections::HashSet;
use std::net::IpAddr;

use portcullis_smtp::{Domain, Mailbox, Reply};

use crate::aliases::{resolve_in_domain, LocalResolution, Target};
use crate::source::Site;
use portcullis_relay::range::canonical;
use portcullis_relay::{RelayDecision, RelayPolicy, ReverseDns};

/// What the server knows when it rules on a recipient.
pub struct Context<'a> {
    /// The node's `hostname`, always a local domain.
    pub hostname: &'a str,
    /// The site in force: its local domains, users and aliases.
    pub site: &'a Site,
    /// The relay policy compiled from the site, for recipients in other domains.
    pub policy: &'a RelayPolicy,
    /// The machine's own addresses: `user@[own address]` is local.
    pub own_addrs: &'a HashSet<IpAddr>,
}

/// The ruling on one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A local recipient, delivered to these targets.
    Local(Vec<Target>),
    /// A local domain but no such user or alias.
    UnknownUser,
    /// A remote recipient: the relay policy's verdict.
    Remote(RelayDecision),
}

impl Decision {
    /// `None` when the recipient is accepted, else the reply to send.
    pub fn reply(&self) -> Option<Reply> {
        match self {
            Decision::Local(_) => None,
            Decision::UnknownUser => Some(Reply::new(
                550,
                (5, 1, 1),
                "Recipient address rejected: user unknown",
            )),
            Decision::Remote(d) => d.reply(),
        }
    }

    /// Whether the recipient is accepted (no refusal reply).
    pub fn accepted(&self) -> bool {
        self.reply().is_none()
    }

    /// The rule in log form: `local`, `unknown_user`, or the relay rule.
    pub fn rule(&self) -> String {
        match self {
            Decision::Local(_) => "local".to_string(),
            Decision::UnknownUser => "unknown_user".to_string(),
            Decision::Remote(d) => d.rule(),
        }
    }

    /// One sentence for `portcullis check-relay`.
    pub fn explain(&self, rcpt: &Mailbox, client: IpAddr) -> String {
        match self {
            Decision::Local(targets) => {
                let to: Vec<String> = targets
                    .iter()
                    .map(|t| match t {
                        Target::Mailbox(user) => format!("mailbox {user}"),
                        Target::Remote(addr) => format!("forward to {addr}"),
                        Target::Missing(name) => {
                            format!("{name}, which does not exist (bounced with 5.1.1)")
                        }
                    })
                    .collect();
                format!(
                    "local delivery: {rcpt} is local (delivered to {})",
                    to.join(", ")
                )
            }
            Decision::UnknownUser => {
                format!("rejected: {rcpt} is in a local domain but no such user or alias exists")
            }
            Decision::Remote(d) => d.explain(client),
        }
    }
}

/// Whether `domain` is one of ours: a `local_domains` name, the server's own
/// `hostname`, the bare `postmaster` (empty name), or an address literal of
/// our own address.
///
/// The host name is always local, as Postfix's `mydestination` includes
/// `$myhostname`: `postmaster@<hostname>` must always reach someone (RFC 5321
/// §4.5.1), and `user%remote@<hostname>` must be an unknown local user rather
/// than mail relayed back to ourselves.
pub fn is_local_domain(domain: &Domain, ctx: &Context<'_>) -> bool {
    match domain {
        Domain::Name(n) => {
            n.is_empty()
                || n.eq_ignore_ascii_case(ctx.hostname)
                || ctx
                    .site
                    .local_domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(n))
        }
        Domain::Literal(ip) => ctx.own_addrs.contains(&canonical(*ip)),
    }
}

/// The domain whose users (`local@domain`) a local recipient may be: its
/// name; an address literal has none.
pub fn domain_name(domain: &Domain) -> &str {
    match domain {
        Domain::Name(n) => n,
        Domain::Literal(_) => "",
    }
}

/// One sentence per `[aliases]` target that leads nowhere (see
/// [`crate::aliases::dangling_targets`]), for edits, `config check` and reload.
pub fn alias_warnings(site: &Site, hostname: &str) -> Vec<String> {
    let mut domains = site.local_domains.clone();
    domains.push(hostname.to_string());
    crate::aliases::dangling_targets(&site.aliases, &site.users, &domains)
}

/// Rules on one recipient. The sender never matters (seed: "regardless of the
/// originating mail from: value"), so it is not a parameter.
pub fn decide(
    ctx: &Context<'_>,
    rcpt: &Mailbox,
    client: IpAddr,
    rdns: &ReverseDns,
    auth_user: Option<&str>,
) -> Decision {
    if is_local_domain(&rcpt.domain, ctx) {
        // The local part is never rewritten: `a%b`, `a!b` and `"a@b"` are looked
        // up as names and are simply unknown users (no percent hack, no bang path).
        let domain = domain_name(&rcpt.domain);
        return match resolve_in_domain(
            &rcpt.local_unquoted(),
            domain,
            &ctx.site.aliases,
            &ctx.site.users,
        ) {
            LocalResolution::Deliver(targets) => Decision::Local(targets),
            LocalResolution::Unknown => Decision::UnknownUser,
        };
    }
    Decision::Remote(ctx.policy.decide(canonical(client), rdns, auth_user))
}
