//! Each recipient is ruled on once, at RCPT (docs/reference.md §3), and the
//! message is stored against those rulings at the end of DATA: where every
//! accepted recipient goes is worked out when it is accepted and kept for
//! its transaction, never decided again with whatever the users file or
//! the aliases say by then.

use std::collections::{BTreeMap, BTreeSet};

use portcullis_directory::aliases::{resolve_in_domain, route, LocalResolution};
use portcullis_directory::recipient::{self, Context, Decision};
use portcullis_smtp::address::{parse_forward_path, Mailbox};
use portcullis_smtp::session::{Message, RecipientCheck};

/// Where one message goes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Local user names (Maildirs), deduplicated, each with the address an
    /// LMTP server gets for it (`delivery.lmtp`): `user@domain` of the
    /// first recipient that reached it.
    pub mailboxes: BTreeMap<String, String>,
    /// Remote addresses for the queue, deduplicated.
    pub remote: BTreeSet<String>,
}

/// Where one accepted recipient goes: the part of a [`Plan`] it adds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Destinations {
    /// (user, its address for LMTP).
    mailboxes: Vec<(String, String)>,
    remote: Vec<String>,
}

/// Works out where an accepted recipient goes; `None` for a refused one.
pub(crate) fn destinations(
    ctx: &Context<'_>,
    rcpt: &Mailbox,
    decision: &Decision,
) -> Option<Destinations> {
    match decision {
        Decision::Local(targets) => {
            let domain = rcpt.domain.to_string();
            let routes = route(targets.clone(), &domain);
            let mut d = Destinations {
                mailboxes: with_addresses(ctx, routes.mailboxes, &domain),
                remote: Vec::new(),
            };
            for addr in routes.queued {
                route_alias_target(ctx, addr, &mut d);
            }
            Some(d)
        }
        Decision::Remote(relay) if relay.is_allowed() => Some(Destinations {
            mailboxes: Vec::new(),
            remote: vec![rcpt.to_string()],
        }),
        Decision::Remote(_) | Decision::UnknownUser => None,
    }
}

/// An alias target given as a full address: back to a Maildir when its
/// domain is ours (aliases resolve recursively already, so one level is
/// enough), else to the queue.
fn route_alias_target(ctx: &Context<'_>, addr: String, d: &mut Destinations) {
    let local = parse_forward_path(&format!("<{addr}>"), true)
        .ok()
        .filter(|mb| recipient::is_local_domain(&mb.domain, ctx));
    let Some(mb) = local else {
        d.remote.push(addr);
        return;
    };
    let domain = recipient::domain_name(&mb.domain);
    match resolve_in_domain(
        &mb.local_unquoted(),
        domain,
        &ctx.site.aliases,
        &ctx.site.users,
    ) {
        LocalResolution::Deliver(targets) => {
            let domain = mb.domain.to_string();
            let routes = route(targets, &domain);
            d.mailboxes
                .extend(with_addresses(ctx, routes.mailboxes, &domain));
            d.remote.extend(routes.queued);
        }
        // Queued so that the runner's local delivery bounces it (5.1.1).
        LocalResolution::Unknown => d.remote.push(addr),
    }
}

/// Each user with the address its mailbox has at an LMTP server: a user
/// named by a full address is that address; a bare name is `user@domain`
/// in the recipient's domain (the bare `<postmaster>` in the host name's).
fn with_addresses(ctx: &Context<'_>, users: Vec<String>, domain: &str) -> Vec<(String, String)> {
    users
        .into_iter()
        .map(|user| {
            let address = lmtp_address(&user, domain, ctx.hostname);
            (user, address)
        })
        .collect()
}

/// The address a local mailbox has at an LMTP server (see [`with_addresses`]).
pub(crate) fn lmtp_address(user: &str, domain: &str, hostname: &str) -> String {
    if user.contains('@') {
        return user.to_string();
    }
    let domain = if domain.is_empty() { hostname } else { domain };
    format!("{user}@{}", domain.to_ascii_lowercase())
}

/// The rulings of the transaction in progress, from RCPT to the end of DATA.
#[derive(Debug, Default)]
pub(crate) struct Rulings {
    transaction: u64,
    accepted: Vec<(Mailbox, Destinations)>,
}

impl Rulings {
    /// Keeps where an accepted recipient goes. A check of a newer
    /// transaction forgets the older one's rulings, so this holds at most
    /// one transaction's recipients.
    pub(crate) fn record(&mut self, check: &RecipientCheck, destinations: Destinations) {
        if check.transaction != self.transaction {
            self.accepted.clear();
            self.transaction = check.transaction;
        }
        // Asked again about the same recipient, the latest ruling stands.
        self.accepted
            .retain(|(mailbox, _)| mailbox != &check.mailbox);
        self.accepted.push((check.mailbox.clone(), destinations));
    }

    /// The plan for `msg` from its recipients' rulings; `None` if one of
    /// them was never ruled on in this transaction (the session accepts
    /// only recipients the driver accepted, so that is a bug, answered
    /// with a temporary failure rather than a guess).
    pub(crate) fn plan(&mut self, msg: &Message) -> Option<Plan> {
        let plan = self.peek(msg)?;
        self.accepted.clear();
        Some(plan)
    }

    /// The plan [`Rulings::plan`] will give for `msg`, taken while its
    /// content still arrives (the rulings are kept).
    pub(crate) fn peek(&self, msg: &Message) -> Option<Plan> {
        if msg.transaction != self.transaction {
            return None;
        }
        let mut plan = Plan::default();
        for rcpt in &msg.recipients {
            let (_, d) = self.accepted.iter().find(|(mailbox, _)| mailbox == rcpt)?;
            for (user, address) in &d.mailboxes {
                plan.mailboxes
                    .entry(user.clone())
                    .or_insert_with(|| address.clone());
            }
            plan.remote.extend(d.remote.iter().cloned());
        }
        Some(plan)
    }
}
