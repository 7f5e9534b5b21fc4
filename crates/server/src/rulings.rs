//! Each recipient is ruled on once, at RCPT (docs/reference.md §3), and the
//! message is stored against those rulings at the end of DATA: where every
//! accepted recipient goes is worked out when it is accepted and kept for
//! its transaction, never decided again with whatever the users file or
//! the aliases say by then.

use std::collections::BTreeSet;

use portcullis_directory::aliases::{resolve_in_domain, route, LocalResolution};
use portcullis_directory::recipient::{self, Context, Decision};
use portcullis_smtp::address::{parse_forward_path, Mailbox};
use portcullis_smtp::session::{Message, RecipientCheck};

/// Where one message goes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Local user names (Maildirs), deduplicated.
    pub mailboxes: BTreeSet<String>,
    /// Remote addresses for the queue, deduplicated.
    pub remote: BTreeSet<String>,
}

/// Where one accepted recipient goes: the part of a [`Plan`] it adds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Destinations {
    mailboxes: Vec<String>,
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
            let routes = route(targets.clone(), &rcpt.domain.to_string());
            let mut d = Destinations {
                mailboxes: routes.mailboxes,
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
            let routes = route(targets, &mb.domain.to_string());
            d.mailboxes.extend(routes.mailboxes);
            d.remote.extend(routes.queued);
        }
        // Queued so that the runner's local delivery bounces it (5.1.1).
        LocalResolution::Unknown => d.remote.push(addr),
    }
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
        if msg.transaction != self.transaction {
            return None;
        }
        let mut plan = Plan::default();
        for rcpt in &msg.recipients {
            let (_, d) = self.accepted.iter().find(|(mailbox, _)| mailbox == rcpt)?;
            plan.mailboxes.extend(d.mailboxes.iter().cloned());
            plan.remote.extend(d.remote.iter().cloned());
        }
        self.accepted.clear();
        Some(plan)
    }
}
